"""Stretches of time, ``(start, end)`` in seconds: their union and what is left of them.

The stages that reason about who talks when (the second pass, the heard-phrase turns, the voice
prints' solo speech) all need these two; pure and cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Span = tuple[float, float]


def union(spans: Iterable[Span], join: float = 0.0) -> list[Span]:
    """``spans`` merged where they overlap or lie within ``join`` seconds, sorted; empty ones dropped."""
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if merged and start <= merged[-1][1] + join:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def subtract(spans: Sequence[Span], holes: Sequence[Span]) -> list[Span]:
    """``spans`` less ``holes`` (both sorted and disjoint, as :func:`union` gives them)."""
    out, j = [], 0
    for start, end in spans:
        while j < len(holes) and holes[j][1] <= start:
            j += 1
        k, cursor = j, start
        while k < len(holes) and holes[k][0] < end:
            if holes[k][0] > cursor:
                out.append((cursor, holes[k][0]))
            cursor = max(cursor, holes[k][1])
            k += 1
        if cursor < end:
            out.append((cursor, end))
    return out
