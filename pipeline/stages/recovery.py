"""A second ASR pass over speech the first one missed, found by the diarization.

faster-whisper decodes the stretches its Silero VAD calls speech, and that VAD drops quiet and
phone-band voices (on the evaluation suite: a caller 7 dB down, 27 words in a row). Decoding
without VAD loses words elsewhere (Whisper skips whole 30 s windows it judges silent) and invents
text over music. pyannote's segmentation, run anyway for diarization, hears those voices. So
after both stages, every stretch of at least ``min_seconds`` where a diarized speaker talks and no
word was transcribed is decoded again on its own, and the words found inside it are added.

:func:`missed_speech` (which stretches) and :func:`merge` (the words put together) are pure; the
decoding itself is :func:`pipeline.stages.asr.transcribe_spans`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.stages.spans import subtract, union
from pipeline.types import Segment, Transcript, Turn, Word

#: a word's own time, widened by this much on each side, counts as transcribed
WORD_MARGIN = 0.25
#: diarized turns closer than this are one stretch of speech (a phone line's turns come in pieces)
JOIN_GAP = 0.6
#: a segment found in the second pass whose words average a lower probability is dropped: over
#: music Whisper answers "You" (0.01-0.04 on the suite), what it really hears scores 0.4 and more
MIN_PROBABILITY = 0.25
#: punctuation a word can be on its own (whisper's own list), not scored for anomaly
PUNCTUATION = "\"'“¿([{-\"'.。,，!！?？:：”)]}、"


def missed_speech(words: Sequence[Word], turns: Sequence[Turn], min_seconds: float) -> list[tuple[float, float]]:
    """Stretches of at least ``min_seconds`` inside the diarized speech that no word covers."""
    speech = union(((t.start, t.end) for t in turns), JOIN_GAP)
    covered = union((w.start - WORD_MARGIN, w.end + WORD_MARGIN) for w in words)
    return [(round(a, 3), round(b, 3)) for a, b in subtract(speech, covered) if b - a >= min_seconds]


def anomalous(words: Sequence[Word]) -> bool:
    """Whisper's own test for a hallucination (``word_anomaly_score`` in openai-whisper and
    faster-whisper, used there only with ``hallucination_silence_threshold``): over the first 8
    words, improbable (< 0.15), squeezed (< 0.133 s) or stretched (> 2 s) words add up to 3, or
    every word is one. A stretch the second pass decodes has no words around it, so this alone
    tells an invented outro over music ("Thank you very much for your time, and I'll see you in
    the next video": 14 words in 1.6 s) from speech the first pass missed. :func:`merge` asks it
    of the words inside the stretch: the padding around it often holds a clipped word.
    """
    words = [w for w in words if w.text.strip() not in PUNCTUATION][:8]
    if not words:
        return False
    score = 0.0
    for w in words:
        duration = w.end - w.start
        score += (w.probability < 0.15) + max(0.0, 0.133 - duration) * 15 + max(0.0, duration - 2.0)
    return score >= 3 or score + 0.01 >= len(words)


def merge(transcript: Transcript, found: Sequence[Segment], spans: Sequence[tuple[float, float]]) -> Transcript:
    """``transcript`` with the words of ``found`` that lie inside ``spans`` (by their middle), in time order.

    A segment whose words average a probability under :data:`MIN_PROBABILITY`, or whose words
    inside the spans :func:`anomalous` calls a hallucination, is left out. A segment the new words
    fall inside is split around them, so the words stay in time order.
    """
    heard = [s for s in found if s.words and sum(w.probability for w in s.words) / len(s.words) >= MIN_PROBABILITY]
    new = []
    for segment in heard:
        inside = [w for w in segment.words if any(a <= (w.start + w.end) / 2 <= b for a, b in spans)]
        if not anomalous(inside):
            new += inside
    if not new:
        return transcript
    tagged = [(w, n) for n, segment in enumerate(transcript.segments) for w in segment.words]
    tagged += [(w, -1 - k) for k, w in enumerate(new)]  # each new word its own source, split below
    tagged.sort(key=lambda item: (item[0].start, item[0].end))
    segments: list[list[Word]] = []
    previous = None
    for word, source in tagged:
        if not segments or source != previous and not (source < 0 and previous is not None and previous < 0):
            segments.append([])
        segments[-1].append(word)
        previous = source
    rebuilt = tuple(Segment(ws[0].start, ws[-1].end, "".join(w.text for w in ws), tuple(ws)) for ws in segments)
    return Transcript(rebuilt, transcript.language, transcript.model, transcript.engine, transcript.duration)
