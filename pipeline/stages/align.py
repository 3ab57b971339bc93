"""Words to speakers: give every Whisper word the diarized speaker who said it, then group them.

Three pure steps, none of which mutates its inputs or imports anything heavy:

1. **Assign.** Each word goes to the speaker whose *exclusive* turns (at most one speaker at a
   time) overlap it most. A word that overlaps no turn (in a gap, before the first or after the
   last turn) goes to the nearest turn in time, so no word is ever left without a speaker; with
   no turns at all every word goes to :data:`FALLBACK_SPEAKER`. Turns are sorted once and looked
   up with :mod:`bisect`, so a long episode costs O(words × log turns), not O(words × turns).
2. **Repair boundaries** (see :func:`_repair`). Diarization boundaries drift by a few hundred
   milliseconds, so the first or last word of a turn often lands on the neighbour. Whisper's
   punctuation and the pauses between words say where a change of speaker can plausibly be, and
   a change that falls mid-phrase is moved to the nearest such place, a few words at most.
3. **Group** consecutive words of one speaker into :class:`SpeakerTurn` paragraphs, splitting
   at pauses longer than ``options.max_pause``.

``words`` are taken in transcript order (the order Whisper emits them); the output has exactly
one :class:`AttributedWord` per input word, in the same order.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Iterable, Sequence

from pipeline.config import AlignOptions
from pipeline.stages.spans import subtract, union
from pipeline.types import AttributedWord, Diarization, SpeakerTurn, Turn, Word

logger = logging.getLogger(__name__)

#: the label every word gets when diarization found no speaker at all
FALLBACK_SPEAKER = "SPEAKER_00"
_DEFAULTS = AlignOptions()

# A sentence ends with . ? ! or an ellipsis, maybe followed by closing quotes or brackets.
_SENTENCE_END = re.compile(r"[.?!…。？！]['\"’”)\]]*$")
# Titles that end with a period but almost never end a sentence ("Mr. Putin"). "No." is not
# here on purpose: it is a common complete one-word answer.
_ABBREVIATIONS = frozenset(
    {"mr.", "mrs.", "ms.", "dr.", "st.", "jr.", "sr.", "prof.", "sen.", "rep.", "gov.", "gen.", "vs."}
)


def align(
    words: Sequence[Word], diarization: Diarization, options: AlignOptions = _DEFAULTS
) -> tuple[tuple[AttributedWord, ...], tuple[SpeakerTurn, ...]]:
    """Attribute ``words`` to speakers and group them into turns, in one call."""
    attributed = assign_speakers(words, diarization, options)
    return attributed, group_turns(attributed, options)


def assign_speakers(
    words: Sequence[Word], diarization: Diarization, options: AlignOptions = _DEFAULTS
) -> tuple[AttributedWord, ...]:
    """One :class:`AttributedWord` per word, each with a speaker (never a missing one)."""
    if not words:
        return ()
    index = _TurnIndex(diarization.exclusive)
    if not index.turns:
        logger.warning("diarization found no speaker; all %d words go to %s", len(words), FALLBACK_SPEAKER)
        labels = [FALLBACK_SPEAKER] * len(words)
    else:
        aware = _TurnIndex(diarization.turns or diarization.exclusive)
        labels, shares = _raw_labels(words, index, aware)
        near = _near_speakers(words, aware, options)
        labels = _repair(words, labels, shares, near, options)
    return tuple(
        AttributedWord(w.start, w.end, w.text, speaker, w.probability)
        for w, speaker in zip(words, labels, strict=True)
    )


def group_turns(
    words: Sequence[AttributedWord], options: AlignOptions = _DEFAULTS
) -> tuple[SpeakerTurn, ...]:
    """Consecutive words of one speaker as turns, split at pauses longer than ``options.max_pause``."""
    groups: list[list[AttributedWord]] = []
    for word in words:
        last = groups[-1][-1] if groups else None
        if last is None or last.speaker != word.speaker or word.start - last.end > options.max_pause:
            groups.append([word])
        else:
            groups[-1].append(word)
    return tuple(
        SpeakerTurn(
            speaker=g[0].speaker,
            start=g[0].start,
            end=max(w.end for w in g),
            text=join_words(w.text for w in g),
            words=tuple(g),
        )
        for g in groups
    )


#: words of a run of unheard speech follow each other within this many seconds
HEARD_JOIN = 1.0


def heard_turns(words: Sequence[AttributedWord], turns: Sequence[Turn], speakers: Sequence[str],
                options: AlignOptions = _DEFAULTS) -> tuple[Turn, ...]:
    """``turns`` and a turn for each phrase the ASR heard where they have no one talking.

    The segmentation misses some speech outright: a guest in a reverberant room (the suite's
    ``magazine-01``: 99 of its 546 words fall outside every diarized turn), a phone voice under
    music. Whisper's words there already went to the nearest speaker; a run of at least
    ``options.heard_min_words`` of them, one speaker's, each within :data:`HEARD_JOIN` of the
    last and lasting ``options.heard_min_s`` or more, is that speaker's turn (less any time the
    diarization does give someone). Single words just past a turn's edge are the edge's
    imprecision, not missed speech, and are left alone.
    """
    if options.heard_min_words <= 0 or not words or not turns:
        return tuple(turns)
    heard = union((t.start, t.end) for t in turns)
    starts = [a for a, _ in heard]

    def unheard(w: AttributedWord) -> bool:
        middle = (w.start + w.end) / 2
        k = bisect.bisect_right(starts, middle)
        return w.speaker in speakers and (k == 0 or heard[k - 1][1] < middle)

    added: list[Turn] = []
    i = 0
    while i < len(words):
        if not unheard(words[i]):
            i += 1
            continue
        j = i
        while (j + 1 < len(words) and unheard(words[j + 1]) and words[j + 1].speaker == words[i].speaker
               and words[j + 1].start - words[j].end < HEARD_JOIN):
            j += 1
        first, last = words[i], words[j]
        if j - i + 1 >= options.heard_min_words and last.end - first.start >= options.heard_min_s:
            added.extend(Turn(round(a, 3), round(b, 3), first.speaker)
                         for a, b in subtract([(first.start, last.end)], heard) if b - a > 0.01)
        i = j + 1
    if added:
        logger.info("%d stretches (%.1f s) of ASR words the diarization heard no one in: given to their speakers",
                    len(added), sum(t.end - t.start for t in added))
    return tuple(sorted((*turns, *added), key=lambda t: (t.start, t.end, t.speaker)))


def join_words(texts: Iterable[str]) -> str:
    """Word texts joined as Whisper joins them, stripped.

    faster-whisper and openai-whisper words carry their leading space (``" Hello"``), and a word
    without one is glued to the previous word; when no word carries a space (hand-built or
    re-tokenised words) they are joined with single spaces.
    """
    texts = [t for t in texts if t.strip()]
    if any(t[:1].isspace() for t in texts):
        return "".join(texts).strip()
    return " ".join(t.strip() for t in texts)


def ends_sentence(text: str) -> bool:
    """Whether a word, as Whisper writes it with its punctuation, ends a sentence."""
    text = text.strip()
    return bool(_SENTENCE_END.search(text)) and text.lower() not in _ABBREVIATIONS


class _TurnIndex:
    """Turns sorted by start, with the running maximum of their ends, for bisect look-ups.

    ``reach[i]`` is the index of the turn ending last among ``turns[: i + 1]``, so scanning back
    from a word stops as soon as no earlier turn can reach it (even if some turns overlap).
    """

    def __init__(self, turns: Iterable[Turn]) -> None:
        self.turns = sorted(t for t in turns if t.end >= t.start)
        self.starts = [t.start for t in self.turns]
        self.reach: list[int] = []
        best = 0
        for i, turn in enumerate(self.turns):
            if turn.end > self.turns[best].end:
                best = i
            self.reach.append(best)

    def spans(self, start: float, end: float) -> list[tuple[float, float, str]]:
        """The parts of turns inside ``[start, end]``, as ``(start, end, speaker)``, by turn start."""
        return [(max(start, t.start), min(end, t.end), t.speaker) for t in self._touching(start, end)
                if min(end, t.end) > max(start, t.start)]

    def _touching(self, start: float, end: float) -> list[Turn]:
        i = bisect.bisect_left(self.starts, end) - 1
        found: list[Turn] = []
        while i >= 0 and self.turns[self.reach[i]].end > start:
            if self.turns[i].end > start:
                found.append(self.turns[i])
            i -= 1
        return found[::-1]

    def overlaps(self, start: float, end: float) -> dict[str, float]:
        """Seconds of ``[start, end]`` covered by each speaker, in order of turn start."""
        found = self._touching(start, end)
        covered: dict[str, float] = {}
        for turn in found:
            overlap = min(end, turn.end) - max(start, turn.start)
            if overlap > 0:
                covered[turn.speaker] = covered.get(turn.speaker, 0.0) + overlap
        return covered

    def nearest(self, start: float, end: float) -> Turn:
        """The turn closest in time to ``[start, end]``; on a tie, the earlier one."""
        hi = bisect.bisect_left(self.starts, end)
        before = self.turns[self.reach[hi - 1]] if hi > 0 else None
        after = self.turns[hi] if hi < len(self.turns) else None
        if before is None or (after is not None and after.start - end < start - before.end):
            assert after is not None
            return after
        return before


def _raw_labels(
    words: Sequence[Word], index: _TurnIndex, aware: _TurnIndex
) -> tuple[list[str], list[float]]:
    """Each word's speaker by largest overlap (nearest turn when none), and the share it covers.

    The overlap counted is with the exclusive turns, with one refinement: where the
    overlap-aware turns show that part of the word was spoken while one voice alone was active,
    that solo evidence decides. Outside overlapped speech the two are the same; inside it, the
    exclusive turns only say which voice pyannote found more likely frame by frame, while a word
    that starts after the second voice came in and runs on after the first one stopped is that
    second voice's, whatever the exclusive split says. On an exact tie the earlier turn wins.
    The share (0 to 1) is how much of the word that speaker covers: the evidence for the label,
    which the boundary repair uses to decide which of two equally near words to move.
    """
    labels: list[str] = []
    shares: list[float] = []
    for word in words:
        covered = _solo(aware, word.start, word.end) or index.overlaps(word.start, word.end)
        if covered:
            speaker = max(covered, key=covered.__getitem__)
            labels.append(speaker)
            shares.append(min(1.0, covered[speaker] / (word.end - word.start)))
        else:
            labels.append(index.nearest(word.start, word.end).speaker)
            shares.append(0.0)
    return labels, shares


def _solo(index: _TurnIndex, start: float, end: float) -> dict[str, float]:
    """Seconds of ``[start, end]`` in which each speaker was the only one active.

    Empty when no part of the word overlaps more than one speaker's turns (then the plain
    overlap decides, which is the same thing) or when the word is wholly in overlapped speech.
    """
    spans = index.spans(start, end)
    if len({speaker for _, _, speaker in spans}) < 2:
        return {}
    cuts = sorted({start, end, *(t for s, e, _ in spans for t in (s, e) if start < t < end)})
    solo: dict[str, float] = {}
    for a, b in zip(cuts, cuts[1:], strict=False):
        active = {speaker for s, e, speaker in spans if s < b and e > a}
        if len(active) == 1:
            (speaker,) = active
            solo[speaker] = solo.get(speaker, 0.0) + b - a
    return solo


def _near_speakers(words: Sequence[Word], index: _TurnIndex, options: AlignOptions) -> list[set[str]]:
    """For each word, the speakers whose overlap-aware turns come within ``boundary_slack`` of it.

    The repair may only give a word to one of these: a word that lies wholly where diarization
    heard one voice alone, farther than the slack from any turn of the other voice, is solid
    evidence and stays with its speaker whatever the punctuation says.
    """
    slack = options.boundary_slack
    return [set(index.overlaps(w.start - slack, w.end + slack)) for w in words]


# Boundary repair
# ---------------
# The rule: a change of speaker between word i-1 and word i is *plausible* when word i-1 ends a
# sentence (Whisper's punctuation) or when the pause between them is at least
# ``options.min_boundary_pause``. Plausible changes never move. An implausible (mid-phrase)
# change moves to the nearest plausible boundary within ``options.max_shift_words`` words, looking
# both ways, and the words in between change speaker. The search in each direction stops at the
# first plausible boundary, so a change never crosses a sentence end or a pause; it also stays
# inside the two runs it separates and never empties either of them, so a short real turn
# survives. Between two candidates the one moving fewer words wins, then the one whose moved
# words the diarization covered least (a word straddling the turn edge is cheaper to move than
# one deep inside a turn), then the earlier one. With no candidate the change stays.
#
# A move (or a flicker absorption) may only give a word to a speaker whose overlap-aware turn
# reaches within ``options.boundary_slack`` seconds of it (the edge uncertainty of diarization).
# Punctuation from Whisper is evidence, but so is a word that sits wholly in a stretch where
# diarization heard one voice alone: on pyannote's sample, Whisper fused "so what can I say? Oh,
# I don't" into "So I don't" with a sentence end before it, and snapping the change to that
# sentence end gave the first speaker's "So" to the second; the slack keeps it.
#
# Before that, a *flicker* is absorbed: a run of at most ``max_shift_words`` words with the same
# speaker on both sides, where neither of its edges is plausible (diarization jumping to another
# voice for a word or two mid-sentence). A one-word "Yes." between two sentence ends has
# plausible edges and is kept: that is a real turn. ``max_shift_words=0`` turns all of this off.
#
# Why this rule: diarization edges drift by a few hundred milliseconds (its frames are ~17 ms but
# its speaker-change decisions are smoothed over ~0.5 s), which is one or two words, and that is
# exactly the error a reader notices ("Russia?" at the start of the answer). Whisper's word times
# and punctuation are finer evidence for where one voice stops. The shift is small and bounded,
# never crosses the evidence it snaps to, and keeps every turn diarization found, so a wrong
# snap costs at most ``max_shift_words`` words and a right diarization edge is left alone.


def _repair(
    words: Sequence[Word], labels: list[str], shares: list[float], near: list[set[str]],
    options: AlignOptions,
) -> list[str]:
    if options.max_shift_words <= 0:
        return labels
    plausible = [True] + [_plausible(words, i, options) for i in range(1, len(words))]
    labels = _absorb_flickers(labels, plausible, near, options.max_shift_words)
    i = 1
    while i < len(labels):
        if labels[i] != labels[i - 1] and not plausible[i]:
            j = _best_move(labels, shares, plausible, near, i, options.max_shift_words)
            if j is not None:
                lo, hi, speaker = (j, i, labels[i]) if j < i else (i, j, labels[i - 1])
                labels[lo:hi] = [speaker] * (hi - lo)
                logger.debug("speaker change moved from word %d to word %d", i, j)
                i = max(i, j)
        i += 1
    return labels


def _plausible(words: Sequence[Word], i: int, options: AlignOptions) -> bool:
    """Whether a change of speaker between words ``i - 1`` and ``i`` is plausible."""
    pause = words[i].start - words[i - 1].end
    return pause >= options.min_boundary_pause or ends_sentence(words[i - 1].text)


def _absorb_flickers(
    labels: list[str], plausible: list[bool], near: list[set[str]], max_words: int
) -> list[str]:
    runs = _runs(labels)
    current = [label for _, _, label in runs]  # each run's label after the absorptions so far
    for k in range(1, len(runs) - 1):
        lo, hi, _ = runs[k]
        before, after = current[k - 1], current[k + 1]
        if (before == after and hi - lo <= max_words and not plausible[lo] and not plausible[hi]
                and all(before in near[w] for w in range(lo, hi))):
            current[k] = before
    return [current[k] for k, (lo, hi, _) in enumerate(runs) for _ in range(lo, hi)]


def _runs(labels: Sequence[str]) -> list[tuple[int, int, str]]:
    """Maximal runs of one label as ``(first index, index after the last, label)``."""
    runs: list[tuple[int, int, str]] = []
    for i, label in enumerate(labels):
        if runs and runs[-1][2] == label:
            runs[-1] = (runs[-1][0], i + 1, label)
        else:
            runs.append((i, i + 1, label))
    return runs


def _best_move(
    labels: list[str], shares: list[float], plausible: list[bool], near: list[set[str]],
    i: int, max_words: int,
) -> int | None:
    """Where the implausible change at ``i`` should move, or None to leave it."""
    candidates = []
    for step in (-1, 1):
        shortened = labels[i - 1] if step < 0 else labels[i]
        j = i + step
        while abs(j - i) <= max_words:
            # the word just beyond the new boundary must stay in the run being shortened
            kept = j - 1 if step < 0 else j
            if not 0 <= kept < len(labels) or labels[kept] != shortened:
                break
            if plausible[j]:
                lo, hi = min(i, j), max(i, j)
                gainer = labels[i] if step < 0 else labels[i - 1]
                if all(gainer in near[w] for w in range(lo, hi)):
                    candidates.append((hi - lo, sum(shares[lo:hi]), j))
                break
            j += step
    return min(candidates)[2] if candidates else None
