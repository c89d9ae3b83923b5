"""The main screen, the job detail and navigation, against a real in-memory runtime with a worker."""

from __future__ import annotations

import pytest

import gemsdash.queue as q
from gemsdash.app import GemsdashApp
from gemsdash.queue import JobState
from gemsdash.tui.screens.detail import JobDetailScreen
from gemsdash.tui.screens.workers import AuditScreen, WorkersScreen
from gemsdash.tui.source import PAGE_SIZE
from gemsdash.tui.widgets.tables import JobsTable, NavTable, QueuesTable
from tests.core.workload import Scripted, email
from tests.tui.helpers import main_screen, notices, row, rows, screen_text, until

EMAIL = "email-notification"
SIZE = (140, 40)


def dead_count(app: GemsdashApp, queue: str = EMAIL) -> int:
    return app.snapshot.queues[queue].counts[JobState.DEAD] if app.snapshot else -1


async def open_email_jobs(pilot, app: GemsdashApp) -> None:  # type: ignore[no-untyped-def]
    """Move the queue cursor to email-notification and into its jobs table."""
    screen = main_screen(app)
    await until(pilot, lambda: app.snapshot is not None, what="first refresh")
    screen.queues.move_cursor(row=2)
    await pilot.press("enter")
    await until(pilot, lambda: screen.query_state.queue == EMAIL and screen.jobs.has_focus)


async def test_queues_show_live_counts_and_the_status_line(work: Scripted) -> None:
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        screen = main_screen(app)
        await until(pilot, lambda: "in-process" in app.status_text().plain, what="first refresh")
        for name in ("ok-1", "ok-2", "fatal-1"):
            q.add_job(EMAIL, email(name))
        q.add_job(EMAIL, email("ok-later"), delay=60_000)
        table = screen.query_one(QueuesTable)
        await until(
            pilot,
            lambda: row(table, EMAIL)[JobState.SUCCEEDED.value] == "2" and row(table, EMAIL)["dead"] == "1",
            what="email counts to move",
        )
        email_row = row(table, EMAIL)
        assert email_row["delayed"] == "1"
        assert email_row["queued"] == "0"
        assert [r[0] for r in rows(table)] == list(q.QUEUES)
        status = app.status_text().plain
        assert "in-process" in status and "1 worker" in status and "as of" in status
        assert app.sub_title == "memory · embedded worker"


@pytest.mark.slow
async def test_jobs_table_filters_by_state_searches_and_opens_detail(work: Scripted) -> None:
    ok_id = q.add_job(EMAIL, email("ok-1"))
    dead_id = q.add_job(EMAIL, email("fatal-boom"))
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await open_email_jobs(pilot, app)
        screen = main_screen(app)
        jobs = screen.query_one(JobsTable)
        await until(pilot, lambda: len(jobs.rows) == 2, what="both jobs listed")

        await pilot.press("6")
        await until(pilot, lambda: [r[0] for r in rows(jobs)] == [dead_id[:8]], what="dead filter")
        dead_row = row(jobs, dead_id)
        assert dead_row["state"] == "dead"
        assert "PermanentJobError: permanent failure for fatal-boom" in dead_row["error"]
        assert "6 dead 1" in str(screen.query_one("#tabs").render())

        await pilot.press("0", "slash")
        await pilot.press(*"boom")
        await until(pilot, lambda: [r[0] for r in rows(jobs)] == [dead_id[:8]], what="search by error text")
        await pilot.press("escape")
        await until(pilot, lambda: len(jobs.rows) == 2, what="search cleared")
        await pilot.press("slash", *ok_id[:8], "enter")
        await until(pilot, lambda: [r[0] for r in rows(jobs)] == [ok_id[:8]], what="search by id prefix")
        assert jobs.has_focus

        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        detail = app.screen
        assert isinstance(detail, JobDetailScreen) and detail.job_id == ok_id
        await until(pilot, lambda: detail.record is not None)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)


async def test_detail_masks_secrets_and_shows_error_timeline_and_traceback(work: Scripted) -> None:
    payload = email("fatal-card")
    payload["context"].update(reset_token="tok_super_secret", api_key="key_live_123")
    job_id = q.add_job(EMAIL, payload)
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: dead_count(app) == 1, what="job to die")
        app.open_job(job_id)
        detail = await until(pilot, lambda: isinstance(app.screen, JobDetailScreen) and app.screen)
        assert isinstance(detail, JobDetailScreen)
        await until(pilot, lambda: detail.record is not None and detail.record.state is JobState.DEAD)
        await pilot.pause()
        text = screen_text(app)
        assert "tok_super_secret" not in text and "key_live_123" not in text
        assert '"reset_token": "***"' in text and '"api_key": "***"' in text
        assert "PermanentJobError" in text and "permanent failure for fatal-card" in text
        assert "Traceback (most recent call last)" in text
        for state in ("queued", "running", "dead"):
            assert state in text
        assert "1 of 5" in text


@pytest.mark.slow
async def test_paging_keeps_one_page_and_moves_with_brackets(work: Scripted) -> None:
    total = PAGE_SIZE + 7
    q.add_jobs([q.JobRequest(EMAIL, email(f"ok-{i}"), delay=60_000) for i in range(total)])
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await open_email_jobs(pilot, app)
        screen = main_screen(app)
        jobs = screen.query_one(JobsTable)
        await until(pilot, lambda: len(jobs.rows) == PAGE_SIZE, what="first page")
        assert f"1-{PAGE_SIZE} of {total}" in str(screen.query_one("#jobs-panel").border_title)
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: len(jobs.rows) == 7, what="second page")
        assert f"{PAGE_SIZE + 1}-{total} of {total}" in str(screen.query_one("#jobs-panel").border_title)
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: "last page" in notices(app))
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: len(jobs.rows) == PAGE_SIZE, what="back to the first page")


async def test_workers_and_audit_screens(work: Scripted) -> None:
    dead_id = q.add_job(EMAIL, email("fatal-1"))
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: dead_count(app) == 1)
        await pilot.press("w")
        workers = await until(pilot, lambda: isinstance(app.screen, WorkersScreen) and app.screen)
        assert isinstance(workers, WorkersScreen)
        table = workers.query_one("#workers", NavTable)
        await until(pilot, lambda: len(table.rows) == 1, what="the embedded worker")
        assert rows(table)[0][0].startswith("embedded-")
        await pilot.press("escape")
        q.retry(dead_id)
        await pilot.press("a")
        audit = await until(pilot, lambda: isinstance(app.screen, AuditScreen) and app.screen)
        assert isinstance(audit, AuditScreen)
        table = audit.query_one("#audit", NavTable)
        await until(pilot, lambda: len(table.rows) >= 1, what="the audit entry")
        assert rows(table)[0][1:3] == ["retry", dead_id]
