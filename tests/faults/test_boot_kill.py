"""A worker process killed while it boots: its group notices within the bound docs/operations.md
states, stops, and (restarted as systemd's `Restart=always` would) runs every job; none lost."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from gemsdash.queue import JobRequest, JobState, JobType, Runtime, add_jobs, get_job
from tests.core.workload import email
from tests.support import wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
#: What docs/operations.md states: a dead worker process is noticed within 5 s, during boot too.
DETECTION_BOUND_S = 5.0
RESTART_SEC = 1.0


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


class Supervisor:
    """`Restart=always`, `RestartSec=1`, `KillMode=mixed` for one `gemsdash worker` group, as systemd
    runs deploy/systemd/gemsdash-worker.service."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.starts: list[subprocess.Popen[bytes]] = []
        self.exits: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Supervisor:
        self._spawn()
        self._thread.start()
        return self

    def _spawn(self) -> None:
        log = self.log_dir / f"group-{len(self.starts)}.log"
        with log.open("wb") as out:
            self.starts.append(
                subprocess.Popen(
                    [sys.executable, "-m", "gemsdash", "worker", "--processes", "2", "--threads", "2"],
                    cwd=ROOT,
                    env=self.env,
                    start_new_session=True,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.starts[-1].poll() is not None:
                self.exits.append(time.time())
                if self._stop.wait(RESTART_SEC):
                    return
                self._spawn()
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        main = self.starts[-1]
        if main.poll() is None:
            os.kill(main.pid, signal.SIGTERM)  # KillMode=mixed: the main process only
            main.wait(timeout=60)


def noticed_at(log: Path, pid: int) -> float:
    """When the group's main process logged that worker process `pid` had died."""
    for line in log.read_text().splitlines():
        if f"Worker with PID {pid} exited unexpectedly" in line:
            stamp = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]", line)
            assert stamp, line
            return datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
    raise AssertionError(f"no line about PID {pid} in {log}:\n{log.read_text()}")


def test_a_worker_killed_during_boot_is_noticed_and_its_group_restarted(
    redis_runtime: Runtime, redis_url: str, tmp_path: Path
) -> None:
    ids = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"boot{i}")) for i in range(20)])
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "REDIS_ENABLED": "true",
        "REDIS_URL": redis_url,
        "GEMSDASH_NAMESPACE": redis_runtime.settings.namespace,
        "GEMSDASH_WORKER_TIMEOUT": "2",
        "GEMSDASH_DATA_DIR": str(tmp_path),
    }
    supervisor = Supervisor(env, tmp_path).start()
    try:
        first = supervisor.starts[0]
        booting = wait_for(lambda: children(first.pid), timeout=30, interval=0.01, what="a worker process")
        victim = booting[0]
        killed = time.time()
        os.kill(victim, signal.SIGKILL)  # a worker process importing the actors: not booted yet
        wait_for(lambda: supervisor.exits, timeout=120, interval=0.05, what="the group to stop")
        noticed = noticed_at(tmp_path / "group-0.log", victim) - killed
        wait_for(
            lambda: all(get_job(j).state is JobState.SUCCEEDED for j in ids),  # type: ignore[union-attr]
            timeout=120,
            interval=0.2,
            what="every job to run after the restart",
        )
        done = time.time() - killed
    finally:
        supervisor.stop()
    stopped = supervisor.exits[0] - killed
    print(
        f"\nkilled during boot: noticed after {noticed:.1f} s, group stopped after {stopped:.1f} s, "
        f"all 20 jobs done {done:.1f} s after the kill; groups started {len(supervisor.starts)}"
    )
    assert noticed <= DETECTION_BOUND_S
    assert all(get_job(j).attempts == 1 for j in ids)  # type: ignore[union-attr]
