"""What the app shares with its screens: the data source, where the data lives and what was last read.

The app owns the one `Session` and keeps it current after every refresh; each screen is given it when
built, so a screen reads the app's state without knowing the app (no import of `gemsdash.app`, no cast).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from gemsdash.queue import Snapshot, WorkerInfo
from gemsdash.tui.source import Backend, DataSource


@dataclass
class Session:
    source: DataSource
    backend: Backend
    clock: Callable[[], datetime]
    read_only: bool = False
    #: The last snapshot read (None until the first refresh lands).
    snapshot: Snapshot | None = None
    #: The workers last read, shown at once when the workers screen opens again.
    last_workers: list[WorkerInfo] | None = None
