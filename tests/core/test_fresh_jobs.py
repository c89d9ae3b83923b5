"""A new job waits in Redis as its Dramatiq message alone (keys.py `fresh`): no record until its
first transition, which builds the record from the message (shared.lua `fresh_record`). Readers
must not be able to tell: every view of a waiting job is the record `submit` would have written,
byte for byte, and every operator action and worker path works on it as on a recorded job."""

from __future__ import annotations

import itertools

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
    get_job,
    list_jobs,
    queue_stats,
)
from gemsdash.queue.ids import resolve
from gemsdash.queue.jobs import MAX_DELAY_MS, Priority
from gemsdash.queue.producer import prepare
from gemsdash.queue.registry import definitions
from gemsdash.queue.store import JobPage, encode_record
from tests.core.redis_records import QUEUE, record_key, redis_store
from tests.core.workload import email, scripted
from tests.support import state_of, text, wait_for

#: Payload text JSON escapes, and text that looks like the message's own structure.
HOSTILE_NAMES = [
    'quote " and backslash \\ and /slash',
    "new\nline\ttab\x01ctl\x7fdel",
    "café ünïcode 😀 中文",
    '],"kwargs":{},"options":{"max_retries":99,"min_backoff":1,"max_backoff":1',
    '"},"message_id":"x","message_timestamp":1}',
]


def _fresh_ids(client: redis.Redis, rt: Runtime, queue: str = QUEUE) -> set[str]:
    members = client.zrange(f"{rt.settings.namespace}:gd:fresh:{queue}", 0, -1)
    return {text(m) for m in members if isinstance(m, bytes | str)}


def _requests() -> list[JobRequest]:
    """Every job type's example at every priority, hostile payloads, and each backoff its message
    can tell apart."""
    requests = [
        JobRequest(d.name, d.example, priority=p) for d in definitions().values() if d.example for p in Priority
    ]
    requests += [JobRequest(JobType.EMAIL_NOTIFICATION, email(name)) for name in HOSTILE_NAMES]
    requests += [
        JobRequest(JobType.EMAIL_NOTIFICATION, email("fixed"), backoff={"type": "fixed", "delay": 250}),
        JobRequest(JobType.EMAIL_NOTIFICATION, email("jitter"), backoff={"delay": 7, "jitter": 0.25}),
        JobRequest(JobType.EMAIL_NOTIFICATION, email("one try"), attempts=1),
        JobRequest(JobType.EMAIL_NOTIFICATION, email("long fixed"), backoff={"type": "fixed", "delay": MAX_DELAY_MS}),
    ]
    return requests


