"""The footer every full screen ends with."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

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
