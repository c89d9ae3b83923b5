"""Priority really reorders waiting work on Redis, where Dramatiq's own queues are FIFO."""

from __future__ import annotations

from gemsdash.queue import JobState, JobType, Runtime, add_job, get_job
from tests.core.workload import email, scripted
from tests.support import wait_for


def test_a_high_job_overtakes_a_backlog_of_low_jobs(redis_runtime: Runtime) -> None:
    with scripted() as work:
        worker = redis_runtime.start_worker(threads=1)
        add_job(JobType.EMAIL_NOTIFICATION, email("block"))
        assert work.blocking.wait(10)
        lows = [add_job(JobType.EMAIL_NOTIFICATION, email(f"low-{i}"), priority="low") for i in range(20)]
        high = add_job(JobType.EMAIL_NOTIFICATION, email("high"), priority="high")
        # The `high` consumer picks it up on its next poll (at most one worker_timeout later).
        client = redis_runtime.client
        assert client is not None
        wait_for(
            lambda: client.llen(f"{redis_runtime.settings.namespace}:email-notification.high") == 0,
            what="the high job to be fetched",
        )
        assert client.llen(f"{redis_runtime.settings.namespace}:email-notification.low") >= 20 - worker.queue_prefetch
        work.release.set()
        wait_for(lambda: len(work.started) == 22, what="all 22 jobs to start")
    order = work.started[1:]
    # Only what the one busy thread's consumers had already prefetched may run before it.
    assert order.index("high") <= worker.queue_prefetch, order
    assert order.index("high") < 20
    # Successes are written behind (up to ~50 ms after the job); they all arrive.
    wait_for(
        lambda: all(get_job(j).state is JobState.SUCCEEDED for j in [*lows, high]),  # type: ignore[union-attr]
        what="every job recorded succeeded",
    )


def test_priorities_wait_in_their_own_redis_lists(redis_runtime: Runtime) -> None:
    ns = redis_runtime.settings.namespace
    client = redis_runtime.client
    assert client is not None
    for priority in ("low", "normal", "high", "critical"):
        add_job(
            JobType.PAYMENT_PROCESSING,
            {
                "payment_id": "p",
                "operation": "verify",
                "amount": 0,
                "currency": "EUR",
                "payment_method": "pm_card_visa",
                "idempotency_key": f"k-{priority}",
            },
            priority=priority,
        )
    assert client.llen(f"{ns}:payment-processing") == 1
    for priority in ("low", "high", "critical"):
        assert client.llen(f"{ns}:payment-processing.{priority}") == 1
    record = get_job(
        add_job(
            JobType.PAYMENT_PROCESSING,
            {
                "payment_id": "p",
                "operation": "verify",
                "amount": 0,
                "currency": "EUR",
                "payment_method": "pm_card_visa",
                "idempotency_key": "default",
            },
        )
    )
    assert record is not None and record.priority.value == "high"  # payments default to high
