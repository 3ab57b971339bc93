"""Clusters that hold two voices heard at once, split in two.

The segmentation model tells the speakers of one 10 s chunk apart (its local speakers); the
clustering then groups the chunks' speakers by embedding alone. Two voices of very similar timbre
(one voice at another pitch, two people on one phone line) can end up in one cluster, although
the segmentation heard them as two people in the same chunk, both talking for seconds on their
own: a cannot-link constraint that the clustering broke.

:func:`split_conflicts` looks at each cluster's broken constraints. When they come from several
chunks, it splits the cluster in two (2-means on the embeddings, seeded with the broken pair
farthest apart) and keeps the split only if it puts most broken pairs apart by itself and both
halves are big enough: a real second speaker explains the conflicts; noise in the segmentation
does not split along them. Pure numpy.
"""

from __future__ import annotations

import numpy as np

#: broken constraints (in distinct chunks) a cluster needs before a split is tried
MIN_CONFLICTS = 3
#: ... and the share of the cluster's chunks they must be in (one voice the segmentation split
#: now and then breaks a few; two people in conversation break many)
MIN_CONFLICT_SHARE = 0.1
#: a split is kept when at most this share of the broken constraints stay inside one half: plain
#: 2-means puts two real voices' pairs apart by itself, a random split of one voice half of them
MAX_REMAINING = 0.25


def split_conflicts(embeddings: np.ndarray, chunks: np.ndarray, clusters: np.ndarray, *, min_size: int,
                    max_clusters: int | None = None, min_conflicts: int = MIN_CONFLICTS) -> np.ndarray:
    """``clusters`` (one label per embedding) with the clusters that break cannot-links split.

    ``chunks[i]`` is the chunk embedding ``i`` comes from: two embeddings of one chunk are two
    local speakers, so two people. Labels stay 0..n-1; the input is not changed.
    """
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    clusters = np.asarray(clusters).copy()
    queue = list(np.unique(clusters))
    while queue and (max_clusters is None or len(np.unique(clusters)) < max_clusters):
        k = queue.pop(0)
        members = np.flatnonzero(clusters == k)
        pairs = _pairs(chunks[members])
        conflicted = len({chunks[members[a]] for a, _ in pairs})
        if conflicted < min_conflicts or conflicted < MIN_CONFLICT_SHARE * len(np.unique(chunks[members])):
            continue
        halves = _two_way(unit[members], pairs)
        sizes = np.bincount(halves, minlength=2)
        remaining = sum(halves[a] == halves[b] for a, b in pairs)
        if sizes.min() < min_size or remaining > MAX_REMAINING * len(pairs):
            continue
        new = clusters.max() + 1
        clusters[members[halves == 1]] = new
        queue += [k, new]  # a cluster of three voices splits again
    _, relabelled = np.unique(clusters, return_inverse=True)
    return relabelled


def _pairs(chunks: np.ndarray) -> list[tuple[int, int]]:
    """Index pairs (into ``chunks``) of members from the same chunk."""
    order = np.argsort(chunks, kind="stable")
    pairs = []
    for _, group in _groups(chunks[order], order):
        pairs += [(a, b) for n, a in enumerate(group) for b in group[n + 1:]]
    return pairs


def _groups(sorted_keys: np.ndarray, order: np.ndarray):
    start = 0
    for end in range(1, len(order) + 1):
        if end == len(order) or sorted_keys[end] != sorted_keys[start]:
            if end - start > 1:
                yield sorted_keys[start], [int(i) for i in order[start:end]]
            start = end


def _two_way(unit: np.ndarray, pairs: list[tuple[int, int]], rounds: int = 20) -> np.ndarray:
    """0/1 for each member: 2-means (cosine) seeded with the broken pair farthest apart."""
    a, b = max(pairs, key=lambda p: -float(unit[p[0]] @ unit[p[1]]))
    centroids = unit[[a, b]]
    halves = np.zeros(len(unit), dtype=int)
    for _ in range(rounds):
        halves = np.argmax(unit @ centroids.T, axis=1)
        if min(np.bincount(halves, minlength=2)) == 0:
            break
        moved = np.vstack([unit[halves == h].mean(axis=0) for h in (0, 1)])
        moved /= np.maximum(np.linalg.norm(moved, axis=1, keepdims=True), 1e-12)
        if np.allclose(moved, centroids):
            break
        centroids = moved
    return halves
