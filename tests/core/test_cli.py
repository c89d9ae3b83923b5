"""The command line as a user runs it: real processes, real Redis, exit codes and --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemsdash.queue import JobState, Runtime, get_job
from tests.core.workload import email, scripted
from tests.support import Cli, free_port, wait_for

WELCOME = json.dumps(email("cli"))


@pytest.mark.slow
def test_a_payload_can_come_from_stdin_or_a_file_and_stay_out_of_the_process_list(cli: Cli, tmp_path: Path) -> None:
    from_stdin = cli("enqueue", "email-notification", "--payload", "-", stdin=WELCOME)
    assert from_stdin.returncode == 0, from_stdin.stderr
    payload_file = tmp_path / "payload.json"
    payload_file.write_text(WELCOME)
    from_file = cli("enqueue", "email-notification", "--payload", f"@{payload_file}")
    assert from_file.returncode == 0, from_file.stderr
    for done in (from_stdin, from_file):
        record = get_job(done.stdout.strip())
        sent = json.loads(WELCOME)
        assert record is not None and {k: record.payload[k] for k in sent} == sent
    missing = cli("enqueue", "email-notification", "--payload", f"@{tmp_path / 'nope.json'}")
    assert missing.returncode == 2
    assert "cannot read the file" in missing.stderr and "nope.json" in missing.stderr


@pytest.mark.slow
def test_enqueue_prints_the_job_id_and_job_shows_the_record(cli: Cli) -> None:
    done = cli(
        "enqueue",
        "email-notification",
        "--payload",
        WELCOME,
        "--priority",
        "critical",
        "--attempts",
        "2",
        "--backoff",
        "fixed",
        "--backoff-delay-ms",
        "100",
    )
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.strip()
    shown = cli("job", job_id, "--json")
    assert shown.returncode == 0
    record = json.loads(shown.stdout)
    expected_fields = {
        "id",
        "type",
        "queue",
        "state",
        "priority",
        "payload",
        "attempts",
        "max_attempts",
        "created_at",
        "started_at",
        "finished_at",
        "next_attempt_at",
        "duration_ms",
        "result",
        "error",
        "worker",
    }
    assert expected_fields <= record.keys()
    assert record["id"] == job_id and record["state"] == "queued" and record["priority"] == "critical"
    assert record["max_attempts"] == 2 and record["created_at"].endswith("Z")
    human = cli("job", job_id)
    assert "state: queued" in human.stdout and "timeline" in human.stdout


def test_stats_json_has_every_queue_and_state(cli: Cli) -> None:
    cli("enqueue", "email-notification", "--payload", WELCOME)
    data = json.loads(cli("stats", "--json").stdout)
    assert data["mode"] == "redis" and data["fallback_reason"] is None and data["workers"] == 0
    assert list(data["queues"]) == ["sketch-generation", "emotion-analysis", "email-notification", "payment-processing"]
    for counts in data["queues"].values():
        assert list(counts) == ["queued", "delayed", "running", "retrying", "succeeded", "dead", "cancelled"]
    assert data["queues"]["email-notification"]["queued"] == 1


def test_an_invalid_payload_is_refused_with_exit_2_naming_the_field(cli: Cli) -> None:
    done = cli("enqueue", "email-notification", "--payload", '{"to": "a@b.co", "template": "welcome"}')
    assert done.returncode == 2
    assert "context" in done.stderr and "name" in done.stderr
    assert cli("enqueue", "email-notification", "--payload", "{not json").returncode == 2
    assert json.loads(cli("stats", "--json").stdout)["queues"]["email-notification"]["queued"] == 0


@pytest.mark.slow
def test_jobs_lists_and_filters(cli: Cli) -> None:
    ids = [cli("enqueue", "email-notification", "--payload", WELCOME).stdout.strip() for _ in range(3)]
    listed = json.loads(cli("jobs", "email-notification", "--state", "queued", "--limit", "2", "--json").stdout)
    assert listed["total"] == 3 and len(listed["jobs"]) == 2
    assert [j["id"] for j in listed["jobs"]] == ids[::-1][:2]  # newest first
    found = json.loads(cli("jobs", "email-notification", "--search", ids[0][:8], "--json").stdout)
    assert [j["id"] for j in found["jobs"]] == [ids[0]]


@pytest.mark.slow
def test_cancel_retry_and_clear(cli: Cli) -> None:
    job_id = cli("enqueue", "email-notification", "--payload", WELCOME).stdout.strip()
    assert cli("cancel", job_id).returncode == 0
    again = cli("cancel", job_id)
    assert again.returncode == 1 and "it is cancelled" in again.stderr
    assert cli("retry", job_id).returncode == 0
    refused = cli("clear", "email-notification")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    cleared = cli("clear", "email-notification", "--yes", "--json")
    assert json.loads(cleared.stdout)["removed"] == {"queued": 1, "delayed": 0, "retrying": 0}
    audit = json.loads(cli("audit", "--json").stdout)
    assert [e["action"] for e in audit] == ["clear", "retry", "cancel"]
    assert cli("job", "no-such-job").returncode == 1


def test_retry_all_from_the_cli(cli: Cli, redis_runtime: Runtime) -> None:
    with scripted():
        redis_runtime.start_worker(threads=2)
        from gemsdash.queue import add_job

        ids = [add_job("email-notification", email("fatal"), attempts=1) for _ in range(3)]
        wait_for(lambda: all(get_job(j).state is JobState.DEAD for j in ids), what="dead")  # type: ignore[union-attr]
        redis_runtime.stop_worker()
    done = cli("retry", "--queue", "email-notification", "--all", "--json")
    assert json.loads(done.stdout) == {"queue": "email-notification", "retried": 3}


@pytest.mark.slow
def test_health_reports_waiting_jobs_without_workers(cli: Cli) -> None:
    assert cli("health").returncode == 0
    cli("enqueue", "email-notification", "--payload", WELCOME)
    unhealthy = cli("health", "--json")
    assert unhealthy.returncode == 1
    assert "no live worker" in json.loads(unhealthy.stdout)["reasons"][0]


@pytest.mark.parametrize(
    "command",
    [
        ["stats"],
        ["jobs", "email-notification"],
        ["job", "x"],
        ["retry", "x"],
        ["cancel", "x"],
        ["clear", "email-notification", "--yes"],
        ["enqueue", "email-notification", "--payload", "{}"],
    ],
)
@pytest.mark.slow
def test_one_shot_commands_in_memory_mode_explain_and_exit_2(cli: Cli, command: list[str]) -> None:
    done = cli(*command, env={"REDIS_ENABLED": "false"})
    assert done.returncode == 2
    assert "memory mode" in done.stderr and "REDIS_ENABLED=true" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_unreachable_redis_is_one_line_exit_2_without_the_password(cli: Cli) -> None:
    url = f"redis://:topsecret@127.0.0.1:{free_port()}/0"
    for command in (["stats"], ["worker"]):
        done = cli(*command, env={"REDIS_URL": url})
        assert done.returncode == 2
        assert "unreachable" in done.stderr and "topsecret" not in done.stderr + done.stdout
        assert len(done.stderr.strip().splitlines()) == 1


def test_a_bad_setting_is_one_line_exit_2(cli: Cli) -> None:
    done = cli("stats", env={"REDIS_PORT": "abc", "REDIS_URL": ""})
    assert done.returncode == 2
    assert done.stderr.strip().startswith("gemsdash: invalid value for REDIS_PORT")


def test_worker_without_redis_exits_2(cli: Cli) -> None:
    done = cli("worker", env={"REDIS_ENABLED": "false"})
    assert done.returncode == 2 and "needs Redis" in done.stderr


def test_a_bad_job_implementation_setting_stops_the_worker_at_start(cli: Cli) -> None:
    done = cli("worker", env={"GEMSDASH_SKETCH_GENERATOR": "no_such_module:factory"})
    assert done.returncode == 2
    assert "no_such_module" in done.stderr and len(done.stderr.strip().splitlines()) == 1
