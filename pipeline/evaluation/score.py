"""One episode's result measured against its truth: words, speakers, names and timeline.

Pure: no torch, no model. The truth's words (everything spoken, published or not) and the
result's words are normalized a run of one speaker at a time (as :mod:`pipeline.scoring.metrics`
does, so "forty nine percent" meets "49%") and aligned by edit distance. On that alignment:

* ``wer``: errors over the spoken words; ``deletions``: published words missed, as a share of the
  published words;
* ``invented_per_min``: words of the result that match nothing spoken and lie inside music, a
  jingle, noise or silence (regions of 1 s or more, less 0.25 s at each edge, so that a word
  whose time is a little off does not count), per minute of such regions;
* ``right_speaker``: the share of the published speakers' matched words whose result speaker
  *name* is theirs (an unnamed label is wrong); ``wder``: the same with each diarized label mapped
  to its best speaker (diarization alone, naming aside);
* ``named``/``expected``: the published speakers with at least ``MIN_WORDS`` words whose name some
  label carries, that label's words being mostly theirs; ``wrong_names``: labels named after
  someone whose words they mostly are not;
* ``speaker_count_error``: speakers found minus voices in the RTTM.

DER (no collar and ±0.25 s) and cpWER come from the check report.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.evaluation.suite import NONSPEECH, SuiteEpisode
from pipeline.scoring import metrics
from pipeline.types import RunResult, Turn

MIN_WORDS = 5
MIN_REGION_S = 1.0
REGION_MARGIN_S = 0.25


@dataclass(frozen=True)
class Token:
    """A normalized word with the time and speaker of the word it came from."""

    text: str
    start: float
    end: float
    speaker: str
    published: bool = True


@dataclass(frozen=True)
class EpisodeScore:
    name: str
    split: str
    duration: float
    spoken_words: int
    published_words: int
    errors: int
    deletions: int
    invented: int
    nonspeech_minutes: float
    right_speaker_words: int
    attributed_words: int
    wder_errors: int
    expected: tuple[str, ...]
    named: tuple[str, ...]
    wrong_names: tuple[str, ...]
    speakers_found: int
    voices: int
    der: float | None = None
    der_collar: float | None = None
    cpwer: float | None = None
    seconds: float = 0.0

    @property
    def has_words(self) -> bool:
        """Whether the episode has word truth (a recording with its RTTM only has none)."""
        return self.spoken_words > 0

    @property
    def wer(self) -> float:
        return self.errors / max(self.spoken_words, 1)

    @property
    def deletion_rate(self) -> float:
        return self.deletions / max(self.published_words, 1)

    @property
    def invented_per_min(self) -> float:
        return self.invented / self.nonspeech_minutes if self.nonspeech_minutes else 0.0

    @property
    def right_speaker(self) -> float:
        return self.right_speaker_words / max(self.attributed_words, 1)

    @property
    def wder(self) -> float:
        return self.wder_errors / max(self.attributed_words, 1)

    @property
    def speaker_count_error(self) -> int:
        return self.speakers_found - self.voices

    @property
    def rtf(self) -> float:
        return self.seconds / self.duration if self.duration else 0.0


def tokens(words: Sequence, *, text, speaker, published=lambda w: True) -> list[Token]:
    """Normalized tokens of ``words``, a run of one speaker at a time, each timed by its source word.

    A run's k-th of n tokens takes the time of its (k * m // n)-th of m words: normalization may
    join or split words, and this keeps every token inside its run.
    """
    out: list[Token] = []
    for who, run in itertools.groupby(words, key=speaker):
        run = list(run)
        norm = metrics.normalize(" ".join(text(w).strip() for w in run))
        for k, t in enumerate(norm):
            w = run[k * len(run) // len(norm)]
            out.append(Token(t, w.start, w.end, who, published(w)))
    return out


def score(episode: SuiteEpisode, result: RunResult, reference_turns: Sequence[Turn], check=None,
          seconds: float = 0.0) -> EpisodeScore:
    """``result`` measured against ``episode`` 's truth (``reference_turns``: its RTTM)."""
    truth = tokens(sorted(episode.words, key=lambda w: w.start), text=lambda w: w.text,
                   speaker=lambda w: w.speaker, published=lambda w: w.published)
    # a recording with its RTTM only: no word truth, so no word is scored (none counts as an error)
    hyp = tokens(result.words, text=lambda w: w.text, speaker=lambda w: w.speaker) if truth else []
    pairs = metrics.align_words([t.text for t in truth], [t.text for t in hyp])
    errors = sum(i is None or j is None or truth[i].text != hyp[j].text for i, j in pairs)
    deleted = sum(1 for i, j in pairs if j is None and truth[i].published)
    regions = _nonspeech(episode)
    invented = sum(1 for i, j in pairs if i is None and _inside(hyp[j], regions))
    matched = [(truth[i], hyp[j]) for i, j in pairs if i is not None and j is not None
               and truth[i].published and truth[i].speaker in episode.published]
    named, wrong = _names(matched, result, episode)
    return EpisodeScore(
        name=episode.name, split=episode.split, duration=result.duration, spoken_words=len(truth),
        published_words=sum(t.published for t in truth), errors=errors, deletions=deleted, invented=invented,
        nonspeech_minutes=sum(b - a for a, b in regions) / 60,
        right_speaker_words=sum(result.name_of(h.speaker) == t.speaker for t, h in matched),
        attributed_words=len(matched), wder_errors=_mapped_errors(matched),
        expected=tuple(sorted(s for s, n in episode.published.items() if n >= MIN_WORDS)),
        named=named, wrong_names=wrong, speakers_found=len(result.speakers),
        voices=len({t.speaker for t in reference_turns}),
        der=getattr(check, "der", None), der_collar=getattr(check, "der_collar", None),
        cpwer=getattr(check, "cpwer", None), seconds=seconds,
    )


