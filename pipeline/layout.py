"""Where outputs go and what they are called: the one module that knows the output layout.

An episode's files sit in one folder, named after the audio's stem::

    FOLDER/STEM.txt .json .srt .vtt .rttm .tsv     the attributed transcript, one file a format
    FOLDER/STEM.check.json  STEM.check.html         the check against the published transcript
    FOLDER/STEM.conformed.json .txt .tsv .srt .vtt  the published transcript, re-timed
    FOLDER/done.json | failed.json                  batch markers (done.json is written last)

A batch's output directory adds ``summary.json``, ``logs/`` and the lock file, and mirrors the
inbox: an episode's folder is its path in the inbox without the extension (:func:`episode_key`).
Every file is written through a temporary file ``.NAME.XXXXXXXX.tmp`` beside it, fsynced and
renamed (:func:`write_atomic`): a reader never sees a half-written file under its final name, and
:func:`is_temporary` tells the leftovers of a killed run.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pipeline.errors import OutputError

DONE = "done.json"
FAILED = "failed.json"
SUMMARY = "summary.json"
LOCK = ".pipeline-batch.lock"
LOGS = "logs"
#: names in a batch output directory that are not episode folders
RESERVED = frozenset({LOGS, SUMMARY, LOCK})
#: the conformed transcript's formats (``STEM.conformed.FORMAT``)
CONFORMED_FORMATS = ("json", "txt", "tsv", "srt", "vtt")
_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")


@dataclass(frozen=True)
class EpisodeFiles:
    """The files of one episode: ``folder/stem.*``."""

    folder: Path
    stem: str

    def __post_init__(self) -> None:
        if not self.stem or self.stem in (".", "..") or "/" in self.stem or os.sep in self.stem:
            raise OutputError(f"bad output file stem {self.stem!r}")

    def output(self, fmt: str) -> Path:
        return self.folder / f"{self.stem}.{fmt}"

    def check(self, ext: str) -> Path:
        return self.folder / f"{self.stem}.check.{ext}"

    def conformed(self, fmt: str) -> Path:
        return self.folder / f"{self.stem}.conformed.{fmt}"

    @property
    def done(self) -> Path:
        return self.folder / DONE

    @property
    def failed(self) -> Path:
        return self.folder / FAILED

    def name(self, path: Path) -> str:
        """``path`` as recorded in done.json: relative to the folder."""
        return path.relative_to(self.folder).as_posix()


def episode_key(relative_audio: Path) -> str:
    """The output folder (relative to OUT) of an audio file at ``relative_audio`` in the inbox."""
    return relative_audio.with_suffix("").as_posix()


def episode_files(out_dir: Path, key: str, audio: Path) -> EpisodeFiles:
    """An episode of a batch: ``OUT/KEY/STEM.*``."""
    return EpisodeFiles(Path(out_dir) / key, Path(audio).stem)


def summary_path(out_dir: Path) -> Path:
    return Path(out_dir) / SUMMARY


def lock_path(out_dir: Path) -> Path:
    return Path(out_dir) / LOCK


def logs_dir(out_dir: Path) -> Path:
    return Path(out_dir) / LOGS


def transcript_files(out_dir: Path, stem: str) -> tuple[Path, Path]:
    """``pipeline transcribe``'s outputs: STEM.transcript.json and .txt."""
    return Path(out_dir) / f"{stem}.transcript.json", Path(out_dir) / f"{stem}.transcript.txt"


def diarization_files(out_dir: Path, stem: str) -> tuple[Path, Path]:
    """``pipeline diarize``'s outputs: STEM.diarization.rttm and .json."""
    return Path(out_dir) / f"{stem}.diarization.rttm", Path(out_dir) / f"{stem}.diarization.json"


# Writing atomically
# ------------------


def is_temporary(name: str) -> bool:
    """Whether a file name is one of :func:`write_atomic`'s temporary files."""
    return bool(_TEMPORARY.match(name))


def check_writable(directory: str | Path) -> None:
    """Raise :class:`OutputError` now if ``directory`` could not be created or written to later.

    Nothing is created: a run that fails before it writes leaves no empty folder behind.
    """
    directory = Path(directory)
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{directory}: cannot create output directory ({existing} is not a directory)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{directory}: output directory is not writable")


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
