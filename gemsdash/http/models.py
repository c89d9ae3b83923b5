"""Request and response bodies, declared so the OpenAPI description says exactly what is sent.

Names follow `gemsdash stats --json` (`mode`, `fallback_reason`, `workers`, `queues`) and
`gemsdash job --json` (the `JobRecord` fields), so a script can move between CLI and HTTP.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

import gemsdash.queue as q
from gemsdash.queue.jobs import MAX_ATTEMPTS, MAX_DELAY_MS
from gemsdash.queue.problems import ProblemKind
from gemsdash.queue.store import BUCKET_SECONDS


class ErrorBody(BaseModel):
    detail: str


class FieldError(BaseModel):
    field: str
    message: str


class FieldErrorsBody(BaseModel):
    """What every 422 answer carries: `detail` in one line, and each wrong field in `errors`."""

    detail: str
    errors: list[FieldError]


class EnqueueOptions(BaseModel):
    """Options left out take the job type's defaults (see the job types table in the docs)."""

    model_config = ConfigDict(extra="forbid")

    priority: q.Priority | None = None
    delay: int | None = Field(default=None, ge=0, le=MAX_DELAY_MS, description="milliseconds before the first attempt")
    attempts: int | None = Field(default=None, ge=1, le=MAX_ATTEMPTS, description="total tries, the first included")
    backoff: q.Backoff | None = None


def enqueue_request() -> Any:
    """The `POST /queue/jobs` body: one variant per job type of `JOB_SPECS`, told apart by `type`,
    each with its type's payload model, so the OpenAPI description says how to build a valid job.
    Read when the app is built: a job type declared before then is published too."""
    variants: list[type[EnqueueOptions]] = [
        create_model(
            "Enqueue" + "".join(part.title() for part in spec.job_type.value.split("-")),
            __base__=EnqueueOptions,
            __doc__=f"Enqueue a {spec.job_type.value} job: {spec.description}.",
            type=(Literal[spec.job_type.value], Field(description="job type (= queue name)")),  # type: ignore[arg-type]
            payload=(spec.payload_model, ...),
        )
        for spec in q.JOB_SPECS.values()
    ]
    if len(variants) == 1:
        return variants[0]
    return Annotated[Union[tuple(variants)], Field(discriminator="type")]  # noqa: UP007


#: The payload scan refuses raw card numbers (13-19 Luhn-valid digits) in any key or value, which
#: JSON Schema cannot check; the published payload schemas refuse a superset instead: 13 digits in a
#: row (or with single spaces or hyphens) in a string or key, and numbers of 13 digits or more.
CARD_DIGITS = r"\d(?:[ -]?\d){12}"
CARD_SAFE_NUMBER = 10**12 - 1


def forbid_card_numbers(schema: Any) -> None:
    """Add those limits, in place, to every string, number and object key of a payload's schema."""
    if isinstance(schema, list):
        for item in schema:
            forbid_card_numbers(item)
        return
    if not isinstance(schema, dict):
        return
    for value in schema.values():
        forbid_card_numbers(value)
    kind = schema.get("type")
    if kind == "string" and "const" not in schema and "enum" not in schema:
        schema.setdefault("allOf", []).append({"not": {"pattern": CARD_DIGITS}})
    elif kind in ("number", "integer"):
        schema["maximum"] = min(schema.get("maximum", CARD_SAFE_NUMBER), CARD_SAFE_NUMBER)
        schema["minimum"] = max(schema.get("minimum", -CARD_SAFE_NUMBER), -CARD_SAFE_NUMBER)
    elif kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        schema["propertyNames"] = {"not": {"pattern": CARD_DIGITS}}


class EnqueueBody(BaseModel):
    """The body of the old `POST /queue/jobs/{type}` (kept as an alias): options left out take the
    job type's defaults."""

    model_config = ConfigDict(extra="forbid")

    payload: dict[str, Any] = Field(description="the job type's payload object")
    priority: q.Priority | None = None
    delay: int | None = Field(default=None, description="milliseconds before the first attempt")
    attempts: int | None = Field(default=None, description="total tries, the first included")
    backoff: q.Backoff | None = None


class ProblemBody(BaseModel):
    kind: ProblemKind
    queue: str | None = Field(default=None, description="the queue it concerns; absent when none")
    detail: str


class HealthBody(BaseModel):
    healthy: bool
    mode: Literal["redis", "memory"]
    reasons: list[str] = Field(description="each problem's detail, as one line")
    problems: list[ProblemBody]


class ShardBody(BaseModel):
    url: str = Field(description="the shard's Redis, password masked")
    up: bool
    error: str | None


class StatsBody(BaseModel):
    """Exactly the `gemsdash stats --json` document."""

    mode: Literal["redis", "memory"]
    fallback_reason: str | None
    workers: int = Field(description="live workers")
    queues: dict[str, dict[str, int] | None] = Field(
        description="queue -> state -> jobs (null: its shard did not answer, see `unavailable`)"
    )
    paused: list[str] = Field(default_factory=list, description="queues paused: workers take none of their jobs")
    # Both only with GEMSDASH_SHARDS: without shards the document is what it always was.
    shards: dict[str, ShardBody] | None = Field(
        default=None, exclude_if=lambda v: v is None, description="with GEMSDASH_SHARDS: each shard's state"
    )
    unavailable: dict[str, str] | None = Field(
        default=None, exclude_if=lambda v: v is None, description="queue -> why its shard did not answer"
    )


class BucketCount(BaseModel):
    succeeded: int
    dead: int


class Throughput(BaseModel):
    per_minute: float = Field(description="jobs finished in the last complete minute")
    avg_duration_ms: float | None
    oldest_queued_at: datetime | None
    finished_total: dict[str, int] = Field(description="lifetime counters: succeeded, dead")
    bucket_seconds: int
    finished_per_bucket: list[BucketCount] = Field(description="oldest first; the last bucket is the current one")


class QueueStatsBody(StatsBody):
    throughput: dict[str, Throughput]


class DashboardBody(BaseModel):
    stats: StatsBody
    workers: list[q.WorkerInfo]
    recent_failures: list[q.JobRecord] = Field(description="dead jobs, newest first, payloads masked")
    throughput: dict[str, Throughput]


class PauseBody(BaseModel):
    queue: str
    paused: bool = Field(description="whether the queue is paused now")
    changed: bool = Field(description="false when it already was")


class ClearBody(BaseModel):
    queue: str
    removed: dict[str, int] = Field(description="state -> jobs removed")
    total: int


def throughput(stats: q.QueueStats) -> Throughput:
    return Throughput(
        per_minute=stats.per_minute,
        avg_duration_ms=stats.avg_duration_ms,
        oldest_queued_at=stats.oldest_queued_at,
        finished_total={"succeeded": 0, "dead": 0, **stats.finished_total},
        bucket_seconds=BUCKET_SECONDS,
        finished_per_bucket=[BucketCount(succeeded=ok, dead=dead) for ok, dead in stats.finished_per_bucket],
    )


def masked(record: q.JobRecord) -> q.JobRecord:
    """The record as the API shows it: sensitive payload and result fields masked, as in the TUI."""
    return record.model_copy(
        update={"payload": q.mask_payload(record.payload), "result": q.mask_payload(record.result)}
    )
