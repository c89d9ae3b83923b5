"""`gemsdash --demo`: a steady mix of real jobs of all four types, so every state is on screen.

Jobs go in through the public producer API like any other producer's. The mix is chosen so each
state shows up within seconds: declined payments go dead at once, an unavailable gateway retries
then dies, some jobs wait delayed, the rest succeed. Retries are short (fixed 1.5 s backoff, three
attempts) so the retrying state is visible without waiting minutes.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import uuid
from collections.abc import Callable
from typing import Any

import gemsdash.queue as q
from gemsdash.queue import GemsdashError, InvalidTransition, JobNotFound, JobRequest, JobType
from gemsdash.queue.admin import actor_label

logger = logging.getLogger("gemsdash.demo")


def example(job_type: JobType) -> dict[str, Any]:
    """The type's example payload (its definition's): the demo's base for jobs of that type."""
    return dict(q.JOB_SPECS[job_type].example or {})


#: Short retries so `retrying` and then `dead` show within seconds.
DEMO_OPTIONS: dict[str, Any] = {"attempts": 3, "backoff": {"type": "fixed", "delay": 1500}}
#: The demo stops adding while this many jobs wait (no worker, or a worker slower than the feed).
MAX_BACKLOG = 150

_PROMPTS = ("a fox in the snow", "a tram crossing a bridge", "an owl reading a map", "a cat on a bicycle")
_TEXTS = (
    "This is the best day of my life, I could not be happier!",
    "I am so disappointed and angry about the delay.",
    "The package arrived on Tuesday.",
    "I'm nervous about tomorrow but also a bit excited.",
)
_NAMES = ("Ada", "Grace", "Linus", "Barbara", "Ken")


class DemoFeeder:
    """A background thread enqueueing a batch of jobs every `period` seconds until stopped."""

    def __init__(self, *, period: float = 1.0, seed: int | None = None) -> None:
        self.period = period
        self.random = random.Random(seed)
        self.enqueued = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._round = 0
        self._payments = 0
        self._delayed: list[str] = []

    def start(self) -> DemoFeeder:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gemsdash-demo", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        if q.current_runtime().mode == "memory":
            add_demo_schedules()
        while not self._stop.is_set():
            try:
                self.feed_once()
                self.last_error = None
            except GemsdashError as exc:  # Redis away: try again next round, the dashboard says why
                self.last_error = str(exc)
            except Exception as exc:
                logger.exception("demo feeder failed")
                self.last_error = f"{type(exc).__name__}: {exc}"
            self._stop.wait(self.period)

    def feed_once(self) -> int:
        """Enqueue one round of the mix (in one round trip); returns how many jobs went in."""
        snapshot = q.queue_stats()
        if sum(stats.waiting for stats in snapshot.queues.values()) >= MAX_BACKLOG:
            return 0
        requests = self.next_batch()
        ids = q.add_jobs(requests)
        self.enqueued += len(requests)
        self._delayed.extend(i for i, r in zip(ids, requests, strict=True) if r.delay)
        if self._round % 4 == 0 and self._delayed:
            with contextlib.suppress(InvalidTransition, JobNotFound):  # it may have run already
                # so `cancelled` shows too; signed as the demo, so the audit log tells it from an operator
                q.cancel(self._delayed.pop(), by=f"demo feed ({actor_label()})")
        del self._delayed[:-20]
        return len(requests)

    def next_batch(self) -> list[JobRequest]:
        """Every round: one job of each type (every other round a high-quality sketch, which takes
        about a second, so `running` shows); payments rotate through their three outcomes; every
        third round one job waits delayed and one payment is urgent."""
        self._round += 1
        r = self.random
        makers: list[Callable[[], JobRequest]] = [self.sketch, self.emotion, self.email, self.payment]
        requests = [make() for make in makers]
        if self._round % 2 == 0:
            requests.append(self.sketch(quality="high"))
        if self._round % 3 == 1:
            delayed = r.choice(makers)()
            requests.append(JobRequest(delayed.job_type, delayed.payload, delay=r.randint(4000, 12000), **DEMO_OPTIONS))
            requests.append(self.payment(priority="critical"))
        if self._round % 2 == 1:
            requests.append(self.emotion(priority="low"))
        return requests

    def sketch(self, priority: str | None = None, quality: str | None = None) -> JobRequest:
        payload = example(JobType.SKETCH_GENERATION)
        payload.update(
            prompt=self.random.choice(_PROMPTS),
            style=self.random.choice(("realistic", "cartoon", "watercolor", "line-art")),
            quality=quality or self.random.choice(("low", "medium")),
            user_id=self._user(),
        )
        return JobRequest(JobType.SKETCH_GENERATION, payload, priority=priority, **DEMO_OPTIONS)

    def emotion(self, priority: str | None = None) -> JobRequest:
        payload = dict(example(JobType.EMOTION_ANALYSIS), text=self.random.choice(_TEXTS), user_id=self._user())
        return JobRequest(JobType.EMOTION_ANALYSIS, payload, priority=priority, **DEMO_OPTIONS)

    def email(self, priority: str | None = None) -> JobRequest:
        name = self.random.choice(_NAMES)
        payload = {"to": f"{name.lower()}@example.com", "template": "welcome", "context": {"name": name}}
        return JobRequest(JobType.EMAIL_NOTIFICATION, payload, priority=priority, **DEMO_OPTIONS)

    def payment(self, priority: str | None = None) -> JobRequest:
        # Rotate: card ok, card declined (dead at once), gateway unavailable (retries, then dead).
        method = ("pm_card_visa", "pm_card_declined", "pm_card_visa", "pm_card_unavailable")[self._payments % 4]
        self._payments += 1
        order = uuid.uuid4().hex[:10]
        payload = dict(
            example(JobType.PAYMENT_PROCESSING),
            payment_id=f"pay_{order}",
            amount=self.random.randint(100, 50_000),
            currency=self.random.choice(("USD", "EUR", "GBP")),
            payment_method=method,
            idempotency_key=f"order-{order}",
        )
        return JobRequest(JobType.PAYMENT_PROCESSING, payload, priority=priority, **DEMO_OPTIONS)

    def _user(self) -> str:
        return f"user-{self.random.randint(1, 50)}"


#: Memory mode's demo schedules (in Redis mode the demo adds none: they would outlive it there).
#: (name, job type, cron, every)
DEMO_SCHEDULES: tuple[tuple[str, JobType, str | None, str | None], ...] = (
    ("demo-mood-check", JobType.EMOTION_ANALYSIS, None, "15s"),
    ("demo-digest", JobType.EMAIL_NOTIFICATION, "*/5 * * * *", None),
)


def add_demo_schedules() -> None:
    """Two schedules, so the schedules screen has something to show and fire."""
    for name, job_type, cron, every in DEMO_SCHEDULES:
        try:
            q.add_schedule(name, job_type, example(job_type), cron=cron, every=every)
        except q.ScheduleExists:
            pass
        except GemsdashError as exc:  # read-only, for one
            logger.info("demo schedule %s not added: %s", name, exc)
