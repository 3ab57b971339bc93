"""The published transcript, re-timed: the publisher's words and speakers, times from the audio.

:func:`conform` takes a run's ASR words and a published transcript and gives every published
word a time, saying how it was found (:class:`~pipeline.types.TimeSource`):

1. **Anchors.** Published and ASR words are normalized one by one (Whisper's normalizer, so
   ``it'll`` is ``it will`` on both sides) and aligned for the most matching words
   (:func:`pipeline.scoring.metrics.align_words` with ``most_matches``: WER's unit costs pair a
   passage the ASR missed with an ad it heard, and shift every word between). A published word
   all of whose normalized words the ASR heard takes its ASR word's times (``asr``), unless the
   ASR stretched it over more than ``LONG_ANCHOR_SECONDS`` (Whisper does, next to speech it
   missed) or it is an island of a word or two matched by chance amid ``ISLAND_GAP`` unmatched
   ones. Fewer than ``MIN_MATCH`` of the published words heard: the transcript is another
   episode's, refused with :class:`~pipeline.errors.TranscriptMismatchError`.
2. **Runs.** The published words between two anchors are forced-aligned to the audio between
   them by an :data:`Aligner` (``aligned``; :mod:`pipeline.stages.forced` with the episode's own
   Whisper model), and spread over it by their length where that fails or there is no audio
   (``interpolated``). Where the anchors leave far more time than the words need, something
   else was broadcast there too, and each word is looked for beside the anchor of its own
   sentence (:func:`pieces`). A run with no room at a turn's edge, said under the other
   speaker, reaches as far as the diarization has its speaker talking (:func:`overlapped`); so
   does a whole turn the ASR did not hear under the turn around it.
3. **Not broadcast.** A run that needs far more time than there is between its anchors (less than
   ``FIT`` of what it takes at the episode's speaking rate) lost lines to a cut: its whole
   sentences are ``unspoken`` and get no time; the rest is aligned.
4. **Pauses.** With the episode's pauses (:mod:`pipeline.stages.pauses`), every time is corrected
   for the lead Whisper's times have; and a turn's first and last word keep to where the
   diarization hears its speaker's talk start and end, when Whisper stretched them past it
   (:func:`_turn_edges`).
5. **Around it.** A stretch of ``GAP_SECONDS`` or more with no published word is a
   :class:`~pipeline.types.Gap` (music, an ad, a station ID; with what the ASR heard there).
   Turns are the publisher's. Words where the publisher and diarization name different speakers
   make :class:`~pipeline.types.Disagreement` runs (``DISAGREEMENT_WORDS`` words or a whole turn).

Everything but the aligner is pure and runs without audio.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from pipeline.errors import TranscriptMismatchError
from pipeline.scoring import metrics
from pipeline.stages import pauses as pause_timing
from pipeline.stages.spans import Span, union
from pipeline.types import (
    AttributedWord,
    ConformedTranscript,
    ConformedTurn,
    ConformedWord,
    Disagreement,
    Gap,
    Reference,
    RunResult,
    TimeSource,
    Unspoken,
)

logger = logging.getLogger(__name__)

#: (start, end, words) -> one (start, end) per word, or None when the alignment failed
Aligner = Callable[[float, float, Sequence[str]], "Sequence[tuple[float, float]] | None"]

#: a transcript fewer of whose words the ASR heard is refused
MIN_MATCH = 0.5
#: fewer anchored words in a row than this, with ``ISLAND_GAP`` unmatched words around them,
#: matched by chance: not anchors
ISLAND_WORDS = 3
ISLAND_GAP = 10
#: an ASR word longer than this was timed over speech it did not hear (Whisper stretches the
#: words next to what it missed): aligned again, not an anchor
LONG_ANCHOR_SECONDS = 1.0
#: a run fits between its anchors when they leave at least this share of the time it needs
FIT = 0.5
#: a run whose anchors leave more than this many times the time it needs (plus ``GAP_SECONDS``)
#: has something else between them: its words are aligned next to the anchors of their sentences
ROOMY = 3.0
#: a diarized turn counts as going on at a run's edge when it reaches this close (seconds)
OVERLAP_SLACK = 0.1
#: one speaker's diarized turns this close (seconds) are one stretch of talk (the segmentation
#: breaks a voice it hears under another's into pieces)
OVERLAP_JOIN = 0.5
#: a turn's first word stretched back from before its speaker's diarized talk over that talk's
#: start starts this many seconds before it (and a last word the same at the end): see
#: :func:`_turn_edges`
EDGE_MARGIN = 0.1
#: a word that lasts more than this many times what its letters take at the episode's speaking
#: rate was stretched by Whisper (over a pause, into a room's tail)
STRETCHED = 2.0
#: seconds with no published word that make a gap
GAP_SECONDS = 2.0
#: words heard closer than this run on, as one stretch of speech
JOIN_SECONDS = 0.3
#: an aligned word longer than this was stretched over something else: the alignment failed
MAX_WORD_SECONDS = 3.0
#: the fewest words of a disagreement (a whole published turn counts whatever its length)
DISAGREEMENT_WORDS = 2
#: speaking rate when the episode gives none: seconds a character (about 14 characters a second)
SECONDS_PER_CHAR = 0.07
_SENTENCE_END = re.compile(r"[.?!…][\"'”’)\]]*$")
_ABBREVIATION = re.compile(r"^(?:\w\.(?:\w\.)+|Mr|Mrs|Ms|Dr|St|Jr|Sr|Gov|Sen|Rep|Gen|Lt|Col|Prof|vs)\.?$",
                           re.IGNORECASE)


@dataclass(frozen=True)
class Token:
    """A published word: its text as written, its speaker and turn, its normalized words."""

    text: str
    speaker: str
    turn: int
    sentence: int
    norm: tuple[str, ...]


@dataclass(frozen=True)
class Anchors:
    """Which published words the ASR heard: per token, the ASR word indices of its first and last
    normalized word (None when not heard); ``matched``/``total`` count normalized words."""

    heard: tuple[tuple[int, int] | None, ...]
    matched: int
    total: int

    @property
    def share(self) -> float:
        return self.matched / self.total if self.total else 0.0


@dataclass(frozen=True)
class Run:
    """Published tokens ``[first, stop)`` that no anchor times, between ``start`` and ``end`` s;
    ``low`` and ``high``: where the diarization has their speaker's talk start and end, which
    their times keep within once Whisper's lead is added (None: no bound)."""

    first: int
    stop: int
    start: float
    end: float
    low: float | None = None
    high: float | None = None


