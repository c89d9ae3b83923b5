"""Memory mode's queues hold each message as a Message, not as its JSON (stub_broker.py): the
message never leaves the process, and decoding it again cost the one consumer thread that feeds a
queue's workers a tenth of a no-op job. What the JSON did for the sender still holds: a message
that could not go through Redis is refused at send, and what the sender does to its message after
sending it does not reach the queued job."""

from __future__ import annotations

from typing import Any

import pytest
from dramatiq import Message

from gemsdash.queue import JobState, JobType, Runtime, add_job
from gemsdash.queue.handlers import actor_of, override_work
from tests.core.workload import email
from tests.support import wait_for_job


def test_a_message_json_cannot_carry_is_refused_at_send(idle_memory_runtime: Runtime) -> None:
    actor = actor_of(JobType.EMAIL_NOTIFICATION)
    message: Message[Any] = Message(actor.queue_name, actor.actor_name, ({"to": {1, 2}},), {}, {})
    with pytest.raises(TypeError):
        idle_memory_runtime.broker.enqueue(message)
    assert idle_memory_runtime.broker.queues[actor.queue_name].qsize() == 0


def test_what_the_sender_changes_after_sending_does_not_reach_the_queued_job(idle_memory_runtime: Runtime) -> None:
    seen: list[Any] = []
    with override_work(JobType.EMAIL_NOTIFICATION, seen.append):
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("as sent"))
        actor = actor_of(JobType.EMAIL_NOTIFICATION)
        (queued,) = list(idle_memory_runtime.broker.queues[actor.queue_name].queue)
        sent: Message[Any] = Message(actor.queue_name, actor.actor_name, (email("copy"),), {}, {}, message_id="m-1")
        idle_memory_runtime.broker.enqueue(sent)
        sent.options["max_retries"] = 99
        (_, copy) = list(idle_memory_runtime.broker.queues[actor.queue_name].queue)
        assert isinstance(queued, Message) and "max_retries" not in copy.options
        idle_memory_runtime.start_worker(threads=1)
        record = wait_for_job(job_id, lambda r: r.state is JobState.SUCCEEDED)
    assert record.payload["context"] == {"name": "as sent"}
    assert [p.context["name"] for p in seen][:1] == ["as sent"]
