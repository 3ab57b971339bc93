"""The models a config needs, loaded once and shared by every job a process runs.

:class:`Models` holds the ASR model and the diarization pipeline of one config. They load on
first use (or :meth:`Models.load`), and the stages' own caches keep them across ``Models``
objects with the same structural settings, so a batch, a benchmark or a Ray worker loads each
model once however many episodes it runs. Whatever the engines print while they load or run goes
to the log (:func:`~pipeline.runtime.third_party_output`), never to stdout.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pipeline.config import DiarizationOptions, PipelineConfig, override
from pipeline.display import Progress
from pipeline.runtime import third_party_output
from pipeline.types import Audio, Diarization, Stage, Transcript

if TYPE_CHECKING:
    import numpy as np


@contextmanager
def timed(timings: dict[str, float], key: str):
    """Add the seconds the block takes to ``timings[key]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = round(timings.get(key, 0.0) + time.perf_counter() - started, 3)


def side_by_side(config: PipelineConfig) -> bool:
    """Whether ASR and diarization run at the same time (two threads) for this config.

    faster-whisper (CTranslate2) and pyannote (torch) keep to their own thread pools; the
    openai-whisper engine is torch too, and torch's thread setting is one for the whole process.
    """
    return config.run.parallel and config.asr.engine == "faster-whisper"


def effective(config: PipelineConfig, cores: int | None = None) -> PipelineConfig:
    """``config`` as a run applies it: beside diarization, ASR gets the cores diarization leaves.

    Only ``asr.threads`` 0 (the engine's default) changes; results record ``config`` as given.
    ``cores`` is what this process may use (a Ray worker's CPUs); default: the machine's.
    """
    cores = cores or os.cpu_count() or 1
    if config.asr.threads:
        return config
    if not side_by_side(config):
        return override(config, "asr", threads=cores)
    return override(config, "asr", threads=max(1, cores - (config.diarization.threads or cores // 2)))


def asr_workers(config: PipelineConfig, cores: int | None = None) -> int:
    """How many windows or pieces ASR may decode at once: 2 beside diarization when its cores fit a second.

    ``config`` as :func:`effective` gives it. Once diarization ends, its cores take a second
    CTranslate2 worker of ``asr.threads`` threads: batched decoding's batches from the last
    (:mod:`pipeline.stages.batched`), sequential decoding's ten-minute pieces from the last
    (:func:`pipeline.stages.asr.transcribe`); on 2 cores, one each. 1 when the stages do not run
    side by side.
    """
    cores = cores or os.cpu_count() or 1
    if not side_by_side(config):
        return 1
    freed = config.diarization.threads or cores // 2
    return 2 if config.asr.threads <= freed and config.asr.threads + freed <= cores else 1


class Models:
    """The ASR model and the diarization pipeline of ``config``, loaded on first use.

    ``thread_cpu_s["diarization"]`` adds up the CPU seconds of the thread that diarized: at
    ``diarization.threads`` 1 ONNX Runtime and torch compute in it, so that is the stage's CPU
    time even beside ASR. (ASR has no such figure: CTranslate2 computes in threads of its own.)
    """

    def __init__(self, config: PipelineConfig, *, cores: int | None = None) -> None:
        self.config = effective(config, cores)
        self.asr_workers = asr_workers(self.config, cores)
        self.cores = cores or os.cpu_count() or 1
        self._asr = None
        self._diarization = None
        self.thread_cpu_s: dict[str, float] = {}
        self._embedded: tuple[str, dict[tuple[float, float], np.ndarray]] = ("", {})

    def load(self, timings: dict[str, float] | None = None) -> Models:
        """Load both models now (each once); their load times go to ``timings``."""
        timings = {} if timings is None else timings
        self.asr_model(timings)
        self.diarization_pipeline(timings)
        return self

    def asr_model(self, timings: dict[str, float] | None = None):
        """The loaded Whisper model (loaded now if it is not yet)."""
        from pipeline.stages import asr

        if self._asr is None:
            with timed({} if timings is None else timings, Stage.LOAD_ASR), third_party_output():
                self._asr = asr.load_model(self.config.asr, self.config.models, workers=self.asr_workers)
        return self._asr

    def diarization_pipeline(self, timings: dict[str, float] | None = None):
        """The loaded pyannote pipeline (loaded now if it is not yet)."""
        from pipeline.stages import diarize

        if self._diarization is None:
            with timed({} if timings is None else timings, Stage.LOAD_DIARIZATION), third_party_output():
                self._diarization = diarize.load_pipeline(self.config.diarization, self.config.models)
        return self._diarization

    def transcribe(self, audio: Audio, progress: Progress | None = None,
                   spare: threading.Event | None = None) -> Transcript:
        """Transcribe ``audio``; ``spare``, once set, lets ASR take a second worker (see :func:`asr_workers`)."""
        from pipeline.stages import asr

        model = self.asr_model()
        with third_party_output():
            return asr.transcribe(model, audio.samples, self.config.asr, progress=progress, spare=spare)

    def transcribe_spans(self, audio: Audio, spans: list[tuple[float, float]], language: str | None):
        """Decode stretches of ``audio`` on their own (the second pass); their segments."""
        from pipeline.stages import asr

        model = self.asr_model()
        with third_party_output():
            return asr.transcribe_spans(model, audio.samples, spans, self.config.asr, language)

    def embed(self, audio: Audio, spans: Sequence[tuple[float, float]]) -> np.ndarray:
        """CAM++ embeddings ``(len(spans), 192)`` of stretches ``(start, end)`` (seconds) of ``audio``.

        The CAM++ is the diarization pipeline's own (loaded now if it is not yet): no second copy,
        and the embeddings are in the space the diarization clusters in. On CPU it runs on this
        process's cores (up to 4), one thread each. A stretch of the episode embedded before (the
        turn check's prints, which naming and enrolling take again) is not embedded again: the
        last episode's embeddings are kept, by its audio's SHA256.
        """
        import numpy as np

        from pipeline.stages import diarize

        if self._embedded[0] != audio.sha256:  # one episode's stretches at a time
            self._embedded = (audio.sha256, {})
        known = self._embedded[1]
        keys = [(float(a), float(b)) for a, b in spans]
        todo = list(dict.fromkeys(k for k in keys if k not in known))
        if todo:
            found = diarize.embed(self.diarization_pipeline(), audio, todo, self.config.diarization,
                                  workers=min(self.cores, 4))
            known.update(zip(todo, found, strict=True))
        if not keys:
            return np.zeros((0, 0), np.float32)
        return np.stack([known[k] for k in keys])

    def diarize(self, audio: Audio, options: DiarizationOptions | None = None, hook=None) -> Diarization:
        """Diarize with this config's pipeline; ``options`` may differ in tunable numbers and hints."""
        from pipeline.stages import diarize

        pipeline = self.diarization_pipeline()
        started = time.thread_time()
        try:
            with third_party_output():
                return diarize.diarize(pipeline, audio, options or self.config.diarization, hook=hook)
        finally:
            spent = self.thread_cpu_s.get(Stage.DIARIZATION, 0.0) + time.thread_time() - started
            self.thread_cpu_s[Stage.DIARIZATION] = round(spent, 3)
