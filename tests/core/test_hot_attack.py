"""An outside tester's attack on the split record layout and hot.lua (issue 19, round 3): hostile
content in payloads and results, records of the previous layout through every operator action, the
trimmed timeline, an evicted record between start and succeed. Each checks what a user sees (the
record, `gemsdash job --json`, list/search) and that jobs.lua can still decode what hot.lua wrote."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from gemsdash.queue import (
    JobRequest,
    JobState,
    JobType,
    Runtime,
    add_jobs,
    cancel,
    clear,
    delete,
    get_job,
    list_jobs,
    queue_stats,
    retry,
    run_now,
)
from gemsdash.queue.jobs import now_ms
from gemsdash.queue.store import Settlement, Success, Verdict, encode_record, parse_record
from tests.core.redis_records import QUEUE, delivery, fetch, record_key, redis_store
from tests.core.workload import email, scripted
from tests.support import Cli, state_of, wait_for

#: Strings a payload or a result may hold that a string-editing script could trip on.
HOSTILE = [
    "line\nbreak",
    "cr\rlf\r\n",
    "sep\u2028para\u2029",
    "nul\x00byte",
    '"state":"queued"',
    '{"state":"running","queue":"x","attempts":1}\n["queued",1],["running",2]\n{}',
    '"},"state":"succeeded","x":{"',
    "back\\slash\\\\",
    "ünïcødé 😀 \x7f",
    "]\n[",
    '["queued",1],["running",2]',
]


def _result_text(value: Any) -> str:
    """A job's result as tracking.py stores it."""
    return json.JSONEncoder(separators=(",", ":"), default=str).encode(value)


def _raw(client: redis.Redis, key: str) -> bytes:
    raw = client.get(key)
    assert isinstance(raw, bytes)
    return raw


def test_hostile_payloads_and_results_round_trip_through_hot_lua(
    redis_runtime: Runtime, redis_client: redis.Redis, cli: Cli
) -> None:
    names = [*HOSTILE, "x" * 60_000]
    ids = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(n)) for n in names])
    store = redis_store(redis_runtime)
    messages = {m.message_id: m for m in fetch(redis_runtime, len(ids))}
    for job_id in ids:
        assert store.start(messages[job_id], "host-ü:1", None).verdict is Verdict.RUN
        assert b'"state":"running"' in _raw(redis_client, record_key(redis_runtime, job_id)).split(b"\n")[0]
    results: dict[str, Any] = {
        job_id: {"echo": name, "nested": [[[{"s": name}]]], "big": "y" * (2_000_000 if i == 0 else 10)}
        for i, (job_id, name) in enumerate(zip(ids, names, strict=True))
    }
    ended = now_ms()
    successes = [Success(i, _result_text(results[i]), 5, ended, delivery(redis_runtime, messages[i])) for i in ids]
    assert store.succeed_many(successes) == len(ids)
    for job_id, name in zip(ids, names, strict=True):
        raw = _raw(redis_client, record_key(redis_runtime, job_id))
        assert raw.count(b"\n") == 2 and raw.startswith(b'{"state":"succeeded",')
        record = get_job(job_id)
        assert record is not None and record.state is JobState.SUCCEEDED
        assert record.payload["context"]["name"] == name
        assert record.result == results[job_id]
        assert [e.state for e in record.timeline] == [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]
    shown = json.loads(cli("job", ids[0], "--json").stdout)
    assert shown["state"] == "succeeded" and shown["result"]["echo"] == names[0]
    # jobs.lua decodes every record it scans (a priority filter, a search of payloads and errors).
    assert list_jobs(QUEUE, priority="normal").total == len(ids)
    assert list_jobs(QUEUE, search="someone@example", priority="normal").total == len(ids)
    listed = json.loads(cli("jobs", QUEUE, "--search", "someone@example", "--json").stdout)
    assert len(listed["jobs"]) == len(ids)
    stats = queue_stats().queues[QUEUE]
    assert stats.counts[JobState.SUCCEEDED] == len(ids) and stats.counts[JobState.RUNNING] == 0


