"""Which diarized speaker is which enrolled voice: the scores, and one rule for giving names.

A diarized speaker's score against an enrolled voice is the cosine of their centroids (both unit
length). The speaker is a *candidate* for its best voice when that score reaches ``threshold``
and beats its second best voice by ``margin``: better unnamed than misnamed. Then the rule of
:func:`pipeline.scoring.metrics.match_speakers`, which names speakers from a transcript: of the
speakers that claim one name, the strongest claim (here the highest score) gets it, and another
gets it too only when that name clearly dominates it (a score of ``shared_threshold`` or more:
diarization does split one voice into two clusters, studio and phone). A name the transcript
already gave in this episode counts as the strongest claim.

Pure: numpy for the scores, plain floats for the rule; tested with hand-built vectors.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from pipeline.config import VoicesOptions


@dataclass(frozen=True)
class VoiceMatch:
    """The voice name given to one diarized label, or why none was.

    ``candidate`` is its best enrolled voice (``""`` when the library is empty), ``score`` the
    cosine against it and ``runner_up`` against the second best (-inf with one voice). ``name`` is
    the candidate when ``matched``, else the label itself.
    """

    label: str
    name: str
    candidate: str
    score: float
    runner_up: float
    matched: bool


def score_table(speakers: Mapping[str, np.ndarray], voices: Mapping[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Cosine of every speaker's centroid against every voice's (all unit length)."""
    if not speakers or not voices:
        return {label: {} for label in speakers}
    names = list(voices)
    table = np.stack([speakers[label] for label in speakers]) @ np.stack([voices[n] for n in names]).T
    return {label: {n: round(float(table[i, j]), 4) for j, n in enumerate(names)}
            for i, label in enumerate(speakers)}


def match_voices(scores: Mapping[str, Mapping[str, float]], options: VoicesOptions, *,
                 taken: Collection[str] = ()) -> dict[str, VoiceMatch]:
    """Name each label of ``scores`` (label -> voice -> score) after the voice it matches, if any.

    ``taken`` are the names the transcript gave in this episode: a label gets one of them only
    with ``shared_threshold``.
    """
    best: dict[str, tuple[str, float, float]] = {}
    for label, row in scores.items():
        ranked = sorted(row.items(), key=lambda item: -item[1])
        if ranked:
            best[label] = (ranked[0][0], ranked[0][1], ranked[1][1] if len(ranked) > 1 else -math.inf)
    claims: dict[str, list[str]] = defaultdict(list)
    for label, (name, score, second) in best.items():
        if score >= options.threshold and score - second >= options.margin:
            claims[name].append(label)
    named: set[str] = set()
    for name, claimants in claims.items():
        claimants.sort(key=lambda lab: -best[lab][1])
        shared = claimants if name in taken else claimants[1:]
        if name not in taken:
            named.add(claimants[0])
        named.update(lab for lab in shared if best[lab][1] >= options.shared_threshold)
    matches = {}
    for label in scores:
        name, score, second = best.get(label, ("", -math.inf, -math.inf))
        matches[label] = VoiceMatch(label, name if label in named else label, name, score, second,
                                    label in named)
    return matches
