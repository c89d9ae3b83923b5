"""Helpers shared by the job-type tests: a private data directory and waiting for a job's outcome."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gemsdash.actors.settings import ActorSettings, load_actor_settings, use_settings


@pytest.fixture(autouse=True)
def actor_config(tmp_path: Path) -> Iterator[ActorSettings]:
    """Each test writes under its own data directory, with no SMTP server unless it starts one."""
    settings = load_actor_settings(_env_file=None, data_dir=tmp_path / "data")
    use_settings(settings)
    yield settings
    use_settings(None)


def reconfigure(base: ActorSettings, **changes: object) -> ActorSettings:
    """Switch the running workers to `base` with `changes`, validated like the environment would be."""
    settings = load_actor_settings(_env_file=None, **{**base.model_dump(), **changes})
    use_settings(settings)
    return settings
