"""Schedules fired and missed, per schedule, read from the store at scrape time like the rest."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric

import gemsdash.queue as q


def schedule_metrics(schedules: list[q.Schedule]) -> Iterator[Metric]:
    fired = CounterMetricFamily(
        "gemsdash_schedule_fired", "Jobs a schedule enqueued (ticks fired, and runs by hand).", labels=["schedule"]
    )
    missed = CounterMetricFamily(
        "gemsdash_schedule_missed",
        "Ticks a schedule did not fire: passed while no worker ran, beyond its catch-up.",
        labels=["schedule"],
    )
    for schedule in schedules:
        fired.add_metric([schedule.name], schedule.fired)
        missed.add_metric([schedule.name], schedule.missed)
    yield from (fired, missed)
