"""Prometheus metrics read from the job store at scrape time.

A custom collector rather than counters updated in place: the numbers live in Redis (or in this
process's memory store) and are shared by every worker, so each scrape reads one snapshot and
reports it; two API processes scraped side by side report the same values.

Every job metric is labelled `queue`. Each metric is one small function of the snapshot, listed in
`SNAPSHOT_METRICS`: adding a metric is adding a function there. While the store does not answer,
the last good snapshot is reported again, with its age (`gemsdash_snapshot_age_seconds`) and
`gemsdash_backend_up 0`, so dashboards keep their last values instead of going blank.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

import gemsdash.queue as q
from gemsdash.http.schedule_metrics import schedule_metrics
from gemsdash.queue.sharding import without_unavailable
from gemsdash.queue.store import ATTEMPT_OUTCOMES, DURATION_BOUNDS_MS, WAIT_BOUNDS_MS


class QueueCollector(Collector):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[q.Snapshot, list[q.Schedule]] | None = None

    def describe(self) -> Iterable[Metric]:
        # Without this the registry would collect (and hit Redis) once at registration.
        return []

    def collect(self) -> Iterator[Metric]:
        runtime = q.current_runtime()
        info = InfoMetricFamily("gemsdash_runtime", "How this process keeps its jobs.")
        info.add_metric([], {"mode": runtime.mode})
        yield info
        yield GaugeMetricFamily(
            "gemsdash_memory_fallback",
            "1 when REDIS_ENABLED=true but Redis was unreachable at start and jobs live in memory.",
            value=1 if runtime.fallback_reason else 0,
        )
        try:
            read: tuple[q.Snapshot, list[q.Schedule]] | None = (q.queue_stats(), q.list_schedules())
            with self._lock:
                self._last = read
            up = 1
        except q.BackendUnavailable:
            with self._lock:
                read = self._last
            up = 0
        yield GaugeMetricFamily(
            "gemsdash_backend_up", "1 when the job store answered this scrape (0: the values are the last read).", up
        )
        if read is None:
            return
        snapshot, schedules = read
        yield GaugeMetricFamily(
            "gemsdash_snapshot_age_seconds",
            "Age of the store read these values come from (grows while the store does not answer).",
            value=_age_seconds(snapshot.taken_at, datetime.now(UTC)),
        )
        yield GaugeMetricFamily(
            "gemsdash_redis_data_lost",
            "1 for a day after a worker found Redis without this namespace's data (health: data_lost).",
            value=1 if snapshot.data_lost is not None else 0,
        )
        shard_up = GaugeMetricFamily(
            "gemsdash_shard_up", "Per shard (GEMSDASH_SHARDS): 1 when it answered this scrape.", labels=["shard"]
        )
        for name, shard in snapshot.shards.items():
            shard_up.add_metric([name], 1 if shard.up else 0)
        yield shard_up
        # A down shard's queues are left out rather than reported as zeros.
        for metrics in SNAPSHOT_METRICS:
            yield from metrics(without_unavailable(snapshot))
        yield from schedule_metrics(schedules)


def workers(snapshot: q.Snapshot) -> Iterator[Metric]:
    live = [w for w in snapshot.worker_list if w.alive]
    yield GaugeMetricFamily("gemsdash_workers_alive", "Workers whose heartbeat is fresh.", value=snapshot.workers)
    yield GaugeMetricFamily(
        "gemsdash_worker_threads", "Worker threads of the live workers.", value=sum(w.threads for w in live)
    )
    yield GaugeMetricFamily(
        "gemsdash_worker_busy_threads",
        "Worker threads running a job, as of each live worker's last heartbeat.",
        value=sum(w.in_flight for w in live),
    )
    up = GaugeMetricFamily(
        "gemsdash_worker_up",
        "Per worker: 1 while its heartbeat is fresh, 0 once stale (listed for three worker timeouts).",
        labels=["worker", "host"],
    )
    age = GaugeMetricFamily(
        "gemsdash_worker_heartbeat_age_seconds", "Per worker: time since its last heartbeat.", labels=["worker"]
    )
    for worker in snapshot.worker_list:
        up.add_metric([worker.id, worker.host], 1 if worker.alive else 0)
        age.add_metric([worker.id], _age_seconds(worker.last_heartbeat, _taken_at(snapshot)))
    yield from (up, age)


def queue_jobs(snapshot: q.Snapshot) -> Iterator[Metric]:
    depth = GaugeMetricFamily("gemsdash_queue_jobs", "Jobs per queue and state.", labels=["queue", "state"])
    oldest = GaugeMetricFamily(
        "gemsdash_queue_oldest_queued_seconds",
        "Age of the oldest job waiting in the queue (0 when none waits).",
        labels=["queue"],
    )
    for name, stats in snapshot.queues.items():
        for state in q.STATES:
            depth.add_metric([name, state.value], stats.counts.get(state, 0))
        oldest.add_metric([name], _age_seconds(stats.oldest_queued_at, _taken_at(snapshot)))
    yield from (depth, oldest)


def job_counters(snapshot: q.Snapshot) -> Iterator[Metric]:
    enqueued = CounterMetricFamily(
        "gemsdash_jobs_enqueued", "Jobs enqueued since the store began.", labels=["queue", "priority"]
    )
    attempts = CounterMetricFamily(
        "gemsdash_job_attempts",
        "Attempts by how they ended: succeeded, retried (raised, another attempt follows), failed (raised, the "
        "job is dead), dead (dead-lettered without running), aborted (worker lost mid-run, job requeued).",
        labels=["queue", "outcome"],
    )
    finished = CounterMetricFamily(
        "gemsdash_jobs_finished", "Jobs finished since the store began, by outcome.", labels=["queue", "outcome"]
    )
    for name, stats in snapshot.queues.items():
        for priority in q.Priority:
            enqueued.add_metric([name, priority.value], stats.enqueued_total.get(priority.value, 0))
        for outcome in ATTEMPT_OUTCOMES:
            attempts.add_metric([name, outcome], stats.attempts_total.get(outcome, 0))
        for outcome in ("succeeded", "dead"):
            finished.add_metric([name, outcome], stats.finished_total.get(outcome, 0))
    yield from (enqueued, attempts, finished)


def histograms(snapshot: q.Snapshot) -> Iterator[Metric]:
    duration = HistogramMetricFamily(
        "gemsdash_job_duration_seconds", "Time each attempt ran, retried ones included.", labels=["queue"]
    )
    wait = HistogramMetricFamily(
        "gemsdash_job_wait_seconds", "Time a job waited in its queue (queued) before a run.", labels=["queue"]
    )
    for name, stats in snapshot.queues.items():
        duration.add_metric(
            [name], cumulative_buckets(stats.duration_buckets, DURATION_BOUNDS_MS), stats.duration_sum_ms / 1000
        )
        wait.add_metric([name], cumulative_buckets(stats.wait_buckets, WAIT_BOUNDS_MS), stats.wait_sum_ms / 1000)
    yield from (duration, wait)


#: Every metric read from a snapshot, in exposition order.
SNAPSHOT_METRICS: list[Callable[[q.Snapshot], Iterator[Metric]]] = [workers, queue_jobs, job_counters, histograms]


def _taken_at(snapshot: q.Snapshot) -> datetime:
    return snapshot.taken_at if snapshot.taken_at.tzinfo else snapshot.taken_at.replace(tzinfo=UTC)


def _age_seconds(since: datetime | None, now: datetime) -> float:
    if since is None:
        return 0.0
    return max((now - since).total_seconds(), 0.0)


def cumulative_buckets(
    per_bound: dict[str, int], bounds_ms: Iterable[int] = DURATION_BOUNDS_MS
) -> list[tuple[str, float]]:
    """The store's per-bucket counts (ms bounds, not cumulative) as Prometheus `le` buckets in seconds."""
    bounds = sorted({*bounds_ms, *(int(k) for k in per_bound if k != "inf")})
    buckets: list[tuple[str, float]] = []
    running = 0
    for bound in bounds:
        running += per_bound.get(str(bound), 0)
        buckets.append((str(bound / 1000), running))
    buckets.append(("+Inf", running + per_bound.get("inf", 0)))
    return buckets


def build_registry() -> CollectorRegistry:
    """A registry of this app's own, so two apps in one process (tests) never collide."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector())
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry
