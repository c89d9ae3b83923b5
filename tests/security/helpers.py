"""Helpers of the security tests: running the CLI as a user would, and searching everything a
user or an attacker with Redis access could read for a secret."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.support import text

#: Environment variables a CLI subprocess keeps from the test process (none of the REDIS_* ones).
BASE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


@dataclass(frozen=True)
class CliRun:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    pid: int

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str, env: dict[str, str], cwd: Path, stdin: int | None = None) -> CliRun:
    """`gemsdash ARGS` in a fresh process; `cwd` keeps any developer `.env` out of its settings.
    `stdin`: a file descriptor to read from (a terminal's, say) instead of the test's own."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gemsdash", *args],
        env={**BASE_ENV, **env},
        cwd=cwd,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return CliRun(args, proc.returncode, stdout, stderr, proc.pid)


def one_line_error(run: CliRun) -> str:
    """The CLI's contract for a failure it understands: exit 2 and one line on stderr, no traceback."""
    assert run.returncode == 2, (run.args, run.returncode, run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("gemsdash: ") and "Traceback" not in run.stderr
    return lines[0]


def namespace_dump(client: redis.Redis, namespace: str) -> str:
    """Every value stored under `namespace` (records, queues, dead letters, audit log) as text:
    what anyone able to read the Redis keyspace would see."""
    chunks: list[str] = []
    for key in client.scan_iter(match=f"{namespace}*", count=1000):
        kind = text(client.type(key))
        value: object
        if kind == "string":
            value = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        else:
            value = f"<{kind}>"
        chunks.append(f"{key!r} {value!r}")
    return "\n".join(chunks)


def leaked(text: str, secrets: dict[str, str]) -> list[str]:
    """The names of the secrets found in `text`."""
    return [name for name, secret in secrets.items() if secret in text]
