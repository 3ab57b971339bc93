"""Splitting clusters that break cannot-links, on synthetic embeddings with exact outcomes."""

from __future__ import annotations

import numpy as np

from pipeline.stages.conflicts import split_conflicts


def voices(rng, centres, counts, spread=0.08):
    """Embeddings around each centre (unit vectors), labelled by voice."""
    points, labels = [], []
    for v, (centre, n) in enumerate(zip(centres, counts, strict=True)):
        points.append(centre + spread * rng.standard_normal((n, len(centre))))
        labels += [v] * n
    return np.vstack(points), np.array(labels)


def test_two_alike_voices_heard_together_are_split():
    rng = np.random.default_rng(0)
    base = rng.standard_normal(32)
    a = base / np.linalg.norm(base)
    b = a + 0.35 * rng.standard_normal(32) / np.sqrt(32)  # cosine about 0.94 to a
    emb, truth = voices(rng, [a, b], [30, 30])
    chunks = np.concatenate([np.arange(30), np.arange(20, 50)])  # chunks 20-29 hear both
    merged = np.zeros(60, dtype=int)
    split = split_conflicts(emb, chunks, merged, min_size=5)
    assert len(np.unique(split)) == 2
    majority = [np.bincount(split[truth == v]).argmax() for v in (0, 1)]
    assert majority[0] != majority[1], "the two voices in different halves"
    assert (split == np.where(truth == 0, majority[0], majority[1])).mean() >= 0.9
    assert not np.array_equal(merged, split) and merged.sum() == 0, "the input is not changed"


def test_one_voice_with_a_few_spurious_conflicts_stays_one():
    rng = np.random.default_rng(1)
    centre = rng.standard_normal(32)
    emb, _ = voices(rng, [centre / np.linalg.norm(centre)], [60])
    chunks = np.arange(60)
    chunks[[10, 30, 50]] = [9, 29, 49]  # three chunks where segmentation split one voice in two
    assert np.array_equal(split_conflicts(emb, chunks, np.zeros(60, dtype=int), min_size=5), np.zeros(60))


def test_too_few_conflicts_small_halves_and_the_speaker_limit_keep_clusters():
    rng = np.random.default_rng(2)
    a, b = np.eye(8)[0], np.eye(8)[1]
    emb, _ = voices(rng, [a, b], [20, 20], spread=0.01)
    chunks = np.concatenate([np.arange(20), np.arange(18, 38)])  # two conflicts only
    zeros = np.zeros(40, dtype=int)
    assert split_conflicts(emb, chunks, zeros, min_size=3).max() == 0
    chunks = np.concatenate([np.arange(20), np.arange(10, 30)])
    assert split_conflicts(emb, chunks, zeros, min_size=25).max() == 0, "a half under min_size"
    assert split_conflicts(emb, chunks, zeros, min_size=3, max_clusters=1).max() == 0
    assert split_conflicts(emb, chunks, zeros, min_size=3).max() == 1
