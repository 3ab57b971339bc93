"""Fake models for the Ray tests, importable by Ray's worker processes (tests/jobs is put on their
PYTHONPATH): a word every half second, two speakers, and a pause in diarization during which the
test can kill the worker. Each diarization start leaves a marker file in $RAY_FAKE_MARKERS."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from pipeline.jobs.models import Models
from pipeline.types import Diarization, Segment, Transcript, Turn, Word


class FakeModels(Models):
    def load(self, timings=None):
        return self

    def transcribe(self, audio, progress=None, spare=None):
        words = tuple(Word(round(t, 3), round(t + 0.4, 3), f" w{i}", 0.9)
                      for i, t in enumerate(np.arange(0.0, audio.duration - 0.5, 0.5)))
        return Transcript((Segment(0.0, audio.duration, "".join(w.text for w in words), words),), "en",
                          "fake", "fake", audio.duration)

    def diarize(self, audio, options=None, hook=None):
        markers = Path(os.environ["RAY_FAKE_MARKERS"])
        (markers / f"{Path(audio.path).stem}.{os.getpid()}.{time.monotonic_ns()}").write_text(str(os.getpid()))
        time.sleep(float(os.environ.get("RAY_FAKE_DELAY", "0")))
        half = audio.duration / 2
        turns = (Turn(0.0, half, "SPEAKER_00"), Turn(half, audio.duration, "SPEAKER_01"))
        return Diarization(turns, turns, ("SPEAKER_00", "SPEAKER_01"), audio.duration)
