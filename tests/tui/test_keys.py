"""Read-only mode, `?` help and the command palette: all three follow the live bindings."""

from __future__ import annotations

import pytest

import gemsdash.queue as q
from gemsdash.app import GemsdashApp
from gemsdash.queue import JobState
from gemsdash.tui.dialogs.confirm import ConfirmScreen
from gemsdash.tui.dialogs.help import HelpScreen, live_keys
from gemsdash.tui.widgets.tables import JobsTable
from tests.core.workload import Scripted, email
from tests.support import state_of
from tests.tui.helpers import main_screen, notices, screen_text, until

EMAIL = "email-notification"
SIZE = (140, 40)
CHANGING = ("Retry", "Cancel", "Retry all", "Clear", "Enqueue")


def footer_text(app: GemsdashApp) -> str:
    keys = app.screen.query("FooterKey")
    return " | ".join(f"{k.key_display} {k.description}" for k in keys)  # type: ignore[attr-defined]


async def test_read_only_hides_and_refuses_every_changing_action(work: Scripted) -> None:
    dead_id = q.add_job(EMAIL, email("fatal-1"))
    waiting_id = q.add_job(EMAIL, email("ok-later"), delay=60_000)
    app = GemsdashApp(refresh_interval=0.1, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = main_screen(app)
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.queues[EMAIL].counts[JobState.DEAD] == 1)
        footer = await until(pilot, lambda: footer_text(app), what="the footer")
        assert "Quit" in footer and "Workers" in footer
        for label in CHANGING:
            assert f" {label} |" not in footer + " |", f"{label} must be hidden in read-only mode"
        assert "READ-ONLY" in app.status_text().plain

        screen.queues.move_cursor(row=2)
        await pilot.press("enter")
        jobs = screen.query_one(JobsTable)
        await until(pilot, lambda: dead_id in [str(k.value) for k in jobs.rows])
        jobs.move_cursor(row=jobs.get_row_index(dead_id))
        for key, action in (("r", "retry"), ("c", "cancel"), ("R", "retry all"), ("C", "clear"), ("e", "enqueue")):
            await pilot.press(key)

            def refused(action: str = action) -> bool:
                return f"Read-only mode: {action} refused." in notices(app)

            await until(pilot, refused)
        assert app.screen is screen, "no confirmation or editor opened"
        await pilot.pause(0.2)
        assert state_of(dead_id) is JobState.DEAD
        assert state_of(waiting_id) is JobState.DELAYED

        # Nor through the screen's actions or the palette.
        screen.queue_actions.retry_all(EMAIL)
        assert not isinstance(app.screen, ConfirmScreen)
        titles = [k.title for k in live_keys(screen)]
        assert not [t for t in titles if t.startswith(("Retry", "Cancel", "Clear the selected", "Enqueue"))]


async def test_help_lists_the_live_bindings_of_the_screen(work: Scripted) -> None:
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot is not None)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        text = " ".join(screen_text(app).split())
        for line in (
            "r Retry the selected (or every marked) dead or cancelled job",
            "Mark or unmark the selected job, for r and c",
            "R Retry every dead job of the selected queue",
            "C Clear the selected queue's waiting jobs",
            "6 Show dead jobs",
            "/ Filter jobs by id prefix, error text or payload ids (idempotency key, user, email)",
            "p Pause or resume refreshing",
            "q Quit gemsdash",
        ):
            assert line in text, line
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))

        main_screen(app).query_one(JobsTable).focus()
        await pilot.pause()
        app.open_job("missing")
        await until(pilot, lambda: app.screen is not main_screen(app))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        text = " ".join(screen_text(app).split())
        assert "y Copy the job id to the clipboard" in text
        assert "Show dead jobs" not in text, "help is for the screen on display"


@pytest.mark.slow
async def test_every_action_is_in_the_command_palette(work: Scripted) -> None:
    for i in range(2):
        q.add_job(EMAIL, email(f"fatal-{i}"))
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot is not None and app.snapshot.queues[EMAIL].counts[JobState.DEAD] == 2)
        main_screen(app).queues.move_cursor(row=2)
        await pilot.pause()
        titles = {k.title for k in live_keys(app.screen)}
        for title in (
            "Retry every dead job of the selected queue",
            "Clear the selected queue's waiting jobs",
            "Enqueue a job",
            "Show live workers",
            "Show the audit log of changes",
            "Refresh slower (less often)",
            "Show retrying jobs",
        ):
            assert title in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"retry every")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the retry-all confirmation")
        assert "Retry 2 dead jobs of email-notification?" in screen_text(app)
