"""The second pass's pure parts: which stretches were missed, and the words put back in order."""

from __future__ import annotations

from pipeline.stages.recovery import merge, missed_speech
from pipeline.types import Segment, Transcript, Turn, Word


def w(start: float, text: str, length: float = 0.3) -> Word:
    return Word(start, start + length, f" {text}", 0.9)


def test_missed_speech_is_diarized_speech_no_word_covers():
    words = [w(0.5, "a"), w(1.0, "b"), w(9.0, "c")]
    turns = [Turn(0.4, 4.0, "A"), Turn(3.5, 6.0, "B"), Turn(8.8, 9.5, "A"), Turn(20.0, 20.6, "C")]
    # speech 0.4-6.0 (two turns, one stretch); words cover 0.25-1.55 and 8.75-9.55
    assert missed_speech(words, turns, 1.0) == [(1.55, 6.0)]
    assert missed_speech(words, turns, 0.5) == [(1.55, 6.0), (20.0, 20.6)]
    assert missed_speech([], [], 1.0) == []
    assert missed_speech(words, [], 1.0) == [], "no diarized speech: nothing to look for"
    pieces = [Turn(10.0, 10.8, "C"), Turn(11.3, 12.1, "C"), Turn(12.6, 13.0, "C")]  # a caller, in pieces
    assert missed_speech([], pieces, 1.0) == [(10.0, 13.0)]


def test_a_guess_over_music_is_left_out():
    transcript = Transcript((), "en", "base", "faster-whisper", 10.0)
    guess = [Segment(1.0, 2.0, " You", (Word(1.0, 2.0, " You", 0.03),))]
    assert merge(transcript, guess, [(0.0, 3.0)]) is transcript


def test_merge_puts_new_words_in_time_order_and_splits_a_segment_around_them():
    first = Segment(0.0, 10.0, " a b c d", (w(0.0, "a"), w(1.0, "b"), w(8.0, "c"), w(9.0, "d")))
    transcript = Transcript((first,), "en", "base", "faster-whisper", 12.0)
    found = [Segment(2.0, 7.0, " x y z", (w(2.0, "x"), w(3.0, "y"), w(7.5, "outside")))]
    merged = merge(transcript, found, [(1.5, 7.0)])
    assert [x.text for x in merged.words] == [" a", " b", " x", " y", " c", " d"]
    assert [s.text for s in merged.segments] == [" a b", " x y", " c d"]
    assert merge(transcript, [], [(1.5, 7.0)]) is transcript
    assert transcript.segments == (first,), "the input is not changed"
