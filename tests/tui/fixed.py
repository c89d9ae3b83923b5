"""Fixed dashboard data for snapshot tests: a `DataSource` that answers with the same queues, jobs
and workers every time, at a frozen clock. It fakes what the dashboard is shown, never Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gemsdash.queue import (
    QUEUES,
    STATES,
    ClearResult,
    JobPage,
    JobRecord,
    JobState,
    QueueStats,
    Schedule,
    ScheduleNotFound,
    Snapshot,
    WorkerInfo,
)
from gemsdash.tui.source import Backend, JobQuery

NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)


def fixed_clock() -> datetime:
    return NOW


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


TRACEBACK = """Traceback (most recent call last):
  File "gemsdash/actors/payment.py", line 88, in process_payment
    charge = gateway.capture(payload.payment_method, payload.amount, payload.currency)
  File "gemsdash/actors/gateway.py", line 41, in capture
    raise CardDeclined(reason)
gemsdash.actors.gateway.CardDeclined: card declined [do_not_honor]
"""


def _payment(n: int, method: str = "pm_card_visa") -> dict[str, Any]:
    return {
        "payment_id": f"pay_{1000 + n}",
        "operation": "capture",
        "amount": 1999 + n,
        "currency": "EUR",
        "payment_method": method,
        "idempotency_key": f"order-{1000 + n}",
    }


def _timeline(*steps: tuple[str, float, str | None]) -> list[dict[str, Any]]:
    return [{"state": s, "at": ago(t), "note": note} for s, t, note in steps]


def _record(index: int, state: JobState, created: float, *, timeline: list[dict[str, Any]], **extra: Any) -> JobRecord:
    data: dict[str, Any] = {
        "id": f"{index:08x}-7c1e-4f7a-9b59-5d1c0a3e{index:04x}",
        "type": "payment-processing",
        "queue": "payment-processing",
        "state": state,
        "priority": "high",
        "payload": _payment(index),
        "attempts": 1,
        "max_attempts": 5,
        "created_at": ago(created),
        "backoff": {"type": "exponential", "delay": 2000},
        "timeline": timeline,
    }
    data.update(extra)
    return JobRecord.model_validate(data)


def payment_jobs() -> list[JobRecord]:
    dead_error = {"type": "CardDeclined", "message": "card declined [do_not_honor]", "traceback": TRACEBACK}
    flaky = {"type": "GatewayUnavailable", "message": "gateway timed out after 10 s", "traceback": None}
    return [
        _record(
            0xA1,
            JobState.RUNNING,
            4,
            started_at=ago(3),
            worker="worker-1:4242",
            timeline=_timeline(("queued", 4, None), ("running", 3, None)),
        ),
        _record(
            0xA2,
            JobState.DEAD,
            40,
            attempts=1,
            started_at=ago(39),
            finished_at=ago(38.9),
            duration_ms=112,
            error=dead_error,
            worker="worker-1:4242",
            payload=_payment(0xA2, "pm_card_declined"),
            timeline=_timeline(("queued", 40, None), ("running", 39, None), ("dead", 38.9, None)),
        ),
        _record(
            0xA3,
            JobState.RETRYING,
            25,
            attempts=2,
            started_at=ago(12),
            duration_ms=10004,
            error=flaky,
            next_attempt_at=NOW + timedelta(seconds=6),
            worker="worker-2:4343",
            priority="critical",
            payload={**_payment(0xA3, "pm_card_unavailable"), "card_token": "tok_live_abc123"},
            timeline=_timeline(
                ("queued", 25, None),
                ("running", 24, None),
                ("retrying", 14, None),
                ("queued", 13, None),
                ("running", 12, None),
                ("retrying", 2, None),
            ),
        ),
        _record(
            0xA4,
            JobState.SUCCEEDED,
            65,
            started_at=ago(64),
            finished_at=ago(63.8),
            duration_ms=201,
            result={"charge_id": "ch_3PxQ", "status": "captured"},
            worker="worker-1:4242",
            timeline=_timeline(("queued", 65, None), ("running", 64, None), ("succeeded", 63.8, None)),
        ),
        _record(
            0xA5,
            JobState.DELAYED,
            90,
            attempts=0,
            next_attempt_at=NOW + timedelta(seconds=30),
            priority="low",
            timeline=_timeline(("delayed", 90, None)),
        ),
        _record(
            0xA6,
            JobState.CANCELLED,
            300,
            attempts=0,
            finished_at=ago(200),
            timeline=_timeline(("queued", 300, None), ("cancelled", 200, "cancelled by ops@host:77")),
        ),
        _record(0xA7, JobState.QUEUED, 2, attempts=0, priority="normal", timeline=_timeline(("queued", 2, None))),
    ]


def _stats(
    queue: str, counts: dict[JobState, int], per_bucket: list[tuple[int, int]], avg: float | None, oldest: float | None
) -> QueueStats:
    full = {state: counts.get(state, 0) for state in STATES}
    return QueueStats(queue, full, per_bucket, avg, ago(oldest) if oldest is not None else None)


def _wave(base: int, failing: int = 0) -> list[tuple[int, int]]:
    return [(base + (i * 7) % 5, failing if i % 6 == 0 else 0) for i in range(30)]


def fixed_snapshot() -> Snapshot:
    queues = {
        "sketch-generation": _stats(
            "sketch-generation",
            {JobState.QUEUED: 12, JobState.RUNNING: 4, JobState.SUCCEEDED: 1840},
            _wave(6),
            1830.0,
            42,
        ),
        "emotion-analysis": _stats(
            "emotion-analysis",
            {JobState.SUCCEEDED: 9312, JobState.DEAD: 2},
            _wave(30),
            41.5,
            None,
        ),
        "email-notification": _stats(
            "email-notification",
            {JobState.DELAYED: 3, JobState.RETRYING: 1, JobState.SUCCEEDED: 702, JobState.CANCELLED: 5},
            _wave(2, 1),
            650.0,
            None,
        ),
        "payment-processing": _stats(
            "payment-processing",
            {
                JobState.QUEUED: 1,
                JobState.DELAYED: 1,
                JobState.RUNNING: 1,
                JobState.RETRYING: 1,
                JobState.SUCCEEDED: 1,
                JobState.DEAD: 1,
                JobState.CANCELLED: 1,
            },
            _wave(1, 1),
            320.0,
            2,
        ),
    }
    assert list(queues) == list(QUEUES)
    return Snapshot(taken_at=NOW, queues=queues, workers=2)


class FixedSource:
    """Always the same dashboard data. Changing calls are recorded, not performed."""

    def __init__(self, backend: Backend | None = None) -> None:
        self._backend = backend or Backend("redis", "redis://:***@cache.internal:6379/0", None)
        self.jobs_by_queue: dict[str, list[JobRecord]] = {q: [] for q in QUEUES}
        self.jobs_by_queue["payment-processing"] = payment_jobs()
        self.calls: list[tuple[str, Any]] = []

    def backend(self) -> Backend:
        return self._backend

    def snapshot(self) -> Snapshot:
        return fixed_snapshot()

    def view(self, query: JobQuery) -> tuple[Snapshot, JobPage]:
        return self.snapshot(), self.jobs(query)

    def jobs(self, query: JobQuery) -> JobPage:
        found = [j for j in self.jobs_by_queue[query.queue] if query.state is None or j.state is query.state]
        found = [j for j in found if not query.priority or j.priority.value == query.priority]
        if query.search:
            found = [
                j
                for j in found
                if j.id.startswith(query.search)
                or (j.error is not None and query.search.lower() in j.error.message.lower())
            ]
        return JobPage(found[query.offset : query.offset + query.limit], len(found), query.offset, query.limit)

    def job_logs(self, job_id: str) -> list[str]:
        if not job_id.startswith("000000a3"):
            return []
        return [
            "09:26:41.120 INFO gemsdash.actors.payment: capturing pay_1163 (2162 EUR) with pm_***",
            "09:26:51.130 WARNING gemsdash.actors.gateway: gateway timed out after 10 s; retrying in 4 s",
        ]

    def job(self, job_id: str) -> JobRecord | None:
        return next((j for jobs in self.jobs_by_queue.values() for j in jobs if j.id == job_id), None)

    def workers(self) -> list[WorkerInfo]:
        return [
            WorkerInfo("worker-1", "app-1", 4242, 8, ago(3600), ago(1), 2, ["payment-processing"]),
            WorkerInfo("worker-2", "app-2", 4343, 8, ago(600), ago(4), 0, ["sketch-generation"]),
        ]

    def audit_log(self, limit: int) -> list[dict[str, Any]]:
        return [
            {
                "at": int(ago(30).timestamp() * 1000),
                "action": "retry",
                "target": "000000a2",
                "count": 1,
                "by": "ops@host:77",
                "queue": "payment-processing",
            }
        ]

    def retry(self, job_id: str) -> None:
        self.calls.append(("retry", job_id))

    def retry_all(self, queue: str) -> int:
        self.calls.append(("retry_all", queue))
        return 1

    def retry_jobs(self, job_ids: list[str]) -> tuple[int, list[str]]:
        for job_id in job_ids:
            self.retry(job_id)
        return len(job_ids), []

    def cancel(self, job_id: str) -> None:
        self.calls.append(("cancel", job_id))

    def cancel_jobs(self, job_ids: list[str]) -> tuple[int, list[str]]:
        for job_id in job_ids:
            self.cancel(job_id)
        return len(job_ids), []

    def clear(self, queue: str, *, include_dead: bool) -> ClearResult:
        self.calls.append(("clear", (queue, include_dead)))
        return ClearResult(queue, {"queued": 1, "delayed": 1, "retrying": 1})

    def run_now(self, job_id: str) -> None:
        self.calls.append(("run_now", job_id))

    def abort(self, job_id: str) -> None:
        self.calls.append(("abort", job_id))

    def delete(self, job_id: str) -> None:
        self.calls.append(("delete", job_id))

    def set_paused(self, queue: str, paused: bool) -> bool:
        self.calls.append(("pause" if paused else "resume", queue))
        return True

    def add_job(self, job_type: str, payload: dict[str, Any], *, priority: str | None, delay_ms: int | None) -> str:
        self.calls.append(("add_job", (job_type, payload, priority, delay_ms)))
        return "00000fff-0000-4000-8000-000000000fff"

    # No schedules: the rest of `DataSource`, so that the fixed data is one (mypy checks it).
    def schedules(self) -> list[Schedule]:
        return []

    def pause_schedule(self, name: str) -> Schedule:
        raise ScheduleNotFound(name)

    def resume_schedule(self, name: str) -> Schedule:
        raise ScheduleNotFound(name)

    def run_schedule(self, name: str) -> str:
        raise ScheduleNotFound(name)

    def remove_schedule(self, name: str) -> None:
        raise ScheduleNotFound(name)
