"""No secret is shown: real commands, a real worker, real failures, everything captured and grepped.

One scenario runs per module against a password-protected redis-server of its own: jobs that fail
with the Redis password in their exception, email jobs whose payload carries a password and a
token and whose SMTP server (with SMTP_PASSWORD set) refuses them echoing that password, and a
job enqueued through the CLI. Every log record (root and `dramatiq`, at DEBUG), every CLI output
(`stats`, `enqueue`, `jobs`, `job`, `health`, `audit`, text and --json) and every Redis value is
kept, and each test greps one of them for the secrets.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from gemsdash.actors.settings import load_actor_settings, use_settings
from gemsdash.queue import JobState, JobType, PermanentJobError, Runtime, add_job, configure, get_job
from gemsdash.queue import runtime as runtime_module
from gemsdash.queue.handlers import override_work
from gemsdash.queue.payloads import EmotionPayload
from tests.actors.smtp_server import SmtpServer
from tests.conftest import test_settings
from tests.security.helpers import CliRun, leaked, namespace_dump, one_line_error, run_cli
from tests.support import JobOptions, RedisServer, wait_for, wait_for_job

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

REDIS_PASSWORD = "rds-Secret-8f3k2"
SMTP_PASSWORD = "smtp-Secret-4j9x"
CONTEXT_PASSWORD = "ctx-Secret-7h1m"
TOKEN = "tok-Secret-2p6v"
CONFIGURED = {"REDIS_PASSWORD": REDIS_PASSWORD, "SMTP_PASSWORD": SMTP_PASSWORD}
MASKED = {"context.password": CONTEXT_PASSWORD, "context.reset_token": TOKEN}
ALL_SECRETS = {**CONFIGURED, **MASKED}

#: The test's own SMTP server logs the AUTH exchange it receives; that is not gemsdash's output.
TEST_SERVER_LOGGERS = ("mail.log",)
FAST_DEATH: JobOptions = {"attempts": 2, "backoff": {"type": "fixed", "delay": 20}}


@dataclass
class Captured:
    logs: str = ""
    warnings: str = ""
    cli: list[CliRun] = field(default_factory=list)
    redis_values: str = ""
    job_ids: dict[str, str] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    smtp_accepted: int = 0

    @property
    def cli_output(self) -> str:
        return "\n".join(run.output for run in self.cli)


class LogCapture(logging.Handler):
    """caplog's job for a whole module: every record, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[int, str]] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(TEST_SERVER_LOGGERS):
            self.records.append((record.levelno, self.format(record)))

    def text(self, level: int = logging.DEBUG) -> str:
        return "\n".join(text for levelno, text in self.records if levelno >= level)


def failing_work(payload: EmotionPayload) -> None:
    """Job code whose failures quote a connection string with the Redis password in it, or the
    SMTP password: what a careless exception message in real job code looks like."""
    if payload.text == "transient":
        raise ConnectionError(f"lost redis://:{REDIS_PASSWORD}@cache.internal:6379/0")
    if payload.text == "smtp":
        raise RuntimeError(f"login mailer:{SMTP_PASSWORD} refused")
    raise PermanentJobError(f"giving up on redis://:{REDIS_PASSWORD}@cache.internal:6379/0")


def email_payload(to: str) -> dict[str, Any]:
    return {
        "to": to,
        "template": "welcome",
        "context": {"name": "Ann", "password": CONTEXT_PASSWORD, "reset_token": TOKEN},
    }


