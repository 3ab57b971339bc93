"""The cannot-link split of pipeline/stages/clustering.py, on synthetic embeddings.

Two voices are two unit-vector clouds around centroids a chosen cosine apart; "chunks" say which
embeddings the segmentation heard in one 10 s chunk.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.stages import diarize as stage

stage.offline_environment()

from pyannote.core import SlidingWindow, SlidingWindowFeature  # noqa: E402

from pipeline.stages import clustering  # noqa: E402

DIM = 192


def _cloud(centre: np.ndarray, n: int, spread: float, rng) -> np.ndarray:
    points = centre + spread * rng.standard_normal((n, DIM)) / np.sqrt(DIM)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def _two_centres(cosine: float, rng) -> tuple[np.ndarray, np.ndarray]:
    a = rng.standard_normal(DIM)
    a /= np.linalg.norm(a)
    b = rng.standard_normal(DIM)
    b -= (b @ a) * a
    b /= np.linalg.norm(b)
    return a, cosine * a + np.sqrt(1 - cosine ** 2) * b


def _conversation(cosine: float, seed: int = 0, turns: int = 60, shared: int = 20):
    """Two voices alternating: chunk c holds voice A's embedding c, and in the first ``shared``
    chunks voice B's too (the two talked within one chunk); B's others have chunks of their own."""
    rng = np.random.default_rng(seed)
    a, b = _two_centres(cosine, rng)
    embeddings = np.vstack([_cloud(a, turns, 0.3, rng), _cloud(b, turns, 0.3, rng)])
    chunks = np.r_[np.arange(turns), np.arange(shared), np.arange(turns, 2 * turns - shared)]
    truth = np.r_[np.zeros(turns, int), np.ones(turns, int)]
    return embeddings, chunks, truth


def _split(embeddings, chunks, clusters, **kw):
    options = dict(max_clusters=10, min_size=8, min_links=6, max_similarity=0.92) | kw
    return clustering.split(embeddings, chunks, clusters, **options)


def test_links_are_pairs_of_one_chunk():
    chunks = np.array([4, 7, 4, 9, 4, 7])
    members = np.array([0, 1, 2, 4, 5])  # chunk of each: 4, 7, 4, 4, 7
    assert sorted(clustering.links(chunks, members)) == [(0, 2), (0, 3), (1, 4), (2, 3)]
    assert clustering.links(chunks, np.array([0, 3])) == []


def test_two_merged_voices_that_share_chunks_are_split():
    embeddings, chunks, truth = _conversation(cosine=0.85)
    found = _split(embeddings, chunks, np.zeros(len(truth), int))
    assert len(set(found)) == 2
    agree = max(np.mean(found == truth), np.mean(found != truth))
    assert agree >= 0.97  # the two halves are the two voices


def test_one_voice_is_not_split_even_with_links():
    rng = np.random.default_rng(1)
    a, _ = _two_centres(0.5, rng)
    embeddings = _cloud(a, 120, 0.3, rng)
    chunks = np.r_[np.arange(100), np.arange(20)]  # 20 chunks where the segmentation heard it twice
    found = _split(embeddings, chunks, np.zeros(120, int))
    assert set(found) == {0}  # its two "halves" are closer than split_similarity


def test_too_few_links_or_too_small_halves_leave_the_cluster_alone():
    embeddings, chunks, truth = _conversation(cosine=0.85, shared=4)
    assert set(_split(embeddings, chunks, np.zeros(len(truth), int))) == {0}  # 4 links < 6
    embeddings, chunks, truth = _conversation(cosine=0.85, turns=60)
    found = _split(embeddings, chunks, np.zeros(len(truth), int), min_size=61)
    assert set(found) == {0}  # a half of 60 is under the minimum size


def test_split_respects_max_clusters_and_other_clusters():
    embeddings, chunks, truth = _conversation(cosine=0.85)
    rng = np.random.default_rng(5)
    third = _cloud(rng.standard_normal(DIM), 30, 0.3, rng)  # a separate speaker, cluster 0
    everything = np.vstack([third, embeddings])
    all_chunks = np.r_[np.arange(500, 530), chunks]
    clusters = np.r_[np.zeros(30, int), np.ones(len(truth), int)]
    found = _split(everything, all_chunks, clusters)
    assert (found[:30] == 0).all() and len(set(found)) == 3
    assert set(_split(everything, all_chunks, clusters, max_clusters=2)) == {0, 1}


def _pyannote_input(embeddings, chunks, speakers_per_chunk=3, frames=50):
    """pyannote's (chunks, local speakers, dim) embeddings and a binary segmentation where each
    local speaker talks alone for a third of the chunk (enough to be clustered)."""
    num_chunks = int(chunks.max()) + 1
    grid = np.full((num_chunks, speakers_per_chunk, DIM), np.nan, dtype=np.float32)
    seg = np.zeros((num_chunks, frames, speakers_per_chunk), dtype=np.float32)
    used = np.zeros(num_chunks, int)
    for e, c in zip(embeddings, chunks, strict=True):
        s = used[c]
        used[c] += 1
        grid[c, s] = e
        third = frames // speakers_per_chunk
        seg[c, s * third:(s + 1) * third, s] = 1
    return grid, SlidingWindowFeature(seg, SlidingWindow(duration=10.0, step=1.0))


@pytest.mark.parametrize("split_links, expected", [(6, 2), (0, 1)])
def test_splitting_clustering_end_to_end(split_links, expected):
    embeddings, chunks, truth = _conversation(cosine=0.85)
    grid, seg = _pyannote_input(embeddings, chunks)
    model = clustering.SplittingClustering(split_min_links=split_links, split_max_similarity=0.92)
    model.instantiate({"method": "centroid", "threshold": 0.7, "min_cluster_size": 8})
    hard, _, centroids = model(grid, segmentations=seg, min_clusters=1, max_clusters=10)
    assert len(centroids) == expected == len(set(hard[~np.isnan(grid).any(2)].tolist()))


def test_a_speaker_count_hint_turns_the_split_off():
    embeddings, chunks, _ = _conversation(cosine=0.85)
    grid, seg = _pyannote_input(embeddings, chunks)
    model = clustering.SplittingClustering(split_min_links=6, split_max_similarity=0.92)
    model.instantiate({"method": "centroid", "threshold": 0.7, "min_cluster_size": 8})
    _, _, centroids = model(grid, segmentations=seg, num_clusters=1)
    assert len(centroids) == 1


def test_a_cluster_of_one_repeated_embedding_joins_its_nearest_cluster():
    rng = np.random.default_rng(3)
    a, b = _two_centres(0.2, rng)
    c = 0.8 * a + 0.6 * _two_centres(0.0, rng)[1]  # nearer A than B
    c /= np.linalg.norm(c)
    repeated = np.repeat(c[None], 5, axis=0)  # one crop seen from five chunks
    embeddings = np.vstack([_cloud(a, 10, 0.3, rng), _cloud(b, 10, 0.3, rng), repeated])
    clusters = np.r_[np.zeros(10, int), np.ones(10, int), np.full(5, 2)]
    merged = clustering.merge_thin(embeddings, clusters, 2)
    assert merged.tolist() == [0] * 10 + [1] * 10 + [0] * 5
    assert clustering.merge_thin(embeddings, clusters, 1).tolist() == clusters.tolist()  # off
    # two distinct crops are enough; and nothing merges below min_clusters or when all are thin
    twice = embeddings.copy()
    twice[-1] = _cloud(c, 1, 0.3, rng)[0]
    assert set(clustering.merge_thin(twice, clusters, 2).tolist()) == {0, 1, 2}
    assert set(clustering.merge_thin(embeddings, clusters, 2, min_clusters=3).tolist()) == {0, 1, 2}
    lone = np.repeat(embeddings[:1], 3, axis=0), np.repeat(embeddings[10:11], 3, axis=0)
    assert set(clustering.merge_thin(np.vstack(lone), np.r_[0, 0, 0, 1, 1, 1], 2).tolist()) == {0, 1}
