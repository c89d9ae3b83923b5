"""Where job code keeps its own durable facts: the job-state backend of the current runtime.

In Redis mode that is the runtime's Redis (keys `<namespace>:gd:<what>:...`), so every worker
process sees the same facts; in memory mode it is an object held for the lifetime of the runtime,
which is exactly as long as the jobs themselves live.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from gemsdash.queue import Runtime, current_runtime

T = TypeVar("T")

_lock = threading.Lock()
_states: dict[tuple[int, str], Any] = {}


def key(runtime: Runtime, *parts: str) -> str:
    return ":".join((runtime.settings.namespace, "gd", *parts))


def per_runtime(name: str, factory: Callable[[Runtime], T], runtime: Runtime | None = None) -> T:
    """One `factory(runtime)` per runtime and name, dropped when the runtime is garbage-collected
    (tests build many runtimes in one process; each must start with an empty ledger)."""
    runtime = runtime or current_runtime()
    slot = (id(runtime), name)
    with _lock:
        if slot not in _states:
            _states[slot] = factory(runtime)
            weakref.finalize(runtime, _states.pop, slot, None)
        state: T = _states[slot]
        return state
