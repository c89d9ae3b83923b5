"""Request and response bodies, declared so the OpenAPI description says exactly what is sent.

Names follow `gemsdash stats --json` (`mode`, `fallback_reason`, `workers`, `queues`) and
`gemsdash job --json` (the `JobRecord` fields), so a script can move between CLI and HTTP.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import gemsdash.queue as q
from gemsdash.queue.store import BUCKET_SECONDS


class ErrorBody(BaseModel):
    detail: str


class FieldError(BaseModel):
    field: str
    message: str


class FieldErrorsBody(BaseModel):
    detail: str
    errors: list[FieldError]


class EnqueueBody(BaseModel):
    """Options left out take the job type's defaults (see the job types table in the docs)."""

    model_config = ConfigDict(extra="forbid")

    payload: dict[str, Any] = Field(description="the job type's payload object")
    priority: q.Priority | None = None
    delay: int | None = Field(default=None, description="milliseconds before the first attempt")
    attempts: int | None = Field(default=None, description="total tries, the first included")
    backoff: q.Backoff | None = None


class ProblemBody(BaseModel):
    kind: Literal[
        "redis_unreachable",
        "memory_fallback",
        "no_workers",
        "unserved_queue",
        "overdue_jobs",
        "stale_heartbeats",
        "eviction_policy",
        "out_of_memory",
    ]
    queue: str | None = Field(default=None, description="the queue it concerns; absent when none")
    detail: str


class HealthBody(BaseModel):
    healthy: bool
    mode: Literal["redis", "memory"]
    reasons: list[str] = Field(description="each problem's detail, as one line")
    problems: list[ProblemBody]


class StatsBody(BaseModel):
    """Exactly the `gemsdash stats --json` document."""

    mode: Literal["redis", "memory"]
    fallback_reason: str | None
    workers: int = Field(description="live workers")
    queues: dict[str, dict[str, int]] = Field(description="queue -> state -> jobs")
    paused: list[str] = Field(default_factory=list, description="queues paused: workers take none of their jobs")


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
