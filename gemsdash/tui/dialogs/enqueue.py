"""Enqueue a job from the dashboard: pick a type, edit its JSON payload, see what is wrong as you type.

The payload is checked on every edit with the job type's own model (the same validation the
producer runs), so the operator sees field errors inline before anything reaches the backend; the
backend's verdict (size limit, an unreachable Redis) comes back into the same place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from gemsdash.queue import JOB_SPECS, InvalidPayload, JobType, Priority
from gemsdash.tui.background import background
from gemsdash.tui.source import DataSource


@dataclass(frozen=True)
class Draft:
    job_type: JobType
    payload: dict[str, Any] | None
    priority: str | None
    delay_ms: int | None
    errors: list[tuple[str, str]]

    @property
    def valid(self) -> bool:
        return not self.errors and self.payload is not None


def example_payload(job_type: JobType) -> dict[str, Any] | None:
    """The payload the editor starts from: the job type's definition's `example` (the registry's)."""
    return JOB_SPECS[job_type].example


def example_text(job_type: JobType) -> str:
    """The example as the editor shows it; `{}` for a type without one (the checks then say what is missing)."""
    return json.dumps(example_payload(job_type) or {}, indent=2)


def check(job_type: JobType, text: str, priority: str | None, delay: str) -> Draft:
    """Parse and validate a draft without touching the backend."""
    errors: list[tuple[str, str]] = []
    delay_ms: int | None = None
    if delay.strip():
        try:
            seconds = float(delay)
            if seconds < 0:
                raise ValueError
            delay_ms = int(seconds * 1000)
        except ValueError:
            errors.append(("delay", "must be a number of seconds, 0 or more"))
    payload: dict[str, Any] | None = None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        errors.append(("payload", f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"))
    else:
        if not isinstance(parsed, dict):
            errors.append(("payload", "must be a JSON object"))
        else:
            payload = parsed
            try:
                JOB_SPECS[job_type].validate_payload(parsed)
            except InvalidPayload as exc:
                errors.extend(exc.errors)
    return Draft(job_type, payload, priority, delay_ms, errors)


def errors_text(errors: list[tuple[str, str]]) -> Text:
    if not errors:
        return Text("✓ valid: ctrl+s enqueues", style="#5faf5f")
    out = Text()
    for index, (field, message) in enumerate(errors):
        if index:
            out.append("\n")
        out.append("✖ ", style="#ff5f5f")
        out.append(field, style="bold #ff5f5f")
        out.append(f": {message}")
    return out


KEYS_HINT = Text("tab next field · ctrl+t indent · ctrl+s enqueue · esc cancel", style="dim")


class EnqueueScreen(ModalScreen[str | None]):
    """Dismisses with the new job's id, or None when the operator backs out."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "submit", "Enqueue", priority=True),
        Binding("ctrl+t", "indent", "Indent", tooltip="Insert an indent in the payload editor"),
    ]

    def __init__(self, job_type: JobType, source: DataSource) -> None:
        super().__init__(classes="confirm")
        self.source = source
        self.initial_type = job_type
        self._example = example_text(job_type)
        self._busy = False

    def compose(self) -> ComposeResult:
        # Scrolls, so that on a short terminal the validation line and the buttons can still be reached.
        with VerticalScroll(id="dialog", classes="wide"):
            yield Label("Enqueue a job", id="dialog-title")
            with Horizontal(id="enqueue-options"):
                yield Select([(t.value, t) for t in JobType], value=self.initial_type, allow_blank=False, id="job-type")
                yield Select([(p.value, p.value) for p in Priority], prompt="default priority", id="priority")
                yield Input(placeholder="delay (s)", id="delay", restrict=r"[0-9.]*")
            # Tab leaves the editor like every other field; ctrl+t indents instead.
            editor = TextArea(self._example, id="payload", show_line_numbers=True, tab_behavior="focus")
            editor.indent_width = 2  # as the examples are indented
            yield editor
            yield Static(KEYS_HINT, id="enqueue-keys")
            yield Static(id="errors")
            with Horizontal(id="dialog-buttons"):
                yield Button("Enqueue (ctrl+s)", variant="primary", id="confirm")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        # No scroll to it: the dialog opens at its top (title, type) whatever the timing of layout.
        self.query_one("#payload", TextArea).focus(scroll_visible=False)
        self._validate()

    def action_indent(self) -> None:
        editor = self.query_one("#payload", TextArea)
        if editor.has_focus:
            editor.insert(" " * editor.indent_width)

    @property
    def job_type(self) -> JobType:
        return cast(JobType, self.query_one("#job-type", Select).value)

    def draft(self) -> Draft:
        priority = self.query_one("#priority", Select).value
        return check(
            self.job_type,
            self.query_one("#payload", TextArea).text,
            priority if isinstance(priority, str) else None,
            self.query_one("#delay", Input).value,
        )

    def show_errors(self, errors: list[tuple[str, str]]) -> None:
        self.query_one("#errors", Static).update(errors_text(errors))
        self.query_one("#confirm", Button).disabled = bool(errors)

    @on(Select.Changed, "#job-type")
    def _type_changed(self) -> None:
        editor = self.query_one("#payload", TextArea)
        if editor.text == self._example:  # untouched: offer the new type's example instead
            self._example = example_text(self.job_type)
            editor.text = self._example
        self._validate()

    @on(TextArea.Changed)
    @on(Input.Changed, "#delay")
    @on(Select.Changed, "#priority")
    def _validate(self) -> None:
        self.show_errors(self.draft().errors)

    @on(Button.Pressed, "#confirm")
    def action_submit(self) -> None:
        draft = self.draft()
        if not draft.valid or draft.payload is None:
            self.show_errors(draft.errors)
            return
        if self._busy:
            return
        self._busy = True
        payload = draft.payload
        source = self.source

        def enqueue() -> str:
            return source.add_job(draft.job_type.value, payload, priority=draft.priority, delay_ms=draft.delay_ms)

        def refused(exc: Exception) -> None:
            self._busy = False
            self.show_errors(exc.errors if isinstance(exc, InvalidPayload) else [("not enqueued", str(exc))])

        background(self, enqueue, self._enqueued, failed=refused)

    def _enqueued(self, job_id: str) -> None:
        self._busy = False
        self.dismiss(job_id)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
