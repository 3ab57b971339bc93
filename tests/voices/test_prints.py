"""Voice prints: the solo-speech arithmetic on hand-built turns, and the print type."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import VoicesOptions
from pipeline.types import Turn
from pipeline.voices.prints import VoicePrint, by_name, centroid, crops, solo_spans, speaker_crops, spread, unit

A, B, C = "SPEAKER_00", "SPEAKER_01", "SPEAKER_02"


def test_solo_spans_leave_out_every_other_speaker_and_trim_the_edges():
    turns = [Turn(0.0, 10.0, A), Turn(4.0, 5.0, B), Turn(9.0, 12.0, B), Turn(20.0, 21.0, A)]
    assert solo_spans(turns, A) == [(0.0, 4.0), (5.0, 9.0), (20.0, 21.0)]
    assert solo_spans(turns, A, edge=0.25) == [(0.25, 3.75), (5.25, 8.75), (20.25, 20.75)]
    assert solo_spans(turns, A, edge=0.25, min_piece=1.0) == [(0.25, 3.75), (5.25, 8.75)]
    assert solo_spans(turns, B) == [(10.0, 12.0)]  # (4, 5) lies inside A's turn: not B's alone
    assert solo_spans(turns, C) == []


def test_solo_spans_join_a_speakers_touching_turns():
    turns = [Turn(0.0, 2.0, A), Turn(2.0, 4.0, A), Turn(3.0, 3.5, B)]
    assert solo_spans(turns, A) == [(0.0, 3.0), (3.5, 4.0)]


def test_crops_cut_long_spans_into_equal_pieces():
    assert crops([(0.0, 2.0)], 4.0) == [(0.0, 2.0)]
    assert crops([(0.0, 5.0)], 4.0) == [(0.0, 5.0)]  # 1.25 crops round to one
    assert crops([(0.0, 12.0), (20.0, 26.0)], 4.0) == [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0), (20.0, 23.0), (23.0, 26.0)]


def test_spread_takes_an_even_share_over_the_whole_episode():
    spans = [(float(10 * i), float(10 * i + 4)) for i in range(10)]  # 40 s in ten 4 s crops
    assert spread(spans, 100.0) == spans
    assert spread(spans, 12.0) == [(0.0, 4.0), (40.0, 44.0), (90.0, 94.0)]
    assert spread(spans, 4.0) == [(50.0, 54.0)]
    assert spread(spans, 1.0) == [(50.0, 54.0)]  # never nothing when there is speech


def test_speaker_crops_follow_the_options():
    turns = [Turn(0.0, 30.0, A), Turn(30.0, 31.0, B), Turn(40.0, 41.0, C)]
    options = VoicesOptions(crop=4.0, edge=0.5, min_piece=1.0, max_seconds=8.0)
    found = speaker_crops(turns, [A, B, C], options)
    assert list(found) == [A]  # B and C have under a second after trimming
    assert len(found[A]) == 2  # of seven crops of 29 / 7 s: about 8 s
    assert sum(e - s for s, e in found[A]) == pytest.approx(2 * 29 / 7, abs=0.01)
    assert all(0.5 <= s < e <= 29.5 for s, e in found[A])


def test_centroid_and_join():
    e = unit(np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]]))
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0)
    assert np.allclose(centroid(e), np.array([0.6, 0.8, 1.0]) / np.sqrt(2.0))
    joined = VoicePrint.join([VoicePrint(e[:1], 4.0), VoicePrint(e[1:], 3.5)])
    assert joined.embeddings.shape == (2, 3) and joined.seconds == 7.5
    assert np.allclose(joined.centroid, centroid(e))


def test_by_name_joins_the_labels_of_one_name():
    p = {A: VoicePrint(np.ones((2, 3)), 8.0), B: VoicePrint(np.ones((1, 3)), 4.0), C: VoicePrint(np.ones((1, 3)), 4.0)}
    joined = by_name(p, {A: "VANCE", B: "VANCE", C: "OKAFOR", "SPEAKER_09": "NOBODY"})
    found = {n: (v.embeddings.shape[0], v.seconds) for n, v in joined.items()}
    assert found == {"VANCE": (3, 12.0), "OKAFOR": (1, 4.0)}
