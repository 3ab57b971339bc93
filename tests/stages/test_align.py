"""Word-to-speaker assignment and grouping, on hand-built words and turns.

Times are multiples of 1/4 s so every expected overlap is exact in binary floating point.
"""

from __future__ import annotations

import copy

import pytest

from pipeline.config import AlignOptions
from pipeline.stages.align import (
    FALLBACK_SPEAKER,
    align,
    assign_speakers,
    ends_sentence,
    group_turns,
    heard_turns,
    join_words,
)
from pipeline.types import AttributedWord, Diarization, SpeakerTurn, Turn, Word

A, B, C = "SPEAKER_00", "SPEAKER_01", "SPEAKER_02"
NO_REPAIR = AlignOptions(max_shift_words=0)


def timed(text: str, start: float = 0.0, step: float = 0.25, space: str = "") -> list[Word]:
    """One word per token of ``text``, back to back, ``step`` seconds each."""
    return [
        Word(start + k * step, start + (k + 1) * step, space + token) for k, token in enumerate(text.split())
    ]


def diarization(*exclusive: tuple[float, float, str], turns: tuple[Turn, ...] | None = None) -> Diarization:
    ex = tuple(Turn(*t) for t in exclusive)
    return Diarization(
        turns=ex if turns is None else turns,
        exclusive=ex,
        speakers=tuple(sorted({t.speaker for t in ex})),
        duration=max((t.end for t in ex), default=0.0),
    )


def speakers(words) -> list[str]:
    return [w.speaker for w in words]


# --- assignment --------------------------------------------------------------------------------


def test_word_straddling_two_turns_goes_to_the_larger_overlap():
    words = [Word(0.75, 1.5, "Hello.")]
    result = assign_speakers(words, diarization((0.0, 1.0, A), (1.0, 2.0, B)))
    assert result == (AttributedWord(0.75, 1.5, "Hello.", B, 1.0),)  # 0.5 s of B against 0.25 s of A


def test_exact_tie_goes_to_the_earlier_turn():
    words = [Word(1.0, 1.5, "Hello.")]
    assert speakers(assign_speakers(words, diarization((0.0, 1.25, A), (1.25, 2.0, B)))) == [A]


def test_overlaps_of_one_speaker_add_up():
    # A covers 0.25 + 0.25 s of the word in two pieces, B 0.375 s in one
    words = [Word(0.0, 1.0, "word")]
    d = diarization((0.0, 0.25, A), (0.25, 0.625, B), (0.75, 1.0, A))
    assert speakers(assign_speakers(words, d, NO_REPAIR)) == [A]


def test_words_in_gaps_and_outside_all_turns_go_to_the_nearest_turn():
    words = [
        Word(0.0, 0.5, "Before."),  # before the first turn: nearest is A
        Word(2.25, 2.5, "Okay."),  # gap 1.25 after A, 1.5 before B
        Word(3.5, 3.75, "Right."),  # gap 2.5 after A, 0.25 before B
        Word(2.5, 3.5, "Tie."),  # 0.5 s from both: the earlier turn
        Word(9.0, 9.5, "After."),  # after the last turn
    ]
    d = diarization((1.0, 2.0, A), (4.0, 5.0, B))
    assert speakers(assign_speakers(words, d)) == [A, A, B, A, B]


def test_zero_length_word_inside_a_turn_takes_that_turn():
    words = [Word(1.5, 1.5, "uh")]
    assert speakers(assign_speakers(words, diarization((0.0, 1.0, A), (1.0, 2.0, B)))) == [B]


def test_only_exclusive_turns_count():
    # A talks over the whole stretch, B interjects "Yes." in the middle; the exclusive
    # diarization gives the middle to B, the overlap-aware turns would give everything to A
    words = [Word(0.25, 0.75, "Well."), Word(1.25, 1.75, "Yes."), Word(2.25, 2.75, "Okay.")]
    d = diarization(
        (0.0, 1.0, A),
        (1.0, 2.0, B),
        (2.0, 3.0, A),
        turns=(Turn(0.0, 3.0, A), Turn(1.0, 2.0, B)),
    )
    assert speakers(assign_speakers(words, d)) == [A, B, A]


def test_empty_transcript():
    d = diarization((0.0, 1.0, A))
    assert assign_speakers([], d) == ()
    assert group_turns([]) == ()
    assert align([], d) == ((), ())


def test_single_speaker_gives_one_turn():
    words = timed("Good morning. This is the news.", space=" ")
    attributed, turns = align(words, diarization((0.0, 10.0, A)))
    assert speakers(attributed) == [A] * 6
    assert turns == (SpeakerTurn(A, 0.0, 1.5, "Good morning. This is the news.", attributed),)