def tokens(reference: Reference) -> list[Token]:
    """The published words in order, numbered by sentence (a turn ends a sentence too)."""
    out: list[Token] = []
    sentence = 0
    for t, turn in enumerate(reference.turns):
        if out:
            sentence += 1
        words = turn.text.split()
        for k, text in enumerate(words):
            out.append(Token(text, turn.speaker, t, sentence, tuple(metrics.normalize(text))))
            if _ends_sentence(text) and k < len(words) - 1:
                sentence += 1
    return out


def _ends_sentence(text: str) -> bool:
    return bool(_SENTENCE_END.search(text)) and not _ABBREVIATION.match(text)


def anchor(published: Sequence[Token], words: Sequence[AttributedWord]) -> Anchors:
    """Align normalized published words to normalized ASR words; what each token was heard as.

    A token is an anchor when all its normalized words were heard, in an ASR span no longer than
    ``LONG_ANCHOR_SECONDS``, and it is no island (:func:`drop_islands`)."""
    ref = [(n, i) for i, t in enumerate(published) for n in t.norm]
    hyp = [(n, j) for j, w in enumerate(words) for n in metrics.normalize(w.text)]
    equal: dict[int, int] = {}  # position in ref -> ASR word index
    for i, j in metrics.align_words([n for n, _ in ref], [n for n, _ in hyp], most_matches=True):
        if i is not None and j is not None and ref[i][0] == hyp[j][0]:
            equal[i] = hyp[j][1]
    heard: list[tuple[int, int] | None] = []
    position = 0
    for token in published:
        span = range(position, position + len(token.norm))
        position += len(token.norm)
        first, last = (equal.get(span[0]), equal.get(span[-1])) if token.norm else (None, None)
        if (first is not None and last is not None and all(p in equal for p in span)
                and words[last].end - words[first].start <= LONG_ANCHOR_SECONDS):
            heard.append((first, last))
        else:
            heard.append(None)
    return Anchors(tuple(drop_islands(heard)), len(equal), len(ref))


