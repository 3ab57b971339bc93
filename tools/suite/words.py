"""Text words to the phoneme words the synthesizer timed (pure; no audio).

A text word becomes as many phoneme words as its engine's front end makes of it on its own ("49" is
"forty nine": two). When those counts add up to the phoneme words the sentence was synthesized from,
each text word gets the span of its own phoneme words: ``timing == "model"``. When they do not
(espeak writes "in the" as one word, "ɪnðə"), text words and phoneme words are paired by edit distance
(1:1, 1:2, 1:3, 2:1, 3:1) and words sharing one phoneme word split it by their phoneme lengths:
``timing == "merged"``. Only when no pairing exists are the words spread over the sentence by letters:
``timing == "spread"``, counted by the checker.
"""

from __future__ import annotations

import numpy as np


def assign(words: list[str], phonemes: list[list[str]], groups) -> tuple[list[tuple[int, int]], str]:
    """Sample spans of the text words and how they were found: "model", "merged" or "spread".

    phonemes: each text word's phoneme words, from the front end on that word alone.
    """
    counts = [len(p) for p in phonemes]
    if groups and all(counts) and sum(counts) == len(groups):
        spans, j = [], 0
        for count in counts:
            spans.append((groups[j][1], groups[j + count - 1][2]))
            j += count
        return spans, "model"
    pairs = align(["".join(p) for p in phonemes], [g[0] for g in groups]) if groups else None
    if pairs is None:
        return spread(words, groups), "spread"
    return _spans(pairs, phonemes, groups), "merged"


def spread(words: list[str], groups) -> list[tuple[int, int]]:
    """Words laid over the groups' overall span, each as long as its share of the letters."""
    start, end = groups[0][1], groups[-1][2]
    weights = np.array([max(1, sum(c.isalnum() for c in w)) for w in words], np.float64)
    edges = start + (end - start) * np.concatenate([[0], np.cumsum(weights)]) / weights.sum()
    return [(round(a), round(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _bare(text: str) -> str:
    return "".join(c for c in text if c.isalpha() and c not in "ˈˌːʲ")


def _edit(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


MOVES = ((1, 1), (1, 2), (1, 3), (2, 1), (3, 1))


def align(word_ps: list[str], group_ps: list[str]):
    """Monotone pairing of text words with phoneme words (1:1, 1:2, 1:3, 2:1, 3:1) by edit distance.

    Returns (words, groups) index ranges per pairing, or None when no pairing covers both.
    """
    w, g = [_bare(p) for p in word_ps], [_bare(p) for p in group_ps]
    n, m = len(w), len(g)
    cost = {(0, 0): (0.0, None)}
    for i in range(n + 1):
        for j in range(m + 1):
            if (i, j) not in cost:
                continue
            for a, b in MOVES:
                if i + a > n or j + b > m:
                    continue
                here = cost[(i, j)][0] + _edit("".join(w[i:i + a]), "".join(g[j:j + b])) + 0.5 * (a + b - 2)
                if here < cost.get((i + a, j + b), (float("inf"), None))[0]:
                    cost[(i + a, j + b)] = (here, (i, j))
    if (n, m) not in cost:
        return None
    out, at = [], (n, m)
    while at != (0, 0):
        back = cost[at][1]
        out.append(((back[0], at[0]), (back[1], at[1])))
        at = back
    return out[::-1]


def _spans(pairs, phonemes: list[list[str]], groups) -> list[tuple[int, int]]:
    """Spans from the pairing; several words in one phoneme word share it by their phoneme lengths."""
    spans = []
    for (i0, i1), (j0, j1) in pairs:
        start, end = groups[j0][1], groups[j1 - 1][2]
        if i1 - i0 == 1:
            spans.append((start, end))
            continue
        weights = np.array([max(1, len(_bare("".join(phonemes[i])))) for i in range(i0, i1)], np.float64)
        edges = start + (end - start) * np.concatenate([[0], np.cumsum(weights)]) / weights.sum()
        spans += [(round(a), round(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return spans


def to_clip(span: tuple[int, int], pieces) -> tuple[int, int]:
    """A raw-audio span in the trimmed clip: pieces are (raw_start, raw_end, clip_start), in order.

    A start in cut-out silence moves to the next kept piece, an end to the previous one, so each word
    lies inside the clip's speech; a word wholly inside cut silence comes out empty at a piece edge.
    """
    start, end = span
    return _map(start, pieces, forward=True), max(_map(start, pieces, forward=True), _map(end, pieces, False))


def _map(x: int, pieces, forward: bool) -> int:
    for k, (a, b, at) in enumerate(pieces):
        if a <= x <= b:
            return at + x - a
        if x < a:
            if forward or k == 0:
                return at
            pa, pb, pat = pieces[k - 1]
            return pat + pb - pa
    a, b, at = pieces[-1]
    return at + b - a
