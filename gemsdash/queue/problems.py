"""Whether the job system can do its work right now, and if not, every reason why.

`health()` (what `gemsdash health`, `GET /queue/health` and the dashboard's status line show) reads
one snapshot, the same O(queues) round trip as `stats`, and turns it into a list of problems, each
with a kind a script can match on, the queue it concerns (when it has one) and a one-line detail.
Healthy means no problem at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from gemsdash.queue import sharding
from gemsdash.queue.jobs import PRIORITIES_HIGH_FIRST, JobState
from gemsdash.queue.runtime import current_runtime
from gemsdash.queue.store import Snapshot

ProblemKind = Literal[
    "redis_unreachable",
    "memory_fallback",
    "no_workers",
    "unserved_queue",
    "overdue_jobs",
    "stale_heartbeats",
    "eviction_policy",
    "out_of_memory",
    "shard_down",
    "data_lost",
]

WAITING = (JobState.QUEUED, JobState.DELAYED, JobState.RETRYING)


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    detail: str
    queue: str | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        if self.queue is not None:
            data["queue"] = self.queue
        data["detail"] = self.detail
        return data

    @property
    def short(self) -> str:
        """A few words for the dashboard's status line."""
        label = self.kind.replace("_", " ")
        return f"{label}: {self.queue}" if self.queue else label


@dataclass(frozen=True)
class Health:
    healthy: bool
    mode: str
    reasons: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "mode": self.mode,
            "reasons": self.reasons,
            "problems": [p.as_json() for p in self.problems],
        }


def _jobs(n: int) -> str:
    return f"{n} job{'s' if n != 1 else ''}"


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g} s"


def find_problems(snapshot: Snapshot) -> list[Problem]:
    """Every problem the snapshot shows. Pure: the dashboard calls it on the snapshot it already has."""
    found: list[Problem] = []
    for name, shard in snapshot.shards.items():
        if not shard.up:
            queues = sorted(q for q, why in snapshot.unavailable.items() if why.startswith(f"shard {name!r}"))
            found.append(
                Problem(
                    "shard_down",
                    f"shard {name!r} at {shard.url} does not answer ({shard.error}); its queues are unavailable: "
                    + (", ".join(queues) or "none"),
                )
            )
    lost = snapshot.data_lost
    if lost is not None:
        found.append(
            Problem(
                "data_lost",
                f"Redis lost this namespace's data: worker {lost.worker} found it empty at "
                f"{lost.detected_at:%Y-%m-%d %H:%M:%S} UTC, and every job accepted before then is gone (restarted "
                "without persistence, flushed, or an unsynced replica promoted; see docs/operations.md)",
            )
        )
    memory = snapshot.memory
    if memory is not None and memory.policy != "noeviction":
        found.append(
            Problem(
                "eviction_policy",
                f"Redis maxmemory-policy is {memory.policy}: at its memory limit Redis deletes job records and "
                "queued messages; set maxmemory-policy noeviction",
            )
        )
    if memory is not None and memory.out_of_memory:
        found.append(
            Problem(
                "out_of_memory",
                f"Redis is out of memory ({memory.counted_bytes / 2**20:.1f} MiB used, maxmemory "
                f"{memory.max_bytes / 2**20:.1f} MiB): new jobs are refused and workers wait; raise maxmemory "
                "or free memory (`gemsdash clear QUEUE --include-dead`, shorter REDIS_TTL)",
            )
        )
    waiting_total = sum(q.counts.get(s, 0) for q in snapshot.queues.values() for s in WAITING)
    if waiting_total and snapshot.workers == 0:
        found.append(Problem("no_workers", f"{_jobs(waiting_total)} waiting and no live worker"))
    for name, stats in snapshot.queues.items():
        if name in snapshot.paused:
            continue  # an operator stopped it: its jobs wait, and come due, on purpose until resumed
        waiting = sum(stats.counts.get(s, 0) for s in WAITING)
        consumers = stats.consumers_by_priority
        if waiting and (snapshot.workers == 0 or (consumers and not any(consumers.values()))):
            found.append(
                Problem("unserved_queue", f"{_jobs(waiting)} waiting in {name} and no live worker consumes it", name)
            )
        elif consumers:
            levels = [
                p.value
                for p in PRIORITIES_HIGH_FIRST
                if stats.waiting_by_priority.get(p.value, 0) and not consumers.get(p.value, 0)
            ]
            if levels:
                served = [p.value for p in PRIORITIES_HIGH_FIRST if consumers.get(p.value, 0)]
                stuck = sum(stats.waiting_by_priority[level] for level in levels)
                found.append(
                    Problem(
                        "unserved_queue",
                        f"{_jobs(stuck)} waiting in {name} at priority {', '.join(levels)}, which no live worker "
                        f"consumes (they consume only {', '.join(served)})",
                        name,
                    )
                )
        if stats.overdue:
            found.append(
                Problem(
                    "overdue_jobs",
                    f"{_jobs(stats.overdue)} of {name} delayed or retrying and due more than "
                    f"{_seconds(snapshot.overdue_after_ms)} ago",
                    name,
                )
            )
    if snapshot.stale_workers:
        found.append(
            Problem(
                "stale_heartbeats",
                f"{snapshot.stale_workers} worker(s) stopped heartbeating and are not recovered yet: the jobs they "
                "held wait until a live worker's recovery pass returns them",
            )
        )
    return found


def health() -> Health:
    """Unhealthy when Redis does not answer, when running on a memory fallback, or when the
    snapshot shows any problem (see `find_problems`)."""
    runtime = current_runtime()
    problems: list[Problem] = []
    if runtime.fallback_reason:
        problems.append(Problem("memory_fallback", f"memory fallback: {runtime.fallback_reason}"))
    try:
        snapshot = sharding.snapshot()
    except Exception as exc:  # BackendUnavailable, but never let a health check crash
        problems.append(Problem("redis_unreachable", str(exc)))
    else:
        problems += find_problems(snapshot)
    return Health(not problems, runtime.mode, [p.detail for p in problems], problems)
