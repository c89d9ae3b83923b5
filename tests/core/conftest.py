"""Fixtures of the core tests: the `gemsdash` command as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gemsdash.queue import Runtime
from tests.support import Cli, cli_process_env


@pytest.fixture
def cli(redis_runtime: Runtime, redis_url: str) -> Cli:
    def run(
        *args: str, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        base = cli_process_env(redis_url, redis_runtime.settings.namespace)
        return subprocess.run(
            [sys.executable, "-m", "gemsdash", *args],
            env={**base, **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run
