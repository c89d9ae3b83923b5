"""Pilot helpers: wait for what the operator would see, read what the tables show."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from rich.console import Console
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

from gemsdash.app import GemsdashApp
from gemsdash.tui.screens.dashboard import DashboardScreen
from gemsdash.tui.widgets.tables import NavTable

T = TypeVar("T")


async def until(
    pilot: Pilot[Any], predicate: Callable[[], T | Literal[False] | None], timeout: float = 5.0, what: str = ""
) -> T:
    """Let the app run until `predicate()` holds (the UI and its worker threads keep going), and
    return that value, typed without the False or None returned while waiting."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await pilot.pause(0.03)


def rows(table: NavTable) -> list[list[str]]:
    """Every row of a table as the plain text of its cells."""
    out = []
    for row_key in table.rows:
        out.append([_plain(cell) for cell in table.get_row(row_key)])
    return out


def row(table: NavTable, key: str) -> dict[str, str]:
    """One row by key, as {column key: plain text}."""
    cells = table.get_row(key)
    return {str(column.key.value): _plain(cell) for column, cell in zip(table.columns.values(), cells, strict=True)}


def _plain(cell: Any) -> str:
    return cell.plain if hasattr(cell, "plain") else str(cell)


def main_screen(app: GemsdashApp) -> DashboardScreen:
    screen = app.screen_stack[0]
    assert isinstance(screen, DashboardScreen)
    return screen


def notices(app: GemsdashApp) -> str:
    return "\n".join(message for _, message in app.notices)


def screen_text(app: GemsdashApp) -> str:
    """Everything the current screen's static texts show (labels, panels, the status line)."""
    console = Console(width=200, record=True, file=io.StringIO())
    for widget in app.screen.query(Static):
        content = widget.content
        console.print(content if not isinstance(content, str) else Text(content))
    return console.export_text()
