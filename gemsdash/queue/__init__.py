"""gemsdash.queue: the job system's public API (producer, admin actions, reads) and its contract.

Never imports textual, gemsdash.app or gemsdash.actors: the dashboard and the job code depend on
this package, not the other way round.
"""

from gemsdash.queue.admin import (
    audit_log,
    cancel,
    cancel_jobs,
    clear,
    pause,
    paused_queues,
    resume,
    retry,
    retry_all,
    retry_jobs,
)
from gemsdash.queue.config import Settings, load_settings
from gemsdash.queue.context import JobContext, current_job
from gemsdash.queue.errors import (
    AmbiguousJobId,
    BackendUnavailable,
    ConfigError,
    GemsdashError,
    InvalidPayload,
    InvalidTransition,
    JobNotFound,
    MemoryModeUnsupported,
    PermanentJobError,
    ReadOnlyMode,
    UnknownJobType,
)
from gemsdash.queue.handlers import job_actor
from gemsdash.queue.jobs import (
    JOB_SPECS,
    QUEUES,
    STATES,
    Backoff,
    JobRecord,
    JobState,
    JobType,
    Priority,
)
from gemsdash.queue.producer import (
    JobRequest,
    add_job,
    add_jobs,
    analyze_emotion,
    process_payment,
    queue_sketch_generation,
    send_email,
    send_welcome_email,
)
from gemsdash.queue.redaction import mask_payload
from gemsdash.queue.runtime import Runtime, configure, current_runtime
from gemsdash.queue.stats import (
    Health,
    dashboard_view,
    get_job,
    health,
    list_jobs,
    queue_stats,
    stats_json,
    workers,
)
from gemsdash.queue.store import ClearResult, JobPage, QueueStats, Snapshot, WorkerInfo

__all__ = [
    "JOB_SPECS",
    "QUEUES",
    "STATES",
    "AmbiguousJobId",
    "BackendUnavailable",
    "Backoff",
    "ClearResult",
    "ConfigError",
    "GemsdashError",
    "Health",
    "InvalidPayload",
    "InvalidTransition",
    "JobContext",
    "JobNotFound",
    "JobPage",
    "JobRecord",
    "JobRequest",
    "JobState",
    "JobType",
    "MemoryModeUnsupported",
    "PermanentJobError",
    "Priority",
    "QueueStats",
    "ReadOnlyMode",
    "Runtime",
    "Settings",
    "Snapshot",
    "UnknownJobType",
    "WorkerInfo",
    "add_job",
    "add_jobs",
    "analyze_emotion",
    "audit_log",
    "cancel",
    "cancel_jobs",
    "clear",
    "configure",
    "current_job",
    "current_runtime",
    "dashboard_view",
    "get_job",
    "health",
    "job_actor",
    "list_jobs",
    "load_settings",
    "mask_payload",
    "pause",
    "paused_queues",
    "process_payment",
    "queue_sketch_generation",
    "queue_stats",
    "resume",
    "retry",
    "retry_all",
    "retry_jobs",
    "send_email",
    "send_welcome_email",
    "stats_json",
    "workers",
]
