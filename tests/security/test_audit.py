"""Every retry, cancel and clear is in the audit log: when, what, how many, from which host and
process. Redis mode end to end through `gemsdash` processes (and the HTTP API); memory mode through
the API the dashboard calls."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import gemsdash.queue as q
from gemsdash.queue import JobState, JobType, Runtime
from tests.core.workload import email, scripted
from tests.http.conftest import AUTH, TOKEN, http_settings, live_server
from tests.security.helpers import CliRun, run_cli
from tests.support import wait_for_job

QUEUE = JobType.EMAIL_NOTIFICATION.value


def by_process(pid: int) -> re.Pattern[str]:
    """`user@host:pid`, as admin.actor_label() writes it."""
    return re.compile(rf"^[^@\s]+@{re.escape(socket.gethostname())}:{pid}$")


def what(entry: dict[str, Any]) -> tuple[str, str, int]:
    return entry["action"], entry["target"], entry["count"]


def assert_who_and_when(entry: dict[str, Any], pid: int, window: tuple[int, int]) -> None:
    assert by_process(pid).match(entry["by"]), entry["by"]
    at = entry["at"]
    if isinstance(at, str):  # `gemsdash audit --json` says when in ISO 8601
        at = round(datetime.fromisoformat(at).timestamp() * 1000)
    assert window[0] <= at <= window[1], (entry["at"], window)


def now_ms() -> int:
    return int(time.time() * 1000)


def dead_jobs(runtime: Runtime, n: int) -> list[str]:
    """`n` jobs that failed for good, run by an in-process worker that is stopped afterwards."""
    with scripted():
        runtime.start_worker(threads=2)
        ids = [q.add_job(QUEUE, email("fatal"), attempts=1) for _ in range(n)]
        for job_id in ids:
            wait_for_job(job_id, lambda record: record.state is JobState.DEAD)
        runtime.stop_worker()
    return ids


@pytest.mark.slow
def test_cli_actions_are_audited_in_redis(redis_runtime: Runtime, redis_url: str, tmp_path: Path) -> None:
    env = {"REDIS_ENABLED": "true", "REDIS_URL": redis_url, "GEMSDASH_NAMESPACE": redis_runtime.settings.namespace}
    dead = dead_jobs(redis_runtime, 2)
    waiting = [q.add_job(QUEUE, email(f"wait-{i}")) for i in range(3)]
    start = now_ms()

    def act(*args: str) -> CliRun:
        run = run_cli(*args, env=env, cwd=tmp_path)
        assert run.returncode == 0, (args, run.stderr)
        return run

    steps = [
        (act("cancel", waiting[0]), "cancel", waiting[0], 1),
        (act("retry", waiting[0]), "retry", waiting[0], 1),
        (act("retry", "--queue", QUEUE, "--all"), "retry-all", QUEUE, 2),
        (act("clear", QUEUE, "--yes"), "clear", QUEUE, 5),  # 3 waiting + 2 retried from dead
        (act("clear", "sketch-generation", "--yes"), "clear", "sketch-generation", 0),
    ]
    refused = run_cli("cancel", waiting[1], env=env, cwd=tmp_path)  # already cleared: changes nothing
    assert refused.returncode == 1 and "it is cancelled" in refused.stderr
    end = now_ms()

    shown = act("audit", "--json")
    entries = json.loads(shown.stdout)
    assert len(entries) == len(steps), entries  # one per action that did something; newest first
    for entry, (run, *expected) in zip(entries, reversed(steps), strict=True):
        assert what(entry) == tuple(expected)
        assert_who_and_when(entry, run.pid, (start, end))
    assert len({e["by"] for e in entries}) == len(steps)  # each from its own process
    clear_entry = entries[1]
    assert clear_entry["removed"] == {"queued": 5, "delayed": 0, "retrying": 0}
    assert entries[-1]["queue"] == QUEUE and entries[-2]["queue"] == QUEUE
    assert set(dead) | set(waiting) == {j.id for j in q.list_jobs(QUEUE, JobState.CANCELLED).jobs}

    text = act("audit").stdout.splitlines()
    assert len(text) == len(steps) and text[0].split()[1:3] == ["clear", "sketch-generation"]


def test_http_actions_are_audited(redis_runtime: Runtime) -> None:
    job_id = q.add_job(QUEUE, email("wait"))
    start = now_ms()
    with live_server(http_settings(admin_token=TOKEN)) as client:
        assert client.post(f"/queue/jobs/{job_id}/cancel", headers=AUTH).status_code == 200
        assert client.post(f"/queue/jobs/{job_id}/retry", headers=AUTH).status_code == 200
        assert client.delete(f"/queue/clear/{QUEUE}", headers=AUTH).status_code == 200
    end = now_ms()
    entries = q.audit_log(10)
    expected = [("clear", QUEUE, 1), ("retry", job_id, 1), ("cancel", job_id, 1)]
    assert [what(e) for e in entries] == expected
    for entry in entries:  # the server runs in this process
        assert_who_and_when(entry, os.getpid(), (start, end))


def test_api_actions_are_audited_in_memory_mode(memory_runtime: Runtime) -> None:
    dead = dead_jobs(memory_runtime, 1)
    delayed = q.add_job(QUEUE, email("later"), delay=3_600_000)
    start = now_ms()
    q.cancel(delayed)
    q.retry(delayed)
    assert q.retry_all(QUEUE) == 1
    removed = q.clear(QUEUE)
    end = now_ms()
    assert removed.total == 2
    entries = q.audit_log(10)
    expected = [("clear", QUEUE, 2), ("retry-all", QUEUE, 1), ("retry", delayed, 1), ("cancel", delayed, 1)]
    assert [what(e) for e in entries] == expected
    for entry in entries:
        assert_who_and_when(entry, os.getpid(), (start, end))
    cleared = q.get_job(dead[0])
    assert cleared is not None and cleared.state is JobState.CANCELLED  # dead, retried, then cleared


def test_a_user_name_that_is_not_utf8_signs_changes_replaced(
    any_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """USER and LOGNAME are bytes; Python hands one that is not UTF-8 over with lone surrogates,
    which Redis mode could not send (the cancel failed with a UnicodeEncodeError) and memory mode
    stored, so that the job could no longer be encoded for the CLI's --json or the HTTP API."""
    monkeypatch.setenv("LOGNAME", "mall\udcffory")
    job_id = q.add_job(JobType.EMAIL_NOTIFICATION, email("not-utf8"), delay=60_000)
    q.cancel(job_id)
    record = q.get_job(job_id)
    assert record is not None and record.state is JobState.CANCELLED
    note = record.timeline[-1].note
    assert note is not None and note.startswith("cancelled by mall\ufffdory@")
    assert "mall\ufffdory@" in record.model_dump_json()
    assert next(e["by"] for e in q.audit_log(5) if e["target"] == job_id).startswith("mall\ufffdory@")
