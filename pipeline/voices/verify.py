"""Turn by turn: a voice name holds only where the voice is the enrolled one.

Diarization sometimes puts a short turn of one speaker into another's cluster: a guest's one-line
answer, a soundbite, a stranger's "Good morning, Nora" heard as the host. The cluster's print
still matches the host (the short turn is a small part of it), and naming the cluster would name
that turn too. So each short solo stretch (under ``verify_under`` seconds; the long ones are what
the print is made of) of a speaker named by voice is embedded on its own and scored against the
voice it was named after; a stretch under ``turn_threshold`` is given back: its words (and its
part of the diarization's turns) move to a new label, ``SPEAKER_NN`` after the last one, which
no name reaches. Stretches too short to embed (``verify_min``) keep the name.

:func:`give_back` is pure (words, turns and diarization relabelled, paragraphs regrouped with
:func:`pipeline.stages.align.group_turns`); :func:`unverified` runs the model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from pipeline.config import AlignOptions, VoicesOptions
from pipeline.types import AttributedWord, Audio, RunResult, Turn
from pipeline.voices.prints import Span, VoicePrint, solo_spans, unit

logger = logging.getLogger(__name__)

#: seconds trimmed off a short stretch before it is embedded
EDGE = 0.1


def short_stretches(result: RunResult, label: str, options: VoicesOptions) -> list[Span]:
    """The solo stretches of ``label`` worth checking: shorter than ``verify_under`` and long enough to embed."""
    return [(s, e) for s, e in solo_spans(result.diarization, label, edge=EDGE, min_piece=options.verify_min)
            if e - s + 2 * EDGE < options.verify_under]


def unverified(result: RunResult, audio: Audio, models, voices: Mapping[str, np.ndarray],
               options: VoicesOptions, prints: Mapping[str, VoicePrint] | None = None) -> dict[str, list[Span]]:
    """For each label named by voice, its short stretches that do not sound like that voice.

    A stretch that holds a crop of the label's print (``prints``) is scored with that crop's
    embedding instead of being embedded again.
    """
    named = {label: result.speaker_names[label] for label, how in result.naming.items() if how.get("source") == "voice"}
    stretches = {label: short_stretches(result, label, options) for label in named}
    embedded = {label: _crops_within(stretches[label], (prints or {}).get(label)) for label in named}
    todo = [(label, span) for label, own in stretches.items() for span in own if span not in embedded[label]]
    if todo:
        for (label, span), embedding in zip(todo, unit(models.embed(audio, [s for _, s in todo])), strict=True):
            embedded[label][span] = embedding
    rejected = {}
    for label, own in stretches.items():
        bad = []
        for s, e in own:
            score = float(embedded[label][(s, e)] @ voices[named[label]])
            logger.debug("%s %s %.2f-%.2f: %.3f", label, named[label], s, e, score)
            if score < options.turn_threshold:
                bad.append((round(s - EDGE, 3), round(e + EDGE, 3)))
        if bad:
            rejected[label] = bad
            logger.info("%s (%s by voice): %d of %d short stretches do not sound like %s; given back",
                        label, named[label], len(bad), len(own), named[label])
    return rejected


def _crops_within(stretches: Sequence[Span], voice_print: VoicePrint | None) -> dict[Span, np.ndarray]:
    """The stretches that hold exactly one crop of the print, with that crop's embedding."""
    if voice_print is None or not voice_print.spans:
        return {}
    found = {}
    for stretch in stretches:
        inside = [k for k, (s, e) in enumerate(voice_print.spans) if stretch[0] <= s and e <= stretch[1]]
        if len(inside) == 1:
            found[stretch] = voice_print.embeddings[inside[0]]
    return found


def give_back(result: RunResult, rejected: Mapping[str, Sequence[Span]], align: AlignOptions) -> RunResult:
    """``result`` with each label's rejected stretches moved to a new unnamed label of their own."""
    from pipeline.stages.align import group_turns

    if not rejected:
        return result
    numbers = [int(s.rsplit("_", 1)[1]) for s in result.speakers if "_" in s and s.rsplit("_", 1)[1].isdigit()]
    number, fresh = max(numbers, default=-1) + 1, {}
    for label in rejected:
        fresh[label] = f"SPEAKER_{number:02d}"
        number += 1

    def moved(word: AttributedWord) -> AttributedWord:
        middle = (word.start + word.end) / 2
        if word.speaker in rejected and any(s <= middle <= e for s, e in rejected[word.speaker]):
            return replace(word, speaker=fresh[word.speaker])
        return word

    words = tuple(moved(w) for w in result.words)
    diarization = tuple(sorted(t for turn in result.diarization for t in _split(turn, rejected, fresh)))
    return replace(result, words=words, turns=group_turns(words, align), diarization=diarization,
                   speakers=(*result.speakers, *fresh.values()))


def _split(turn: Turn, rejected: Mapping[str, Sequence[Span]], fresh: Mapping[str, str]) -> list[Turn]:
    """``turn`` cut where a rejected stretch of its speaker lies; those parts under the new label."""
    if turn.speaker not in rejected:
        return [turn]
    pieces, cursor = [], turn.start
    for s, e in sorted(rejected[turn.speaker]):
        s, e = max(s, turn.start), min(e, turn.end)
        if e <= s:
            continue
        if s > cursor:
            pieces.append(Turn(cursor, s, turn.speaker))
        pieces.append(Turn(s, e, fresh[turn.speaker]))
        cursor = e
    if cursor < turn.end:
        pieces.append(Turn(cursor, turn.end, turn.speaker))
    return [Turn(round(t.start, 3), round(t.end, 3), t.speaker) for t in pieces if t.end > t.start]
