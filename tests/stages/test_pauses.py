"""Pauses found in hand-made audio, the lead measured at them, and word times kept out of them."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.stages import pauses

RATE = 16_000


def bursts(*spans: tuple[float, float], seconds: float = 6.0) -> np.ndarray:
    """A faint noise floor (-70 dBFS) with a 200 Hz tone (-20 dBFS) in each span."""
    rng = np.random.default_rng(0)
    samples = rng.normal(0, 10 ** (-70 / 20), int(seconds * RATE)).astype(np.float32)
    t = np.arange(len(samples)) / RATE
    for start, end in spans:
        inside = (t >= start) & (t < end)
        samples[inside] += 0.14 * np.sin(2 * np.pi * 200 * t[inside])
    return samples


def test_silences_are_the_quiet_stretches_long_enough():
    audio = bursts((0.5, 2.0), (2.1, 3.0), (3.5, 5.0))  # 0.1 s between the first two: too short
    assert pauses.silences(audio, RATE) == ((0.0, 0.5), (3.0, 3.5), (5.0, 6.0))
    assert pauses.silences(np.zeros(50, np.float32), RATE) == ()


def test_lead_is_the_median_of_pause_start_minus_the_nearest_word_end():
    found = [(float(k), k + 0.5) for k in range(1, 11)]  # ten pauses, at 1, 2, ... 10 s
    ends = [k - 0.1 for k in range(1, 11)]  # every word ends 0.1 s before its pause
    assert pauses.lead(ends, found) == pytest.approx(0.1)
    assert pauses.lead(ends[:5], found[:5]) == 0.0  # too few pauses to tell
    assert pauses.lead([k - 0.35 for k in range(1, 11)], found) == 0.0  # more than MAX_LEAD: not Whisper's
    assert pauses.lead([k + 0.05 for k in range(1, 11)], found) == pytest.approx(-0.05)  # the other way
    # pauses heard late (a room's tail): Whisper's lead is taken as LEAD_CAP at most
    assert pauses.lead([k - 0.2 for k in range(1, 11)], found) == pytest.approx(pauses.LEAD_CAP) == 0.15


def test_retime_shifts_and_keeps_words_out_of_pauses():
    found = ((2.0, 3.0),)
    spans = [(1.0, 1.5), (1.5, 1.95), (2.7, 3.4), (3.4, 3.8)]
    assert pauses.retime(spans, found, 0.1) == [
        (1.1, 1.6),
        (1.6, 2.0),  # ended within ONSET of the pause: ends where it starts
        (3.0, 3.5),  # started inside the pause: starts where it ends
        (3.5, 3.9),
    ]
    # the first word after a pause starts where the speech does, even a little after it
    assert pauses.retime([(1.0, 1.9), (3.2, 3.6)], found, 0.0) == [(1.0, 2.0), (3.0, 3.6)]
    # a word that is not next to the pause keeps its time
    assert pauses.retime([(1.0, 1.5), (1.5, 1.6), (3.6, 4.0), (4.0, 4.2)], found, 0.0)[3] == (4.0, 4.2)


def test_a_word_wholly_inside_a_pause_goes_after_it_if_it_opens_a_sentence():
    assert pauses.retime([(2.1, 2.3)], ((2.0, 3.0),), 0.0) == [(1.8, 2.0)]
    assert pauses.retime([(2.1, 2.3)], ((2.0, 3.0),), 0.0, opens=[True]) == [(3.0, 3.2)]


def test_combine_is_the_union_with_the_exact_starts():
    exact = ((1.0, 2.0), (6.0, 7.0))
    rough = ((0.9, 1.9), (3.0, 4.0), (6.5, 7.5), (8.0, 9.0))
    # the VAD's 0.9 gives way to the energy's 1.0; its 7.5 ends the second pause
    assert pauses.combine(exact, rough) == ((1.0, 2.0), (3.0, 4.0), (6.0, 7.5), (8.0, 9.0))
    assert pauses.combine((), rough) == rough and pauses.combine(exact, ()) == exact


def test_unvoiced_hears_the_pauses_between_speakers(sample_audio):
    """Silero VAD on pyannote's real sample: pauses, none in the middle of a reference turn."""
    from conftest import SAMPLE_RTTM

    from pipeline.scoring.metrics import read_rttm

    found = pauses.unvoiced(sample_audio.samples, sample_audio.sample_rate)
    assert found and all(b - a >= pauses.MIN_SILENCE for a, b in found)
    assert all(b[0] > a[1] for a, b in zip(found, found[1:], strict=False))
    for turn in read_rttm(SAMPLE_RTTM):
        middle = (turn.start + turn.end) / 2
        if turn.duration > 1.0:
            assert not any(a < middle < b for a, b in found), turn
    assert sample_audio.duration - sum(b - a for a, b in found) > 15.0  # the sample is mostly speech


def test_a_pause_that_would_move_a_word_far_or_out_of_order_is_not_believed():
    # a 7 s "pause" over speech the VAD did not hear: the words in it keep their times
    spans = [(1.0, 1.3), (1.3, 1.6), (3.0, 3.4), (4.0, 4.4), (7.5, 7.9)]
    assert pauses.retime(spans, ((1.5, 7.5),), 0.0) == [(1.0, 1.3), (1.3, 1.5), (3.0, 3.4), (4.0, 4.4),
                                                       (7.5, 7.9)]


def test_a_sentence_may_open_under_the_last_speakers_words_a_word_inside_one_may_not():
    # farm-01: "So" barges in under "drops." (placed at 0.9-1.2 s); kept out of the pause before
    # it, it starts at 0.8 s, before "drops." does: a new sentence may, so the move stands
    quiet = ((0.4, 0.8),)
    spans = [(0.0, 0.4), (0.9, 1.2), (0.5, 1.1)]
    assert pauses.retime(spans, quiet, 0.0, opens=[True, False, True])[2] == (0.8, 1.1)
    # inside a sentence a start before the word before it means the pause is wrong: not believed
    assert pauses.retime(spans, quiet, 0.0, opens=[True, False, False])[2] == (0.5, 1.1)


