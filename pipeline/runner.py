"""The main job: one episode from audio to a speaker-attributed, named transcript.

decode -> transcribe -> diarize -> align words to speakers -> (name speakers from the
published transcript). Each stage is timed; model loading is timed apart from processing, and
models stay loaded for the next episode of a batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from importlib import metadata
from pathlib import Path

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
    with _timed(timings, "asr"):
        transcript = asr.transcribe(decoded.samples, config.asr, config.models,
                                    progress=display.stage("transcribe", decoded.duration))
    from pipeline.progress import pyannote_hook

    with _timed(timings, "diarization"):
        diarization = diarize.diarize(decoded.as_pyannote(), config.diarization, models=config.models,
                                      hook=pyannote_hook(display.stage("diarize")), name=str(path))
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


def name_speakers(result: RunResult, reference: Reference) -> RunResult:
    """``result`` with real names for the diarized speakers the published transcript names."""
    from pipeline.evaluate import name_speakers as match

    matches = match(result, reference)
    for label, m in matches.items():
        logger.info("%s -> %s (%.0f %% of %d aligned words)", label, m.name, 100 * m.confidence, m.words)
    names = {label: m.name for label, m in matches.items() if m.matched}
    return replace(result, speaker_names=names)
