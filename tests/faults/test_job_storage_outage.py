"""Redis going away in the middle of a payment or an email job: the job's storage call fails as
BackendUnavailable ("Redis unreachable at ..."), a retryable job error, not a raw redis
ConnectionError traceback; the retry after Redis is back finishes the job."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from gemsdash.actors.gateway import SandboxGateway
from gemsdash.actors.settings import load_actor_settings, use_settings
from gemsdash.queue import BackendUnavailable, JobRecord, JobState, JobType, Runtime, add_job, get_job
from gemsdash.queue.payloads import PaymentPayload
from tests.support import RedisServer, wait_for

pytestmark = pytest.mark.slow

#: The server the next job takes down (once).
OUTAGES: list[RedisServer] = []
SENT: list[str] = []


class OutageGateway(SandboxGateway):
    """The sandbox gateway, with Redis stopped while the ledger records its first capture."""

    def capture(self, request: PaymentPayload) -> dict[str, object]:
        if not OUTAGES:
            return super().capture(request)
        server = OUTAGES.pop()
        server.stop()
        try:
            return super().capture(request)
        finally:
            server.start()


class OutageSender:
    """Accepts the message, then Redis goes away before the send is recorded (back 4 s later:
    after the client's own retries have given up)."""

    def send(self, message: EmailMessage) -> str:
        SENT.append(str(message["Message-ID"]))
        if OUTAGES:
            server = OUTAGES.pop()
            server.stop()
            threading.Timer(4.0, server.start).start()
        return "test://outage"


@pytest.fixture
def worker(runtime: Runtime, own_redis: RedisServer, tmp_path: Path) -> Iterator[Runtime]:
    use_settings(
        load_actor_settings(
            _env_file=None,
            data_dir=tmp_path,
            payment_gateway=f"{__name__}:OutageGateway",
            email_sender=f"{__name__}:OutageSender",
        )
    )
    OUTAGES[:] = [own_redis]
    SENT.clear()
    runtime.start_worker(threads=2)
    yield runtime
    use_settings(None)
    OUTAGES.clear()


def polled(job_id: str) -> JobRecord | None:
    """The record, or None while Redis is down (the test polls through the outage)."""
    try:
        return get_job(job_id)
    except BackendUnavailable:
        return None


def retried_then_finished(job_id: str) -> tuple[JobRecord, JobRecord]:
    retrying: JobRecord = wait_for(
        lambda: (r := polled(job_id)) is not None and r.state is JobState.RETRYING and r,
        timeout=60,
        interval=0.1,
        what="the job's retry",
    )
    done: JobRecord = wait_for(
        lambda: (r := polled(job_id)) is not None and r.state.finished and r, timeout=60, what="the job's end"
    )
    return retrying, done


def assert_clear_outage_error(record: JobRecord, port: int) -> None:
    assert record.error is not None
    assert record.error.type == "BackendUnavailable"
    assert record.error.message.startswith(f"Redis unreachable at redis://127.0.0.1:{port}"), record.error.message
    assert "ConnectionError" not in (record.error.traceback or "")


@pytest.mark.timeout(180)
def test_an_outage_while_the_ledger_records_a_capture_is_a_retry(worker: Runtime, own_redis: RedisServer) -> None:
    payment = {
        "payment_id": "pay_outage",
        "operation": "capture",
        "amount": 1250,
        "currency": "EUR",
        "payment_method": "pm_card_visa",
        "idempotency_key": "outage-1",
    }
    job_id = add_job(JobType.PAYMENT_PROCESSING, payment, attempts=3, backoff={"type": "fixed", "delay": 1500})
    retrying, done = retried_then_finished(job_id)
    assert_clear_outage_error(retrying, own_redis.port)
    assert done.state is JobState.SUCCEEDED, done.error
    assert done.attempts == 2
    assert worker.job_storage.ledger_state("pay_outage").captures == 1


@pytest.mark.timeout(180)
def test_an_outage_while_the_send_log_records_an_email_is_a_retry(worker: Runtime, own_redis: RedisServer) -> None:
    email = {"to": "ann@example.test", "template": "welcome", "context": {"name": "Ann"}}
    job_id = add_job(JobType.EMAIL_NOTIFICATION, email, attempts=3, backoff={"type": "fixed", "delay": 1500})
    retrying, done = retried_then_finished(job_id)
    assert_clear_outage_error(retrying, own_redis.port)
    assert done.state is JobState.SUCCEEDED, done.error
    assert done.attempts == 2
    # the first send was not recorded, so the retry sent again, and recorded that one
    assert len(SENT) == 2
    assert done.result is not None and done.result["already_sent"] is False