def drop_islands(heard: Sequence[tuple[int, int] | None]) -> list[tuple[int, int] | None]:
    """``heard`` without the islands: fewer than ``ISLAND_WORDS`` anchored words in a row with
    ``ISLAND_GAP`` or more unmatched words around them (published or heard, the more on each
    side), a common word matched by chance across a cut, an ad or music."""
    out = list(heard)
    while True:
        blocks = _blocks(out)
        islands = [(first, stop) for k, (first, stop) in enumerate(blocks) if stop - first < ISLAND_WORDS
                   and _between(out, blocks[k - 1] if k else None, (first, stop))
                   + _between(out, (first, stop), blocks[k + 1] if k + 1 < len(blocks) else None) >= ISLAND_GAP]
        if not islands:
            return out
        for first, stop in islands:
            out[first:stop] = [None] * (stop - first)


def _blocks(heard: Sequence[tuple[int, int] | None]) -> list[tuple[int, int]]:
    """Runs ``[first, stop)`` of anchored tokens heard as consecutive ASR words (a gap of at most
    two unmatched ASR words inside)."""
    out: list[tuple[int, int]] = []
    for i, h in enumerate(heard):
        if h is None:
            continue
        if out and out[-1][1] == i and h[0] - heard[i - 1][1] <= 3:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def _between(heard, left: tuple[int, int] | None, right: tuple[int, int] | None) -> int:
    """Unmatched words between two blocks (or an end): the published or the heard, the more."""
    tokens = (right[0] if right else len(heard)) - (left[1] if left else 0)
    if left is None or right is None:
        return tokens
    return max(tokens, heard[right[0]][0] - heard[left[1] - 1][1] - 1)


def runs(heard: Sequence[tuple[int, int] | None], words: Sequence[AttributedWord], duration: float) -> list[Run]:
    """The stretches of tokens with no anchor, each with the time between its anchors."""
    out, i = [], 0
    while i < len(heard):
        if heard[i] is not None:
            i += 1
            continue
        stop = i
        while stop < len(heard) and heard[stop] is None:
            stop += 1
        before = heard[i - 1] if i > 0 else None
        after = heard[stop] if stop < len(heard) else None
        start = words[before[1]].end if before else 0.0
        end = words[after[0]].start if after else duration
        out.append(Run(i, stop, start, max(start, end)))
        i = stop
    return out


def needs(published: Sequence[Token], members: Iterable[int], rate: float) -> float:
    """Seconds the tokens ``members`` take at ``rate`` (seconds a character, a space included)."""
    return rate * sum(len(published[i].text) + 1 for i in members)