def test_hostile_records_go_through_jobs_lua_transitions(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    """A record hot.lua wrote, then jobs.lua's own transitions on it (a failure, a retry, a cancel,
    a delete): cjson must decode what the string edits produced."""
    ids = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(n)) for n in HOSTILE])
    store = redis_store(redis_runtime)
    messages = {m.message_id: m for m in fetch(redis_runtime, len(ids))}
    for job_id in ids:
        assert store.start(messages[job_id], "w", None).verdict is Verdict.RUN
        error = json.dumps({"type": "RuntimeError", "message": HOSTILE[0] + "\u2028" + '"state":"queued"'})
        assert store.finish(job_id, JobState.DEAD, error, duration_ms=3).verdict is Verdict.OK
    for job_id in ids:
        record = get_job(job_id)
        assert record is not None and record.state is JobState.DEAD
        retry(job_id)
        record = get_job(job_id)
        assert record is not None and record.state is JobState.QUEUED and record.attempts == 0
        cancel(job_id)
        delete(job_id)
        assert redis_client.exists(record_key(redis_runtime, job_id)) == 0


def _as_old_record(client: redis.Redis, key: str) -> None:
    """Rewritten as versions before the split layout wrote it (one JSON object, nulls kept)."""
    record = parse_record(_raw(client, key))
    record["timeline"] = [[*e, None] if len(e) == 2 else e for e in record["timeline"]]
    client.set(key, json.dumps(record), keepttl=True)


@pytest.mark.parametrize("action", ["cancel", "clear", "run_now", "dead_retry_delete", "search", "page"])
def test_an_old_layout_record_through_operator_actions(
    redis_runtime: Runtime, redis_client: redis.Redis, action: str
) -> None:
    delayed = action == "run_now"
    # (a record while it waits: its retries wait no time, which its message cannot say)
    request = JobRequest(
        JobType.EMAIL_NOTIFICATION, email('old "one"\n'), delay=60_000 if delayed else None, backoff={"delay": 0}
    )
    (job_id,) = add_jobs([request])
    key = record_key(redis_runtime, job_id)
    _as_old_record(redis_client, key)
    assert b"\n" not in _raw(redis_client, key)
    store = redis_store(redis_runtime)
    if action == "cancel":
        cancel(job_id)
        expected = JobState.CANCELLED
    elif action == "clear":
        assert clear(QUEUE).total == 1
        expected = JobState.CANCELLED
    elif action == "run_now":
        run_now(job_id)
        expected = JobState.QUEUED
    elif action == "dead_retry_delete":
        (message,) = fetch(redis_runtime, 1)
        assert store.start(message, "w", None).verdict is Verdict.RUN
        _as_old_record(redis_client, key)
        assert store.finish(job_id, JobState.DEAD, '{"type":"E","message":"boom"}', duration_ms=1).verdict is Verdict.OK
        _as_old_record(redis_client, key)
        retry(job_id)
        assert get_job(job_id).state is JobState.QUEUED  # type: ignore[union-attr]
        _as_old_record(redis_client, key)
        cancel(job_id)
        _as_old_record(redis_client, key)
        delete(job_id)
        assert redis_client.exists(key) == 0
        return
    elif action == "search":
        assert [j.id for j in list_jobs(QUEUE, search="someone@", priority="normal").jobs] == [job_id]
        expected = JobState.QUEUED
    else:
        assert [j.id for j in list_jobs(QUEUE, JobState.QUEUED).jobs] == [job_id]
        expected = JobState.QUEUED
    record = get_job(job_id)
    assert record is not None and record.state is expected
    assert record.payload["context"]["name"] == 'old "one"\n'


