"""Speaker diarization: who speaks when, as plain :class:`~pipeline.types.Turn` s.

pyannote.audio 4's ``SpeakerDiarization`` pipeline does the work, with every model passed in
explicitly from the offline store (its defaults point at the Hugging Face hub):

* segmentation: pyannote ``segmentation-3.0`` (powerset, up to 3 speakers per 10 s chunk);
* embeddings: CAM++ (:mod:`pipeline.campplus`), computed on each speaker's active frames;
* clustering: agglomerative. pyannote 4 defaults to VBx, which needs PLDA weights that ship with
  the hub's ``speaker-diarization-community-1`` only; see :func:`_no_plda`.

Nothing pyannote-typed leaves this module: :func:`diarize` returns a :class:`Diarization` with
overlap-aware turns, pyannote's exclusive (one speaker at a time) turns, and speakers labelled
``SPEAKER_00``, ``SPEAKER_01``... in order of first appearance. The tunable numbers come from
:class:`~pipeline.config.DiarizationOptions` (``diarization:`` in ``configs/*.yaml``).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from pipeline.config import DiarizationOptions, ModelStoreOptions, PipelineConfig, validate
from pipeline.device import resolve_device
from pipeline.errors import AudioError, ConfigError, DiarizationError
from pipeline.types import Diarization, Turn

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
#: below this pyannote has too little to segment; the shortest chunk it will look at
MIN_DURATION = 0.5
CLUSTERING_METHODS = ("average", "centroid", "complete", "median", "single", "ward", "weighted")

#: pyannote's progress callback: hook(step_name, step_artifact, file=None, total=None, completed=None)
Hook = Callable[..., Any]


def offline_environment() -> None:
    """Keep pyannote.audio off the network: no hub downloads, no telemetry.

    Both are read when pyannote.audio (and huggingface_hub) are imported, so this runs before
    any pyannote import. It sets them for the whole process.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["PYANNOTE_METRICS_ENABLED"] = "0"


def diarize(
    audio: dict,
    options: DiarizationOptions,
    *,
    hook: Hook | None = None,
    models: ModelStoreOptions | None = None,
    name: str = "audio",
) -> Diarization:
    """Diarize 16 kHz mono audio ``{'waveform': (1, N) float32 tensor, 'sample_rate': 16000}``.

    ``name`` (a file name, say) is only used in messages. ``hook`` receives pyannote's progress
    calls. Silence gives a :class:`Diarization` with no turns. Raises :class:`ConfigError` for
    contradictory hints or bad options, :class:`AudioError` for audio this stage cannot take and
    :class:`DiarizationError` when pyannote fails.
    """
    check_options(options, name)
    waveform = _checked_waveform(audio, name)
    duration = waveform.shape[1] / SAMPLE_RATE
    device = resolve_device(options.device, "diarization.device")
    pipeline = load_pipeline(device, options, models)
    configure(pipeline, options)
    started = time.perf_counter()
    with torch_threads(options.threads if device == "cpu" else 0):
        output = _run(pipeline, {"waveform": waveform, "sample_rate": SAMPLE_RATE, "uri": name},
                      options, hook, name)
    result = to_diarization(output.speaker_diarization, output.exclusive_speaker_diarization, duration)
    elapsed = time.perf_counter() - started
    logger.info("%s: %d speakers, %d turns in %.1f s (%.3f x real time on %s)", name,
                len(result.speakers), len(result.turns), elapsed, elapsed / max(duration, 1e-9), device)
    return result


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