def overlapped(run: Run, published: Sequence[Token], talks: Mapping[str, Sequence[Span]],
               rate: float) -> list[Run]:
    """``run`` widened into the next or the last turn where its speaker was talking over it.

    A turn's last words said under the next speaker's first (a barge-in) have no room between
    their anchors, the ASR having heard only the one who barged in: the suite's "backup heat."
    got 0.01 s. The same goes for a turn's first words said over the last speaker's tail. When a
    run needs more time than its anchors leave and the overlap-aware diarization has the speaker
    (by name) of a turn's tail in the run talking on past the run's end, the tail reaches to where
    that talk ends, and a turn's head in it, from where its speaker's talk starts before the run
    (at most twice the time the words take). Talk (``talks``, :func:`talk_by_name`) is a speaker's
    diarized turns joined across gaps of ``OVERLAP_JOIN``: under another voice the segmentation
    hears a speaker in pieces. A run over the end of one turn and the start of the next is cut in
    two where the two speakers' talk ends and starts, when both are found. The words of a run so
    widened or cut keep within that talk (``low``, ``high``).

    A run holding a whole turn is cut at its turns when the diarization has that turn's speaker
    talking over the run for at least ``FIT`` of the time its words take: an interjection the ASR
    did not hear under the other speaker (the suite's "When would that happen?" inside the last
    words of the turn around it), which would otherwise be taken for a line cut from the
    broadcast. That turn is looked for in its speaker's talk (at most twice its words' time
    either side of the run), the tail and head around it as above.
    """
    def seconds(first: int, stop: int) -> float:
        return needs(published, range(first, stop), rate)

    if (run.end - run.start >= seconds(run.first, run.stop) or not talks
            or run.first == 0 or run.stop == len(published)):
        return [run]
    before, after = published[run.first - 1].turn, published[run.stop].turn

    def talk_of(first: int) -> Sequence[Span]:
        return talks.get(published[first].speaker, ())

    def tail(first: int, stop: int, past: float) -> Run | None:  # a tail [first, stop) on to its talk's end
        ends = [b for a, b in talk_of(first) if a <= run.start + OVERLAP_SLACK and b > run.start - OVERLAP_JOIN]
        end = min(max(ends), run.start + 2 * seconds(first, stop)) if ends else None
        return Run(first, stop, run.start, end, high=end) if end is not None and end > past else None

    def head(first: int, stop: int, until: float) -> Run | None:  # a head [first, stop) from its talk's start
        starts = [a for a, b in talk_of(first) if b >= run.end - OVERLAP_SLACK and a < run.end + OVERLAP_JOIN]
        start = max(min(starts), run.end - 2 * seconds(first, stop)) if starts else None
        return Run(first, stop, start, run.end, low=start) if start is not None and start < until else None

    def inside(first: int, stop: int) -> Run | None:  # a whole turn [first, stop): where its talk is over the run
        talk = [(a, b) for a, b in talk_of(first) if a < run.end and b > run.start]
        if not talk or sum(min(b, run.end) - max(a, run.start) for a, b in talk) < FIT * seconds(first, stop):
            return None
        start = max(min(a for a, _ in talk), run.start - 2 * seconds(first, stop))
        end = min(max(b for _, b in talk), run.end + 2 * seconds(first, stop))
        return Run(first, stop, start, end, low=start, high=end)

    groups = []  # (turn, first, stop) of each turn's tokens in the run
    for turn, group in itertools.groupby(range(run.first, run.stop), key=lambda i: published[i].turn):
        members = list(group)
        groups.append((turn, members[0], members[-1] + 1))
    turns = {turn for turn, _, _ in groups}
    if turns == {before} and after != before:
        return [tail(run.first, run.stop, run.end) or run]
    if turns == {after} and after != before:
        return [head(run.first, run.stop, run.start) or run]
    if turns == {before, after} and len(groups) == 2:
        cut = [tail(*groups[0][1:], run.start), head(*groups[1][1:], run.end)]
        return cut if None not in cut else [run]
    whole = [inside(first, stop) if turn not in (before, after) else None for turn, first, stop in groups]
    if not any(whole):
        return [run]
    return [found or (tail(first, stop, run.end) if turn == before else
                      head(first, stop, run.start) if turn == after else None) or Run(first, stop, run.start, run.end)
            for (turn, first, stop), found in zip(groups, whole, strict=True)]


def talk_by_name(result: RunResult) -> dict[str, list[Span]]:
    """Each name's talk: the diarized turns of every label given that name, joined across
    ``OVERLAP_JOIN`` (under another voice the segmentation hears a speaker in pieces)."""
    return {name: union(((t.start, t.end) for t in result.diarization
                         if result.speaker_names.get(t.speaker) == name), OVERLAP_JOIN)
            for name in set(result.speaker_names.values())}