def test_an_evicted_record_between_start_and_succeed_is_not_resurrected(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """allkeys-lru may drop a running record: hot.lua's succeed must ack the message and write no
    half record (a record without BODY would break every reader)."""
    ids = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"e{i}")) for i in range(3)])
    store = redis_store(redis_runtime)
    messages = {m.message_id: m for m in fetch(redis_runtime, 3)}
    for job_id in ids:
        assert store.start(messages[job_id], "w", None).verdict is Verdict.RUN
    redis_client.delete(record_key(redis_runtime, ids[0]))
    ended = now_ms()
    successes = [Success(i, '"ok"', 1, ended, delivery(redis_runtime, messages[i])) for i in ids]
    assert store.succeed_many(successes) == 2
    assert store.succeed_many(successes) == 0  # resent after a lost reply
    assert redis_client.exists(record_key(redis_runtime, ids[0])) == 0
    acks = f"{redis_runtime.settings.namespace}:__acks__.{redis_runtime.broker.broker_id}.{QUEUE}"  # type: ignore[attr-defined]
    assert redis_client.scard(acks) == 0
    assert queue_stats().queues[QUEUE].finished_total["succeeded"] == 2


def test_a_timeline_at_its_limit_is_trimmed_by_jobs_lua(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    (job_id,) = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email("long"), backoff={"delay": 0})])
    key = record_key(redis_runtime, job_id)
    record = parse_record(_raw(redis_client, key))
    store = redis_store(redis_runtime)
    most = store.limits.timeline_max
    stamp = record["timeline"][0][1]
    (message,) = fetch(redis_runtime, 1)
    for filler in (most - 3, most - 2, most - 1, most):
        record["timeline"] = [["queued", stamp]] * filler
        redis_client.set(key, encode_record(record))
        redis_client.zadd(f"{redis_runtime.settings.namespace}:gd:idx:{QUEUE}:queued", {job_id: stamp})
        assert store.start(message, "w", None).verdict is Verdict.RUN
        started = get_job(job_id)
        assert started is not None and len(started.timeline) <= most
        assert started.timeline[-1].state is JobState.RUNNING
        ended = now_ms()
        store.succeed_many([Success(job_id, '"ok"', 1, ended, None)])
        done = get_job(job_id)
        assert done is not None and done.state is JobState.SUCCEEDED and len(done.timeline) <= most
        assert done.timeline[-1].state is JobState.SUCCEEDED and done.timeline[-2].state is JobState.RUNNING
        record = parse_record(_raw(redis_client, key))
        for field in ("started_at", "worker", "finished_at", "duration_ms", "result"):
            record.pop(field, None)
        record["state"] = "queued"
        record["attempts"] = 0


def test_old_and_hostile_records_through_the_http_api_and_an_abort(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """The API's job, list and dashboard reads of a hot.lua record, an old-layout one and an
    aborted one (jobs.lua's `aborted` on a record hot.lua started)."""
    from tests.http.conftest import http_settings, live_server

    ids = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(n)) for n in HOSTILE[:4]])
    store = redis_store(redis_runtime)
    messages = {m.message_id: m for m in fetch(redis_runtime, 4)}
    for job_id in ids:
        assert store.start(messages[job_id], "w", None).verdict is Verdict.RUN
    store.succeed_many(
        [Success(ids[0], _result_text({"r": HOSTILE[5]}), 1, now_ms(), delivery(redis_runtime, messages[ids[0]]))]
    )
    _as_old_record(redis_client, record_key(redis_runtime, ids[1]))  # running, as an older worker left it
    assert store.request_abort(ids[2], "op", "").verdict is Verdict.OK
    assert store.aborted(ids[2], '{"type":"JobAborted","message":"stop\\n"}', 4).verdict is Verdict.OK
    with live_server(http_settings()) as api:
        shown = {i: api.get(f"/queue/jobs/{i}").json() for i in ids}
        listed = api.get(f"/queue/stats/{QUEUE}").status_code
        dashboard = api.get("/queue/dashboard")
    assert shown[ids[0]]["state"] == "succeeded" and shown[ids[0]]["result"] == {"r": HOSTILE[5]}
    assert shown[ids[1]]["state"] == "running" and shown[ids[1]]["payload"]["context"]["name"] == HOSTILE[1]
    assert shown[ids[2]]["state"] == "cancelled" and shown[ids[3]]["state"] == "running"
    assert listed == 200 and dashboard.status_code == 200
    assert {j.id for j in list_jobs(QUEUE).jobs} == set(ids)


