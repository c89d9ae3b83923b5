"""Redis mode end to end: the real payment job, a worker in this process, the dashboard beside it."""

from __future__ import annotations

import json

import pytest

import gemsdash.queue as q
from gemsdash.app import GemsdashApp
from gemsdash.queue import JobState
from gemsdash.queue import runtime as runtime_module
from gemsdash.queue.redis_broker import GemsdashRedisBroker
from gemsdash.tui.screens.detail import JobDetailScreen
from gemsdash.tui.screens.workers import WorkersScreen
from gemsdash.tui.widgets.tables import JobsTable, NavTable
from tests.conftest import test_settings
from tests.support import free_port
from tests.tui.helpers import main_screen, notices, row, rows, until

PAYMENTS = "payment-processing"


def declined_payment() -> str:
    return q.process_payment(
        payment_id="pay_tui_1",
        operation="capture",
        amount=1250,
        currency="EUR",
        payment_method="pm_card_declined",
        idempotency_key="tui-test-1",
    )


@pytest.mark.slow
async def test_a_dead_payment_is_retried_from_the_keyboard(redis_runtime: q.Runtime) -> None:
    redis_runtime.start_worker(threads=2)
    job_id = declined_payment()
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = main_screen(app)
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.queues[PAYMENTS].counts[JobState.DEAD])
        assert app.sub_title.startswith("redis redis://")
        screen.queues.move_cursor(row=3)
        await pilot.press("enter", "6")
        jobs = screen.query_one(JobsTable)
        await until(pilot, lambda: job_id in [str(k.value) for k in jobs.rows])
        assert "card_declined" in row(jobs, job_id)["error"]

        await pilot.press("enter")
        detail = await until(pilot, lambda: isinstance(app.screen, JobDetailScreen) and app.screen)
        assert isinstance(detail, JobDetailScreen)
        await until(pilot, lambda: detail.record is not None)
        await pilot.press("r")
        await until(pilot, lambda: f"Retried job {job_id[:8]}" in notices(app))
        # Declined for good: it runs again and goes back to dead, the timeline says who retried it.
        await until(
            pilot,
            lambda: (
                detail.record is not None
                and detail.record.state is JobState.DEAD
                and any((e.note or "").startswith("retried by") for e in detail.record.timeline)
            ),
            what="the retried attempt in the timeline",
        )

        await pilot.press("escape", "w")
        workers = await until(pilot, lambda: isinstance(app.screen, WorkersScreen) and app.screen)
        table = workers.query_one("#workers", NavTable)
        await until(pilot, lambda: len(table.rows) == 1, what="the worker's heartbeat")
        listed = rows(table)[0]
        assert isinstance(redis_runtime.broker, GemsdashRedisBroker)
        assert listed[0] == redis_runtime.broker.broker_id
        assert listed[5].endswith("ago")


async def test_a_job_that_is_gone_says_so_on_its_detail_screen(redis_runtime: q.Runtime) -> None:
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=(140, 40)) as pilot:
        app.open_job("no-such-job")
        detail = await until(pilot, lambda: isinstance(app.screen, JobDetailScreen) and app.screen)
        await until(pilot, lambda: detail.gone)
        assert detail.query_one("#gone").display


async def test_a_down_shards_queue_is_greyed_out_with_the_reason(redis_url: str, namespace: str) -> None:
    shards = json.dumps({"pay": {"url": f"redis://127.0.0.1:{free_port()}/0", "queues": [PAYMENTS]}})
    q.configure(test_settings(redis_enabled=True, redis_url=redis_url, namespace=namespace, shards_map=shards))
    try:
        q.add_job("email-notification", {"to": "a@example.com", "template": "welcome", "context": {"name": "A"}})
        app = GemsdashApp(refresh_interval=0.1)
        async with app.run_test(size=(140, 40)) as pilot:
            screen = main_screen(app)
            await until(
                pilot,
                lambda: app.snapshot is not None and "shard 'pay' is down" in row(screen.queues, PAYMENTS)["trend"],
            )
            assert row(screen.queues, PAYMENTS)["queued"] == "-"
            assert row(screen.queues, "email-notification")["queued"] == "1"
            assert "shard down" in app.status_text().plain
    finally:
        runtime_module.reset()
