"""How far a run is from the published transcript: word, speaker and timeline metrics.

Both sides are normalized with Whisper's ``EnglishTextNormalizer`` (loaded from its files, so
that torch is not imported) and aligned by edit distance (jiwer). On that alignment:

* ``wer``: word error rate, speakers ignored;
* ``cpwer``: concatenated minimum-permutation WER (CHiME-6): each speaker's words concatenated,
  speakers paired to minimize the total errors (Hungarian algorithm, missing speakers padded
  with empty ones), errors over reference words;
* ``wder``: word diarization error rate (Shafey et al., 2019): of the aligned words, correct or
  substituted, the share whose speaker is wrong once each diarized label is mapped one-to-one to
  the reference speaker it shares the most aligned words with;
* :func:`name_speakers`: each diarized label named after the reference speaker most of its
  aligned words belong to;
* ``der``/``jer`` via pyannote.metrics on timed turns (``collar=0.5`` forgives ±0.25 s around
  each reference boundary, pyannote's and NIST's convention).

Everything here is pure Python apart from scipy's assignment solver and pyannote.metrics for
the timeline metrics, both imported when used.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import ReferenceError
from pipeline.types import AttributedWord, Reference, RunResult, Turn

#: a normalized word and who said it
SpokenWord = tuple[str, str]


@dataclass(frozen=True)
class AlignedWord:
    """One step of the reference/hypothesis alignment; ``hyp_speaker`` is the diarized label."""

    op: str  # "equal", "substitute", "delete" or "insert"
    ref: str | None
    hyp: str | None
    ref_speaker: str | None
    hyp_speaker: str | None


@dataclass(frozen=True)
class SpeakerMatch:
    """The name given to one diarized label, and how sure that is.

    ``confidence`` is the share of the label's aligned words (correct or substituted, counted in
    ``words``) that the reference gives to ``candidate``, its best reference speaker. ``name`` is
    the candidate when ``matched``, else the label itself.
    """

    name: str
    confidence: float
    words: int
    candidate: str
    matched: bool


@dataclass(frozen=True)
class CpWer:
    """cpWER with its parts; ``assignment`` pairs reference and hypothesis speakers (None: padding)."""

    rate: float
    errors: int
    length: int
    assignment: tuple[tuple[str | None, str | None], ...]


@dataclass(frozen=True)
class SpeakerStats:
    """Word counts and errors of one speaker name (reference speaker, or unnamed label)."""

    speaker: str
    reference_words: int
    hypothesis_words: int
    correct: int
    substitutions: int
    deletions: int
    insertions: int
    wrong_speaker: int

    @property
    def error_rate(self) -> float:
        errors = self.substitutions + self.deletions + self.insertions
        if self.reference_words:
            return errors / self.reference_words
        return math.inf if errors else 0.0


# -- normalized words ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _normalizer() -> Any:
    """Whisper's EnglishTextNormalizer, loaded from its own files so that torch stays unimported."""
    if "whisper.normalizers" in sys.modules:
        return sys.modules["whisper.normalizers"].EnglishTextNormalizer()
    spec = importlib.util.find_spec("whisper")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the text normalizer needs openai-whisper: pip install openai-whisper")
    folder = Path(next(iter(spec.submodule_search_locations))) / "normalizers"
    name = "_pipeline_whisper_normalizers"
    package = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if package is None or package.loader is None:
        raise ImportError(f"cannot load whisper's normalizers from {folder}")
    module = importlib.util.module_from_spec(package)
    sys.modules[name] = module
    package.loader.exec_module(module)
    return module.EnglishTextNormalizer()


def normalize(text: str) -> list[str]:
    """The words of ``text`` as Whisper's English normalizer writes them."""
    return _normalizer()(text).split()


def reference_words(reference: Reference) -> list[SpokenWord]:
    """The reference's normalized words, each with its speaker's canonical name."""
    return [(w, turn.speaker) for turn in reference.turns for w in normalize(turn.text)]


def hypothesis_words(words: Iterable[AttributedWord]) -> list[SpokenWord]:
    """Normalized words of a run, each with its diarized label.

    Runs of one speaker are normalized together, so that numbers spelled over several words
    ("forty nine percent") become what the reference's normalization makes of them.
    """
    out: list[SpokenWord] = []
    for speaker, run in itertools.groupby(words, key=lambda w: w.speaker):
        out.extend((w, speaker) for w in normalize(" ".join(w.text.strip() for w in run)))
    return out


