"""Hostile job data on the dashboard: control characters shown as escapes, markup shown as text,
a record with a lone surrogate shown with it replaced (issue 13, items 1 and 4)."""

from __future__ import annotations

import gemsdash.queue as q
from gemsdash.app import GemsdashApp
from gemsdash.queue import JobState
from gemsdash.queue.memory_store import MemoryJobStore
from gemsdash.tui.screens.detail import JobDetailScreen
from gemsdash.tui.widgets.tables import JobsTable
from tests.core.workload import Scripted, email
from tests.tui.helpers import main_screen, row, screen_text, until

EMAIL = "email-notification"
SIZE = (160, 50)
HOSTILE = "nope\x1b[2J\x1b]52;c;SGVsbG8=\x07 \x9b31m \u202eevil [bold red]markup[/] bad\ud800"
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\ud800")


async def test_job_list_and_detail_show_hostile_error_text_as_escapes(work: Scripted) -> None:
    dead_id = q.add_job(EMAIL, email("fatal-x"))
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: (r := q.get_job(dead_id)) is not None and r.state is JobState.DEAD)
        # As a job's error could say after any failure (the record is rewritten in place, as a worker
        # would have written it: memory mode's store holds the raw record).
        store = q.current_runtime().store
        assert isinstance(store, MemoryJobStore)
        with store._lock:
            store._jobs[dead_id]["error"] = {"type": "ValueError", "message": HOSTILE, "traceback": HOSTILE}
        screen = main_screen(app)
        await until(pilot, lambda: app.snapshot is not None, what="first refresh")
        screen.queues.move_cursor(row=2)
        await pilot.press("enter")
        jobs = screen.query_one(JobsTable)
        await until(pilot, lambda: dead_id in [k.value for k in jobs.rows], what="the dead job listed")
        await until(pilot, lambda: "\\x1b[2J" in row(jobs, dead_id)["error"], what="the error shown")
        cell = row(jobs, dead_id)["error"]
        assert not any(c in cell for c in RAW), cell
        assert "ValueError: nope\\x1b[2J\\x1b]52;c;SGVsbG8=\\x07 \\x9b31m \\u202eevil" in cell

        app.open_job(dead_id)
        detail = await until(pilot, lambda: isinstance(app.screen, JobDetailScreen) and app.screen)
        assert isinstance(detail, JobDetailScreen)
        await until(pilot, lambda: detail.record is not None)
        await pilot.pause()
        text = screen_text(app)
        assert not any(c in text for c in RAW)
        assert "ValueError: nope\\x1b[2J\\x1b]52;c;SGVsbG8=\\x07" in text
        assert "[bold red]markup[/] bad\ufffd" in text  # markup is text; the surrogate is replaced
