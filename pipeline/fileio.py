"""Atomic file output: a reader never sees a half-written file under its final name."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from pipeline.errors import OutputError


def ensure_dir(directory: str | Path) -> Path:
    """Create ``directory`` (and parents) or raise OutputError naming it."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{directory}: cannot create output directory ({e.strerror or e})") from e
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"{directory}: output directory is not writable")
    return directory


def write_atomic(path: Path, fill: Callable[[TextIO], None]) -> None:
    """Write ``path`` through a temporary file beside it; on any failure remove that file.

    The temporary file is fsynced and renamed over ``path``, so ``path`` is either the old
    content or the complete new one, never a part.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as e:
        raise OutputError(f"{path.parent}: cannot write to output directory ({e.strerror or e})") from e
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as stream:
            fill(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise OutputError(f"{path}: cannot write ({e.strerror or e})") from e
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable, where the OS allows
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_text_atomic(path: Path, text: str) -> Path:
    ensure_dir(Path(path).parent)
    write_atomic(path, lambda stream: stream.write(text))
    return Path(path)