def speaking_rate(published: Sequence[Token], heard: Sequence[tuple[int, int] | None],
                  words: Sequence[AttributedWord]) -> float:
    """Seconds a character, over each turn from its first to its last anchored word."""
    seconds = chars = 0.0
    for _, group in itertools.groupby(range(len(published)), key=lambda i: published[i].turn):
        timed = [i for i in group if heard[i] is not None]
        if len(timed) < 2:
            continue
        seconds += words[heard[timed[-1]][1]].end - words[heard[timed[0]][0]].start
        chars += sum(len(published[i].text) + 1 for i in range(timed[0], timed[-1] + 1))
    return seconds / chars if chars and seconds > 0 else SECONDS_PER_CHAR


def split_unspoken(run: Run, published: Sequence[Token], rate: float) -> tuple[list[int], list[int]]:
    """The run's tokens that were spoken, and those that were not (whole sentences, when cut)."""
    members = list(range(run.first, run.stop))
    needed = needs(published, members, rate)
    if run.end - run.start >= FIT * needed:
        return members, []
    inside = {published[i].sentence for i in members}
    for i in (run.first - 1, run.stop):  # a sentence an anchor belongs to was (partly) spoken
        if 0 <= i < len(published):
            inside.discard(published[i].sentence)
    unspoken = [i for i in members if published[i].sentence in inside]
    return [i for i in members if published[i].sentence not in inside], unspoken


def pieces(run: Run, spoken: Sequence[int], published: Sequence[Token], rate: float,
           heard: Sequence[tuple[float, float]] = ()) -> list[tuple[float, float, list[int]]]:
    """Where to look for a run's spoken words: ``[(start, end, tokens), ...]``.

    Normally the whole time between the anchors. When that is far more than the words need
    (``ROOMY``: an ad, music or a station ID sits there too), the words of the sentence before
    are looked for just after its anchor, those of the sentence after just before its anchor,
    and any whole sentences in between in what is left. ``heard`` are the times of the ASR words
    no anchor took: where some lie next to an anchor, the words looked for there are those.
    """
    def seconds(members: Sequence[int]) -> float:
        return needs(published, members, rate)

    if not spoken:
        return []
    before = published[run.first - 1].sentence if run.first > 0 else None
    after = published[run.stop].sentence if run.stop < len(published) else None
    if run.end - run.start < ROOMY * seconds(spoken) + GAP_SECONDS or before == after:
        return [(run.start, run.end, list(spoken))]
    head = [i for i in spoken if published[i].sentence == before]
    tail = [i for i in spoken if published[i].sentence == after]
    middle = [i for i in spoken if published[i].sentence not in (before, after)]
    start, end = run.start, run.end
    out, last = [], []
    if head:
        cut = min(end, start + 2 * seconds(head) + 0.5)
        near = _beside(heard, start, cut, forward=True)
        out.append((start, min(cut, near[-1][1] + 0.1) if near else cut, head))
        start = cut
    if tail:
        cut = max(start, end - 2 * seconds(tail) - 0.5)
        near = _beside(heard, cut, end, forward=False)
        last.append((max(cut, near[-1][0] - 0.1) if near else cut, end, tail))
        end = cut
    if middle:
        out.append((start, end, middle))
    return out + last


def _beside(heard: Sequence[tuple[float, float]], start: float, end: float,
            forward: bool) -> list[tuple[float, float]]:
    """The words heard in [start, end] that run on without a pause from its start (``forward``)
    or back from its end."""
    inside = [w for w in heard if start <= w[0] and w[1] <= end]
    out: list[tuple[float, float]] = []
    edge = start if forward else end
    for s, e in inside if forward else reversed(inside):
        if (s - edge if forward else edge - e) > JOIN_SECONDS:
            break
        out.append((s, e))
        edge = e if forward else s
    return out


