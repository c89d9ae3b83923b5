"""One contract, two stores: every transition and read of `JobStore`, run against the memory store
and the Redis store (jobs.lua) alike, so that the two state machines cannot drift apart.

Where the two differ by design it is said here: a message a worker holds in Redis is found in its
ack set (`_hold`), the stub broker hands over only what it holds; memory mode loses its waiting
jobs with the process (`lost_on_exit`), Redis keeps them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from dramatiq import Message

from gemsdash.queue import JobRequest, JobState, JobType, Priority
from gemsdash.queue.dramatiq_internals import dramatiq_key
from gemsdash.queue.jobs import now_ms
from gemsdash.queue.limits import LIMITS, Limits
from gemsdash.queue.memory_store import MemoryJobStore
from gemsdash.queue.messages import all_physical_queues
from gemsdash.queue.producer import prepare
from gemsdash.queue.redis_store import RedisJobStore
from gemsdash.queue.store import (
    JobStore,
    Settlement,
    Submission,
    Success,
    Transition,
    Verdict,
    WorkerInfo,
    histogram_slot,
)
from gemsdash.queue.stub_broker import EmbeddedStubBroker
from tests.conftest import _drop_namespace
from tests.core.workload import email

QUEUE = JobType.EMAIL_NOTIFICATION.queue
WORKER = "contract-worker"
ERROR = json.dumps({"type": "RuntimeError", "message": "smtp exploded", "traceback": None})

MakeStore = Callable[[Limits], JobStore]


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest, namespace: str) -> Iterator[MakeStore]:
    """Stores of one mode, built with the given state-machine limits."""
    clients: list[redis.Redis] = []

    def make(limits: Limits) -> JobStore:
        if request.param == "memory":
            broker = EmbeddedStubBroker(middleware=[])
            for name in all_physical_queues(with_delay=False):
                broker.declare_queue(name)
            return MemoryJobStore(broker, finished_ttl=3600, dead_ttl=7200, worker_timeout_ms=2000, limits=limits)
        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        clients.append(client)
        return RedisJobStore(
            client,
            namespace=namespace,
            finished_ttl=3600,
            dead_ttl=7200,
            worker_timeout_ms=2000,
            display_url="redis://127.0.0.1:6379/0",
            limits=limits,
        )

    yield make
    if clients:
        _drop_namespace(clients[0], namespace)
        for client in clients:
            client.close()


@pytest.fixture
def store(make_store: MakeStore) -> JobStore:
    return make_store(LIMITS)


def _submit(store: JobStore, name: str = "a", **request: Any) -> Submission:
    sub = prepare(JobRequest(JobType.EMAIL_NOTIFICATION, email(name), **request), 1 << 20)
    store.submit([sub])
    return sub


def _state(store: JobStore, job_id: str) -> JobState | None:
    record = store.get(job_id)
    return record.state if record is not None else None


def _started(store: JobStore, name: str = "a", **request: Any) -> Submission:
    sub = _submit(store, name, **request)
    _hold(store, sub)
    assert store.start(sub.message, WORKER, None) == Transition(Verdict.RUN)
    return sub


def _hold(store: JobStore, sub: Submission) -> None:
    """The message as a worker holds it after a fetch: in Redis, moved from its queue to the
    worker's ack set (Dramatiq's keys); the stub broker holds what it hands over."""
    if isinstance(store, RedisJobStore):
        rmid = sub.message.options["redis_message_id"]
        store.client.lrem(dramatiq_key("queue", store.namespace, rq=QUEUE), 1, rmid)
        store.client.sadd(dramatiq_key("acks", store.namespace, worker=WORKER, rq=QUEUE), rmid)


def _stats(store: JobStore) -> Any:
    return store.snapshot().queues[QUEUE]


def test_submit_counts_lists_and_finds_a_job(store: JobStore) -> None:
    sub = _submit(store, priority="high")
    job_id = sub.record["id"]
    assert _state(store, job_id) is JobState.QUEUED
    stats = _stats(store)
    assert stats.counts[JobState.QUEUED] == 1
    assert stats.enqueued_total["high"] == 1
    assert stats.oldest_queued_at is not None
    assert store.find_ids(job_id[:8], 10) == [job_id]
    page = store.page(QUEUE, JobState.QUEUED, 0, 10)
    assert (page.total, [j.id for j in page.jobs]) == (1, [job_id])
    assert store.get_many([job_id, "nope"])[1] is None


def test_start_runs_a_job_once_and_skips_a_finished_one(store: JobStore) -> None:
    sub = _started(store)
    record = store.get(sub.record["id"])
    assert record is not None and record.state is JobState.RUNNING and record.attempts == 1
    assert store.finish(sub.record["id"], JobState.SUCCEEDED, '"sent"', duration_ms=30).ok
    # Counted by the time the run has ended (memory: at the start; Redis: with the outcome, which
    # spares `start` two commands per job).
    assert _stats(store).wait_count == 1, "the time it waited queued is observed once"
    assert store.start(sub.message, WORKER, None) == Transition(Verdict.SKIP, "succeeded")


def test_start_without_a_record_needs_the_fallback(store: JobStore) -> None:
    message: Message[Any] = Message(queue_name=QUEUE, actor_name="x", args=({"to": "a@b.c"},), kwargs={}, options={})
    assert store.start(message, WORKER, None).verdict is Verdict.MISSING
    from gemsdash.queue.messages import fallback_record

    assert store.start(message, WORKER, fallback_record(message)).verdict is Verdict.RUN
    record = store.get(message.message_id)
    assert record is not None and record.state is JobState.RUNNING
    assert record.timeline[-1].note == "no record: message did not come through gemsdash"


def test_success_is_recorded_once_and_counted(store: JobStore) -> None:
    sub = _started(store)
    job_id = sub.record["id"]
    assert store.finish(job_id, JobState.SUCCEEDED, '"sent"', duration_ms=30) == Transition(Verdict.OK)
    assert store.finish(job_id, JobState.SUCCEEDED, '"sent"', duration_ms=30).verdict is Verdict.UNCHANGED
    record = store.get(job_id)
    assert record is not None and record.state is JobState.SUCCEEDED and record.result == "sent"
    stats = _stats(store)
    assert stats.finished_total["succeeded"] == 1
    assert stats.attempts_total["succeeded"] == 1
    assert stats.duration_buckets == {histogram_slot(30, (10, 50)): 1} == {"50": 1}
    assert (stats.duration_sum_ms, stats.duration_count) == (30, 1)
    assert stats.finished_per_bucket[-1] == (1, 0)
    assert stats.avg_duration_ms == 30
    assert len(stats.finished_per_bucket) == 30


def test_succeed_many_writes_each_success_once(store: JobStore) -> None:
    subs = [_started(store, f"s{i}") for i in range(3)]
    ended = now_ms()
    batch = [Success(s.record["id"], '"ok"', 5, ended) for s in subs]
    assert store.succeed_many(batch) == 3
    assert store.succeed_many(batch) == 0, "a batch sent again changes nothing"
    assert store.succeed_many([Success("no-such-job", '"ok"', 5, ended)]) == 0
    assert all(_state(store, s.record["id"]) is JobState.SUCCEEDED for s in subs)
    assert _stats(store).finished_total["succeeded"] == 3


def test_a_retrying_job_waits_then_is_handed_off(store: JobStore) -> None:
    sub = _started(store)
    job_id = sub.record["id"]
    due = now_ms() + 60_000
    assert store.finish(job_id, JobState.RETRYING, ERROR, duration_ms=7, next_attempt_ms=due).ok
    record = store.get(job_id)
    assert record is not None and record.state is JobState.RETRYING
    assert record.next_attempt_at is not None and record.error is not None
    assert record.error.message == "smtp exploded"
    stats = _stats(store)
    assert stats.attempts_total["retried"] == 1 and stats.finished_total["dead"] == 0
    assert store.handoff(job_id) == Transition(Verdict.OK)
    assert _state(store, job_id) is JobState.QUEUED
    assert store.handoff(job_id).verdict is Verdict.IGNORED


def test_a_retry_taken_before_its_handoff_is_recorded_still_waited_queued(store: JobStore) -> None:
    """The consumer that moves a due message out of its delay queue records the handoff after the
    move: a worker may start the job in between. The run still has its `queued` entry, its wait is
    observed, and the late handoff changes nothing."""
    sub = _started(store)
    job_id = sub.record["id"]
    assert store.finish(job_id, JobState.RETRYING, ERROR, duration_ms=7, next_attempt_ms=now_ms()).ok
    retry = sub.message.copy(options={**sub.message.options, "retries": 1})
    assert store.start(retry, WORKER, None) == Transition(Verdict.RUN)
    assert store.handoff(job_id).verdict is Verdict.IGNORED
    assert store.finish(job_id, JobState.SUCCEEDED, '"sent"', duration_ms=3).ok
    record = store.get(job_id)
    assert record is not None and record.attempts == 2
    assert [e.state for e in record.timeline][-4:] == [
        JobState.RETRYING,
        JobState.QUEUED,
        JobState.RUNNING,
        JobState.SUCCEEDED,
    ]
    assert _stats(store).wait_count == 2, "both runs waited queued"


def test_a_dead_job_is_listed_deleted_and_counted(store: JobStore) -> None:
    sub = _started(store)
    job_id = sub.record["id"]
    settle = Settlement(None, None, None)  # the broker settles its own message
    assert store.finish(job_id, JobState.DEAD, ERROR, duration_ms=3, settle=settle).ok
    assert store.finish(job_id, JobState.DEAD, ERROR, duration_ms=3).verdict is Verdict.UNCHANGED
    stats = _stats(store)
    assert stats.counts[JobState.DEAD] == 1
    assert (stats.finished_total["dead"], stats.attempts_total["failed"]) == (1, 1)
    assert stats.finished_per_bucket[-1] == (0, 1)
    assert store.dead_ids(QUEUE, 10) == [job_id]
    queued = _submit(store, "b").record["id"]
    assert store.delete(queued, "{}") == Transition(Verdict.REFUSED, "queued")
    assert store.delete(job_id, json.dumps({"action": "delete"})).ok
    assert store.get(job_id) is None
    assert store.delete(job_id, "{}").verdict is Verdict.MISSING


def test_finish_without_a_record_uses_the_fallback(store: JobStore) -> None:
    sub = prepare(JobRequest(JobType.EMAIL_NOTIFICATION, email("x")), 1 << 20)
    job_id = sub.record["id"]
    assert store.finish(job_id, JobState.DEAD, ERROR, duration_ms=None).verdict is Verdict.MISSING
    assert store.finish(job_id, JobState.DEAD, ERROR, duration_ms=None, fallback=sub.record).ok
    assert _state(store, job_id) is JobState.DEAD
    assert _stats(store).attempts_total["dead"] == 1, "dead without running: no duration"


def test_reject_kills_the_job_a_held_message_claims(store: JobStore) -> None:
    sub = _submit(store)
    _hold(store, sub)
    job_id = sub.record["id"]
    data = sub.message.encode()
    evidence = {"bytes": len(data)}
    got = store.reject(QUEUE, data, ("Refused", "not a gemsdash message"), evidence, job_id, WORKER)
    assert got == job_id
    record = store.get(job_id)
    assert record is not None and record.state is JobState.DEAD and record.error is not None
    assert record.error.message == "not a gemsdash message"
    assert record.timeline[-1].note == "rejected by the worker"
    assert _stats(store).attempts_total["dead"] == 1


def test_reject_of_a_message_without_a_job_keeps_the_evidence(store: JobStore) -> None:
    sub = prepare(JobRequest(JobType.EMAIL_NOTIFICATION, email("x")), 1 << 20)
    message = sub.message.copy(options={"redis_message_id": sub.record["id"]})
    data = message.encode()
    if isinstance(store, RedisJobStore):  # a message pushed by hand, then fetched
        store.client.hset(dramatiq_key("msgs", store.namespace, rq=QUEUE), sub.record["id"], data)
        store.client.sadd(dramatiq_key("acks", store.namespace, worker=WORKER, rq=QUEUE), sub.record["id"])
    got = store.reject(QUEUE, data, ("Refused", "forged"), {"bytes": len(data)}, sub.record["id"], WORKER)
    assert got == sub.record["id"]
    record = store.get(sub.record["id"])
    assert record is not None and record.state is JobState.DEAD
    assert record.payload == {"refused_message": {"bytes": len(data)}}


def test_cancel_is_refused_once_cancelled_and_the_message_is_skipped(store: JobStore) -> None:
    sub = _submit(store)
    job_id = sub.record["id"]
    assert store.cancel(job_id, "alice", json.dumps({"action": "cancel"})) == Transition(Verdict.OK)
    assert store.cancel(job_id, "alice", "") == Transition(Verdict.REFUSED, "cancelled")
    assert store.cancel("no-such-job", "alice", "").verdict is Verdict.MISSING
    assert store.start(sub.message, WORKER, None) == Transition(Verdict.SKIP, "cancelled")
    record = store.get(job_id)
    assert record is not None and record.timeline[-1].note == "cancelled by alice"
    others = [_submit(store, f"c{i}").record["id"] for i in range(2)]
    verdicts = store.cancel_many([*others, job_id], "bob")
    assert [str(v) for v in verdicts] == ["ok", "ok", "state:cancelled"]


def test_retry_requeues_a_dead_job_once(store: JobStore) -> None:
    sub = _started(store)
    job_id = sub.record["id"]
    store.finish(job_id, JobState.DEAD, ERROR, duration_ms=3)
    assert store.retry(job_id, sub.message, "alice", json.dumps({"action": "retry"})).ok
    record = store.get(job_id)
    assert record is not None and record.state is JobState.QUEUED and record.attempts == 0
    assert store.retry(job_id, sub.message, "alice", "") == Transition(Verdict.REFUSED, "queued")
    assert [str(v) for v in store.retry_many([(job_id, sub.message), ("gone", sub.message)], "bob")] == [
        "state:queued",
        "missing",
    ]


def test_run_now_supersedes_the_waiting_copy(store: JobStore) -> None:
    sub = _submit(store, delay=60_000)
    job_id = sub.record["id"]
    assert _state(store, job_id) is JobState.DELAYED
    assert store.run_now(job_id, sub.message, "alice", json.dumps({"action": "run-now"})).ok
    assert _state(store, job_id) is JobState.QUEUED
    assert store.run_now(job_id, sub.message, "alice", "{}") == Transition(Verdict.REFUSED, "queued")
    assert store.start(sub.message, WORKER, None) == Transition(Verdict.SKIP, "superseded")


def test_clear_cancels_waiting_jobs_and_removes_dead_ones(store: JobStore) -> None:
    waiting = [_submit(store, f"q{i}").record["id"] for i in range(2)]
    delayed = _submit(store, "d", delay=60_000).record["id"]
    dead = _started(store, "x").record["id"]
    store.finish(dead, JobState.DEAD, ERROR, duration_ms=1)
    result = store.clear(QUEUE, True, "alice")
    assert result.removed == {"queued": 2, "delayed": 1, "retrying": 0, "dead": 1}
    assert all(_state(store, i) is JobState.CANCELLED for i in [*waiting, delayed])
    assert store.get(dead) is None
    assert store.clear(QUEUE, False, "alice").removed == {"queued": 0, "delayed": 0, "retrying": 0}


def test_a_priority_filter_goes_by_the_priority_not_by_the_words_of_a_payload(store: JobStore) -> None:
    """More jobs than one scan step reads, waiting and finished: jobs whose payloads say `high` but
    that are not, and high jobs whose payloads never say it (a Redis scan leaves records that do not
    hold the priority's name undecoded)."""
    said: list[str] = []
    meant: list[str] = []
    for i in range(70):
        said.append(_submit(store, f"high-{i}", priority="normal").record["id"])
        if i % 10 == 0:
            meant.append(_submit(store, f"plain-{i}", priority="high").record["id"])
    finished = _started(store, "another plain one", priority="high").record["id"]
    store.finish(finished, JobState.SUCCEEDED, "null", duration_ms=1)
    meant.append(finished)
    found = store.page(QUEUE, None, 0, 100, priority="high")
    assert sorted(j.id for j in found.jobs) == sorted(meant) and found.total == len(meant)
    assert [j.id for j in store.page(QUEUE, None, 0, 100, priority="high", search=meant[2][:8]).jobs] == [meant[2]]
    assert store.page(QUEUE, None, 0, 100, priority="low").jobs == []
    assert len(store.page(QUEUE, None, 0, 100, priority="normal").jobs) == len(said)


@pytest.mark.parametrize(
    "needle", ["MAILBOX/Inbox", "Ünïcode", '"quoted"', "back\\slash", "tab\there", "plain words", "no. 42"]
)
def test_a_search_finds_text_that_a_record_holds_escaped(store: JobStore, needle: str) -> None:
    """A Redis scan skips the records whose text lacks a plain needle; needles that JSON escapes
    (a slash, a quote, a backslash, a control character, non-ASCII) are looked for in the decoded
    fields, in an error's message and in a payload's user_id, and found."""
    text = 'delivery to MAILBOX/Inbox failed: Ünïcode "quoted" back\\slash tab\there plain words no. 42'
    dead = _started(store, "boom").record["id"]
    store.finish(dead, JobState.DEAD, json.dumps({"type": "E", "message": text, "traceback": None}), duration_ms=1)
    sub = prepare(JobRequest(JobType.EMAIL_NOTIFICATION, {**email("u"), "user_id": text}), 1 << 20)
    store.submit([sub])
    for i in range(60):
        _submit(store, f"other-{i}")
    found = store.page(QUEUE, None, 0, 100, search=needle)
    assert sorted(j.id for j in found.jobs) == sorted([dead, sub.record["id"]])
    assert [j.id for j in store.page(QUEUE, JobState.QUEUED, 0, 100, search=needle).jobs] == [sub.record["id"]]


def test_abort_is_asked_of_a_running_job_and_recorded(store: JobStore) -> None:
    queued = _submit(store, "q").record["id"]
    assert store.request_abort(queued, "alice", "{}") == Transition(Verdict.REFUSED, "queued")
    running = _started(store, "r").record["id"]
    assert store.request_abort(running, "alice", json.dumps({"action": "abort"})).ok
    assert store.abort_requests([queued, running]) == [running]
    assert store.aborted(running, ERROR, 12).ok
    record = store.get(running)
    assert record is not None and record.state is JobState.CANCELLED
    assert record.timeline[-1].note == "aborted by alice"
    assert store.abort_requests([running]) == []


def test_search_and_priority_filter_the_listing(store: JobStore) -> None:
    low = _submit(store, "low", priority="low").record["id"]
    high = _submit(store, "high", priority="high").record["id"]
    dead = _started(store, "boom").record["id"]
    store.finish(dead, JobState.DEAD, ERROR, duration_ms=1)
    assert [j.id for j in store.page(QUEUE, None, 0, 10, priority="high").jobs] == [high]
    assert [j.id for j in store.page(QUEUE, None, 0, 10, search=low[:8]).jobs] == [low]
    assert [j.id for j in store.page(QUEUE, None, 0, 10, search="SMTP EXPLODED").jobs] == [dead]
    everything = store.page(QUEUE, None, 0, 2)
    assert everything.total == 3 and len(everything.jobs) == 2
    snapshot, page = store.view(QUEUE, JobState.DEAD)
    assert page is not None and [j.id for j in page.jobs] == [dead]
    assert snapshot.queues[QUEUE].counts[JobState.DEAD] == 1
    assert snapshot.queues[QUEUE].waiting_by_priority == {"critical": 0, "high": 1, "normal": 0, "low": 1}


def test_pause_workers_and_logs(store: JobStore) -> None:
    assert store.set_paused(QUEUE, True, json.dumps({"action": "pause"})) is True
    assert store.set_paused(QUEUE, True, json.dumps({"action": "pause"})) is False
    assert store.paused() == frozenset({QUEUE}) == store.snapshot().paused
    now = datetime.now(UTC)
    info = WorkerInfo("w1", "host", 1, 4, now, now, 0, [QUEUE], consumes=[QUEUE])
    store.heartbeat(info)
    assert [w.id for w in store.workers()] == ["w1"]
    assert store.snapshot().queues[QUEUE].consumers_by_priority[Priority.NORMAL.value] == 1
    store.forget_worker("w1")
    assert store.workers() == []
    job_id = _submit(store).record["id"]
    store.save_logs(job_id, ["one", "two"])
    assert store.job_logs(job_id) == ["one", "two"]


def test_schedules_are_added_paused_and_removed_once(store: JobStore) -> None:
    definition = json.dumps({"name": "hourly"})
    assert store.schedule_add("hourly", definition, "g1", now_ms() + 60_000, "{}") is Verdict.OK
    assert store.schedule_add("hourly", definition, "g1", None, "{}") is Verdict.EXISTS
    assert store.schedule_pause("hourly", "{}") is Verdict.OK
    assert store.schedule_pause("hourly", "{}") is Verdict.UNCHANGED
    assert store.schedule_resume("hourly", "g1", now_ms() + 60_000, "{}") is Verdict.OK
    _, listed = store.schedule_list()
    assert [s["name"] for s in listed] == ["hourly"]
    assert store.schedule_remove("hourly", "{}") is Verdict.OK
    assert store.schedule_remove("hourly", "{}") is Verdict.MISSING


def test_the_limits_set_the_caps_of_both_state_machines(make_store: MakeStore) -> None:
    """limits.py is the one source: a store built with other limits (the Lua header is generated
    from them) caps timelines and the audit log at those."""
    store = make_store(Limits(timeline_max=4, audit_max=3))
    sub = _started(store)
    job_id = sub.record["id"]
    for _ in range(3):
        store.finish(job_id, JobState.RETRYING, ERROR, duration_ms=1, next_attempt_ms=now_ms())
        store.handoff(job_id)
        store.start(sub.message, WORKER, None)
    record = store.get(job_id)
    assert record is not None and len(record.timeline) == 4
    assert record.timeline[0].state is JobState.QUEUED, "the first entry (creation) is kept"
    for i in range(5):
        store.audit(json.dumps({"n": i}))
    assert [e["n"] for e in store.audit_log(100)] == [4, 3, 2]
    assert store.cancel(_submit(store, "c").record["id"], "alice", json.dumps({"n": 5})).ok
    assert [e["n"] for e in store.audit_log(100)] == [5, 4, 3], "an action's own audit entry is capped too"


def test_recovery_and_what_is_lost_on_exit(store: JobStore) -> None:
    """Nothing to recover without a lost worker (memory mode's worker dies with its jobs); what a
    stopping process loses: memory mode's waiting jobs, nothing in Redis."""
    running = _started(store, "r").record["id"]
    _submit(store, "q")
    assert store.recover() == (0, 0)
    assert _state(store, running) is JobState.RUNNING
    assert store.lost_on_exit() == (0 if isinstance(store, RedisJobStore) else 1)
