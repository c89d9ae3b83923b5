"""Counts this process's round trips to Redis, for worker processes the benchmark cannot see into.

`INFO commandstats` counts commands, including those a Lua script calls, but not how many times a
client waited on the network: a MULTI/EXEC pipeline is many commands and one round trip. Every
request redis-py writes goes through `send_packed_command` once (a pipeline writes all its commands
in one call), so counting those calls counts round trips, health-check PINGs included.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from dramatiq import Broker, Middleware, Worker
from redis.connection import AbstractConnection

#: Directory where each worker process writes its count when it shuts down.
STATS_DIR_ENV = "BENCH_STATS_DIR"

_lock = threading.Lock()
_round_trips = 0
_original = AbstractConnection.send_packed_command


def _counting_send(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
    global _round_trips
    with _lock:
        _round_trips += 1
    _original(self, command, check_health)  # type: ignore[no-untyped-call]


def install() -> None:
    """Start counting (idempotent); call before the first connection is opened."""
    AbstractConnection.send_packed_command = _counting_send  # type: ignore[method-assign]


def uninstall() -> None:
    AbstractConnection.send_packed_command = _original  # type: ignore[method-assign]


def count() -> int:
    return _round_trips


class RoundTripReport(Middleware):
    """Writes the process's round-trip count to `$BENCH_STATS_DIR/<pid>.json` when its worker stops."""

    def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        directory = os.environ.get(STATS_DIR_ENV)
        if directory:
            Path(directory, f"{os.getpid()}.json").write_text(json.dumps({"round_trips": count()}))


def collect(directory: Path) -> int:
    """The round trips of every worker process that reported into `directory`."""
    return sum(int(json.loads(p.read_text())["round_trips"]) for p in directory.glob("*.json"))