def run_jobs(port: int, namespace: str, env: dict[str, str], cwd: Path, result: Captured) -> None:
    """Failing and succeeding jobs through an in-process worker, one of them enqueued by the CLI."""
    runtime = configure(
        test_settings(
            redis_enabled=True,
            redis_host="127.0.0.1",
            redis_port=port,
            redis_password=REDIS_PASSWORD,
            namespace=namespace,
            worker_timeout_seconds=2,
        ),
        role="worker",
    )
    ids = result.job_ids
    with override_work(JobType.EMOTION_ANALYSIS, failing_work):
        runtime.start_worker(threads=4)
        for text in ("transient", "permanent"):
            payload = {"text": text, "analysis_type": "text", "user_id": "u1"}
            ids[f"emotion-{text}"] = add_job(JobType.EMOTION_ANALYSIS, payload, **FAST_DEATH)
        for name in ("perm", "temp", "ok"):
            ids[f"email-{name}"] = add_job(
                JobType.EMAIL_NOTIFICATION, email_payload(f"{name}@example.test"), **FAST_DEATH
            )
        cli_payload = json.dumps(email_payload("cli@example.test"))
        enqueued = run_cli("enqueue", "email-notification", "--payload", cli_payload, env=env, cwd=cwd)
        result.cli.append(enqueued)
        ids["email-cli"] = enqueued.stdout.strip()
        for job_id in ids.values():
            wait_for_job(job_id, lambda record: record.state.finished)
        runtime.stop_worker()


