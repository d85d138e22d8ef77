"""PyTorch adapter: ``AutoWULR``, an LR scheduler driven by autowud. Needs torch (``pip install autowu[torch]``).

::

    from autowu.torch import AutoWULR

    scheduler = AutoWULR(optimizer, steps_per_epoch=len(loader), total_epochs=epochs)
    for epoch in range(epochs):
        for x, y in loader:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(); loss.backward(); optimizer.step()
            scheduler.step(loss)          # the loss TENSOR: no .item(), no sync per step

Each param group's LR is ``autowu_lr * (base_lr_of_group / base_lr_of_group_0)`` (the ratio is computed once;
group 0 gets autowu's LR exactly). If group 0's base LR is 0, every group gets autowu's LR.

Losses stay on their device: ``step(loss)`` copies the 0-dim loss into a preallocated buffer on the loss's
device (an asynchronous copy, no host sync); the buffer is brought to the host in one transfer (one sync) when
it is full (``batch_size``), at each epoch end, before a gate the plan does not permit yet (the daemon needs
this rank's losses to decide), and in ``state_dict()``.

No silent failure: during the warmup every step needs its loss. ``step()`` without one (what frameworks that
call ``scheduler.step()`` themselves do) raises ``MissingLossError`` at once, unless the loss was handed over
with ``accumulate_loss()`` since the last step; after the warmup (the daemon's plan is final) the loss is
optional. Lightning, the Hugging Face Trainer and DeepSpeed have integrations (``autowu.lightning``,
``autowu.transformers``; the DeepSpeed recipe is in the package README).

``state_dict()`` holds the step counter (``last_epoch``: the step whose LR is set), the base LRs, the job id,
incarnation, rank and world size, and this rank's losses of epochs not yet decided; after ``load_state_dict()``
the scheduler continues at that step with the LR the daemon's plan gives it: a resumed job does not warm up a
second time (the job's state lives in the daemon, under the same job id). Loading another job's or another
rank's state raises ``StateMismatchError``. Frameworks whose checkpoints are written by rank 0 alone store
``gather_state_dicts()`` of every rank's state, from which each rank takes its own part.

``last_verdict`` is the daemon's latest test and decision as a plain dict (``autowu.client.verdict_dict``).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Dict, List, Optional

import torch
from torch.optim.lr_scheduler import LRScheduler

from .client import MissingLossError, RankClient, verdict_metrics
from .errors import AutoWUError

__all__ = ["AutoWULR", "MissingLossError", "StateMismatchError", "gather_state_dicts", "verdict_metrics"]

log = logging.getLogger("autowu")

_STATE_VERSION = 2
_NONE, _REF, _SUM, _FLOAT = 0, 1, 2, 3


class StateMismatchError(AutoWUError, ValueError):
    """A scheduler state (a checkpoint) that belongs to another job, incarnation, rank, world size or run
    length than the scheduler it is loaded into."""


class AutoWULR(LRScheduler):
    """An ``LRScheduler`` whose LR is autowu's.

    :param optimizer: the optimizer.
    :param steps_per_epoch: E, optimizer steps per epoch.
    :param total_epochs: the run's length in epochs (or give ``total_steps``).
    :param total_steps: T, the run's length in optimizer steps.
    :param client: a connected ``RankClient`` (default: one built from the environment with E, T and
        ``client_kwargs``; it is closed by ``close()``).
    :param batch_size: losses per transfer to the host and per ``LossBatch``.
    :param client_kwargs: passed to ``RankClient`` (hyperparameters=, decay=, warmup=, token=, ...).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, steps_per_epoch: int, total_epochs: Optional[int] = None,
                 total_steps: Optional[int] = None, *, client: Optional[RankClient] = None, batch_size: int = 32,
                 last_epoch: int = -1, **client_kwargs: Any) -> None:
        if total_steps is None:
            if total_epochs is None:
                raise ValueError("give total_epochs or total_steps")
            total_steps = int(total_epochs) * int(steps_per_epoch)
        elif total_epochs is not None and int(total_epochs) * int(steps_per_epoch) != int(total_steps):
            raise ValueError("total_steps != total_epochs * steps_per_epoch")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.steps_per_epoch = int(steps_per_epoch)
        self.total_steps = int(total_steps)
        self.batch_size = int(batch_size)
        self._own_client = client is None
        if client is None:
            client = RankClient(self.steps_per_epoch, self.total_steps, batch_size=self.batch_size, **client_kwargs)
        elif client.steps_per_epoch != self.steps_per_epoch or client.total_steps != self.total_steps:
            raise ValueError("the client's steps_per_epoch/total_steps differ from the scheduler's")
        self.client = client
        self._buf: Optional[torch.Tensor] = None
        self._buf_device: Optional[torch.device] = None
        self._views: tuple = ()
        self._buf_n = 0
        self._buf_first = 0
        self._ratios: Optional[List[float]] = None
        # the current step's loss from accumulate_loss(): nothing (_NONE), one tensor by reference (_REF), a sum
        # on the device (_SUM, in _acc, which is _acc_buf reused), or a sum of floats (_FLOAT)
        self._acc_kind = _NONE
        self._acc_ref: Optional[torch.Tensor] = None
        self._acc: Optional[torch.Tensor] = None
        self._acc_buf: Optional[torch.Tensor] = None
        self._acc_float = 0.0
        #: Where the "no loss" error points to (the framework integrations set it).
        self.missing_loss_hint = ""
        self.autowu_lr: Optional[float] = None
        super().__init__(optimizer, last_epoch)

    # ---------------------------------------------------------------- identity

    @property
    def job_id(self) -> str:
        return self.client.job_id

    @property
    def rank(self) -> int:
        return self.client.rank

    @property
    def world_size(self) -> int:
        return self.client.env.world_size

    @property
    def last_verdict(self) -> Optional[Dict[str, Any]]:
        """The daemon's latest test and decision as a plain dict (see ``autowu.client.verdict_dict``): epoch,
        p_min, votes, streak, positive, holding, outliers, note, phase, switch_step, switch_lr, reason, ...;
        None before the first test. ``verdict_metrics(scheduler.last_verdict)`` gives the numbers for a
        logger."""
        return self.client.last_verdict

    @property
    def warmup_final(self) -> bool:
        """Whether the warmup has ended (the held plan is final): from then on the loss is optional."""
        plan = self.client.plan
        return plan is not None and plan.final

    # ---------------------------------------------------------------- stepping

    def step(self, loss: Any = None, epoch: None = None) -> None:  # type: ignore[override]
        """Report ``loss`` (the loss tensor of the step just run; a float works too) and set the LR of the next
        step. Blocks only at a gate whose verdict has not arrived yet.

        Without ``loss``, the losses given to ``accumulate_loss()`` since the last step are reported (their
        sum); with none of those either, during the warmup, ``MissingLossError`` is raised at once (the daemon
        needs every step's loss to decide); once the warmup is over the step goes on without one."""
        if epoch is not None:
            raise TypeError("AutoWULR.step() takes the loss, not an epoch")
        t = self.last_epoch
        if t >= 0:
            if loss is None:
                if self._acc_kind:
                    loss = self._take_accumulated()
                else:
                    self._no_loss(t)
            elif self._acc_kind:
                raise ValueError("step(loss) after accumulate_loss() in the same step: give the loss one way")
            if loss is not None:
                self._record(t, loss)
        self._step_count = getattr(self, "_step_count", 0) + 1
        self.last_epoch = t = t + 1
        self._set_lr(t)

    def accumulate_loss(self, loss: Any) -> None:
        """Add ``loss`` (a 0-dim tensor, or a float) to the loss of the current step, reported by the next
        ``step()`` without argument: for frameworks that call ``scheduler.step()`` themselves. Nothing leaves the
        device (no host sync): a step's single loss is kept by reference (it must not be changed in place before
        ``step()``), several are summed on their device. With gradient accumulation over k micro-batches, pass
        each micro-batch's loss / k (what Lightning hands to ``on_train_batch_end`` and the HF Trainer's
        ``training_step`` returns), so the sum is the step's mean loss."""
        kind = self._acc_kind
        if isinstance(loss, torch.Tensor):
            if loss.ndim:
                if loss.numel() != 1:
                    raise ValueError(f"accumulate_loss() takes the scalar loss, got a tensor of shape "
                                     f"{tuple(loss.shape)}")
                loss = loss.reshape(())
            loss = loss.detach()
            if kind == _NONE:
                self._acc_ref = loss  # the common case: one loss per step, no kernel at all
                self._acc_kind = _REF
                return
            self._device_acc(loss.device).add_(loss)
            return
        value = float(loss)
        if kind == _NONE:
            self._acc_float, self._acc_kind = value, _FLOAT
        elif kind == _FLOAT:
            self._acc_float += value
        else:
            self._device_acc(None).add_(value)

    def _device_acc(self, device: Optional[torch.device]) -> torch.Tensor:
        """The step's running sum as a tensor on ``device`` (default: where it is), holding what was
        accumulated so far."""
        kind = self._acc_kind
        if kind == _SUM and (device is None or self._acc.device == device):
            return self._acc
        if device is None:
            device = self._acc_ref.device if kind == _REF else self._acc.device
        acc = self._acc_buf
        if acc is None or acc.device != device:
            acc = self._acc_buf = torch.zeros((), dtype=_loss_dtype(device), device=device)
        if kind == _REF:
            acc.copy_(self._acc_ref)
            self._acc_ref = None
        elif kind == _FLOAT:
            acc.fill_(self._acc_float)
        elif kind == _SUM:
            acc.copy_(self._acc)  # a device change within one step: rare
        self._acc, self._acc_kind = acc, _SUM
        return acc

    def _take_accumulated(self) -> Any:
        kind = self._acc_kind
        loss = self._acc_ref if kind == _REF else self._acc if kind == _SUM else self._acc_float
        self._acc_kind, self._acc_ref = _NONE, None
        return loss

    def _no_loss(self, t: int) -> None:
        """step() without a loss at step ``t``: fine once the warmup is over (or where this rank's losses do not
        count), an error during it."""
        client = self.client
        if client._events_ready():
            client._drain_events()
        plan = client.plan
        if (plan is not None and plan.final) or not client._reports_count:
            return
        hint = self.missing_loss_hint or (
            "Pass the loss tensor: scheduler.step(loss) (no .item() needed; it stays on the device). If a "
            "framework calls scheduler.step() itself, use its integration instead: PyTorch Lightning "
            "autowu.lightning.AutoWUCallback, Hugging Face Trainer autowu.transformers.AutoWUCallback, DeepSpeed "
            "engine.step(lr_kwargs={'loss': loss}) or scheduler.accumulate_loss(loss) before engine.step(). A step "
            "that has no loss can be reported as float('nan').")
        raise MissingLossError(
            f"autowu: AutoWULR.step() was called without the loss of step {t} during the warmup (job "
            f"{client.job_id}, rank {client.rank}). autowud decides when the warmup ends from every step's "
            f"training loss; without it the epoch would close empty and the warmup end at a useless learning "
            f"rate. {hint}")

    def _record(self, t: int, loss: Any) -> None:
        if isinstance(loss, torch.Tensor):
            n = self._buf_n
            if n and t == self._buf_first + n and not loss.ndim and loss.device == self._buf_device:
                # the common case: the next slot of a started buffer on the same device
                self._views[n].copy_(loss.detach())  # device to device, asynchronous: no host sync
                self._buf_n = n = n + 1
                if n == self.batch_size or (t + 1) % self.steps_per_epoch == 0:
                    self._flush_device()
                return
            if loss.ndim:
                if loss.numel() != 1:
                    raise ValueError(f"step() takes the scalar loss, got a tensor of shape {tuple(loss.shape)}")
                loss = loss.reshape(())
            n = self._buf_n
            buf = self._buf
            if buf is None or buf.device != loss.device:
                self._flush_device()
                n = 0
                buf = self._buf = torch.empty(self.batch_size, dtype=_loss_dtype(loss.device), device=loss.device)
                self._buf_device = buf.device
                self._views = buf.unbind(0)  # one 0-dim view per slot, made once
            elif n and t != self._buf_first + n:
                self._flush_device()
                n = 0
            if n == 0:
                self._buf_first = t
            self._views[n].copy_(loss.detach())  # device to device, asynchronous: no host sync
            self._buf_n = n = n + 1
            if n == self.batch_size or (t + 1) % self.steps_per_epoch == 0:
                self._flush_device()
        else:
            self._flush_device()
            self.client.report(t, float(loss))

    def _flush_device(self) -> None:
        """Bring the buffered losses to the host (one sync) and hand them to the client, which sends them."""
        n = self._buf_n
        if n == 0:
            return
        values = self._buf[:n].tolist()
        self._buf_n = 0
        self.client.report_many(self._buf_first, values)
        self.client.flush()

    def _set_lr(self, t: int) -> None:
        client = self.client
        lr = client.permitted_lr(t)  # applies queued events; None at a gate the plan does not open yet
        if lr is None:
            self._flush_device()  # the gate's Snapshot may need this rank's losses: they must be on the host
            lr = client.lr(t)
        client._step = t  # the client's own step counter follows the scheduler's (current_step, unchecked)
        ratios = self._ratios
        if ratios is None:
            ratios = self._ratios = _ratios(self.base_lrs)
        last = []
        for group, ratio in zip(self.optimizer.param_groups, ratios):
            value = lr * ratio  # ratio 1.0 for group 0: autowu's LR exactly
            current = group["lr"]
            if isinstance(current, torch.Tensor):
                current.fill_(value)
                last.append(current.clone())
            else:
                group["lr"] = value
                last.append(value)
        self.autowu_lr = lr
        self._last_lr = last

    def get_lr(self) -> List[float]:
        """The LRs of the param groups at the current step (``last_epoch``)."""
        lr = self.client.lr(max(self.last_epoch, 0))
        return [lr * r for r in (self._ratios or _ratios(self.base_lrs))]

    # ---------------------------------------------------------------- checkpoints

    def state_dict(self) -> Dict[str, Any]:
        """The step counter, base LRs, the job's identity (job id, incarnation, this rank and the world size) and
        this rank's losses of undecided epochs (flushes the device buffer)."""
        self._flush_device()
        first, losses = self.client.kept_losses()
        return {
            "last_epoch": self.last_epoch,
            "_step_count": getattr(self, "_step_count", 0),
            "base_lrs": [float(b) if isinstance(b, torch.Tensor) else b for b in self.base_lrs],
            "_last_lr": [float(x) if isinstance(x, torch.Tensor) else x for x in getattr(self, "_last_lr", [])],
            "autowu": {
                "state_version": _STATE_VERSION,
                "job_id": self.client.job_id,
                "incarnation": int(self.client.incarnation),
                "rank": int(self.client.rank),
                "world_size": int(self.world_size),
                "steps_per_epoch": self.steps_per_epoch,
                "total_steps": self.total_steps,
                "batch_size": self.batch_size,
                "kept_first_step": first,
                "kept_losses": losses,
            },
        }

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Continue at the saved step: checks that the state is this job's (id and incarnation), this rank's
        (or a ``gather_state_dicts`` of every rank's) and of this world size and run length, restores the counter
        and base LRs, hands the saved losses back to the client (to be sent again) and sets the LR of the saved
        step (which may wait at a gate). Raises ``StateMismatchError`` for another job's or rank's state."""
        extra = state_dict.get("autowu", {})
        losses, kept_first = None, None
        if extra:
            self._check_identity(extra)
            if extra.get("ranks") is not None:
                mine = _entry_of(extra["ranks"], self.client.rank)
                if mine is None:
                    log.warning("autowu: the checkpoint holds no losses of rank %d (job %s): the daemon's copy is "
                                "used", self.client.rank, self.client.job_id)
                else:
                    losses, kept_first = mine.get("kept_losses"), mine.get("kept_first_step")
            else:
                losses, kept_first = extra.get("kept_losses"), extra.get("kept_first_step")
        self._buf_n = 0
        self._acc_kind, self._acc_ref = _NONE, None
        self.last_epoch = int(state_dict["last_epoch"])
        self._step_count = int(state_dict.get("_step_count", 0))
        if "base_lrs" in state_dict:
            self.base_lrs = list(state_dict["base_lrs"])
        self._ratios = None
        if self.last_epoch >= 0:
            self.client.resume(self.last_epoch)
        if losses:
            self.client.restore_losses(int(kept_first), losses)
        if self.last_epoch >= 0:
            self._set_lr(self.last_epoch)

    def _check_identity(self, extra: Dict[str, Any]) -> None:
        client = self.client
        if extra.get("steps_per_epoch") != self.steps_per_epoch or extra.get("total_steps") != self.total_steps:
            raise StateMismatchError(
                f"the checkpoint was made with steps_per_epoch={extra.get('steps_per_epoch')}, "
                f"total_steps={extra.get('total_steps')}; this scheduler has {self.steps_per_epoch}, "
                f"{self.total_steps}")
        job = extra.get("job_id")
        if job not in (None, client.job_id):
            raise StateMismatchError(
                f"the checkpoint belongs to autowu job {job!r}, this scheduler is job {client.job_id!r}: resume "
                f"under the checkpoint's job id (AUTOWU_JOB={job}, or job_id=...), or start the run afresh")
        incarnation = int(extra.get("incarnation") or 0)
        if incarnation and client.incarnation and incarnation != client.incarnation:
            raise StateMismatchError(
                f"the checkpoint belongs to an earlier incarnation of job {client.job_id!r} ({incarnation}); the "
                f"daemon ({client.env.control}) now holds another one ({client.incarnation}): the job expired or "
                f"the daemon lost its data, so its warmup state (the plan this checkpoint continues) is gone. "
                f"Restore the daemon's data directory, or start the run afresh under a new job id")
        world = extra.get("world_size")
        if world is not None and int(world) != self.world_size:
            raise StateMismatchError(
                f"the checkpoint of job {client.job_id!r} was made with {world} ranks; this run has "
                f"{self.world_size}")
        rank = extra.get("rank")
        if extra.get("ranks") is None and rank is not None and int(rank) != client.rank:
            raise StateMismatchError(
                f"the checkpoint holds the autowu state of rank {rank} of job {client.job_id!r}; this is rank "
                f"{client.rank}. Each rank loads its own state_dict() (or every rank's, combined with "
                f"autowu.torch.gather_state_dicts)")

    # ---------------------------------------------------------------- end

    def close(self) -> None:
        """Send the buffered losses; close the client if this scheduler made it."""
        try:
            self._flush_device()
        finally:
            if self._own_client:
                self.client.close()

    def __enter__(self) -> "AutoWULR":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def gather_state_dicts(states: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Every rank's ``AutoWULR.state_dict()`` (in any order) as one state for a checkpoint that rank 0 writes
    alone (Lightning, the HF Trainer, DeepSpeed): the common part once, each rank's kept losses under its rank.
    Each rank's ``load_state_dict()`` of it takes its own part. The states must be of one job and step."""
    if not states:
        raise ValueError("no states to gather")
    by_rank = {}
    for st in states:
        extra = st.get("autowu") or {}
        if extra.get("ranks") is not None:  # already gathered
            by_rank.update({int(r): e for r, e in extra["ranks"].items()})
            continue
        by_rank[int(extra["rank"])] = {"kept_first_step": extra.get("kept_first_step"),
                                       "kept_losses": extra.get("kept_losses"), "last_epoch": st["last_epoch"]}
    first = min(states, key=lambda st: (st.get("autowu") or {}).get("rank") or 0)
    for st in states:
        extra, ref = st.get("autowu") or {}, first.get("autowu") or {}
        if (extra.get("job_id"), extra.get("incarnation"), st["last_epoch"]) != (
                ref.get("job_id"), ref.get("incarnation"), first["last_epoch"]):
            raise StateMismatchError(
                f"the ranks' states differ in job or step: {extra.get('job_id')!r}/{st['last_epoch']} vs "
                f"{ref.get('job_id')!r}/{first['last_epoch']}")
    out = dict(first)
    extra = dict(first["autowu"])
    extra.pop("kept_losses", None)
    extra.pop("kept_first_step", None)
    extra["rank"] = None
    extra["ranks"] = {r: by_rank[r] for r in sorted(by_rank)}
    out["autowu"] = extra
    return out


def _entry_of(ranks: Dict[Any, Any], rank: int) -> Optional[Dict[str, Any]]:
    if rank in ranks:
        return ranks[rank]
    return ranks.get(str(rank))


def _ratios(base_lrs: List[Any]) -> List[float]:
    bases = [float(b) for b in base_lrs]
    b0 = bases[0] if bases else 0.0
    if b0 == 0.0 or not math.isfinite(b0):
        return [1.0] * len(bases)
    return [1.0] + [b / b0 for b in bases[1:]]


def _loss_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64