def check_options(options: DiarizationOptions, where: str) -> None:
    """Raise :class:`ConfigError` for contradictory speaker hints or out-of-range settings."""
    validate(PipelineConfig(diarization=options), where)
    problems = []
    if options.embedding_mode not in ("crop", "weighted"):
        problems.append(f"embedding_mode must be crop or weighted, got {options.embedding_mode!r}")
    if options.clustering_method not in CLUSTERING_METHODS:
        problems.append(f"clustering_method must be one of {CLUSTERING_METHODS}")
    if not 0.0 < options.step <= 1.0:
        problems.append(f"step must be in (0, 1] (a fraction of the 10 s window), got {options.step}")
    if not 0.0 <= options.clustering_threshold <= 2.0:
        problems.append(f"clustering_threshold must be in [0, 2], got {options.clustering_threshold}")
    if not isinstance(options.threads, int) or options.threads < 0:
        problems.append(f"threads must be 0 (torch's default) or more, got {options.threads!r}")
    for key in ("segmentation_batch_size", "embedding_batch_size", "min_cluster_size"):
        if not isinstance(getattr(options, key), int) or getattr(options, key) < 1:
            problems.append(f"{key} must be a positive integer, got {getattr(options, key)!r}")
    if min(options.min_duration_off, options.embedding_min_duration, options.embedding_max_duration) < 0:
        problems.append("min_duration_off and embedding_min/max_duration must not be negative")
    if not 0.0 < options.embedding_reuse <= 1.0:
        problems.append(f"embedding_reuse must be in (0, 1], got {options.embedding_reuse}")
    if problems:
        raise ConfigError(f"{where}: diarization.{problems[0]}")


def _checked_waveform(audio: dict, name: str):
    """The (1, N) float32 waveform of ``audio``, or an :class:`AudioError` saying what is wrong."""
    import torch

    waveform, rate = audio.get("waveform"), audio.get("sample_rate")
    if not isinstance(waveform, torch.Tensor) or not waveform.is_floating_point():
        raise AudioError(name, "diarization needs a floating-point torch.Tensor 'waveform' in [-1, 1]")
    if rate != SAMPLE_RATE:
        raise AudioError(name, f"diarization needs {SAMPLE_RATE} Hz audio, got {rate!r}")
    if waveform.ndim == 1:
        waveform = waveform.unsqueeze(0)
    if waveform.ndim != 2 or waveform.shape[0] != 1:
        raise AudioError(name, f"diarization needs mono audio shaped (1, N), got {tuple(waveform.shape)}")
    duration = waveform.shape[1] / SAMPLE_RATE
    if duration < MIN_DURATION:
        raise AudioError(name, f"{duration:.2f} s of audio is too short to diarize "
                               f"(at least {MIN_DURATION} s needed)")
    if not all(torch.isfinite(part).all() for part in waveform.split(60 * SAMPLE_RATE, dim=1)):  # a minute at a time
        raise AudioError(name, "the waveform contains NaN or infinite samples")
    return waveform.float()


def load_pipeline(device: str, options: DiarizationOptions, models: ModelStoreOptions | None = None):
    """The pyannote pipeline for these structural settings, loaded once per process."""
    from pipeline.models import model_dir

    segmentation = str(model_dir("segmentation-3.0", models))
    embedding = str(model_dir("campplus", models))
    try:
        return _load_pipeline(device, segmentation, embedding, options.step, options.embedding_mode,
                              options.embedding_min_duration, options.embedding_max_duration,
                              options.embedding_exclude_overlap, options.embedding_reuse)
    except (OSError, RuntimeError, ValueError, KeyError) as e:
        raise DiarizationError(f"could not load the diarization models on {device}: {e}") from e


