"""Every changing action from the keyboard: its confirmation, its refusal, its outcome."""

from __future__ import annotations

import json
from typing import Any

import pytest
from textual.widgets import Checkbox, Input, TextArea

import gemsdash.queue as q
from gemsdash.app import GemsdashApp
from gemsdash.queue import JobState
from gemsdash.tui.dialogs.confirm import ClearScreen, ConfirmScreen
from gemsdash.tui.dialogs.enqueue import EnqueueScreen
from gemsdash.tui.screens.errors import ErrorGroupsScreen
from gemsdash.tui.widgets.tables import JobsTable, NavTable
from tests.core.workload import Scripted, email
from tests.support import state_of
from tests.tui.helpers import main_screen, notices, rows, screen_text, until

EMAIL = "email-notification"
SIZE = (140, 40)


async def select_job(pilot: Any, app: GemsdashApp, job_id: str, state: str = "0") -> None:
    """Show the email queue's jobs (in `state`) and put the cursor on `job_id`."""
    screen = main_screen(app)
    await until(pilot, lambda: app.snapshot is not None)
    screen.queues.focus()
    screen.queues.move_cursor(row=2)
    await pilot.press("enter", state)
    jobs = screen.query_one(JobsTable)
    await until(pilot, lambda: job_id in [str(k.value) for k in jobs.rows], what=f"job {job_id} listed")
    jobs.move_cursor(row=jobs.get_row_index(job_id))
    await pilot.pause()


async def test_retry_a_dead_job_and_refuse_a_job_that_is_not_dead(work: Scripted) -> None:
    dead_id = q.add_job(EMAIL, email("fatal-1"))
    ok_id = q.add_job(EMAIL, email("ok-1"))
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state_of(dead_id) is JobState.DEAD and state_of(ok_id) is JobState.SUCCEEDED)
        await select_job(pilot, app, dead_id)
        work.started.clear()
        await pilot.press("r")
        await until(pilot, lambda: f"Retried job {dead_id[:8]}" in notices(app))
        await until(pilot, lambda: work.started == ["fatal-1"], what="the retried job to run again")

        await select_job(pilot, app, ok_id)
        await pilot.press("r")
        await until(pilot, lambda: f"cannot retry job {ok_id}: it has already succeeded" in notices(app))
        assert app.notices[-1][0] == "error"


@pytest.mark.slow
async def test_cancel_a_waiting_job_and_refuse_a_finished_one(work: Scripted) -> None:
    delayed_id = q.add_job(EMAIL, email("ok-later"), delay=60_000)
    ok_id = q.add_job(EMAIL, email("ok-1"))
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state_of(ok_id) is JobState.SUCCEEDED)
        await select_job(pilot, app, delayed_id)
        await pilot.press("c")
        await until(pilot, lambda: state_of(delayed_id) is JobState.CANCELLED)
        await until(pilot, lambda: f"Cancelled job {delayed_id[:8]}" in notices(app))
        await until(pilot, lambda: app.snapshot and app.snapshot.queues[EMAIL].counts[JobState.CANCELLED] == 1)

        await select_job(pilot, app, ok_id)
        await pilot.press("c")
        await until(pilot, lambda: f"cannot cancel job {ok_id}: it has already succeeded" in notices(app))


async def test_an_action_on_a_job_that_is_gone_says_so(work: Scripted) -> None:
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        main_screen(app).job_actions.retry("no-such-job")
        await until(pilot, lambda: "job no-such-job not found" in notices(app))


async def test_retry_and_cancel_need_a_selected_job(work: Scripted) -> None:
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot is not None)
        await pilot.press("r")
        await until(pilot, lambda: "Select a job to retry first" in notices(app))


async def test_retry_all_shows_how_many_and_only_acts_when_confirmed(work: Scripted) -> None:
    dead = [q.add_job(EMAIL, email(f"fatal-{i}")) for i in range(3)]
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: all(state_of(i) is JobState.DEAD for i in dead))
        main_screen(app).queues.move_cursor(row=2)
        await pilot.pause()
        await pilot.press("R")
        modal = await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        text = screen_text(app)
        assert "Retry 3 dead jobs of email-notification?" in text
        assert dead[0][:8] in text and "permanent failure" in text
        await pilot.press("n")
        await until(pilot, lambda: app.screen is not modal)
        assert "nothing changed" in notices(app)
        assert all(state_of(i) is JobState.DEAD for i in dead)

        work.started.clear()
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: "Retried 3 dead jobs of email-notification." in notices(app))
        await until(pilot, lambda: sorted(work.started) == ["fatal-0", "fatal-1", "fatal-2"])


async def test_retry_all_with_nothing_dead_asks_nothing(work: Scripted) -> None:
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot is not None)
        await pilot.press("R")
        await until(pilot, lambda: "No dead jobs in sketch-generation" in notices(app))
        assert not isinstance(app.screen, ConfirmScreen)