def interpolate(start: float, end: float, texts: Sequence[str], rate: float) -> list[tuple[float, float]]:
    """Times for ``texts`` spread by length from ``start``, at most twice as slow as ``rate``."""
    lengths = [len(t) + 1 for t in texts]
    span = min(end - start, 2 * rate * sum(lengths)) if end > start else 0.0
    out, done, total = [], 0, sum(lengths) or 1
    for n in lengths:
        s = start + span * done / total
        done += n
        out.append((round(s, 3), round(start + span * done / total, 3)))
    return out


def plausible(times: Sequence[tuple[float, float]] | None, count: int) -> bool:
    """Whether aligned times can be right: one per word, in order, none longer than
    ``MAX_WORD_SECONDS``, not collapsed to instants."""
    if times is None or len(times) != count:
        return False
    if any(b[0] < a[0] - 1e-6 or b[1] < b[0] for a, b in zip(times, times[1:], strict=False)):
        return False
    if any(e - s > MAX_WORD_SECONDS for s, e in times):
        return False
    instants = sum(1 for s, e in times if e - s < 0.02)
    return count < 3 or instants <= count // 2


def conform(reference: Reference, result: RunResult, *, aligner: Aligner | None = None,
            pauses: Sequence[tuple[float, float]] | None = None, source: str = "the transcript") -> ConformedTranscript:
    """``reference`` re-timed with ``result``'s words; ``aligner`` and ``pauses`` need the audio.

    Without an aligner the runs between anchors are interpolated; without pauses no lead is taken
    off. Raises :class:`TranscriptMismatchError` (naming ``source``) for another episode's text.
    """
    published = tokens(reference)
    words = result.words
    anchors = anchor(published, words)
    if anchors.share < MIN_MATCH:
        raise TranscriptMismatchError(
            f"{source}: does not match this episode's audio: the ASR heard {100 * anchors.share:.0f} % of its "
            f"{anchors.total} words (at least {100 * MIN_MATCH:.0f} % needed); is it another episode's transcript?")
    rate = speaking_rate(published, anchors.heard, words)
    times, sources, bounds = _time(published, anchors, result, rate, aligner)
    shift = 0.0
    if pauses is not None:
        shift = pause_timing.lead([w.end for w in words], pauses)
        timed = [i for i, t in enumerate(times) if t is not None]
        opens = [i == 0 or published[i].sentence != published[i - 1].sentence for i in timed]
        placed = [sources[i] != TimeSource.ASR.value for i in timed]
        for i, t in zip(timed, pause_timing.retime([times[i] for i in timed], pauses, shift, opens, placed),
                        strict=True):
            times[i] = _within(t, *bounds[i]) if i in bounds else t
        _turn_edges(times, published, talk_by_name(result), rate)
    diarized = _diarized(times, anchors.heard, result, shift)
    out = tuple(ConformedWord(t.text, t.speaker, t.turn, *(times[i] or (None, None)), sources[i], diarized[i])
                for i, t in enumerate(published))
    logger.info("conformed %d published words: %s", len(out), ", ".join(
        f"{s} {sum(1 for w in out if w.source == s)}" for s in TimeSource))
    return ConformedTranscript(
        audio=result.audio, duration=result.duration, words=out, turns=_turns(reference, out),
        gaps=_gaps(out, anchors.heard, words, result.duration, shift), unspoken=_unspoken(out),
        disagreements=_disagreements(out), matched=round(anchors.share, 4), lead=shift, title=reference.title,
    )


