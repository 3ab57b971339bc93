"""Metrics with hand-computed values, and cpWER checked against meeteval's."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.errors import ReferenceError
from pipeline.scoring import metrics as ev
from pipeline.scoring.metrics import AlignedWord
from pipeline.types import AttributedWord, Reference, ReferenceTurn, RunResult, Turn


def tagged(spec: str) -> list[tuple[str, str]]:
    """``"A: a b | B: c"`` -> [("a", "A"), ("b", "A"), ("c", "B")]."""
    out = []
    for part in spec.split("|"):
        speaker, _, words = part.partition(":")
        out += [(w, speaker.strip()) for w in words.split()]
    return out


def attributed(spec: str) -> list[AttributedWord]:
    return [AttributedWord(float(i), i + 0.5, w, s) for i, (w, s) in enumerate(tagged(spec))]


def reference(spec: str) -> Reference:
    turns = tuple(ReferenceTurn(s.strip(), t.strip()) for s, _, t in (p.partition(":") for p in spec.split("|")))
    return Reference(turns, tuple(dict.fromkeys(t.speaker for t in turns)))


# -- normalization and alignment ---------------------------------------------------------------


def test_normalize_is_whispers_english_normalizer():
    assert ev.normalize("Hello, World!  Mr. Smith's colour") == ["hello", "world", "mister", "smith", "is",
                                                                  "color"]
    assert ev.normalize("(SOUNDBITE OF MUSIC) [inaudible]") == []


def test_metrics_import_no_torch():
    code = ("import sys; from pipeline.scoring import metrics as ev; ev.normalize('forty two'); "
            "ev.cpwer({'a': ['x']}, {'b': ['x']}); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_hypothesis_words_normalize_runs_of_one_speaker_together():
    words = attributed("S0: He said forty nine percent | S1: Okay")
    assert ev.hypothesis_words(words) == [("he", "S0"), ("said", "S0"), ("49%", "S0"), ("okay", "S1")]


def test_reference_words_carry_the_speaker():
    ref = reference("KERRY: Hello there. | LAVROV: No.")
    assert ev.reference_words(ref) == [("hello", "KERRY"), ("there", "KERRY"), ("no", "LAVROV")]


@pytest.mark.parametrize(("ref", "hyp", "pairs"), [
    ("a b c d", "a x c d e", [(0, 0), (1, 1), (2, 2), (3, 3), (None, 4)]),
    ("a b c", "a c", [(0, 0), (1, None), (2, 1)]),
    ("", "a b", [(None, 0), (None, 1)]),
    ("a b", "", [(0, None), (1, None)]),
    ("", "", []),
])
def test_align_words(ref, hyp, pairs):
    assert ev.align_words(ref.split(), hyp.split()) == pairs


def test_align_keeps_both_speakers():
    steps = ev.align(tagged("A: a b | B: c"), tagged("s1: a | s2: x c d"))
    assert steps == [
        AlignedWord("equal", "a", "a", "A", "s1"),
        AlignedWord("substitute", "b", "x", "A", "s2"),
        AlignedWord("equal", "c", "c", "B", "s2"),
        AlignedWord("insert", None, "d", None, "s2"),
    ]


# -- WER and cpWER -----------------------------------------------------------------------------


def test_wer_by_hand():
    # "sat" -> "sit" substituted, the second "the" deleted: 2 errors over 6 words
    assert ev.wer("the cat sat on the mat".split(), "the cat sit on mat".split()) == pytest.approx(2 / 6)
    assert ev.wer(["a"], []) == 1.0
    assert ev.wer(["a"], ["a", "b", "c"]) == 2.0
    with pytest.raises(ValueError):
        ev.wer([], ["a"])


def test_cpwer_finds_the_permutation():
    ref = {"A": "a b c".split(), "B": "d e f g".split()}
    hyp = {"x": "d e f".split(), "y": "a b c z".split()}
    cp = ev.cpwer(ref, hyp)  # A<->y: one insertion, B<->x: one deletion
    assert (cp.errors, cp.length, cp.rate) == (2, 7, 2 / 7)
    assert sorted(cp.assignment) == [("A", "y"), ("B", "x")]


def test_cpwer_pads_missing_and_extra_speakers():
    missing = ev.cpwer({"A": ["a", "b"], "B": ["c", "d"], "C": ["e"]}, {"x": ["c", "d"], "y": ["a", "b", "q"]})
    assert (missing.errors, missing.length) == (2, 5)  # "q" inserted, C's "e" unmatched
    assert sorted(missing.assignment, key=str) == [("A", "y"), ("B", "x"), ("C", None)]
    extra = ev.cpwer({"A": ["a", "b"]}, {"x": ["z"], "y": ["a", "e", "f"]})
    assert (extra.errors, extra.rate) == (3, 1.5)
    assert sorted(extra.assignment, key=str) == [("A", "y"), (None, "x")]


def _meeteval_cpwer(ref: dict[str, list[str]], hyp: dict[str, list[str]]):
    from meeteval.wer import cp_word_error_rate

    return cp_word_error_rate({k: " ".join(v) for k, v in ref.items()}, {k: " ".join(v) for k, v in hyp.items()})


@pytest.mark.parametrize(("ref", "hyp"), [
    ({"A": "a b c".split(), "B": "d e f g".split()}, {"x": "d e f".split(), "y": "a b c z".split()}),
    ({"A": "w x".split(), "B": "y z".split(), "C": "q r s".split()},
     {"1": "q r".split(), "2": "w x y".split(), "3": "z".split(), "4": "extra words".split()}),
    ({"A": "the cat sat on the mat".split(), "B": "a dog ran".split(), "C": "birds sing".split()},
     {"h1": "a dog ran far".split(), "h2": "the cat sit on mat birds sing".split()}),
])
def test_cpwer_equals_meeteval(ref, hyp):
    ours, theirs = ev.cpwer(ref, hyp), _meeteval_cpwer(ref, hyp)
    assert (ours.errors, ours.length) == (theirs.errors, theirs.length)
    assert ours.rate == pytest.approx(float(theirs.error_rate))
    assert set(ours.assignment) == set(theirs.assignment)


_SPEAKER_WORDS = st.lists(st.sampled_from("a b c d e".split()), min_size=0, max_size=8)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from("ABCD"), _SPEAKER_WORDS, min_size=1),
       st.dictionaries(st.sampled_from("wxyz"), _SPEAKER_WORDS))
def test_cpwer_equals_meeteval_on_random_speakers(ref, hyp):
    if not any(ref.values()):
        return
    ours, theirs = ev.cpwer(ref, hyp), _meeteval_cpwer(ref, hyp)
    assert (ours.errors, ours.length) == (theirs.errors, theirs.length)


# -- WDER, naming and per-speaker counts ------------------------------------------------------


def test_wder_by_hand():
    # a, b equal; c/x substituted; d equal; e inserted (not counted).
    # Shared words: s1-A 1, s2-A 1, s2-B 2 -> s1=A, s2=B; "b" (A said it, s2 heard) is wrong: 1 of 4.
    steps = ev.align(tagged("A: a b | B: c d"), tagged("s1: a | s2: b x d | s1: e"))
    assert ev.speaker_mapping(steps) == {"s1": "A", "s2": "B"}
    assert ev.wder(steps) == 0.25
    assert ev.wder(steps, {"s1": "A", "s2": "A"}) == 0.5  # c/x and d are B's
    assert ev.wder(steps, {}) == 1.0


def test_wder_without_aligned_words_is_nan():
    assert math.isnan(ev.wder(ev.align(tagged("A: a"), [])))


REF = reference(
    "A: apple banana cherry grape lemon mango melon pear plum peach | "
    "B: kiwi olive onion garlic pepper salt | C: rice beans"
)


def test_name_speakers_by_majority_with_confidence():
    words = attributed(
        "S0: apple banana cherry grape lemon mango melon pear plum peach | "
        "S1: kiwi olive onion garlic | S2: pepper salt rice beans"
    )
    matches = ev.name_speakers(words, REF)
    assert matches["S0"] == ev.SpeakerMatch("A", 1.0, 10, "A", True)
    # S1 has only 4 aligned words: too few to name it
    assert matches["S1"] == ev.SpeakerMatch("S1", 1.0, 4, "B", False)
    # S2 has 2 words of B and 2 of C: 50 %, but only 4 words
    assert matches["S2"].matched is False and matches["S2"].confidence == 0.5


def test_name_speakers_needs_a_majority():
    words = attributed(
        "S0: apple banana cherry grape lemon mango melon pear | S1: plum peach kiwi olive | "
        "S2: onion garlic pepper salt | S1: rice beans"
    )
    matches = ev.name_speakers(words, REF, min_words=4)
    assert matches["S0"] == ev.SpeakerMatch("A", 1.0, 8, "A", True)
    # S1 has 2 words each of A, B and C: no majority
    assert matches["S1"] == ev.SpeakerMatch("S1", pytest.approx(1 / 3), 6, "A", False)
    assert matches["S2"] == ev.SpeakerMatch("B", 1.0, 4, "B", True)


def test_two_labels_share_a_name_only_when_clear():
    result = RunResult(
        "a.wav", "", 30.0, "en",
        words=tuple(attributed(
            "S0: apple banana cherry grape lemon mango | S1: melon pear plum peach | "
            "S2: kiwi olive onion garlic pepper salt"
        )),
        turns=(), speakers=("S0", "S1", "S2", "S3"),
    )
    matches = ev.name_speakers(result, REF, min_words=4)
    assert matches["S0"].name == "A" and matches["S1"].name == "A"  # S1: 4 of 4 words are A's
    assert matches["S3"] == ev.SpeakerMatch("S3", 0.0, 0, "", False)  # in result.speakers, no words
    noisy = attributed("S0: apple banana cherry grape lemon mango | S1: melon pear plum kiwi olive")
    named = ev.name_speakers(noisy, REF, min_words=4)
    assert named["S0"].name == "A"
    assert named["S1"] == ev.SpeakerMatch("S1", 0.6, 5, "A", False)  # 60 % < 80 %: keeps its label


def test_speaker_stats_by_hand():
    steps = ev.align(tagged("A: a b | B: c d"), tagged("s1: a | s2: b x d | s1: e"))
    stats = {s.speaker: s for s in ev.speaker_stats(steps, {"s1": "A", "s2": "B"})}
    assert stats["A"] == ev.SpeakerStats("A", 2, 2, 2, 0, 0, 1, 1)
    assert stats["B"] == ev.SpeakerStats("B", 2, 3, 1, 1, 0, 0, 0)
    assert stats["A"].error_rate == 0.5 and stats["B"].error_rate == 0.5


def test_speaker_count_error():
    assert ev.speaker_count_error(["A", "B", "C"], ["s1", "s2"]) == -1
    assert ev.speaker_count_error(["A"], ["s1", "s2", "s1"]) == 1


# -- DER and JER ------------------------------------------------------------------------------

REF_TURNS = [Turn(0.0, 10.0, "A"), Turn(10.0, 20.0, "B")]
HYP_TURNS = [Turn(0.0, 11.0, "s1"), Turn(11.0, 20.0, "s2")]


def test_der_by_hand():
    assert ev.der(HYP_TURNS, REF_TURNS) == pytest.approx(1 / 20)  # 1 s of B given to s1 (A)
    # collar 0.5 removes ±0.25 s around 0, 10 and 20: 19 s scored, 0.75 s confused
    assert ev.der(HYP_TURNS, REF_TURNS, collar=0.5) == pytest.approx(0.75 / 19)
    assert ev.der(REF_TURNS, REF_TURNS) == 0.0
    assert ev.der(HYP_TURNS, REF_TURNS, uem=(0.0, 40.0)) == pytest.approx(1 / 20)  # silence is no speech


def test_jer_by_hand():
    # Jaccard A/s1 = 10/11, B/s2 = 9/10
    assert ev.jer(HYP_TURNS, REF_TURNS) == pytest.approx(1 - (10 / 11 + 9 / 10) / 2)


def test_read_rttm(tmp_path):
    path = tmp_path / "x.rttm"
    path.write_text("SPEAKER f 1 2.5 1.0 <NA> <NA> B <NA> <NA>\n\nSPEAKER f 1 0.0 2.0 <NA> <NA> A <NA> <NA>\n")
    assert ev.read_rttm(path) == [Turn(0.0, 2.0, "A"), Turn(2.5, 3.5, "B")]
    path.write_text("SPEAKER f 1 zero 2.0 <NA> <NA> A\n")
    with pytest.raises(ReferenceError, match="x.rttm:1"):
        ev.read_rttm(path)
    with pytest.raises(ReferenceError):
        ev.read_rttm(tmp_path / "missing.rttm")


def test_align_words_with_the_most_matches_keeps_a_missing_stretch_apart():
    ref = "a b c d e f".split()
    hyp = "e f x y z w".split()
    pairs = ev.align_words(ref, hyp, most_matches=True)
    assert [(i, j) for i, j in pairs if i is not None and j is not None] == [(4, 0), (5, 1)]
    assert [i for i, j in pairs if j is None] == [0, 1, 2, 3] and [j for i, j in pairs if i is None] == [2, 3, 4, 5]
    unit = ev.align_words(ref, hyp)  # WER's alignment pairs them up as substitutions instead
    assert (0, 0) in unit
