"""Hugging Face Trainer integration: ``AutoWUCallback``. Needs ``transformers`` (``pip install autowu[transformers]``).

::

    from autowu.transformers import AutoWUCallback

    trainer = Trainer(model=model, args=args, train_dataset=train_set)
    AutoWUCallback().attach(trainer)          # the one autowu line
    trainer.train()

A ``TrainerCallback`` alone cannot see the loss of a step nor replace the Trainer's LR scheduler, so
``attach(trainer)`` does three things to that Trainer object (no subclass needed, custom Trainer subclasses
included):

1. adds the callback (unless it is already among ``callbacks=``);
2. wraps its ``training_step`` (an instance attribute that calls the class's method): the detached loss tensor
   it returns (the Trainer's own per-micro-batch figure, already divided by the gradient accumulation steps, so
   the sum over a step's micro-batches is the loss the Trainer logs) is added on its device to the step's loss
   with ``AutoWULR.accumulate_loss`` -- no host sync; the Trainer's ``lr_scheduler.step()`` then reports it;
3. wraps its ``create_scheduler``: the LR scheduler becomes an ``autowu.torch.AutoWULR``, built in
   ``on_train_begin`` once the optimizer steps per epoch are known (E = ``ceil(len(train_dataloader) /
   gradient_accumulation_steps)``, the Trainer's own figure; T = ``state.max_steps``). Until then a stand-in
   takes the checkpoint's scheduler state, if the run resumes. The Trainer's logged ``learning_rate`` is read
   from it (``get_last_lr()``): the daemon's plan's.

Rank and world size are ``args.process_index`` / ``args.world_size``; the job id is ``job_id=``, else the
environment's (``AUTOWU_JOB``, torchrun's ``--rdzv-id``, Slurm), else the checkpoint's, else a new
``hf-...`` made on rank 0 and broadcast. Each new verdict is logged with ``trainer.log()`` as
``autowu.client.verdict_metrics`` (``autowu/epoch``, ``autowu/p_min/<i>``, ``autowu/votes``, ...), so every
reporting integration (TensorBoard, W&B, ...; the Trainer prefixes ``train/``) and ``state.log_history``
get them; ``callback.last_verdict`` is the plain dict.

Checkpoints: the Trainer saves ``scheduler.pt`` from rank 0 only; when a save is due (``control.should_save``
in ``on_step_end``/``on_epoch_end``) the ranks' scheduler states are gathered (one collective per save) so it
holds every rank's part, and each rank takes its own back on resume. Not supported: the Trainer's DeepSpeed
mode (``args.deepspeed``; see the DeepSpeed recipe in the package README), ``optimizers=(opt, scheduler)``
with a scheduler of one's own.
"""

from __future__ import annotations

import functools
import logging
import math
import uuid
from typing import Any, Dict, List, Optional

import torch
from transformers import TrainerCallback

from ._callback_settings import CallbackSettings
from .client import verdict_metrics
from .env import from_environ
from .errors import AutoWUError, JobIdentityError
from .torch import AutoWULR, StateMismatchError, gather_state_dicts

__all__ = ["AutoWUCallback"]

log = logging.getLogger("autowu")

_HINT = ("With autowu.transformers.AutoWUCallback the loss comes from Trainer.training_step: call "
         "AutoWUCallback().attach(trainer) (adding the callback to callbacks= alone is not enough), and make a "
         "custom training_step return the loss tensor.")


class _TrainerScheduler(AutoWULR):
    """AutoWULR whose ``state_dict()`` (saved by rank 0 alone) holds every rank's part once gathered."""

    _gathered: Optional[tuple] = None

    def state_dict(self) -> Dict[str, Any]:
        gathered = self._gathered
        if gathered is not None and gathered[0] == self.last_epoch:
            return gathered[1]
        # not gathered (a save the callback did not see coming): rank 0's part only; the others then resume
        # with the daemon's copy of their losses
        return gather_state_dicts([super().state_dict()])