@pytest.mark.slow
async def test_clear_shows_counts_and_needs_the_queue_name_typed(work: Scripted) -> None:
    waiting = [q.add_job(EMAIL, email(f"ok-{i}"), delay=60_000) for i in range(4)]
    dead_id = q.add_job(EMAIL, email("fatal-1"))
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state_of(dead_id) is JobState.DEAD)
        main_screen(app).queues.move_cursor(row=2)
        await pilot.pause()
        await pilot.press("C")
        modal = await until(pilot, lambda: isinstance(app.screen, ClearScreen) and app.screen)
        text = screen_text(app)
        assert "Clear email-notification?" in text
        assert "delayed            4" in text and "queued             0" in text
        confirm = modal.query_one("#confirm")
        assert confirm.disabled
        await pilot.press(*"email", "enter")
        await until(pilot, lambda: "Type email-notification exactly" in notices(app))
        assert isinstance(app.screen, ClearScreen) and confirm.disabled
        await pilot.press("escape")
        await until(pilot, lambda: "Clear of email-notification cancelled: nothing changed." in notices(app))
        assert all(state_of(i) is JobState.DELAYED for i in waiting)

        await pilot.press("C")
        modal = await until(pilot, lambda: isinstance(app.screen, ClearScreen) and app.screen)
        await pilot.press(*EMAIL)
        assert not modal.query_one("#confirm").disabled
        await pilot.press("enter")
        await until(
            pilot, lambda: "Cleared email-notification: 0 queued, 4 delayed, 0 retrying cancelled" in notices(app)
        )
        assert all(state_of(i) is JobState.CANCELLED for i in waiting)
        assert state_of(dead_id) is JobState.DEAD, "dead jobs stay unless asked"
        await until(pilot, lambda: app.snapshot and app.snapshot.queues[EMAIL].counts[JobState.DELAYED] == 0)


async def test_clear_can_also_delete_dead_jobs(work: Scripted) -> None:
    dead_id = q.add_job(EMAIL, email("fatal-1"))
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: state_of(dead_id) is JobState.DEAD)
        main_screen(app).queues.move_cursor(row=2)
        await pilot.pause()
        await pilot.press("C")
        modal = await until(pilot, lambda: isinstance(app.screen, ClearScreen) and app.screen)
        modal.query_one("#include-dead", Checkbox).value = True
        modal.query_one("#confirm-name", Input).value = EMAIL  # typing it is covered above
        await pilot.press("enter")
        await until(pilot, lambda: "1 dead deleted" in notices(app))
        assert state_of(dead_id) is None


@pytest.mark.slow
async def test_enqueue_validates_inline_and_enqueues_only_when_valid(work: Scripted) -> None:
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot is not None)
        main_screen(app).queues.move_cursor(row=2)
        await pilot.pause()
        await pilot.press("e")
        modal = await until(pilot, lambda: isinstance(app.screen, EnqueueScreen) and app.screen)
        editor = modal.query_one("#payload", TextArea)
        assert '"template": "welcome"' in editor.text, "starts from the selected queue's example"

        editor.text = '{"to": "not-an-address", "template": "welcome", "context": {}}'
        await pilot.pause()
        errors = screen_text(app)
        assert "to: is not an email address" in errors
        assert modal.query_one("#confirm").disabled
        await pilot.press("ctrl+s")
        editor.text = '{"to": "ada@example.com", "template": "welcome", '
        await pilot.pause()
        assert "not valid JSON" in screen_text(app)
        assert q.list_jobs(EMAIL).total == 0, "nothing enqueued while invalid"

        editor.text = '{"to": "ada@example.com", "template": "welcome", "context": {"name": "ok-typed"}}'
        await pilot.pause()
        assert "valid" in screen_text(app) and not modal.query_one("#confirm").disabled
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, EnqueueScreen))
        await until(pilot, lambda: "Enqueued job" in notices(app))
        await until(pilot, lambda: work.started == ["ok-typed"])


async def test_enqueue_shows_backend_refusals_inline(work: Scripted) -> None:
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        main_screen(app).queue_actions.enqueue(EMAIL)
        modal = await until(pilot, lambda: isinstance(app.screen, EnqueueScreen) and app.screen)
        await until(pilot, lambda: modal.query("#payload"))
        big = "x" * (q.current_runtime().settings.max_payload_bytes + 10)
        modal.query_one("#payload", TextArea).text = json.dumps(email(big))
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "the limit is" in screen_text(app))
        assert isinstance(app.screen, EnqueueScreen)
        assert q.list_jobs(EMAIL).total == 0


async def test_pause_and_interval_keys(work: Scripted) -> None:
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.refreshes >= 2)
        await pilot.press("p")
        assert "refresh paused" in app.status_text().plain
        await pilot.pause(0.05)
        count = app.refreshes
        await pilot.pause(0.5)
        assert app.refreshes <= count + 1, "at most the refresh in flight lands after pausing"
        await pilot.press("p")
        await until(pilot, lambda: app.refreshes >= count + 3, what="refreshing again")
        await pilot.press("minus")  # slower
        assert app.feed.interval == 0.25 and "every 0.25s" in app.status_text().plain
        await pilot.press("minus", "minus")
        assert app.feed.interval == 1.0
        await pilot.press("plus")  # faster
        assert app.feed.interval == 0.5


