"""The forced aligner's own logic on hand-made timings: windows, clamping, Whisper's word pieces.

The engines themselves run in tests/stages/test_conform_audio.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.stages import forced

RATE = 16_000


def even(seconds_a_word: float, calls: list):
    """Timings that put each word ``seconds_a_word`` after the last, from the clip's start."""
    def timings(clip, words, padded):
        calls.append((len(clip) / RATE, tuple(words), padded))
        return [(k * seconds_a_word, (k + 1) * seconds_a_word) for k in range(len(words))]
    return timings


def test_a_short_stretch_is_one_unpadded_window_clamped_to_the_stretch():
    calls: list = []
    samples = np.zeros(20 * RATE, np.float32)
    got = forced._align_stretch(even(0.25, calls), (False, True), samples, 5.0, 6.0, ["a", "b", "c", "d", "e"])
    assert calls == [(1.0 + 2 * forced.CONTEXT, ("a", "b", "c", "d", "e"), False)]
    # the clip starts CONTEXT before the stretch: the first word is clamped to its start
    assert got == [(5.0, 5.0), (5.0, 5.2), (5.2, 5.45), (5.45, 5.7), (5.7, 5.95)]


def test_implausible_times_are_tried_again_padded_then_given_up():
    calls: list = []

    def collapsed(clip, words, padded):
        calls.append(padded)
        return [(0.0, 0.0)] * len(words)

    samples = np.zeros(10 * RATE, np.float32)
    assert forced._align_stretch(collapsed, (False, True), samples, 1.0, 3.0, ["a", "b", "c", "d"]) is None
    assert calls == [False, True]


def test_a_long_stretch_is_aligned_a_window_at_a_time():
    calls: list = []
    words = [f"word{k}" for k in range(150)]  # 0.4 s a word: 60 s of speech
    samples = np.zeros(70 * RATE, np.float32)
    got = forced._align_stretch(even(0.4, calls), (False,), samples, 2.0, 62.0, words)
    assert len(got) == len(words)
    assert all(b[0] >= a[1] - 1e-9 for a, b in zip(got, got[1:], strict=False))  # in order, no overlap
    assert all(seconds <= forced.WINDOW + 2 * forced.CONTEXT + 1e-6 for seconds, _, _ in calls)
    assert len(calls) >= 3 and got[-1][1] <= 62.0


def test_whispers_word_pieces_are_joined_back_by_token_counts():
    ours = ["U.S.,", "Russia"]
    tokens = [[1, 2, 3, 4], [5]]
    pieces = [([1], 0.0, 0.1), ([2, 3], 0.1, 0.3), ([4], 0.3, 0.4), ([5], 0.4, 0.9)]
    assert forced._group(ours, tokens, pieces) == [(0.0, 0.4), (0.4, 0.9)]
    joined = [([1, 2, 3, 4, 5], 0.0, 0.9)]  # one Whisper word over two of ours
    assert forced._group(ours, tokens, joined) is None
    assert forced._group(ours, tokens, pieces[:2]) is None  # fewer tokens than ours


def test_words_stretched_over_a_pause_are_cut_back():
    words = ["Thank", "you,", "Rosalind.", "You're", "listening", "now."]
    times = [(0.0, 0.3), (0.3, 0.6), (0.6, 2.6), (2.6, 5.0), (5.0, 5.4), (5.4, 5.7)]
    # limit: twice the median length (0.35 s), 0.7 s
    got = forced.trim_long_words(words, times)
    expected = [(0.0, 0.3), (0.3, 0.6), (0.6, 1.3), (4.3, 5.0), (5.0, 5.4), (5.4, 5.7)]
    assert [t for span in got for t in span] == pytest.approx([t for span in expected for t in span])
    assert forced.trim_long_words(["a"], [(1.0, 1.0)]) == [(1.0, 1.0)]
