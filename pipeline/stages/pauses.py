"""Pauses in the audio, and Whisper's word times corrected with them.

Whisper's word times (cross-attention DTW, in the ASR and in forced alignment alike) run early
inside continuous speech: on the seed episode, word starts by a median 0.13 s and ends by 0.11 s
against the known truth, while the first word after a pause starts close to where the speech
does. The audio shows the same thing where it can be measured without any truth: a pause begins a
little after the ASR's last word before it ended. So, per episode:

* :func:`silences` finds the pauses: stretches of at least ``MIN_SILENCE`` seconds whose frame
  energy stays in the lowest ``QUIET`` of the episode's range (between the 5th and 95th
  percentile frame levels), so it follows the recording's own noise floor; exact where the
  pauses are quiet, blind under music or street noise, where :func:`unvoiced` (Silero VAD) hears
  them (on the suite's street-noise episode: 26 % of the sentence starts within 0.1 s of a
  pause end by energy, 96 % by VAD; on the clean seed 100 % and 98 %): :func:`combine` takes
  the union, each pause starting where energy says if it found one there (the VAD's speech ends
  early), and a VAD pause ends where the energy's ends as the diarization starts a turn
  (:func:`heard`: the VAD misses quiet phone callers);
* :func:`lead` is the median of (pause start - the nearest word end) over the pauses, when
  there are at least ``MIN_PAUSES`` of them and it stays within ``MAX_LEAD``, and at most
  ``LEAD_CAP``. Reverberation fools it: the energy's pauses start late in a room's tail, while
  Whisper's times there run less early (on the suite's reverberant episode the lead came out at
  0.20 s where the ASR's starts were 0.08 s early); on the 15 other episodes it measured
  0.10-0.15 s, and the ASR's starts ran 0.11-0.13 s early against the truth;
* :func:`retime` adds the lead to every time, moves a start that falls inside a pause to the
  pause's end and an end that falls inside one to its start (a word wholly inside one goes
  after it when it opens a sentence, else before it), and makes the first word after a pause
  start, and the last word before one end, where the speech does (within ``ONSET_START`` and
  ``ONSET``).

On the seed the lead came out at 0.115 s, and the ASR's word starts moved from 0.135 s (median) and
0.340 s (95th percentile) off the truth to 0.039 s and 0.161 s; turn boundaries, which are
pause edges, to within 0.012 s. No truth is involved, only the episode's own audio and words,
and no model but the VAD (Silero's small ONNX model, bundled with faster-whisper, imported only
by :func:`unvoiced`); the rest is pure numpy.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np

#: the shortest pause, seconds
MIN_SILENCE = 0.15
#: a frame is quiet in the lowest 30 % of the episode's level range (dB)
QUIET = 0.3
#: fewer pauses than this and the lead is not measured (0.0)
MIN_PAUSES = 8
#: a lead larger than this (seconds, either way) is not Whisper's and is not applied
MAX_LEAD = 0.3
#: a lead measured larger than this (and within ``MAX_LEAD``) is taken as this: the pauses were
#: heard late (a room's tail), Whisper runs no earlier. 0.15 s, the most measured on the suite's
#: episodes without reverberation: the reverberant one's word start median 0.118 -> 0.076 s, the
#: second magazine episode's (0.164 s measured) 0.051 -> 0.047 s, no other episode changed
LEAD_CAP = 0.15
#: the most a pause moves a word's time (seconds)
MAX_MOVE = 1.0
#: a word end matches a pause starting within this many seconds of it
NEAR = 0.4
#: a VAD pause that runs on this far (seconds) past where energy and diarization hear a voice start ends there
MISSED_ONSET = 0.4
#: an energy pause's end and a diarized turn's start this close (seconds) agree
AGREE = 0.15
#: a word stretched over a whole pause this long (seconds) is moved off it (see :func:`retime`)
SPANNED = 0.3
#: the last word before a pause that ends within this many seconds of its start ends there
ONSET = 0.3
#: the first word after a pause that starts within this many seconds of its end starts there:
#: Whisper starts a turn's first word later than it ends a last one (the suite's "NPR's" 0.35 s
#: after the pause; 0.4 instead of 0.3: suite turns within 0.25 s 424 -> 426 of 436, none lost)
ONSET_START = 0.4
_FRAME = 0.01

Span = tuple[float, float]


def silences(samples: np.ndarray, sample_rate: int = 16_000) -> tuple[Span, ...]:
    """The pauses of ``samples``: ``(start, end)`` seconds, in order."""
    hop = int(sample_rate * _FRAME)
    frames = len(samples) // hop
    if frames < 10:
        return ()
    power = np.square(samples[: frames * hop].astype(np.float32)).reshape(frames, hop).mean(axis=1)
    level = 10 * np.log10(power + 1e-12)
    floor, loud = np.percentile(level, 5), np.percentile(level, 95)
    quiet = level <= floor + QUIET * (loud - floor)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], quiet.astype(np.int8), [0]))))
    starts, ends = edges[0::2], edges[1::2]
    keep = (ends - starts) * _FRAME >= MIN_SILENCE
    return tuple((round(float(s) * _FRAME, 3), round(float(e) * _FRAME, 3))
                 for s, e in zip(starts[keep], ends[keep], strict=True))


def unvoiced(samples: np.ndarray, sample_rate: int = 16_000) -> tuple[Span, ...]:
    """The stretches of ``MIN_SILENCE`` or more that Silero VAD (faster-whisper's copy, ONNX)
    hears no speech in: the pauses under music or street noise, which :func:`silences` misses."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=int(MIN_SILENCE * 1000), speech_pad_ms=0)
    speech = get_speech_timestamps(samples, options, sampling_rate=sample_rate)
    edges = [0.0, *(t for s in speech for t in (s["start"] / sample_rate, s["end"] / sample_rate)),
             len(samples) / sample_rate]
    gaps = zip(edges[0::2], edges[1::2], strict=True)
    return tuple((round(a, 3), round(b, 3)) for a, b in gaps if b - a >= MIN_SILENCE)


def heard(rough: Sequence[Span], exact: Sequence[Span], speech: Sequence[Span]) -> tuple[Span, ...]:
    """The ``rough`` pauses (:func:`unvoiced`), each ending at an ``exact`` one inside it (by
    energy, :func:`silences`) where a diarized turn of ``speech`` starts too (within ``AGREE``)
    and the rough pause runs on ``MISSED_ONSET`` or more: two detectors hear a voice start there.

    Silero misses a quiet phone-line caller for a second or more (on the suite, two callers' turn
    starts 1.0 and 1.6 s inside a VAD "pause") where the energy's pause ends within 0.06 s of the
    diarized start. The diarization alone is not believed: under a music bed it hears "speakers"
    (up to 2.9 s of them on the suite) and starts turns up to 0.3 s early, and there the energy
    finds no pause.
    """
    onsets = sorted(a for a, b in speech if b - a >= MISSED_ONSET)
    out = []
    for start, end in rough:
        for _, y in exact:
            if start < y <= end - MISSED_ONSET:
                k = bisect.bisect_left(onsets, y - AGREE)
                if k < len(onsets) and onsets[k] <= y + AGREE:
                    end = y
                    break
        out.append((start, end))
    return tuple(out)


def combine(exact: Sequence[Span], rough: Sequence[Span]) -> tuple[Span, ...]:
    """The union of the ``exact`` pauses (:func:`silences`) and the ``rough`` ones (:func:`unvoiced`,
    whose frames are 32 ms and whose speech ends early): each stretch of pause starts where an
    exact pause in it starts, if one does, and ends where the last of either ends."""
    out: list[list[float]] = []  # start, end, start of the first exact pause in it
    for start, end, is_exact in sorted([(*p, True) for p in exact] + [(*p, False) for p in rough]):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
            if is_exact and out[-1][2] is None:
                out[-1][2] = start
        else:
            out.append([start, end, start if is_exact else None])
    return tuple((first if first is not None else start, end) for start, end, first in out)


def lead(ends: Sequence[float], pauses: Sequence[Span]) -> float:
    """How early the word ``ends`` run: median of pause start minus the nearest end before it."""
    ordered = sorted(ends)
    gaps = []
    for start, _ in pauses:
        k = bisect.bisect_left(ordered, start)
        near = [ordered[j] for j in (k - 1, k) if 0 <= j < len(ordered)]
        nearest = min(near, key=lambda end: abs(start - end), default=None)
        if nearest is not None and abs(start - nearest) <= NEAR and start > 0:
            gaps.append(start - nearest)
    if len(gaps) < MIN_PAUSES:
        return 0.0
    value = float(np.median(gaps))
    return round(min(value, LEAD_CAP), 3) if abs(value) <= MAX_LEAD else 0.0


def retime(spans: Sequence[Span], pauses: Sequence[Span], shift: float,
           opens: Sequence[bool] | None = None, placed: Sequence[bool] | None = None) -> list[Span]:
    """``spans`` (in time order) shifted by ``shift`` and kept out of the ``pauses``; a word all
    inside a pause goes after it if it ``opens`` a sentence, else before it, and a word stretched
    over a whole pause of ``SPANNED`` or more starts after it if it opens a sentence (Whisper times
    the first word after a pause from the end of the last one), else ends before it. A sentence's
    first word that forced alignment ``placed`` (the ASR did not hear it) right after the word
    before it, with a gap of ``SPANNED`` or more after it, goes to the end of that gap
    (:func:`_openers_forward`).

    Keeping out of a pause moves a word by ``MAX_MOVE`` seconds at most, and never out of order: a
    longer move means the pause is wrong (the VAD does not hear a quiet phone line), not the word.
    Cutting a word's own stretch over a pause off it is not a move: Whisper stretches a turn's first
    word over the pause before it by a second or more (the suite's "Thank" over 1.1 s). Then each
    start and end within ``ONSET_START`` / ``ONSET`` of a pause goes to its edge.
    """
    shifted = [(s + shift, e + shift) for s, e in spans]
    out = _kept_out(shifted, pauses, opens)
    for i, (span, before) in enumerate(zip(out, shifted, strict=True)):
        trimmed = before[0] <= span[0] < span[1] <= before[1]  # what is left of the word is its own
        moved = abs(span[0] - before[0]) > MAX_MOVE or abs(span[1] - before[1]) > MAX_MOVE
        # a sentence may open under the last one's words (a barge-in), not a word inside one
        if (moved and not trimmed) or (i and span[0] < out[i - 1][0] and not (opens and opens[i])):
            span[:] = before
    _off_spanned(out, pauses, opens)
    if opens and placed:
        _openers_forward(out, pauses, opens, placed)
    _to_edges(out, pauses)
    return [(round(s, 3), round(max(e, s + 0.01), 3)) for s, e in out]


def _kept_out(shifted: Sequence[Span], pauses: Sequence[Span], opens: Sequence[bool] | None) -> list[list[float]]:
    starts = [p[0] for p in pauses]
    out: list[list[float]] = [list(span) for span in shifted]
    for i, span in enumerate(out):
        k = bisect.bisect_right(starts, span[0]) - 1  # the pause starting last before the start
        if k >= 0 and span[0] < pauses[k][1] and span[1] <= pauses[k][1]:
            pause_start, pause_end = pauses[k]
            length = span[1] - span[0]
            span[:] = [pause_end, pause_end + length] if opens and opens[i] else [pause_start - length, pause_start]
            continue
        k = bisect.bisect_right(starts, span[1]) - 1  # the pause starting last before the end
        if k >= 0 and pauses[k][0] < span[1] <= pauses[k][1]:
            span[1] = pauses[k][0]
        k = bisect.bisect_right(starts, span[0]) - 1
        if k >= 0 and span[0] < pauses[k][1]:
            span[0] = pauses[k][1]
    return out


def _off_spanned(out: list[list[float]], pauses: Sequence[Span], opens: Sequence[bool] | None) -> None:
    """A word over a whole pause of ``SPANNED`` or more: after it when it opens a sentence, else
    before it. Never more than the word itself moves, so ``MAX_MOVE`` does not apply."""
    starts = [p[0] for p in pauses]
    for i, span in enumerate(out):
        k = bisect.bisect_left(starts, span[0])  # the first pause starting after the start
        if k < len(pauses) and pauses[k][1] < span[1] and pauses[k][1] - pauses[k][0] >= SPANNED:
            if opens and opens[i]:
                span[0] = pauses[k][1]
            else:
                span[1] = pauses[k][0]


def _openers_forward(out: list[list[float]], pauses: Sequence[Span], opens: Sequence[bool],
                     placed: Sequence[bool]) -> None:
    """A placed sentence opener glued to the word before it and followed by a gap of ``SPANNED``
    or more before the rest of its sentence starts at the end of the last pause in that gap, else
    just before the next word.

    Cross-attention DTW puts the words it is given at the left edge of the stretch between two
    heard words: a new turn's "Good" the ASR missed lands right after the last speaker's
    "Judith." and a second before its own "morning" (the suite's turn starts off by 0.7-1.1 s,
    all of this kind).
    """
    for i in range(len(out) - 1):
        if not (opens[i] and placed[i]) or opens[i + 1]:  # a one-word sentence ("Funmi?") stays
            continue
        start, end = out[i]
        following = out[i + 1][0]
        before = out[i - 1][1] if i else 0.0
        if following - end < SPANNED or start - before >= following - end:
            continue
        inside = [p for p in pauses if p[0] >= end - 0.05 and p[1] <= following + 0.05 and p[1] > start]
        length = end - start
        new_start = inside[-1][1] if inside else following - min(length, SPANNED)
        out[i][:] = [new_start, max(new_start + 0.01, min(new_start + length, following))]


def _to_edges(out: list[list[float]], pauses: Sequence[Span]) -> None:
    """The first word after a pause starts at its end when within ``ONSET_START``, the last
    before one ends at its start when within ``ONSET``."""
    starts = [p[0] for p in pauses]
    for i, span in enumerate(out):
        k = bisect.bisect_right(starts, span[0]) - 1
        if k >= 0:
            pause_start, pause_end = pauses[k]
            after_pause = i == 0 or out[i - 1][1] <= pause_start + 0.05
            if after_pause and 0 <= span[0] - pause_end < ONSET_START:
                span[0] = pause_end
        k = bisect.bisect_left(starts, span[1])
        if k < len(pauses):
            pause_start, pause_end = pauses[k]
            before_pause = i == len(out) - 1 or out[i + 1][0] >= pause_end - 0.05
            if before_pause and 0 <= pause_start - span[1] < ONSET:
                span[1] = pause_start
