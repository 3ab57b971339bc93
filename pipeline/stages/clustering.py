"""Agglomerative clustering of speaker embeddings that splits a cluster the segmentation says is two voices.

pyannote's clustering sees only the embeddings. Two voices that CAM++ puts close together (one
base voice at two pitches, two siblings) fall within its threshold and become one speaker. But
segmentation-3.0 hears them too: where the two talk within one 10 s chunk it gives them two
different local speakers. Two local speakers of one chunk in one cluster is a contradiction
(a cannot-link pair). A true single voice makes a few (the segmentation splits a laugh, a music
cut); two merged voices in conversation make many.

:class:`SplittingClustering` is pyannote's ``AgglomerativeClustering`` followed by that check. A
cluster with at least ``split_min_links`` such pairs, and at least 5 % of its embeddings in
them, is split in two by spherical 2-means that keeps every pair apart. The split
stands only when both halves hold ``min_cluster_size`` embeddings, their centroids are further
apart than ``split_max_similarity`` (cosine) and, assigned freely to the nearer half, the halves
keep at most half of the pairs together. A speaker-count hint (``num_speakers``) turns it off,
and ``max_speakers`` bounds it. Measured on the evaluation suite (README, "Accuracy").

Before the split, :func:`merge_thin` gives a cluster that rests on fewer than ``min_distinct``
distinct embeddings (one crop of speech repeated over the chunks that saw it) to its nearest
cluster: in a short recording such a cluster passes pyannote's shrunken minimum size.
"""

from __future__ import annotations

import numpy as np
from pyannote.audio.pipelines.clustering import AgglomerativeClustering

#: share of a cluster's embeddings that must be in a same-chunk pair before it is looked at
MIN_SHARE = 0.05
#: restarts of the 2-means; the best (most compact) split is kept
RESTARTS = 10
ITERATIONS = 50


class SplittingClustering(AgglomerativeClustering):
    """``AgglomerativeClustering`` plus the cannot-link split (see the module docstring)."""

    def __init__(self, metric: str = "cosine", split_min_links: int = 6, split_max_similarity: float = 0.92,
                 min_distinct: int = 1) -> None:
        super().__init__(metric=metric)
        self.split_min_links = split_min_links
        self.split_max_similarity = split_max_similarity
        self.min_distinct = min_distinct

    def __call__(self, embeddings, segmentations=None, num_clusters=None, min_clusters=None,
                 max_clusters=None, **kwargs):
        """pyannote's ``BaseClustering.__call__`` with :func:`split` between clustering and assignment."""
        train, chunks, speakers = self.filter_embeddings(embeddings, segmentations=segmentations)
        num_clusters, min_clusters, max_clusters = self.set_num_clusters(
            train.shape[0], num_clusters=num_clusters, min_clusters=min_clusters, max_clusters=max_clusters)
        if max_clusters < 2:
            return super().__call__(embeddings, segmentations=segmentations, num_clusters=num_clusters,
                                    min_clusters=min_clusters, max_clusters=max_clusters, **kwargs)
        clusters = self.cluster(train.copy(), min_clusters=min_clusters, max_clusters=max_clusters,
                                num_clusters=num_clusters)
        if num_clusters is None and self.min_distinct > 1:
            clusters = merge_thin(train, clusters, self.min_distinct, min_clusters=min_clusters)
        if num_clusters is None and self.split_min_links > 0:
            # pyannote's own shrinking of the minimum size for few embeddings
            min_size = min(self.min_cluster_size, max(1, round(0.1 * train.shape[0])))
            clusters = split(train, chunks, clusters, max_clusters=max_clusters, min_size=min_size,
                             min_links=self.split_min_links, max_similarity=self.split_max_similarity)
        return self.assign_embeddings(embeddings, chunks, speakers, clusters,
                                      constrained=self.constrained_assignment)


