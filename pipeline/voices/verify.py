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
#: the lengths (seconds) short stretches are cut to: each at most a fifth shorter than the next,
#: and 2 s at most (the middle 2 s of a longer stretch tell its voice as well)
LENGTHS = (0.3, 0.35, 0.4, 0.5, 0.6, 0.75, 0.9, 1.1, 1.35, 1.65, 2.0)


def short_stretches(result: RunResult, label: str, options: VoicesOptions, *,
                    under: float | None = None) -> list[tuple[Span, Span]]:
    """The solo stretches of ``label`` worth checking, shorter than ``verify_under`` (or ``under``)
    and long enough to embed, each with what of it is embedded: trimmed by :data:`EDGE` and cut
    (about its middle) to the next length down of :data:`LENGTHS`, so that stretches of one length
    go through the model together."""
    under = options.verify_under if under is None else under
    out = []
    for s, e in solo_spans(result.diarization, label, edge=EDGE, min_piece=options.verify_min):
        if e - s + 2 * EDGE < under:
            keep = max([n for n in LENGTHS if n <= e - s + 1e-9], default=e - s)
            first = round((s + e - keep) / 2, 3)
            out.append(((round(s - EDGE, 3), round(e + EDGE, 3)), (first, round(first + keep, 3))))
    return out


def unverified(result: RunResult, audio: Audio, models, voices: Mapping[str, np.ndarray],
               options: VoicesOptions, prints: Mapping[str, VoicePrint] | None = None) -> dict[str, list[Span]]:
    """For each label named by voice, its short stretches that do not sound like that voice.

    A stretch that holds a crop of the label's print (``prints``) is scored with that crop's
    embedding instead of being embedded again.
    """
    named = {label: result.speaker_names[label] for label, how in result.naming.items() if how.get("source") == "voice"}
    stretches = {label: short_stretches(result, label, options) for label in named}
    embedded = {label: _crops_within(stretches[label], (prints or {}).get(label)) for label in named}
    todo = [(label, cut) for label, own in stretches.items() for _, cut in own if cut not in embedded[label]]
    if todo:
        for (label, cut), embedding in zip(todo, unit(models.embed(audio, [c for _, c in todo])), strict=True):
            embedded[label][cut] = embedding
    rejected = {}
    for label, own in stretches.items():
        bad = []
        for stretch, cut in own:
            score = float(embedded[label][cut] @ voices[named[label]])
            logger.debug("%s %s %.2f-%.2f: %.3f", label, named[label], *stretch, score)
            if score < options.turn_threshold:
                bad.append(stretch)
        if bad:
            rejected[label] = bad
            logger.info("%s (%s by voice): %d of %d short stretches do not sound like %s; given back",
                        label, named[label], len(bad), len(own), named[label])
    return rejected


def _crops_within(stretches: Sequence[tuple[Span, Span]], voice_print: VoicePrint | None) -> dict[Span, np.ndarray]:
    """The stretches that hold exactly one crop of the print: their cut, with that crop's embedding."""
    if voice_print is None or not voice_print.spans:
        return {}
    found = {}
    for (start, end), cut in stretches:
        inside = [k for k, (s, e) in enumerate(voice_print.spans) if start <= s and e <= end]
        if len(inside) == 1:
            found[cut] = voice_print.embeddings[inside[0]]
    return found


def misplaced(result: RunResult, audio: Audio, models, options: VoicesOptions,
              align: AlignOptions) -> dict[str, list[tuple[Span, str]]]:
    """The short stretches diarization put in the wrong cluster: label -> [(stretch, its speaker)].

    Each solo stretch shorter than ``align.check_under`` seconds is embedded on its own and scored
    against every diarized speaker's print (:func:`~pipeline.voices.prints.speaker_prints`). One
    that scores under ``align.check_below`` against its own speaker, and at least
    ``align.check_margin`` more against another, is that other speaker's: the seed's last exchange,
    where the host's "NPR's Michele Kelemen" went to Kelemen (0.30 against her own cluster, 0.77
    against the host's) and Kelemen's "Thank you, Linda." to the host (0.32, 0.57). The right
    stretches of the seed score 0.47 or more against their own speaker.
    """
    from pipeline.voices.prints import speaker_prints

    if align.check_under <= 0 or len(result.speakers) < 2:
        return {}
    stretches = {label: short_stretches(result, label, options, under=align.check_under)
                 for label in result.speakers}
    if not any(stretches.values()):
        return {}
    # the prints a voice library would take (up to voices.max_seconds, 20 s): on 8 s, 2 s an episode
    # less, ledger-03's right-speaker share fell from 97.4 % to 96.0 % (the suite's 98.0 % to 97.9 %)
    prints = speaker_prints(result, audio, models, options)
    if len(prints) < 2:
        return {}
    labels = sorted(prints)
    centroids = np.stack([prints[label].centroid for label in labels])
    todo = [(label, stretch, cut) for label in labels for stretch, cut in stretches[label]]
    if not todo:
        return {}
    moves: dict[str, list[tuple[Span, str]]] = {}
    for (label, stretch, _), embedding in zip(todo, unit(models.embed(audio, [c for *_, c in todo])),
                                               strict=True):
        scores = centroids @ embedding
        own = float(scores[labels.index(label)])
        best = max((k for k in range(len(labels)) if labels[k] != label), key=lambda k: scores[k])
        if own < align.check_below and float(scores[best]) - own >= align.check_margin:
            logger.info("%.2f-%.2f s: %s's cluster, but sounds like %s (%.2f against %.2f); moved",
                        *stretch, label, labels[best], float(scores[best]), own)
            moves.setdefault(label, []).append((stretch, labels[best]))
    return moves


