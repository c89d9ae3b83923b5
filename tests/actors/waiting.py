"""Waiting for jobs to finish, the way a user polling `gemsdash job <id>` would."""

from __future__ import annotations

import gemsdash.queue as q
from gemsdash.queue import JobRecord
from tests.support import wait_for


def finished(job_id: str, timeout: float = 20) -> JobRecord:
    record: JobRecord = wait_for(
        lambda: (r := q.get_job(job_id)) is not None and r.state.finished and r, timeout=timeout, what=f"job {job_id}"
    )
    return record
