"""The two tables of the main screen and the state tabs between them.

Both tables update in place: rows are keyed (queue name, job id) and the cursor follows its row
across refreshes, so a job does not slip from under the cursor while the operator reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable, Static
from textual.widgets.data_table import ColumnKey

from gemsdash.queue import QUEUES, STATES, JobPage, JobRecord, JobState, QueueStats, Snapshot
from gemsdash.tui import format as fmt

#: State filter keys: `0` shows every state, `1`..`7` one state each, in lifecycle order.
STATE_KEYS: dict[str, JobState | None] = {"0": None, **{str(i + 1): s for i, s in enumerate(STATES)}}


class NavTable(DataTable[Any]):
    """A row-cursor table that also moves with j/k, as k9s and asynq users expect."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # cursor outside a table that just shrank
            return None
        return str(key.value) if key.value is not None else None

    def replace_rows(self, rows: Iterable[tuple[str, Sequence[Any]]]) -> None:
        """Show exactly `rows` (key, cells), keeping the cursor on the same key when it stays."""
        rows = list(rows)
        keys = [k for k, _ in rows]
        current = [str(k.value) for k in self.rows]
        if keys == current:
            for key, cells in rows:
                for column, value in zip(self.columns, cells, strict=True):
                    self.update_cell(key, column, value, update_width=True)
            return
        selected = self.selected_key
        row_index = self.cursor_row
        scroll_y = self.scroll_y
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        self.refresh(layout=True)
        if not rows:
            return
        target = keys.index(selected) if selected in keys else min(row_index, len(rows) - 1)
        self.scroll_to(y=scroll_y, animate=False, immediate=True)
        self.move_cursor(row=target, animate=False, scroll=True)


class QueuesTable(NavTable):
    """One row per queue: counts by state from one snapshot, throughput, latency, trend."""

    #: Ten characters for thirty 10-second buckets: one character per 30 s.
    TREND_WIDTH = 10

    def on_mount(self) -> None:
        self.add_column("queue", key="queue")
        for state in STATES:
            self.add_column(Text(state.value, style=fmt.STATE_STYLE[state], justify="right"), key=state.value)
        self.add_column(Text("/min", justify="right"), key="rate")
        self.add_column(Text("avg", justify="right"), key="avg")
        self.add_column(Text("oldest", justify="right"), key="oldest")
        self.add_column(Text("5 min"), key="trend", width=self.TREND_WIDTH)
        for queue in QUEUES:
            self.add_row(Text(queue), *[Text("-", style="dim", justify="right")] * (len(STATES) + 3), Text(), key=queue)

    def show(self, snapshot: Snapshot, now: datetime) -> None:
        self.replace_rows((name, self.cells(snapshot.queues[name], now)) for name in QUEUES if name in snapshot.queues)

    def cells(self, stats: QueueStats, now: datetime) -> list[Any]:
        ok = [b[0] for b in stats.finished_per_bucket]
        failed = [b[1] for b in stats.finished_per_bucket]
        oldest = fmt.age(stats.oldest_queued_at, now)
        return [
            Text(stats.queue, style="bold"),
            *[fmt.count_cell(stats.counts.get(state, 0), state) for state in STATES],
            Text(fmt.rate(stats.per_minute), justify="right"),
            Text(fmt.duration_ms(stats.avg_duration_ms), justify="right"),
            Text(oldest, justify="right", style="#ffaf00" if _seconds(stats.oldest_queued_at, now) > 60 else ""),
            fmt.spark([o + f for o, f in zip(ok, failed, strict=True)], failed, width=self.TREND_WIDTH),
        ]


def _seconds(then: datetime | None, now: datetime) -> float:
    return (now - then).total_seconds() if then is not None else 0.0