def _nonspeech(episode: SuiteEpisode) -> list[tuple[float, float]]:
    return [(r.start + REGION_MARGIN_S, r.end - REGION_MARGIN_S) for r in episode.regions
            if r.kind in NONSPEECH and r.end - r.start >= MIN_REGION_S]


def _inside(token: Token, regions: list[tuple[float, float]]) -> bool:
    middle = (token.start + token.end) / 2
    return any(a <= middle <= b for a, b in regions)


def _names(matched: list[tuple[Token, Token]], result: RunResult, episode: SuiteEpisode):
    """(published speakers named right, labels named wrongly), from each label's matched words."""
    owners: dict[str, Counter[str]] = defaultdict(Counter)
    for t, h in matched:
        owners[h.speaker][t.speaker] += 1
    right, wrong = set(), []
    for label, name in result.speaker_names.items():
        if name == label:
            continue
        mostly = owners[label].most_common(1)[0][0] if owners[label] else None
        if mostly == name:
            right.add(name)
        else:
            wrong.append(f"{label}={name}")
    expected = {s for s, n in episode.published.items() if n >= MIN_WORDS}
    return tuple(sorted(right & expected)), tuple(sorted(wrong))


def _mapped_errors(matched: list[tuple[Token, Token]]) -> int:
    """Words whose label is not mapped (one to one, most shared words first) to their speaker."""
    shared = Counter((h.speaker, t.speaker) for t, h in matched)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for (label, speaker), _ in shared.most_common():
        if label not in mapping and speaker not in used:
            mapping[label] = speaker
            used.add(speaker)
    return sum(mapping.get(h.speaker) != t.speaker for t, h in matched)


@dataclass(frozen=True)
class Totals:
    """A set of episodes' scores together: rates over all their words, counts summed."""

    episodes: int
    wer: float
    deletion_rate: float
    worst_deletion_rate: float
    invented_per_min: float
    right_speaker: float
    worst_right_speaker: float
    wder: float
    named: int
    expected: int
    wrong_names: int
    count_exact: int
    der: float | None
    der_collar: float | None
    rtf: float
    #: spoken words of the truth (0: episodes scored on their RTTM alone; no word figure applies)
    words: int = 0

    @property
    def has_words(self) -> bool:
        return self.words > 0


def totals(scores: Sequence[EpisodeScore]) -> Totals:
    if not scores:
        raise ValueError("no scores to total")
    minutes = sum(s.nonspeech_minutes for s in scores)
    weights = [s.duration for s in scores if s.der is not None]

    def weighted(key: str) -> float | None:
        values = [(getattr(s, key), s.duration) for s in scores if getattr(s, key) is not None]
        return sum(v * d for v, d in values) / sum(d for _, d in values) if weights else None

    return Totals(
        episodes=len(scores),
        wer=sum(s.errors for s in scores) / max(sum(s.spoken_words for s in scores), 1),
        deletion_rate=sum(s.deletions for s in scores) / max(sum(s.published_words for s in scores), 1),
        worst_deletion_rate=max((s.deletion_rate for s in scores if s.has_words), default=0.0),
        invented_per_min=sum(s.invented for s in scores) / minutes if minutes else 0.0,
        right_speaker=sum(s.right_speaker_words for s in scores) / max(sum(s.attributed_words for s in scores), 1),
        worst_right_speaker=min((s.right_speaker for s in scores if s.has_words), default=1.0),
        wder=sum(s.wder_errors for s in scores) / max(sum(s.attributed_words for s in scores), 1),
        named=sum(len(s.named) for s in scores), expected=sum(len(s.expected) for s in scores),
        wrong_names=sum(len(s.wrong_names) for s in scores),
        count_exact=sum(s.speaker_count_error == 0 for s in scores),
        der=weighted("der"), der_collar=weighted("der_collar"),
        rtf=sum(s.seconds for s in scores) / max(sum(s.duration for s in scores), 1e-9),
        words=sum(s.spoken_words for s in scores),
    )
