"""Issue 17's dashboard fixes, driven from the keyboard: where the cursor goes as lists change,
Home/End, Tab out of the enqueue editor, the workers screen on a second visit, `+`/`-`."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import Static, TextArea

from gemsdash.app import GemsdashApp
from gemsdash.queue import JobRecord, JobState, WorkerInfo
from gemsdash.tui.dialogs.enqueue import EnqueueScreen
from gemsdash.tui.screens.workers import WorkersScreen
from gemsdash.tui.widgets.tables import NavTable
from tests.support import state_of
from tests.tui.fixed import FixedSource, _record, _timeline, fixed_clock
from tests.tui.helpers import main_screen, notices, row, until
from tests.tui.test_snapshots import PAYMENTS_ROW, show_payments

PAYMENTS = "payment-processing"


def fresh_job(index: int) -> JobRecord:
    return _record(index, JobState.QUEUED, 1, timeline=_timeline(("queued", 1, None)))


def app_with(source: FixedSource) -> GemsdashApp:
    return GemsdashApp(source=source, clock=fixed_clock, refresh_interval=0.1)


async def refreshed(pilot: Any, app: GemsdashApp) -> None:
    """Wait for two more refreshes, so one started after the change on screen has been applied."""
    seen = app.refreshes
    await until(pilot, lambda: app.refreshes >= seen + 2, what="two refreshes")
    await pilot.pause()


@pytest.mark.slow
async def test_the_cursor_stays_on_top_as_new_jobs_arrive_and_keeps_a_chosen_job() -> None:
    source = FixedSource()
    app = app_with(source)
    async with app.run_test(size=(120, 36)) as pilot:
        await show_payments(pilot)
        screen = main_screen(app)
        await pilot.press("enter")  # into the jobs table
        jobs = screen.jobs
        assert jobs.cursor_row == 0
        newest = source.jobs_by_queue[PAYMENTS][0].id
        assert jobs.selected_key == newest

        source.jobs_by_queue[PAYMENTS][:0] = [fresh_job(0xB1), fresh_job(0xB2)]
        await refreshed(pilot, app)
        assert jobs.cursor_row == 0, "a cursor on the top row stays on top"
        assert jobs.selected_key == fresh_job(0xB1).id

        await pilot.press("down", "down", "down")
        chosen = jobs.selected_key
        screen_row = jobs.cursor_row - jobs.scroll_y
        source.jobs_by_queue[PAYMENTS][:0] = [fresh_job(0xB3)]
        await refreshed(pilot, app)
        assert jobs.selected_key == chosen, "a job the operator moved to keeps the cursor"
        assert jobs.cursor_row == 4
        assert jobs.cursor_row - jobs.scroll_y == screen_row or jobs.scroll_y == 0

        # Another list (state filter, another queue) starts at the top, not at row 4.
        await pilot.press("0")
        await pilot.press("1")
        await until(pilot, lambda: screen.query_state.state is JobState.QUEUED and not jobs.has_class("-loading"))
        await pilot.pause()
        assert jobs.cursor_row == 0
        await pilot.press("0")
        await until(pilot, lambda: screen.query_state.state is None and not jobs.has_class("-loading"))
        await pilot.pause()
        assert jobs.cursor_row == 0 and jobs.selected_key == fresh_job(0xB3).id


async def test_home_and_end_move_to_the_first_and_last_row() -> None:
    app = app_with(FixedSource())
    async with app.run_test(size=(120, 36)) as pilot:
        await show_payments(pilot)
        jobs = main_screen(app).jobs
        await pilot.press("enter", "end")
        assert jobs.cursor_row == jobs.row_count - 1 > 0
        await pilot.press("home")
        assert jobs.cursor_row == 0
        queues = main_screen(app).queues
        queues.focus()
        await pilot.press("home")
        assert queues.cursor_row == 0
        await pilot.press("end")
        assert queues.cursor_row == queues.row_count - 1 == PAYMENTS_ROW


async def test_tab_leaves_the_payload_editor_and_ctrl_t_indents() -> None:
    app = app_with(FixedSource())
    async with app.run_test(size=(120, 36)) as pilot:
        await show_payments(pilot)
        await pilot.press("e")
        dialog = await until(pilot, lambda: isinstance(app.screen, EnqueueScreen) and app.screen)
        editor = dialog.query_one("#payload", TextArea)
        await until(pilot, lambda: editor.has_focus)
        before = editor.text
        await pilot.press("ctrl+t")
        assert editor.text == "  " + before, "ctrl+t indents"
        await pilot.press("tab")
        assert not editor.has_focus, "tab moves on to the next field"
        assert editor.text == "  " + before
        assert "tab next field · ctrl+t indent" in str(dialog.query_one("#enqueue-keys", Static).content)


class SlowWorkers(FixedSource):
    """Reading the workers takes a while (a slow link) once `slow` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.slow = threading.Event()

    def workers(self) -> list[WorkerInfo]:
        if self.slow.is_set():
            self.slow.wait(0)
            threading.Event().wait(3)
        return super().workers()


async def test_the_workers_screen_shows_the_last_list_at_once() -> None:
    source = SlowWorkers()
    app = app_with(source)
    async with app.run_test(size=(120, 36)) as pilot:
        await show_payments(pilot)
        await pilot.press("w")
        screen = await until(pilot, lambda: isinstance(app.screen, WorkersScreen) and app.screen)
        table = screen.query_one("#workers", NavTable)
        await until(pilot, lambda: table.row_count == 2, what="the first read")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, WorkersScreen))
        source.slow.set()
        await pilot.press("w")
        screen = await until(pilot, lambda: isinstance(app.screen, WorkersScreen) and app.screen)
        await pilot.pause()
        assert screen.query_one("#workers", NavTable).row_count == 2, "the last list shows while a new one is read"