def test_no_turns_at_all_gives_the_fallback_speaker():
    words = timed("Is anybody there?")
    empty = Diarization(turns=(), exclusive=(), speakers=(), duration=0.0)
    attributed, turns = align(words, empty)
    assert speakers(attributed) == [FALLBACK_SPEAKER] * 3
    assert [t.text for t in turns] == ["Is anybody there?"]


def test_probability_and_text_are_kept():
    words = [Word(0.0, 0.5, " Hello", 0.25)]
    assert assign_speakers(words, diarization((0.0, 1.0, A))) == (
        AttributedWord(0.0, 0.5, " Hello", A, 0.25),
    )


def test_inputs_are_not_mutated():
    words = timed("What do you think about Russia? Well, I think it matters.")
    d = diarization((0.0, 1.25, A), (1.25, 2.75, B))
    words_before, d_before = copy.deepcopy(words), copy.deepcopy(d)
    attributed, turns = align(words, d)
    group_turns(list(attributed))
    assert words == words_before
    assert d == d_before


# --- boundary repair ---------------------------------------------------------------------------

RUSSIA = "What do you think about Russia? Well, I think it matters."  # 11 words, 0.25 s each


def turn_texts(turns) -> list[tuple[str, str]]:
    return [(t.speaker, t.text) for t in turns]


def test_change_before_the_last_word_of_a_sentence_moves_to_the_sentence_end():
    # diarization switches to B at "Russia?" (1.25 s): the question's last word goes back to A
    _, turns = align(timed(RUSSIA), diarization((0.0, 1.25, A), (1.25, 2.75, B)))
    assert turn_texts(turns) == [(A, "What do you think about Russia?"), (B, "Well, I think it matters.")]


def test_change_after_the_first_words_of_a_sentence_moves_back_to_the_sentence_end():
    # diarization switches to B only in "I" (1.9 s): "Well, I" go to B
    _, turns = align(timed(RUSSIA), diarization((0.0, 1.9, A), (1.9, 2.75, B)))
    assert turn_texts(turns) == [(A, "What do you think about Russia?"), (B, "Well, I think it matters.")]


def test_a_word_far_from_the_other_speaker_is_not_moved_to_a_sentence_end():
    # Whisper fused A's "so what can I say? Oh, I don't" into "So I don't" after a sentence end;
    # diarization hears A alone until 2.3 s. "So" lies 0.3 s from B's first turn, farther than
    # the slack (0.2 s): it stays with A instead of following the sentence end to B.
    words = timed("down here. So I", 1.0) + [Word(2.0, 2.6, "don't"), Word(2.6, 2.8, "hear"),
                                             Word(2.8, 3.0, "that.")]
    attributed = assign_speakers(words, diarization((0.0, 2.3, A), (2.3, 3.2, B)))
    assert speakers(attributed)[:4] == [A, A, A, A]
    assert speakers(attributed)[-2:] == [B, B]


def test_change_at_a_sentence_end_does_not_move():
    attributed = assign_speakers(timed(RUSSIA), diarization((0.0, 1.5, A), (1.5, 2.75, B)))
    assert speakers(attributed) == [A] * 6 + [B] * 5


def test_change_at_a_pause_does_not_move():
    # no punctuation at all, but a 0.5 s pause before "well"
    words = timed("what about russia", 0.0) + timed("well I think it matters", 1.25)
    attributed = assign_speakers(words, diarization((0.0, 1.25, A), (1.25, 3.0, B)))
    assert speakers(attributed) == [A] * 3 + [B] * 5


def test_change_moves_to_a_pause_and_never_across_it():
    # "Hello." is a sentence end three words back, but the 0.5 s pause before "and" is nearer:
    # the change stops there
    words = timed("Hello. We talked", 0.0) + timed("and then left", 1.25)
    attributed = assign_speakers(words, diarization((0.0, 1.5, A), (1.5, 2.0, B)))
    assert speakers(attributed) == [A, A, A, B, B, B]


def test_change_too_far_from_any_sentence_end_stays():
    words = timed("one two three four five six seven eight nine ten.")
    attributed = assign_speakers(words, diarization((0.0, 1.25, A), (1.25, 2.5, B)))
    assert speakers(attributed) == [A] * 5 + [B] * 5  # the sentence end is 5 words away


def test_max_shift_words_zero_turns_repair_off():
    attributed = assign_speakers(timed(RUSSIA), diarization((0.0, 1.25, A), (1.25, 2.75, B)), NO_REPAIR)
    assert speakers(attributed) == [A] * 5 + [B] * 6


def test_a_one_word_answer_between_sentence_ends_is_a_real_turn():
    words = timed("Is that right? Yes. Then let us go on.")
    d = diarization((0.0, 0.75, A), (0.75, 1.0, B), (1.0, 2.25, A))
    assert speakers(assign_speakers(words, d)) == [A, A, A, B, A, A, A, A, A]


