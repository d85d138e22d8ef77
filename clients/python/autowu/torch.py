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

``state_dict()`` holds the step counter (``last_epoch``: the step whose LR is set), the base LRs and the losses
of epochs not yet decided; after ``load_state_dict()`` the scheduler continues at that step with the LR the
daemon's plan gives it: a resumed job does not warm up a second time (the job's state lives in the daemon,
under the same job id).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

import torch
from torch.optim.lr_scheduler import LRScheduler

from .client import RankClient

__all__ = ["AutoWULR"]

_STATE_VERSION = 1


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
        self.autowu_lr: Optional[float] = None
        super().__init__(optimizer, last_epoch)

    # ---------------------------------------------------------------- stepping

    def step(self, loss: Any = None, epoch: None = None) -> None:  # type: ignore[override]
        """Report ``loss`` (the loss tensor of the step just run; a float works too; None reports nothing) and
        set the LR of the next step. Blocks only at a gate whose verdict has not arrived yet."""
        if epoch is not None:
            raise TypeError("AutoWULR.step() takes the loss, not an epoch")
        t = self.last_epoch
        if loss is not None and t >= 0:
            self._record(t, loss)
        self._step_count = getattr(self, "_step_count", 0) + 1
        self.last_epoch = t = t + 1
        self._set_lr(t)

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
        """The step counter, base LRs and this rank's losses of undecided epochs (flushes the device buffer)."""
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
                "steps_per_epoch": self.steps_per_epoch,
                "total_steps": self.total_steps,
                "batch_size": self.batch_size,
                "kept_first_step": first,
                "kept_losses": losses,
            },
        }

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Continue at the saved step: restores the counter and base LRs, hands the saved losses back to the
        client (to be sent again) and sets the LR of the saved step (which may wait at a gate)."""
        extra = state_dict.get("autowu", {})
        if extra:
            if (extra.get("steps_per_epoch") != self.steps_per_epoch
                    or extra.get("total_steps") != self.total_steps):
                raise ValueError(
                    f"the checkpoint was made with steps_per_epoch={extra.get('steps_per_epoch')}, "
                    f"total_steps={extra.get('total_steps')}; this scheduler has {self.steps_per_epoch}, "
                    f"{self.total_steps}")
            if extra.get("job_id") not in (None, self.client.job_id):
                raise ValueError(f"the checkpoint belongs to job {extra.get('job_id')!r}, this is job "
                                 f"{self.client.job_id!r}: set AUTOWU_JOB to resume under the same job id")
        self._buf_n = 0
        self.last_epoch = int(state_dict["last_epoch"])
        self._step_count = int(state_dict.get("_step_count", 0))
        if "base_lrs" in state_dict:
            self.base_lrs = list(state_dict["base_lrs"])
        self._ratios = None
        losses = extra.get("kept_losses")
        if losses:
            self.client.restore_losses(int(extra["kept_first_step"]), losses)
        if self.last_epoch >= 0:
            self._set_lr(self.last_epoch)

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


def _ratios(base_lrs: List[Any]) -> List[float]:
    bases = [float(b) for b in base_lrs]
    b0 = bases[0] if bases else 0.0
    if b0 == 0.0 or not math.isfinite(b0):
        return [1.0] * len(bases)
    return [1.0] + [b / b0 for b in bases[1:]]


def _loss_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64
