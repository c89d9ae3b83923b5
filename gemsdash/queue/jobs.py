"""Job types, states, options and records: the vocabulary every other module speaks.

Which job types exist, and each one's defaults, is the registry's (gemsdash.queue.registry).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, overload

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainValidator,
    ValidationError,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from gemsdash.queue import clock
from gemsdash.queue.errors import UnknownJobType


class _JobTypes(type):
    """Iterating `JobType` lists the registered job types (gemsdash.queue.registry), in order."""

    def __iter__(cls) -> Iterator[JobType]:
        from gemsdash.queue.registry import registered_names

        return iter([JobType.unchecked(name) for name in registered_names()])

    def __len__(cls) -> int:
        from gemsdash.queue.registry import registered_names

        return len(registered_names())

    def __contains__(cls, name: object) -> bool:
        from gemsdash.queue.registry import registered_names

        return name in registered_names()


class JobType(str, metaclass=_JobTypes):
    """A registered job type's name: `JobType("x")` raises UnknownJobType unless "x" is registered.

    A `str`, not an enum, because plugins add types at run time; the built-ins keep their
    constants (`JobType.SKETCH_GENERATION`), so code and tests written against the enum still read.
    """

    SKETCH_GENERATION: ClassVar[JobType]
    EMOTION_ANALYSIS: ClassVar[JobType]
    EMAIL_NOTIFICATION: ClassVar[JobType]
    PAYMENT_PROCESSING: ClassVar[JobType]

    def __new__(cls, name: str) -> JobType:
        if isinstance(name, JobType):
            return name
        from gemsdash.queue.registry import definitions

        # The registry's own mapping: a tuple of its names built per call was a share of a no-op
        # job's time in memory mode (the worker asks once per job).
        known = definitions()
        if name not in known:
            raise UnknownJobType(str(name), list(known))
        return cls.unchecked(name)

    @classmethod
    def unchecked(cls, name: str) -> JobType:
        """The one instance for `name`, registered or not (so `is` compares types, as with the enum)."""
        found = _INSTANCES.get(name)
        if found is None:
            found = _INSTANCES.setdefault(name, str.__new__(cls, name))
        return found

    @property
    def value(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"JobType({self.value!r})"

    @property
    def queue(self) -> str:
        """One queue per job type, named like the type."""
        return self.value

    @property
    def actor_name(self) -> str:
        return self.value.replace("-", "_")

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema(), serialization=core_schema.to_string_ser_schema()
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"type": "string", "enum": [t.value for t in JobType], "description": "job type (= its queue's name)"}


_INSTANCES: dict[str, JobType] = {}
JobType.SKETCH_GENERATION = JobType.unchecked("sketch-generation")
JobType.EMOTION_ANALYSIS = JobType.unchecked("emotion-analysis")
JobType.EMAIL_NOTIFICATION = JobType.unchecked("email-notification")
JobType.PAYMENT_PROCESSING = JobType.unchecked("payment-processing")


class _Queues(Sequence[str]):
    """The registered job types' queues, read when used: plugins add types after import."""

    def _names(self) -> tuple[str, ...]:
        return tuple(t.queue for t in JobType)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __repr__(self) -> str:
        return repr(self._names())


QUEUES: Sequence[str] = _Queues()


class JobState(StrEnum):
    QUEUED = "queued"
    DELAYED = "delayed"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    CANCELLED = "cancelled"

    @property
    def waiting(self) -> bool:
        return self in WAITING_STATES

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATES


STATES: tuple[JobState, ...] = tuple(JobState)
WAITING_STATES = frozenset({JobState.QUEUED, JobState.DELAYED, JobState.RETRYING})
FINISHED_STATES = frozenset({JobState.SUCCEEDED, JobState.DEAD, JobState.CANCELLED})
RETRYABLE_STATES = frozenset({JobState.DEAD, JobState.CANCELLED})


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"

    def queue_for(self, queue: str) -> str:
        """The Redis list this priority waits in.

        Dramatiq's Redis queues are FIFO and actor priority only orders a worker's prefetched
        messages, so each priority level is its own Dramatiq queue; the worker's consumers for the
        higher levels then pick up urgent work without waiting behind a long `low` backlog.
        """
        return queue if self is Priority.NORMAL else f"{queue}.{self.value}"


