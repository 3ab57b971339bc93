"""Voice prints: CAM++ embeddings of the speech that is one speaker's alone.

A diarized speaker's *solo* speech is its overlap-aware turns less every other speaker's turns
(two people at once belong to neither), each stretch trimmed by ``edge`` at both ends (turn edges
are where diarization is least sure) and kept when at least ``min_piece`` long. Stretches are cut
into crops of about ``crop`` seconds, and at most ``max_seconds`` of them, spread evenly over the
episode, are embedded with the diarization's own CAM++ (:meth:`pipeline.jobs.Models.embed`).
A speaker to be named from a library is embedded on a short probe first, and no further when the
probe is far from every enrolled voice (most guests are).

A :class:`VoicePrint` keeps the crops' embeddings (the exemplars, unit length) and the seconds
they cover; its :attr:`~VoicePrint.centroid` is what :mod:`pipeline.voices.match` compares.
The span arithmetic is pure and tested with hand-built turns; only :func:`speaker_prints` runs
the model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.config import VoicesOptions
from pipeline.stages.spans import subtract, union
from pipeline.types import Audio, RunResult, Turn

logger = logging.getLogger(__name__)

Span = tuple[float, float]


@dataclass(frozen=True, eq=False)
class VoicePrint:
    """Exemplar embeddings ``(n, dimension)``, unit length, and the seconds of speech they cover.

    ``spans`` are the crops they were embedded from, when known (an episode's own prints).
    """

    embeddings: np.ndarray
    seconds: float
    spans: tuple[Span, ...] = ()

    @property
    def centroid(self) -> np.ndarray:
        return centroid(self.embeddings)

    @staticmethod
    def join(prints: Iterable[VoicePrint]) -> VoicePrint:
        """One print of several (a speaker diarization split in two, one name over episodes)."""
        prints = list(prints)
        return VoicePrint(np.concatenate([p.embeddings for p in prints]), sum(p.seconds for p in prints),
                          tuple(span for p in prints for span in p.spans))


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def centroid(embeddings: np.ndarray) -> np.ndarray:
    """The unit-length mean of unit-length embeddings."""
    return unit(unit(embeddings).mean(axis=0))


def solo_spans(turns: Sequence[Turn], speaker: str, *, edge: float = 0.0, min_piece: float = 0.0) -> list[Span]:
    """``speaker`` 's speech that no other speaker overlaps, trimmed by ``edge``, pieces >= ``min_piece``."""
    own = union((t.start, t.end) for t in turns if t.speaker == speaker)
    others = union((t.start, t.end) for t in turns if t.speaker != speaker)
    spans = []
    for start, end in subtract(own, others):
        start, end = start + edge, end - edge
        if end - start >= max(min_piece, 1e-9):
            spans.append((round(start, 3), round(end, 3)))
    return spans


def crops(spans: Iterable[Span], length: float) -> list[Span]:
    """Each span cut into equal crops of about ``length`` seconds (none longer than 1.5 x ``length``)."""
    out = []
    for start, end in spans:
        n = max(1, round((end - start) / length))
        step = (end - start) / n
        out.extend((round(start + i * step, 3), round(start + (i + 1) * step, 3)) for i in range(n))
    return out


def spread(spans: Sequence[Span], seconds: float) -> list[Span]:
    """About ``seconds`` of ``spans`` (sorted by time): all of them, or a share taken evenly over them."""
    total = sum(e - s for s, e in spans)
    if total <= seconds:
        return list(spans)
    keep = max(1, round(len(spans) * seconds / total))
    picks = dict.fromkeys(round(i * (len(spans) - 1) / max(keep - 1, 1)) for i in range(keep))
    return [spans[i] for i in picks] if keep > 1 else [spans[len(spans) // 2]]


def speaker_crops(turns: Sequence[Turn], speakers: Sequence[str], options: VoicesOptions) -> dict[str, list[Span]]:
    """The crops each speaker's print is made of (speakers with no solo speech are left out)."""
    found = {}
    for speaker in speakers:
        solo = solo_spans(turns, speaker, edge=options.edge, min_piece=options.min_piece)
        chosen = spread(crops(solo, options.crop), options.max_seconds)
        if chosen:
            found[speaker] = chosen
    return found


def speaker_prints(result: RunResult, audio: Audio, models, options: VoicesOptions,
                   speakers: Sequence[str] | None = None, *,
                   probe: Mapping[str, np.ndarray] | None = None) -> dict[str, VoicePrint]:
    """A :class:`VoicePrint` of each diarized speaker of ``result`` (or of ``speakers``) with solo speech.

    With ``probe`` (enrolled centroids), ``probe_seconds`` of each speaker are embedded first, and
    a speaker whose probe scores under ``probe_threshold`` against every voice keeps that short
    print: it is nobody enrolled, and the rest of its speech is not embedded.
    """
    chosen = speaker_crops(result.diarization, result.speakers if speakers is None else speakers, options)
    first = {s: spread(c, options.probe_seconds) for s, c in chosen.items()} if probe else chosen
    embedded = _embed(audio, models, first)
    if probe:
        names = np.stack(list(probe.values()))
        rest = {s: [c for c in chosen[s] if c not in embedded[s]] for s in chosen
                if float(np.max(names @ centroid(np.stack(list(embedded[s].values()))))) >= options.probe_threshold}
        for s, more in _embed(audio, models, rest).items():
            embedded[s].update(more)
    prints = {}
    for s, own in embedded.items():
        spans = tuple(sorted(own))
        prints[s] = VoicePrint(np.stack([own[c] for c in spans]), round(sum(e - b for b, e in spans), 3), spans)
    logger.debug("%s: voice prints of %s", audio.path, ", ".join(f"{s} ({p.seconds:.0f} s)" for s, p in prints.items()))
    return prints


def _embed(audio: Audio, models, crops: Mapping[str, Sequence[Span]]) -> dict[str, dict[Span, np.ndarray]]:
    """Each speaker's crops embedded (unit length), all in one model call."""
    spans = [span for own in crops.values() for span in own]
    embeddings = unit(models.embed(audio, spans)) if spans else np.zeros((0, 0), np.float32)
    out, i = {}, 0
    for speaker, own in crops.items():
        out[speaker] = {span: embeddings[i + k] for k, span in enumerate(own)}
        i += len(own)
    return out


def by_name(prints: Mapping[str, VoicePrint], names: Mapping[str, str]) -> dict[str, VoicePrint]:
    """The prints of the labels ``names`` names, joined per name."""
    grouped: dict[str, list[VoicePrint]] = {}
    for label, name in names.items():
        if label in prints:
            grouped.setdefault(name, []).append(prints[label])
    return {name: VoicePrint.join(group) for name, group in grouped.items()}
