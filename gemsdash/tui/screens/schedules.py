"""The schedules screen: every schedule with its rule, the countdown to its next run and how its
last run went, and keys to pause or resume one, run it now, or remove it (after a confirmation).

Like every screen it reads through the data source on the refresh loop; the countdowns move with
each refresh.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from gemsdash.queue import Schedule
from gemsdash.tui import format as fmt
from gemsdash.tui.background import background, say
from gemsdash.tui.dialogs.confirm import ConfirmScreen
from gemsdash.tui.messages import JobsChanged, OpenJob
from gemsdash.tui.refresh import RefreshRequest, RefreshResult
from gemsdash.tui.screens.base import DataScreen
from gemsdash.tui.session import Session
from gemsdash.tui.widgets.tables import NavTable

NOTE = (
    "Schedules are fired by the workers, one job per tick however many run; a tick missed while no worker ran "
    "fires once when one is back (or up to its catch-up)."
)


class SchedulesScreen(DataScreen[None]):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open", "Open job", tooltip="Open the selected schedule's last job"),
        Binding("P", "schedule_pause", "Pause/resume", tooltip="Pause or resume the selected schedule"),
        Binding("n", "schedule_run", "Run now", tooltip="Enqueue the selected schedule's job now"),
        Binding("d", "schedule_remove", "Remove", tooltip="Remove the selected schedule (after a confirmation)"),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.schedules: dict[str, Schedule] = {}

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static(Text(NOTE, style="dim"), id="schedules-note")
        yield NavTable(id="schedules")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        table = self.query_one(NavTable)
        for label, key in (
            ("name", "name"),
            ("type", "type"),
            ("rule", "rule"),
            ("next run", "next"),
            ("last run", "last"),
            ("outcome", "outcome"),
            ("fired", "fired"),
            ("missed", "missed"),
        ):
            table.add_column(label, key=key)
        table.border_title = "schedules"
        table.focus()

    def refresh_request(self) -> RefreshRequest:
        return RefreshRequest(schedules=True)

    def show_result(self, result: RefreshResult) -> None:
        if result.schedules is None:
            return
        self.schedules = {s.name: s for s in result.schedules}
        now = self.session.clock()
        table = self.query_one(NavTable)
        table.replace_rows((s.name, self.cells(s, now)) for s in result.schedules)
        paused = sum(1 for s in result.schedules if s.paused)
        table.border_title = f"schedules · {len(result.schedules)}" + (f" · {paused} paused" if paused else "")

    @staticmethod
    def cells(schedule: Schedule, now: datetime) -> list[Any]:
        if schedule.paused:
            next_run = Text("paused", style="bold #ffaf00")
        elif schedule.next_run_at is None:
            next_run = Text("never", style="dim")
        else:
            left = (schedule.next_run_at - now).total_seconds()
            next_run = Text(f"in {fmt.seconds(max(left, 0))}", style="#00d7d7" if left < 60 else "")
        if schedule.last_run_at is None:
            last, outcome = Text("—", style="dim"), Text("")
        else:
            last = Text(f"{fmt.age(schedule.last_run_at, now)} ago  ") + Text(
                fmt.short_id(schedule.last_job_id or ""), style="dim"
            )
            state = schedule.last_job_state
            outcome = fmt.state_text(state) if state is not None else Text("expired", style="dim")
        return [
            Text(schedule.name, style="bold"),
            schedule.type.value,
            Text(schedule.rule),
            next_run,
            last,
            outcome,
            Text(str(schedule.fired), justify="right"),
            Text(str(schedule.missed), justify="right", style="#ffaf00" if schedule.missed else "dim"),
        ]

    def _selected(self) -> Schedule | None:
        name = self.query_one(NavTable).selected_key
        chosen = self.schedules.get(name) if name is not None else None
        if chosen is None:
            say(self, "No schedule selected.", "warning")
        return chosen

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on the table (which handles Enter itself) opens the last job, as the binding says."""
        event.stop()
        self.action_open()

    def action_back(self) -> None:
        self.dismiss()

    def action_open(self) -> None:
        chosen = self._selected()
        if chosen is None:
            return
        if chosen.last_job_id is None:
            say(self, f"Schedule {chosen.name} has not run yet.")
            return
        self.post_message(OpenJob(chosen.last_job_id))

    def action_schedule_pause(self) -> None:
        chosen = self._selected()
        if chosen is None or self.refused("pause"):
            return
        source = self.session.source
        name = chosen.name
        if chosen.paused:
            background(self, lambda: source.resume_schedule(name), self._changed(f"Resumed schedule {name}."))
        else:
            background(self, lambda: source.pause_schedule(name), self._changed(f"Paused schedule {name}."))

    def action_schedule_run(self) -> None:
        chosen = self._selected()
        if chosen is None or self.refused("run now"):
            return
        source = self.session.source
        name = chosen.name

        def done(job_id: str) -> None:
            self.post_message(JobsChanged(f"Schedule {name} enqueued job {fmt.short_id(job_id)}."))

        background(self, lambda: source.run_schedule(name), done)

    def action_schedule_remove(self) -> None:
        chosen = self._selected()
        if chosen is None or self.refused("remove"):
            return
        source = self.session.source
        name = chosen.name
        body = Text.assemble(
            "Remove schedule ", (name, "bold #ffaf00"), f" ({chosen.rule})? The jobs it enqueued stay."
        )

        def confirmed(yes: bool | None) -> None:
            if not yes:
                say(self, f"Remove of schedule {name} cancelled: nothing changed.")
                return
            background(self, lambda: source.remove_schedule(name), self._changed(f"Removed schedule {name}."))

        self.app.push_screen(ConfirmScreen("Remove schedule", body, "Remove"), confirmed)

    def _changed(self, message: str) -> Callable[[object], None]:
        def done(_: object) -> None:
            self.post_message(JobsChanged(message))

        return done
