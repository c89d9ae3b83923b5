"""The built-in job types, one module each (sketch, emotion, email, payment): each defines its
type with `gemsdash.define_job_type`, and the registry (gemsdash.queue.registry) loads them.

Importing this package, or a type's module, has no side effect: no broker, no Redis. The one
exception is Dramatiq's own worker command, `dramatiq gemsdash.actors`, which imports this module
as its broker module and then asks Dramatiq for the global broker: under that command (only) the
runtime is built here, declaring one actor per registered type. A configuration gemsdash refuses
(Redis unreachable, an evicting maxmemory-policy, a broken job-type plugin) then stops the worker
process with one line instead of Dramatiq's traceback.
"""

import sys

from gemsdash.queue import GemsdashError, current_runtime

if "dramatiq.cli" in sys.modules:
    try:
        current_runtime()
    except GemsdashError as _exc:
        print(f"gemsdash: {_exc}", file=sys.stderr, flush=True)
        sys.exit(_exc.exit_code)
