"""Property: `gemsdash enqueue TYPE --payload TEXT`, for any TEXT, exits 0 printing the new job's id,
or exits 2 with one line on stderr; never a traceback. Most examples call `gemsdash.cli.main`
in-process (a process start costs ~0.5 s); a few run the real command."""

from __future__ import annotations

import json
import os
import pty
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import gemsdash.queue as q
from gemsdash import cli
from gemsdash.queue import JOB_SPECS, JobState, JobType
from tests.properties.strategies import candidates, payload_texts
from tests.security.helpers import run_cli

IN_PROCESS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SUBPROCESS = settings(IN_PROCESS, max_examples=4)


def fields_of(job_type: JobType) -> list[str]:
    return list(JOB_SPECS[job_type].payload_model.model_fields)


def assert_outcome(code: int, out: str, err: str) -> None:
    assert "Traceback" not in out + err
    if code == 0:
        job_id = out.strip()
        assert str(uuid.UUID(job_id)) == job_id and err == ""
        record = q.get_job(job_id)
        assert record is not None and record.state is JobState.QUEUED
    else:
        assert code == 2, (code, err)
        assert out == "" and err.startswith("gemsdash: ")
        assert len(err.rstrip("\n").splitlines()) == 1, err


def key_breaks_lines(text: str) -> bool:
    """Whether `text` is JSON with an object key that holds a line break (`\n`, `\r`, `\x85`...)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return False
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if any(len(f"a{key}a".splitlines()) > 1 for key in item):
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def enqueue_in_process(job_type: JobType, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    # `--payload=TEXT`: a TEXT starting with `-` would otherwise be taken for an option by argparse.
    code = cli.main(["enqueue", job_type.value, f"--payload={text}"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
@pytest.mark.parametrize("job_type", list(JobType), ids=[t.value for t in JobType])
@IN_PROCESS
@given(data=st.data())
def test_any_payload_text_enqueues_or_fails_with_one_line(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], job_type: JobType, data: st.DataObject
) -> None:
    # `-` (stdin) and `@FILE` too: whatever they read, the outcome is a job or one line.
    text = data.draw(payload_texts(job_type, fields_of(job_type)), label="payload")
    assume(not key_breaks_lines(text))  # a known bug, pinned by test_a_field_name_with_a_newline_...
    code, out, err = enqueue_in_process(job_type, text, capsys)
    event(f"exit {code}")
    assert_outcome(code, out, err)


@pytest.mark.slow
@pytest.mark.parametrize("job_type", [JobType.EMAIL_NOTIFICATION, JobType.PAYMENT_PROCESSING], ids=str)
@SUBPROCESS
@given(data=st.data())
def test_any_payload_in_a_real_process(
    cli_env: dict[str, str], tmp_path: Path, job_type: JobType, data: st.DataObject
) -> None:
    text = json.dumps(data.draw(candidates(job_type, fields_of(job_type)), label="candidate").payload)
    assume(not key_breaks_lines(text))
    run = run_cli("enqueue", job_type.value, "--payload", text, env=cli_env, cwd=tmp_path)
    assert_outcome(run.returncode, run.stdout, run.stderr)


def test_a_field_name_with_a_newline_stays_on_one_line(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    text = json.dumps({"prompt": "p", "user_id": "u", "bad\nkey": 1})
    assert_outcome(*enqueue_in_process(JobType.SKETCH_GENERATION, text, capsys))


def test_a_payload_of_a_dash_is_read_from_stdin_and_an_unreadable_one_fails_with_one_line(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a rerun: `--payload=-` read stdin, which pytest's capture refuses with OSError (a
    traceback); a terminal was waited on forever."""
    code, out, err = enqueue_in_process(JobType.SKETCH_GENERATION, "-", capsys)
    assert_outcome(code, out, err)
    assert code == 2 and "standard input" in err


def test_a_payload_of_a_dash_from_a_terminal_fails_with_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    try:
        run = run_cli("enqueue", "sketch-generation", "--payload", "-", env=cli_env, cwd=tmp_path, stdin=follower)
    finally:
        os.close(follower)
        os.close(leader)
    assert_outcome(run.returncode, run.stdout, run.stderr)
    assert "is a terminal" in run.stderr


def test_a_payload_starting_with_a_dash_as_a_separate_argument_fails_with_one_line(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Found by a rerun: `--payload -1e+16` got argparse's multi-line usage; the line says how to pass it."""
    run = run_cli("enqueue", "sketch-generation", "--payload", "-1e+16", env=cli_env, cwd=tmp_path)
    assert_outcome(run.returncode, run.stdout, run.stderr)
    assert "--option=VALUE" in run.stderr


def test_deeply_nested_json_fails_with_one_line(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert_outcome(*enqueue_in_process(JobType.SKETCH_GENERATION, "[" * 100_000, capsys))


def test_a_huge_integer_fails_with_one_line(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert_outcome(*enqueue_in_process(JobType.SKETCH_GENERATION, '{"prompt": ' + "9" * 5000 + "}", capsys))