def test_a_mid_sentence_flicker_is_absorbed():
    words = timed("Yesterday we went to the store and bought milk.")
    d = diarization((0.0, 1.25, A), (1.25, 1.5, B), (1.5, 2.25, A))  # "store" alone on B
    assert speakers(assign_speakers(words, d)) == [A] * 9


def test_a_flicker_between_two_other_speakers_is_not_absorbed():
    words = timed("Yesterday we went to the store and bought milk.")
    d = diarization((0.0, 1.25, A), (1.25, 1.5, B), (1.5, 2.25, C))
    assert speakers(assign_speakers(words, d)) == [A] * 5 + [B] + [C] * 3


def test_a_change_never_empties_a_short_turn():
    # B's one-word turn has an implausible start but a plausible end: moving its start forward
    # would erase it, so only a backward move is allowed and none is within reach
    words = timed("and so on and so forth Yes. Then we go on.")
    d = diarization((0.0, 1.5, A), (1.5, 1.75, B), (1.75, 2.75, A))
    assert speakers(assign_speakers(words, d)).count(B) == 1


def test_between_equally_near_sentence_ends_the_less_covered_word_moves():
    words = [
        Word(0.0, 0.25, "Hi."),
        Word(0.25, 0.75, "there"),
        Word(0.75, 1.25, "friend."),
        Word(1.25, 1.5, "Bye."),
    ]
    d = diarization((0.0, 0.75, A), (0.75, 1.125, B), (1.125, 1.25, A), (1.25, 2.0, B))
    assert speakers(assign_speakers(words, d, NO_REPAIR)) == [A, A, B, B]
    # the mid-phrase change before "friend." can move back to after "Hi." (giving B "there",
    # which A's turn covers entirely) or forward to after "friend." (giving A "friend.", which
    # B's turn covers only 75 %): both move one word, the less certain one moves
    assert speakers(assign_speakers(words, d)) == [A, A, A, B]


def test_ends_sentence():
    assert ends_sentence(" Russia?") and ends_sentence("Thanks.") and ends_sentence('"Go!"')
    assert ends_sentence("No.") and ends_sentence("wait...")
    assert not ends_sentence("Mr.") and not ends_sentence("Well,") and not ends_sentence("3.5")


# --- grouping ----------------------------------------------------------------------------------


def test_group_turns_splits_at_speaker_changes_and_long_pauses():
    words = [
        AttributedWord(0.0, 0.5, " Hello", A),
        AttributedWord(0.5, 1.0, " there.", A),
        AttributedWord(3.5, 4.0, " Still", A),  # 2.5 s pause > max_pause 2.0
        AttributedWord(4.0, 4.5, " me.", A),
        AttributedWord(4.5, 5.0, " Hi.", B),
    ]
    turns = group_turns(words, AlignOptions(max_pause=2.0))
    assert turns == (
        SpeakerTurn(A, 0.0, 1.0, "Hello there.", tuple(words[:2])),
        SpeakerTurn(A, 3.5, 4.5, "Still me.", tuple(words[2:4])),
        SpeakerTurn(B, 4.5, 5.0, "Hi.", tuple(words[4:])),
    )


def test_a_pause_of_exactly_max_pause_does_not_split():
    words = [AttributedWord(0.0, 0.5, "a", A), AttributedWord(2.5, 3.0, "b", A)]
    assert len(group_turns(words, AlignOptions(max_pause=2.0))) == 1


def test_join_words_with_and_without_leading_spaces():
    assert join_words([" Hello", ",", " world", "-wide."]) == "Hello, world-wide."
    assert join_words(["Hello,", "world."]) == "Hello, world."
    assert join_words([" Hello", "  ", " world"]) == "Hello world"
    assert join_words([]) == ""


# --- scale -------------------------------------------------------------------------------------


def test_long_episode_runs():
    # 20,000 words x 2,000 turns: with bisect this is a fraction of a second; O(words x turns)
    # would be 40 million overlap checks. No timing assert, only that it finishes and is sane.
    words = [Word(k * 0.3, k * 0.3 + 0.25, "end." if k % 10 == 9 else "word") for k in range(20_000)]
    turns = [(k * 3.0, (k + 1) * 3.0, (A, B)[k % 2]) for k in range(2_000)]
    attributed, grouped = align(words, diarization(*turns))
    assert len(attributed) == 20_000
    assert {w.speaker for w in attributed} == {A, B}
    assert sum(len(t.words) for t in grouped) == 20_000


