"""Which device a stage runs on: ``auto`` is CUDA when torch sees a GPU, else the CPU."""

from __future__ import annotations

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