async def test_plus_refreshes_faster_and_minus_slower() -> None:
    app = GemsdashApp(source=FixedSource(), clock=fixed_clock, refresh_interval=1.0)
    async with app.run_test(size=(120, 36)) as pilot:
        await show_payments(pilot)
        start = app.feed.interval
        await pilot.press("plus")
        assert app.feed.interval < start
        await pilot.press("minus", "minus")
        assert app.feed.interval > start
        assert "+ faster, - slower" in notices(app)


async def test_p_pauses_the_selected_queue_and_marks_it_and_p_again_resumes(work: Any) -> None:
    import gemsdash.queue as q

    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = main_screen(app)
        await until(pilot, lambda: app.snapshot is not None)
        screen.queues.move_cursor(row=2)  # email-notification
        await pilot.pause()
        await pilot.press("P")
        await until(pilot, lambda: "Paused email-notification" in notices(app))
        assert q.paused_queues() == ["email-notification"]
        await until(pilot, lambda: row(screen.queues, "email-notification")["queue"].endswith("‖"))
        assert "paused: email-notification" in str(screen.query_one("#queues-panel").border_title)
        await pilot.press("P")
        await until(pilot, lambda: "Resumed email-notification" in notices(app))
        assert q.paused_queues() == []
        await until(pilot, lambda: row(screen.queues, "email-notification")["queue"] == "email-notification")


async def test_d_deletes_the_selected_cancelled_job_after_a_confirmation(work: Any) -> None:
    import gemsdash.queue as q
    from gemsdash.tui.dialogs.confirm import ConfirmScreen
    from tests.core.workload import email

    job_id = q.add_job("email-notification", email("ok-later"), delay=60_000)
    q.cancel(job_id)
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = main_screen(app)
        await until(pilot, lambda: app.snapshot is not None)
        screen.queues.move_cursor(row=2)
        await pilot.press("enter")
        await until(pilot, lambda: screen.jobs.selected_key == job_id)
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(pilot, lambda: "Delete cancelled: nothing changed." in notices(app))
        assert q.get_job(job_id) is not None
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: f"Deleted job {job_id[:8]}" in notices(app))
        assert q.get_job(job_id) is None


async def test_f_filters_by_priority_and_s_sorts_the_page() -> None:
    from tests.tui.helpers import rows

    app = app_with(FixedSource())
    async with app.run_test(size=(140, 36)) as pilot:
        await show_payments(pilot)
        screen = main_screen(app)
        await pilot.press("enter", "f")  # critical
        await until(pilot, lambda: screen.query_state.priority == "critical" and not screen.jobs.has_class("-loading"))
        await pilot.pause()
        assert [r[2] for r in rows(screen.jobs)] == ["critical"]
        assert "priority critical" in Text.from_markup(str(screen.query_one("#jobs-panel").border_title)).plain
        for _ in range(4):  # high, normal, low, then all again
            await pilot.press("f")
        await until(pilot, lambda: screen.query_state.priority == "" and not screen.jobs.has_class("-loading"))
        await pilot.pause()
        assert len(rows(screen.jobs)) == 7
        await pilot.press("o")  # by state, in lifecycle order
        states = [r[1] for r in rows(screen.jobs)]
        assert states == sorted(states, key=lambda s: [st.value for st in JobState].index(s))
        assert "page sorted by state" in Text.from_markup(str(screen.query_one("#jobs-panel").border_title)).plain


async def test_x_aborts_the_selected_running_job_after_a_confirmation(work: Any) -> None:
    import gemsdash.queue as q
    from gemsdash.tui.dialogs.confirm import ConfirmScreen
    from tests.core.workload import email

    job_id = q.add_job("email-notification", email("slow-tui"))
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = main_screen(app)
        await until(pilot, lambda: app.snapshot is not None)
        screen.queues.move_cursor(row=2)
        await pilot.press("enter")
        await until(pilot, lambda: screen.jobs.selected_key == job_id and state_of(job_id) is JobState.RUNNING)
        await pilot.press("X")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: f"Abort of job {job_id[:8]} requested" in notices(app))
        await until(pilot, lambda: state_of(job_id) is JobState.CANCELLED, timeout=5)


async def test_n_runs_the_selected_delayed_job_now(work: Any) -> None:
    import gemsdash.queue as q
    from tests.core.workload import email

    job_id = q.add_job("email-notification", email("ok-later"), delay=60_000)
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = main_screen(app)
        await until(pilot, lambda: app.snapshot is not None)
        screen.queues.move_cursor(row=2)
        await pilot.press("enter")
        await until(pilot, lambda: screen.jobs.selected_key == job_id)
        await pilot.press("N")
        await until(pilot, lambda: f"Job {job_id[:8]} is queued to run now." in notices(app))
        await until(pilot, lambda: state_of(job_id) is JobState.SUCCEEDED, timeout=5)


async def test_the_job_detail_shows_what_the_job_logged(work: Any) -> None:
    import gemsdash.queue as q
    from tests.core.workload import email
    from tests.tui.helpers import screen_text

    job_id = q.add_job("email-notification", {**email("x"), "context": {"name": "log-tui", "password": "pw-secret"}})
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: state_of(job_id) is JobState.SUCCEEDED)
        app.open_job(job_id)
        await until(pilot, lambda: "starting log-tui" in screen_text(app), what="the job's log lines")
        assert "signing in with ***" in screen_text(app) and "pw-secret" not in screen_text(app)
