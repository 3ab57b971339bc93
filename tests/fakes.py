"""Fast fakes for the two model stages, for tests of everything around them (batch, CLI).

They replace the stage functions that :class:`~pipeline.jobs.Models` calls (the loaders, ASR's
``transcribe`` and diarization's ``diarize``), so ``Models`` itself runs as it does for real: its
caching, and the capture of what third parties print. Decoding, alignment, writing and the check
report are the real ones.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from pipeline.types import Diarization, Segment, Transcript, Turn, Word

#: printed (like pyannote's clustering does) when more speakers are asked for than the fake finds
FOUND_ONLY = "Found only 2 clusters. Using a smaller value than 12 for `min_cluster_size` might help."


def fake_transcribe(model, samples, options, *, progress=None, spare=None):
    """A word ``w0``, ``w1``... every half second."""
    duration = len(samples) / 16_000
    words = tuple(Word(round(t, 3), round(t + 0.4, 3), f" w{i}", 0.9)
                  for i, t in enumerate(np.arange(0.0, duration - 0.5, 0.5)))
    if progress is not None:
        progress(duration, duration)
    text = "".join(w.text for w in words)
    return Transcript((Segment(0.0, duration, text, words),), "en", options.model, "fake", duration)


def fake_diarize(audio, options, *, delay=0.0, calls=None):
    """SPEAKER_00 for the first half, SPEAKER_01 for the second; a file named ``*boom*`` raises.

    Asked for more than two speakers, it prints what pyannote prints then (:data:`FOUND_ONLY`),
    and warns as a third party would.
    """
    if calls is not None:
        calls.append((audio.path, options.num_speakers))
    time.sleep(delay)
    if "boom" in Path(audio.path).name:
        raise RuntimeError("kaboom")
    if (options.num_speakers or 0) > 2:
        print("Found only 2 clusters.", end=" ")  # in two writes, as print() may
        print(FOUND_ONLY.removeprefix("Found only 2 clusters. "))
        warnings.warn(f"fake diarization: asked for {options.num_speakers} speakers, found 2", UserWarning,
                      stacklevel=1)
    duration = audio.duration
    turns = (Turn(0.0, duration / 2, "SPEAKER_00"), Turn(duration / 2, duration, "SPEAKER_01"))
    return Diarization(turns, turns, ("SPEAKER_00", "SPEAKER_01"), duration)


def fakes(delay: float = 0.0, calls: list | None = None) -> dict[str, tuple[object, object]]:
    """``name: (module, fake)`` for the model stages: nothing is loaded; each load of ASR is
    recorded in ``calls`` as ``"load"``, each diarized file as ``(path, num_speakers)``."""
    from pipeline.stages import asr, diarize

    def load_model(options, store=None, workers=1):
        if calls is not None:
            calls.append("load")
        return "fake-asr"

    def load_pipeline(options, models=None):
        return "fake-diarization"

    def transcribe(model, samples, options, *, progress=None, spare=None):
        return fake_transcribe(model, samples, options, progress=progress)

    def diarize_(pipeline, audio, options, *, hook=None):
        return fake_diarize(audio, options, delay=delay, calls=calls)

    return {"load_model": (asr, load_model), "load_pipeline": (diarize, load_pipeline),
            "transcribe": (asr, transcribe), "diarize": (diarize, diarize_), "embed": (diarize, fake_embed)}


def fake_embed(pipeline, audio, spans, options, *, workers=1):
    """The voice of :func:`fake_diarize`'s speaker at each span's middle: one unit vector per half."""
    halves = np.eye(2, 192, dtype=np.float32)
    return np.stack([halves[int((s + e) / 2 >= audio.duration / 2)] for s, e in spans]) if spans else \
        np.zeros((0, 192), np.float32)


def install_fakes(delay: float = 0.0) -> None:
    """For a subprocess (the kill test): the fakes, for good."""
    for name, (module, fake) in fakes(delay).items():
        setattr(module, name, fake)
