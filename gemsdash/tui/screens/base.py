"""What every full screen of the dashboard shares: the header, the status line, the fallback banner
and the footer, the two calls the app's refresh loop makes on it, and read-only mode."""

from __future__ import annotations

from typing import TypeVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Header

from gemsdash.tui.background import say
from gemsdash.tui.messages import RefreshWanted
from gemsdash.tui.refresh import RefreshRequest, RefreshResult
from gemsdash.tui.session import Session
from gemsdash.tui.widgets.footer import KeysFooter
from gemsdash.tui.widgets.status import FallbackBanner, StatusBar, fallback_text

#: Actions that change jobs: hidden and refused in read-only mode.
CHANGING_ACTIONS = frozenset(
    {
        "retry",
        "retry_all",
        "retry_group",
        "cancel",
        "clear",
        "enqueue",
        "pause_queue",
        "delete",
        "abort",
        "run_now",
        "schedule_pause",
        "schedule_run",
        "schedule_remove",
    }
)

ResultT = TypeVar("ResultT")


class DataScreen(Screen[ResultT]):
    """A screen fed by the refresh loop. The top-most one decides what a refresh reads."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def compose_top(self) -> ComposeResult:
        yield Header(icon="◆")
        backend = self.session.backend
        if backend.fallback_reason:
            yield FallbackBanner(fallback_text(backend), id="fallback")
        yield StatusBar(id="status")

    def compose_bottom(self) -> ComposeResult:
        yield KeysFooter()

    def refresh_request(self) -> RefreshRequest:
        return RefreshRequest()

    def show_result(self, result: RefreshResult) -> None:
        """Paint a successful refresh. Called on every data screen in the stack, top first."""

    def mark_stale(self, stale: bool) -> None:
        self.set_class(stale, "-stale")

    def open(self, screen: DataScreen[None]) -> None:
        """Show another data screen, and refresh at once so it does not wait a whole interval."""
        self.app.push_screen(screen)
        self.post_message(RefreshWanted())

    def refused(self, action: str) -> bool:
        """True (and says so) when read-only mode forbids `action`."""
        if self.session.read_only:
            say(self, f"Read-only mode: {action} refused.", "warning")
            return True
        return False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in CHANGING_ACTIONS and self.session.read_only)

    def on_key(self, event: events.Key) -> None:
        """In read-only mode the changing keys are hidden; pressing one still gets an answer."""
        if not self.session.read_only:
            return
        for binding in self.BINDINGS:
            if (
                isinstance(binding, Binding)
                and binding.action in CHANGING_ACTIONS
                and event.key in binding.key.split(",")
            ):
                event.stop()
                event.prevent_default()
                self.refused(binding.description.lower())
                return
