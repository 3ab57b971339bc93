"""Speaker diarization: who speaks when, as plain :class:`~pipeline.types.Turn` s.

pyannote.audio 4's ``SpeakerDiarization`` pipeline does the work, with every model passed in
explicitly from the offline store (its defaults point at the Hugging Face hub):

* segmentation: pyannote ``segmentation-3.0`` (powerset, up to 3 speakers per 10 s chunk);
* embeddings: CAM++ (:mod:`pipeline.stages.campplus`), computed on each speaker's active frames;
* clustering: agglomerative, then a cluster the segmentation heard as two voices is split
  (:mod:`pipeline.stages.clustering`). pyannote 4 defaults to VBx, which needs PLDA weights that ship with
  the hub's ``speaker-diarization-community-1`` only; see :func:`_no_plda`.

Nothing pyannote-typed leaves this module: :func:`diarize` returns a :class:`Diarization` with
overlap-aware turns, pyannote's exclusive (one speaker at a time) turns, and speakers labelled
``SPEAKER_00``, ``SPEAKER_01``... in order of first appearance. The tunable numbers come from
:class:`~pipeline.config.DiarizationOptions` (``diarization:`` in ``configs/*.yaml``).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from pipeline.config import DiarizationOptions, ModelStoreOptions
from pipeline.errors import AudioError, ConfigError, DiarizationError
from pipeline.runtime import offline_environment, resolve_device, torch_threads
from pipeline.stages.audio import SAMPLE_RATE, Audio
from pipeline.types import Diarization, Turn

logger = logging.getLogger(__name__)

#: below this pyannote has too little to segment; the shortest chunk it will look at
MIN_DURATION = 0.5

#: pyannote's progress callback: hook(step_name, step_artifact, file=None, total=None, completed=None)
Hook = Callable[..., Any]


def diarize(pipeline, audio: Audio, options: DiarizationOptions, *, hook: Hook | None = None) -> Diarization:
    """Who speaks when in ``audio``, with ``pipeline`` from :func:`load_pipeline`.

    ``options`` give the tunable numbers and the speaker hints; ``hook`` receives pyannote's
    progress calls. Silence gives a :class:`Diarization` with no turns. Raises
    :class:`AudioError` for audio this stage cannot take and :class:`DiarizationError` when
    pyannote fails.
    """
    name = audio.path
    waveform = _checked_waveform(audio)
    configure(pipeline, options)
    device = next(pipeline.campplus.parameters()).device.type
    started = time.perf_counter()
    with torch_threads(options.threads if device == "cpu" else 0):
        output = _run(pipeline, {"waveform": waveform, "sample_rate": SAMPLE_RATE, "uri": name},
                      options, hook, name)
    result = to_diarization(output.speaker_diarization, output.exclusive_speaker_diarization, audio.duration)
    elapsed = time.perf_counter() - started
    logger.info("%s: %d speakers, %d turns in %.1f s (%.3f x real time on %s)", name,
                len(result.speakers), len(result.turns), elapsed, elapsed / max(audio.duration, 1e-9), device)
    return result


def embed(pipeline, audio: Audio, spans, options: DiarizationOptions, workers: int = 1):
    """CAM++ embeddings ``(len(spans), 192)`` (numpy) of stretches ``(start, end)`` in seconds of ``audio``.

    The model is the loaded ``pipeline`` 's own CAM++, so the embeddings are in the space the
    diarization clusters in; a stretch needs at least 25 ms (one fbank frame). On CPU the
    stretches are shared among ``workers`` threads, each running the network on one core (torch
    releases the GIL in its operators): the naming stage runs after ASR and diarization, on the
    cores they used, and alone.
    """
    import numpy as np
    import torch

    waveform = torch.from_numpy(audio.samples).reshape(1, -1)
    rate = audio.sample_rate  # stretches of one length in seconds get one length in samples
    bounds = [(max(0, round(a * rate)), min(waveform.shape[1], round(a * rate) + round((b - a) * rate)))
              for a, b in spans]
    if any(end - first < 400 for first, end in bounds):
        raise ValueError(f"{audio.path}: a stretch to embed is shorter than one 25 ms fbank window")
    model = pipeline.campplus
    if next(model.parameters()).device.type != "cpu" or workers <= 1 or len(bounds) < 2:
        with torch_threads(options.threads if next(model.parameters()).device.type == "cpu" else 0):
            return model.embed_spans(waveform, bounds).numpy()
    by_length = sorted(range(len(bounds)), key=lambda i: bounds[i][1] - bounds[i][0])
    shares = [by_length[k::workers] for k in range(workers)]  # each its share of every length
    out = np.empty((len(bounds), model.dimension), dtype=np.float32)
    with torch_threads(1), ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embed") as pool:
        done = pool.map(lambda share: model.embed_spans(waveform, [bounds[i] for i in share]), shares)
        for share, embeddings in zip(shares, done, strict=True):
            out[share] = embeddings.numpy()
    return out


def _checked_waveform(audio: Audio):
    """The (1, N) float32 torch waveform of ``audio``, or an :class:`AudioError` saying what is wrong."""
    import numpy as np
    import torch

    if audio.sample_rate != SAMPLE_RATE:
        raise AudioError(audio.path, f"diarization needs {SAMPLE_RATE} Hz audio, got {audio.sample_rate!r}")
    if audio.duration < MIN_DURATION:
        raise AudioError(audio.path, f"{audio.duration:.2f} s of audio is too short to diarize "
                                     f"(at least {MIN_DURATION} s needed)")
    samples = audio.samples
    if not all(np.isfinite(samples[i:i + 60 * SAMPLE_RATE]).all()  # a minute at a time
               for i in range(0, len(samples), 60 * SAMPLE_RATE)):
        raise AudioError(audio.path, "the waveform contains NaN or infinite samples")
    return torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)).unsqueeze(0)


def load_pipeline(options: DiarizationOptions, models: ModelStoreOptions | None = None):
    """The pyannote pipeline for these structural settings, loaded once per process."""
    from pipeline.weights.store import model_dir

    device = resolve_device(options.device, "diarization.device")
    engine = resolve_engine(options.engine, device)
    segmentation = str(model_dir("segmentation-3.0", models))
    embedding = str(model_dir("campplus", models))
    try:
        return _load_pipeline(device, engine, options.threads, segmentation, embedding, options.step,
                              options.embedding_mode, options.embedding_min_duration,
                              options.embedding_max_duration, options.embedding_exclude_overlap,
                              options.embedding_reuse, models)
    except (OSError, RuntimeError, ValueError, KeyError) as e:
        raise DiarizationError(f"could not load the diarization models on {device}: {e}") from e


def resolve_engine(engine: str, device: str) -> str:
    """``auto`` is ONNX Runtime on CPU and torch on CUDA; ONNX Runtime on CUDA is a ConfigError."""
    if engine == "auto":
        return "onnxruntime" if device == "cpu" else "torch"
    if engine == "onnxruntime" and device != "cpu":
        raise ConfigError(f"diarization.engine onnxruntime runs on the CPU only, and diarization.device is {device}")
    return engine


@lru_cache(maxsize=2)
def _load_pipeline(device: str, engine: str, threads: int, segmentation_dir: str, embedding_dir: str,
                   step: float, embedding_mode: str, embedding_min_duration: float,
                   embedding_max_duration: float, exclude_overlap: bool, reuse: float,
                   models: ModelStoreOptions | None):
    offline_environment()
    import torch
    from pyannote.audio import Model

    from pipeline.stages.campplus import CamPPlusEmbedding
    from pipeline.stages.clustering import SplittingClustering
    from pipeline.stages.crops import CroppedSpeakerDiarization

    started = time.perf_counter()
    segmentation = Model.from_pretrained(segmentation_dir, strict=True)
    if segmentation is None:  # pyannote returns None instead of raising
        raise DiarizationError(f"could not load the segmentation model from {segmentation_dir}")
    embedding = CamPPlusEmbedding.from_file(embedding_dir, mode=embedding_mode,
                                            min_duration=embedding_min_duration,
                                            max_duration=embedding_max_duration)
    sessions = (None, None)
    if engine == "onnxruntime":
        from pipeline.stages import onnxrt

        sessions = onnxrt.sessions(segmentation, embedding, threads, models)
    embedding.session = sessions[1]
    pipeline = CroppedSpeakerDiarization(
        campplus=embedding,
        reuse=reuse,
        segmentation_session=sessions[0],
        segmentation=segmentation,
        segmentation_step=step,
        embedding=embedding,
        embedding_exclude_overlap=exclude_overlap,
        plda=_no_plda(),
        clustering="AgglomerativeClustering",
    )
    pipeline.clustering = SplittingClustering(metric=pipeline.clustering.metric)
    if device != "cpu":
        pipeline.to(torch.device(device))
    on_ort = [name for name, session in zip(("segmentation-3.0", "CAM++"), sessions, strict=True) if session]
    logger.info("loaded segmentation-3.0 and CAM++ on %s in %.1f s (on ONNX Runtime: %s)", device,
                time.perf_counter() - started, ", ".join(on_ort) or "neither")
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
    pipeline.clustering.split_min_links = options.split_links
    pipeline.clustering.split_max_similarity = options.split_similarity
    pipeline.clustering.min_distinct = options.min_distinct


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
