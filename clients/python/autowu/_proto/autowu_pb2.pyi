from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DecayKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECAY_COSINE: _ClassVar[DecayKind]
    DECAY_CONSTANT_COSINE: _ClassVar[DecayKind]

class WarmupShape(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WARMUP_EXPONENTIAL: _ClassVar[WarmupShape]
    WARMUP_LINEAR: _ClassVar[WarmupShape]

class ReportingMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPORTING_PER_RANK: _ClassVar[ReportingMode]
    REPORTING_RANK_ZERO: _ClassVar[ReportingMode]

class SolverKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOLVER_FAST: _ClassVar[SolverKind]
    SOLVER_EXACT: _ClassVar[SolverKind]

class MinimumTestKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEST_ROBUST: _ClassVar[MinimumTestKind]
    TEST_PAPER: _ClassVar[MinimumTestKind]

class WarmupPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POLICY_HOLD: _ClassVar[WarmupPolicy]
    POLICY_PAPER: _ClassVar[WarmupPolicy]

class Phase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PHASE_WARMUP: _ClassVar[Phase]
    PHASE_DECAY: _ClassVar[Phase]
    PHASE_EXPIRED: _ClassVar[Phase]

class EventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_PLAN: _ClassVar[EventKind]
    EVENT_TEST_RESULT: _ClassVar[EventKind]
    EVENT_PHASE_SWITCH: _ClassVar[EventKind]
    EVENT_JOB_EXPIRED: _ClassVar[EventKind]
    EVENT_NOTICE: _ClassVar[EventKind]

class ErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_UNSPECIFIED: _ClassVar[ErrorCode]
    ERROR_MALFORMED: _ClassVar[ErrorCode]
    ERROR_UNSUPPORTED_VERSION: _ClassVar[ErrorCode]
    ERROR_UNKNOWN_JOB: _ClassVar[ErrorCode]
    ERROR_INVALID_ARGUMENT: _ClassVar[ErrorCode]
    ERROR_CONFLICT: _ClassVar[ErrorCode]
    ERROR_UNAUTHORIZED: _ClassVar[ErrorCode]
    ERROR_TOO_LARGE: _ClassVar[ErrorCode]
    ERROR_TIMEOUT: _ClassVar[ErrorCode]
    ERROR_INTERNAL: _ClassVar[ErrorCode]
    ERROR_INCOMPLETE: _ClassVar[ErrorCode]
DECAY_COSINE: DecayKind
DECAY_CONSTANT_COSINE: DecayKind
WARMUP_EXPONENTIAL: WarmupShape
WARMUP_LINEAR: WarmupShape
REPORTING_PER_RANK: ReportingMode
REPORTING_RANK_ZERO: ReportingMode
SOLVER_FAST: SolverKind
SOLVER_EXACT: SolverKind
TEST_ROBUST: MinimumTestKind
TEST_PAPER: MinimumTestKind
POLICY_HOLD: WarmupPolicy
POLICY_PAPER: WarmupPolicy
PHASE_WARMUP: Phase
PHASE_DECAY: Phase
PHASE_EXPIRED: Phase
EVENT_PLAN: EventKind
EVENT_TEST_RESULT: EventKind
EVENT_PHASE_SWITCH: EventKind
EVENT_JOB_EXPIRED: EventKind
EVENT_NOTICE: EventKind
ERROR_UNSPECIFIED: ErrorCode
ERROR_MALFORMED: ErrorCode
ERROR_UNSUPPORTED_VERSION: ErrorCode
ERROR_UNKNOWN_JOB: ErrorCode
ERROR_INVALID_ARGUMENT: ErrorCode
ERROR_CONFLICT: ErrorCode
ERROR_UNAUTHORIZED: ErrorCode
ERROR_TOO_LARGE: ErrorCode
ERROR_TIMEOUT: ErrorCode
ERROR_INTERNAL: ErrorCode
ERROR_INCOMPLETE: ErrorCode

class Exponential(_message.Message):
    __slots__ = ("from_step", "to_step", "from_rate", "to_rate")
    FROM_STEP_FIELD_NUMBER: _ClassVar[int]
    TO_STEP_FIELD_NUMBER: _ClassVar[int]
    FROM_RATE_FIELD_NUMBER: _ClassVar[int]
    TO_RATE_FIELD_NUMBER: _ClassVar[int]
    from_step: int
    to_step: int
    from_rate: float
    to_rate: float
    def __init__(self, from_step: _Optional[int] = ..., to_step: _Optional[int] = ..., from_rate: _Optional[float] = ..., to_rate: _Optional[float] = ...) -> None: ...

class Linear(_message.Message):
    __slots__ = ("from_step", "to_step", "from_rate", "to_rate")
    FROM_STEP_FIELD_NUMBER: _ClassVar[int]
    TO_STEP_FIELD_NUMBER: _ClassVar[int]
    FROM_RATE_FIELD_NUMBER: _ClassVar[int]
    TO_RATE_FIELD_NUMBER: _ClassVar[int]
    from_step: int
    to_step: int
    from_rate: float
    to_rate: float
    def __init__(self, from_step: _Optional[int] = ..., to_step: _Optional[int] = ..., from_rate: _Optional[float] = ..., to_rate: _Optional[float] = ...) -> None: ...

class Constant(_message.Message):
    __slots__ = ("rate",)
    RATE_FIELD_NUMBER: _ClassVar[int]
    rate: float
    def __init__(self, rate: _Optional[float] = ...) -> None: ...

class Cosine(_message.Message):
    __slots__ = ("from_step", "to_step", "from_rate")
    FROM_STEP_FIELD_NUMBER: _ClassVar[int]
    TO_STEP_FIELD_NUMBER: _ClassVar[int]
    FROM_RATE_FIELD_NUMBER: _ClassVar[int]
    from_step: int
    to_step: int
    from_rate: float
    def __init__(self, from_step: _Optional[int] = ..., to_step: _Optional[int] = ..., from_rate: _Optional[float] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("start_step", "exponential", "linear", "constant", "cosine")
    START_STEP_FIELD_NUMBER: _ClassVar[int]
    EXPONENTIAL_FIELD_NUMBER: _ClassVar[int]
    LINEAR_FIELD_NUMBER: _ClassVar[int]
    CONSTANT_FIELD_NUMBER: _ClassVar[int]
    COSINE_FIELD_NUMBER: _ClassVar[int]
    start_step: int
    exponential: Exponential
    linear: Linear
    constant: Constant
    cosine: Cosine
    def __init__(self, start_step: _Optional[int] = ..., exponential: _Optional[_Union[Exponential, _Mapping]] = ..., linear: _Optional[_Union[Linear, _Mapping]] = ..., constant: _Optional[_Union[Constant, _Mapping]] = ..., cosine: _Optional[_Union[Cosine, _Mapping]] = ...) -> None: ...

class Plan(_message.Message):
    __slots__ = ("segments", "steps_per_epoch", "decision_delay_steps", "warmup_steps", "decided_through_epoch", "final")
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    STEPS_PER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    DECISION_DELAY_STEPS_FIELD_NUMBER: _ClassVar[int]
    WARMUP_STEPS_FIELD_NUMBER: _ClassVar[int]
    DECIDED_THROUGH_EPOCH_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    steps_per_epoch: int
    decision_delay_steps: int
    warmup_steps: int
    decided_through_epoch: int
    final: bool
    def __init__(self, segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ..., steps_per_epoch: _Optional[int] = ..., decision_delay_steps: _Optional[int] = ..., warmup_steps: _Optional[int] = ..., decided_through_epoch: _Optional[int] = ..., final: bool = ...) -> None: ...

class Hyperparameters(_message.Message):
    __slots__ = ("eta_min", "eta_max", "rho_w", "n_test", "confidence", "patience", "cosine_fraction", "divergence_factor", "flat_pace", "lag_steps", "steps_per_decade")
    ETA_MIN_FIELD_NUMBER: _ClassVar[int]
    ETA_MAX_FIELD_NUMBER: _ClassVar[int]
    RHO_W_FIELD_NUMBER: _ClassVar[int]
    N_TEST_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    PATIENCE_FIELD_NUMBER: _ClassVar[int]
    COSINE_FRACTION_FIELD_NUMBER: _ClassVar[int]
    DIVERGENCE_FACTOR_FIELD_NUMBER: _ClassVar[int]
    FLAT_PACE_FIELD_NUMBER: _ClassVar[int]
    LAG_STEPS_FIELD_NUMBER: _ClassVar[int]
    STEPS_PER_DECADE_FIELD_NUMBER: _ClassVar[int]
    eta_min: float
    eta_max: float
    rho_w: float
    n_test: int
    confidence: float
    patience: int
    cosine_fraction: float
    divergence_factor: float
    flat_pace: float
    lag_steps: float
    steps_per_decade: float
    def __init__(self, eta_min: _Optional[float] = ..., eta_max: _Optional[float] = ..., rho_w: _Optional[float] = ..., n_test: _Optional[int] = ..., confidence: _Optional[float] = ..., patience: _Optional[int] = ..., cosine_fraction: _Optional[float] = ..., divergence_factor: _Optional[float] = ..., flat_pace: _Optional[float] = ..., lag_steps: _Optional[float] = ..., steps_per_decade: _Optional[float] = ...) -> None: ...

class JobSpec(_message.Message):
    __slots__ = ("steps_per_epoch", "total_steps", "world_size", "decay", "warmup", "reporting", "hyperparameters", "decision_delay_steps", "solver", "test", "policy", "seed")
    STEPS_PER_EPOCH_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    WORLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    DECAY_FIELD_NUMBER: _ClassVar[int]
    WARMUP_FIELD_NUMBER: _ClassVar[int]
    REPORTING_FIELD_NUMBER: _ClassVar[int]
    HYPERPARAMETERS_FIELD_NUMBER: _ClassVar[int]
    DECISION_DELAY_STEPS_FIELD_NUMBER: _ClassVar[int]
    SOLVER_FIELD_NUMBER: _ClassVar[int]
    TEST_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    steps_per_epoch: int
    total_steps: int
    world_size: int
    decay: DecayKind
    warmup: WarmupShape
    reporting: ReportingMode
    hyperparameters: Hyperparameters
    decision_delay_steps: int
    solver: SolverKind
    test: MinimumTestKind
    policy: WarmupPolicy
    seed: int
    def __init__(self, steps_per_epoch: _Optional[int] = ..., total_steps: _Optional[int] = ..., world_size: _Optional[int] = ..., decay: _Optional[_Union[DecayKind, str]] = ..., warmup: _Optional[_Union[WarmupShape, str]] = ..., reporting: _Optional[_Union[ReportingMode, str]] = ..., hyperparameters: _Optional[_Union[Hyperparameters, _Mapping]] = ..., decision_delay_steps: _Optional[int] = ..., solver: _Optional[_Union[SolverKind, str]] = ..., test: _Optional[_Union[MinimumTestKind, str]] = ..., policy: _Optional[_Union[WarmupPolicy, str]] = ..., seed: _Optional[int] = ...) -> None: ...

class Verdict(_message.Message):
    __slots__ = ("epoch", "step", "lr", "p_min", "argmin_x", "votes", "positive", "streak", "diverged", "finite_points", "tested", "test_micros", "reports_missing", "outliers", "note", "holding", "silent_rank_count", "silent_ranks")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    LR_FIELD_NUMBER: _ClassVar[int]
    P_MIN_FIELD_NUMBER: _ClassVar[int]
    ARGMIN_X_FIELD_NUMBER: _ClassVar[int]
    VOTES_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_FIELD_NUMBER: _ClassVar[int]
    STREAK_FIELD_NUMBER: _ClassVar[int]
    DIVERGED_FIELD_NUMBER: _ClassVar[int]
    FINITE_POINTS_FIELD_NUMBER: _ClassVar[int]
    TESTED_FIELD_NUMBER: _ClassVar[int]
    TEST_MICROS_FIELD_NUMBER: _ClassVar[int]
    REPORTS_MISSING_FIELD_NUMBER: _ClassVar[int]
    OUTLIERS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    HOLDING_FIELD_NUMBER: _ClassVar[int]
    SILENT_RANK_COUNT_FIELD_NUMBER: _ClassVar[int]
    SILENT_RANKS_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    step: int
    lr: float
    p_min: _containers.RepeatedScalarFieldContainer[float]
    argmin_x: _containers.RepeatedScalarFieldContainer[float]
    votes: int
    positive: bool
    streak: int
    diverged: bool
    finite_points: int
    tested: bool
    test_micros: int
    reports_missing: int
    outliers: int
    note: str
    holding: bool
    silent_rank_count: int
    silent_ranks: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, epoch: _Optional[int] = ..., step: _Optional[int] = ..., lr: _Optional[float] = ..., p_min: _Optional[_Iterable[float]] = ..., argmin_x: _Optional[_Iterable[float]] = ..., votes: _Optional[int] = ..., positive: bool = ..., streak: _Optional[int] = ..., diverged: bool = ..., finite_points: _Optional[int] = ..., tested: bool = ..., test_micros: _Optional[int] = ..., reports_missing: _Optional[int] = ..., outliers: _Optional[int] = ..., note: _Optional[str] = ..., holding: bool = ..., silent_rank_count: _Optional[int] = ..., silent_ranks: _Optional[_Iterable[int]] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("reason", "epoch", "step", "learning_rate", "minimum_step")
    REASON_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_STEP_FIELD_NUMBER: _ClassVar[int]
    reason: str
    epoch: int
    step: int
    learning_rate: float
    minimum_step: float
    def __init__(self, reason: _Optional[str] = ..., epoch: _Optional[int] = ..., step: _Optional[int] = ..., learning_rate: _Optional[float] = ..., minimum_step: _Optional[float] = ...) -> None: ...

class JobState(_message.Message):
    __slots__ = ("job_id", "version", "spec", "plan", "phase", "last_verdict", "decision", "steps_seen", "incarnation")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    LAST_VERDICT_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    STEPS_SEEN_FIELD_NUMBER: _ClassVar[int]
    INCARNATION_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    version: int
    spec: JobSpec
    plan: Plan
    phase: Phase
    last_verdict: Verdict
    decision: Decision
    steps_seen: int
    incarnation: int
    def __init__(self, job_id: _Optional[str] = ..., version: _Optional[int] = ..., spec: _Optional[_Union[JobSpec, _Mapping]] = ..., plan: _Optional[_Union[Plan, _Mapping]] = ..., phase: _Optional[_Union[Phase, str]] = ..., last_verdict: _Optional[_Union[Verdict, _Mapping]] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., steps_seen: _Optional[int] = ..., incarnation: _Optional[int] = ...) -> None: ...

class LossBatch(_message.Message):
    __slots__ = ("protocol_version", "job_id", "token", "rank", "first_step", "losses")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    FIRST_STEP_FIELD_NUMBER: _ClassVar[int]
    LOSSES_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    job_id: str
    token: str
    rank: int
    first_step: int
    losses: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, protocol_version: _Optional[int] = ..., job_id: _Optional[str] = ..., token: _Optional[str] = ..., rank: _Optional[int] = ..., first_step: _Optional[int] = ..., losses: _Optional[_Iterable[float]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("protocol_version", "kind", "job")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    kind: EventKind
    job: JobState
    def __init__(self, protocol_version: _Optional[int] = ..., kind: _Optional[_Union[EventKind, str]] = ..., job: _Optional[_Union[JobState, _Mapping]] = ...) -> None: ...

class Register(_message.Message):
    __slots__ = ("job_id", "token", "rank", "spec", "munge_credential")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    MUNGE_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    token: str
    rank: int
    spec: JobSpec
    munge_credential: str
    def __init__(self, job_id: _Optional[str] = ..., token: _Optional[str] = ..., rank: _Optional[int] = ..., spec: _Optional[_Union[JobSpec, _Mapping]] = ..., munge_credential: _Optional[str] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("job_id", "token", "rank", "need_epoch", "wait_ms", "pending")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    NEED_EPOCH_FIELD_NUMBER: _ClassVar[int]
    WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    token: str
    rank: int
    need_epoch: int
    wait_ms: int
    pending: LossBatch
    def __init__(self, job_id: _Optional[str] = ..., token: _Optional[str] = ..., rank: _Optional[int] = ..., need_epoch: _Optional[int] = ..., wait_ms: _Optional[int] = ..., pending: _Optional[_Union[LossBatch, _Mapping]] = ...) -> None: ...

class Status(_message.Message):
    __slots__ = ("job_id", "token", "munge_credential")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    MUNGE_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    token: str
    munge_credential: str
    def __init__(self, job_id: _Optional[str] = ..., token: _Optional[str] = ..., munge_credential: _Optional[str] = ...) -> None: ...

class ExpireJob(_message.Message):
    __slots__ = ("job_id", "token", "munge_credential")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    MUNGE_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    token: str
    munge_credential: str
    def __init__(self, job_id: _Optional[str] = ..., token: _Optional[str] = ..., munge_credential: _Optional[str] = ...) -> None: ...

class Ping(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Request(_message.Message):
    __slots__ = ("protocol_version", "request_id", "register", "snapshot", "status", "expire_job", "ping")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_JOB_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    request_id: int
    register: Register
    snapshot: Snapshot
    status: Status
    expire_job: ExpireJob
    ping: Ping
    def __init__(self, protocol_version: _Optional[int] = ..., request_id: _Optional[int] = ..., register: _Optional[_Union[Register, _Mapping]] = ..., snapshot: _Optional[_Union[Snapshot, _Mapping]] = ..., status: _Optional[_Union[Status, _Mapping]] = ..., expire_job: _Optional[_Union[ExpireJob, _Mapping]] = ..., ping: _Optional[_Union[Ping, _Mapping]] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message", "job")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    code: ErrorCode
    message: str
    job: JobState
    def __init__(self, code: _Optional[_Union[ErrorCode, str]] = ..., message: _Optional[str] = ..., job: _Optional[_Union[JobState, _Mapping]] = ...) -> None: ...

class DaemonStatus(_message.Message):
    __slots__ = ("version", "uptime_ms", "counters")
    class CountersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPTIME_MS_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    version: str
    uptime_ms: int
    counters: _containers.ScalarMap[str, int]
    def __init__(self, version: _Optional[str] = ..., uptime_ms: _Optional[int] = ..., counters: _Optional[_Mapping[str, int]] = ...) -> None: ...

class JobList(_message.Message):
    __slots__ = ("jobs", "daemon")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    DAEMON_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[JobState]
    daemon: DaemonStatus
    def __init__(self, jobs: _Optional[_Iterable[_Union[JobState, _Mapping]]] = ..., daemon: _Optional[_Union[DaemonStatus, _Mapping]] = ...) -> None: ...

class Reply(_message.Message):
    __slots__ = ("protocol_version", "request_id", "error", "job", "jobs", "pong", "job_token")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    PONG_FIELD_NUMBER: _ClassVar[int]
    JOB_TOKEN_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    request_id: int
    error: Error
    job: JobState
    jobs: JobList
    pong: DaemonStatus
    job_token: str
    def __init__(self, protocol_version: _Optional[int] = ..., request_id: _Optional[int] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., job: _Optional[_Union[JobState, _Mapping]] = ..., jobs: _Optional[_Union[JobList, _Mapping]] = ..., pong: _Optional[_Union[DaemonStatus, _Mapping]] = ..., job_token: _Optional[str] = ...) -> None: ...
