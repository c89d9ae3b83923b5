"""Messages pushed straight into a Redis queue that cannot be read (invalid JSON, truncated, JSON that
is not a message, huge): what is kept of them, in the dead record, `gemsdash job`/`jobs --json` and
the dead-letter hash, holds no card number, no sensitive field's value, no configured secret, and is
bounded in size."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis

from gemsdash.queue import JobState, JobType, Runtime, get_job
from gemsdash.queue.handlers import actor_of
from gemsdash.queue.redaction import RAW_HEAD_CHARS, Redactor, raw_evidence
from tests.core.workload import email, scripted
from tests.faults.test_malformed import push
from tests.security.helpers import namespace_dump, run_cli
from tests.support import text, wait_for

CARD = "4242424242424242"
CARD_GROUPED = "4242 4242 4242 4242"
PASSWORD = "pw-Secret-5r8q"
TOKEN = "tok-Secret-3k7d"
#: A configured secret (as the Redis or SMTP password would be), in a field with a harmless name.
KNOWN = "known-Secret-9z2w"
NEVER_KEPT = (CARD, CARD_GROUPED, PASSWORD, TOKEN, KNOWN)

MALFORMED = {
    "truncated JSON": (
        f'{{"payment_method": "{CARD}", "password": "{PASSWORD}", "note": "{KNOWN}", "api_token": "{TOKEN}'
    ).encode(),
    "invalid JSON": f'{{payment_method: {CARD}, "password": "{PASSWORD}", note: {KNOWN}, token={TOKEN}}}'.encode(),
    "JSON that is not a message": json.dumps(
        {"payment_method": CARD_GROUPED, "credentials": {"password": PASSWORD}, "token": TOKEN, "note": KNOWN}
    ).encode(),
    "form text": f"card={CARD}&password={PASSWORD}&note={KNOWN}&token={TOKEN}".encode(),
    "not UTF-8": b"\xff\xfe" + f'"password": "{PASSWORD}", "card": "{CARD}", {KNOWN}, "token": "{TOKEN}"'.encode(),
}


@pytest.fixture
def worker(redis_runtime: Runtime) -> Runtime:
    redis_runtime.redactor.add(KNOWN)
    redis_runtime.start_worker(threads=2)
    return redis_runtime


def dead_record(rmid: str) -> dict[str, object]:
    record = wait_for(lambda: get_job(rmid), timeout=30, what="the malformed message's dead record")
    assert record.state is JobState.DEAD
    return record.public_dict()


def leaks(text: str) -> list[str]:
    return [s for s in NEVER_KEPT if s in text]


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_message_keeps_no_card_number_or_secret(
    worker: Runtime, redis_client: redis.Redis, cli_env: dict[str, str], tmp_path: Path, name: str
) -> None:
    ns = worker.settings.namespace
    data = MALFORMED[name]
    rmid = push(redis_client, ns, "payment-processing", data)
    record = dead_record(rmid)
    assert not leaks(json.dumps(record)), record
    error = record["error"]
    assert isinstance(error, dict) and error["message"].startswith("malformed message:")
    kept = record["payload"]["refused_message"]  # type: ignore[index]
    assert kept["bytes"] == len(data) and len(kept["sha256"]) == 64 and kept["head"]
    dead_letter = redis_client.hget(f"{ns}:payment-processing.XQ.msgs", rmid)
    assert dead_letter is not None and not leaks(text(dead_letter))
    shown = run_cli("job", rmid, env=cli_env, cwd=tmp_path)
    assert shown.returncode == 0 and rmid in shown.stdout and not leaks(shown.output), shown.output
    listed = run_cli("jobs", "payment-processing", "--json", env=cli_env, cwd=tmp_path)
    assert listed.returncode == 0 and rmid in listed.stdout and not leaks(listed.output)
    assert not leaks(namespace_dump(redis_client, ns))


@pytest.mark.slow
def test_a_30_mb_message_is_not_kept_whole(
    worker: Runtime, redis_client: redis.Redis, cli_env: dict[str, str], tmp_path: Path
) -> None:
    ns = worker.settings.namespace
    data = f'{{"payment_method": "{CARD}", "password": "{PASSWORD}", "blob": "'.encode() + b"A" * (30 * 1024 * 1024)
    rmid = push(redis_client, ns, "payment-processing", data)
    record = dead_record(rmid)
    assert len(json.dumps(record)) < 8 * 1024 and not leaks(json.dumps(record))
    assert record["payload"]["refused_message"]["bytes"] == len(data)  # type: ignore[index]
    dead_letter = redis_client.hget(f"{ns}:payment-processing.XQ.msgs", rmid)
    assert dead_letter is not None and len(dead_letter) < 8 * 1024 and not leaks(text(dead_letter))
    assert redis_client.hlen(f"{ns}:payment-processing.msgs") == 0
    listed = run_cli("jobs", "payment-processing", "--json", env=cli_env, cwd=tmp_path)
    assert listed.returncode == 0 and rmid in listed.stdout and len(listed.stdout) < 16 * 1024
    used = redis_client.memory_usage(f"{ns}:payment-processing.XQ.msgs") or 0
    assert used < 64 * 1024


def test_scrubbing_a_huge_message_takes_no_time() -> None:
    """The worker thread that meets a 30 MB message spends a fraction of a second on it (the key
    scan was quadratic in a run of letters: about a minute for this one)."""
    data = f'{{"password": "{PASSWORD}", "blob": "'.encode() + b"A" * (30 * 1024 * 1024)
    started = time.monotonic()
    kept = raw_evidence(data, Redactor([KNOWN]))
    assert time.monotonic() - started < 10
    assert kept["truncated"] and len(kept["head"]) == RAW_HEAD_CHARS and PASSWORD not in kept["head"]


def test_a_huge_payload_sent_straight_to_the_actor_is_not_kept_whole(
    any_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """A well-formed message under the fetch limit, sent past the producer (straight to the actor, as
    a foreign producer would): its record and dead letter keep a bounded, scrubbed copy, in both modes."""
    payload = email("fatal")
    payload["context"] |= {"password": PASSWORD, "blob": "A" * (600 * 1024)}
    with scripted():
        message = actor_of(JobType.EMAIL_NOTIFICATION).send(payload)
        record = wait_for(
            lambda: (r := get_job(message.message_id)) is not None and r.state is JobState.DEAD and r,
            timeout=30,
            what="dead",
        )
    kept = json.dumps(record.public_dict())
    assert len(kept) < 16 * 1024 and PASSWORD not in kept, len(kept)
    assert record.payload["oversized_payload"]["bytes"] > 600 * 1024, record.payload
    if any_runtime.mode == "redis":
        ns = any_runtime.settings.namespace
        dead_letters = redis_client.hvals(f"{ns}:email-notification.XQ.msgs")
        assert len(dead_letters) == 1 and len(dead_letters[0]) < 16 * 1024
        assert PASSWORD.encode() not in dead_letters[0]
