"""Memory mode hands a job's handler the payload model its producer validated (vouched.py), never a
payload the model does not say: a message whose payload differs, or that no producer vouched for,
is validated at the worker as on Redis."""

from __future__ import annotations

from typing import Any

import pytest
from dramatiq import Message

from gemsdash.queue import JobState, JobType, Runtime, add_job, add_jobs, cancel
from gemsdash.queue.handlers import actor_of, override_work
from gemsdash.queue.payloads import EmailPayload
from gemsdash.queue.producer import JobRequest
from gemsdash.queue.stub_broker import EmbeddedStubBroker
from gemsdash.queue.vouched import VouchedPayloads
from tests.core.workload import email
from tests.support import wait_for, wait_for_job


def _vouched(runtime: Runtime) -> VouchedPayloads:
    assert isinstance(runtime.broker, EmbeddedStubBroker)
    return runtime.broker.vouched


def test_handlers_get_the_producers_models_and_leave_nothing_behind(idle_memory_runtime: Runtime) -> None:
    seen: list[Any] = []
    with override_work(JobType.EMAIL_NOTIFICATION, seen.append):
        ids = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"job-{i}")) for i in range(20)])
        assert len(_vouched(idle_memory_runtime)) == 20
        idle_memory_runtime.start_worker(threads=2)
        for job_id in ids:
            wait_for_job(job_id, lambda r: r.state is JobState.SUCCEEDED)
    assert sorted(p.context["name"] for p in seen) == sorted(f"job-{i}" for i in range(20))
    assert all(isinstance(p, EmailPayload) for p in seen)
    assert len(_vouched(idle_memory_runtime)) == 0


def test_a_message_whose_payload_differs_from_the_vouched_model_is_validated(idle_memory_runtime: Runtime) -> None:
    """A message sent straight to the actor under a waiting job's id, with a payload the model does
    not say (and that is invalid): the handler never sees it and the job ends dead with the reason."""
    seen: list[Any] = []
    with override_work(JobType.EMAIL_NOTIFICATION, seen.append):
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("vouched"))
        forged = {**email("vouched"), "to": "not an address"}
        vouched = _vouched(idle_memory_runtime)
        # The queued copy is taken out, so that only the forged one runs under the job's id.
        stub = idle_memory_runtime.broker.queues[JobType.EMAIL_NOTIFICATION.queue]
        stub.get_nowait()
        stub.task_done()
        actor = actor_of(JobType.EMAIL_NOTIFICATION)
        idle_memory_runtime.broker.enqueue(
            Message(actor.queue_name, actor.actor_name, (forged,), {}, {}, message_id=job_id)
        )
        idle_memory_runtime.start_worker(threads=1)
        record = wait_for_job(job_id, lambda r: r.state is JobState.DEAD)
    assert seen == []
    assert record.error is not None and "to" in record.error.message, record.error
    assert len(vouched) == 0


def test_a_cancelled_waiting_job_leaves_no_vouched_model(idle_memory_runtime: Runtime) -> None:
    job_id = add_job(JobType.EMAIL_NOTIFICATION, email("cancelled"))
    cancel(job_id)
    with override_work(JobType.EMAIL_NOTIFICATION, lambda payload: None):
        idle_memory_runtime.start_worker(threads=1)
        wait_for(lambda: len(_vouched(idle_memory_runtime)) == 0, what="the skipped job's model to go")
    assert idle_memory_runtime.store.get(job_id) is not None


@pytest.mark.parametrize("kept", [1, 3])
def test_the_oldest_models_go_first_past_the_bound(kept: int) -> None:
    vouched = VouchedPayloads(limit=kept)
    models = {f"id-{i}": EmailPayload.model_validate(email(f"n{i}")) for i in range(5)}
    for job_id, model in models.items():
        vouched.add(job_id, model)
    assert len(vouched) == kept
    newest = list(models)[-kept:]
    for job_id in models:
        data = models[job_id].model_dump(mode="json")
        assert (vouched.take(job_id, data) is models[job_id]) == (job_id in newest)


def test_a_model_is_given_only_for_an_equal_payload() -> None:
    vouched = VouchedPayloads()
    model = EmailPayload.model_validate(email("a"))
    vouched.add("id", model)
    assert vouched.take("id", {**model.model_dump(mode="json"), "template": "other"}) is None
    assert vouched.take("id", model.model_dump(mode="json")) is None  # taken once, by the first
