"""What every scenario shares: the private redis-server, worker processes, the gemsdash runtime of
the benchmark process itself, and waiting on a condition with a deadline."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from gemsdash.queue import Runtime, Settings, configure, load_settings
from gemsdash.queue.runtime import reset
from tests.support import RedisServer

ROOT = Path(__file__).resolve().parent.parent


def tree_env(tree: Path | None) -> tuple[Path, dict[str, str]]:
    """Working directory and PYTHONPATH for a process that imports gemsdash from `tree` (a patched
    copy, for before/after figures; None: this checkout). The working directory comes first on
    sys.path, ahead of the editable install's finder; this checkout still provides `benchmarks`."""
    if tree is None:
        return ROOT, {"PYTHONPATH": str(ROOT)}
    return tree, {"PYTHONPATH": f"{tree}{os.pathsep}{ROOT}"}


@dataclass
class Bench:
    """The benchmark's own Redis (so counter deltas are exact) and a scratch directory."""

    server: RedisServer
    client: redis.Redis
    scratch: Path

    @property
    def url(self) -> str:
        return self.server.url

    def fresh(self) -> None:
        """An empty Redis with zeroed counters, so a scenario starts from nothing."""
        self.client.flushall()
        self.client.config_resetstat()


@contextmanager
def bench() -> Iterator[Bench]:
    scratch = Path(tempfile.mkdtemp(prefix="gemsdash-bench-"))
    # No persistence (RedisServer's default) and no eviction: memory figures are the data's.
    with RedisServer("--maxmemory", "0") as server:
        client = redis.Redis.from_url(server.url)
        try:
            yield Bench(server, client, scratch)
        finally:
            client.close()
            reset()
            shutil.rmtree(scratch, ignore_errors=True)


def gemsdash_runtime_settings(url: str, namespace: str, **settings: object) -> Settings:
    return load_settings(redis_enabled=True, redis_url=url, namespace=namespace, redis_fallback=False, **settings)


def gemsdash_runtime(b: Bench, namespace: str, **settings: object) -> Runtime:
    """This process's gemsdash runtime on the benchmark's Redis (the producer and the reader)."""
    reset()
    return configure(gemsdash_runtime_settings(b.url, namespace, **settings), role="oneshot")


class Workers:
    """`python -m dramatiq <module>` in a process group of its own, stopped by its PID."""

    def __init__(
        self, b: Bench, module: str, processes: int, threads: int, env: dict[str, str], tree: Path | None = None
    ) -> None:
        self.stats_dir = Path(tempfile.mkdtemp(prefix="rt-", dir=b.scratch))
        self.log = b.scratch / f"{module.rsplit('.', 1)[-1]}-{time.monotonic_ns()}.log"
        cwd, paths = tree_env(tree)
        full_env = {
            **os.environ,
            **paths,
            "REDIS_URL": b.url,
            "REDIS_ENABLED": "true",
            "REDIS_FALLBACK": "false",
            "BENCH_STATS_DIR": str(self.stats_dir),
            **env,
        }
        argv = [sys.executable, "-m", "dramatiq", module, "--processes", str(processes), "--threads", str(threads)]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check(self) -> None:
        if not self.alive():
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{tail}")

    def stop(self) -> None:
        """Dramatiq's graceful shutdown (SIGTERM to its main process), then the round trips counted."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and all its descendants still running (Linux /proc)."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / _TICKS
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
