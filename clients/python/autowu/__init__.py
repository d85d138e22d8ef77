"""Python client of autowud, the AutoWU learning-rate warmup daemon (protocol/SPEC.md).

* ``autowu.plan``: plans and gates (bit-identical LRs).
* ``autowu.env``: the job's identity from Slurm / torchrun / ``AUTOWU_*`` variables.
* ``autowu.client``: ``RankClient``, the rank side of the protocol.
* ``autowu.torch``: ``AutoWULR``, a PyTorch LR scheduler (imported only on demand; needs torch).
"""

from .client import PROTOCOL_VERSION, RankClient, build_spec
from .env import JobEnvironment, from_environ
from .errors import AutoWUError, JobIdentityError, PlanError, ProtocolError, WaitTimeout
from .plan import Plan, Segment

__version__ = "0.1.0"

__all__ = [
    "AutoWUError",
    "JobEnvironment",
    "JobIdentityError",
    "PROTOCOL_VERSION",
    "Plan",
    "PlanError",
    "ProtocolError",
    "RankClient",
    "Segment",
    "WaitTimeout",
    "build_spec",
    "from_environ",
]
