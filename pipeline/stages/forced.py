"""Forced alignment: known words placed in a stretch of audio by the Whisper model that heard it.

Whisper times words by dynamic time warping over the cross-attention of its alignment heads
(openai-whisper's ``timing.find_alignment``; CTranslate2's ``Whisper.align``, which
faster-whisper's ``WhisperModel.find_alignment`` wraps). Given text tokens instead of decoded
ones, the same computation is a forced aligner: no other model, nothing from a hub. This module
does that for one stretch at a time:

* the stretch is cut from the episode, a little wider than asked (``CONTEXT`` each side), and
  encoded as it is, not padded to Whisper's 30 s window: the encoder's cost follows the clip's
  length (0.02 s of CPU for 3 s instead of 0.8 s for a padded window, base int8), and on the seed
  episode the aligned words came out as well as with padding (start error median 0.060 s, 95th
  percentile 0.252 s, against 0.054 s and 0.246 s padded, for 14 times the CPU). A clip whose
  times are not :func:`~pipeline.stages.conform.plausible` is aligned again padded;
  openai-whisper's encoder takes padded windows only;
* each word is tokenized on its own with a leading space, so that Whisper's own word splitting
  (a new word at every token that starts with a space) never joins two of them; Whisper may split
  one of ours in several (``U.S.,``), which are joined back by their token counts;
* a stretch longer than a window is aligned a window at a time: the words expected to fit,
  then on from the last word that ended well inside the window.

:func:`whisper_aligner` returns an :data:`~pipeline.stages.conform.Aligner`: ``(start, end,
words) -> [(start, end), ...]`` in episode seconds, or ``None`` when the alignment failed
(an engine error, or times that cannot be right); the conform stage interpolates then.
stable-ts's ``align_words`` does the same on faster-whisper models (its ``compute_timestamps``
is this module's :func:`_faster_whisper_timings`), with silence suppression and fallbacks on
top; it is not used because it imports torch and openai-whisper at import time and re-times
whole segments, where this stage needs a few words between anchors the ASR already timed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

import numpy as np

from pipeline.stages.audio import SAMPLE_RATE
from pipeline.stages.conform import plausible

_SENTENCE_END = re.compile(r"[.?!…][\"'”’)\]]*$")

logger = logging.getLogger(__name__)

#: seconds of audio added on each side of a stretch, for the encoder's context
CONTEXT = 0.3
#: the longest stretch aligned in one window (Whisper's window is 30 s)
WINDOW = 28.0
#: when a stretch takes several windows, words ending this close to a window's end are redone
#: in the next one
WINDOW_TAIL = 4.0

#: (clip, words, padded) -> [(start, end), ...] in clip seconds, or None
Timings = Callable[[np.ndarray, Sequence[str], bool], "list[tuple[float, float]] | None"]


def whisper_aligner(model, samples: np.ndarray, *, engine: str = "faster-whisper", language: str | None = None):
    """An aligner of words to ``samples`` (16 kHz mono) with the loaded ASR ``model`` of ``engine``."""
    if engine == "faster-whisper":
        timings, tries = _faster_whisper(model, language), (False, True)
    else:  # openai-whisper's encoder takes whole 30 s windows only
        timings, tries = _openai_whisper(model, language), (True,)
    duration = len(samples) / SAMPLE_RATE

    def align(start: float, end: float, words: Sequence[str]) -> list[tuple[float, float]] | None:
        if not words:
            return []
        try:
            return _align_stretch(timings, tries, samples, max(0.0, start), min(end, duration), list(words))
        except Exception as e:  # an engine failure on one stretch: that stretch is interpolated
            logger.warning("forced alignment failed at %.1f-%.1f s: %s: %s", start, end, type(e).__name__, e)
            return None

    return align


def _align_stretch(timings: Timings, tries: tuple[bool, ...], samples: np.ndarray, start: float, end: float,
                   words: list[str]) -> list[tuple[float, float]] | None:
    """Words in [start, end], a window at a time; None when a window fails."""
    out: list[tuple[float, float]] = []
    while words:
        last = end - start <= WINDOW
        stop = end if last else start + WINDOW
        take = words if last else _expected_fit(words, out, stop - start)
        got = _align_window(timings, tries, samples, start, stop, take)
        if got is None:
            return None
        if not last:  # keep what ended well inside the window, at least one word
            keep = [t for t in got if t[1] <= stop - WINDOW_TAIL] or got[:1]
            got = keep
        out += got
        words = words[len(got):]
        if words:
            start = max(start + 0.5, got[-1][1])
            if start >= end:
                return None
    return out


def _expected_fit(words: list[str], done: list[tuple[float, float]], seconds: float) -> list[str]:
    """The words that fit in ``seconds`` at 15 characters a second (fast speech), at least one."""
    budget, count = seconds * 15.0, 0
    for w in words:
        budget -= len(w) + 1
        if budget < 0:
            break
        count += 1
    return words[: max(1, count)]


def _align_window(timings: Timings, tries: tuple[bool, ...], samples: np.ndarray, start: float, end: float,
                  words: list[str]) -> list[tuple[float, float]] | None:
    """Words in one window, unpadded first where the engine allows, then padded."""
    lo = max(0.0, start - CONTEXT)
    hi = min(len(samples) / SAMPLE_RATE, end + CONTEXT)
    clip = samples[int(lo * SAMPLE_RATE): int(hi * SAMPLE_RATE)]
    if len(clip) < SAMPLE_RATE // 10:
        return None
    for padded in tries:
        found = timings(clip, words, padded)
        found = trim_long_words(words, found) if found is not None and len(found) == len(words) else found
        if plausible(found, len(words)):
            break
    else:
        return None
    placed = []
    for s, e in found:
        s = min(max(lo + s, start), end)
        e = min(max(lo + e, s), end)
        placed.append((round(s, 3), round(e, 3)))
    return placed


def trim_long_words(words: Sequence[str], times: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Words the DTW stretched over a pause or music, cut back as faster-whisper cuts them.

    With ``limit`` twice the window's median word length (at most 1.4 s): the first word, and a
    word after a sentence end, keep their end and start at most ``limit`` before it; a word
    ending a sentence, and the last word, keep their start and end at most ``limit`` after it.
    """
    lengths = [e - s for s, e in times if e - s > 0]
    if not lengths:
        return list(times)
    limit = 2 * min(0.7, float(np.median(lengths)))
    out = [list(t) for t in times]
    for k, (word, span) in enumerate(zip(words, out, strict=True)):
        if span[1] - span[0] <= limit:
            continue
        if k == 0 or _SENTENCE_END.search(words[k - 1]):
            span[0] = span[1] - limit
        elif k == len(words) - 1 or _SENTENCE_END.search(word):
            span[1] = span[0] + limit
    return [(s, e) for s, e in out]


