"""One job, everything known about it: state and timings, the state timeline, the payload (with
sensitive fields masked), the error with its traceback, the result and the worker that ran it.

It keeps refreshing while open, so a retried job can be watched going back through its states.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from gemsdash.queue import JobRecord, JobState, mask_payload
from gemsdash.tui import format as fmt
from gemsdash.tui.refresh import RefreshRequest, RefreshResult
from gemsdash.tui.screens.base import DataScreen
from gemsdash.tui.screens.job_actions import JobActions
from gemsdash.tui.session import Session


def when(moment: datetime | None, now: datetime) -> Text:
    """`14:02:31 UTC (3 m 05 s ago)`, or `in 4 s` for a moment still to come."""
    if moment is None:
        return Text("—", style="dim")
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    delta = (now - moment).total_seconds()
    relative = f"{fmt.seconds(delta)} ago" if delta >= 0 else f"in {fmt.seconds(-delta)}"
    return Text.assemble(stamp, (f"  ({relative})", "dim"))


def pretty_json(value: Any) -> Syntax:
    text = json.dumps(value, indent=2, sort_keys=False, default=str)
    return Syntax(text, "json", theme="ansi_dark", background_color="default", word_wrap=True)


def summary(job: JobRecord, now: datetime) -> Group:
    """The id on a line of its own (a half-width cell cut it at 80 columns), then the facts."""
    return Group(Text.assemble(("id        ", "dim"), fmt.data(job.id, style="bold")), facts(job, now))


def facts(job: JobRecord, now: datetime) -> Table:
    grid = Table.grid(padding=(0, 2), expand=True)
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(ratio=1)
    attempts = Text(f"{job.attempts} of {job.max_attempts}")
    if job.backoff is not None:
        attempts.append(f"  ({job.backoff.type} backoff from {fmt.duration_ms(job.backoff.delay)})", style="dim")
    state = fmt.state_text(job.state)
    state.stylize("bold")
    grid.add_row("state", state, "priority", Text(job.priority.value, style=fmt.PRIORITY_STYLE[job.priority]))
    grid.add_row("type", job.type.value, "worker", fmt.data(job.worker or "—", style="" if job.worker else "dim"))
    grid.add_row("attempts", attempts, "", "")
    grid.add_row("created", when(job.created_at, now), "started", when(job.started_at, now))
    grid.add_row("finished", when(job.finished_at, now), "next attempt", when(job.next_attempt_at, now))
    scheduled: tuple[str, Text | str] = ("", "")
    if job.schedule is not None:
        tick = job.schedule_tick.astimezone(UTC).strftime("%H:%M:%S UTC") if job.schedule_tick else "?"
        scheduled = ("schedule", Text.assemble((job.schedule, "bold"), (f"  tick {tick}", "dim")))
    grid.add_row("duration", fmt.duration_ms(job.duration_ms) or Text("—", style="dim"), *scheduled)
    return grid


def timeline(job: JobRecord) -> Table:
    table = Table(box=None, padding=(0, 1), expand=True, show_edge=False)
    table.add_column("state", no_wrap=True)
    table.add_column("at (UTC)", no_wrap=True)
    table.add_column("+", justify="right", no_wrap=True, style="dim")
    table.add_column("note", ratio=1)
    start = job.timeline[0].at if job.timeline else job.created_at
    for entry in job.timeline:
        offset = (entry.at - start).total_seconds()
        table.add_row(
            fmt.state_text(entry.state),
            entry.at.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3],
            f"+{offset:.3f}s" if offset < 60 else f"+{fmt.seconds(offset)}",
            fmt.data(entry.note or "", style="dim"),
        )
    return table


def error_block(job: JobRecord) -> RenderableType:
    if job.error is None:
        return Text("no error", style="dim")
    head = Text.assemble(fmt.data(job.error.type, "bold #ff5f5f"), ": ", fmt.data(job.error.message, multiline=True))
    if not job.error.traceback:
        return head
    trace = fmt.data(job.error.traceback.rstrip(), "#d7875f", multiline=True)
    return Group(head, Text(""), trace)


class JobDetailScreen(DataScreen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("r", "retry", "Retry", tooltip="Retry this job (dead or cancelled)"),
        Binding("c", "cancel", "Cancel", tooltip="Cancel this job (queued, delayed or retrying)"),
        Binding("y", "copy_id", "Copy id", tooltip="Copy the job id to the clipboard"),
        Binding("N", "run_now", "Run now", tooltip="Run this delayed or retrying job now"),
        Binding("X", "abort", "Abort", tooltip="Stop this running job (confirmed): it ends cancelled"),
        Binding("D", "delete", "Delete", tooltip="Delete this job for good (dead or cancelled; confirmed)"),
        Binding("j", "scroll('down')", "Down", show=False),
        Binding("k", "scroll('up')", "Up", show=False),
    ]

    def __init__(self, session: Session, job_id: str, record: JobRecord | None = None) -> None:
        super().__init__(session)
        self.job_actions = JobActions(self)
        self.job_id = job_id
        self.record = record
        self.gone = False
        self.logs: list[str] = []

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with VerticalScroll(id="detail"):
            yield Static(id="gone")
            yield Static(id="summary", classes="panel")
            with Horizontal(id="detail-middle"):
                yield Static(id="timeline", classes="panel")
                yield Static(id="payload", classes="panel")
            yield Static(id="error", classes="panel")
            yield Static(id="logs", classes="panel")
            yield Static(id="result", classes="panel")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        for name, title in (
            ("summary", "job"),
            ("timeline", "timeline"),
            ("payload", "payload (sensitive fields masked)"),
            ("error", "error"),
            ("logs", "what the job logged (last run, masked)"),
            ("result", "result"),
        ):
            self.query_one(f"#{name}").border_title = title
        self.query_one("#gone", Static).display = False
        self.query_one("#detail", VerticalScroll).focus()
        self.paint()

    def refresh_request(self) -> RefreshRequest:
        return RefreshRequest(job_id=self.job_id)

    def show_result(self, result: RefreshResult) -> None:
        if result.request.job_id != self.job_id:
            return
        if result.job is None:
            self.gone = True
        else:
            self.record = result.job
            self.gone = False
            self.logs = result.logs or []
        self.paint()

    def paint(self) -> None:
        now = self.session.clock()
        gone = self.query_one("#gone", Static)
        gone.display = self.gone
        if self.gone:
            gone.update(Text(f"Job {self.job_id} no longer exists (expired or cleared); showing what was last seen."))
        job = self.record
        if job is None:
            self.query_one("#summary", Static).update(Text("loading…", style="dim"))
            return
        self.query_one("#summary", Static).update(summary(job, now))
        self.query_one("#timeline", Static).update(timeline(job))
        self.query_one("#payload", Static).update(pretty_json(mask_payload(job.payload)))
        self.query_one("#error", Static).update(error_block(job))
        self.query_one("#error").set_class(job.error is not None, "-failed")
        logs = fmt.data("\n".join(self.logs), multiline=True) if self.logs else Text("nothing logged", style="dim")
        self.query_one("#logs", Static).update(logs)
        result: RenderableType = (
            pretty_json(mask_payload(job.result)) if job.result is not None else Text(self._no_result(job), style="dim")
        )
        self.query_one("#result", Static).update(result)

    @staticmethod
    def _no_result(job: JobRecord) -> str:
        return "no result yet" if job.state not in (JobState.SUCCEEDED, JobState.DEAD, JobState.CANCELLED) else "none"

    def action_back(self) -> None:
        self.dismiss()

    def action_retry(self) -> None:
        self.job_actions.retry(self.job_id)

    def action_cancel(self) -> None:
        self.job_actions.cancel(self.job_id)

    def action_run_now(self) -> None:
        self.job_actions.run_now(self.job_id)

    def action_abort(self) -> None:
        self.job_actions.abort(self.job_id)

    def action_delete(self) -> None:
        self.job_actions.delete(self.job_id, after=self.dismiss)

    def action_copy_id(self) -> None:
        self.app.copy_to_clipboard(self.job_id)
        self.notify(f"Copied {self.job_id}", timeout=2, markup=False)

    def action_scroll(self, direction: str) -> None:
        scroller = self.query_one("#detail", VerticalScroll)
        if direction == "down":
            scroller.scroll_down()
        else:
            scroller.scroll_up()