class _Pending:
    """The Trainer's ``lr_scheduler`` from ``create_scheduler`` to ``on_train_begin``: keeps a checkpoint's
    scheduler state for the real scheduler."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.loaded: Optional[Dict[str, Any]] = None

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.loaded = state_dict

    def get_last_lr(self) -> List[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> Dict[str, Any]:
        raise AutoWUError("the autowu scheduler does not exist yet (it is made in on_train_begin)")

    def step(self, *args: Any, **kwargs: Any) -> None:
        raise AutoWUError("the autowu scheduler was not made: AutoWUCallback.on_train_begin did not run")


class AutoWUCallback(CallbackSettings, TrainerCallback):
    """The learning rate of a Hugging Face ``Trainer`` from ``autowud``; ``attach(trainer)`` it (see the module
    docstring).

    :param steps_per_epoch: E (default: the Trainer's optimizer steps per epoch). AutoWU tests the loss at the
        end of every epoch of E steps; for runs of few, long epochs, give a smaller E.
    :param total_steps: T (default: ``state.max_steps``).
    :param job_id: the daemon's job id (default: environment, checkpoint, or a new one).
    :param batch_size: losses per transfer to the host and per ``LossBatch``.
    :param log_verdicts: log each new verdict with ``trainer.log()``.
    :param client_kwargs: passed to ``RankClient`` (hyperparameters=, decay=, solver=, token=, control=, ...).
    """

    def __init__(self, steps_per_epoch: Optional[int] = None, total_steps: Optional[int] = None, *,
                 job_id: Optional[str] = None, batch_size: int = 32, log_verdicts: bool = True,
                 **client_kwargs: Any) -> None:
        self._configure(steps_per_epoch, total_steps, job_id, batch_size, log_verdicts, client_kwargs,
                        identity_from="the TrainingArguments")
        self.scheduler: Optional[_TrainerScheduler] = None
        self._trainer: Any = None

    # ---------------------------------------------------------------- attach

    def attach(self, trainer: Any) -> "AutoWUCallback":
        """Wire this callback into ``trainer`` (see the module docstring). Returns the callback."""
        if self._trainer is not None and self._trainer is not trainer:
            raise AutoWUError("this AutoWUCallback is attached to another Trainer already")
        if getattr(trainer, "is_deepspeed_enabled", False):
            raise AutoWUError("the Trainer's DeepSpeed mode is not supported by AutoWUCallback; see the DeepSpeed "
                              "recipe in autowu's README")
        if trainer.lr_scheduler is not None and not isinstance(trainer.lr_scheduler, (_Pending, AutoWULR)):
            raise AutoWUError(
                "autowu sets the learning rate of this Trainer: do not pass an LR scheduler (optimizers=(opt, "
                f"None)); found {type(trainer.lr_scheduler).__name__}")
        if self._trainer is trainer:
            return self
        self._trainer = trainer
        if self not in trainer.callback_handler.callbacks:
            trainer.add_callback(self)

        training_step = trainer.training_step

        @functools.wraps(training_step)
        def autowu_training_step(*args: Any, **kwargs: Any) -> Any:
            loss = training_step(*args, **kwargs)
            sched = self.scheduler
            if sched is not None and isinstance(loss, torch.Tensor):
                sched.accumulate_loss(loss)  # on the device: no host sync
            return loss

        trainer.training_step = autowu_training_step

        def create_scheduler(num_training_steps: int, optimizer: Optional[torch.optim.Optimizer] = None) -> Any:
            if trainer.lr_scheduler is None:
                trainer.lr_scheduler = _Pending(optimizer if optimizer is not None else trainer.optimizer)
                trainer._created_lr_scheduler = True  # a later train() makes a new one
            return trainer.lr_scheduler

        trainer.create_scheduler = create_scheduler
        return self

    # ---------------------------------------------------------------- train begin

    def on_train_begin(self, args: Any, state: Any, control: Any, train_dataloader: Any = None,
                       **kwargs: Any) -> None:
        trainer = self._trainer
        if trainer is None:
            raise AutoWUError("AutoWUCallback needs the Trainer: call AutoWUCallback().attach(trainer) (it adds "
                              "the callback, sees each step's loss and installs the LR scheduler)")
        if self.scheduler is not None:
            self.scheduler.close()
            self.scheduler = None
        pending = trainer.lr_scheduler
        if not isinstance(pending, _Pending):
            raise AutoWUError(f"the Trainer's LR scheduler is a {type(pending).__name__}, not autowu's: was "
                              f"create_scheduler overridden after attach()?")
        E = self.steps_per_epoch
        if E is None:
            if train_dataloader is None or not hasattr(train_dataloader, "__len__"):
                raise AutoWUError("the training data has no length: give AutoWUCallback(steps_per_epoch=...)")
            E = max(1, math.ceil(len(train_dataloader) / max(1, args.gradient_accumulation_steps)))
        T = int(self.total_steps or state.max_steps)
        loaded = pending.loaded
        job_id = self._job_id(args, loaded)
        sched = _TrainerScheduler(pending.optimizer, int(E), total_steps=T, batch_size=self.batch_size,
                                  job_id=job_id, rank=args.process_index, world_size=args.world_size,
                                  **self.client_kwargs)
        sched.missing_loss_hint = _HINT
        try:
            if loaded is not None:
                sched.load_state_dict(loaded)
                if sched.last_epoch != state.global_step:
                    raise StateMismatchError(f"the checkpoint's autowu state is at step {sched.last_epoch}, the "
                                             f"Trainer at global step {state.global_step}")
            elif state.global_step != 0:
                raise StateMismatchError(
                    f"this run resumes at global step {state.global_step} from a checkpoint without autowu's state: "
                    f"the warmup's earlier epochs have no losses, so it cannot be continued")
        except BaseException:
            sched.close()
            raise
        self.scheduler = sched
        trainer.lr_scheduler = sched
        trainer.callback_handler.lr_scheduler = sched
        self._logged_version = -1

    def _job_id(self, args: Any, loaded: Optional[Dict[str, Any]]) -> str:
        if self.job_id:
            return self.job_id
        try:
            return from_environ(rank=args.process_index, world_size=args.world_size).job_id
        except JobIdentityError:
            pass
        saved = ((loaded or {}).get("autowu") or {}).get("job_id")
        if saved:
            return saved
        job = [f"hf-{uuid.uuid4().hex[:12]}"]
        if _distributed(args):
            torch.distributed.broadcast_object_list(job, src=0)
        return job[0]

    # ---------------------------------------------------------------- per step

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        sched = self.scheduler
        if sched is None:
            return
        if sched.last_epoch == state.global_step - 1:
            sched.step()  # the Trainer skipped lr_scheduler.step() (an optimizer step skipped by AMP)
        if sched.last_epoch != state.global_step:
            raise AutoWUError(f"the autowu scheduler is at step {sched.last_epoch}, the Trainer at "
                              f"{state.global_step}: something else steps the scheduler")
        if control.should_save:
            self._gather(args)
        if self.log_verdicts and sched.client.version != self._logged_version:
            self._log_verdict()

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.scheduler is not None and control.should_save:
            self._gather(args)

    def _gather(self, args: Any) -> None:
        sched = self.scheduler
        mine = AutoWULR.state_dict(sched)
        states = [mine]
        if _distributed(args):
            states = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(states, mine)
        sched._gathered = (sched.last_epoch, gather_state_dicts(states))

    def _log_verdict(self) -> None:
        sched = self.scheduler
        self._logged_version = sched.client.version
        verdict = sched.last_verdict
        if verdict is None:
            return
        previous, self.last_verdict = self.last_verdict, verdict
        if previous is not None and all(previous.get(k) == verdict.get(k) for k in (
                "epoch", "p_min", "votes", "streak", "switched", "switch_step", "phase", "holding", "note")):
            return
        trainer = self._trainer
        should_log = trainer.control.should_log
        trainer.log(verdict_metrics(verdict))  # its on_log resets should_log: the Trainer's own log is still due
        trainer.control.should_log = should_log

    # ---------------------------------------------------------------- end

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.scheduler is not None:
            self.scheduler.close()


def _distributed(args: Any) -> bool:
    return (args.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized())
