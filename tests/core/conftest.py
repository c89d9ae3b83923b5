"""Fixtures of the core tests: the `gemsdash` command as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gemsdash.queue import Runtime
from tests.support import Cli


@pytest.fixture
def cli(redis_runtime: Runtime, redis_url: str) -> Cli:
    def run(
        *args: str, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        base = {
            "PATH": "/usr/bin:/bin",
            "REDIS_ENABLED": "true",
            "REDIS_URL": redis_url,
            "GEMSDASH_NAMESPACE": redis_runtime.settings.namespace,
        }
        return subprocess.run(
            [sys.executable, "-m", "gemsdash", *args],
            env={**base, **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run