def test_a_first_word_heard_late_after_a_pause_starts_where_the_pause_ends():
    # seed-r2: "NPR's" heard 0.35 s after the pause before it ended, where the speech starts
    quiet = ((1.0, 2.0),)
    assert pauses.retime([(0.5, 0.9), (2.35, 2.8)], quiet, 0.0)[1] == (2.0, 2.8)
    assert pauses.retime([(0.5, 0.9), (2.45, 2.8)], quiet, 0.0)[1] == (2.45, 2.8)  # too far: its own
    # a last word's end snaps over a shorter distance (ONSET): 0.35 s before the pause stays
    assert pauses.retime([(0.2, 0.65), (2.35, 2.8)], quiet, 0.0)[0] == (0.2, 0.65)


def test_a_word_stretched_over_a_whole_pause_is_moved_off_it():
    # the seed at 138-140 s: "demands. To say"; Whisper stretched "To" back over the 0.9 s pause
    # before Lavrov's soundbite. It opens a sentence: it starts where the pause ends, even though
    # that is 1.0 s away (the move is never more than the word itself)
    quiet = ((139.0, 139.9),)
    spans = [(138.38, 138.78), (138.78, 139.88), (139.92, 140.18)]
    assert pauses.retime(spans, quiet, 0.1, opens=[False, True, False]) == [
        (138.48, 139.0), (139.9, 139.98), (140.02, 140.28)]
    # mid-sentence it ends where the pause starts; a pause shorter than SPANNED is left inside
    assert pauses.retime(spans, quiet, 0.1)[1] == (138.88, 139.0)
    assert pauses.retime(spans, ((139.0, 139.2),), 0.1)[1] == (138.88, 139.98)


def test_a_word_moved_into_place_is_not_undone_by_snapping_its_end_to_the_next_pause():
    # "are. Michele, let's": the aligned "Michele," fell inside the pause before it and goes after
    # it; its end then reaches the next pause, 1.0 s from where it was: still believed
    quiet = ((129.92, 130.72), (131.19, 131.46))
    spans = [(129.72, 129.815), (129.88, 130.06), (131.35, 131.70)]
    assert pauses.retime(spans, quiet, 0.105, opens=[False, True, False])[1] == (130.72, 131.19)


def test_a_placed_opener_glued_to_the_last_turn_goes_to_the_end_of_the_gap():
    # farm-01: "Judith." (heard) / "Good" (placed by alignment right after it) / "morning," (heard)
    spans = [(61.34, 61.61), (61.61, 61.67), (62.66, 63.24)]
    quiet = ((61.67, 62.656),)
    opens = [False, True, False]
    moved = pauses.retime(spans, quiet, 0.0, opens=opens, placed=[False, True, False])
    assert moved[1][0] == 62.656 and moved[1][1] <= 62.666, "from the pause's end, not into the next word"
    assert moved[0] == (61.34, 61.67), "the word before now ends where the pause starts (truth: 61.67)"
    assert moved[2] == (62.66, 63.24)
    assert pauses.retime(spans, quiet, 0.0, opens=opens)[1] == (61.61, 61.67), "a heard word keeps its time"
    assert pauses.retime(spans, (), 0.0, opens=opens, placed=[False, True, False])[1] == (62.6, 62.66), \
        "no pause found: just before the next word"
    alone = pauses.retime(spans, quiet, 0.0, opens=[False, True, True], placed=[False, True, False])
    assert alone[1] == (61.61, 61.67), "a one-word sentence before a turn change stays"


def test_a_turns_first_word_stretched_back_over_the_pause_before_it_is_cut_off_it():
    # citydesk-02: "difference." / "Thank" (Whisper: 120.17-121.41, over the whole pause between
    # the turns) / "you,". Its start goes to the pause's end, 1.06 s later: a cut, not a move
    quiet = ((120.22, 121.344),)
    spans = [(119.85, 120.17), (120.17, 121.41), (121.41, 121.93)]
    out = pauses.retime(spans, quiet, 0.11)
    assert out[1] == (121.344, 121.52)  # truth 121.323-121.567
    # a word that would have to leave its own stretch that far is still not moved
    assert pauses.retime([(2.1, 2.3)], ((1.0, 3.5),), 0.0, opens=[True]) == [(2.1, 2.3)]


def test_a_vad_pause_ends_where_energy_and_diarization_both_hear_a_voice_start():
    # openline-02: a quiet phone caller; Silero hears no speech over 244.51-246.27, the energy's
    # pause ends at 245.22 and the diarization starts the caller at 245.26 (truth: 245.27)
    rough, exact = ((244.512, 246.272),), ((244.49, 245.22),)
    assert pauses.heard(rough, exact, [(228.96, 244.55), (245.258, 248.161)]) == ((244.512, 245.22),)
    assert pauses.combine(exact, pauses.heard(rough, exact, [(245.258, 248.161)])) == ((244.49, 245.22),)
    # the diarization alone (under music, no energy pause) or a start the energy does not share
    assert pauses.heard(rough, (), [(245.258, 248.161)]) == rough
    assert pauses.heard(rough, exact, [(245.6, 248.161)]) == rough
    # a short "speaker" heard in the pause, or a VAD pause that ends soon after the voice starts
    assert pauses.heard(rough, exact, [(245.258, 245.4)]) == rough
    assert pauses.heard(((244.512, 245.5),), exact, [(245.258, 248.161)]) == ((244.512, 245.5),)
