"""Live workers and the audit log: two plain tables refreshed with everything else.

A worker is listed while its heartbeat is younger than the worker timeout; the audit log lists
every retry, cancel and clear with who did it, newest first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from gemsdash.queue import WorkerInfo
from gemsdash.tui import format as fmt
from gemsdash.tui.background import background
from gemsdash.tui.refresh import RefreshRequest, RefreshResult
from gemsdash.tui.screens.base import DataScreen
from gemsdash.tui.widgets.tables import NavTable, layout_for


def from_ms_safe(value: object) -> datetime | None:
    """Audit entries are JSON written by any gemsdash version: tolerate a missing or odd `at`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return None


class WorkersScreen(DataScreen[None]):
    BINDINGS = [Binding("escape", "back", "Back")]

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static(id="workers-note")
        yield NavTable(id="workers")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        table = self.query_one(NavTable)
        narrow = layout_for(self.app.size.width) == "narrow"
        for label, short, key in (
            ("worker", "worker", "id"),
            ("host", "host", "host"),
            ("pid", "pid", "pid"),
            ("threads", "thr", "threads"),
            ("in flight", "busy", "busy"),
            ("last heartbeat", "beat", "beat"),
            ("up", "up", "up"),
            ("queues", "queues", "queues"),
        ):
            table.add_column(short if narrow else label, key=key)
        table.focus()
        mode = self.session.backend.mode
        note = (
            "Memory mode: the only worker is the one embedded in this dashboard process."
            if mode == "memory"
            else "Workers whose heartbeat is younger than the worker timeout; a silent one drops off and its "
            "running jobs go back to their queues."
        )
        self.query_one("#workers-note", Static).update(Text(note, style="dim"))
        # The last list read (this screen's previous visit) at once, rather than an empty table
        # until the next refresh: the refresh that follows brings it up to date.
        if self.session.last_workers is not None:
            self.show_workers(self.session.last_workers)
        else:
            table.border_title = "workers · reading…"
        # Read the workers now, beside the refresh loop (which may be mid-way through a main-screen
        # refresh): the list shows as soon as one read returns.
        background(self, self.session.source.workers, self._read, failed=lambda _: None)

    def _read(self, workers: list[WorkerInfo]) -> None:
        self.session.last_workers = workers
        if self.is_mounted:
            self.show_workers(workers)

    def refresh_request(self) -> RefreshRequest:
        return RefreshRequest(workers=True)

    def show_result(self, result: RefreshResult) -> None:
        if result.workers is not None:
            self.show_workers(result.workers)

    def show_workers(self, workers: list[WorkerInfo]) -> None:
        now = self.session.clock()
        self.query_one(NavTable).replace_rows((w.id, self.cells(w, now)) for w in workers)
        self.query_one(NavTable).border_title = f"workers · {len(workers)} live"

    @staticmethod
    def cells(worker: WorkerInfo, now: datetime) -> list[Any]:
        queues = sorted({name.split(".")[0] for name in worker.queues})
        return [
            fmt.data(worker.id, style="bold"),
            fmt.data(worker.host),
            Text(str(worker.pid), justify="right"),
            Text(str(worker.threads), justify="right"),
            Text(str(worker.in_flight), justify="right", style="#00d7d7" if worker.in_flight else "dim"),
            Text(f"{fmt.age(worker.last_heartbeat, now)} ago"),
            Text(fmt.age(worker.started_at, now)),
            fmt.data(", ".join(queues), style="dim"),
        ]

    def action_back(self) -> None:
        self.dismiss()


class AuditScreen(DataScreen[None]):
    BINDINGS = [Binding("escape", "back", "Back")]

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield NavTable(id="audit")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        table = self.query_one(NavTable)
        for label in ("when", "action", "target", "count", "by", "detail"):
            table.add_column(label, key=label)
        table.border_title = "audit log · newest first"
        table.focus()

    def refresh_request(self) -> RefreshRequest:
        return RefreshRequest(audit=True)

    def show_result(self, result: RefreshResult) -> None:
        if result.audit is None:
            return
        now = self.session.clock()
        rows = [(f"{i}:{e.get('at')}:{e.get('target')}", self.cells(e, now)) for i, e in enumerate(result.audit)]
        self.query_one(NavTable).replace_rows(rows)

    @staticmethod
    def cells(entry: dict[str, Any], now: datetime) -> list[Any]:
        at = from_ms_safe(entry.get("at"))
        extra = {k: v for k, v in entry.items() if k not in ("at", "action", "target", "count", "by")}
        return [
            Text(at.astimezone(UTC).strftime("%H:%M:%S UTC") if at else "?")
            + Text(f" ({fmt.age(at, now)} ago)" if at else "", style="dim"),
            fmt.data(entry.get("action", "?"), style="bold"),
            fmt.data(entry.get("target", "")),
            fmt.data(entry.get("count", ""), justify="right"),
            fmt.data(entry.get("by", ""), style="dim"),
            fmt.data(", ".join(f"{k}={v}" for k, v in extra.items() if v is not None), style="dim"),
        ]

    def action_back(self) -> None:
        self.dismiss()