#: Highest first: the order a worker's consumers are declared in.
PRIORITIES_HIGH_FIRST = (Priority.CRITICAL, Priority.HIGH, Priority.NORMAL, Priority.LOW)

#: Payload fields a job search also matches (besides an id prefix and the error text): the ones
#: operators look jobs up by, none of them masked.
SEARCH_FIELDS = ("idempotency_key", "payment_id", "user_id", "to")
#: The longest job search: well past the longest value of a SEARCH_FIELDS field (an email address,
#: 254) and of a job id; a search step of this size costs Redis under a millisecond.
MAX_SEARCH_CHARS = 1000

MAX_DELAY_MS = 7 * 24 * 3600 * 1000 - 1  # Dramatiq refuses delays of 7 days or more
MAX_ATTEMPTS = 25


class Backoff(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["exponential", "fixed"] = "exponential"
    delay: int = Field(default=1000, ge=0, le=MAX_DELAY_MS, description="milliseconds")
    jitter: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="0 (the default): every wait is exactly as computed; j > 0: each wait is drawn from "
        "[(1 - j) x wait, wait]",
    )

    @property
    def min_ms(self) -> int:
        return max(self.delay, 1)

    @property
    def max_ms(self) -> int:
        """Retry n waits min(delay * 2**(n-1), max_ms) (middleware/backoff.py): equal bounds make it fixed."""
        return self.min_ms if self.type == "fixed" else MAX_DELAY_MS


class JobOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    priority: Priority
    delay: int = Field(default=0, ge=0, le=MAX_DELAY_MS, description="milliseconds before the first attempt")
    attempts: int = Field(ge=1, le=MAX_ATTEMPTS, description="total tries, the first included")
    backoff: Backoff


def printable(name: str) -> str:
    """A field name as it may be shown on one line: names with control characters are quoted."""
    return name if name.isprintable() else repr(name)


def validation_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """`(field, message)` pairs; input values are left out because they may hold secrets."""
    found: list[tuple[str, str]] = []
    for error in exc.errors(include_input=False, include_url=False):
        ctx = error.get("ctx") or {}
        field = str(ctx.get("field") or ".".join(str(p) for p in error["loc"]) or "payload")
        found.append((printable(field), str(error["msg"])))
    return found


def job_type(name: str | JobType) -> JobType:
    return JobType(name)


class JobError(BaseModel):
    type: str
    message: str
    traceback: str | None = None


class TimelineEntry(BaseModel):
    state: JobState
    at: datetime
    note: str | None = None


def _stored_type(value: Any) -> JobType:
    if not isinstance(value, str):
        raise ValueError("a job type is a string")
    return JobType.unchecked(value)


class JobRecord(BaseModel):
    """What gemsdash knows about one job. Field names are the JSON contract (`gemsdash job --json`)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    #: Not checked against the registry: a job of a type whose plugin was since removed still shows.
    type: Annotated[JobType, PlainValidator(_stored_type, json_schema_input_type=str)]
    queue: str
    state: JobState
    priority: Priority
    payload: dict[str, Any]
    attempts: int = 0
    max_attempts: int
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    next_attempt_at: datetime | None = None
    duration_ms: int | None = None
    result: Any = None
    error: JobError | None = None
    worker: str | None = None
    backoff: Backoff | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)
    #: The schedule that enqueued the job, and the tick it fired for (gemsdash.queue.schedules).
    schedule: str | None = None
    schedule_tick: datetime | None = None

    def public_dict(self) -> dict[str, Any]:
        """JSON-ready, timestamps ISO 8601 UTC."""
        data: dict[str, Any] = json.loads(self.model_dump_json())
        return data


def now_ms() -> int:
    """Redis's clock in Redis mode (see clock.py), so that times written here compare with others'."""
    return clock.now_ms()


#: The times a datetime can hold, for stamps that cannot be one.
_EARLIEST, _LATEST = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)


def from_ms(value: float) -> datetime:
    """A stored stamp as a time. One written by hand (or by a forged message, before admission
    checked it) may lie past year 9999 or before year 1: it is shown at that end of the range, so
    one bad record cannot fail a listing (the dashboard showed "disconnected" for it)."""
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return _EARLIEST if not value > 0 else _LATEST
