"""`gemsdash schedule ...` and `enqueue --at` as a user runs them: real processes, exit codes, --json."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from gemsdash.queue import JobState, audit_log, get_job, list_schedules
from tests.core.workload import email
from tests.support import Cli

WELCOME = json.dumps(email("cli"))
#: The job part of `schedule add`.
JOB = ["email-notification", "--payload", WELCOME]


@pytest.mark.slow
def test_schedule_commands_and_their_json(cli: Cli) -> None:
    added = cli(
        "schedule", "add", "digest", "--cron", "0 8 * * *", "--timezone", "Europe/Berlin",
        "email-notification", "--payload", "-", "--priority", "high", "--catch-up", "2", "--json",
        stdin=WELCOME,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    data = json.loads(added.stdout)
    assert data["name"] == "digest" and data["rule"] == "cron 0 8 * * * (Europe/Berlin)"
    assert data["priority"] == "high" and data["catch_up"] == 2 and data["next_run_at"].endswith("Z")

    again = cli("schedule", "add", "digest", "--every", "5m", "email-notification", "--payload", WELCOME)
    assert again.returncode == 1 and "already exists" in again.stderr

    run = cli("schedule", "run", "digest", "--json")
    assert run.returncode == 0, run.stderr
    job_id = json.loads(run.stdout)["id"]
    record = get_job(job_id)
    assert record is not None and record.schedule == "digest" and record.priority.value == "high"

    listed = cli("schedule", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["last_job_id"], r["last_job_state"], r["paused"]) for r in rows] == [
        ("digest", job_id, "queued", False)
    ]
    text = cli("schedule", "list").stdout
    assert "digest" in text and "cron 0 8 * * * (Europe/Berlin)" in text and job_id in text

    paused = cli("schedule", "pause", "digest", "--json")
    assert paused.returncode == 0 and json.loads(paused.stdout)["paused"] is True
    assert "paused" in cli("schedule", "list").stdout
    resumed = cli("schedule", "resume", "digest", "--json")
    assert json.loads(resumed.stdout)["paused"] is False
    removed = cli("schedule", "remove", "digest", "--json")
    assert json.loads(removed.stdout) == {"name": "digest", "removed": True}
    assert list_schedules() == []
    assert cli("schedule", "list").stdout.strip() == "(no schedules)"
    assert [e["action"] for e in reversed(audit_log(10))] == [
        "schedule-add", "schedule-run", "schedule-pause", "schedule-resume", "schedule-remove",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["remove", "nope"], 1, "schedule 'nope' not found"),
        (["run", "nope"], 1, "not found"),
        (["pause", "nope"], 1, "not found"),
        (["add", "x", *JOB], 2, "one of the arguments --cron --every"),
        (["add", "x", "--every", "1s", "--cron", "* * * * *", *JOB], 2, "not allowed"),
        (["add", "x", "--every", "soon", *JOB], 2, "--every 'soon'"),
        (["add", "x", "--cron", "0 25 * * *", *JOB], 2, "--cron"),
        (["add", "x", "--cron", "0 8 * * *", "--timezone", "CEST", *JOB], 2, "timezone"),
        (["add", "x", "--every", "1m", "email-notification", "--payload", "{\"to\": 1}"], 2, "invalid email"),
        (["add", "x", "--every", "1m", "email-notification", "--payload", "{"], 2, "not valid JSON"),
        (["add", "x", "--every", "1m", "--catch-up", "500", *JOB], 2, "--catch-up"),
        (["list", "--limit"], 2, "unrecognized"),
        ([], 2, "required"),
    ],
)  # fmt: skip
@pytest.mark.slow
def test_schedule_errors_are_one_line_with_the_cli_exit_codes(
    cli: Cli, args: list[str], code: int, message: str
) -> None:
    done = cli("schedule", *args)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    if "usage:" not in done.stderr:  # argparse's own errors come with the usage
        assert len(done.stderr.strip().splitlines()) == 1
    assert list_schedules() == []


def test_a_schedule_command_in_memory_mode_says_it_needs_redis(cli: Cli) -> None:
    done = cli("schedule", "list", env={"REDIS_ENABLED": "false"})
    assert done.returncode == 2 and "needs Redis" in done.stderr


def test_enqueue_at_a_time(cli: Cli) -> None:
    at = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    local = at.astimezone(datetime.now().astimezone().tzinfo).isoformat()
    done = cli("enqueue", "email-notification", "--payload", WELCOME, "--at", local.replace("+00:00", "Z"))
    assert done.returncode == 0, done.stderr
    record = get_job(done.stdout.strip())
    assert record is not None and record.state is JobState.DELAYED
    assert record.next_attempt_at is not None
    assert abs((record.next_attempt_at - at).total_seconds()) < 0.01
    berlin = cli(
        "enqueue",
        "email-notification",
        "--payload",
        WELCOME,
        "--at",
        at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin")).isoformat(),
    )
    assert berlin.returncode == 0
    record = get_job(berlin.stdout.strip())
    assert record is not None and record.next_attempt_at is not None
    assert abs((record.next_attempt_at - at).total_seconds()) < 0.01


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("2020-01-01T00:00:00Z", "in the past"),
        ("2099-01-01T08:00:00", "add a timezone"),
        ("tomorrow", "not an ISO-8601 time"),
        ("2099-01-01T08:00:00Z", "delay"),  # beyond the 7-day limit of a delay
    ],
)
@pytest.mark.slow
def test_enqueue_at_refuses_what_it_cannot_honour(cli: Cli, at: str, message: str) -> None:
    done = cli("enqueue", "email-notification", "--payload", WELCOME, "--at", at)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    both = cli("enqueue", "email-notification", "--payload", WELCOME, "--at", "2099-01-01T00:00:00Z", "--delay-ms", "5")
    assert both.returncode == 2 and "either --at or --delay-ms" in both.stderr