def merge_thin(embeddings: np.ndarray, clusters: np.ndarray, min_distinct: int, *, min_clusters: int = 1) -> np.ndarray:
    """``clusters`` with each cluster of fewer than ``min_distinct`` distinct embeddings merged into
    the nearest cluster (cosine of centroids) that has enough; 0-indexed labels.

    In crop mode one stretch of speech seen from several chunks is one embedding repeated
    (:mod:`pipeline.stages.crops`), so a cluster's size counts chunks, not what was heard. Nothing
    is merged below ``min_clusters`` clusters, nor when no cluster has enough.
    """
    clusters = np.asarray(clusters).astype(np.int64)
    labels = np.unique(clusters)
    distinct = {k: len(np.unique(embeddings[clusters == k], axis=0)) for k in labels}
    kept = [k for k in labels if distinct[k] >= min_distinct]
    thin = [k for k in labels if distinct[k] < min_distinct]
    if not kept or not thin or len(kept) < min_clusters:
        return clusters
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)

    def centroid(k):
        c = unit[clusters == k].mean(axis=0)
        return c / np.linalg.norm(c)

    targets = np.stack([centroid(k) for k in kept])
    out = clusters.copy()
    for k in thin:
        out[clusters == k] = kept[int(np.argmax(targets @ centroid(k)))]
    return np.unique(out, return_inverse=True)[1]


def links(chunks: np.ndarray, members: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (positions in ``members``) of embeddings from the same chunk: ``chunks[members]``."""
    by_chunk: dict[int, list[int]] = {}
    for position, chunk in enumerate(chunks[members].tolist()):
        by_chunk.setdefault(chunk, []).append(position)
    return [(a, b) for same in by_chunk.values() for i, a in enumerate(same) for b in same[i + 1:]]


def split(embeddings: np.ndarray, chunks: np.ndarray, clusters: np.ndarray, *, max_clusters: int,
          min_size: int, min_links: int, max_similarity: float, min_share: float = MIN_SHARE) -> np.ndarray:
    """``clusters`` with every cluster that holds two voices split in two, most contradicted first.

    ``embeddings`` are the clustered ones, ``chunks`` the chunk each comes from. Returns new
    0-indexed labels (the old ones where nothing was split).
    """
    clusters = np.asarray(clusters).astype(np.int64)
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    refused: set[tuple[int, ...]] = set()
    while clusters.max() + 1 < max_clusters:
        candidates = []
        for k in range(clusters.max() + 1):
            members = np.flatnonzero(clusters == k)
            pairs = links(chunks, members)
            involved = len({i for pair in pairs for i in pair})
            if (len(pairs) >= min_links and involved >= min_share * len(members)
                    and tuple(members) not in refused):
                candidates.append((len(pairs), k, members, pairs))
        if not candidates:
            break
        _, k, members, pairs = max(candidates, key=lambda c: c[0])
        halves = two_means(unit[members], pairs)
        if halves is None or not _holds(unit[members], halves, pairs, min_size, max_similarity):
            refused.add(tuple(members))
            continue
        clusters[members[halves == 1]] = clusters.max() + 1
    return clusters


def two_means(unit: np.ndarray, pairs: list[tuple[int, int]], seed: int = 0) -> np.ndarray | None:
    """Spherical 2-means of unit vectors with each pair on opposite sides; 0/1 per row, or None."""
    rng = np.random.default_rng(seed)
    first = np.array([a for a, _ in pairs])
    second = np.array([b for _, b in pairs])
    best, best_fit = None, -np.inf
    for _ in range(RESTARTS):
        centroids = unit[rng.choice(len(unit), 2, replace=False)]
        for _ in range(ITERATIONS):
            similarity = unit @ centroids.T
            halves = similarity.argmax(axis=1)
            keep = (similarity[first, 0] + similarity[second, 1]) >= (similarity[first, 1] + similarity[second, 0])
            halves[first], halves[second] = np.where(keep, 0, 1), np.where(keep, 1, 0)
            if np.bincount(halves, minlength=2).min() == 0:
                break
            moved = np.stack([unit[halves == h].mean(axis=0) for h in (0, 1)])
            moved /= np.linalg.norm(moved, axis=1, keepdims=True)
            if np.allclose(moved, centroids):
                break
            centroids = moved
        if np.bincount(halves, minlength=2).min() == 0:
            continue
        fit = float((unit @ centroids.T).max(axis=1).sum())
        if fit > best_fit:
            best, best_fit = halves.copy(), fit
    return best


def _holds(unit: np.ndarray, halves: np.ndarray, pairs: list[tuple[int, int]], min_size: int,
           max_similarity: float) -> bool:
    """Both halves big enough and apart, and most pairs still apart when assigned freely."""
    if np.bincount(halves, minlength=2).min() < min_size:
        return False
    centroids = np.stack([unit[halves == h].mean(axis=0) for h in (0, 1)])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    if float(centroids[0] @ centroids[1]) >= max_similarity:
        return False
    free = (unit @ centroids.T).argmax(axis=1)
    together = sum(free[a] == free[b] for a, b in pairs)
    return together <= len(pairs) / 2
