"""Transcription: two Whisper engines behind one function and one typed result.

* ``faster-whisper`` (CTranslate2): the default; int8 on CPU, float16 on CUDA.
* ``openai-whisper``: the reference implementation, on a checkpoint converted from the same
  CTranslate2 weights when the model comes from the offline store (``fp16=False`` on CPU).

Word timestamps are always on. Whisper's known failure modes on radio are guarded with the
engines' own controls: VAD (faster-whisper) or hallucination-silence skipping (openai-whisper)
against text invented over silence and music; the no-speech and log-probability thresholds;
the compression-ratio threshold with temperature fallback against repetition loops; and not
conditioning on the previous text, which is how a loop carries from one window to the next.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from functools import lru_cache, partial

import numpy as np

from pipeline.config import AsrOptions, ModelStoreOptions
from pipeline.errors import TranscriptionError
from pipeline.runtime import resolve_device
from pipeline.stages.audio import SAMPLE_RATE
from pipeline.types import Segment, Transcript, Word

logger = logging.getLogger(__name__)

#: progress(seconds_done, seconds_total)
Progress = Callable[[float, float], None]

#: faster-whisper holds a whole file's speech, and its features two or three times over, while
#: it transcribes: audio longer than 1.5 pieces goes in pieces of about this many seconds
PIECE_SECONDS = 600.0
#: a piece ends in the quietest half second within this many seconds of its nominal end
CUT_SEARCH_SECONDS = 30.0


def pieces(samples: np.ndarray, seconds: float | None = None) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` sample ranges covering ``samples``, cut in quiet places.

    Short audio is one piece. Longer audio is cut about every ``seconds``, each cut in the middle
    of the quietest 0.5 s (lowest RMS) within ``CUT_SEARCH_SECONDS`` of the nominal point: the
    pause between two sentences, not the middle of a word.
    """
    total, size = len(samples), int((seconds or PIECE_SECONDS) * SAMPLE_RATE)
    if total <= 1.5 * size:
        return [(0, total)]
    frame, search = SAMPLE_RATE // 10, int(CUT_SEARCH_SECONDS * SAMPLE_RATE)
    cuts, target = [], size
    while target < total - size // 2:
        low, high = max(target - search, cuts[-1] if cuts else 0), min(target + search, total)
        region = samples[low:high].astype(np.float32)
        energy = np.square(region[: len(region) // frame * frame].reshape(-1, frame)).mean(axis=1)
        quiet = np.convolve(energy, np.ones(5), mode="valid")  # 5 frames: 0.5 s
        cut = low + (int(np.argmin(quiet)) + 2) * frame + frame // 2 if quiet.size else target
        cuts.append(cut)
        target = cut + size
    return list(zip([0, *cuts], [*cuts, total], strict=True))


def resolve_compute_type(compute_type: str, device: str) -> str:
    """``auto`` is int8 on the CPU (fastest there) and float16 on CUDA."""
    if compute_type != "auto":
        return compute_type
    return "float16" if device == "cuda" else "int8"


def transcribe(
    model,
    samples: np.ndarray,
    options: AsrOptions = AsrOptions(),
    *,
    progress: Progress | None = None,
    spare: threading.Event | None = None,
) -> Transcript:
    """Transcribe 16 kHz mono float32 ``samples`` with ``model`` (from :func:`load_model`).

    ``options`` are those the model was loaded with: their engine decides how it is called.
    ``spare``, set by another stage when it frees its core, lets batched faster-whisper on a
    model with two workers compute batches on that core too (:mod:`pipeline.stages.batched`).
    """
    duration = len(samples) / SAMPLE_RATE
    if options.engine == "faster-whisper":
        segments, language = _faster_whisper(model, samples, options, progress, spare)
    else:
        segments, language = _openai_whisper(model, samples, options)
    segments = _clean(segments, duration, options)
    if progress:
        progress(duration, duration)
    return Transcript(tuple(segments), language, options.model, options.engine, duration)


def _threads(options: AsrOptions) -> int:
    return options.threads or os.cpu_count() or 1


@lru_cache(maxsize=2)
def _load_faster_whisper(model: str, device: str, compute_type: str, threads: int, workers: int = 1):
    from faster_whisper import WhisperModel

    try:
        loaded = WhisperModel(model, device=device, compute_type=compute_type, cpu_threads=threads,
                              num_workers=workers)
    except Exception as e:  # the hub or CTranslate2 failing to load: say which model
        raise TranscriptionError(f"cannot load Whisper model {model!r} with faster-whisper: {e}") from e
    from pipeline.stages.features import BlockFeatures

    loaded.feature_extractor = BlockFeatures.of(loaded.feature_extractor)  # the same features in less memory
    if device == "cpu":  # the same numbers in less memory (pipeline.stages.batched)
        from pipeline.stages.batched import SmallBatches

        loaded.model = SmallBatches(loaded.model)
    return loaded


def load_model(options: AsrOptions, store: ModelStoreOptions | None = None, *, workers: int = 1):
    """The engine's model for ``options``, loaded once per process and then reused.

    ``workers``: how many batches faster-whisper's CTranslate2 model may compute at once on the
    CPU (each on ``options.threads`` threads, the weights shared); 1 on CUDA.
    """
    device = resolve_device(options.device, "asr.device")
    if options.engine == "openai-whisper":
        from pipeline.weights.store import openai_whisper_checkpoint

        return _load_openai_whisper(openai_whisper_checkpoint(options.model, store), device)
    from pipeline.weights.store import whisper_model

    return _load_faster_whisper(whisper_model(options.model, store), device,
                                resolve_compute_type(options.compute_type, device), _threads(options),
                                workers if device == "cpu" else 1)


def _faster_whisper(model, samples, options, progress, spare=None):
    kwargs = dict(
        language=options.language, beam_size=options.beam_size, word_timestamps=True,
        initial_prompt=options.initial_prompt, hotwords=options.hotwords,
        vad_filter=options.vad_filter,
        vad_parameters={"min_silence_duration_ms": options.vad_min_silence_ms, "threshold": options.vad_threshold,
                        "speech_pad_ms": options.vad_speech_pad_ms},
        no_speech_threshold=options.no_speech_threshold,
        log_prob_threshold=options.log_prob_threshold,
        compression_ratio_threshold=options.compression_ratio_threshold,
        condition_on_previous_text=options.condition_on_previous_text,
        temperature=list(options.temperature),
    )
    if options.batch_size > 0:
        model = _batched(model, spare)
        kwargs["batch_size"] = options.batch_size
        kwargs.pop("condition_on_previous_text")  # batched decoding never conditions
    total = len(samples) / SAMPLE_RATE
    caller = threading.current_thread()

    def decode(span: tuple[int, int], language: str | None) -> tuple[list[Segment], str]:
        start, end = span
        offset, out = start / SAMPLE_RATE, []
        generator, info = model.transcribe(samples[start:end], **{**kwargs, "language": language})
        for s in generator:
            out.append(_segment(offset + s.start, offset + s.end, s.text, [
                Word(offset + w.start, offset + w.end, w.word, w.probability) for w in (s.words or ())
            ], s.compression_ratio))
            if progress and threading.current_thread() is caller:
                progress(offset + s.end, total)
        return out, info.language

    spans = pieces(samples)
    try:
        # the language the first piece was heard in holds for the rest of the episode
        segments, language = decode(spans[0], options.language)
        rest = spans[1:]
        if options.batch_size == 0 and rest and spare is not None and getattr(model.model, "num_workers", 1) >= 2:
            segments += _pieces_beside(rest, partial(decode, language=language), spare)
        else:
            for span in rest:
                segments += decode(span, language)[0]
    except Exception as e:
        raise TranscriptionError(f"faster-whisper failed: {e}") from e
    return segments, language


def _pieces_beside(spans: list[tuple[int, int]], decode, spare: threading.Event) -> list[Segment]:
    """The pieces decoded in order by the caller and, once ``spare`` is set (another stage has
    freed its core), from the last by a second CTranslate2 worker in a helper thread. Each piece
    is decoded on its own either way (its own VAD, windows and language, the first piece's), so
    the transcript is the same; an hour's ten-minute pieces then share two cores once
    diarization ends instead of one."""
    from pipeline.stages.batched import Batches

    work = Batches(spans, decode)
    helper = threading.Thread(target=work.help, args=(spare,), name="asr-spare-core", daemon=True)
    helper.start()
    try:
        found = [segment for _ in spans for segment in work.next()[0]]
    finally:
        work.stop()
        helper.join()
    logger.debug("%d of %d pieces on the spare core", work.helped, len(spans))
    return found


def transcribe_spans(model, samples: np.ndarray, spans: list[tuple[float, float]], options: AsrOptions,
                     language: str | None, pad: float = 0.3) -> list[Segment]:
    """Decode each (start, end) stretch of ``samples`` on its own (padded, no VAD), timed in the file.

    For the speech the first pass's VAD dropped (:mod:`pipeline.stages.recovery`). faster-whisper
    only; the same decoding options and hallucination guards as the first pass.
    """
    kwargs = dict(language=language, beam_size=options.beam_size, word_timestamps=True, vad_filter=False,
                  no_speech_threshold=options.no_speech_threshold, log_prob_threshold=options.log_prob_threshold,
                  compression_ratio_threshold=options.compression_ratio_threshold,
                  condition_on_previous_text=False, temperature=list(options.temperature))
    found = []
    try:
        for start, end in spans:
            first = max(0, int((start - pad) * SAMPLE_RATE))
            offset = first / SAMPLE_RATE
            generator, _ = model.transcribe(samples[first:int((end + pad) * SAMPLE_RATE)], **kwargs)
            found += [_segment(offset + s.start, offset + s.end, s.text, [
                Word(offset + w.start, offset + w.end, w.word, w.probability) for w in (s.words or ())
            ], s.compression_ratio) for s in generator]
    except Exception as e:
        raise TranscriptionError(f"faster-whisper failed on a second pass: {e}") from e
    return _clean(found, len(samples) / SAMPLE_RATE, options)


def _batched(model, spare: threading.Event | None):
    """faster-whisper's batched pipeline; on the CPU, one lighter on memory that takes a spare core."""
    if model.model.device != "cpu":
        from faster_whisper import BatchedInferencePipeline

        return BatchedInferencePipeline(model)
    from pipeline.stages.batched import CpuBatchedPipeline

    return CpuBatchedPipeline(model, spare)


@lru_cache(maxsize=2)
def _load_openai_whisper(checkpoint: str, device: str):
    if not os.path.isfile(checkpoint):
        import whisper

        return whisper.load_model(checkpoint, device=device)  # a hub name: whisper downloads it
    from pathlib import Path

    from pipeline.weights.convert import load_openai_whisper

    return load_openai_whisper(Path(checkpoint), device)  # weights_only, with alignment heads


def _openai_whisper(model, samples, options):
    try:
        result = model.transcribe(
            samples, language=options.language, word_timestamps=True, verbose=None,
            fp16=model.device.type == "cuda", beam_size=options.beam_size if options.beam_size > 1 else None,
            best_of=5 if len(options.temperature) > 1 else None,
            temperature=tuple(options.temperature), initial_prompt=options.initial_prompt,
            no_speech_threshold=options.no_speech_threshold,
            logprob_threshold=options.log_prob_threshold,
            compression_ratio_threshold=options.compression_ratio_threshold,
            condition_on_previous_text=options.condition_on_previous_text,
            # openai-whisper has no VAD; skipping silent stretches longer than this is its own
            # guard against text invented over silence
            hallucination_silence_threshold=2.0 if options.vad_filter else None,
        )
    except Exception as e:
        raise TranscriptionError(f"openai-whisper failed: {e}") from e
    segments = [
        _segment(s["start"], s["end"], s["text"], [
            Word(w["start"], w["end"], w["word"], w["probability"]) for w in s.get("words", ())
        ], s.get("compression_ratio", 0.0))
        for s in result["segments"]
    ]
    return segments, result.get("language") or options.language or "en"


def _segment(start, end, text, words, compression_ratio):
    return (Segment(float(start), float(end), text, tuple(words)), float(compression_ratio))


def _clean(raw: list[tuple[Segment, float]], duration: float, options: AsrOptions) -> list[Segment]:
    """Drop loops that survived every fallback; keep words ordered, positive-length, in bounds."""
    segments, last = [], 0.0
    for segment, ratio in raw:
        if ratio > options.compression_ratio_threshold:
            logger.warning("dropping a repetitive segment at %.1f s: %r", segment.start,
                           segment.text[:60])
            continue
        words = []
        for w in segment.words:
            start = min(max(w.start, last, 0.0), duration)
            end = min(max(w.end, start), duration)
            if end - start < 0.01:  # Whisper gives some words no length; keep start < end
                start, end = max(0.0, min(start, duration - 0.01)), min(start + 0.01, duration)
                start = min(start, end - 0.001)
            words.append(Word(round(start, 3), round(end, 3), w.text, round(float(w.probability), 4)))
            last = start
        if words or segment.text.strip():
            segments.append(Segment(segment.start, segment.end, segment.text, tuple(words)))
    return segments