def test_a_retry_then_success_moves_between_hot_lua_and_jobs_lua(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """hot.lua's start, jobs.lua's retrying finish and handoff, jobs.lua's start and succeed (the
    record has an error now), then an operator's retry of the cancelled copy back through hot.lua."""
    (job_id,) = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(HOSTILE[0]))])
    store = redis_store(redis_runtime)
    (first,) = fetch(redis_runtime, 1)
    assert (
        store._worker_call("start", first.message_id, first.options["redis_message_id"], QUEUE, "w", 1, QUEUE, hot=True)
        == b"run"
    )
    error = json.dumps({"type": "RuntimeError", "message": "flaky\n"})
    assert store.finish(job_id, JobState.RETRYING, error, duration_ms=2, next_attempt_ms=now_ms()).verdict is Verdict.OK
    assert store.handoff(job_id).verdict is Verdict.OK
    second = first.copy(options={**first.options, "retries": 1})
    hot_reply = store._worker_call("start", job_id, first.options["redis_message_id"], QUEUE, "w", 2, QUEUE, hot=True)
    assert hot_reply == b"slow"  # the record carries the error: jobs.lua's start
    assert store.start(second, "w", None).verdict is Verdict.RUN
    assert store.succeed_many([Success(job_id, '"second"', 3, now_ms(), None)]) == 1
    record = get_job(job_id)
    assert record is not None and record.state is JobState.SUCCEEDED and record.attempts == 2
    assert record.result == "second" and record.error is None
    states = [e.state for e in record.timeline]
    assert states == [
        JobState.QUEUED,
        JobState.RUNNING,
        JobState.RETRYING,
        JobState.QUEUED,
        JobState.RUNNING,
        JobState.SUCCEEDED,
    ]
    stats = queue_stats().queues[QUEUE]
    assert stats.attempts_total["succeeded"] == 1 and stats.attempts_total["retried"] == 1
    assert stats.finished_total["succeeded"] == 1 and stats.counts[JobState.RUNNING] == 0


def test_one_unreadable_record_does_not_strand_the_rest_of_a_success_batch(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """jobs.lua's `succeed` acked every message of its batch before decoding the records: one
    record cjson cannot read (written by hand, by a tool, by a later version) made the call fail
    after the acks, so every job of the batch stayed `running` with its message gone (recovery only
    requeues held messages): stranded, while the worker logs that they "stay unacknowledged". An
    older worker meeting this version's records lost its jobs that way. Now an unreadable record's
    job is left alone, message held, and the others are written and acked."""
    ids = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"b{i}")) for i in range(5)])
    store = redis_store(redis_runtime)
    messages = {m.message_id: m for m in fetch(redis_runtime, 5)}
    for job_id in ids:
        assert store.start(messages[job_id], "w", None).verdict is Verdict.RUN
        _as_old_record(redis_client, record_key(redis_runtime, job_id))  # left to jobs.lua by hot.lua
    redis_client.set(record_key(redis_runtime, ids[1]), b'{"state":"running","queue":"email-notification",')
    redis_client.set(record_key(redis_runtime, ids[3]), b"null")
    redis_client.set(record_key(redis_runtime, ids[4]), b'{"state":"running"}')  # JSON, but no id or queue
    ended = now_ms()
    successes = [Success(i, '"ok"', 1, ended, delivery(redis_runtime, messages[i])) for i in ids]
    assert store.succeed_many(successes) == 2
    for job_id in (ids[0], ids[2]):
        record = get_job(job_id)
        assert record is not None and record.state is JobState.SUCCEEDED
    acks = f"{redis_runtime.settings.namespace}:__acks__.{redis_runtime.broker.broker_id}.{QUEUE}"  # type: ignore[attr-defined]
    unreadable = {messages[ids[n]].options["redis_message_id"].encode() for n in (1, 3, 4)}
    assert redis_client.smembers(acks) == unreadable
    assert redis_client.hexists(
        f"{redis_runtime.settings.namespace}:{QUEUE}.msgs", messages[ids[1]].options["redis_message_id"]
    )
    assert store.succeed_many(successes) == 0  # resent: nothing more, the unreadable one still held
    assert redis_client.scard(acks) == 3