try:  # property checks where hypothesis is installed
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    _times = st.floats(0, 100, allow_nan=False).map(lambda x: round(x, 2))

    @st.composite
    def _case(draw):
        starts = sorted(draw(st.lists(_times, max_size=30)))
        words = [
            Word(
                s,
                s + draw(st.sampled_from([0.0, 0.1, 0.3])),
                draw(st.sampled_from(["so", "yes.", "why?", "and"])),
            )
            for s in starts
        ]
        cuts = sorted(set(draw(st.lists(_times, max_size=8))))
        turns = [(a, b, draw(st.sampled_from([A, B, C]))) for a, b in zip(cuts, cuts[1:], strict=False)]
        return words, diarization(*turns)

    @settings(max_examples=200, deadline=None)
    @given(_case())
    def test_every_word_gets_one_known_speaker(case):
        words, d = case
        attributed, turns = align(words, d)
        assert [(w.start, w.end, w.text) for w in attributed] == [(w.start, w.end, w.text) for w in words]
        known = set(d.speakers) or {FALLBACK_SPEAKER}
        assert all(w.speaker in known for w in attributed)
        assert tuple(w for t in turns for w in t.words) == attributed


@pytest.mark.parametrize("options", [AlignOptions(), NO_REPAIR])
def test_every_word_is_attributed_once_in_order(options):
    words = timed(RUSSIA)
    attributed = assign_speakers(words, diarization((0.0, 1.25, A), (1.25, 2.75, B)), options)
    assert [w.text for w in attributed] == [w.text for w in words]


def test_inside_overlapped_speech_the_solo_part_of_a_word_decides():
    # A talks 0-3.0, B comes in at 2.0 (overlap 2.0-3.0); the exclusive split gives the overlap
    # to A. "don't" (2.2-3.2) starts after B came in and runs on after A stopped: it is B's,
    # although its exclusive overlap is larger with A (0.8 s against 0.2 s).
    overlap_aware = (Turn(0.0, 3.0, A), Turn(2.0, 5.0, B))
    d = diarization((0.0, 3.0, A), (3.0, 5.0, B), turns=overlap_aware)
    words = [Word(1.0, 1.5, "say"), Word(2.2, 3.2, "don't"), Word(3.3, 3.6, "hear")]
    assert speakers(assign_speakers(words, d, NO_REPAIR)) == [A, B, B]
    # a word wholly inside the overlap falls back to the exclusive turns
    assert speakers(assign_speakers([Word(2.2, 2.8, "both")], d, NO_REPAIR)) == [A]


def said(speaker: str, text: str, start: float, step: float = 0.25) -> list[AttributedWord]:
    return [AttributedWord(w.start, w.end, w.text, speaker) for w in timed(text, start, step)]


def test_a_phrase_the_asr_heard_where_diarization_hears_no_one_becomes_a_turn():
    # A talks to 2 s; B's reply 4-5.5 s (six words, reverberant) was heard by no diarized turn
    turns = (Turn(0.0, 2.0, A), Turn(6.0, 8.0, A))
    words = said(A, "so here we are", 0.5) + said(B, "well I did not see it", 4.0) + said(A, "right then", 6.0)
    out = heard_turns(words, turns, (A, B))
    assert out == (Turn(0.0, 2.0, A), Turn(4.0, 5.5, B), Turn(6.0, 8.0, A))
    # off, and a run too short (two words, or 0.75 s) is left alone
    assert heard_turns(words, turns, (A, B), AlignOptions(heard_min_words=0)) == turns
    short = said(A, "so here we are", 0.5) + said(B, "well yes", 4.0) + said(A, "right then", 6.0)
    assert heard_turns(short, turns, (A, B)) == turns
    assert heard_turns(said(B, "a b c", 4.0), turns, (A, B)) == turns  # 0.75 s < heard_min_s


def test_words_just_past_a_turns_edge_or_of_another_speaker_do_not_make_a_run():
    turns = (Turn(0.0, 2.0, A), Turn(3.0, 5.0, B))
    # A's last words run 0.5 s past the edge of A's turn: each alone, under heard_min_s
    edge = said(A, "one two three four five six seven eight nine ten", 0.0)
    assert heard_turns(edge, turns, (A, B)) == turns
    # a run stops at a change of speaker, and the new turn leaves out what the diarization covers
    gap = said(A, "a b c", 5.5, step=0.5) + said(B, "d e f", 7.0, step=0.5)
    assert heard_turns(gap, turns, (A, B)) == (*turns, Turn(5.5, 7.0, A), Turn(7.0, 8.5, B))
    inside = (Turn(0.0, 2.0, A), Turn(6.0, 6.2, B))
    assert heard_turns(said(A, "a b c d", 5.0, step=0.5), inside, (A, B)) == (
        Turn(0.0, 2.0, A), Turn(5.0, 6.0, A), Turn(6.0, 6.2, B), Turn(6.2, 7.0, A))
