"""Redis Sentinel: a primary, a replica and three sentinels on loopback; two worker processes and a
producer at a steady rate with GEMSDASH_MIN_REPLICAS=1, through one `SENTINEL FAILOVER` and one
SIGKILL of the primary, after which the killed node rejoins empty while the new primary stalls (the
empty node must not be promoted: docs/high-availability.md). Every job whose add_job returned an id
ends final, none is lost, no payment key is captured twice, work resumes within seconds of each
failover, and SIGTERM still stops the workers promptly afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from gemsdash.actors.ledger import ledger
from gemsdash.queue import BackendUnavailable, JobRequest, JobState, JobType, add_jobs, configure, get_job, health
from gemsdash.queue.keys import Keys
from gemsdash.queue.runtime import reset
from tests.conftest import test_settings
from tests.support import RedisServer, SentinelGroup, command, wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

#: The documented bound (docs/high-availability.md): work resumes within this many seconds of the
#: failover starting, with `down-after-milliseconds 1000` and ONE replica: with GEMSDASH_MIN_REPLICAS=1
#: the new primary accepts no job until the old one has rejoined as its replica, which Sentinel
#: does about 10 s after a planned failover; then its resync, and Dramatiq's 3 s consumer restart.
RESUME_BOUND_S = 30.0
FINAL = (JobState.SUCCEEDED, JobState.DEAD)


def start_worker(env: dict[str, str], log_dir: Path) -> subprocess.Popen[bytes]:
    with (log_dir / f"worker-{time.monotonic_ns()}.log").open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gemsdash", "worker", "--processes", "1", "--threads", "4"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


class Producer(threading.Thread):
    """add_jobs at a steady rate: emotion analyses, and payments of which every fourth is sent twice
    with one idempotency key. Keeps the ids add_jobs returned (acknowledged) and counts refusals.
    (Not emails: their job code's own Redis calls fail while no primary is elected, and a failed
    job's re-enqueue is Dramatiq's write, outside what this guarantees; see docs/high-availability.md.)"""

    def __init__(self, rate: float) -> None:
        super().__init__(daemon=True)
        self.interval = 1 / rate
        self.stopping = threading.Event()
        self.acked: list[tuple[float, str]] = []
        self.payments: dict[str, str] = {}
        self.refused = 0
        self.sent = 0

    def requests(self, n: int) -> list[JobRequest]:
        if n % 5:
            text = f"a wonderful calm day number {n}" if n % 2 else f"a terrible furious night number {n}"
            return [JobRequest(JobType.EMOTION_ANALYSIS, {"analysis_type": "text", "text": text, "user_id": f"u{n}"})]
        payment_id = f"pay_{n}"
        payload: dict[str, Any] = {
            "payment_id": payment_id,
            "operation": "capture",
            "amount": 100 + n,
            "currency": "EUR",
            "payment_method": "pm_card_visa",
            "idempotency_key": f"key-{n}-{uuid.uuid4().hex[:6]}",
        }
        self.payments[payment_id] = payload["idempotency_key"]
        copies = 2 if n % 20 == 0 else 1
        return [JobRequest(JobType.PAYMENT_PROCESSING, payload) for _ in range(copies)]

    def run(self) -> None:
        n = 0
        next_at = time.monotonic()
        while not self.stopping.is_set():
            batch = self.requests(n)
            n += 1
            self.sent += len(batch)
            try:
                ids = add_jobs(batch)
            except BackendUnavailable:  # NotReplicated included: not acknowledged, so not counted
                self.refused += len(batch)
            else:
                self.acked += [(time.monotonic(), i) for i in ids]
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))


def synced(node: RedisServer) -> bool:
    """A replica has loaded its primary's data (and so may be promoted without losing it)."""
    try:
        info = redis.Redis(port=node.port, socket_timeout=2).info("replication")
    except redis.ConnectionError:
        return False
    return info.get("master_link_status") == "up"


