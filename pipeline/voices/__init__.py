"""Recurring voices: speakers named from a library of voices that published transcripts named.

* :mod:`pipeline.voices.prints`: a speaker's voice print, from the speech that is theirs alone;
* :mod:`pipeline.voices.match`: scores and the one-name-per-speaker rule;
* :mod:`pipeline.voices.verify`: a voice name checked stretch by stretch;
* :mod:`pipeline.voices.library`: the SQLite store.

:func:`name_and_enroll` is what the naming stage of :func:`pipeline.jobs.process` calls with
``--voices``: the speakers the transcript left unnamed (all of them, without a transcript) are
named from the library as it is, then the speakers the transcript named are enrolled (once per
episode). :func:`enroll` enrolls a result written earlier (``pipeline voices enroll``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline.config import AlignOptions, VoicesOptions
from pipeline.types import Audio, RunResult
from pipeline.voices.library import Voice, VoiceLibrary
from pipeline.voices.match import VoiceMatch, match_voices, score_table
from pipeline.voices.prints import VoicePrint, by_name, speaker_crops, speaker_prints
from pipeline.voices.verify import give_back, unverified

logger = logging.getLogger(__name__)

TRANSCRIPT, VOICE = "transcript", "voice"

__all__ = ["TRANSCRIPT", "VOICE", "Enrolment", "Voice", "VoiceLibrary", "VoiceMatch", "VoicePrint", "enroll",
           "enrollable", "name_and_enroll", "name_from_library"]


@dataclass(frozen=True)
class Enrolment:
    """What enrolling one episode did: the names enrolled (with their seconds) and those left out."""

    audio: str
    enrolled: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why not
    already: bool = False


def name_and_enroll(result: RunResult, audio: Audio, models, library_path: str | Path,
                    options: VoicesOptions, *, enroll_names: bool,
                    align: AlignOptions = AlignOptions()) -> tuple[RunResult, Enrolment | None]:
    """``result`` with voice names for the speakers no transcript named, checked turn by turn
    (:mod:`pipeline.voices.verify`); then, with ``enroll_names``, this episode's transcript names
    enrolled (when not already). ``align`` regroups the paragraphs when a stretch is given back."""
    with VoiceLibrary(library_path) as library:
        unnamed = _long_enough(result, [s for s in result.speakers if s not in result.speaker_names], options)
        voices = library.centroids() if unnamed else {}
        if voices:
            prints = speaker_prints(result, audio, models, options, speakers=unnamed, probe=voices)
            result = name_from_library(result, prints, voices, options)
            result = give_back(result, unverified(result, audio, models, voices, options, prints), align)
        elif unnamed:
            logger.info("%s: the voice library %s is empty; no speaker named by voice", audio.path, library_path)
        return result, enroll(result, audio, models, library, options) if enroll_names else None


def _long_enough(result: RunResult, labels: list[str], options: VoicesOptions) -> list[str]:
    """The labels with enough solo speech to be named by voice (the others are not embedded)."""
    crops = speaker_crops(result.diarization, labels, options)
    return [label for label, spans in crops.items() if sum(e - s for s, e in spans) >= options.min_seconds]


def name_from_library(result: RunResult, prints: Mapping[str, VoicePrint], voices: Mapping,
                      options: VoicesOptions) -> RunResult:
    """``result`` with the speakers no transcript named named after the voices they match."""
    unnamed = [s for s in result.speakers if s not in result.speaker_names
               and s in prints and prints[s].seconds >= options.min_seconds]
    scores = score_table({s: prints[s].centroid for s in unnamed}, voices)
    matches = match_voices(scores, options, taken=set(result.speaker_names.values()))
    names, naming = dict(result.speaker_names), dict(result.naming)
    for label, m in matches.items():
        if m.matched:
            names[label] = m.name
            naming[label] = {"source": VOICE, "score": m.score}
        logger.info("%s %s %s (voice score %.3f, next %.3f)", label, "->" if m.matched else "unnamed; best",
                    m.candidate or "none", m.score, m.runner_up)
    return replace(result, speaker_names=names, naming=naming)


def enrollable(result: RunResult, options: VoicesOptions) -> tuple[dict[str, str], dict[str, str]]:
    """(label -> name of the labels whose transcript name may be enrolled, name -> why not for the rest).

    Only names from a transcript, and only when that share of the label's aligned words were the
    named speaker's (a result written before naming was recorded counts as from a transcript).
    """
    chosen, refused = {}, {}
    for label, name in result.speaker_names.items():
        how = result.naming.get(label, {"source": TRANSCRIPT, "score": None})
        if how.get("source") != TRANSCRIPT:
            continue
        share = how.get("score")
        if share is not None and share < options.enroll_min_share:
            refused[name] = f"only {100 * share:.0f} % of {label}'s words are theirs"
        else:
            chosen[label] = name
    return chosen, refused


def enroll(result: RunResult, audio: Audio, models, library: VoiceLibrary, options: VoicesOptions) -> Enrolment:
    """Enroll the speakers the transcript named in ``result`` (decoded ``audio``); once per episode."""
    if library.has(result.audio_sha256):
        return Enrolment(result.audio, already=True)
    chosen, _ = enrollable(result, options)
    prints = speaker_prints(result, audio, models, options, speakers=list(chosen))
    return _enroll(library, result, prints, options)


def _enroll(library: VoiceLibrary, result: RunResult, prints: Mapping[str, VoicePrint],
            options: VoicesOptions) -> Enrolment:
    chosen, skipped = enrollable(result, options)
    ready = {}
    for name, p in by_name(prints, chosen).items():
        if p.seconds >= options.enroll_min_seconds:
            ready[name] = p
        else:
            skipped[name] = f"{p.seconds:.1f} s of solo speech, {options.enroll_min_seconds:g} s needed"
    for name in set(chosen.values()) - set(ready) - set(skipped):
        skipped[name] = "no solo speech"
    added = library.enroll(result.audio_sha256, result.audio, ready)
    for name, why in sorted(skipped.items()):
        logger.info("%s: %s not enrolled: %s", result.audio, name, why)
    return Enrolment(result.audio, {n: p.seconds for n, p in ready.items()} if added else {}, skipped,
                     already=not added and bool(ready))