def test_an_unreadable_record_fails_finish_before_its_message_is_settled(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """jobs.lua's `finish` settled the message (the nack to the dead-letter queue) before reading
    the record: an unreadable record then failed the call with the message dead-lettered and the
    record unchanged. Now the call fails first, nothing written, the message still held, so the job
    runs again once the record is mended (or recovery hands it out) instead of being stranded."""
    (job_id,) = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email("f0"))])
    store = redis_store(redis_runtime)
    (message,) = fetch(redis_runtime, 1)
    assert store.start(message, "w", None).verdict is Verdict.RUN
    redis_client.set(record_key(redis_runtime, job_id), b'{"state":"running","queue":"email-notification",')
    rmid = message.options["redis_message_id"]
    error = json.dumps({"type": "Boom", "message": "boom", "traceback": None})
    with pytest.raises(Exception, match=r"(?i)json|decode|expected"):
        store.finish(
            job_id, JobState.DEAD, error, duration_ms=1, settle=Settlement(delivery(redis_runtime, message), None)
        )
    acks = f"{redis_runtime.settings.namespace}:__acks__.{redis_runtime.broker.broker_id}.{QUEUE}"  # type: ignore[attr-defined]
    assert redis_client.smembers(acks) == {rmid.encode()}
    assert redis_client.hexists(f"{redis_runtime.settings.namespace}:{QUEUE}.msgs", rmid)
    assert redis_client.zcard(f"{redis_runtime.settings.namespace}:{QUEUE}.XQ") == 0


def test_a_success_after_a_delay_is_written_with_the_wait_from_its_queued_stamp(redis_runtime: Runtime) -> None:
    """hot.lua's `succeed` reads the wait histogram's two stamps from the timeline: where it begins
    for a first delivery (queued, running), from its end for a longer one (delayed, queued,
    running). Each job is written once, with its own wait."""
    fresh_id, delayed_id = add_jobs(
        [
            JobRequest(JobType.EMAIL_NOTIFICATION, email("first")),
            JobRequest(JobType.EMAIL_NOTIFICATION, email("later"), delay=200),
        ]
    )
    with scripted():
        redis_runtime.start_worker(threads=2)
        wait_for(lambda: all(state_of(j) is JobState.SUCCEEDED for j in (fresh_id, delayed_id)), what="both succeeded")
        redis_runtime.stop_worker()
    waits = []
    for job_id, states in (
        (fresh_id, [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]),
        (delayed_id, [JobState.DELAYED, JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]),
    ):
        record = get_job(job_id)
        assert record is not None and record.attempts == 1 and record.error is None
        assert [e.state for e in record.timeline] == states
        queued, running = (e.at for e in record.timeline if e.state in (JobState.QUEUED, JobState.RUNNING))
        waits.append(max(round((running - queued).total_seconds() * 1000), 0))
    stats = queue_stats().queues[QUEUE]
    assert stats.wait_count == 2 and stats.wait_sum_ms == sum(waits)
    assert stats.finished_total["succeeded"] == 2 and stats.counts[JobState.RUNNING] == 0
