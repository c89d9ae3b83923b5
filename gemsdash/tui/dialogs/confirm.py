"""Confirmations for bulk actions: they show what will change before anything does.

Retry-all shows how many dead jobs go back and the first few of them. Clear shows the counts it
will remove and only arms once the queue's name is typed, because a reflex Enter must never empty
the wrong queue (rq-dashboard #142, k9s #353).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from gemsdash.queue import JobRecord, JobState
from gemsdash.tui import format as fmt


def preview_table(jobs: Sequence[JobRecord]) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("error", overflow="ellipsis", no_wrap=True, ratio=1)
    for job in jobs:
        error = f"{job.error.type}: {fmt.one_line(job.error.message)}" if job.error else ""
        table.add_row(fmt.short_id(job.id), fmt.data(error, style="dim"))
    return table


class ConfirmScreen(ModalScreen[bool]):
    """Yes or no, with the consequences spelled out. `y` confirms, `n` or Esc backs out."""

    BINDINGS = [
        Binding("escape,n", "dismiss(False)", "Cancel"),
        Binding("y", "dismiss(True)", "Confirm"),
    ]

    def __init__(self, title: str, body: RenderableType, confirm_label: str, *, variant: str = "warning") -> None:
        super().__init__(classes="confirm")
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label
        self.variant = variant

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            yield Static(self.body, id="dialog-body")
            with Horizontal(id="dialog-buttons"):
                yield Button(f"{self.confirm_label} (y)", variant=self.variant, id="confirm")  # type: ignore[arg-type]
                yield Button("Cancel (n)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(False)


def retry_all_body(queue: str, total: int, first: Sequence[JobRecord]) -> RenderableType:
    head = Text.assemble(
        "Retry ",
        (f"{fmt.count(total)} dead job{'s' if total != 1 else ''}", "bold #ff5f5f"),
        " of ",
        (queue, "bold"),
        "?\nEach goes back to its queue with its attempts reset.",
    )
    if not first:
        return head
    more = total - len(first)
    tail = Text(f"… and {fmt.count(more)} more" if more > 0 else "", style="dim")
    return Group(head, Text(""), Text(f"First {len(first)}:", style="dim"), preview_table(first), tail)


@dataclass(frozen=True)
class ClearChoice:
    include_dead: bool


class ClearScreen(ModalScreen[ClearChoice | None]):
    """Clear a queue: shows the counts it will remove and arms only when the name is typed."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, queue: str, counts: dict[JobState, int]) -> None:
        super().__init__(classes="confirm")
        self.queue = queue
        self.counts = counts

    def compose(self) -> ComposeResult:
        waiting = [JobState.QUEUED, JobState.DELAYED, JobState.RETRYING]
        body = Text.assemble("Clear ", (self.queue, "bold"), "? These waiting jobs will be cancelled:\n\n")
        for state in waiting:
            body.append(f"  {state.value:<10}", style=fmt.STATE_STYLE[state])
            body.append(f"{fmt.count(self.counts.get(state, 0)):>10}\n")
        running = self.counts.get(JobState.RUNNING, 0)
        body.append(
            f"\nRunning jobs ({fmt.count(running)}) finish normally. Cleared jobs are kept as cancelled until "
            "they expire: r on one brings it back.",
            style="dim",
        )
        dead = self.counts.get(JobState.DEAD, 0)
        with Vertical(id="dialog"):
            yield Label(f"Clear queue {self.queue}", id="dialog-title")
            yield Static(body, id="dialog-body")
            yield Checkbox(f"Also delete its {fmt.count(dead)} dead job(s) (cannot be undone)", id="include-dead")
            yield Label(Text.assemble("Type ", (self.queue, "bold"), " to confirm:"))
            yield Input(placeholder=self.queue, id="confirm-name")
            with Horizontal(id="dialog-buttons"):
                yield Button("Clear", variant="error", id="confirm", disabled=True)
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#include-dead", Checkbox).display = self.counts.get(JobState.DEAD, 0) > 0
        self.query_one("#confirm-name", Input).focus()

    @property
    def armed(self) -> bool:
        return self.query_one("#confirm-name", Input).value.strip() == self.queue

    @on(Input.Changed, "#confirm-name")
    def _typed(self) -> None:
        self.query_one("#confirm", Button).disabled = not self.armed

    @on(Input.Submitted, "#confirm-name")
    def _submitted(self) -> None:
        if self.armed:
            self._confirm()
        else:
            self.notify(f"Type {self.queue} exactly to clear it.", severity="warning", markup=False)

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        if self.armed:
            self.dismiss(ClearChoice(include_dead=self.query_one("#include-dead", Checkbox).value))

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
