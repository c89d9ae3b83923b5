"""What every full screen of the dashboard shares: the header, the status line, the fallback banner
and the footer, and the two calls the app's refresh loop makes on it."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header
from textual.widgets._footer import FooterKey

from gemsdash.tui.refresh import RefreshRequest, RefreshResult
from gemsdash.tui.status import FallbackBanner, StatusBar, fallback_text

if TYPE_CHECKING:
    from gemsdash.app import GemsdashApp

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


#: Below this many columns the footer is compact and leaves out the command palette's key.
COMPACT_FOOTER_BELOW = 110


class KeysFooter(Footer):
    """The footer, with `?` (every key of the screen) and `q` first so they show however narrow
    the terminal; compact below COMPACT_FOOTER_BELOW columns."""

    def compose(self) -> ComposeResult:
        keys = list(super().compose())
        first = ("help", "app.help", "quit", "app.quit")
        keys.sort(key=lambda w: first.index(w.action) // 2 if isinstance(w, FooterKey) and w.action in first else 2)
        yield from keys

    def on_resize(self) -> None:
        narrow = self.app.size.width < COMPACT_FOOTER_BELOW
        self.compact = narrow
        self.show_command_palette = not narrow


class DataScreen(Screen[None]):
    """A screen fed by the refresh loop. The top-most one decides what a refresh reads."""

    @property
    def dash(self) -> GemsdashApp:
        return cast("GemsdashApp", self.app)

    def compose_top(self) -> ComposeResult:
        yield Header(icon="◆")
        backend = self.dash.backend
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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in CHANGING_ACTIONS and self.dash.read_only)

    def on_key(self, event: events.Key) -> None:
        """In read-only mode the changing keys are hidden; pressing one still gets an answer."""
        if not self.dash.read_only:
            return
        for binding in self.BINDINGS:
            if (
                isinstance(binding, Binding)
                and binding.action in CHANGING_ACTIONS
                and event.key in binding.key.split(",")
            ):
                event.stop()
                event.prevent_default()
                self.dash.refused(binding.description.lower())
                return