def _group(words: Sequence[str], word_tokens: Sequence[Sequence[int]],
           found: Sequence[tuple[Sequence[int], float, float]]) -> list[tuple[float, float]] | None:
    """Whisper's words (tokens, start, end) joined back into ours by token counts."""
    out: list[tuple[float, float]] = []
    k = 0
    for tokens in word_tokens:
        need, start, end = len(tokens), None, None
        while need > 0 and k < len(found):
            got, s, e = found[k]
            if len(got) > need:
                return None  # a Whisper word spans two of ours
            start = s if start is None else start
            end = e
            need -= len(got)
            k += 1
        if need or start is None:
            return None
        out.append((float(start), float(end)))
    return out if len(out) == len(words) else None


def _faster_whisper(model, language: str | None) -> Timings:
    """Word times in a clip with a faster-whisper ``WhisperModel`` (CTranslate2's ``align``)."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer

    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
                          language=language or "en")

    def timings(clip: np.ndarray, words: Sequence[str], padded: bool) -> list[tuple[float, float]] | None:
        features = model.feature_extractor(clip)[..., :-1]
        num_frames = min(features.shape[-1], model.feature_extractor.nb_max_frames)
        encoder_output = model.encode(pad_or_trim(features) if padded else features)
        word_tokens = [tokenizer.encode(" " + w) for w in words]
        flat = [t for tokens in word_tokens for t in tokens]
        found = model.find_alignment(tokenizer, [flat], encoder_output, num_frames)[0]
        return _group(words, word_tokens, [(f["tokens"], f["start"], f["end"]) for f in found])

    return timings


def _openai_whisper(model, language: str | None) -> Timings:
    """Word times in a clip with an openai-whisper model (``whisper.timing.find_alignment``)."""
    from whisper.audio import HOP_LENGTH, N_FRAMES, N_SAMPLES, log_mel_spectrogram, pad_or_trim
    from whisper.timing import find_alignment
    from whisper.tokenizer import get_tokenizer

    tokenizer = get_tokenizer(model.is_multilingual, num_languages=model.num_languages,
                              language=language or "en", task="transcribe")

    def timings(clip: np.ndarray, words: Sequence[str], padded: bool) -> list[tuple[float, float]] | None:
        import torch

        mel = log_mel_spectrogram(torch.from_numpy(np.ascontiguousarray(clip, dtype=np.float32)),
                                  model.dims.n_mels, padding=N_SAMPLES)
        num_frames = min(len(clip) // HOP_LENGTH, N_FRAMES)
        mel = pad_or_trim(mel[:, :num_frames], N_FRAMES).to(model.device)
        word_tokens = [tokenizer.encode(" " + w) for w in words]
        flat = [t for tokens in word_tokens for t in tokens]
        with torch.no_grad():
            found = find_alignment(model, tokenizer, flat, mel, num_frames)
        return _group(words, word_tokens, [(f.tokens, f.start, f.end) for f in found])

    return timings
