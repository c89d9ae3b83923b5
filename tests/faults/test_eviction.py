"""A Redis whose maxmemory-policy may evict keys: every process that writes refuses to start, in
one line naming the policy and the fix, unless GEMSDASH_ALLOW_EVICTION=true; health reports it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gemsdash.queue import ConfigError, JobType, add_job, configure, health
from gemsdash.queue import runtime as runtime_module
from tests.conftest import test_settings
from tests.core.workload import email
from tests.security.helpers import one_line_error, run_cli
from tests.support import RedisServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def evicting_redis() -> Iterator[RedisServer]:
    with RedisServer("--maxmemory", "20mb", "--maxmemory-policy", "allkeys-lru") as server:
        yield server


@pytest.fixture(autouse=True)
def _forget_runtime() -> Iterator[None]:
    yield
    runtime_module.reset()


def env_for(server: RedisServer, **extra: str) -> dict[str, str]:
    return {"REDIS_ENABLED": "true", "REDIS_URL": server.url, "GEMSDASH_NAMESPACE": "evict", **extra}


def assert_names_policy_and_fix(line: str) -> None:
    assert "maxmemory-policy is allkeys-lru" in line, line
    assert "noeviction" in line and "GEMSDASH_ALLOW_EVICTION=true" in line, line


@pytest.mark.parametrize("role", ["worker", "host"])
def test_configure_refuses_an_evicting_redis(evicting_redis: RedisServer, role: str) -> None:
    """`host` (the dashboard, `serve`, an app's producer) does not fall back to memory either."""
    before = runtime_module.configured()
    with pytest.raises(ConfigError) as refused:
        configure(test_settings(redis_enabled=True, redis_url=evicting_redis.url, namespace="evict"), role=role)  # type: ignore[arg-type]
    assert_names_policy_and_fix(str(refused.value))
    assert runtime_module.configured() is before  # nothing half-configured


@pytest.mark.parametrize(
    "args",
    [
        ("enqueue", "email-notification", "--payload", json.dumps(email("x"))),
        ("worker", "--processes", "1"),
        ("serve", "--port", "0"),
        ("clear", "email-notification", "--yes"),
    ],
    ids=["enqueue", "worker", "serve", "clear"],
)
def test_writing_commands_refuse_in_one_line(
    evicting_redis: RedisServer, tmp_path: Path, args: tuple[str, ...]
) -> None:
    run = run_cli(*args, env=env_for(evicting_redis), cwd=tmp_path)
    assert_names_policy_and_fix(one_line_error(run))


def test_plain_dramatiq_refuses_in_one_line(evicting_redis: RedisServer, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "dramatiq", "gemsdash.actors", "--processes", "1", "--threads", "1"],
        env={"PATH": "/usr/bin:/bin", **env_for(evicting_redis)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert run.returncode != 0
    ours = [line for line in run.stderr.splitlines() if line.startswith("gemsdash: ")]
    assert len(ours) == 1, run.stderr
    assert_names_policy_and_fix(ours[0])
    assert "Traceback" not in run.stderr, run.stderr


def test_reads_still_work_and_health_names_the_policy(evicting_redis: RedisServer, tmp_path: Path) -> None:
    stats = run_cli("stats", "--json", env=env_for(evicting_redis), cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    report = run_cli("health", "--json", env=env_for(evicting_redis), cwd=tmp_path)
    assert report.returncode == 1
    problems = json.loads(report.stdout)["problems"]
    assert [p["kind"] for p in problems] == ["eviction_policy"]
    assert "allkeys-lru" in problems[0]["detail"]


def test_allow_eviction_starts_with_a_warning_and_a_lasting_health_problem(
    evicting_redis: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gemsdash"):
        configure(
            test_settings(
                redis_enabled=True, redis_url=evicting_redis.url, namespace="evict-allowed", allow_eviction=True
            ),
            role="worker",
        )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "allkeys-lru" in warnings[0]
    add_job(JobType.EMAIL_NOTIFICATION, email("allowed"))
    kinds = [p.kind for p in health().problems]
    assert "eviction_policy" in kinds
    run = run_cli(
        "enqueue",
        "email-notification",
        "--payload",
        json.dumps(email("y")),
        env=env_for(evicting_redis, GEMSDASH_ALLOW_EVICTION="true"),
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "allkeys-lru" in run.stderr