def test_a_waiting_job_reads_as_the_record_submit_would_have_written(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    store = redis_store(redis_runtime)
    subs = [prepare(r, redis_runtime.settings.max_payload_bytes) for r in _requests()]
    store.submit(subs)
    for sub in subs:
        job_id = sub.record["id"]
        assert redis_client.exists(record_key(redis_runtime, job_id)) == 0, "it waits with no record"
        expected = encode_record(dict(sub.record, rq=sub.message.queue_name, rmid=sub.message.message_id))
        (built,) = store._call("get", job_id)
        assert built.decode() == expected, sub.record["payload"]
        record = get_job(job_id)
        assert record is not None and record.state is JobState.QUEUED and record.attempts == 0
    assert _fresh_ids(redis_client, redis_runtime) >= {s.record["id"] for s in subs if s.record["queue"] == QUEUE}


@pytest.mark.parametrize(
    ("what", "request_"),
    [
        ("no wait between retries", JobRequest(JobType.EMAIL_NOTIFICATION, email("zero"), backoff={"delay": 0})),
        (
            "the longest exponential backoff",
            JobRequest(JobType.EMAIL_NOTIFICATION, email("long"), backoff={"delay": MAX_DELAY_MS}),
        ),
        ("a delay", JobRequest(JobType.EMAIL_NOTIFICATION, email("later"), delay=60_000)),
    ],
)
def test_a_job_its_message_cannot_describe_keeps_its_record(
    redis_runtime: Runtime, redis_client: redis.Redis, what: str, request_: JobRequest
) -> None:
    (job_id,) = add_jobs([request_])
    assert redis_client.exists(record_key(redis_runtime, job_id)) == 1, what
    assert job_id not in _fresh_ids(redis_client, redis_runtime)


def _page_ids(page: JobPage) -> list[str]:
    return [j.id for j in page.jobs]


def test_pages_merge_jobs_with_and_without_records_at_every_offset(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """`queued` and all-states pages are two indexes merged by bisection: every offset and size must
    give the same order as all the jobs sorted newest first, whatever the mix."""
    ids: list[str] = []
    for n in range(14):  # runs of each kind, several per millisecond
        recorded = n % 3 == 0
        batch = [
            JobRequest(JobType.EMAIL_NOTIFICATION, email(f"mix-{n}-{i}"), backoff={"delay": 0} if recorded else None)
            for i in range(1 + n % 4)
        ]
        ids += add_jobs(batch)
    fresh = _fresh_ids(redis_client, redis_runtime)
    assert 0 < len(fresh) < len(ids)
    records = {i: get_job(i) for i in ids}
    order = sorted(ids, key=lambda i: (records[i].created_at, i), reverse=True)  # type: ignore[union-attr]
    for state in (JobState.QUEUED, None):
        whole = list_jobs(QUEUE, state, limit=100)
        assert whole.total == len(ids)
        assert sorted(_page_ids(whole)) == sorted(ids)
        # Newest first by creation; within one millisecond each index has its own order.
        created = [records[i].created_at for i in _page_ids(whole)]  # type: ignore[union-attr]
        assert created == sorted(created, reverse=True)
        for offset, limit in itertools.product(range(len(ids) + 1), (1, 3, 7)):
            page = list_jobs(QUEUE, state, limit=limit, offset=offset)
            assert _page_ids(page) == _page_ids(whole)[offset : offset + limit], (state, offset, limit)
    assert {records[i].created_at for i in order} == {records[i].created_at for i in ids}  # type: ignore[union-attr]


def test_search_counts_oldest_and_id_prefixes_see_jobs_without_records(redis_runtime: Runtime) -> None:
    payload = {"to": "needle@example.com", "template": "welcome", "context": {"name": "n"}}
    (job_id,) = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, payload)])
    assert resolve(job_id[:10]) == job_id
    assert redis_store(redis_runtime).find_ids(job_id[:10], 5) == [job_id]
    assert _page_ids(list_jobs(QUEUE, None, search="needle@")) == [job_id]
    assert _page_ids(list_jobs(QUEUE, JobState.QUEUED, search=job_id[:8])) == [job_id]
    stats = queue_stats().queues[QUEUE]
    assert stats.counts[JobState.QUEUED] == 1 and stats.oldest_queued_at is not None
    record = get_job(job_id)
    assert record is not None and stats.oldest_queued_at == record.created_at


