"""The schedules screen, driven from the keyboard as an operator would, in memory mode."""

from __future__ import annotations

import re

import gemsdash.queue as q
from gemsdash.app import GemsdashApp
from gemsdash.tui.dialogs.confirm import ConfirmScreen
from gemsdash.tui.dialogs.help import HelpScreen, live_keys
from gemsdash.tui.screens.detail import JobDetailScreen
from gemsdash.tui.screens.schedules import SchedulesScreen
from gemsdash.tui.widgets.tables import NavTable
from tests.core.workload import Scripted, email
from tests.tui.helpers import notices, row, screen_text, until

SIZE = (160, 40)
EMAIL = "email-notification"


def table(app: GemsdashApp) -> NavTable:
    return app.screen.query_one("#schedules", NavTable)


def select(app: GemsdashApp, name: str) -> None:
    nav = table(app)
    nav.move_cursor(row=nav.get_row_index(name))


async def test_the_schedules_screen_shows_and_changes_schedules(work: Scripted) -> None:
    q.add_schedule("hourly", EMAIL, email("ok-hourly"), cron="0 * * * *")
    q.add_schedule("nightly", EMAIL, email("ok-nightly"), cron="30 2 * * *", timezone="Europe/Berlin")
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot is not None)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SchedulesScreen))
        await until(pilot, lambda: len(table(app).rows) == 2, what="both schedules listed")
        nightly = row(table(app), "nightly")
        assert nightly["rule"] == "cron 30 2 * * * (Europe/Berlin)" and nightly["next"].startswith("in ")
        assert row(table(app), "hourly")["last"] == "—"
        titles = [k.title for k in live_keys(app.screen)]
        for title in ("Pause or resume the selected schedule", "Enqueue the selected schedule's job now"):
            assert title in titles

        # Run now, then Enter opens the job it enqueued, which runs.
        select(app, "hourly")
        await pilot.press("n")
        await until(pilot, lambda: "Schedule hourly enqueued job" in notices(app))
        await until(pilot, lambda: row(table(app), "hourly")["outcome"] == "succeeded", what="the run's outcome")
        job_id = q.get_schedule("hourly").last_job_id
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        assert isinstance(app.screen, JobDetailScreen) and app.screen.job_id == job_id
        await until(pilot, lambda: re.search(r"schedule\s+hourly\s+tick \d\d:\d\d", screen_text(app)), what="tick")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, SchedulesScreen))

        # Pause and resume.
        select(app, "nightly")
        await pilot.press("P")
        await until(pilot, lambda: row(table(app), "nightly")["next"] == "paused", what="paused shown")
        assert q.get_schedule("nightly").paused
        await pilot.press("P")
        await until(pilot, lambda: row(table(app), "nightly")["next"].startswith("in "), what="resumed shown")
        assert not q.get_schedule("nightly").paused

        # Remove: asks first; n keeps it, y removes it.
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(pilot, lambda: "nothing changed" in notices(app))
        assert [s.name for s in q.list_schedules()] == ["hourly", "nightly"]
        select(app, "nightly")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: len(table(app).rows) == 1, what="the removed schedule gone")
        assert [s.name for s in q.list_schedules()] == ["hourly"]
        assert [e["action"] for e in q.audit_log(10)][:4] == [
            "schedule-remove",
            "schedule-resume",
            "schedule-pause",
            "schedule-run",
        ]

        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))


async def test_read_only_hides_and_refuses_the_changing_keys(work: Scripted) -> None:
    q.add_schedule("hourly", EMAIL, email("ok-hourly"), cron="0 * * * *")
    app = GemsdashApp(refresh_interval=0.1, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot is not None)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SchedulesScreen) and len(table(app).rows) == 1)
        titles = [k.title for k in live_keys(app.screen)]
        assert "Back" in titles
        assert not [t for t in titles if "selected schedule" in t]
        for key in ("P", "n", "d"):
            await pilot.press(key)
        await until(pilot, lambda: notices(app).count("Read-only mode") == 3)
        assert not isinstance(app.screen, ConfirmScreen)
        schedule = q.get_schedule("hourly")
        assert not schedule.paused and schedule.fired == 0


def test_memory_modes_demo_adds_two_schedules_that_fire(memory_runtime: q.Runtime) -> None:
    from gemsdash.demo import DemoFeeder
    from tests.support import wait_for

    feeder = DemoFeeder(period=60).start()
    try:
        wait_for(lambda: len(q.list_schedules()) == 2, timeout=10, what="the demo's schedules")
        assert {s.name: s.rule for s in q.list_schedules()} == {
            "demo-mood-check": "every 15s",
            "demo-digest": "cron */5 * * * *",
        }
        assert q.run_schedule("demo-digest")  # its payload is valid
    finally:
        feeder.stop()
