"""Worker processes for fault tests: `gemsdash worker` in its own session (so a test can SIGKILL
the whole group), its log in a file to read when the test fails or to count lines in."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKEW_SHIM = Path(__file__).resolve().parent / "skewclock"


def worker_env(redis_url: str | None, namespace: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """A worker's whole environment; `redis_url` None when `extra` names the default's Sentinel or
    Cluster instead (REDIS_SENTINELS, REDIS_CLUSTER_NODES)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "REDIS_ENABLED": "true",
        "GEMSDASH_NAMESPACE": namespace,
        "GEMSDASH_WORKER_TIMEOUT": "2",
        "GEMSDASH_DATA_DIR": str(data_dir),
    }
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    # The `start`-in-fetch prototype (runtime.py), on in the workers when the test run has it on.
    if "GEMSDASH_FOLD_START" in os.environ:
        env["GEMSDASH_FOLD_START"] = os.environ["GEMSDASH_FOLD_START"]
    env.update(extra)
    return env


def skewed(env: dict[str, str], seconds: float) -> dict[str, str]:
    """`env` for a worker whose wall clock is `seconds` off (see skewclock/sitecustomize.py)."""
    return {**env, "PYTHONPATH": str(SKEW_SHIM), "GEMSDASH_TEST_CLOCK_OFFSET": str(seconds)}


class WorkerProcess:
    def __init__(self, env: dict[str, str], log_dir: Path, *options: str, processes: int = 1, threads: int = 4) -> None:
        """`options`: more `gemsdash worker` options (`--shard NAME`)."""
        self.log = log_dir / f"worker-{time.monotonic_ns()}.log"
        argv = ["worker", "--processes", str(processes), "--threads", str(threads), *options]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gemsdash", *argv],
                cwd=ROOT,
                env=env,
                start_new_session=True,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL the whole process group (the `dramatiq` master and its worker children)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def kill_children(self) -> int:
        """SIGKILL the worker children only (the master stays); returns how many."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False)
        pids = [int(p) for p in out.stdout.split()]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return len(pids)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()
