"""A Redis record is HEAD "\\n" TIMELINE "\\n" BODY, so that hot.lua's `start` and `succeed` edit it
with string operations; records written whole as one JSON object by older versions stay in
production Redis and must still be read and transitioned. hot.lua handles the common case only and
leaves the rest to jobs.lua: both must write the same record and count the same."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import redis
from dramatiq import Message

from gemsdash.queue import JobRequest, JobState, JobType, Runtime, add_jobs, get_job, list_jobs, queue_stats
from gemsdash.queue.jobs import now_ms
from gemsdash.queue.redis_store.store import BOUNDS_CSV, RECORD_LAYOUT, WAIT_BOUNDS_CSV
from gemsdash.queue.store import HEAD_FIELDS, Delivery, Success, Verdict, WorkerInfo, encode_record, parse_record
from tests.core.redis_records import QUEUE, delivery, fetch, record_key, redis_store
from tests.core.workload import email


def _fetched(rt: Runtime, count: int, *, recorded: bool = False) -> list[Message[Any]]:
    """`count` new jobs' messages, fetched. A new job waits as its message alone; `recorded`: with a
    record while it waits, as a job whose retries wait no time (its message cannot say so) has."""
    backoff = {"delay": 0} if recorded else None
    add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"layout-{i}"), backoff=backoff) for i in range(count)])
    return fetch(rt, count)


def _start_args(message: Message[Any]) -> tuple[Any, ...]:
    return (message.message_id, message.options["redis_message_id"], message.queue_name, "test-worker", 1)


def _raw(client: redis.Redis, key: str) -> bytes:
    raw = client.get(key)
    assert isinstance(raw, bytes)
    return raw


def _head_keys(raw: bytes) -> list[str]:
    head = raw.split(b"\n", 1)[0]
    return [k for k, _ in json.loads(head, object_pairs_hook=lambda pairs: pairs)]


def _public(rt: Runtime, job_id: str) -> dict[str, Any]:
    """What `gemsdash job --json` shows of a record, without what differs between two jobs."""
    record = get_job(job_id)
    assert record is not None
    data = record.model_dump(mode="json")
    for key in ("id", "payload", "created_at", "started_at", "finished_at", "rmid"):
        data.pop(key, None)
    data["timeline"] = [(e["state"], e["note"]) for e in data["timeline"]]
    return data


def _unacked(rt: Runtime, client: redis.Redis) -> int:
    ns = rt.settings.namespace
    return int(client.scard(f"{ns}:__acks__.{rt.broker.broker_id}.{QUEUE}"))  # type: ignore[attr-defined]


def test_head_fields_are_the_same_in_python_and_lua() -> None:
    source = files("gemsdash.queue.redis_store").joinpath("jobs.lua").read_text()
    found = re.search(r"local HEAD_FIELDS = \{(.*?)\}", source, re.S)
    assert found is not None
    assert tuple(re.findall(r'"(\w+)"', found.group(1))) == HEAD_FIELDS


def test_jobs_lua_changes_no_body_field_of_a_record() -> None:
    """jobs.lua's `encode_record` writes a loaded record's BODY text back as it was read: a field a
    command sets must be a HEAD field, or the change would be lost. (`id` is set only on a record
    `reject` builds from its template, never on a loaded one.)"""
    source = files("gemsdash.queue.redis_store").joinpath("jobs.lua").read_text()
    assigned = set(re.findall(r"\bjob\.(\w+) =(?!=)", source))
    assert assigned - {"timeline", "id"} <= set(HEAD_FIELDS), assigned - set(HEAD_FIELDS)


def test_encode_and_parse_round_trip_and_old_records_parse() -> None:
    record = {
        "id": "j1",
        "queue": "q",
        "state": "queued",
        "payload": '{"text":"line\\nbreak"}',
        "attempts": 0,
        "max_attempts": 3,
        "next_attempt_at": None,
        "timeline": [["queued", 5, None], ["running", 6, "a note with \n and ],["]],
    }
    raw = encode_record(record)
    assert raw.count("\n") == 2 and raw.startswith('{"state":"queued","queue":"q","attempts":0,"max_attempts":3}\n')
    expected = {k: v for k, v in record.items() if v is not None}
    expected["timeline"] = [["queued", 5], ["running", 6, "a note with \n and ],["]]
    assert parse_record(raw) == expected
    assert parse_record(raw.encode()) == expected
    assert parse_record(json.dumps(record)) == record  # the layout of older versions


def test_a_first_delivery_runs_and_succeeds_through_hot_lua(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    for recorded in (False, True):
        (message,) = _fetched(redis_runtime, 1, recorded=recorded)
        store = redis_store(redis_runtime)
        key = record_key(redis_runtime, message.message_id)
        if recorded:
            raw = _raw(redis_client, key)
            assert raw.startswith(b'{"state":"queued",') and raw.count(b"\n") == 2
        else:
            assert redis_client.get(key) is None  # it waited as its message alone
        assert store._worker_call("start", *_start_args(message), QUEUE, hot=True) == b"run"
        _runs_and_succeeds_through_hot_lua(redis_runtime, redis_client, message, done=2 if recorded else 1)


def _runs_and_succeeds_through_hot_lua(
    redis_runtime: Runtime, redis_client: redis.Redis, message: Message[Any], done: int
) -> None:
    store = redis_store(redis_runtime)
    key = record_key(redis_runtime, message.message_id)
    assert _head_keys(_raw(redis_client, key)) == [
        "state", "queue", "attempts", "max_attempts", "rq", "rmid", "started_at", "worker"
    ]  # fmt: skip
    reply = store._call(
        "succeed", store.finished_ttl, BOUNDS_CSV, WAIT_BOUNDS_CSV,
        message.message_id, json.dumps('"done"'), 7, 0, *delivery(redis_runtime, message), hot=True,
    )  # fmt: skip
    assert reply == [1]  # written, none left to jobs.lua
    assert _unacked(redis_runtime, redis_client) == 0
    ttl = redis_client.ttl(key)
    assert 0 < ttl <= store.finished_ttl
    record = get_job(message.message_id)
    assert record is not None and record.state is JobState.SUCCEEDED
    assert record.result == "done" and record.duration_ms == 7 and record.attempts == 1
    assert [e.state for e in record.timeline] == [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]
    stats = queue_stats().queues[QUEUE]
    assert stats.counts[JobState.SUCCEEDED] == done and stats.counts[JobState.RUNNING] == 0
    assert stats.duration_count == done and stats.wait_count == done and stats.finished_total["succeeded"] == done


def test_hot_lua_and_jobs_lua_write_the_same_record(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    hot, slow = _fetched(redis_runtime, 2)
    store = redis_store(redis_runtime)
    assert store._worker_call("start", *_start_args(hot), QUEUE, hot=True) == b"run"
    assert store._worker_call("start", *_start_args(slow), "") == b"run"  # jobs.lua's own
    running = [_raw(redis_client, record_key(redis_runtime, m.message_id)) for m in (hot, slow)]
    assert _head_keys(running[0]) == _head_keys(running[1])
    assert _public(redis_runtime, hot.message_id) == _public(redis_runtime, slow.message_id)
    ended = now_ms()
    assert store.succeed_many([Success(hot.message_id, '{"n": 1}', 12, ended, Delivery(*delivery(redis_runtime, hot)))])
    assert store._worker_call(
        "succeed", BOUNDS_CSV, WAIT_BOUNDS_CSV, slow.message_id, '{"n": 1}', 12, 0, *delivery(redis_runtime, slow)
    )
    done = [_raw(redis_client, record_key(redis_runtime, m.message_id)) for m in (hot, slow)]
    assert _head_keys(done[0]) == _head_keys(done[1])
    assert _public(redis_runtime, hot.message_id) == _public(redis_runtime, slow.message_id)
    assert redis_client.ttl(record_key(redis_runtime, hot.message_id)) > 0
    stats = queue_stats().queues[QUEUE]
    assert stats.counts[JobState.SUCCEEDED] == 2 and stats.duration_count == 2 and stats.wait_count == 2
    assert stats.attempts_total["succeeded"] == 2 and stats.finished_total["succeeded"] == 2
    assert _unacked(redis_runtime, redis_client) == 0


def _as_old_record(client: redis.Redis, key: str) -> dict[str, Any]:
    """The record rewritten as versions before the split layout wrote it: one JSON object."""
    record = parse_record(_raw(client, key))
    record["timeline"] = [[*e, None] if len(e) == 2 else e for e in record["timeline"]]
    client.set(key, json.dumps(record), keepttl=True)
    return record


def test_a_record_of_an_older_version_is_read_and_transitioned(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    first, second = _fetched(redis_runtime, 2, recorded=True)
    store = redis_store(redis_runtime)
    key = record_key(redis_runtime, first.message_id)
    shown = _public(redis_runtime, first.message_id)
    _as_old_record(redis_client, key)
    assert _public(redis_runtime, first.message_id) == shown
    assert {j.id for j in list_jobs(QUEUE).jobs} == {first.message_id, second.message_id}
    assert store._worker_call("start", *_start_args(first), hot=True) == b"slow"  # not recognised
    assert b"\n" not in _raw(redis_client, key)  # untouched
    assert store.start(first, "test-worker", None).verdict is Verdict.RUN  # jobs.lua's start
    assert b"\n" not in _raw(redis_client, key)  # written back in the layout it had (old in, old out)
    assert store.start(second, "test-worker", None).verdict is Verdict.RUN
    _as_old_record(redis_client, key)  # running, as an older version's worker would have left it
    ended = now_ms()
    successes = [
        Success(m.message_id, '"ok"', 4, ended, Delivery(*delivery(redis_runtime, m))) for m in (first, second)
    ]
    assert store.succeed_many(successes) == 2
    for message in (first, second):
        record = get_job(message.message_id)
        assert record is not None and record.state is JobState.SUCCEEDED and record.result == "ok"
        assert [e.state for e in record.timeline] == [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]
    stats = queue_stats().queues[QUEUE]
    assert stats.counts[JobState.SUCCEEDED] == 2 and stats.counts[JobState.RUNNING] == 0
    assert stats.duration_count == 2 and stats.wait_count == 2 and stats.finished_total["succeeded"] == 2
    assert _unacked(redis_runtime, redis_client) == 0


def test_a_batch_mixing_hot_slow_missing_and_repeated_jobs(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    hot, redelivered, missing = _fetched(redis_runtime, 3)
    store = redis_store(redis_runtime)
    for message in (hot, redelivered, missing):
        assert store.start(message, "test-worker", None).verdict is Verdict.RUN
    # A second delivery of a running job (its worker lost): jobs.lua counts it a new attempt.
    assert store.start(redelivered, "test-worker", None).verdict is Verdict.RUN
    record = get_job(redelivered.message_id)
    assert record is not None and record.attempts == 2
    redis_client.delete(record_key(redis_runtime, missing.message_id))
    ended = now_ms()
    successes = [
        Success(m.message_id, '"ok"', 4, ended, Delivery(*delivery(redis_runtime, m)))
        for m in (hot, redelivered, missing)
    ]
    assert store.succeed_many([*successes, successes[0], successes[1]]) == 2
    assert store.succeed_many(successes) == 0  # sent again after a lost reply: counted once
    stats = queue_stats().queues[QUEUE]
    assert stats.counts[JobState.SUCCEEDED] == 2 and stats.finished_total["succeeded"] == 2
    assert stats.duration_count == 2 and stats.attempts_total["succeeded"] == 2
    assert _unacked(redis_runtime, redis_client) == 0
    record = get_job(redelivered.message_id)
    assert record is not None and record.state is JobState.SUCCEEDED and record.attempts == 2


def test_a_cancelled_job_is_skipped_by_jobs_lua(redis_runtime: Runtime) -> None:
    (message,) = _fetched(redis_runtime, 1)
    store = redis_store(redis_runtime)
    assert store.cancel(message.message_id, "test", "").ok
    assert str(store.start(message, "test-worker", None)) == "skip:cancelled"


def test_a_worker_name_json_must_escape_goes_to_jobs_lua(redis_runtime: Runtime) -> None:
    (message,) = _fetched(redis_runtime, 1)
    assert redis_store(redis_runtime).start(message, 'host "a"\\b', None).verdict is Verdict.RUN
    record = get_job(message.message_id)
    assert record is not None and record.worker == 'host "a"\\b' and record.state is JobState.RUNNING


def test_jobs_lua_writes_back_the_layout_it_loaded(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    """Old in, old out; new in, new out: an older worker of a rolling upgrade reads only the old
    layout, so a record that has it keeps it through every transition of this version."""
    old, new = _fetched(redis_runtime, 2, recorded=True)
    store = redis_store(redis_runtime)
    old_key, new_key = record_key(redis_runtime, old.message_id), record_key(redis_runtime, new.message_id)
    _as_old_record(redis_client, old_key)
    for message in (old, new):  # jobs.lua's start (not hot.lua's) for both
        assert store._worker_call("start", *_start_args(message), "") == b"run"
    assert b"\n" not in _raw(redis_client, old_key) and json.loads(_raw(redis_client, old_key))["state"] == "running"
    assert _raw(redis_client, new_key).count(b"\n") == 2
    ended = now_ms()
    successes = [Success(m.message_id, '"ok"', 4, ended, Delivery(*delivery(redis_runtime, m))) for m in (old, new)]
    assert store.succeed_many(successes) == 2
    whole = json.loads(_raw(redis_client, old_key))  # what an older worker's cjson.decode reads
    assert whole["state"] == "succeeded" and [e[0] for e in whole["timeline"]] == ["queued", "running", "succeeded"]
    assert _raw(redis_client, new_key).count(b"\n") == 2
    assert _public(redis_runtime, old.message_id) == _public(redis_runtime, new.message_id)


def _info(worker_id: str) -> WorkerInfo:
    now = datetime.now(UTC)
    return WorkerInfo(id=worker_id, host="h", pid=1, threads=1, started_at=now, last_heartbeat=now, in_flight=0)


def test_new_records_use_the_old_layout_while_an_older_worker_is_alive(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """The flag each process keeps: refreshed by a heartbeat's reply, or by a submit once stale
    (LAYOUT_CHECK_S), and trusted in between (no read per submit)."""
    store = redis_store(redis_runtime)
    ns = redis_runtime.settings.namespace
    store.heartbeat(_info("new-worker"))
    assert store._older_alive is False
    assert json.loads(_raw(redis_client, f"{ns}:gd:worker:new-worker"))["record_layout"] == RECORD_LAYOUT
    (first,) = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email("before"))])
    assert redis_client.get(record_key(redis_runtime, first)) is None  # it waits as its message alone
    # An older worker's beat: `workers` only (its body has no record_layout); one of the split
    # layout's beats `layout2` too, and is just as old to this version (it cannot read `fresh` jobs).
    redis_client.zadd(f"{ns}:gd:workers", {"older-worker": now_ms()})
    redis_client.zadd(f"{ns}:gd:workers:layout2", {"older-worker": now_ms()})
    (cached,) = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email("cached"))])
    assert redis_client.get(record_key(redis_runtime, cached)) is None  # the flag is still fresh
    store.heartbeat(_info("new-worker"))  # a beat within LAYOUT_CHECK_S does not ask (no ZCOUNTs)
    assert store._older_alive is False
    store._older_checked = 0.0  # LAYOUT_CHECK_S later: the next beat's reply brings the news
    store.heartbeat(_info("new-worker"))
    assert store._older_alive is True
    ids = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"during-{i}")) for i in range(3)])
    for job_id in ids:
        whole = json.loads(_raw(redis_client, record_key(redis_runtime, job_id)))  # one JSON object
        assert whole["id"] == job_id and whole["state"] == "queued" and whole["rmid"] == job_id
        record = get_job(job_id)
        assert record is not None and record.state is JobState.QUEUED
    # It stops: a producer that is no worker learns it once its flag is stale.
    redis_client.zrem(f"{ns}:gd:workers", "older-worker")
    store._older_checked = 0.0
    (after,) = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email("after"))])
    assert store._older_alive is False
    assert redis_client.get(record_key(redis_runtime, after)) is None
    # ...and one that had never looked learns it on its first submit.
    redis_client.zadd(f"{ns}:gd:workers", {"older-worker": now_ms()})
    store._older_checked, store._older_alive = 0.0, None
    (again,) = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email("again"))])
    assert store._older_alive is True and b"\n" not in _raw(redis_client, record_key(redis_runtime, again))
    store.forget_worker("new-worker")
    assert redis_client.zscore(f"{ns}:gd:workers:layout2", "new-worker") is None
    assert redis_client.zscore(f"{ns}:gd:workers:layout3", "new-worker") is None
    for job_id in (first, cached, after):
        record = get_job(job_id)
        assert record is not None and record.state is JobState.QUEUED and record.id == job_id


def test_jobs_of_old_layout_run_through_jobs_lua(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    """Written old while an older worker lived, run by this version: hot.lua leaves them to jobs.lua."""
    store = redis_store(redis_runtime)
    store._set_older(True)
    (message,) = _fetched(redis_runtime, 1)
    key = record_key(redis_runtime, message.message_id)
    assert b"\n" not in _raw(redis_client, key)
    assert store.start(message, "test-worker", None).verdict is Verdict.RUN
    success = Success(message.message_id, '"ok"', 4, now_ms(), Delivery(*delivery(redis_runtime, message)))
    assert store.succeed_many([success]) == 1
    record = get_job(message.message_id)
    assert record is not None and record.state is JobState.SUCCEEDED and record.result == "ok"
    assert b"\n" not in _raw(redis_client, key) and _unacked(redis_runtime, redis_client) == 0
