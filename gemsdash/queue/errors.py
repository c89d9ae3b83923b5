"""Errors a caller can act on; each says what went wrong in one line, without secrets."""

from __future__ import annotations


class GemsdashError(Exception):
    """Base class: the CLI prints these as one line instead of a traceback."""

    exit_code = 1


class ConfigError(GemsdashError):
    exit_code = 2


class BackendUnavailable(GemsdashError):
    """Redis could not be reached (or answered with an error) within the configured timeout."""

    exit_code = 2


class NotReplicated(BackendUnavailable):
    """A write reached fewer replicas than GEMSDASH_MIN_REPLICAS within GEMSDASH_REPLICA_TIMEOUT_MS:
    a failover now could lose it, so it is not reported as done. It may still have been applied
    (retrying is safe: every such write is idempotent)."""

    def __init__(self, what: str, acked: int, wanted: int, timeout_ms: int) -> None:
        self.acked = acked
        self.wanted = wanted
        super().__init__(
            f"{what} not confirmed: {acked} of {wanted} required replica(s) acknowledged it within "
            f"{timeout_ms} ms (GEMSDASH_MIN_REPLICAS); it may be lost if the primary fails now"
        )


class MemoryModeUnsupported(GemsdashError):
    """A one-shot command cannot see jobs that live inside another process's memory."""

    exit_code = 2


class InvalidPayload(GemsdashError):
    """The payload (or job options) failed validation; `errors` lists `(field, message)` pairs."""

    exit_code = 2

    def __init__(self, job_type: str, errors: list[tuple[str, str]]) -> None:
        self.job_type = job_type
        self.errors = errors
        detail = "; ".join(f"{field}: {message}" for field, message in errors)
        super().__init__(f"invalid {job_type} payload: {detail}")


class UnknownJobType(GemsdashError, ValueError):
    exit_code = 2

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(f"unknown job type {name!r}; expected one of: {', '.join(known)}")


class InvalidSearch(GemsdashError, ValueError):
    """A job search no store takes: longer than MAX_SEARCH_CHARS, or not text (a lone surrogate)."""

    exit_code = 2


class JobNotFound(GemsdashError):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} not found (it may have expired or been cleared)")


class AmbiguousJobId(GemsdashError):
    """A job id prefix matches more than one job."""

    def __init__(self, prefix: str, matches: list[str]) -> None:
        self.prefix = prefix
        self.matches = matches
        shown = ", ".join(matches)
        super().__init__(f"job id prefix {prefix} is ambiguous: it matches {shown}; give more characters")


#: How an error names the state a job is in: "it has already succeeded", not "it is succeeded".
STATE_PHRASES = {
    "queued": "it is queued",
    "delayed": "it is delayed",
    "running": "it is running",
    "retrying": "it is waiting to be retried",
    "succeeded": "it has already succeeded",
    "dead": "it is dead",
    "cancelled": "it is cancelled",
}


class InvalidTransition(GemsdashError):
    """An admin action does not apply to the job's current state (e.g. retrying a running job)."""

    def __init__(self, job_id: str, action: str, state: str) -> None:
        self.job_id = job_id
        self.action = action
        self.state = state
        hint = " (abort stops a running job)" if action == "cancel" and state == "running" else ""
        super().__init__(f"cannot {action} job {job_id}: {STATE_PHRASES.get(state, f'it is {state}')}{hint}")


class ReadOnlyMode(GemsdashError):
    exit_code = 2

    def __init__(self, action: str) -> None:
        super().__init__(f"{action} refused: gemsdash is in read-only mode")


class PermanentJobError(Exception):
    """Raised by job code for failures that retrying cannot fix (a declined card, a 5xx SMTP
    rejection, a missing image). The job goes straight to `dead` with this message."""


class PartlySubmitted(BackendUnavailable):
    """A batch larger than one chunk failed part-way and some of its jobs could not be withdrawn
    (Redis was lost, or workers had fetched them already): `written` are the ids that may exist and
    run. Retrying the others alone enqueues each job once."""

    def __init__(self, written: list[str], total: int, cause: BaseException) -> None:
        self.written = written
        super().__init__(
            f"{len(written)} of {total} jobs of the batch may have been enqueued before it failed ({cause}); "
            "their ids are in this error's `written`"
        )