def resumed(producer: Producer, moment: float) -> float | None:
    """Seconds since `moment` once a job acknowledged after it is final; None before (polled). A few
    candidates: the first may be a payment waiting out a retry backoff."""
    for job_id in [i for at, i in producer.acked if at > moment][:20]:
        record = get_job(job_id)
        if record is not None and record.state in FINAL:
            return time.monotonic() - moment
    return None


@pytest.mark.timeout(300)
def test_sentinel_failover_and_primary_kill_lose_no_acknowledged_job(tmp_path: Path) -> None:
    namespace = f"ha-{uuid.uuid4().hex[:8]}"
    with SentinelGroup() as group:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "REDIS_ENABLED": "true",
            "REDIS_SENTINELS": group.addresses,
            "GEMSDASH_NAMESPACE": namespace,
            "GEMSDASH_MIN_REPLICAS": "1",
            "GEMSDASH_WORKER_TIMEOUT": "2",
            "GEMSDASH_DATA_DIR": str(tmp_path),
        }
        configure(
            test_settings(redis_enabled=True, redis_sentinels=group.addresses, namespace=namespace, min_replicas=1),
            role="worker",
        )
        # A data set in use for an hour (its epoch settled): the failovers below keep it, and no
        # worker may report it lost.
        seed = redis.Redis(port=group.primary_port())
        seed.set(Keys(namespace).epoch(), f"{int(time.time() * 1000) - 3_600_000}:seed")
        assert seed.wait(1, 5000) == 1
        workers = [start_worker(env, tmp_path), start_worker(env, tmp_path)]
        producer = Producer(rate=40)
        producer.start()
        figures: dict[str, Any] = {}
        try:
            time.sleep(4)
            # 1. A planned failover.
            started = time.monotonic()
            group.failover()
            promoted = time.monotonic()
            figures["promoted_after_failover_s"] = promoted - started
            # Counted from the promotion: jobs acknowledged before it went to the old primary.
            figures["resume_after_failover_s"] = figures["promoted_after_failover_s"] + wait_for(
                lambda: resumed(producer, promoted),
                timeout=60,
                interval=0.2,
                what="work to resume after SENTINEL FAILOVER",
            )
            wait_for(lambda: SentinelGroup.replicas_online(group.primary_port()) == 1, timeout=60, what="a replica")
            time.sleep(3)
            # 2. The primary dies without warning; it comes back (empty, no persistence) as a replica.
            victim = group.node(group.primary_port())
            started = time.monotonic()
            victim.stop(signal.SIGKILL)
            # One worker group is told to stop while there is no primary: it must still stop promptly.
            stopping = workers[0]
            os.kill(stopping.pid, signal.SIGTERM)
            stopped = threading.Thread(target=lambda: (stopping.wait(90), figures.update(stop_s=time.monotonic())))
            stopped.start()
            wait_for(lambda: group.primary_port() != victim.port, timeout=60, interval=0.1, what="the promotion")
            figures["promoted_after_kill_s"] = time.monotonic() - started
            # The killed node comes back (empty: no persistence) as the new primary's replica; until
            # it has synced, GEMSDASH_MIN_REPLICAS=1 holds every write back (a stopping worker too).
            # It comes back unpromotable (replica-priority 0) until it has synced, as
            # docs/high-availability.md says: Sentinel would otherwise promote it, empty, if the
            # primary missed its pings for a second meanwhile, and the primary would resync from it
            # (1,009 acknowledged jobs were lost, most likely that way, once on a loaded CI).
            revived = RedisServer(
                "--replicaof",
                "127.0.0.1",
                str(group.primary_port()),
                "--replica-priority",
                "0",
                port=victim.port,
                directory=victim.dir,
            )
            group.nodes[group.nodes.index(victim)] = revived.start()
            # The worst moment for it: the primary stalls before the empty node has synced, past
            # down-after-milliseconds and past Sentinel's delay between two failovers of one primary
            # (2 x failover-timeout = 10 s from the last): Sentinel votes it down and would promote
            # the empty node if it could (with the default priority it does: the test then fails).
            survivor = group.node(group.primary_port())
            assert survivor.proc is not None
            os.kill(survivor.proc.pid, signal.SIGSTOP)
            time.sleep(max(3.0, started + 13 - time.monotonic()))
            os.kill(survivor.proc.pid, signal.SIGCONT)
            wait_for(
                lambda: synced(revived) or group.primary_port() == revived.port,
                timeout=60,
                interval=0.2,
                what="the revived node to sync",
            )
            events = "\n".join(group.events())
            assert group.primary_port() != revived.port, f"Sentinel promoted the empty node:\n{events}"
            command(redis.Redis(port=revived.port), "CONFIG", "SET", "replica-priority", "100")
            stopped.join(90)
            figures["sigterm_during_failover_s"] = figures.pop("stop_s") - started
            workers[0] = start_worker(env, tmp_path)
            figures["resume_after_kill_s"] = wait_for(
                lambda: resumed(producer, started),
                timeout=60,
                interval=0.2,
                what="work to resume after the primary was killed",
            )
            time.sleep(3)
        except BaseException:
            # A failure before the drain must not leave worker groups behind, retrying forever
            # against servers that are gone (they loaded the rest of a test run once).
            for proc in workers:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
            raise
        finally:
            producer.stopping.set()
            producer.join(30)
        try:
            ids = [i for _, i in producer.acked]

            def unfinished() -> list[str]:
                return [i for i in ids if (r := get_job(i)) is None or r.state not in FINAL]

            try:
                wait_for(lambda: not unfinished(), timeout=120, interval=1, what="every acknowledged job to finish")
            except AssertionError as exc:
                stuck = [
                    (i[:8], r.type.value, r.state.value, r.attempts) if (r := get_job(i)) else (i,)
                    for i in unfinished()
                ]
                events = "\n".join(group.events())
                raise AssertionError(
                    f"{exc}: {len(stuck)} unfinished, e.g. {stuck[:8]}; logs in {tmp_path}; Sentinel:\n{events}"
                ) from None
        finally:
            stop_started = time.monotonic()
            for proc in workers:
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGTERM)
            for proc in workers:
                proc.wait(timeout=60)
            figures["sigterm_stop_s"] = time.monotonic() - stop_started
        records = [get_job(i) for i in ids]
        lost = sum(1 for r in records if r is None)
        states = [r.state for r in records if r is not None]
        book = ledger()
        captures = {pid: book.state(pid).captures for pid in producer.payments}
        twice = [pid for pid, n in captures.items() if n > 1]
        never = [pid for pid, n in captures.items() if n == 0 and any(pid in str(r.payload) for r in records if r)]
        print(
            f"\nsent {producer.sent}, acknowledged {len(ids)}, refused (not acknowledged) {producer.refused}, "
            f"accounted {len(states)}, lost {lost}, succeeded {states.count(JobState.SUCCEEDED)}, "
            f"dead {states.count(JobState.DEAD)}, payment keys {len(captures)}, captured twice {len(twice)}; "
            + ", ".join(f"{k} {v:.1f}" for k, v in figures.items())
            + f"; promotions {sum('+switch-master' in e for e in group.events()) // 3}"
        )
        # Both failovers kept the data set: no worker may report it lost (a false alarm).
        reported = [p.detail for p in health().problems if p.kind == "data_lost"]
        reset()
        assert not reported, reported
        assert lost == 0
        assert states.count(JobState.SUCCEEDED) == len(ids), "every acknowledged job succeeds"
        assert not twice, twice
        assert not never, never
        assert figures["resume_after_failover_s"] < RESUME_BOUND_S
        assert figures["resume_after_kill_s"] < RESUME_BOUND_S
        assert figures["sigterm_stop_s"] < 30
        assert figures["sigterm_during_failover_s"] < 30
