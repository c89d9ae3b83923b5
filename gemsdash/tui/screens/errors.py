"""Dead jobs grouped by error: a thousand dead jobs are usually three problems.

Jobs are grouped by a fingerprint of their error, the exception type plus its message with the
parts that vary between jobs (numbers, ids, hex) blanked, so "order 1182 timed out" and "order 77
timed out" are one group. Only the newest dead jobs are read (one bounded page), and not on every
refresh: reading hundreds of records every second would cost Redis more than the view is worth.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from gemsdash.queue import JobPage, JobRecord, JobState
from gemsdash.tui import format as fmt
from gemsdash.tui.dialogs.confirm import ConfirmScreen, preview_table
from gemsdash.tui.refresh import RefreshRequest, RefreshResult
from gemsdash.tui.screens.base import DataScreen
from gemsdash.tui.screens.job_actions import JobActions
from gemsdash.tui.session import Session
from gemsdash.tui.widgets.tables import NavTable

#: Seconds between two reads of the sample while the view is open.
RESAMPLE_SECONDS = 5.0

_VARYING = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # uuids
    r"|\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b"  # hex
    r"|\d+(?:\.\d+)?",  # numbers
    re.IGNORECASE,
)


def fingerprint(job: JobRecord) -> tuple[str, str]:
    if job.error is None:
        return ("(no error)", "")
    first_line = fmt.one_line(job.error.message, 500)
    return (job.error.type, _VARYING.sub("#", first_line))


def search_hint(message: str) -> str:
    """The longest literal stretch of a message: what `/` can search for to list one group."""
    parts = [p.strip().rstrip("([{").strip() for p in _VARYING.split(fmt.one_line(message, 500))]
    return max(parts, key=len, default="")


@dataclass
class ErrorGroup:
    error_type: str
    pattern: str
    jobs: list[JobRecord] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.error_type}\x00{self.pattern}"

    @property
    def newest(self) -> datetime | None:
        return max((j.finished_at or j.created_at for j in self.jobs), default=None)

    @property
    def oldest(self) -> datetime | None:
        return min((j.finished_at or j.created_at for j in self.jobs), default=None)


def group(jobs: list[JobRecord]) -> list[ErrorGroup]:
    """Groups, biggest first (then most recent first)."""
    groups: dict[tuple[str, str], ErrorGroup] = {}
    for job in jobs:
        key = fingerprint(job)
        groups.setdefault(key, ErrorGroup(*key)).jobs.append(job)
    return sorted(groups.values(), key=lambda g: (-len(g.jobs), -(g.newest.timestamp() if g.newest else 0)))


@dataclass(frozen=True)
class JobFilter:
    """The jobs of one group, as the main screen's job table lists them (what Enter answers)."""

    queue: str
    state: JobState | None
    search: str


class ErrorGroupsScreen(DataScreen[JobFilter | None]):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("r", "retry_group", "Retry group", tooltip="Retry every dead job of the selected group"),
        Binding("enter", "show_group", "Show jobs", tooltip="List this group's jobs on the main screen"),
    ]

    def __init__(self, session: Session, queue: str) -> None:
        super().__init__(session)
        self.job_actions = JobActions(self)
        self.queue = queue
        self.groups: list[ErrorGroup] = []
        self.sample: JobPage | None = None
        self.sampled_at: datetime | None = None
        self._next_sample = 0.0

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static(id="groups-note")
        yield NavTable(id="groups")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        table = self.query_one(NavTable)
        table.add_column(Text("jobs", justify="right"), key="count")
        table.add_column("error", key="error")
        table.add_column(Text("newest", justify="right"), key="newest")
        table.add_column(Text("oldest", justify="right"), key="oldest")
        table.border_title = f"dead jobs of {self.queue} by error · reading…"
        table.focus()
        self.query_one("#groups-note", Static).update(
            Text(
                "Grouped by exception type and message, numbers and ids blanked (#). Enter lists a group's jobs; "
                "r retries the whole group.",
                style="dim",
            )
        )

    def refresh_request(self) -> RefreshRequest:
        if time.monotonic() < self._next_sample:
            return RefreshRequest()
        return RefreshRequest(dead_of=self.queue)

    def show_result(self, result: RefreshResult) -> None:
        if result.dead is None or result.request.dead_of != self.queue:
            self._paint_title()
            return
        self._next_sample = time.monotonic() + RESAMPLE_SECONDS
        self.sample = result.dead
        self.sampled_at = result.snapshot.taken_at if result.snapshot else self.session.clock()
        self.groups = group(result.dead.jobs)
        now = self.session.clock()
        self.query_one(NavTable).replace_rows((g.key, self.cells(g, now)) for g in self.groups)
        self._paint_title()

    def _paint_title(self) -> None:
        if self.sample is None or self.sampled_at is None:
            return
        seen = len(self.sample.jobs)
        scope = (
            f"all {fmt.count(seen)}"
            if seen == self.sample.total
            else f"newest {fmt.count(seen)} of {fmt.count(self.sample.total)}"
        )
        age = fmt.seconds((self.session.clock() - self.sampled_at).total_seconds())
        self.query_one(
            NavTable
        ).border_title = (
            f"dead jobs of {self.queue} by error · {len(self.groups)} group(s) in {scope} · as of {age} ago"
        )

    @staticmethod
    def cells(group: ErrorGroup, now: datetime) -> list[object]:
        error = Text.assemble(
            fmt.data(group.error_type, "bold #ff5f5f"), ": " if group.pattern else "", fmt.data(group.pattern)
        )
        return [
            Text(fmt.count(len(group.jobs)), justify="right", style="bold"),
            error,
            Text(fmt.age(group.newest, now), justify="right"),
            Text(fmt.age(group.oldest, now), justify="right"),
        ]

    def selected(self) -> ErrorGroup | None:
        key = self.query_one(NavTable).selected_key
        return next((g for g in self.groups if g.key == key), None)

    def action_back(self) -> None:
        self.dismiss(None)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_show_group()

    def action_show_group(self) -> None:
        chosen = self.selected()
        if chosen is None:
            return
        sample = chosen.jobs[0]
        hint = search_hint(sample.error.message) if sample.error else ""
        self.dismiss(JobFilter(self.queue, JobState.DEAD, hint))

    def action_retry_group(self) -> None:
        chosen = self.selected()
        if chosen is None or self.refused("retry group"):
            return
        ids = [j.id for j in chosen.jobs]
        body = Text.assemble(
            "Retry the ",
            (f"{fmt.count(len(ids))} dead job(s)", "bold #ff5f5f"),
            " failing with\n",
            fmt.data(chosen.error_type, "bold"),
            ": ",
            fmt.data(chosen.pattern),
            "\n",
            "?",
        )
        preview = Group(body, Text(""), preview_table(chosen.jobs[:5]))
        self.app.push_screen(
            ConfirmScreen(f"Retry an error group of {self.queue}", preview, "Retry group"),
            lambda yes: (
                self.job_actions.retry_many(ids, f"the {chosen.error_type} group of {self.queue}") if yes else None
            ),
        )
