"""The main job: one episode from audio to a speaker-attributed, named transcript.

decode -> transcribe -> diarize -> align words to speakers -> (name speakers from the
published transcript). Each stage is timed; model loading is timed apart from processing, and
models stay loaded for the next episode of a batch.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.config import PipelineConfig
from pipeline.device import resolve_device
from pipeline.types import Reference, RunResult

logger = logging.getLogger(__name__)

ENGINES = ("faster-whisper", "ctranslate2", "openai-whisper", "pyannote.audio", "torch")


class _NoDisplay:
    def stage(self, name: str, total: float = 100.0) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def versions() -> dict[str, str]:
    found = {"pipeline": __version__}
    for name in ENGINES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


@contextmanager
def _timed(timings: dict[str, float], key: str):
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = round(timings.get(key, 0.0) + time.perf_counter() - started, 3)


def load_models(config: PipelineConfig, timings: dict[str, float] | None = None) -> None:
    """Load (once per process) the ASR model and the diarization pipeline the config names."""
    from pipeline import asr, diarize

    timings = {} if timings is None else timings
    config = effective(config)
    with _timed(timings, "load_asr"):
        asr.load_model(config.asr, config.models)
    with _timed(timings, "load_diarization"):
        diarize.load_pipeline(resolve_device(config.diarization.device, "diarization.device"), config.diarization,
                              config.models)


def run(
    path: str | Path,
    config: PipelineConfig,
    *,
    reference: Reference | None = None,
    display=None,
) -> RunResult:
    """Transcribe, diarize and align one episode; name its speakers when ``reference`` is given."""
    from pipeline import align, asr, audio, diarize

    display = display or _NoDisplay()
    timings: dict[str, float] = {}
    with _timed(timings, "decode"):
        decoded = audio.load(path)
    load_models(config, timings)
    from pipeline.progress import pyannote_hook

    asr_options = effective(config).asr

    def transcribe():
        with _timed(timings, "asr"):
            return asr.transcribe(decoded.samples, asr_options, config.models,
                                  progress=display.stage("transcribe", decoded.duration))

    def diarize_():
        with _timed(timings, "diarization"):
            return diarize.diarize(decoded.as_pyannote(), config.diarization, models=config.models,
                                   hook=pyannote_hook(display.stage("diarize")), name=str(path))

    if side_by_side(config):
        with _timed(timings, "asr_and_diarization"):
            transcript, diarization = _side_by_side(transcribe, diarize_)
    else:
        transcript = transcribe()
        diarization = diarize_()
    with _timed(timings, "alignment"):
        words, turns = align.align(transcript.words, diarization, config.align)
    result = RunResult(
        audio=str(path), audio_sha256=decoded.sha256, duration=round(decoded.duration, 3),
        language=transcript.language, words=words, turns=turns, speakers=diarization.speakers,
        diarization=diarization.turns,
        models={"asr": f"{config.asr.engine}:{config.asr.model}",
                "segmentation": "segmentation-3.0", "embedding": "campplus"},
        timings=timings, config=config.to_dict(), versions=versions(),
    )
    if reference is not None:
        with _timed(timings, "naming"):
            result = name_speakers(result, reference)
    return replace(result, timings=dict(timings))


def side_by_side(config: PipelineConfig) -> bool:
    """Whether ASR and diarization run at the same time (two threads) for this config.

    faster-whisper (CTranslate2) and pyannote (torch) keep to their own thread pools; the
    openai-whisper engine is torch too, and torch's thread setting is one for the whole process.
    """
    return config.run.parallel and config.asr.engine == "faster-whisper"


def effective(config: PipelineConfig) -> PipelineConfig:
    """``config`` as a run applies it: beside diarization, ASR gets the cores diarization leaves.

    Only ``asr.threads`` 0 (the engine's default) changes; the result records ``config`` as given.
    """
    if not side_by_side(config) or config.asr.threads:
        return config
    cores = os.cpu_count() or 1
    threads = max(1, cores - (config.diarization.threads or cores // 2))
    return replace(config, asr=replace(config.asr, threads=threads))


def _side_by_side(first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
    """Run ``second`` in a thread while ``first`` runs here; both results, or the first error.

    An error in one still waits for the other to finish: nothing is left running behind a
    failed episode when a batch goes on to the next.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="diarize") as pool:
        future = pool.submit(second)
        try:
            one = first()
        except BaseException:
            future.exception()  # wait; its own error, if any, is the lesser news
            raise
        return one, future.result()


def name_speakers(result: RunResult, reference: Reference) -> RunResult:
    """``result`` with real names for the diarized speakers the published transcript names."""
    from pipeline.evaluate import name_speakers as match

    matches = match(result, reference)
    for label, m in matches.items():
        logger.info("%s -> %s (%.0f %% of %d aligned words)", label, m.name, 100 * m.confidence, m.words)
    names = {label: m.name for label, m in matches.items() if m.matched}
    return replace(result, speaker_names=names)
