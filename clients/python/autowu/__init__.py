"""Python client of autowud, the AutoWU learning-rate warmup daemon (protocol/SPEC.md).

* ``autowu.plan``: plans and gates (bit-identical LRs).
* ``autowu.env``: the job's identity from Slurm / torchrun / ``AUTOWU_*`` variables.
* ``autowu.client``: ``RankClient``, the rank side of the protocol.
* ``autowu.torch``: ``AutoWULR``, a PyTorch LR scheduler (imported only on demand; needs torch).
"""

from pathlib import Path as _Path

from .client import PROTOCOL_VERSION, RankClient, build_spec
from .env import JobEnvironment, from_environ
from .errors import AutoWUError, HandshakeError, JobIdentityError, PlanError, ProtocolError, WaitTimeout
from .plan import Plan, Segment

# The release version, from the repository's VERSION file (shipped in the package as autowu/VERSION).
__version__ = (_Path(__file__).parent / "VERSION").read_text(encoding="utf-8").strip()

__all__ = [
    "AutoWUError",
    "HandshakeError",
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
