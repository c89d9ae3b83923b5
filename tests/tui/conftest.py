"""Fixtures for dashboard tests: a memory-mode runtime whose email jobs do what the test says."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gemsdash.queue import JobType, Runtime
from tests.core.workload import Scripted, scripted


@pytest.fixture
def work(memory_runtime: Runtime) -> Iterator[Scripted]:
    """Email jobs named `ok…` succeed, `fatal…` go dead at once, `block…` wait for `work.release`."""
    with scripted(JobType.EMAIL_NOTIFICATION) as controlled:
        yield controlled
