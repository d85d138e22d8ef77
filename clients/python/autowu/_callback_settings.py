"""What the framework callbacks (``autowu.lightning``, ``autowu.transformers``) are configured with."""

from __future__ import annotations

from typing import Any, Dict, Optional


class CallbackSettings:
    """E, T, the job id, the loss batch size, whether verdicts go to the framework's loggers, and the
    ``RankClient`` keyword arguments; rank and world size always come from the framework."""

    steps_per_epoch: Optional[int]
    total_steps: Optional[int]
    job_id: Optional[str]
    batch_size: int
    log_verdicts: bool
    client_kwargs: Dict[str, Any]
    last_verdict: Optional[Dict[str, Any]]

    def _configure(self, steps_per_epoch: Optional[int], total_steps: Optional[int], job_id: Optional[str],
                   batch_size: int, log_verdicts: bool, client_kwargs: Dict[str, Any], identity_from: str) -> None:
        for reserved in ("rank", "world_size"):
            if reserved in client_kwargs:
                raise TypeError(f"{reserved} comes from {identity_from}; do not pass it")
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = total_steps
        self.job_id = job_id
        self.batch_size = int(batch_size)
        self.log_verdicts = log_verdicts
        self.client_kwargs = client_kwargs
        self.last_verdict = None
        self._logged_version = -1
