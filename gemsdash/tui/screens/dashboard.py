"""The main screen: every queue's counts at the top, the selected queue's jobs below.

The queue under the cursor is the one the job table, `R` and `C` act on; the job under the job
table's cursor is the one Enter, `r` and `c` act on. Paging, the state filter and the search are
one `JobQuery`, so what is on screen is always exactly one page the backend was asked for.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Static

from gemsdash.queue import QUEUES, JobPage, JobState
from gemsdash.queue.jobs import MAX_SEARCH_CHARS, PRIORITIES_HIGH_FIRST
from gemsdash.tui import format as fmt
from gemsdash.tui.messages import OpenJob, RefreshWanted
from gemsdash.tui.refresh import RefreshRequest, RefreshResult
from gemsdash.tui.screens.base import DataScreen
from gemsdash.tui.screens.errors import ErrorGroupsScreen, JobFilter
from gemsdash.tui.screens.job_actions import JobActions
from gemsdash.tui.screens.queue_actions import QueueActions
from gemsdash.tui.screens.schedules import SchedulesScreen
from gemsdash.tui.screens.workers import AuditScreen, WorkersScreen
from gemsdash.tui.session import Session
from gemsdash.tui.source import JobQuery
from gemsdash.tui.widgets.tables import STATE_KEYS, JobsTable, QueuesTable, StateTabs


def _state_bindings() -> list[Binding]:
    bindings = []
    for key, state in STATE_KEYS.items():
        label = state.value if state is not None else "all"
        tip = f"Show {label} jobs" if state is not None else "Show jobs in every state"
        bindings.append(Binding(key, f"state('{label}')", "state", show=False, tooltip=tip))
    return bindings


class DashboardScreen(DataScreen[None]):
    BINDINGS = [
        Binding("enter", "open", "Open", show=False, tooltip="Open the selected job, or the selected queue's jobs"),
        Binding("r", "retry", "Retry", tooltip="Retry the selected (or every marked) dead or cancelled job"),
        Binding("c", "cancel", "Cancel", tooltip="Cancel the selected (or every marked) waiting job"),
        Binding("N", "run_now", "Run now", tooltip="Run the selected delayed or retrying job now"),
        Binding("X", "abort", "Abort", tooltip="Stop the selected running job (confirmed): it ends cancelled"),
        Binding("D", "delete", "Delete", tooltip="Delete the selected dead or cancelled job for good (confirmed)"),
        Binding("space", "mark", "Mark", show=False, tooltip="Mark or unmark the selected job, for r and c"),
        Binding("R", "retry_all", "Retry all", tooltip="Retry every dead job of the selected queue"),
        Binding("C", "clear", "Clear", tooltip="Clear the selected queue's waiting jobs"),
        Binding(
            "P",
            "pause_queue",
            "Pause queue",
            tooltip="Pause the selected queue (workers take none of its jobs), or resume it",
        ),
        Binding("e", "enqueue", "Enqueue", tooltip="Enqueue a job"),
        Binding(
            "slash",
            "search",
            "Search",
            key_display="/",
            show=False,
            tooltip="Filter jobs by id prefix, error text or payload ids (idempotency key, user, email)",
        ),
        *_state_bindings(),
        Binding("left_square_bracket", "page(-1)", "page", show=False, tooltip="Previous page of jobs"),
        Binding("right_square_bracket", "page(1)", "page", show=False, tooltip="Next page of jobs"),
        Binding("E", "errors", "Errors", tooltip="Group the selected queue's dead jobs by error"),
        Binding(
            "f", "priority_filter", "Priority", show=False, tooltip="Show one priority's jobs: all, critical … low"
        ),
        Binding("o", "sort", "Sort", show=False, tooltip="Order the page by another column, or newest first again"),
        Binding("w", "workers", "Workers", tooltip="Show live workers"),
        Binding("a", "audit", "Audit", tooltip="Show the audit log of changes"),
        Binding("s", "schedules", "Schedules", tooltip="Show the schedules (cron and repeating jobs)"),
        Binding(
            "escape", "back", "Back", show=False, tooltip="Clear the marks or the search, or go back to the queues"
        ),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.job_actions = JobActions(self)
        self.queue_actions = QueueActions(self)
        self.query_state = JobQuery(QUEUES[0])
        self.page: JobPage | None = None
        #: The next page shown is a new list (another queue, state, search or page): cursor on top.
        self._fresh = True

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        with Vertical(id="queues-panel", classes="panel"):
            yield QueuesTable(id="queues")
        with Vertical(id="jobs-panel", classes="panel"):
            yield StateTabs(id="tabs")
            yield JobsTable(id="jobs")
            yield Static(id="empty")
            yield Input(
                placeholder="id prefix, error text, idempotency key, payment or user id, email; Enter keeps it",
                id="search",
                max_length=MAX_SEARCH_CHARS,
            )
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.query_one("#queues-panel").border_title = "queues"
        self.query_one("#search", Input).display = False
        self.query_one("#empty", Static).display = False
        self.query_one(QueuesTable).focus()
        self._titles()

    # -- what a refresh reads and how it is shown -------------------------------------------

    @property
    def queues(self) -> QueuesTable:
        return self.query_one(QueuesTable)

    @property
    def jobs(self) -> JobsTable:
        return self.query_one(JobsTable)

    def refresh_request(self) -> RefreshRequest:
        return RefreshRequest(jobs=self.query_state)

    def show_result(self, result: RefreshResult) -> None:
        now = self.session.clock()
        if result.snapshot is not None:
            self.queues.show(result.snapshot, now)
            self.query_one(StateTabs).show(result.snapshot.queues.get(self.query_state.queue), self.query_state.state)
        if result.page is not None and result.request.jobs == self.query_state:
            self.page = result.page
            self.jobs.show(result.page, now, fresh=self._fresh)
            self._fresh = False
            self.jobs.remove_class("-loading")
            self._show_empty(result.page)
        self._titles()

    def mark_stale(self, stale: bool) -> None:
        super().mark_stale(stale)
        self._titles()

    def _show_empty(self, page: JobPage) -> None:
        empty = self.query_one("#empty", Static)
        empty.display = not page.jobs
        self.jobs.set_class(not page.jobs, "-empty")
        if page.jobs:
            return
        q = self.query_state
        what = f"{q.state.value} jobs" if q.state else "jobs"
        where = f" matching “{q.search}”" if q.search else ""
        beyond = " on this page ([ goes back)" if q.offset and page.total else ""
        empty.update(Text(f"No {what} in {q.queue}{where}{beyond}.", style="dim italic"))

    def _titles(self) -> None:
        q = self.query_state
        stale = self.has_class("-stale")
        paused = sorted(self.session.snapshot.paused) if self.session.snapshot is not None else []
        queues_title = "queues · STALE: last good data" if stale else "queues"
        if paused:
            queues_title += f" · paused: {', '.join(paused)} (P resumes)"
        self.query_one("#queues-panel").border_title = queues_title
        title = Text.assemble("jobs · ", (q.queue, "bold"), " · ", q.state.value if q.state else "all states")
        if self.page is not None and not self.jobs.has_class("-loading"):
            first = q.offset + 1
            last = q.offset + len(self.page.jobs)
            if self.page.jobs:
                title.append(f" · {fmt.count(first)}-{fmt.count(last)} of {fmt.count(self.page.total)}")
            else:
                title.append(f" · none of {fmt.count(self.page.total)}" if self.page.total else " · none")
        else:
            title.append(" · loading…")
        if q.priority:
            title.append(" · priority ")
            title.append(q.priority, style="bold")
        if self.jobs.sort_column:
            title.append(f" · page sorted by {self.jobs.sort_column}", style="italic")
        if q.search:
            title.append(" · search ")
            title.append(f"“{q.search}”", style="bold")
        if self.jobs.marked:
            title.append(f" · {fmt.count(len(self.jobs.marked))} marked", style="bold #ffaf00")
        panel = self.query_one("#jobs-panel")
        panel.border_title = title
        panel.border_subtitle = "enter open · space mark · 0-7 state · [ ] page · / search · f priority · o sort"

    def _set_query(self, query: JobQuery) -> None:
        if query == self.query_state:
            return
        self.query_state = query
        self._fresh = True
        self.jobs.add_class("-loading")
        if self.session.snapshot is not None:
            self.query_one(StateTabs).show(self.session.snapshot.queues.get(query.queue), query.state)
        self._titles()
        self.post_message(RefreshWanted())

    # -- navigation -------------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#queues")
    def _queue_highlighted(self, event: DataTable.RowHighlighted) -> None:
        queue = str(event.row_key.value)
        if queue != self.query_state.queue:
            self._set_query(self.query_state.moved(queue=queue, offset=0, search=""))
            self.query_one("#search", Input).value = ""

    @on(DataTable.RowSelected, "#queues")
    def _queue_selected(self) -> None:
        self.jobs.focus()

    @on(DataTable.RowSelected, "#jobs")
    def _job_selected(self, event: DataTable.RowSelected) -> None:
        self.post_message(OpenJob(str(event.row_key.value)))

    def action_state(self, label: str) -> None:
        state = None if label == "all" else JobState(label)
        self._set_query(self.query_state.moved(state=state, offset=0))

    def action_priority_filter(self) -> None:
        """Cycle all -> critical -> high -> normal -> low -> all (a filter the backend applies)."""
        order = ["", *[p.value for p in PRIORITIES_HIGH_FIRST]]
        current = order.index(self.query_state.priority) if self.query_state.priority in order else 0
        self._set_query(self.query_state.moved(priority=order[(current + 1) % len(order)], offset=0))

    def action_sort(self) -> None:
        self.jobs.cycle_sort()
        self._titles()

    def action_page(self, direction: int) -> None:
        q = self.query_state
        offset = max(q.offset + direction * q.limit, 0)
        if direction > 0 and self.page is not None and offset >= self.page.total:
            self.notify("That was the last page.", severity="information", timeout=2)
            return
        if offset == q.offset:
            self.notify("Already on the first page.", severity="information", timeout=2)
            return
        self._set_query(q.moved(offset=offset))

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.display = True
        search.focus()

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        self._set_query(self.query_state.moved(search=event.value.strip(), offset=0))

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.display = False
        self.jobs.focus()

    def action_back(self) -> None:
        search = self.query_one("#search", Input)
        if self.jobs.marked and not search.has_focus:
            self.jobs.clear_marks()
            self._titles()
        elif search.has_focus or self.query_state.search:
            search.value = ""
            search.display = False
            self.jobs.focus()
        elif self.jobs.has_focus:
            self.queues.focus()

    def action_open(self) -> None:
        if self.queues.has_focus:
            self.jobs.focus()
        elif self.jobs.selected_key is not None:
            self.post_message(OpenJob(self.jobs.selected_key))

    def action_errors(self) -> None:
        self.app.push_screen(ErrorGroupsScreen(self.session, self.selected_queue), self._show_filter)
        self.post_message(RefreshWanted())

    def _show_filter(self, chosen: JobFilter | None) -> None:
        if chosen is not None:
            self.show_jobs(chosen.queue, chosen.state, chosen.search)

    def show_jobs(self, queue: str, state: JobState | None, search: str) -> None:
        """Point the jobs table at one queue, state and search (the error groups view uses it)."""
        self.queues.move_cursor(row=list(QUEUES).index(queue))
        search_input = self.query_one("#search", Input)
        with search_input.prevent(Input.Changed):
            search_input.value = search
        search_input.display = bool(search)
        self._set_query(JobQuery(queue, state, search))
        self.jobs.focus()

    def action_workers(self) -> None:
        self.open(WorkersScreen(self.session))

    def action_audit(self) -> None:
        self.open(AuditScreen(self.session))

    def action_schedules(self) -> None:
        self.open(SchedulesScreen(self.session))

    # -- actions on jobs and queues ---------------------------------------------------------

    def _selected_job(self, verb: str) -> str | None:
        job_id = self.jobs.selected_key
        if job_id is None or not self.jobs.has_focus:
            self.notify(f"Select a job to {verb} first: Enter or Tab moves to the jobs table.", severity="warning")
            return None
        return job_id

    def action_mark(self) -> None:
        if self._selected_job("mark") is not None:
            self.jobs.toggle_mark()
            self._titles()

    def action_retry(self) -> None:
        if self.jobs.marked:
            self.job_actions.on_marked("retry", self.jobs.marked_jobs, self.query_state.queue, self._marks_done)
            return
        job_id = self._selected_job("retry")
        if job_id is not None:
            self.job_actions.retry(job_id)

    def action_cancel(self) -> None:
        if self.jobs.marked:
            self.job_actions.on_marked("cancel", self.jobs.marked_jobs, self.query_state.queue, self._marks_done)
            return
        job_id = self._selected_job("cancel")
        if job_id is not None:
            self.job_actions.cancel(job_id)

    def action_run_now(self) -> None:
        job_id = self._selected_job("run now")
        if job_id is not None:
            self.job_actions.run_now(job_id)

    def action_abort(self) -> None:
        job_id = self._selected_job("abort")
        if job_id is not None:
            self.job_actions.abort(job_id)

    def action_delete(self) -> None:
        job_id = self._selected_job("delete")
        if job_id is not None:
            self.job_actions.delete(job_id)

    def _marks_done(self) -> None:
        self.jobs.clear_marks()
        self._titles()

    @property
    def selected_queue(self) -> str:
        """The queue under the cursor, even when its highlight event is still on its way."""
        return self.queues.selected_key or self.query_state.queue

    def action_retry_all(self) -> None:
        self.queue_actions.retry_all(self.selected_queue)

    def action_clear(self) -> None:
        self.queue_actions.clear(self.selected_queue)

    def action_pause_queue(self) -> None:
        self.queue_actions.toggle_pause(self.selected_queue)

    def action_enqueue(self) -> None:
        self.queue_actions.enqueue(self.selected_queue)