def read_back(env: dict[str, str], cwd: Path, result: Captured) -> None:
    """What an operator sees afterwards, through the CLI."""
    ids = result.job_ids
    queues = ("emotion-analysis", "email-notification")
    commands: list[tuple[str, ...]] = [("stats",), ("stats", "--json"), ("health",), ("audit", "--json")]
    commands += [("jobs", queue, *flag) for queue in queues for flag in ((), ("--json",))]
    # `job` in text shows the error with its traceback; --json is the record `jobs --json` lists.
    commands += [("job", ids[name]) for name in ("emotion-transient", "email-perm", "email-cli")]
    commands += [("job", ids["email-ok"], "--json")]
    with ThreadPoolExecutor(max_workers=4) as pool:  # independent reads, run side by side
        result.cli += pool.map(lambda args: run_cli(*args, env=env, cwd=cwd), commands)
    listed = [
        job for run in result.cli if run.args[0] == "jobs" and "--json" in run.args
        for job in json.loads(run.stdout)["jobs"]
    ]  # fmt: skip
    by_id = {job["id"]: job for job in listed}
    result.records = {name: by_id[job_id] for name, job_id in ids.items()}
    wrong = run_cli("stats", env={**env, "REDIS_PASSWORD": "wrong-" + REDIS_PASSWORD[::-1]}, cwd=cwd)
    one_line_error(wrong)
    result.cli.append(wrong)


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    cwd = tmp_path_factory.mktemp("cli")
    namespace = "leaks-" + cwd.name[-6:].replace("_", "")
    result = Captured()
    capture = LogCapture()
    root, dramatiq_logger = logging.getLogger(), logging.getLogger("dramatiq")
    levels = (root.level, dramatiq_logger.level)
    with RedisServer() as server, SmtpServer(credentials=("mailer", SMTP_PASSWORD)) as smtp:
        redis.Redis(port=server.port).config_set("requirepass", REDIS_PASSWORD)
        admin = redis.Redis(port=server.port, password=REDIS_PASSWORD)
        smtp.recorder.refused_rcpt["perm@example.test"] = f"550 5.1.1 no mailbox (auth mailer/{SMTP_PASSWORD})"
        smtp.recorder.refused_rcpt["temp@example.test"] = f"451 4.3.0 busy (auth mailer/{SMTP_PASSWORD})"
        smtp_settings = {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_username": "mailer"}
        use_settings(
            load_actor_settings(_env_file=None, data_dir=cwd / "data", smtp_password=SMTP_PASSWORD, **smtp_settings)
        )
        env = {
            "REDIS_ENABLED": "true",
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(server.port),
            "REDIS_PASSWORD": REDIS_PASSWORD,
            "GEMSDASH_NAMESPACE": namespace,
            "SMTP_PASSWORD": SMTP_PASSWORD,
            **{name.upper(): str(value) for name, value in smtp_settings.items()},
        }
        root.addHandler(capture)
        root.setLevel(logging.DEBUG)
        dramatiq_logger.setLevel(logging.DEBUG)
        try:
            run_jobs(server.port, namespace, env, cwd, result)
            result.smtp_accepted = len(smtp.messages)
            read_back(env, cwd, result)
            result.redis_values = namespace_dump(admin, namespace)
        finally:
            root.removeHandler(capture)
            root.setLevel(levels[0])
            dramatiq_logger.setLevel(levels[1])
            runtime_module.reset()
            use_settings(None)
            admin.close()
        result.logs, result.warnings = capture.text(), capture.text(logging.WARNING)
        yield result


def test_the_scenario_really_put_every_secret_in_play(captured: Captured) -> None:
    """Without this, every grep below could pass by never having met a secret."""
    states = {name: record["state"] for name, record in captured.records.items()}
    assert states == {
        "emotion-transient": "dead",
        "emotion-permanent": "dead",
        "email-perm": "dead",
        "email-temp": "dead",
        "email-ok": "succeeded",
        "email-cli": "succeeded",
    }
    assert captured.records["emotion-transient"]["attempts"] == 2  # it was retried, then dead
    assert captured.records["email-perm"]["error"]["message"].startswith("smtp://127.0.0.1")
    assert "550" in captured.records["email-perm"]["error"]["message"]
    assert "451" in captured.records["email-temp"]["error"]["message"]
    assert captured.smtp_accepted == 2  # the SMTP login with SMTP_PASSWORD worked
    assert all(run.returncode == 0 for run in captured.cli[:-1]), [r.stderr for r in captured.cli if r.returncode]
    assert "Failed to process message" in captured.logs  # the worker's failure logging ran
    assert CONTEXT_PASSWORD in captured.redis_values  # the job needs its payload: it is stored, only masked


def test_cli_output_shows_no_secret(captured: Captured) -> None:
    """stats, enqueue, jobs, job (text and --json), health, audit, and a wrong password."""
    assert leaked(captured.cli_output, ALL_SECRETS) == []


def test_job_records_mask_the_payload_and_redact_the_redis_password(captured: Captured) -> None:
    for name, record in captured.records.items():
        if name.startswith("email"):
            assert record["payload"]["context"] == {"name": "Ann", "password": "***", "reset_token": "***"}
    for name in ("emotion-transient", "emotion-permanent"):
        error = captured.records[name]["error"]
        assert "redis://:***@cache.internal" in error["message"] and "***@cache.internal" in error["traceback"]
        assert leaked(json.dumps(error), ALL_SECRETS) == []


def test_configured_secrets_are_never_stored_in_redis(captured: Captured) -> None:
    assert leaked(captured.redis_values, CONFIGURED) == []


def test_logs_show_no_smtp_password(captured: Captured) -> None:
    """SMTP refusals echoing the password are redacted before they become exceptions."""
    smtp_lines = [line for line in captured.logs.splitlines() if "smtp://127.0.0.1" in line]
    assert smtp_lines, "no SMTP failure was logged"
    assert SMTP_PASSWORD not in "\n".join(smtp_lines)


def test_logs_show_no_redis_password(captured: Captured) -> None:
    assert REDIS_PASSWORD not in captured.logs


def test_logs_show_no_masked_payload_value(captured: Captured) -> None:
    assert leaked(captured.logs, MASKED) == []


def test_logs_at_warning_and_above_show_no_secret(captured: Captured) -> None:
    assert leaked(captured.warnings, ALL_SECRETS) == []


def test_smtp_password_is_redacted_before_any_email_job_ran(
    memory_runtime: Runtime, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="dramatiq")
    use_settings(load_actor_settings(_env_file=None, data_dir=tmp_path, smtp_password=SMTP_PASSWORD))
    try:
        with override_work(JobType.EMOTION_ANALYSIS, failing_work):
            job_id = add_job(JobType.EMOTION_ANALYSIS, {"text": "smtp", "user_id": "u1"}, attempts=1)
            wait_for(lambda: (r := get_job(job_id)) is not None and r.state is JobState.DEAD, what="dead")
    finally:
        use_settings(None)
    record = get_job(job_id)
    assert record is not None and record.error is not None and "login mailer:" in record.error.message
    assert leaked(record.model_dump_json() + caplog.text, CONFIGURED) == []
