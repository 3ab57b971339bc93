"""The process the stages run in: devices, thread counts, the engines' offline settings and output.

Nothing here runs at import. :func:`offline_environment` is called by the loaders right before
pyannote.audio (and huggingface_hub) are first imported; :func:`torch_threads` caps torch's CPU
threads around a stage; :func:`third_party_output` turns what the engines print into log lines.
"""

from __future__ import annotations

import ctypes
import io
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from pipeline.config import DEVICES
from pipeline.errors import ConfigError


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_device(device: str, what: str = "device") -> str:
    """``auto`` becomes ``cuda`` or ``cpu``; ``cuda`` without a GPU is a ConfigError naming ``what``."""
    if device not in DEVICES:
        raise ConfigError(f"{what}: unknown device {device!r} (use auto, cpu or cuda)")
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device == "cuda" and not cuda_available():
        raise ConfigError(f"{what} is cuda, but torch sees no CUDA GPU")
    return device


def offline_environment() -> None:
    """Keep pyannote.audio's telemetry off (``PYANNOTE_METRICS_ENABLED=0``).

    pyannote.audio reads it when it is imported, so the diarization loader calls this before its
    first pyannote import. Its models come from local folders (the offline store), so it has no
    other reason to reach the network; the hub setting (``HF_HUB_OFFLINE``) is left to the user,
    who may want a hub Whisper model in the same process.
    """
    os.environ["PYANNOTE_METRICS_ENABLED"] = "0"


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run with ``threads`` torch CPU threads (0: leave torch's setting), then restore it.

    On a small machine shared with other work, one thread is much faster than two: torch's
    OpenMP threads wait on each other whenever the other process holds a core.
    """
    import torch

    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


thirdparty = logging.getLogger("pipeline.thirdparty")


class _LinesToLog(io.TextIOBase):
    """``sys.stdout`` while model stages run: each line a third party prints becomes a warning on
    ``pipeline.thirdparty``; what the project's own modules write goes on to ``stream``.

    Lines are gathered per thread, so the two stages running side by side never mix their halves.
    Only Python-level writes are seen (a C library writing to file descriptor 1 is not).
    """

    def __init__(self, stream) -> None:
        self.stream = stream
        self._partial: dict[int, str] = {}

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller == "pipeline" or caller.startswith("pipeline."):
            return self.stream.write(text)
        *lines, rest = (self._partial.pop(threading.get_ident(), "") + text).split("\n")
        if rest:
            self._partial[threading.get_ident()] = rest
        for line in lines:
            self._emit(line)
        return len(text)

    def finish(self) -> None:
        """Log what is left of unfinished lines."""
        for key in list(self._partial):
            self._emit(self._partial.pop(key, ""))

    @staticmethod
    def _emit(line: str) -> None:
        if line.strip():
            thirdparty.warning("%s", line.rstrip())


_capture_lock = threading.Lock()
_capture: dict = {"depth": 0, "proxy": None}  # installed once, however many stages hold it


@contextmanager
def third_party_output() -> Iterator[None]:
    """While the block runs, what third-party code prints to ``sys.stdout`` becomes log warnings.

    pyannote prints some of its warnings ("Found only 12 clusters..."); on stdout they would end
    up in ``pipeline run ... > file`` and make a quiet cron job send mail. ``sys.stdout`` is one
    for the whole process, so the capture is installed when the first of the threads that run
    stages enters, and removed when the last one leaves.
    """
    with _capture_lock:
        if _capture["depth"] == 0:
            _capture["proxy"] = _LinesToLog(sys.stdout)
            sys.stdout = _capture["proxy"]
        _capture["depth"] += 1
    try:
        yield
    finally:
        with _capture_lock:
            _capture["depth"] -= 1
            if _capture["depth"] == 0:
                proxy, _capture["proxy"] = _capture["proxy"], None
                proxy.finish()
                if sys.stdout is proxy:  # else someone replaced it since: leave theirs
                    sys.stdout = proxy.stream


@lru_cache(maxsize=1)
def _malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def release_memory() -> None:
    """Give the heap memory freed so far back to the system (glibc's ``malloc_trim``; elsewhere nothing).

    glibc keeps what a large step frees for the next allocations, in a heap per thread: after a
    batch of Whisper windows the process held 350 MB it no longer used, which the other stage,
    running beside it, could not have. A call takes a few tens of milliseconds.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