class JobsTable(NavTable):
    """One page of one queue's jobs, newest first. Space marks rows (k9s' habit) so that retry and
    cancel act on several jobs at once; marks last while their jobs stay on the page shown."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.marked: set[str] = set()
        self._shown: dict[str, JobRecord] = {}

    @property
    def marked_jobs(self) -> list[JobRecord]:
        """The marked jobs as last shown, in page order."""
        return [job for key, job in self._shown.items() if key in self.marked]

    def toggle_mark(self) -> None:
        key = self.selected_key
        if key is None:
            return
        self.marked ^= {key}
        self.update_cell(key, "id", self._id_cell(key), update_width=True)

    def clear_marks(self) -> None:
        marked, self.marked = self.marked, set()
        for key in marked & self._shown.keys():
            self.update_cell(key, "id", self._id_cell(key), update_width=True)

    def _id_cell(self, job_id: str) -> Text:
        if job_id in self.marked:
            return Text.assemble(("● ", "bold #ffaf00"), (fmt.short_id(job_id), "bold reverse"))
        return Text(fmt.short_id(job_id), style="bold")

    def on_mount(self) -> None:
        self.add_column("id", key="id")
        self.add_column("state", key="state")
        self.add_column("priority", key="priority")
        self.add_column(Text("tries", justify="right"), key="tries")
        self.add_column(Text("age", justify="right"), key="age")
        self.add_column(Text("in state", justify="right"), key="since")
        self.add_column(Text("duration", justify="right"), key="duration")
        self.add_column("next", key="next")
        self.add_column("error", key="error", width=20)

    def on_resize(self) -> None:
        self._fit_error_column()

    def on_idle(self) -> None:
        # DataTable measures new cells when idle (its own `_on_idle`, which runs first): fit after it.
        self._fit_error_column()

    def _fit_error_column(self) -> None:
        """The error column takes what the others leave, so a long error never scrolls the table."""
        error = self.columns.get(ColumnKey("error"))
        if error is None or not self.size.width:
            return
        others = sum(c.get_render_width(self) for c in self.columns.values() if c is not error)
        width = max(self.scrollable_content_region.width - others - 2 * self.cell_padding, 12)
        if error.width != width or error.auto_width:
            error.auto_width = False
            error.width = width
            self._require_update_dimensions = True
            self.refresh()

    def show(self, page: JobPage, now: datetime) -> None:
        self._shown = {job.id: job for job in page.jobs}
        self.marked &= self._shown.keys()
        self.replace_rows((job.id, self.cells(job, now)) for job in page.jobs)

    def cells(self, job: JobRecord, now: datetime) -> list[Any]:
        duration = fmt.duration_ms(job.duration_ms)
        if job.state is JobState.RUNNING and job.started_at is not None:
            duration = fmt.seconds((now - job.started_at).total_seconds())
        upcoming = ""
        if job.next_attempt_at is not None and job.state in (JobState.DELAYED, JobState.RETRYING):
            wait = (job.next_attempt_at - now).total_seconds()
            upcoming = f"in {fmt.seconds(wait)}" if wait > 0 else "due"
        error = f"{job.error.type}: {fmt.one_line(job.error.message)}" if job.error else ""
        return [
            self._id_cell(job.id),
            fmt.state_text(job.state),
            Text(job.priority.value, style=fmt.PRIORITY_STYLE.get(job.priority.value, "")),
            Text(f"{job.attempts}/{job.max_attempts}", justify="right"),
            Text(fmt.age(job.created_at, now), justify="right"),
            Text(fmt.age(job.timeline[-1].at if job.timeline else job.created_at, now), justify="right"),
            Text(duration, justify="right", style="italic" if job.state is JobState.RUNNING else ""),
            Text(upcoming, style="dim"),
            fmt.data(fmt.one_line(error, 100), style="#ff5f5f" if job.state is JobState.DEAD else "dim"),
        ]


class StateTabs(Static):
    """`0 all 120 │ 1 queued 3 │ …`: the state filter, its counts, and its keys in one line."""

    DEFAULT_CSS = """
    StateTabs { height: 1; padding: 0 1; }
    """

    def show(self, stats: QueueStats | None, chosen: JobState | None) -> None:
        out = Text(no_wrap=True, overflow="ellipsis")
        counts = stats.counts if stats is not None else {}
        for index, (key, state) in enumerate(STATE_KEYS.items()):
            if index:
                out.append(" │ ", style="dim")
            label = state.value if state is not None else "all"
            number = sum(counts.values()) if state is None else counts.get(state, 0)
            selected = state == chosen
            style = "reverse bold" if selected else (fmt.STATE_STYLE[state] if state is not None else "bold")
            out.append(f"{key} ", style="dim" if not selected else "reverse")
            out.append(label, style=style)
            out.append(f" {fmt.count(number) if stats is not None else '-'}", style="reverse" if selected else "")
        self.update(out)
