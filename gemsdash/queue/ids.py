"""Job ids as operators type them: the whole id, or the first eight or more characters (the
dashboard and `gemsdash jobs` show eight), resolved to the one job they name."""

from __future__ import annotations

from gemsdash.queue.errors import AmbiguousJobId
from gemsdash.queue.runtime import current_runtime

#: The shortest prefix accepted for an id: eight hex characters tell apart thousands of UUID4s.
MIN_PREFIX = 8
#: Length of a full id (UUID4 text): such an id is used as given, without a lookup.
FULL_ID = 36
#: Matches listed when a prefix is ambiguous.
SHOWN_MATCHES = 5


def resolve(job_id: str) -> str:
    """The full id of the one job `job_id` names. A full id, a prefix shorter than MIN_PREFIX or
    one matching no job comes back as given (the caller then says it was not found); a prefix
    matching several jobs raises AmbiguousJobId naming them."""
    if len(job_id) >= FULL_ID or len(job_id) < MIN_PREFIX:
        return job_id
    matches = current_runtime().store.find_ids(job_id, SHOWN_MATCHES + 1)
    if len(matches) > 1:
        raise AmbiguousJobId(job_id, matches[:SHOWN_MATCHES] + (["…"] if len(matches) > SHOWN_MATCHES else []))
    return matches[0] if matches else job_id