def words_by_speaker(words: Sequence[SpokenWord]) -> dict[str, list[str]]:
    """Each speaker's words concatenated, speakers in order of first word."""
    grouped: dict[str, list[str]] = {}
    for word, speaker in words:
        grouped.setdefault(speaker, []).append(word)
    return grouped


# -- alignment and word metrics ----------------------------------------------------------------


def align_words(ref: Sequence[str], hyp: Sequence[str], *,
                most_matches: bool = False) -> list[tuple[int | None, int | None]]:
    """A minimum edit-distance alignment: pairs of indices, None for a deleted/inserted word.

    ``most_matches``: the alignment with the most equal words instead (a substitution costing
    a deletion and an insertion: the longest common subsequence, rapidfuzz's ``Indel``). WER's
    unit costs pair a long stretch one side lacks with unrelated words of the other, which
    shifts the words that do match; this keeps them where they are.
    """
    if most_matches:
        return _most_matches(ref, hyp)
    import jiwer

    chunks = jiwer.process_words(" ".join(ref), " ".join(hyp)).alignments[0] if ref or hyp else []
    pairs: list[tuple[int | None, int | None]] = []
    for c in chunks:
        if c.type in ("equal", "substitute"):
            pairs.extend(zip(range(c.ref_start_idx, c.ref_end_idx),
                             range(c.hyp_start_idx, c.hyp_end_idx), strict=True))
        elif c.type == "delete":
            pairs.extend((i, None) for i in range(c.ref_start_idx, c.ref_end_idx))
        else:
            pairs.extend((None, j) for j in range(c.hyp_start_idx, c.hyp_end_idx))
    return pairs


def _most_matches(ref: Sequence[str], hyp: Sequence[str]) -> list[tuple[int | None, int | None]]:
    from rapidfuzz.distance import Indel

    pairs: list[tuple[int | None, int | None]] = []
    for op in Indel.opcodes(list(ref), list(hyp)):
        if op.tag == "equal":
            pairs.extend(zip(range(op.src_start, op.src_end), range(op.dest_start, op.dest_end), strict=True))
            continue
        pairs.extend((i, None) for i in range(op.src_start, op.src_end))
        pairs.extend((None, j) for j in range(op.dest_start, op.dest_end))
    return pairs


def align(ref: Sequence[SpokenWord], hyp: Sequence[SpokenWord]) -> list[AlignedWord]:
    """Align speaker-tagged words, keeping both speakers of every step."""
    steps = []
    for i, j in align_words([w for w, _ in ref], [w for w, _ in hyp]):
        r = ref[i] if i is not None else (None, None)
        h = hyp[j] if j is not None else (None, None)
        op = "insert" if i is None else "delete" if j is None else "equal" if r[0] == h[0] else "substitute"
        steps.append(AlignedWord(op, r[0], h[0], r[1], h[1]))
    return steps


def _errors(ref: Sequence[str], hyp: Sequence[str]) -> int:
    if not ref or not hyp:
        return len(ref) + len(hyp)
    import jiwer

    out = jiwer.process_words(" ".join(ref), " ".join(hyp))
    return out.substitutions + out.deletions + out.insertions


def wer(ref: Sequence[str], hyp: Sequence[str]) -> float:
    """Word error rate of normalized word lists: (S + D + I) / reference words."""
    if not ref:
        raise ValueError("WER needs at least one reference word")
    return _errors(ref, hyp) / len(ref)


def cpwer(ref: Mapping[str, Sequence[str]], hyp: Mapping[str, Sequence[str]]) -> CpWer:
    """Concatenated minimum-permutation WER of per-speaker word lists (CHiME-6)."""
    from scipy.optimize import linear_sum_assignment

    refs, hyps = list(ref), list(hyp)
    length = sum(len(ref[s]) for s in refs)
    if length == 0:
        raise ValueError("cpWER needs at least one reference word")
    size = max(len(refs), len(hyps))
    padded_refs = refs + [None] * (size - len(refs))
    padded_hyps = hyps + [None] * (size - len(hyps))
    cost = [
        [_errors(ref[r] if r is not None else (), hyp[h] if h is not None else ()) for h in padded_hyps]
        for r in padded_refs
    ]
    rows, cols = linear_sum_assignment(cost) if size else ([], [])
    errors = int(sum(cost[r][c] for r, c in zip(rows, cols, strict=True)))
    pairs = tuple(
        (padded_refs[r], padded_hyps[c])
        for r, c in zip(rows, cols, strict=True)
        if padded_refs[r] is not None or padded_hyps[c] is not None
    )
    return CpWer(errors / length, errors, length, pairs)