def give_back(result: RunResult, rejected: Mapping[str, Sequence[Span]], align: AlignOptions) -> RunResult:
    """``result`` with each label's rejected stretches moved to a new unnamed label of their own."""
    if not rejected:
        return result
    numbers = [int(s.rsplit("_", 1)[1]) for s in result.speakers if "_" in s and s.rsplit("_", 1)[1].isdigit()]
    number, fresh = max(numbers, default=-1) + 1, {}
    for label in rejected:
        fresh[label] = f"SPEAKER_{number:02d}"
        number += 1
    moved = move(result, {label: [(span, fresh[label]) for span in spans] for label, spans in rejected.items()},
                 align)
    return replace(moved, speakers=(*result.speakers, *fresh.values()))


def move(result: RunResult, moves: Mapping[str, Sequence[tuple[Span, str]]], align: AlignOptions) -> RunResult:
    """``result`` with each label's stretches given to the label paired with each: the words in
    them (widened to a sentence end or pause), their part of the diarization, the paragraphs."""
    from pipeline.stages.align import group_turns

    if not moves:
        return result
    words = list(result.words)
    for i, w in enumerate(result.words):
        middle = (w.start + w.end) / 2
        to = next((new for (s, e), new in moves.get(w.speaker, ()) if s <= middle <= e), None)
        if to is not None:
            words[i] = replace(w, speaker=to)
    words = _to_sentence_ends(words, result.words, align)
    diarization = tuple(sorted(t for turn in result.diarization for t in _split(turn, moves)))
    return replace(result, words=tuple(words), turns=group_turns(words, align), diarization=diarization)


def _to_sentence_ends(words: list[AttributedWord], before: Sequence[AttributedWord],
                      align: AlignOptions) -> list[AttributedWord]:
    """Each moved run of words widened, by ``align.max_shift_words`` at most on each side, over the
    words of the label it left until a sentence end or a pause (where the alignment itself lets a
    speaker change): a stretch's edge does not cut a sentence in two."""
    from pipeline.stages.align import ends_sentence

    def boundary(i: int) -> bool:  # a plausible speaker change between words i - 1 and i
        return ends_sentence(before[i - 1].text) or before[i].start - before[i - 1].end >= align.min_boundary_pause

    out = list(words)
    moved = [i for i in range(len(words)) if words[i].speaker != before[i].speaker]
    for i in moved:
        label, new = before[i].speaker, words[i].speaker
        j = i
        while j > 0 and i - j < align.max_shift_words and out[j - 1].speaker == label and not boundary(j):
            j -= 1
            out[j] = replace(out[j], speaker=new)
        j = i
        while j + 1 < len(out) and j - i < align.max_shift_words and out[j + 1].speaker == label \
                and not boundary(j + 1):
            j += 1
            out[j] = replace(out[j], speaker=new)
    return out


def _split(turn: Turn, moves: Mapping[str, Sequence[tuple[Span, str]]]) -> list[Turn]:
    """``turn`` cut where a moved stretch of its speaker lies; those parts under their new label."""
    if turn.speaker not in moves:
        return [turn]
    pieces, cursor = [], turn.start
    for (s, e), new in sorted(moves[turn.speaker]):
        s, e = max(s, turn.start), min(e, turn.end)
        if e <= s:
            continue
        if s > cursor:
            pieces.append(Turn(cursor, s, turn.speaker))
        pieces.append(Turn(s, e, new))
        cursor = e
    if cursor < turn.end:
        pieces.append(Turn(cursor, turn.end, turn.speaker))
    return [Turn(round(t.start, 3), round(t.end, 3), t.speaker) for t in pieces if t.end > t.start]
