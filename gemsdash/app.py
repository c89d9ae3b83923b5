"""The gemsdash dashboard: a Textual app over `gemsdash.queue`.

The app composes the screens and owns the data: the refresh loop, the session the screens read, and
the app-wide keys (help, pause, refresh interval). Screens own their keys and actions and post up
what only the app can do (`gemsdash.tui.messages`). Every refresh runs on a worker thread, never
starts while the previous one runs, and a failed one leaves the last good data on screen, marked
stale, while the loop keeps retrying with a growing delay.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import App
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen

from gemsdash.demo import DemoFeeder
from gemsdash.queue import JobState, Snapshot, find_problems
from gemsdash.tui.background import call_soon, say
from gemsdash.tui.dialogs.help import BindingCommands, HelpScreen, live_keys
from gemsdash.tui.feed import Feed, Level
from gemsdash.tui.messages import JobsChanged, OpenJob, RefreshWanted
from gemsdash.tui.refresh import RefreshRequest, RefreshResult, fetch
from gemsdash.tui.screens.base import DataScreen
from gemsdash.tui.screens.dashboard import DashboardScreen
from gemsdash.tui.screens.detail import JobDetailScreen
from gemsdash.tui.session import Session
from gemsdash.tui.source import DataSource, QueueSource
from gemsdash.tui.widgets.status import Status, StatusBar, status_text, subtitle

#: How many notifications the app remembers (tests read them; `notices` is the history).
NOTICE_HISTORY = 200


def utc_now() -> datetime:
    return datetime.now(UTC)


class GemsdashApp(App[None]):
    TITLE = "gemsdash"
    CSS_PATH = "tui/dashboard.tcss"
    COMMANDS = App.COMMANDS | {BindingCommands}
    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding("q", "quit", "Quit", tooltip="Quit gemsdash"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="Show the keys of this screen"),
        Binding("p", "toggle_pause", "Pause", tooltip="Pause or resume refreshing"),
        Binding("plus", "interval(-1)", "faster", show=False, tooltip="Refresh faster (more often)"),
        Binding("minus", "interval(1)", "slower", show=False, tooltip="Refresh slower (less often)"),
    ]
    #: Screen classes by terminal size, for the styles of a small (80x24) terminal.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-normal"), (160, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    #: How often the loop checks whether a refresh is due and repaints the data's age.
    TICK_SECONDS = 0.1

    def __init__(
        self,
        *,
        refresh_interval: float = 1.0,
        read_only: bool = False,
        demo: bool = False,
        source: DataSource | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        source = source if source is not None else QueueSource()
        self.session = Session(source, source.backend(), clock or utc_now, read_only)
        self.demo = demo
        self.feed = Feed(refresh_interval)
        self.last_result: RefreshResult | None = None
        #: Every notification shown, oldest first, as (severity, message).
        self.notices: deque[tuple[str, str]] = deque(maxlen=NOTICE_HISTORY)
        self.refreshes = 0
        self._demo: DemoFeeder | None = None
        self._demo_error: str | None = None

    @property
    def snapshot(self) -> Snapshot | None:
        return self.session.snapshot

    # -- lifecycle --------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        return DashboardScreen(self.session)

    def on_mount(self) -> None:
        self.sub_title = subtitle(self.session.backend)
        if self.demo:
            self._demo = DemoFeeder().start()
        self.set_interval(self.TICK_SECONDS, self._tick)
        self._tick()

    def on_unmount(self) -> None:
        if self._demo is not None:
            self._demo.stop(timeout=2)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        self.notices.append((severity, message))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    # -- what screens ask of the app ---------------------------------------------------------

    @on(RefreshWanted)
    def _refresh_wanted(self) -> None:
        self.request_refresh()

    @on(JobsChanged)
    def _jobs_changed(self, message: JobsChanged) -> None:
        say(self, message.text)
        self.request_refresh()

    @on(OpenJob)
    def _open_job(self, message: OpenJob) -> None:
        self.open_job(message.job_id)

    def open_job(self, job_id: str) -> None:
        self.push_screen(JobDetailScreen(self.session, job_id))
        self.request_refresh()

    # -- the refresh loop -------------------------------------------------------------------

    def request_refresh(self) -> None:
        """Refresh now, or right after the refresh in flight: what is shown has changed."""
        self.feed.request()
        self._tick()

    def _data_screens(self) -> list[DataScreen[Any]]:
        """Data screens in the stack, top first; one still mounting cannot show data yet."""
        return [s for s in reversed(self.screen_stack) if isinstance(s, DataScreen) and s.is_mounted]

    def _tick(self) -> None:
        now = time.monotonic()
        if self.feed.due(now):
            screens = self._data_screens()
            request = screens[0].refresh_request() if screens else RefreshRequest()
            self.feed.begin(now)
            self.run_worker(lambda: self._refresh_in_thread(request), thread=True, group="refresh", exit_on_error=False)
        self._paint_status(now)
        self._report_demo()

    def _report_demo(self) -> None:
        """Say once (per distinct reason) when the demo feed cannot enqueue, e.g. read-only settings."""
        error = self._demo.last_error if self._demo is not None else None
        if error is not None and error != self._demo_error:
            say(self, f"Demo feed paused: {error}", "warning")
        self._demo_error = error

    def _follow_primary(self) -> None:
        """With Sentinel the header names the primary; a change of primary is a failover: said once."""
        backend = self.session.source.backend()
        was = self.session.backend.primary
        if backend.primary == was:
            return
        if was is not None and backend.primary is not None:
            say(self, f"Redis failover: the primary is now {backend.primary} (was {was}).", "warning")
        self.session.backend = backend
        self.sub_title = subtitle(backend)

    def _refresh_in_thread(self, request: RefreshRequest) -> None:
        call_soon(self, self._apply, fetch(self.session.source, request))

    def _apply(self, result: RefreshResult) -> None:
        now = time.monotonic()
        self.last_result = result
        self.refreshes += 1
        screens = self._data_screens()
        if result.ok and result.snapshot is not None:
            self._follow_primary()
            self.feed.succeeded(now, result.snapshot.taken_at)
            self.session.snapshot = result.snapshot
            if result.workers is not None:
                self.session.last_workers = result.workers
            with self.batch_update():
                for screen in screens:
                    screen.mark_stale(False)
                    screen.show_result(result)
        else:
            self.feed.failed(now, result.error or "refresh failed")
            for screen in screens:
                screen.mark_stale(True)
        self._paint_status(now)

    def status(self, now: float | None = None) -> Status:
        snapshot = self.session.snapshot
        waiting = sum(s.counts.get(JobState.QUEUED, 0) for s in snapshot.queues.values()) if snapshot else 0
        return Status(
            backend=self.session.backend,
            freshness=self.feed.freshness(time.monotonic() if now is None else now, self.session.clock()),
            workers=snapshot.workers if snapshot is not None else None,
            waiting=waiting,
            interval=self.feed.interval,
            read_only=self.session.read_only,
            demo=self.demo,
            problems=tuple(find_problems(snapshot)) if snapshot is not None else (),
        )

    def _paint_status(self, now: float) -> None:
        status = self.status(now)
        for screen in self.screen_stack:
            for bar in screen.query(StatusBar):
                bar.show(status)

    @property
    def freshness_level(self) -> Level:
        return self.feed.freshness(time.monotonic(), self.session.clock()).level

    def status_text(self) -> Text:
        """The status line as shown (tests and the benchmark read it)."""
        return status_text(self.status())

    # -- app-wide keys ----------------------------------------------------------------------

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(list(live_keys(self.screen))))

    def action_toggle_pause(self) -> None:
        paused = self.feed.toggle_pause()
        say(self, "Refresh paused: p resumes." if paused else "Refresh resumed.")
        self._paint_status(time.monotonic())

    def action_interval(self, direction: int) -> None:
        interval = self.feed.step_interval(direction)
        say(self, f"Refreshing every {interval:g} s (+ faster, - slower).")
        self._paint_status(time.monotonic())
