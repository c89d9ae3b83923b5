"""Issue 17's command-line fixes, run as a user runs them: every --json outcome is JSON on stdout,
timestamps are ISO 8601, id prefixes, a closed pipe, memory-mode health."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import pytest

from gemsdash.queue import JobRequest, JobState, JobType, Runtime, add_job, add_jobs, get_job
from tests.core.test_operator import SINGLE, TWINS, with_ids
from tests.core.workload import email, scripted
from tests.support import Cli, cli_process_env, wait_for


@pytest.mark.slow
def test_with_json_errors_are_json_on_stdout(cli: Cli, redis_runtime: Runtime) -> None:
    with scripted():
        redis_runtime.start_worker(threads=2)
        ok_id = add_job(JobType.EMAIL_NOTIFICATION, email("ok"))
        wait_for(lambda: (r := get_job(ok_id)) is not None and r.state is JobState.SUCCEEDED, what="success")
    for args, code, says in (
        (("cancel", ok_id), 1, "it has already succeeded"),
        (("retry", ok_id), 1, "it has already succeeded"),
        (("job", "00000000-0000-4000-8000-000000000000"), 1, "not found"),
        (("jobs", "no-such-queue"), 2, "invalid choice"),
        (("clear", "email-notification"), 2, "--yes"),
    ):
        done = cli(*args, "--json")
        assert done.returncode == code, (args, done.stdout, done.stderr)
        reply = json.loads(done.stdout)
        assert reply["code"] == code and says in reply["error"], (args, reply)
        assert done.stderr == "", (args, done.stderr)
    plain = cli("cancel", ok_id)
    assert plain.returncode == 1 and plain.stdout == "" and "it has already succeeded" in plain.stderr


@pytest.mark.slow
def test_audit_json_timestamps_are_iso_8601(cli: Cli) -> None:
    job_id = add_job(JobType.EMAIL_NOTIFICATION, email("ok"), delay=60_000)
    assert cli("cancel", job_id).returncode == 0
    entries = json.loads(cli("audit", "--json").stdout)
    assert entries[0]["target"] == job_id
    assert datetime.fromisoformat(entries[0]["at"]).utcoffset() is not None
    record = json.loads(cli("job", job_id[:8], "--json").stdout)
    assert record["id"] == job_id
    assert datetime.fromisoformat(record["created_at"]).utcoffset() is not None


@pytest.mark.slow
def test_an_id_prefix_works_and_an_ambiguous_one_names_the_matches(
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_ids(monkeypatch, [*TWINS, SINGLE])
    for i in range(3):
        add_job(JobType.EMAIL_NOTIFICATION, email(f"ok-{i}"), delay=60_000)
    shown = cli("job", SINGLE[:8])
    assert shown.returncode == 0 and SINGLE in shown.stdout
    cancelled = cli("cancel", SINGLE[:8], "--json")
    assert cancelled.returncode == 0 and json.loads(cancelled.stdout) == {"id": SINGLE, "state": "cancelled"}
    ambiguous = cli("job", TWINS[0][:8])
    assert ambiguous.returncode == 1
    assert all(t in ambiguous.stderr for t in TWINS) and "ambiguous" in ambiguous.stderr


@pytest.mark.slow
def test_a_closed_pipe_ends_quietly(cli: Cli, redis_runtime: Runtime, redis_url: str) -> None:
    # More than a pipe holds (64 KiB), so the command is still writing when the reader goes.
    add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"ok-{i}"), delay=60_000) for i in range(300)])
    env = cli_process_env(redis_url, redis_runtime.settings.namespace)
    with subprocess.Popen(
        [sys.executable, "-m", "gemsdash", "jobs", "email-notification", "--json", "--limit", "300"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.read(100)
        proc.stdout.close()  # as `| head -c 100` does
        errors = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors
    assert code == 0


def test_memory_mode_health_says_it_cannot_see_the_dashboards_jobs(cli: Cli) -> None:
    done = cli("health", "--json", env={"REDIS_ENABLED": "false"})
    assert done.returncode == 2
    reply = json.loads(done.stdout)
    assert "cannot see the dashboard's jobs" in reply["error"] and reply["code"] == 2
    assert 'healthy"' not in done.stdout, "no verdict it cannot give"


@pytest.mark.slow
def test_pause_and_resume_from_the_command_line(cli: Cli) -> None:
    paused = cli("pause", "payment-processing", "--json")
    assert paused.returncode == 0, paused.stderr
    assert json.loads(paused.stdout) == {"queue": "payment-processing", "paused": True, "changed": True}
    assert json.loads(cli("stats", "--json").stdout)["paused"] == ["payment-processing"]
    assert "paused: payment-processing" in cli("stats").stdout
    again = cli("pause", "payment-processing")
    assert again.returncode == 0 and "already paused" in again.stdout
    resumed = cli("resume", "payment-processing", "--json")
    assert json.loads(resumed.stdout) == {"queue": "payment-processing", "paused": False, "changed": True}
    assert json.loads(cli("stats", "--json").stdout)["paused"] == []
    actions = [e["action"] for e in json.loads(cli("audit", "--json").stdout)]
    assert actions[:3] == ["resume", "pause", "pause"]


@pytest.mark.slow
def test_delete_from_the_command_line(cli: Cli) -> None:
    job_id = add_job(JobType.EMAIL_NOTIFICATION, email("ok-later"), delay=60_000)
    refused = cli("delete", job_id, "--json")
    assert refused.returncode == 1 and "it is delayed" in json.loads(refused.stdout)["error"]
    assert cli("cancel", job_id).returncode == 0
    deleted = cli("delete", job_id[:8], "--json")
    assert deleted.returncode == 0 and json.loads(deleted.stdout) == {"id": job_id, "deleted": True}
    gone = cli("job", job_id, "--json")
    assert gone.returncode == 1 and json.loads(gone.stdout)["code"] == 1


def test_jobs_priority_filter_from_the_command_line(cli: Cli) -> None:
    urgent = add_job(JobType.EMAIL_NOTIFICATION, email("ok-urgent"), priority="critical", delay=60_000)
    add_job(JobType.EMAIL_NOTIFICATION, email("ok-later"), priority="low", delay=60_000)
    done = cli("jobs", "email-notification", "--priority", "critical", "--json")
    assert done.returncode == 0, done.stderr
    assert [j["id"] for j in json.loads(done.stdout)["jobs"]] == [urgent]
    wrong = cli("jobs", "email-notification", "--priority", "urgent", "--json")
    assert wrong.returncode == 2 and "invalid choice" in json.loads(wrong.stdout)["error"]


def test_abort_from_the_command_line(cli: Cli, redis_runtime: Runtime) -> None:
    with scripted():
        redis_runtime.start_worker(threads=2)
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("slow-cli"))
        wait_for(lambda: (r := get_job(job_id)) is not None and r.state is JobState.RUNNING, what="running")
        done = cli("abort", job_id[:8], "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"id": job_id, "abort": "requested"}
        wait_for(lambda: (r := get_job(job_id)) is not None and r.state is JobState.CANCELLED, timeout=5, what="stop")
    again = cli("abort", job_id, "--json")
    assert again.returncode == 1 and "it is cancelled" in json.loads(again.stdout)["error"]


def test_run_now_from_the_command_line(cli: Cli) -> None:
    job_id = add_job(JobType.EMAIL_NOTIFICATION, email("ok-later"), delay=60_000)
    done = cli("run-now", job_id[:8], "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"id": job_id, "state": "queued"}
    record = get_job(job_id)
    assert record is not None and record.state is JobState.QUEUED and record.next_attempt_at is None
    again = cli("run-now", job_id, "--json")
    assert again.returncode == 1 and "it is queued" in json.loads(again.stdout)["error"]


def test_job_shows_what_the_job_logged(cli: Cli, redis_runtime: Runtime) -> None:
    with scripted():
        redis_runtime.start_worker(threads=2)
        job_id = add_job(
            JobType.EMAIL_NOTIFICATION, {**email("x"), "context": {"name": "log-cli", "password": "sekrit-123"}}
        )
        wait_for(lambda: (r := get_job(job_id)) is not None and r.state is JobState.SUCCEEDED, what="done")
    shown = json.loads(cli("job", job_id[:8], "--json").stdout)
    assert any("starting log-cli" in line for line in shown["logs"])
    text = cli("job", job_id).stdout
    assert "logs:" in text and "signing in with ***" in text and "sekrit-123" not in text