def speaker_mapping(alignment: Sequence[AlignedWord]) -> dict[str, str]:
    """Diarized label -> reference speaker, one-to-one, maximizing the aligned words they share."""
    from scipy.optimize import linear_sum_assignment

    shared = Counter((a.hyp_speaker, a.ref_speaker) for a in alignment if a.op in ("equal", "substitute"))
    labels = sorted({h for h, _ in shared})
    names = sorted({r for _, r in shared})
    if not shared:
        return {}
    gain = [[-shared[(h, r)] for r in names] for h in labels]
    rows, cols = linear_sum_assignment(gain)
    return {labels[i]: names[j] for i, j in zip(rows, cols, strict=True) if shared[(labels[i], names[j])]}


def wder(alignment: Sequence[AlignedWord], mapping: Mapping[str, str] | None = None) -> float:
    """Word diarization error rate: aligned words (correct or substituted) with the wrong speaker.

    ``mapping`` (label -> reference speaker) defaults to :func:`speaker_mapping`'s one-to-one
    mapping; a label it does not map is wrong on every word. NaN when no word is aligned.
    """
    mapping = speaker_mapping(alignment) if mapping is None else mapping
    aligned = [a for a in alignment if a.op in ("equal", "substitute")]
    if not aligned:
        return math.nan
    wrong = sum(1 for a in aligned if mapping.get(a.hyp_speaker or "") != a.ref_speaker)
    return wrong / len(aligned)


def speaker_count_error(reference_speakers: Sequence[str], found: Sequence[str]) -> int:
    """Speakers found minus speakers in the reference (negative: some were missed)."""
    return len(set(found)) - len(set(reference_speakers))


# -- naming diarized speakers ------------------------------------------------------------------


def name_speakers(
    result: RunResult | Sequence[AttributedWord],
    reference: Reference,
    *,
    min_words: int = 5,
    min_share: float = 0.5,
    shared_share: float = 0.8,
) -> dict[str, SpeakerMatch]:
    """Name each diarized label after the reference speaker most of its aligned words belong to.

    A label is named when it has at least ``min_words`` aligned words and at least ``min_share``
    of them belong to one reference speaker; otherwise it keeps its label. Two labels may share
    a name only when it is clear: the label with the most words for that name gets it, and any
    other needs ``shared_share`` of its own words from that speaker (diarization does split one
    voice into two clusters, e.g. studio and phone; a weaker claim is more likely noise).
    """
    words = result.words if isinstance(result, RunResult) else result
    labels = list(result.speakers) if isinstance(result, RunResult) else []
    alignment = align(reference_words(reference), hypothesis_words(words))
    labels += [w.speaker for w in words]
    return match_speakers(alignment, list(dict.fromkeys(labels)), min_words=min_words,
                          min_share=min_share, shared_share=shared_share)