def _turn_edges(times: list[tuple[float, float] | None], published: Sequence[Token],
                talks: Mapping[str, Sequence[Span]], rate: float) -> None:
    """Each turn's first word that Whisper stretched (``STRETCHED`` times what it takes at the
    episode's ``rate``) back from outside its speaker's diarized talk (``talks``,
    :func:`talk_by_name`) over the start of that talk starts ``EDGE_MARGIN`` before the talk
    does; its last word, the same at the end.

    Whisper stretches a turn's first word back over the silence before it (the suite's soft
    "This": 0.9-1.0 s, which neither energy nor VAD hears) and carries a last one on into a
    room's tail ("I.", "June."); the pauses cannot correct what they do not hear, and the
    segmentation does hear where the voice starts and stops. A word of ordinary length keeps its
    time: the diarization's edges are off by up to 0.3 s too (without that test, 29 of the
    suite's words moved, 6 of them further from the truth).
    """
    for _, group in itertools.groupby(range(len(published)), key=lambda i: published[i].turn):
        timed = [i for i in group if times[i] is not None]
        talk = talks.get(published[timed[0]].speaker) if timed else None
        if not talk:
            continue
        first, last = timed[0], timed[-1]
        start, end = times[first]
        starts = [a for a, _ in talk if start + EDGE_MARGIN < a < end]
        if (starts and not any(a <= start <= b for a, b in talk)
                and end - start > STRETCHED * needs(published, [first], rate)):
            times[first] = (round(min(starts) - EDGE_MARGIN, 3), end)
        start, end = times[last]
        ends = [b for _, b in talk if start < b < end - EDGE_MARGIN]
        if (ends and not any(a <= end <= b for a, b in talk)
                and end - start > STRETCHED * needs(published, [last], rate)):
            times[last] = (start, round(max(ends) + EDGE_MARGIN, 3))


def _within(span: tuple[float, float], low: float | None, high: float | None) -> tuple[float, float]:
    """``span`` kept after ``low`` and before ``high`` (either None: no bound)."""
    start, end = span
    if high is not None and end > high:
        end, start = high, min(start, round(high - 0.01, 3))
    if low is not None and start < low:
        start, end = low, max(end, round(low + 0.01, 3))
    return start, end


def _time(published: Sequence[Token], anchors: Anchors, result: RunResult, rate: float, aligner: Aligner | None
          ) -> tuple[list[tuple[float, float] | None], list[str], dict[int, tuple[float | None, float | None]]]:
    """Each token's time and how it was found (before any lead is taken off), and the bounds the
    diarization set on the words of a run (:func:`overlapped`): the end of its speaker's talk for
    a tail, the start for a head. The lead moves Whisper's times, not those."""
    words = result.words
    times: list[tuple[float, float] | None] = [
        (words[h[0]].start, words[h[1]].end) if h else None for h in anchors.heard]
    sources = [TimeSource.ASR.value if h else "" for h in anchors.heard]
    used = {j for h in anchors.heard if h is not None for j in range(h[0], h[1] + 1)}
    unused = [(w.start, w.end) for j, w in enumerate(words) if j not in used]
    bounds: dict[int, tuple[float | None, float | None]] = {}
    talks = talk_by_name(result)
    for run in (part for whole in runs(anchors.heard, words, result.duration)
                for part in overlapped(whole, published, talks, rate)):
        if run.low is not None or run.high is not None:
            bounds.update(dict.fromkeys(range(run.first, run.stop), (run.low, run.high)))
        spoken, unspoken = split_unspoken(run, published, rate)
        for i in unspoken:
            sources[i] = TimeSource.UNSPOKEN.value
        if not spoken:
            continue
        for start, end, members in pieces(run, spoken, published, rate, unused):
            texts = [published[i].text for i in members]
            found = aligner(start, end, texts) if aligner is not None else None
            source = TimeSource.ALIGNED
            if not plausible(found, len(members)):
                if aligner is not None:
                    logger.info("interpolating %d words at %.1f-%.1f s", len(members), start, end)
                found, source = interpolate(start, end, texts, rate), TimeSource.INTERPOLATED
            for i, t in zip(members, found, strict=True):
                times[i], sources[i] = (float(t[0]), float(t[1])), source.value
    return times, sources, bounds


