"""`gemsdash --demo`: real jobs of all four types, every state on screen within seconds."""

from __future__ import annotations

import time

import gemsdash.queue as q
from gemsdash.app import GemsdashApp
from gemsdash.demo import DemoFeeder
from gemsdash.queue import JobState, JobType
from tests.support import wait_for
from tests.tui.helpers import until


def test_one_round_holds_every_type_and_the_three_payment_outcomes(memory_runtime: q.Runtime) -> None:
    feeder = DemoFeeder(seed=1)
    requests = [r for _ in range(4) for r in feeder.next_batch()]
    types = {JobType(r.job_type) for r in requests}
    assert types == set(JobType)
    methods = {r.payload["payment_method"] for r in requests if JobType(r.job_type) is JobType.PAYMENT_PROCESSING}
    assert {"pm_card_visa", "pm_card_declined", "pm_card_unavailable"} <= methods
    assert any(r.delay for r in requests), "some jobs wait delayed"
    for request in requests:  # every one is valid: the producer would refuse the batch otherwise
        q.JOB_SPECS[JobType(request.job_type)].validate_payload(request.payload)


def test_the_feeder_shows_every_state_within_seconds(memory_runtime: q.Runtime) -> None:
    feeder = DemoFeeder(period=0.3, seed=7).start()
    seen: set[JobState] = set()

    def every_state_seen() -> bool:
        snapshot = q.queue_stats()
        for stats in snapshot.queues.values():
            seen.update(state for state, n in stats.counts.items() if n)
        return {JobState.DELAYED, JobState.SUCCEEDED, JobState.DEAD, JobState.RETRYING, JobState.CANCELLED} <= seen

    try:
        wait_for(every_state_seen, timeout=15, interval=0.05, what=f"every state (seen {sorted(seen)})")
        snapshot = q.queue_stats()
        assert all(sum(stats.counts.values()) for stats in snapshot.queues.values()), "all four queues fed"
    finally:
        feeder.stop()
    assert feeder.last_error is None
    stopped_at = feeder.enqueued
    time.sleep(0.5)
    assert feeder.enqueued == stopped_at, "stop() stops the feed"


async def test_demo_flag_feeds_while_the_app_runs_and_stops_with_it(memory_runtime: q.Runtime) -> None:
    app = GemsdashApp(refresh_interval=0.1, demo=True)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(
            pilot,
            lambda: app.snapshot is not None and sum(sum(s.counts.values()) for s in app.snapshot.queues.values()) >= 4,
            what="demo jobs on screen",
        )
        assert "DEMO" in app.status_text().plain
        feeder = app._demo
        assert feeder is not None
    assert feeder._thread is None, "the feeder stops with the app"


async def test_the_demo_says_when_the_backend_refuses_its_jobs(namespace: str) -> None:
    from gemsdash.queue import runtime as runtime_module
    from tests.conftest import test_settings
    from tests.tui.helpers import notices

    q.configure(test_settings(redis_enabled=False, namespace=namespace, read_only=True), role="host")
    try:
        app = GemsdashApp(refresh_interval=0.1, demo=True, read_only=True)
        async with app.run_test(size=(140, 40)) as pilot:
            await until(pilot, lambda: "Demo feed paused: enqueue refused" in notices(app))
            await pilot.pause(1.2)  # the feeder's next round fails the same way
            assert notices(app).count("Demo feed paused") == 1, "said once, not every round"
    finally:
        runtime_module.reset()