def match_speakers(
    alignment: Sequence[AlignedWord],
    labels: Sequence[str] = (),
    *,
    min_words: int = 5,
    min_share: float = 0.5,
    shared_share: float = 0.8,
) -> dict[str, SpeakerMatch]:
    """:func:`name_speakers` on an alignment already made; ``labels`` adds labels with no word."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for a in alignment:
        if a.op in ("equal", "substitute") and a.hyp_speaker is not None and a.ref_speaker is not None:
            counts[a.hyp_speaker][a.ref_speaker] += 1
    all_labels = list(dict.fromkeys([*labels, *(a.hyp_speaker for a in alignment if a.hyp_speaker)]))
    best: dict[str, tuple[str, int, int]] = {}  # label -> (candidate, its words, all words)
    for label in all_labels:
        if counts[label]:
            candidate, n = counts[label].most_common(1)[0]
            best[label] = (candidate, n, sum(counts[label].values()))
    claims: dict[str, list[str]] = defaultdict(list)
    for label, (candidate, n, total) in best.items():
        if total >= min_words and n / total >= min_share:
            claims[candidate].append(label)
    named: set[str] = set()
    for claimants in claims.values():
        claimants.sort(key=lambda lab: -best[lab][1])
        named.add(claimants[0])
        named.update(lab for lab in claimants[1:] if best[lab][1] / best[lab][2] >= shared_share)
    matches = {}
    for label in all_labels:
        candidate, n, total = best.get(label, ("", 0, 0))
        name = candidate if label in named else label
        matches[label] = SpeakerMatch(name, n / total if total else 0.0, total, candidate, label in named)
    return matches


def speaker_stats(alignment: Sequence[AlignedWord], names: Mapping[str, str]) -> tuple[SpeakerStats, ...]:
    """Per-speaker counts; ``names`` maps diarized labels to names (unmapped labels stay)."""
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    for a in alignment:
        said_by = names.get(a.hyp_speaker, a.hyp_speaker) if a.hyp_speaker is not None else None
        if a.ref_speaker is not None:
            rows[a.ref_speaker]["reference_words"] += 1
        if said_by is not None:
            rows[said_by]["hypothesis_words"] += 1
        if a.op == "insert":
            rows[said_by or ""]["insertions"] += 1
            continue
        row = rows[a.ref_speaker or ""]
        row[{"equal": "correct", "substitute": "substitutions", "delete": "deletions"}[a.op]] += 1
        if a.op != "delete" and said_by != a.ref_speaker:
            row["wrong_speaker"] += 1
    fields = ("reference_words", "hypothesis_words", "correct", "substitutions", "deletions",
              "insertions", "wrong_speaker")
    return tuple(SpeakerStats(s, *(rows[s][f] for f in fields)) for s in rows)


# -- timeline metrics --------------------------------------------------------------------------


def _annotation(turns: Iterable[Turn]) -> Any:
    from pyannote.core import Annotation, Segment

    annotation = Annotation()
    for i, t in enumerate(turns):
        if t.end > t.start:
            annotation[Segment(t.start, t.end), i] = t.speaker
    return annotation


def _timeline_metric(
    metric: Any, hyp: Sequence[Turn], ref: Sequence[Turn], uem: tuple[float, float] | None
) -> float:
    from pyannote.core import Segment, Timeline

    if uem is None:
        spans = [(t.start, t.end) for t in (*hyp, *ref)]
        if not spans:
            raise ValueError("DER needs at least one turn")
        uem = (min(s for s, _ in spans), max(e for _, e in spans))
    return float(metric(_annotation(ref), _annotation(hyp), uem=Timeline([Segment(*uem)])))


def der(
    hyp: Sequence[Turn], ref: Sequence[Turn], *, collar: float = 0.0, uem: tuple[float, float] | None = None
) -> float:
    """Diarization error rate; ``collar`` is the whole width forgiven around reference boundaries.

    Scored over ``uem`` (start, end), by default from the first to the last turn of either side.
    """
    from pyannote.metrics.diarization import DiarizationErrorRate

    return _timeline_metric(DiarizationErrorRate(collar=collar), hyp, ref, uem)


def jer(
    hyp: Sequence[Turn], ref: Sequence[Turn], *, collar: float = 0.0, uem: tuple[float, float] | None = None
) -> float:
    """Jaccard error rate (DIHARD II), same conventions as :func:`der`."""
    from pyannote.metrics.diarization import JaccardErrorRate

    return _timeline_metric(JaccardErrorRate(collar=collar), hyp, ref, uem)


def read_rttm(path: str | Path) -> list[Turn]:
    """The ``SPEAKER`` lines of an RTTM file as turns, sorted by start."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ReferenceError(f"{path}: cannot read the RTTM ({e.strerror or e})") from e
    turns = []
    for n, line in enumerate(lines, 1):
        fields = line.split()
        if not fields or fields[0] != "SPEAKER":
            continue
        try:
            start, duration = float(fields[3]), float(fields[4])
            turns.append(Turn(start, start + duration, fields[7]))
        except (IndexError, ValueError) as e:
            raise ReferenceError(f"{path}:{n}: not an RTTM SPEAKER line: {line!r}") from e
    return sorted(turns)
