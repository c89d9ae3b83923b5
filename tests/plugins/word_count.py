"""word-count: count the words of a text (the README's example job type)."""

from pydantic import Field

import gemsdash


class WordCountPayload(gemsdash.Payload):
    text: str = Field(min_length=1, max_length=10_000)
    user_id: str = Field(min_length=1, max_length=128)
    #: Shown as *** wherever the payload is shown (CLI, dashboard, HTTP API).
    license_code: str | None = Field(default=None, json_schema_extra={"secret": True})


def count_words(payload: WordCountPayload) -> dict[str, object]:
    """Count the words of a text."""
    return {"words": len(payload.text.split()), "user_id": payload.user_id}


JOB_TYPE = gemsdash.define_job_type(
    "word-count",
    payload=WordCountPayload,
    handler=count_words,
    priority="low",
    attempts=2,
    backoff={"type": "fixed", "delay": 500},
    example={"text": "the quick brown fox", "user_id": "user-42"},
)
