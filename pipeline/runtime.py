"""The process the stages run in: devices, thread counts and the engines' offline settings.

Nothing here runs at import. :func:`offline_environment` is called by the loaders right before
pyannote.audio (and huggingface_hub) are first imported; :func:`torch_threads` caps torch's CPU
threads around a stage.
"""

from __future__ import annotations

import ctypes
import os
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
