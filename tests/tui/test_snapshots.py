"""The main screens pinned as SVG snapshots, from fixed dashboard data at a frozen clock.

Update after an intended change with `pytest tests/tui/test_snapshots.py --snapshot-update` and
look at the report (snapshot_report.html) before committing the new pictures.
"""

from __future__ import annotations

from typing import Any

from gemsdash.app import GemsdashApp
from gemsdash.tui.source import Backend
from tests.tui.fixed import FixedSource, fixed_clock
from tests.tui.helpers import main_screen, until

SIZE = (120, 36)
PAYMENTS_ROW = 3
RETRYING_JOB = "000000a3-7c1e-4f7a-9b59-5d1c0a3e00a3"


def fixed_app(**options: Any) -> GemsdashApp:
    return GemsdashApp(source=options.pop("source", FixedSource()), clock=fixed_clock, refresh_interval=1.0, **options)


async def show_payments(pilot: Any, state_key: str | None = None) -> None:
    app = pilot.app
    await until(pilot, lambda: app.refreshes >= 1)
    screen = main_screen(app)
    screen.queues.move_cursor(row=PAYMENTS_ROW)
    await pilot.pause()
    if state_key is not None:
        await pilot.press("enter", state_key)
    await until(pilot, lambda: screen.page is not None and screen.page.jobs and not screen.jobs.has_class("-loading"))
    await pilot.pause()


def test_main_screen(snap_compare: Any) -> None:
    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=show_payments)


def test_dead_jobs_of_a_queue(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await show_payments(pilot, "6")

    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=run_before)


def test_job_detail_masks_the_card_token(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await show_payments(pilot)
        pilot.app.open_job(RETRYING_JOB)
        await until(pilot, lambda: getattr(pilot.app.screen, "record", None) is not None)
        await pilot.pause()

    assert snap_compare(fixed_app(), terminal_size=(120, 40), run_before=run_before)


def test_clear_confirmation(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await show_payments(pilot)
        await pilot.press("C")
        await until(pilot, lambda: pilot.app.screen.query("#confirm-name"))
        await pilot.press(*"payment")
        await pilot.pause()

    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=run_before)


def test_read_only_on_a_memory_fallback(snap_compare: Any) -> None:
    reason = "Redis unreachable at redis://cache.internal:6379/0: Error 111 connecting to cache.internal:6379."
    source = FixedSource(Backend("memory", None, reason))
    assert snap_compare(fixed_app(source=source, read_only=True), terminal_size=SIZE, run_before=show_payments)


# -- issue 17: every screen usable at 80x24, and using the room at 200x50 -----------------------

SMALL = (80, 24)
LARGE = (200, 50)


def test_main_screen_at_80x24(snap_compare: Any) -> None:
    """Every state count, the state tabs, a readable error column and `?` in the footer."""
    assert snap_compare(fixed_app(), terminal_size=SMALL, run_before=show_payments)


def test_main_screen_at_200x50(snap_compare: Any) -> None:
    assert snap_compare(fixed_app(), terminal_size=LARGE, run_before=show_payments)


def test_job_detail_at_80x24(snap_compare: Any) -> None:
    """The whole job id, and the timeline above the payload rather than beside it."""

    async def run_before(pilot: Any) -> None:
        await show_payments(pilot)
        pilot.app.open_job(RETRYING_JOB)
        await until(pilot, lambda: getattr(pilot.app.screen, "record", None) is not None)
        await pilot.pause()

    assert snap_compare(fixed_app(), terminal_size=SMALL, run_before=run_before)


def test_enqueue_dialog_at_80x24(snap_compare: Any) -> None:
    """The validation line, the keys and both buttons on screen."""

    async def run_before(pilot: Any) -> None:
        await show_payments(pilot)
        await pilot.press("e")
        await until(pilot, lambda: pilot.app.screen.query("#enqueue-keys"))
        await until(pilot, lambda: pilot.app.screen.query_one("#payload").has_focus)
        # The short-terminal styles apply once the dialog's screen has had its size.
        await until(pilot, lambda: pilot.app.screen.has_class("-short"))
        # The editor's cursor blinks: left blinking, the picture depended on when it was taken.
        pilot.app.screen.query_one("#payload").cursor_blink = False
        await pilot.pause(0.3)

    assert snap_compare(fixed_app(), terminal_size=SMALL, run_before=run_before)


def test_workers_at_80x24(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await show_payments(pilot)
        await pilot.press("w")
        await until(
            pilot, lambda: pilot.app.screen.query("#workers") and pilot.app.screen.query_one("#workers").row_count
        )
        await pilot.pause()

    assert snap_compare(fixed_app(), terminal_size=SMALL, run_before=run_before)
