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
from gemsdash.queue.jobs import PRIORITIES_HIGH_FIRST
from gemsdash.tui import format as fmt

#: Priorities in sort order: most urgent first.
PRIORITY_ORDER = list(PRIORITIES_HIGH_FIRST)

#: State filter keys: `0` shows every state, `1`..`7` one state each, in lifecycle order.
STATE_KEYS: dict[str, JobState | None] = {"0": None, **{str(i + 1): s for i, s in enumerate(STATES)}}


#: Below this many terminal columns the tables drop and abbreviate columns (an 80x24 terminal);
#: from WIDE on they use the room (a longer trend, every column at full name).
NARROW_BELOW = 110
WIDE_FROM = 160


def layout_for(width: int) -> str:
    return "narrow" if width < NARROW_BELOW else "wide" if width >= WIDE_FROM else "normal"


class NavTable(DataTable[Any]):
    """A row-cursor table that also moves with j/k, as k9s and asynq users expect, and with Home/End
    (DataTable's own Home/End scroll sideways; nobody reaches for that in a table of rows)."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.layout_name = ""

    def column_specs(self, layout: str) -> list[tuple[str, Any, int | None]]:
        """(key, header, fixed width or None) of each column shown in `layout` (narrow, normal or
        wide), most important first. Tables with one layout leave the columns to on_mount."""
        return []

    def relayout(self, width: int) -> bool:
        """Pick the layout for a terminal `width` columns wide; True when the columns changed (the
        caller shows its data again)."""
        name = layout_for(width)
        specs = self.column_specs(name)
        if name == self.layout_name or not specs:
            return False
        self.layout_name = name
        self.clear(columns=True)
        for key, label, width_ in specs:
            self.add_column(label, key=key, width=width_)
        return True

    def pick(self, cells: dict[str, Any]) -> list[Any]:
        """A row's cells, by column key, in the order (and choice) of the current layout."""
        return [cells[str(column.key.value)] for column in self.columns.values()]

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # cursor outside a table that just shrank
            return None
        return str(key.value) if key.value is not None else None

    def replace_rows(self, rows: Iterable[tuple[str, Sequence[Any]]], *, fresh: bool = False) -> None:
        """Show exactly `rows` (key, cells).

        `fresh` (a newly shown list) puts the cursor on the top row. Otherwise a cursor on the top
        row stays there, so rows arriving above it (newer jobs) are seen rather than pushing the
        cursor down; a cursor the operator moved stays on its row's key, and the view scrolls by as
        many rows as arrived above it, so that row stays where it was on screen."""
        rows = list(rows)
        keys = [k for k, _ in rows]
        current = [str(k.value) for k in self.rows]
        if keys == current and not fresh:
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
        if fresh or row_index <= 0:
            self.scroll_to(y=0, animate=False, immediate=True)
            self.move_cursor(row=0, animate=False, scroll=True)
            return
        target = keys.index(selected) if selected in keys else min(row_index, len(rows) - 1)
        self.scroll_to(y=max(scroll_y + target - row_index, 0), animate=False, immediate=True)
        self.move_cursor(row=target, animate=False, scroll=True)


