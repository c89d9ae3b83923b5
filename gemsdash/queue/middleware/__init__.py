"""Dramatiq middleware: one concern per module, as in Dramatiq itself."""

from gemsdash.queue.middleware.abort import Aborts, JobAborted
from gemsdash.queue.middleware.backoff import BackoffRetries
from gemsdash.queue.middleware.heartbeat import Heartbeat
from gemsdash.queue.middleware.joblogs import JobLogs
from gemsdash.queue.middleware.recovery import Recovery
from gemsdash.queue.middleware.tracking import JobTracking
from gemsdash.queue.middleware.write_behind import WriteBehind

__all__ = ["Aborts", "BackoffRetries", "Heartbeat", "JobAborted", "JobLogs", "JobTracking", "Recovery", "WriteBehind"]
