"""The second pass's pure parts: which stretches were missed, and the words put back in order."""

from __future__ import annotations

from pipeline.stages.recovery import anomalous, merge, missed_speech
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


def test_an_invented_outro_is_left_out_and_real_speech_kept():
    # seed-r1's closing music: the first word stretched, the rest squeezed into a few ms
    times = [(245.83, 247.23, 0.02)] + [(247.23, 247.24, p) for p in (0.98, 0.10, 0.99, 0.18, 0.21, 0.34)]
    outro = Segment(245.83, 247.46, " Thank you very much for your time,",
                    tuple(Word(a, b, f" {t}", p) for (a, b, p), t in
                          zip(times, "Thank you very much for your time,".split(), strict=True)))
    assert sum(x.probability for x in outro.words) / len(outro.words) >= 0.25  # the mean alone lets it in
    assert anomalous(outro.words)
    transcript = Transcript((), "en", "base", "faster-whisper", 250.0)
    assert merge(transcript, [outro], [(244.9, 248.3)]) is transcript
    caller = Segment(3.0, 5.0, " I was calling about the bus",
                     tuple(Word(3.0 + 0.3 * i, 3.25 + 0.3 * i, f" {t}", 0.6) for i, t in
                           enumerate("I was calling about the bus".split())))
    assert not anomalous(caller.words)
    quick = Segment(3.0, 4.0, " and so,", (Word(3.0, 3.1, " and", 0.9), Word(3.1, 3.4, " so", 0.9),
                                           Word(3.4, 3.4, ",", 0.9)))
    assert not anomalous(quick.words), "one short word and punctuation are no hallucination"
    assert [x.text for x in merge(transcript, [caller], [(2.5, 5.5)]).words][:2] == [" I", " was"]
    # seed-r1 at 195 s: a word clipped by the padding before the stretch does not count against it
    clipped = Segment(194.93, 197.13, " that going to, you know, come by, see.", (
        Word(194.93, 194.94, " that", 0.07), Word(194.93, 195.19, " going", 0.84), Word(195.19, 195.43, " to,", 0.95),
        Word(195.73, 195.93, " you", 0.96), Word(195.93, 196.13, " know,", 0.99), Word(196.53, 196.69, " come", 0.87),
        Word(196.69, 196.91, " by,", 0.8), Word(197.03, 197.13, " see.", 0.87)))
    assert anomalous(clipped.words)
    kept = merge(transcript, [clipped], [(195.23, 197.705)]).words
    assert [x.text for x in kept] == [" to,", " you", " know,", " come", " by,", " see."]


def test_merge_puts_new_words_in_time_order_and_splits_a_segment_around_them():
    first = Segment(0.0, 10.0, " a b c d", (w(0.0, "a"), w(1.0, "b"), w(8.0, "c"), w(9.0, "d")))
    transcript = Transcript((first,), "en", "base", "faster-whisper", 12.0)
    found = [Segment(2.0, 7.0, " x y z", (w(2.0, "x"), w(3.0, "y"), w(7.5, "outside")))]
    merged = merge(transcript, found, [(1.5, 7.0)])
    assert [x.text for x in merged.words] == [" a", " b", " x", " y", " c", " d"]
    assert [s.text for s in merged.segments] == [" a b", " x y", " c d"]
    assert merge(transcript, [], [(1.5, 7.0)]) is transcript
    assert transcript.segments == (first,), "the input is not changed"
