"""Prometheus metrics read from the job store at scrape time.

A custom collector rather than counters updated in place: the numbers live in Redis (or in this
process's memory store) and are shared by every worker, so each scrape reads one snapshot and
reports it; two API processes scraped side by side report the same values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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
from gemsdash.queue.store import DURATION_BOUNDS_MS


class QueueCollector(Collector):
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
        up = GaugeMetricFamily("gemsdash_backend_up", "1 when the job store answered this scrape.")
        try:
            snapshot = q.queue_stats()
        except q.BackendUnavailable:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("gemsdash_workers_alive", "Workers whose heartbeat is fresh.", value=snapshot.workers)
        yield from queue_metrics(snapshot)
        yield from schedule_metrics(q.list_schedules())


def queue_metrics(snapshot: q.Snapshot) -> Iterator[Metric]:
    depth = GaugeMetricFamily("gemsdash_queue_jobs", "Jobs per queue and state.", labels=["queue", "state"])
    oldest = GaugeMetricFamily(
        "gemsdash_queue_oldest_queued_seconds",
        "Age of the oldest job waiting in the queue (0 when none waits).",
        labels=["queue"],
    )
    finished = CounterMetricFamily(
        "gemsdash_jobs_finished",
        "Jobs finished since the store began, by type and outcome.",
        labels=["type", "outcome"],
    )
    duration = HistogramMetricFamily(
        "gemsdash_job_duration_seconds", "Time a job attempt ran before it finished.", labels=["type"]
    )
    now = snapshot.taken_at if snapshot.taken_at.tzinfo else snapshot.taken_at.replace(tzinfo=UTC)
    for name, stats in snapshot.queues.items():
        for state in q.STATES:
            depth.add_metric([name, state.value], stats.counts.get(state, 0))
        oldest.add_metric([name], _age_seconds(stats.oldest_queued_at, now))
        for outcome in ("succeeded", "dead"):
            finished.add_metric([name, outcome], stats.finished_total.get(outcome, 0))
        duration.add_metric([name], cumulative_buckets(stats.duration_buckets), stats.duration_sum_ms / 1000)
    yield from (depth, oldest, finished, duration)


def _age_seconds(since: datetime | None, now: datetime) -> float:
    if since is None:
        return 0.0
    return max((now - since).total_seconds(), 0.0)


def cumulative_buckets(per_bound: dict[str, int]) -> list[tuple[str, float]]:
    """The store's per-bucket counts (ms bounds, not cumulative) as Prometheus `le` buckets in seconds."""
    bounds = sorted({*DURATION_BOUNDS_MS, *(int(k) for k in per_bound if k != "inf")})
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
