"""Makes `dramatiq gemsdash.actors` serve what `gemsdash worker` serves, or refuse to start.

Each priority level of a job type is its own Dramatiq queue (`email-notification.low`, ...), so
`dramatiq gemsdash.actors --queues email-notification` alone would consume the normal level only
while the dashboard lists the worker as serving the job type, and `low`, `high` and `critical` jobs
would wait forever. A job type named in `--queues` is expanded to all its levels here, before the
worker's consumers start, as `gemsdash worker --queues` does; a name that is no queue of gemsdash's
is refused. A Dramatiq worker in memory mode is refused too: it shares no jobs with anyone, so it
would process nothing (memory mode's worker is the one inside the dashboard's process).
"""

from __future__ import annotations

import sys
from typing import NoReturn

from dramatiq import Broker, Middleware, Worker
from dramatiq.common import q_name

from gemsdash.queue.jobs import QUEUES
from gemsdash.queue.messages import all_physical_queues, physical_queues
from gemsdash.queue.stub_broker import EmbeddedStubBroker

MEMORY_MODE = (
    "a Dramatiq worker needs Redis: set REDIS_ENABLED=true (and REDIS_URL). In memory mode jobs live "
    "inside one process, the dashboard's, which runs them itself"
)


def refuse(message: str) -> NoReturn:
    """One line and exit code 2. SystemExit, because Dramatiq logs and swallows every Exception a
    middleware hook raises and would start the worker anyway."""
    print(f"gemsdash: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def expand(whitelist: set[str]) -> set[str]:
    """Every level of each job type named; names of one level (`email-notification.low`) stay as
    they are. Unknown names are refused."""
    known = set(all_physical_queues(with_delay=False))
    unknown = sorted(name for name in whitelist if q_name(name) not in known)
    if unknown:
        refuse(f"unknown queue(s) {', '.join(unknown)}; expected job types: {', '.join(QUEUES)}")
    return set(whitelist) | {rq for name in whitelist if name in QUEUES for rq in physical_queues(name)}


class WorkerGuard(Middleware):
    def before_worker_boot(self, broker: Broker, worker: Worker) -> None:
        if isinstance(broker, EmbeddedStubBroker) and not broker.embedded_worker:
            refuse(MEMORY_MODE)
        if worker.consumer_whitelist:
            worker.consumer_whitelist = expand(set(worker.consumer_whitelist))