def _diarized(times: Sequence[tuple[float, float] | None], heard: Sequence[tuple[int, int] | None],
              result: RunResult, shift: float) -> list[str]:
    """Who diarization says speaks at each timed token: its ASR word's speaker, else the nearest's."""
    words = result.words
    middles = [(w.start + w.end) / 2 for w in words]
    out = []
    for t, h in zip(times, heard, strict=True):
        if t is None or not words:
            out.append("")
            continue
        if h is not None:
            k = h[0]
        else:
            middle = (t[0] + t[1]) / 2 - shift
            k = bisect.bisect_left(middles, middle)
            k = min(range(max(0, k - 1), min(len(words), k + 1)), key=lambda j: abs(middles[j] - middle))
        out.append(result.name_of(words[k].speaker))
    return out


def _turns(reference: Reference, words: Sequence[ConformedWord]) -> tuple[ConformedTurn, ...]:
    counts = Counter(w.turn for w in words)
    out, first = [], 0
    for t, turn in enumerate(reference.turns):
        count = counts[t]
        members = words[first:first + count]
        timed = [w for w in members if w.start is not None]
        start = min((w.start for w in timed), default=None)
        end = max((w.end for w in timed), default=None)
        out.append(ConformedTurn(turn.speaker, start, end, " ".join(w.text for w in members), first, count))
        first += count
    return tuple(out)


def _gaps(words: Sequence[ConformedWord], heard: Sequence[tuple[int, int] | None],
          asr: Sequence[AttributedWord], duration: float, shift: float) -> tuple[Gap, ...]:
    """Stretches of ``GAP_SECONDS`` or more with no published word, and what the ASR heard there."""
    spans = sorted((w.start, w.end) for w in words if w.start is not None)
    used = {j for h in heard if h is not None for j in range(h[0], h[1] + 1)}
    edges = [(0.0, 0.0), *spans, (duration, duration)]
    out, reached = [], 0.0
    for (_, end), (start, _) in zip(edges, edges[1:], strict=False):
        reached = max(reached, end)
        if start - reached >= GAP_SECONDS:
            heard_there = [w.text.strip() for j, w in enumerate(asr)
                           if j not in used and reached <= (w.start + w.end) / 2 + shift <= start]
            out.append(Gap(round(reached, 3), round(start, 3), " ".join(heard_there)))
    return tuple(out)


def _unspoken(words: Sequence[ConformedWord]) -> tuple[Unspoken, ...]:
    out: list[Unspoken] = []
    after = None
    i = 0
    while i < len(words):
        if words[i].source != TimeSource.UNSPOKEN:
            after = words[i].end if words[i].end is not None else after
            i += 1
            continue
        stop = i
        while stop < len(words) and words[stop].source == TimeSource.UNSPOKEN and words[stop].turn == words[i].turn:
            stop += 1
        text = " ".join(w.text for w in words[i:stop])
        out.append(Unspoken(words[i].speaker, text, words[i].turn, i, stop - i, after))
        i = stop
    return tuple(out)


def _disagreements(words: Sequence[ConformedWord]) -> tuple[Disagreement, ...]:
    """Runs of timed words the publisher and diarization give to different speakers."""
    timed = [i for i, w in enumerate(words) if w.start is not None]
    per_turn: dict[int, int] = {}
    for i in timed:
        per_turn[words[i].turn] = per_turn.get(words[i].turn, 0) + 1
    groups: list[list[int]] = []
    for i in timed:
        w = words[i]
        if w.diarized == w.speaker:
            groups.append([])
            continue
        last = groups[-1] if groups else []
        if last and (words[last[0]].speaker, words[last[0]].diarized) == (w.speaker, w.diarized):
            last.append(i)
        else:
            groups.append([i])
    out = []
    for g in groups:
        if not g or (len(g) < DISAGREEMENT_WORDS and per_turn[words[g[0]].turn] > len(g)):
            continue
        first = words[g[0]]
        out.append(Disagreement(first.start, max(words[i].end for i in g), first.speaker, first.diarized,
                                " ".join(words[i].text for i in g), g[0], g[-1] - g[0] + 1))
    return tuple(out)
