"""PyTorch Lightning integration: ``AutoWUCallback``. Needs ``lightning`` (``pip install autowu[lightning]``).

::

    from autowu.lightning import AutoWUCallback

    trainer = lightning.pytorch.Trainer(max_epochs=120, callbacks=[AutoWUCallback()])
    trainer.fit(model, datamodule)     # configure_optimizers returns the optimizer alone (no LR scheduler)

What the callback does:

* ``on_train_start`` (after a checkpoint was restored): builds an ``autowu.torch.AutoWULR`` on the trainer's
  optimizer with E = optimizer steps per epoch (``ceil(num_training_batches / accumulate_grad_batches)``) and
  T = ``trainer.estimated_stepping_batches``; rank and world size are the trainer's; the job id is
  ``job_id=``, else the environment's (``AUTOWU_JOB``, torchrun, Slurm), else the checkpoint's, else a new
  ``lightning-...`` made on rank 0 and broadcast to the others. The optimizer's LR is the daemon's plan's from
  the first step on, so ``LearningRateMonitor`` shows it (as ``lr-<Optimizer>``).
* ``on_train_batch_end``: the batch's loss (``outputs["loss"]``, the detached tensor Lightning hands over,
  already divided by ``accumulate_grad_batches``) is added on its device to the step's loss
  (``AutoWULR.accumulate_loss``: no host sync); when the optimizer has stepped (``trainer.global_step`` moved
  on), ``AutoWULR.step()`` reports it and sets the next step's LR. Losses reach the host in batches
  (``batch_size``, and at epoch ends and gates), as with ``AutoWULR`` in a plain loop.
* Each new verdict goes to every logger of the trainer (``logger.log_metrics``) as
  ``autowu.client.verdict_metrics`` (``autowu/epoch``, ``autowu/p_min/<i>``, ``autowu/votes``,
  ``autowu/streak``, ``autowu/holding``, ``autowu/switch_step``, ...), at the step it arrived;
  ``callback.last_verdict`` is the plain dict.
* Checkpoints: ``state_dict()`` gathers every rank's scheduler state (Lightning writes the checkpoint from rank
  0 only; the gather is one collective per checkpoint) and ``load_state_dict()`` + ``on_train_start`` give each
  rank its own part back: a resumed fit continues at its step, under its job id, without a second warmup.
  A checkpoint of another job, or made with another number of ranks, is refused (``StateMismatchError``).

One optimizer; the module must not configure an LR scheduler of its own (it would fight over the LR).
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Mapping
from typing import Any, Dict, Optional

import torch

try:
    import lightning.pytorch as pl
except ImportError:  # the older package name
    import pytorch_lightning as pl  # type: ignore[no-redef]

from ._callback_settings import CallbackSettings
from .client import verdict_metrics
from .env import from_environ
from .errors import AutoWUError, JobIdentityError
from .torch import AutoWULR, StateMismatchError, gather_state_dicts

__all__ = ["AutoWUCallback"]

log = logging.getLogger("autowu")

_HINT = ("With autowu.lightning.AutoWUCallback the loss is read from what training_step returns: return the loss "
         "tensor (or a dict with 'loss') from every training step; a step without one can return "
         "torch.tensor(float('nan')).")


class AutoWUCallback(CallbackSettings, pl.Callback):
    """The learning rate of a Lightning fit from ``autowud`` (see the module docstring).

    :param steps_per_epoch: E (default: the trainer's optimizer steps per epoch).
    :param total_steps: T (default: ``trainer.estimated_stepping_batches``).
    :param job_id: the daemon's job id (default: environment, checkpoint, or a new one).
    :param batch_size: losses per transfer to the host and per ``LossBatch``.
    :param log_verdicts: send each new verdict to the trainer's loggers.
    :param client_kwargs: passed to ``RankClient`` (hyperparameters=, decay=, solver=, token=, control=, ...).
    """

    def __init__(self, steps_per_epoch: Optional[int] = None, total_steps: Optional[int] = None, *,
                 job_id: Optional[str] = None, batch_size: int = 32, log_verdicts: bool = True,
                 **client_kwargs: Any) -> None:
        super().__init__()
        self._configure(steps_per_epoch, total_steps, job_id, batch_size, log_verdicts, client_kwargs,
                        identity_from="the trainer")
        self.scheduler: Optional[AutoWULR] = None
        self._trainer: Optional["pl.Trainer"] = None
        self._loaded: Optional[Dict[str, Any]] = None

    # ---------------------------------------------------------------- setup

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        # called before on_train_start (the scheduler does not exist yet): applied there
        self._loaded = dict(state_dict)

    def on_train_start(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        if self.scheduler is not None:  # a second fit() with the same callback
            self.scheduler.close()
            self.scheduler = None
        if trainer.lr_scheduler_configs:
            raise AutoWUError(
                "autowu sets the learning rate of this fit: configure_optimizers must return the optimizer alone, "
                f"not an LR scheduler (found {type(trainer.lr_scheduler_configs[0].scheduler).__name__})")
        if len(trainer.optimizers) != 1:
            raise AutoWUError(f"AutoWUCallback drives one optimizer; this fit has {len(trainer.optimizers)}")
        E = self.steps_per_epoch
        if E is None:
            batches = trainer.num_training_batches
            if not math.isfinite(batches):
                raise AutoWUError("the training data has no length: give AutoWUCallback(steps_per_epoch=...)")
            E = max(1, math.ceil(batches / max(1, trainer.accumulate_grad_batches)))
        T = self.total_steps
        if T is None:
            T = trainer.estimated_stepping_batches
            if not math.isfinite(T):
                raise AutoWUError("an unbounded fit (max_epochs=-1, max_steps=-1): AutoWU needs the run's length; "
                                  "set max_epochs or max_steps, or give AutoWUCallback(total_steps=...)")
        loaded = self._loaded
        job_id = self._job_id(trainer, loaded)
        self._trainer = trainer
        sched = AutoWULR(trainer.optimizers[0], int(E), total_steps=int(T), batch_size=self.batch_size,
                         job_id=job_id, rank=trainer.global_rank, world_size=trainer.world_size,
                         **self.client_kwargs)
        sched.missing_loss_hint = _HINT
        self.scheduler = sched
        try:
            if loaded is not None and loaded.get("scheduler"):
                sched.load_state_dict(loaded["scheduler"])
                if sched.last_epoch != trainer.global_step:
                    raise StateMismatchError(
                        f"the checkpoint's autowu state is at step {sched.last_epoch}, the trainer at global step "
                        f"{trainer.global_step}")
            elif trainer.global_step != 0:
                raise StateMismatchError(
                    f"this fit resumes at global step {trainer.global_step} from a checkpoint without autowu's "
                    f"state (made without AutoWUCallback?): the warmup's earlier epochs have no losses, so it "
                    f"cannot be continued")
        except BaseException:
            sched.close()
            self.scheduler = None
            raise
        self._loaded = None
        self._log_verdict(trainer)

    def _job_id(self, trainer: "pl.Trainer", loaded: Optional[Dict[str, Any]]) -> str:
        """Explicit, else the environment's, else the checkpoint's, else a new one from rank 0 (the same on every
        rank). An explicit or environment job id that differs from the checkpoint's makes load_state_dict
        raise."""
        if self.job_id:
            return self.job_id
        try:
            return from_environ(rank=trainer.global_rank, world_size=trainer.world_size).job_id
        except JobIdentityError:
            pass
        saved = ((loaded or {}).get("scheduler") or {}).get("autowu", {}).get("job_id")
        if saved:
            return saved
        return trainer.strategy.broadcast(f"lightning-{uuid.uuid4().hex[:12]}", src=0)

    # ---------------------------------------------------------------- per step

    def on_train_batch_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule", outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        sched = self.scheduler
        if sched is None:
            return
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if isinstance(loss, torch.Tensor):
            sched.accumulate_loss(loss)
        ahead = trainer.global_step - sched.last_epoch
        if ahead <= 0:
            return  # accumulating gradients: no optimizer step yet
        if ahead > 1:
            raise AutoWUError(f"{ahead} optimizer steps in one batch (several optimizers, or steps taken outside "
                              f"the training loop): AutoWUCallback follows one optimizer step per step")
        sched.step()  # reports the accumulated loss (raises during the warmup if there is none)
        if self.log_verdicts and sched.client.version != self._logged_version:
            self._log_verdict(trainer)

    def _log_verdict(self, trainer: "pl.Trainer") -> None:
        sched = self.scheduler
        self._logged_version = sched.client.version
        verdict = sched.last_verdict
        if verdict is None or verdict == self.last_verdict:
            return
        previous, self.last_verdict = self.last_verdict, verdict
        if previous is not None and _same_test(previous, verdict):
            return
        if self.log_verdicts:
            metrics = verdict_metrics(verdict)
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=trainer.global_step)
            if trainer.is_global_zero:
                log.info("autowu: epoch %s: %s/%s votes, streak %s, phase %s%s%s", verdict["epoch"],
                         verdict["votes"], len(verdict["p_min"]), verdict["streak"], verdict["phase"],
                         f", switch at step {verdict['switch_step']} ({verdict['reason']}) to lr "
                         f"{verdict['switch_lr']:.6g}" if verdict["switched"] else "",
                         f"; note: {verdict['note']}" if verdict["note"] else "")

    # ---------------------------------------------------------------- checkpoints

    def state_dict(self) -> Dict[str, Any]:
        """Every rank's scheduler state, gathered (a collective: Lightning calls this on every rank when it
        saves a checkpoint, and writes rank 0's result)."""
        sched = self.scheduler
        if sched is None:
            return dict(self._loaded or {})
        mine = sched.state_dict()
        states = [mine]
        if torch.distributed.is_available() and torch.distributed.is_initialized() and sched.world_size > 1:
            states = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(states, mine)
        return {"scheduler": gather_state_dicts(states), "job_id": sched.job_id}

    # ---------------------------------------------------------------- end

    def on_train_end(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        if self.scheduler is not None:
            self.scheduler.close()

    def on_exception(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule", exception: BaseException) -> None:
        if self.scheduler is not None:
            try:
                self.scheduler.close()
            except Exception:  # noqa: BLE001 - the original exception matters
                pass


def _same_test(a: Dict[str, Any], b: Dict[str, Any]) -> bool:
    """Two verdict dicts of the same test and decision (a newer job state that changed nothing to log)."""
    keys = ("epoch", "p_min", "votes", "streak", "switched", "switch_step", "phase", "holding", "note")
    return all(a.get(k) == b.get(k) for k in keys)