@lru_cache(maxsize=2)
def _load_pipeline(device: str, segmentation_dir: str, embedding_dir: str, step: float,
                   embedding_mode: str, embedding_min_duration: float, embedding_max_duration: float,
                   exclude_overlap: bool, reuse: float):
    offline_environment()
    import torch
    from pyannote.audio import Model

    from pipeline.campplus import CamPPlusEmbedding
    from pipeline.crops import CroppedSpeakerDiarization

    started = time.perf_counter()
    segmentation = Model.from_pretrained(segmentation_dir, strict=True)
    if segmentation is None:  # pyannote returns None instead of raising
        raise DiarizationError(f"could not load the segmentation model from {segmentation_dir}")
    embedding = CamPPlusEmbedding.from_file(embedding_dir, mode=embedding_mode,
                                            min_duration=embedding_min_duration,
                                            max_duration=embedding_max_duration)
    pipeline = CroppedSpeakerDiarization(
        campplus=embedding,
        reuse=reuse,
        segmentation=segmentation,
        segmentation_step=step,
        embedding=embedding,
        embedding_exclude_overlap=exclude_overlap,
        plda=_no_plda(),
        clustering="AgglomerativeClustering",
    )
    if device != "cpu":
        pipeline.to(torch.device(device))
    logger.info("loaded segmentation-3.0 and CAM++ on %s in %.1f s", device, time.perf_counter() - started)
    return pipeline


def _no_plda():
    """A stand-in for the PLDA that agglomerative clustering never uses.

    ``SpeakerDiarization.__init__`` loads its ``plda`` argument with ``get_plda``, which raises a
    TypeError for ``None`` in pyannote.audio 4.0.7, and its default downloads from the hub. A
    ``PLDA`` made without its weights passes ``get_plda``'s isinstance check untouched; only VBx
    clustering would read it, and the pipeline here is built with agglomerative clustering.
    """
    from pyannote.audio.core.plda import PLDA

    return PLDA.__new__(PLDA)


def configure(pipeline, options: DiarizationOptions) -> None:
    """Set the tunable numbers of ``options`` on a loaded pipeline."""
    pipeline.segmentation_batch_size = options.segmentation_batch_size
    pipeline.embedding_batch_size = options.embedding_batch_size
    pipeline.instantiate({
        "segmentation": {"min_duration_off": options.min_duration_off},
        "clustering": {
            "method": options.clustering_method,
            "threshold": options.clustering_threshold,
            "min_cluster_size": options.min_cluster_size,
        },
    })


def _run(pipeline, file: dict, options: DiarizationOptions, hook: Hook | None, name: str):
    """Apply the pipeline; pyannote's warnings go to the log, its exceptions become ours."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            output = pipeline(file, num_speakers=options.num_speakers, min_speakers=options.min_speakers,
                              max_speakers=options.max_speakers, hook=hook)
        except (RuntimeError, ValueError, IndexError) as e:
            raise DiarizationError(f"{name}: diarization failed: {e}") from e
    for w in caught:  # numpy's RuntimeWarnings (a mean of no embeddings) are pyannote internals
        level = logging.DEBUG if issubclass(w.category, RuntimeWarning) else logging.WARNING
        logger.log(level, "%s: pyannote: %s", name, " ".join(str(w.message).split()))
    return output


def to_diarization(annotation, exclusive, duration: float) -> Diarization:
    """pyannote ``Annotation`` s to plain turns, speakers renamed in order of first appearance.

    Turns are clipped to the audio: pyannote's last frame can reach past the end of the file.
    """
    turns = _turns(annotation, duration)
    exclusive_turns = _turns(exclusive, duration)
    order: dict[str, str] = {}
    for turn in turns + exclusive_turns:
        order.setdefault(turn.speaker, f"SPEAKER_{len(order):02d}")
    return Diarization(
        turns=tuple(Turn(t.start, t.end, order[t.speaker]) for t in turns),
        exclusive=tuple(Turn(t.start, t.end, order[t.speaker]) for t in exclusive_turns),
        speakers=tuple(order.values()),
        duration=duration,
    )


def _turns(annotation, duration: float) -> list[Turn]:
    """Sorted turns within [0, duration], times rounded to the millisecond; pyannote's labels."""
    turns = (
        Turn(round(max(segment.start, 0.0), 3), round(min(segment.end, duration), 3), str(label))
        for segment, _, label in annotation.itertracks(yield_label=True)
    )
    return sorted(t for t in turns if t.end > t.start)
