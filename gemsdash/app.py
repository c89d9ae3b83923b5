"""The gemsdash dashboard: a Textual app over `gemsdash.queue`.

The app owns the refresh loop and the actions that change jobs; the screens in `gemsdash.tui` own
how things look. Everything that may block (every `gemsdash.queue` call) runs on a worker thread,
a refresh never starts while the previous one runs, and a failed refresh leaves the last good data
on screen, marked stale, while the loop keeps retrying with a growing delay.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

from rich.console import Group
from rich.text import Text
from textual.app import App
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen

from gemsdash.demo import DemoFeeder
from gemsdash.queue import GemsdashError, JobRecord, JobState, JobType, Snapshot, WorkerInfo, find_problems
from gemsdash.queue.visible import visible
from gemsdash.tui import format as fmt
from gemsdash.tui.base import DataScreen
from gemsdash.tui.confirm import ClearChoice, ClearScreen, ConfirmScreen, preview_table, retry_all_body
from gemsdash.tui.dashboard import DashboardScreen
from gemsdash.tui.detail import JobDetailScreen
from gemsdash.tui.enqueue import EnqueueScreen
from gemsdash.tui.errors import ErrorGroupsScreen
from gemsdash.tui.feed import Feed, Level
from gemsdash.tui.help import BindingCommands, HelpScreen, live_keys
from gemsdash.tui.refresh import RefreshRequest, RefreshResult, fetch
from gemsdash.tui.source import DataSource, JobQuery, QueueSource
from gemsdash.tui.status import Status, StatusBar, status_text, subtitle
from gemsdash.tui.workers import AuditScreen, WorkersScreen

logger = logging.getLogger("gemsdash.tui")

T = TypeVar("T")

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
        self.source: DataSource = source if source is not None else QueueSource()
        self.clock: Callable[[], datetime] = clock or utc_now
        self.read_only = read_only
        self.demo = demo
        self.feed = Feed(refresh_interval)
        self.backend = self.source.backend()
        self.snapshot: Snapshot | None = None
        self.last_result: RefreshResult | None = None
        #: Every notification shown, oldest first, as (severity, message).
        self.notices: deque[tuple[str, str]] = deque(maxlen=NOTICE_HISTORY)
        self.refreshes = 0
        #: The workers last read, shown at once when the workers screen opens again.
        self.last_workers: list[WorkerInfo] | None = None
        self._demo: DemoFeeder | None = None
        self._demo_error: str | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        return DashboardScreen()

    def on_mount(self) -> None:
        self.sub_title = subtitle(self.backend)
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

    def say(self, message: str, severity: SeverityLevel = "information") -> None:
        """Notify with text that may hold user data (ids, error messages): never parsed as markup."""
        self.notify(
            visible(message, multiline=True), severity=severity, markup=False, timeout=6 if severity == "error" else 4
        )

    # -- the refresh loop -------------------------------------------------------------------

    def request_refresh(self) -> None:
        """Refresh now, or right after the refresh in flight: what is shown has changed."""
        self.feed.request()
        self._tick()

    def _data_screens(self) -> list[DataScreen]:
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
            self.say(f"Demo feed paused: {error}", "warning")
        self._demo_error = error

    def _follow_primary(self) -> None:
        """With Sentinel the header names the primary; a change of primary is a failover: said once."""
        backend = self.source.backend()
        if backend.primary == self.backend.primary:
            return
        if self.backend.primary is not None and backend.primary is not None:
            self.say(f"Redis failover: the primary is now {backend.primary} (was {self.backend.primary}).", "warning")
        self.backend = backend
        self.sub_title = subtitle(backend)

    def _refresh_in_thread(self, request: RefreshRequest) -> None:
        result = fetch(self.source, request)
        self._call_soon(self._apply, result)

    def _apply(self, result: RefreshResult) -> None:
        now = time.monotonic()
        self.last_result = result
        self.refreshes += 1
        screens = self._data_screens()
        if result.ok and result.snapshot is not None:
            self._follow_primary()
            self.feed.succeeded(now, result.snapshot.taken_at)
            self.snapshot = result.snapshot
            if result.workers is not None:
                self.last_workers = result.workers
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
        snapshot = self.snapshot
        waiting = sum(s.counts.get(JobState.QUEUED, 0) for s in snapshot.queues.values()) if snapshot else 0
        return Status(
            backend=self.backend,
            freshness=self.feed.freshness(time.monotonic() if now is None else now, self.clock()),
            workers=snapshot.workers if snapshot is not None else None,
            waiting=waiting,
            interval=self.feed.interval,
            read_only=self.read_only,
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
        return self.feed.freshness(time.monotonic(), self.clock()).level

    # -- running backend calls off the UI thread --------------------------------------------

    def background(
        self,
        work: Callable[[], T],
        done: Callable[[T], None],
        *,
        failed: Callable[[Exception], None] | None = None,
    ) -> None:
        """Run `work` on a thread; `done(value)` or `failed(error)` then run on the UI thread.

        Without `failed`, a failure is reported as a notification in the error's own words
        (`GemsdashError` messages are one line and say what to do)."""

        def report(exc: Exception) -> None:
            if failed is not None:
                failed(exc)
            else:
                self.say(str(exc) if isinstance(exc, GemsdashError) else f"{type(exc).__name__}: {exc}", "error")

        def run() -> None:
            try:
                value = work()
            except Exception as exc:
                if not isinstance(exc, GemsdashError):
                    logger.exception("dashboard action failed")
                self._call_soon(report, exc)
            else:
                self._call_soon(done, value)

        self.run_worker(run, thread=True, group="actions", exit_on_error=False)

    def _call_soon(self, fn: Callable[[T], None], value: T) -> None:
        with contextlib.suppress(RuntimeError):  # the app closed while the call was in flight
            self.call_from_thread(fn, value)

    def refused(self, action: str) -> bool:
        """True (and says so) when read-only mode forbids `action`."""
        if self.read_only:
            self.say(f"Read-only mode: {action} refused.", "warning")
            return True
        return False

    # -- actions that change jobs -----------------------------------------------------------

    def retry_job(self, job_id: str) -> None:
        if self.refused("retry"):
            return
        source = self.source

        def done(_: None) -> None:
            self.say(f"Retried job {fmt.short_id(job_id)}: it is back in its queue.")
            self.request_refresh()

        self.background(lambda: source.retry(job_id), done)

    def cancel_job(self, job_id: str) -> None:
        if self.refused("cancel"):
            return
        source = self.source

        def done(_: None) -> None:
            self.say(f"Cancelled job {fmt.short_id(job_id)}; r on it retries it.")
            self.request_refresh()

        self.background(lambda: source.cancel(job_id), done)

    def retry_all(self, queue: str) -> None:
        """Preview (count and first dead jobs, read fresh), confirm, then retry them all."""
        if self.refused("retry all"):
            return
        source = self.source
        previewed = [0]

        def preview(page: Any) -> None:
            previewed[0] = page.total
            if page.total == 0:
                self.say(f"No dead jobs in {queue}: nothing to retry.")
                return
            screen = ConfirmScreen(
                f"Retry dead jobs of {queue}", retry_all_body(queue, page.total, page.jobs), "Retry all"
            )
            self.push_screen(screen, lambda yes: confirmed(bool(yes)))

        def confirmed(yes: bool) -> None:
            if not yes:
                self.say(f"Retry all for {queue} cancelled: nothing changed.")
                return
            self.background(lambda: source.retry_all(queue), finished)

        def finished(count: int) -> None:
            self.say(f"Retried {fmt.count(count)} dead job{'s' if count != 1 else ''} of {queue}{why(count)}.")
            self.request_refresh()

        def why(count: int) -> str:
            """The count shown before confirming was read then; jobs keep dying and being retried."""
            more = count - previewed[0]
            if more > 0:
                return f" ({fmt.count(more)} more died after the count of {fmt.count(previewed[0])} was shown)"
            if more < 0:
                gone = fmt.count(-more)
                return f" ({gone} of the {fmt.count(previewed[0])} counted were retried, cleared or expired meanwhile)"
            return ""

        self.background(lambda: source.jobs(JobQuery(queue, JobState.DEAD, limit=5)), preview)

    def retry_many(self, job_ids: list[str], what: str, after: Callable[[], None] | None = None) -> None:
        """Retry each job; one that changed meanwhile (retried by someone else, expired) is counted,
        not fatal, and the notification says how many went back."""
        if self.refused("retry"):
            return
        source = self.source
        why = "not dead or cancelled (any more), or expired"
        self.background(lambda: source.retry_jobs(job_ids), self._many_done("Retried", what, "retried", why, after))

    def cancel_many(self, job_ids: list[str], what: str, after: Callable[[], None] | None = None) -> None:
        """Cancel each job (each cancel is atomic on its own); one that started or finished
        meanwhile is counted, not fatal."""
        if self.refused("cancel"):
            return
        source = self.source
        why = "already running, finished or expired"
        self.background(
            lambda: source.cancel_jobs(job_ids), self._many_done("Cancelled", what, "cancelled", why, after)
        )

    def _many_done(
        self, verb: str, what: str, participle: str, why: str, after: Callable[[], None] | None
    ) -> Callable[[tuple[int, list[str]]], None]:
        def finished(outcome: tuple[int, list[str]]) -> None:
            done, skipped = outcome
            text = f"{verb} {fmt.count(done)} job{'s' if done != 1 else ''} of {what}"
            if skipped:
                text += f"; {fmt.count(len(skipped))} could not be {participle} ({why})"
            self.say(text + ".")
            if after is not None:
                after()
            self.request_refresh()

        return finished

    def act_on_marked(
        self, action: Literal["retry", "cancel"], jobs: list[JobRecord], queue: str, after: Callable[[], None]
    ) -> None:
        """Retry or cancel the jobs marked in the table, after a confirmation that shows them."""
        if self.refused(action):
            return
        what = f"the {fmt.count(len(jobs))} marked in {queue}"
        body = Group(
            Text.assemble(
                f"{action.capitalize()} ", (f"{fmt.count(len(jobs))} marked job(s)", "bold #ffaf00"), f" of {queue}?"
            ),
            Text(""),
            preview_table(jobs[:8]),
        )
        run = self.retry_many if action == "retry" else self.cancel_many
        ids = [job.id for job in jobs]
        self.push_screen(
            ConfirmScreen(f"{action.capitalize()} marked jobs", body, f"{action.capitalize()} {len(jobs)}"),
            lambda yes: (
                run(ids, what, after)
                if yes
                else self.say(f"{action.capitalize()} of marked jobs cancelled: nothing changed.")
            ),
        )

    def clear_queue(self, queue: str) -> None:
        """Show the counts that will go (read fresh), require the queue's name, then clear."""
        if self.refused("clear"):
            return
        source = self.source

        def preview(snapshot: Snapshot) -> None:
            self.snapshot = snapshot
            counts = snapshot.queues[queue].counts
            if not any(counts.get(s, 0) for s in (JobState.QUEUED, JobState.DELAYED, JobState.RETRYING, JobState.DEAD)):
                self.say(f"{queue} has no waiting or dead jobs: nothing to clear.")
                return
            self.push_screen(ClearScreen(queue, counts), confirmed)

        def confirmed(choice: ClearChoice | None) -> None:
            if choice is None:
                self.say(f"Clear of {queue} cancelled: nothing changed.")
                return
            self.background(lambda: source.clear(queue, include_dead=choice.include_dead), finished)

        def finished(result: Any) -> None:
            parts = [f"{fmt.count(n)} {state}" for state, n in result.removed.items() if state != "dead"]
            text = f"Cleared {queue}: {', '.join(parts)} cancelled (r on a cancelled job brings it back)"
            if "dead" in result.removed:
                text += f"; {fmt.count(result.removed['dead'])} dead deleted"
            self.say(text + ".")
            self.request_refresh()

        self.background(source.snapshot, preview)

    def delete_job(self, job_id: str, after: Callable[[], object] | None = None) -> None:
        """Delete a dead or cancelled job for good, after a confirmation."""
        if self.refused("delete"):
            return
        source = self.source

        def done(_: None) -> None:
            self.say(f"Deleted job {fmt.short_id(job_id)} for good.")
            if after is not None:
                after()
            self.request_refresh()

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.background(lambda: source.delete(job_id), done)
            else:
                self.say("Delete cancelled: nothing changed.")

        body = Text.assemble("Delete job ", (visible(job_id), "bold"), " for good? Its record, error and payload go; ")
        body.append("only a dead or cancelled job can be deleted.")
        self.push_screen(ConfirmScreen("Delete a job", body, "Delete", variant="error"), confirmed)

    def run_job_now(self, job_id: str) -> None:
        if self.refused("run now"):
            return
        source = self.source

        def done(_: None) -> None:
            self.say(f"Job {fmt.short_id(job_id)} is queued to run now.")
            self.request_refresh()

        self.background(lambda: source.run_now(job_id), done)

    def abort_job(self, job_id: str) -> None:
        """Stop a running job, after a confirmation; its worker interrupts it within about a second."""
        if self.refused("abort"):
            return
        source = self.source

        def done(_: None) -> None:
            self.say(f"Abort of job {fmt.short_id(job_id)} requested: its worker stops it within about a second.")
            self.request_refresh()

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.background(lambda: source.abort(job_id), done)
            else:
                self.say("Abort cancelled: nothing changed.")

        body = Text.assemble(
            "Stop running job ", (visible(job_id), "bold"), " now? It ends cancelled and is not retried; "
        )
        body.append("what it already did (an email sent, a payment captured) stays done.")
        self.push_screen(ConfirmScreen("Abort a running job", body, "Abort", variant="error"), confirmed)

    def toggle_queue_pause(self, queue: str) -> None:
        """Pause the queue, or resume it when it is paused (as the last refresh saw it)."""
        if self.refused("pause"):
            return
        pause = not (self.snapshot is not None and queue in self.snapshot.paused)
        source = self.source

        def done(changed: bool) -> None:
            if pause:
                self.say(f"Paused {queue}: workers take none of its jobs (enqueueing goes on); P resumes it.")
            else:
                self.say(f"Resumed {queue}: workers take its jobs again.")
            self.request_refresh()

        self.background(lambda: source.set_paused(queue, pause), done)

    def enqueue(self, queue: str | None = None) -> None:
        if self.refused("enqueue"):
            return

        def done(job_id: str | None) -> None:
            if job_id:
                self.say(f"Enqueued job {fmt.short_id(job_id)}.")
                self.request_refresh()

        self.push_screen(EnqueueScreen(JobType(queue) if queue else JobType.SKETCH_GENERATION), done)

    # -- navigation -------------------------------------------------------------------------

    def open_job(self, job_id: str) -> None:
        self.push_screen(JobDetailScreen(job_id))
        self.request_refresh()

    def open_errors(self, queue: str) -> None:
        self.push_screen(ErrorGroupsScreen(queue))
        self.request_refresh()

    def show_jobs(self, queue: str, state: JobState | None, search: str = "") -> None:
        main = self.screen_stack[0]
        if isinstance(main, DashboardScreen):
            main.show_jobs(queue, state, search)

    def open_workers(self) -> None:
        screen = WorkersScreen()
        self.push_screen(screen)
        # Read the workers now, beside the refresh loop (which may be mid-way through a main-screen
        # refresh): the list shows as soon as one read returns.
        self.background(self.source.workers, lambda workers: self._show_workers(screen, workers), failed=lambda _: None)
        self.request_refresh()

    def _show_workers(self, screen: WorkersScreen, workers: list[WorkerInfo]) -> None:
        self.last_workers = workers
        if screen.is_mounted:
            screen.show_workers(workers)

    def open_audit(self) -> None:
        self.push_screen(AuditScreen())
        self.request_refresh()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(list(live_keys(self.screen))))

    def action_toggle_pause(self) -> None:
        paused = self.feed.toggle_pause()
        self.say("Refresh paused: p resumes." if paused else "Refresh resumed.")
        self._paint_status(time.monotonic())

    def action_interval(self, direction: int) -> None:
        interval = self.feed.step_interval(direction)
        keys = "+ faster, - slower"
        self.say(f"Refreshing every {interval:g} s ({keys}).")
        self._paint_status(time.monotonic())

    def status_text(self) -> Text:
        """The status line as shown (tests and the benchmark read it)."""
        return status_text(self.status())