async def test_dead_jobs_grouped_by_error_can_be_listed_and_retried_as_a_group(work: Scripted) -> None:
    numbered = [q.add_job(EMAIL, email(f"fatal-{i}")) for i in range(5)]
    other = q.add_job(EMAIL, email("fatal-other"))
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: all(state_of(i) is JobState.DEAD for i in [*numbered, other]))
        main_screen(app).queues.move_cursor(row=2)
        await pilot.pause()
        await pilot.press("E")
        groups = await until(pilot, lambda: isinstance(app.screen, ErrorGroupsScreen) and app.screen)
        assert isinstance(groups, ErrorGroupsScreen)
        table = groups.query_one("#groups", NavTable)
        await until(pilot, lambda: len(table.rows) == 2, what="two error groups")
        listed = rows(table)
        assert listed[0][:2] == ["5", "PermanentJobError: permanent failure for fatal-#"]
        assert listed[1][:2] == ["1", "PermanentJobError: permanent failure for fatal-other"]
        assert "2 group(s) in all 6" in str(table.border_title)

        await pilot.press("enter")
        screen = main_screen(app)
        await until(pilot, lambda: app.screen is screen)
        jobs = screen.query_one(JobsTable)
        await until(pilot, lambda: len(jobs.rows) == 6 and screen.query_state.state is JobState.DEAD)
        assert screen.query_state.search == "permanent failure for fatal-"

        await pilot.press("E")
        groups = await until(pilot, lambda: isinstance(app.screen, ErrorGroupsScreen) and app.screen)
        table = groups.query_one("#groups", NavTable)
        await until(pilot, lambda: len(table.rows) == 2)
        work.started.clear()
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Retry the 5 dead job(s) failing with" in screen_text(app)
        await pilot.press("y")
        await until(
            pilot, lambda: "Retried 5 jobs of the PermanentJobError group of email-notification." in notices(app)
        )
        await until(pilot, lambda: sorted(work.started) == sorted(f"fatal-{i}" for i in range(5)))


@pytest.mark.slow
async def test_marked_jobs_are_cancelled_and_retried_together_after_a_confirmation(work: Scripted) -> None:
    waiting = [q.add_job(EMAIL, email(f"ok-later-{i}"), delay=60_000) for i in range(3)]
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        screen = main_screen(app)
        jobs = screen.query_one(JobsTable)
        for job_id in waiting[:2]:
            await select_job(pilot, app, job_id)
            await pilot.press("space")
        await until(pilot, lambda: jobs.marked == set(waiting[:2]))
        assert "2 marked" in str(screen.query_one("#jobs-panel").border_title)

        await pilot.press("c")
        modal = await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        text = screen_text(app)
        assert "Cancel 2 marked job(s) of email-notification?" in text
        assert waiting[0][:8] in text and waiting[1][:8] in text and waiting[2][:8] not in text
        await pilot.press("y")
        await until(pilot, lambda: app.screen is not modal)
        await until(pilot, lambda: "Cancelled 2 jobs of the 2 marked in email-notification." in notices(app))
        assert [state_of(i) for i in waiting] == [JobState.CANCELLED, JobState.CANCELLED, JobState.DELAYED]
        assert not jobs.marked

        # One of the marked jobs cannot be retried (it is not cancelled): the rest are, and the notice says so.
        await select_job(pilot, app, waiting[0])
        await pilot.press("space")
        await select_job(pilot, app, waiting[2])
        await pilot.press("space")
        work.started.clear()
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(
            pilot, lambda: "Retried 1 job of the 2 marked in email-notification; 1 could not be retried" in notices(app)
        )
        await until(pilot, lambda: work.started == ["ok-later-0"], what="the retried job to run")
        assert state_of(waiting[2]) is JobState.DELAYED


async def test_escape_clears_the_marks_and_marked_actions_refuse_in_read_only_mode(work: Scripted) -> None:
    waiting = q.add_job(EMAIL, email("ok-later"), delay=60_000)
    app = GemsdashApp(refresh_interval=0.1, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        jobs = main_screen(app).query_one(JobsTable)
        await select_job(pilot, app, waiting)
        await pilot.press("space")
        await until(pilot, lambda: jobs.marked == {waiting})
        await pilot.press("c")
        await until(pilot, lambda: "Read-only mode: cancel refused." in notices(app))
        assert not isinstance(app.screen, ConfirmScreen) and state_of(waiting) is JobState.DELAYED
        await pilot.press("escape")
        await until(pilot, lambda: not jobs.marked)
        assert jobs.has_focus  # the first Esc only clears the marks
