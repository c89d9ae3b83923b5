"""Opening the image a job names, confined to the images folder.

An `image_path` comes from whoever enqueued the job, so it is opened as untrusted input: relative to
the images folder (`GEMSDASH_IMAGES_DIR`, by default `GEMSDASH_DATA_DIR`), one directory at a time
with O_NOFOLLOW (no symlink anywhere below the folder, so nothing outside it can be reached),
O_NONBLOCK (a FIFO or a device never blocks the open), then only a regular file of at most
`MAX_IMAGE_BYTES` is read. A read of a regular file is bounded, so the job's time limit holds.

Every refusal raises the same PermanentJobError, whatever the cause (missing, outside, a symlink, a
FIFO, a directory, too large, not an image): the job's error cannot be used to probe which files
exist. The cause is logged for the operator.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

from gemsdash.actors.settings import actor_settings
from gemsdash.queue import PermanentJobError
from gemsdash.queue.errors import InvalidPayload
from gemsdash.queue.payloads import IMAGE_PATH_RULE, image_path_ok

logger = logging.getLogger(__name__)

#: The largest image file read (a 256 px thumbnail is all the analysis looks at).
MAX_IMAGE_BYTES = 25 * 1024 * 1024
_READ_CHUNK = 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class Unusable(Exception):
    """Why an image_path cannot be used: for the log only, never for the job's error."""


def images_root() -> Path:
    settings = actor_settings()
    return (settings.images_dir or settings.data_dir).expanduser().resolve()


def unusable_image() -> PermanentJobError:
    """The job's error for every image_path that cannot be used (the enqueue-time field error)."""
    return PermanentJobError(str(InvalidPayload("emotion-analysis", [("image_path", IMAGE_PATH_RULE)])))


def refuse(image_path: str, cause: str) -> PermanentJobError:
    logger.info("image_path %r refused: %s", image_path, cause)
    return unusable_image()


def read_image(image_path: str) -> tuple[Path, bytes]:
    """The file `image_path` names inside the images folder, and its bytes."""
    root = images_root()
    if not image_path_ok(image_path):
        raise refuse(image_path, "not a relative path inside the folder")
    parts = [p for p in image_path.split("/") if p not in ("", ".")]
    try:
        return root.joinpath(*parts), _read_beneath(root, parts)
    except Unusable as exc:
        raise refuse(image_path, str(exc)) from None
    except OSError as exc:
        cause = "a symlink" if exc.errno in (errno.ELOOP, errno.ENOTDIR) else errno.errorcode.get(exc.errno or 0, "")
        raise refuse(image_path, cause or str(exc)) from None


def _read_beneath(root: Path, parts: list[str]) -> bytes:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            inner = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = inner
        file_fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
    finally:
        os.close(fd)
    try:
        info = os.fstat(file_fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unusable("not a regular file")
        if info.st_size > MAX_IMAGE_BYTES:
            raise Unusable(f"larger than {MAX_IMAGE_BYTES} bytes")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(file_fd, _READ_CHUNK):
            size += len(chunk)
            if size > MAX_IMAGE_BYTES:
                raise Unusable(f"grew past {MAX_IMAGE_BYTES} bytes while read")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(file_fd)
