"""The sketch_generation job (placeholder declaration so the package imports; the real work follows)."""

from __future__ import annotations

from gemsdash.queue import JobType, PermanentJobError, job_actor
from gemsdash.queue.payloads import SketchPayload


@job_actor(JobType.SKETCH_GENERATION)
def generate_sketch(payload: SketchPayload) -> dict[str, object]:
    """Not implemented yet."""
    raise PermanentJobError("sketch job not implemented yet")