class QueuesTable(NavTable):
    """One row per queue: counts by state from one snapshot, throughput, latency, trend."""

    #: Characters of the trend: one per 30 s (ten for the 30 buckets) or, wide, one per 10 s bucket.
    TREND_WIDTH = 10
    TREND_WIDE = 30
    #: Narrow headers: three letters a state, so all seven counts fit beside the queue's name.
    SHORT = {
        "queued": "que",
        "delayed": "del",
        "running": "run",
        "retrying": "rty",
        "succeeded": "ok",
        "dead": "dead",
        "cancelled": "cnc",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._last: tuple[Snapshot, datetime] | None = None

    def column_specs(self, layout: str) -> list[tuple[str, Any, int | None]]:
        narrow = layout == "narrow"
        specs: list[tuple[str, Any, int | None]] = [("queue", "queue", None)]
        for state in STATES:
            label = self.SHORT[state.value] if narrow else state.value
            specs.append((state.value, Text(label, style=fmt.STATE_STYLE[state], justify="right"), None))
        specs += [
            ("rate", Text("/min", justify="right"), None),
            ("avg", Text("avg", justify="right"), None),
            ("oldest", Text("old" if narrow else "oldest", justify="right"), None),
        ]
        if not narrow:  # the trend needs room: narrow, the rate says the same in one number
            specs.append(("trend", Text("5 min"), self.TREND_WIDE if layout == "wide" else self.TREND_WIDTH))
        return specs

    def on_mount(self) -> None:
        self.relayout(self.app.size.width)
        blank = {str(c.key.value): Text("-", style="dim", justify="right") for c in self.columns.values()}
        for queue in QUEUES:
            self.add_row(*self.pick({**blank, "queue": Text(queue), "trend": Text()}), key=queue)

    def on_resize(self) -> None:
        if self.relayout(self.app.size.width) and self._last is not None:
            self.show(*self._last)

    def show(self, snapshot: Snapshot, now: datetime) -> None:
        self._last = (snapshot, now)
        self.replace_rows(
            (name, self.pick(self.cells(snapshot.queues[name], now))) for name in QUEUES if name in snapshot.queues
        )

    def cells(self, stats: QueueStats, now: datetime) -> dict[str, Any]:
        ok = [b[0] for b in stats.finished_per_bucket]
        failed = [b[1] for b in stats.finished_per_bucket]
        oldest = fmt.age(stats.oldest_queued_at, now)
        late = _seconds(stats.oldest_queued_at, now) > 60
        if self.layout_name == "wide":
            trend = fmt.spark([o + f for o, f in zip(ok, failed, strict=True)], failed, width=self.TREND_WIDE)
        else:
            trend = fmt.spark([o + f for o, f in zip(ok, failed, strict=True)], failed, width=self.TREND_WIDTH)
        paused = self._last is not None and stats.queue in self._last[0].paused
        name = (
            Text.assemble((stats.queue, "bold"), (" ‖", "bold #ffaf00")) if paused else Text(stats.queue, style="bold")
        )
        down = self._last[0].unavailable.get(stats.queue) if self._last is not None else None
        if down is not None:  # its shard did not answer: greyed out, the reason where the trend was
            grey = {str(c.key.value): Text("-", style="dim", justify="right") for c in self.columns.values()}
            return {**grey, "queue": Text(stats.queue, style="dim strike"), "trend": Text(down, style="dim")}
        return {
            "queue": name,
            **{state.value: fmt.count_cell(stats.counts.get(state, 0), state) for state in STATES},
            "rate": Text(fmt.rate(stats.per_minute), justify="right"),
            "avg": Text(fmt.duration_ms(stats.avg_duration_ms), justify="right"),
            "oldest": Text(oldest, justify="right", style="#ffaf00" if late else ""),
            "trend": trend,
        }


def _seconds(then: datetime | None, now: datetime) -> float:
    return (now - then).total_seconds() if then is not None else 0.0


class JobsTable(NavTable):
    """One page of one queue's jobs, newest first. Space marks rows (k9s' habit) so that retry and
    cancel act on several jobs at once; marks last while their jobs stay on the page shown."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.marked: set[str] = set()
        self._shown: dict[str, JobRecord] = {}
        self._last: tuple[JobPage, datetime] | None = None
        #: The column the page is sorted by ("" for the backend's order, newest first).
        self.sort_column = ""

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

    def column_specs(self, layout: str) -> list[tuple[str, Any, int | None]]:
        if layout == "narrow":  # by importance: which job, where it is, and why it failed
            return [
                ("id", "id", None),
                ("state", "state", None),
                ("priority", "prio", None),
                ("tries", Text("try", justify="right"), None),
                ("age", Text("age", justify="right"), None),
                ("next", "next", None),
                ("error", "error", 20),
            ]
        return [
            ("id", "id", None),
            ("state", "state", None),
            ("priority", "priority", None),
            ("tries", Text("tries", justify="right"), None),
            ("age", Text("age", justify="right"), None),
            ("since", Text("in state", justify="right"), None),
            ("duration", Text("duration", justify="right"), None),
            ("next", "next", None),
            ("error", "error", 20),
        ]

    def on_mount(self) -> None:
        self.relayout(self.app.size.width)

    def on_resize(self) -> None:
        if self.relayout(self.app.size.width) and self._last is not None:
            self.show(*self._last)
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

    #: What `s` cycles through, and how each orders jobs (the first key first).
    SORTS: dict[str, Any] = {
        "state": lambda job: STATES.index(job.state),
        "priority": lambda job: PRIORITY_ORDER.index(job.priority),
        "tries": lambda job: -job.attempts,
        "age": lambda job: job.created_at,
        "duration": lambda job: -(job.duration_ms or 0),
    }

    def cycle_sort(self) -> None:
        """Newest first (the backend's order) -> state -> priority -> tries -> age -> duration -> ..."""
        names = ["", *self.SORTS]
        self.sort_column = names[(names.index(self.sort_column) + 1) % len(names)]
        if self._last is not None:
            self.show(*self._last)

    def show(self, page: JobPage, now: datetime, *, fresh: bool = False) -> None:
        self._last = (page, now)
        jobs = page.jobs
        if self.sort_column:
            jobs = sorted(jobs, key=self.SORTS[self.sort_column])
        self._shown = {job.id: job for job in jobs}
        self.marked &= self._shown.keys()
        self.replace_rows(((job.id, self.pick(self.cells(job, now))) for job in jobs), fresh=fresh)

    def cells(self, job: JobRecord, now: datetime) -> dict[str, Any]:
        duration = fmt.duration_ms(job.duration_ms)
        if job.state is JobState.RUNNING and job.started_at is not None:
            duration = fmt.seconds((now - job.started_at).total_seconds())
        upcoming = ""
        if job.next_attempt_at is not None and job.state in (JobState.DELAYED, JobState.RETRYING):
            wait = (job.next_attempt_at - now).total_seconds()
            upcoming = f"in {fmt.seconds(wait)}" if wait > 0 else "due"
        error = f"{job.error.type}: {fmt.one_line(job.error.message)}" if job.error else ""
        return {
            "id": self._id_cell(job.id),
            "state": fmt.state_text(job.state),
            "priority": Text(job.priority.value, style=fmt.PRIORITY_STYLE.get(job.priority.value, "")),
            "tries": Text(f"{job.attempts}/{job.max_attempts}", justify="right"),
            "age": Text(fmt.age(job.created_at, now), justify="right"),
            "since": Text(fmt.age(job.timeline[-1].at if job.timeline else job.created_at, now), justify="right"),
            "duration": Text(duration, justify="right", style="italic" if job.state is JobState.RUNNING else ""),
            "next": Text(upcoming, style="dim"),
            "error": fmt.data(fmt.one_line(error, 300), style="#ff5f5f" if job.state is JobState.DEAD else "dim"),
        }


class StateTabs(Static):
    """`0 all 120 │ 1 queued 3 │ …`: the state filter, its counts, and its keys in one line."""

    DEFAULT_CSS = """
    StateTabs { height: 1; padding: 0 1; }
    """

    def show(self, stats: QueueStats | None, chosen: JobState | None) -> None:
        out = Text(no_wrap=True, overflow="ellipsis")
        counts = stats.counts if stats is not None else {}
        narrow = layout_for(self.app.size.width) == "narrow"
        for index, (key, state) in enumerate(STATE_KEYS.items()):
            if index:
                out.append("│" if narrow else " │ ", style="dim")
            label = state.value if state is not None else "all"
            if narrow and state is not None:
                label = QueuesTable.SHORT[label]
            number = sum(counts.values()) if state is None else counts.get(state, 0)
            selected = state == chosen
            style = "reverse bold" if selected else (fmt.STATE_STYLE[state] if state is not None else "bold")
            out.append(f"{key} ", style="dim" if not selected else "reverse")
            out.append(label, style=style)
            out.append(f" {fmt.count(number) if stats is not None else '-'}", style="reverse" if selected else "")
        self.update(out)
