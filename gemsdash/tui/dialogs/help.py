"""`?` help and the command palette, both built from the bindings that are live right now.

Neither keeps its own list of keys: a binding added to a screen shows up in both, and an action
hidden by read-only mode disappears from both, so the help can never promise a key that does
nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

from gemsdash.queue import STATES
from gemsdash.tui import format as fmt
from gemsdash.tui.feed import Level
from gemsdash.tui.widgets.status import LEVEL_STYLE

#: Bindings that Textual or the OS already explain, or that make no sense in a list.
_SKIP_ACTIONS = frozenset({"command_palette", "help", "app.help", "screenshot"})


@dataclass(frozen=True)
class KeyHelp:
    key: str
    title: str
    action: str
    node: DOMNode


def live_keys(screen: Screen[Any]) -> Iterator[KeyHelp]:
    """Each enabled binding of `screen` (its focused widget, the screen, the app) that a person
    chose to show or explain, once per action with all of its keys."""
    found: dict[str, list[tuple[str, Binding, DOMNode]]] = {}
    for key, active in screen.active_bindings.items():
        binding: Binding = active.binding
        if not active.enabled or binding.system or binding.action in _SKIP_ACTIONS:
            continue
        if not (binding.tooltip or (binding.show and binding.description)):
            continue
        display = binding.key_display or screen.app.get_key_display(binding) or key
        found.setdefault(binding.action, []).append((display, binding, active.node))
    for action, entries in found.items():
        # The plain key first (`q` before `^q`), and its binding's words: ours, not a default's.
        entries.sort(key=lambda entry: len(entry[0]))
        display, binding, node = entries[0]
        keys = ", ".join(entry[0] for entry in entries)
        yield KeyHelp(keys, binding.tooltip or binding.description, action, node)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, keys: list[KeyHelp]) -> None:
        super().__init__(classes="confirm")
        self.keys = keys

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 2), show_header=False)
        table.add_column(style="bold #5fafff", no_wrap=True, justify="right")
        table.add_column()
        for item in self.keys:
            table.add_row(item.key, item.title)
        states = Text("States: ")
        for state in STATES:
            states.append(state.value, style=fmt.STATE_STYLE[state])
            states.append("  ")
        fresh = Text("Freshness: ")
        for level, meaning in (
            (Level.LIVE, "on time"),
            (Level.LATE, "refresh late"),
            (Level.STALE, "backend unreachable, old data"),
            (Level.PAUSED, "paused"),
        ):
            fresh.append(meaning, style=LEVEL_STYLE[level])
            fresh.append("  ")
        extra = Text(
            "Also: arrows or j/k move, Enter opens, Esc goes back, Tab switches table, "
            "ctrl+p opens the command palette with every action.",
            style="dim",
        )
        with VerticalScroll(id="dialog", classes="wide"):
            yield Label("Keys on this screen", id="dialog-title")
            yield Static(Group(table, Text(""), states, fresh, Text(""), extra))


class BindingCommands(Provider):
    """Every live binding of the screen the palette was opened on, as a palette command."""

    def _commands(self) -> list[KeyHelp]:
        return list(live_keys(self.screen))

    async def discover(self) -> Hits:
        for item in self._commands():
            yield DiscoveryHit(item.title, partial(self._run, item), help=f"key: {item.key}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for item in self._commands():
            score = matcher.match(item.title)
            if score > 0:
                yield Hit(score, matcher.highlight(item.title), partial(self._run, item), help=f"key: {item.key}")

    async def _run(self, item: KeyHelp) -> None:
        await self.app.run_action(item.action, item.node)
