"""Files the jobs write under the data directory (sketches, the email outbox).

Writes go to a temporary file renamed into place, so a reader (or a retry after a crash) never sees
half a PNG or half a message.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from gemsdash.actors.settings import actor_settings

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def data_path(*parts: str) -> Path:
    """`<GEMSDASH_DATA_DIR>/<parts...>`, absolute, with each part reduced to safe file-name characters."""
    root = actor_settings().data_dir.expanduser().resolve()
    return root.joinpath(*(_UNSAFE.sub("_", part) or "_" for part in parts))


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
