"""Job types, states, options and records: the vocabulary every other module speaks.

A job type's defaults (priority, attempts, backoff, time limit) are declared once, here; the actor
declaration, the producer and the docs all read them from `JOB_SPECS`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gemsdash.queue import clock
from gemsdash.queue.errors import InvalidPayload, UnknownJobType
from gemsdash.queue.payloads import (
    EmailPayload,
    EmotionPayload,
    Payload,
    PaymentPayload,
    RawCardNumber,
    SketchPayload,
    TooDeep,
    find_card_number,
)
from gemsdash.queue.visible import find_invalid_text


class JobType(StrEnum):
    SKETCH_GENERATION = "sketch-generation"
    EMOTION_ANALYSIS = "emotion-analysis"
    EMAIL_NOTIFICATION = "email-notification"
    PAYMENT_PROCESSING = "payment-processing"

    @property
    def queue(self) -> str:
        """One queue per job type, named like the type."""
        return self.value

    @property
    def actor_name(self) -> str:
        return self.value.replace("-", "_")


QUEUES: tuple[str, ...] = tuple(t.queue for t in JobType)


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


@dataclass(frozen=True)
class JobSpec:
    job_type: JobType
    payload_model: type[Payload]
    priority: Priority
    attempts: int
    backoff: Backoff
    time_limit_ms: int
    description: str

    def options(
        self,
        *,
        priority: Priority | str | None = None,
        delay: int | None = None,
        attempts: int | None = None,
        backoff: Backoff | dict[str, Any] | None = None,
    ) -> JobOptions:
        """This type's defaults with the caller's overrides, validated."""
        if priority is None and not delay and attempts is None and backoff is None:
            return self.default_options
        try:
            return JobOptions(
                priority=Priority(priority) if priority is not None else self.priority,
                delay=delay or 0,
                attempts=attempts if attempts is not None else self.attempts,
                backoff=Backoff.model_validate(backoff) if backoff is not None else self.backoff,
            )
        except ValidationError as exc:
            raise InvalidPayload(self.job_type.value, validation_errors(exc)) from None
        except ValueError as exc:
            raise InvalidPayload(self.job_type.value, [("priority", str(exc))]) from None

    @cached_property
    def default_options(self) -> JobOptions:
        return JobOptions(priority=self.priority, attempts=self.attempts, backoff=self.backoff)

    def validate_payload(self, payload: Any) -> Payload:
        """The payload as its model, or InvalidPayload naming each wrong field."""
        if isinstance(payload, self.payload_model):
            payload = payload.model_dump()
        try:
            card_field = find_card_number(payload)
        except TooDeep as exc:
            raise InvalidPayload(self.job_type.value, [(printable(exc.path), str(exc))]) from None
        if card_field is not None:
            raise InvalidPayload(self.job_type.value, [(printable(card_field), str(RawCardNumber(card_field)))])
        bad_text = find_invalid_text(payload)
        if bad_text is not None:  # stored, it would break every reader that encodes it as UTF-8
            raise InvalidPayload(
                self.job_type.value, [(printable(bad_text), "is not valid Unicode (a lone surrogate)")]
            )
        try:
            return self.payload_model.model_validate(payload)
        except ValidationError as exc:
            raise InvalidPayload(self.job_type.value, validation_errors(exc)) from None


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


JOB_SPECS: dict[JobType, JobSpec] = {
    JobType.SKETCH_GENERATION: JobSpec(
        JobType.SKETCH_GENERATION,
        SketchPayload,
        Priority.NORMAL,
        attempts=3,
        backoff=Backoff(type="exponential", delay=2000),
        time_limit_ms=60_000,
        description="render a line-art sketch PNG from a prompt",
    ),
    JobType.EMOTION_ANALYSIS: JobSpec(
        JobType.EMOTION_ANALYSIS,
        EmotionPayload,
        Priority.NORMAL,
        attempts=3,
        backoff=Backoff(type="exponential", delay=1000),
        time_limit_ms=30_000,
        description="score the emotions of a text and/or an image",
    ),
    JobType.EMAIL_NOTIFICATION: JobSpec(
        JobType.EMAIL_NOTIFICATION,
        EmailPayload,
        Priority.NORMAL,
        attempts=5,
        backoff=Backoff(type="exponential", delay=5000),
        time_limit_ms=30_000,
        description="render a template and deliver it over SMTP",
    ),
    JobType.PAYMENT_PROCESSING: JobSpec(
        JobType.PAYMENT_PROCESSING,
        PaymentPayload,
        Priority.HIGH,
        attempts=5,
        backoff=Backoff(type="exponential", delay=2000),
        time_limit_ms=30_000,
        description="capture, refund or verify a payment through the gateway",
    ),
}


def job_type(name: str | JobType) -> JobType:
    try:
        return JobType(name)
    except ValueError:
        raise UnknownJobType(str(name), [t.value for t in JobType]) from None


def spec_for(name: str | JobType) -> JobSpec:
    return JOB_SPECS[job_type(name)]


class JobError(BaseModel):
    type: str
    message: str
    traceback: str | None = None


class TimelineEntry(BaseModel):
    state: JobState
    at: datetime
    note: str | None = None


class JobRecord(BaseModel):
    """What gemsdash knows about one job. Field names are the JSON contract (`gemsdash job --json`)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    type: JobType
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