def test_cancel_and_clear_write_the_record_they_change(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    levels = list(Priority)
    ids = add_jobs(
        [JobRequest(JobType.EMAIL_NOTIFICATION, email(f"c-{i}"), priority=levels[i % len(levels)]) for i in range(80)]
    )
    cancel(ids[0])
    record = get_job(ids[0])
    assert record is not None and record.state is JobState.CANCELLED
    assert [e.state for e in record.timeline] == [JobState.QUEUED, JobState.CANCELLED]
    assert record.payload["context"] == {"name": "c-0"}
    result = clear(QUEUE)  # in steps of 10 records, so most were deep in their lists when first seen
    assert result.removed[JobState.QUEUED.value] == 79
    assert _fresh_ids(redis_client, redis_runtime) == set()
    for job_id in ids:
        assert state_of(job_id) is JobState.CANCELLED
    stats = queue_stats().queues[QUEUE]
    assert stats.counts[JobState.QUEUED] == 0 and stats.counts[JobState.CANCELLED] == 80
    assert redis_client.hlen(f"{redis_runtime.settings.namespace}:{QUEUE}.msgs") == 0


def test_a_clear_takes_every_job_waiting_when_it_began_however_many_steps_that_is(
    redis_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clear is steps of a few jobs; it takes as many as the jobs waiting at its start need. A
    fixed number of steps once stopped a clear of more than 100,000 jobs short, and said nothing."""
    monkeypatch.setattr("gemsdash.queue.redis_store.store._CLEAR_EXTRA_STEPS", 0)
    levels = list(Priority)
    add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"n-{i}"), priority=levels[i % 4]) for i in range(95)])
    add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"d-{i}"), delay=60_000) for i in range(23)])
    result = clear(QUEUE)
    assert result.removed == {"queued": 95, "delayed": 23, "retrying": 0}
    stats = queue_stats().queues[QUEUE]
    assert stats.counts[JobState.QUEUED] == 0 and stats.counts[JobState.DELAYED] == 0
    assert stats.counts[JobState.CANCELLED] == 118


def test_a_worker_runs_jobs_without_records_to_the_end(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    requests = [JobRequest(JobType.EMAIL_NOTIFICATION, email(f"ok-{i}"), priority=p) for i, p in enumerate(Priority)]
    requests += [JobRequest(JobType.EMAIL_NOTIFICATION, email(name)) for name in HOSTILE_NAMES]
    requests.append(JobRequest(JobType.EMAIL_NOTIFICATION, email("fail-once"), backoff={"delay": 5}))
    ids = add_jobs(requests)
    with scripted():
        redis_runtime.start_worker(threads=2)
        wait_for(
            lambda: all(state_of(j) is JobState.SUCCEEDED for j in ids[:-1]), timeout=30, what="the others succeeded"
        )
        wait_for(lambda: state_of(ids[-1]) is JobState.DEAD, timeout=30, what="the failing job dead")
    assert _fresh_ids(redis_client, redis_runtime) == set()
    for job_id, request_ in zip(ids, requests, strict=True):
        record = get_job(job_id)
        assert record is not None and record.payload["context"] == request_.payload["context"]
        assert [e.state for e in record.timeline][:2] == [JobState.QUEUED, JobState.RUNNING]
    every = list_jobs(QUEUE, None, limit=100)
    assert sorted(_page_ids(every)) == sorted(ids)
    assert queue_stats().queues[QUEUE].counts[JobState.QUEUED] == 0


def test_an_older_worker_alive_means_every_job_gets_its_record(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """A worker of the split layout (it beats `layout2`, not `layout3`) would take a job with no
    record for one that came without gemsdash: while it lives, records are written."""
    ns = redis_runtime.settings.namespace
    store = redis_store(redis_runtime)
    for key in ("workers", "workers:layout2"):
        redis_client.zadd(f"{ns}:gd:{key}", {"split-layout-worker": 10**13})
    store._older_checked = 0.0
    (job_id,) = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email("kept"))])
    assert redis_client.exists(record_key(redis_runtime, job_id)) == 1
    assert _fresh_ids(redis_client, redis_runtime) == set()


@pytest.mark.parametrize(("raw", "readable"), [("\x01\x1b[31m", True), ("\n", False), ("\x00", False)])
def test_a_message_edited_to_hold_raw_control_bytes_breaks_no_reader(
    redis_runtime: Runtime, redis_client: redis.Redis, raw: str, readable: bool
) -> None:
    """A waiting job's record is built from its message: bytes json.dumps never writes, put there by
    hand, must not break a reader. Control characters are read as they are (and shown scrubbed); a
    newline or a NUL, which the record could not hold as written, leave the job unread, not guessed."""
    (job_id,) = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email("edited"))])
    msgs = f"{redis_runtime.settings.namespace}:{QUEUE}.msgs"
    data = redis_client.hget(msgs, job_id)
    assert isinstance(data, bytes)
    redis_client.hset(msgs, job_id, data.replace(b'"edited"', b'"ed' + raw.encode() + b'ited"'))
    record = get_job(job_id)
    if readable:
        assert record is not None and record.payload["context"]["name"] == f"ed{raw}ited"
    else:
        assert record is None
    page = list_jobs(QUEUE, None)
    assert page.total == 1 and [j.id for j in page.jobs] == ([job_id] if readable else [])
    assert queue_stats().queues[QUEUE].counts[JobState.QUEUED] == 1
