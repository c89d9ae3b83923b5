"""Dramatiq middleware: one concern per module, as in Dramatiq itself."""

from gemsdash.queue.middleware.abort import Aborts, JobAborted
from gemsdash.queue.middleware.backoff import BackoffRetries
from gemsdash.queue.middleware.early_start import EarlyStarts
from gemsdash.queue.middleware.heartbeat import Heartbeat
from gemsdash.queue.middleware.joblogs import JobLogs
from gemsdash.queue.middleware.quiet import QuietOutage
from gemsdash.queue.middleware.recovery import Recovery
from gemsdash.queue.middleware.scheduler import Scheduler
from gemsdash.queue.middleware.tracking import JobTracking
from gemsdash.queue.middleware.worker_guard import WorkerGuard
from gemsdash.queue.middleware.write_behind import WriteBehind

__all__ = [
    "Aborts",
    "BackoffRetries",
    "EarlyStarts",
    "Heartbeat",
    "JobAborted",
    "JobLogs",
    "JobTracking",
    "QuietOutage",
    "Recovery",
    "Scheduler",
    "WorkerGuard",
    "WriteBehind",
]
