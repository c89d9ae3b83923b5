"""The emotion_analysis job (placeholder declaration so the package imports; the real work follows)."""

from __future__ import annotations

from gemsdash.queue import JobType, PermanentJobError, job_actor
from gemsdash.queue.payloads import EmotionPayload


@job_actor(JobType.EMOTION_ANALYSIS)
def analyze_emotion(payload: EmotionPayload) -> dict[str, object]:
    """Not implemented yet."""
    raise PermanentJobError("emotion job not implemented yet")
