"""Writing a file atomically and naming a file's content by its sha256.

Records, configs, the check cache and the git hook are all written the same way, so a
reader never sees half a file and a failed write leaves no temporary file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import time
from pathlib import Path
from typing import BinaryIO, cast


def write_atomic(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, then
    ``os.replace``; ``mode`` (e.g. ``0o755`` for a git hook) is set before the rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        # A full disk or a file-size limit once left a half-written temp file per failed
        # write (one per heartbeat); only a kill between open and rename leaves one now.
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def digest(file: BinaryIO) -> str:
    """The hex sha256 of an open binary file, read from its position to the end."""
    # Every binary file object open() returns has readinto; typeshed's BinaryIO does not say so.
    return hashlib.file_digest(cast(io.BufferedReader, file), "sha256").hexdigest()


def file_digest(path: Path) -> str:
    """The hex sha256 of the file at ``path`` (followed if it is a link)."""
    with open(path, "rb") as f:
        return digest(f)
