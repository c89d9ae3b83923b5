"""The four job types' actors. Importing this package configures the broker first (from the
environment, unless the composition root already did), so `dramatiq gemsdash.actors` works as a
worker command; there, a configuration gemsdash refuses (Redis unreachable, an evicting
maxmemory-policy) stops the worker process with one line instead of Dramatiq's traceback."""

import sys

from gemsdash.queue import GemsdashError, current_runtime

try:
    current_runtime()
except GemsdashError as _exc:
    if "dramatiq.cli" not in sys.modules:
        raise
    print(f"gemsdash: {_exc}", file=sys.stderr, flush=True)
    sys.exit(_exc.exit_code)

from gemsdash.actors import email, emotion, payment, sketch

__all__ = ["email", "emotion", "payment", "sketch"]
