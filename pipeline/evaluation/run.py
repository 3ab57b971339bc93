"""``pipeline eval``: the one job path over every episode of a suite, for one config or two.

Each episode runs through :func:`pipeline.jobs.process` exactly as ``pipeline run`` would, into
``OUT/<config>/<episode>/``, and is scored against its truth (:mod:`pipeline.evaluation.score`).
With a second config (``--vs``) both run episode by episode, so their figures arrive side by side.

Transcripts and diarizations are kept in ``OUT/cache/`` under the hash of the audio and of the
options that decide them (:class:`CachedModels`): a config that changes only the diarization
reuses the ASR of an earlier run, and the other way round. A cached stage reports the seconds it
took when it was computed, so the real-time factor stays that of a real run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.display import Display, NullDisplay
from pipeline.errors import PipelineError
from pipeline.evaluation.score import EpisodeScore, score
from pipeline.evaluation.suite import SuiteEpisode
from pipeline.jobs import Job, Models, process
from pipeline.jobs.models import side_by_side
from pipeline.layout import write_text_atomic
from pipeline.types import Diarization, Stage, Transcript, to_dict

logger = logging.getLogger(__name__)

#: options that do not decide a (first-pass) transcript or a diarization: devices, thread counts,
#: and the second pass's setting (it runs after, on what the cache returns)
_NOT_DECIDING = {"device", "threads", "recover_min_s"}


@dataclass(frozen=True)
class Candidate:
    """A config under evaluation, with the name its column and folder get."""

    label: str
    config: PipelineConfig
    source: str = ""


@dataclass(frozen=True)
class Failure:
    label: str
    episode: str
    reason: str


OnScore = Callable[[str, EpisodeScore | Failure], None]


class CachedModels(Models):
    """:class:`Models` that keep each transcript and diarization on disk, keyed by what decides it."""

    def __init__(self, config: PipelineConfig, cache_dir: Path) -> None:
        super().__init__(config)
        self.cache_dir = Path(cache_dir)
        self.seconds: dict[str, float] = {}

    def load(self, timings: dict[str, float] | None = None) -> Models:
        return self  # each model loads on its first cache miss

    def transcribe(self, audio, progress=None, spare=None) -> Transcript:
        key = _key(audio.sha256, self.config.asr.model_dump(), self.config.models.source)
        return self._cached("asr", key, Stage.ASR, Transcript.from_dict,
                            lambda: super(CachedModels, self).transcribe(audio, progress, spare))

    def diarize(self, audio, options=None, hook=None) -> Diarization:
        options = options or self.config.diarization
        key = _key(audio.sha256, options.model_dump())
        return self._cached("diarization", key, Stage.DIARIZATION, Diarization.from_dict,
                            lambda: super(CachedModels, self).diarize(audio, options, hook))

    def _cached(self, kind: str, key: str, stage: Stage, read, compute):
        path = self.cache_dir / kind / f"{key}.json"
        if path.is_file():
            doc = json.loads(path.read_text(encoding="utf-8"))
            self.seconds[stage] = doc["seconds"]
            return read(doc["value"])
        started = time.perf_counter()
        value = compute()
        self.seconds[stage] = round(time.perf_counter() - started, 3)
        write_text_atomic(path, json.dumps({"seconds": self.seconds[stage], "value": to_dict(value)}))
        return value


def _key(sha256: str, options: dict, *more: object) -> str:
    deciding = {k: v for k, v in options.items() if k not in _NOT_DECIDING}
    blob = json.dumps([sha256, deciding, *more], sort_keys=True, default=list)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def evaluate(episodes: Sequence[SuiteEpisode], candidates: Sequence[Candidate], out_dir: Path, *,
             cache: bool = True, display: Display | None = None,
             on_score: OnScore | None = None) -> dict[str, list[EpisodeScore | Failure]]:
    """Every candidate on every episode, episode by episode; each score also goes to ``on_score``."""
    display = display or NullDisplay()
    models = {c.label: (CachedModels(c.config, out_dir / "cache") if cache else Models(c.config))
              for c in candidates}
    results: dict[str, list[EpisodeScore | Failure]] = {c.label: [] for c in candidates}
    overall = display.stage("episodes", total=len(episodes) * len(candidates))
    done = 0
    for episode in episodes:
        for c in candidates:
            found = _one(episode, c, models[c.label], out_dir, display)
            results[c.label].append(found)
            if on_score is not None:
                on_score(c.label, found)
            done += 1
            overall(done, len(episodes) * len(candidates))
    return results


def _one(episode: SuiteEpisode, c: Candidate, models: Models, out_dir: Path, display: Display):
    from pipeline.scoring.metrics import read_rttm

    job = Job(episode.audio, out_dir / c.label / episode.name, reference=episode.transcript, rttm=episode.rttm,
              source=f"{episode.name} ({c.label})")
    try:
        outcome = process(job, c.config, models, display)
    except PipelineError as e:
        logger.error("%s with %s: %s", episode.name, c.label, e)
        return Failure(c.label, episode.name, str(e))
    seconds = processing_seconds(outcome.timings, c.config, getattr(models, "seconds", {}))
    return score(episode, outcome.result, read_rttm(episode.rttm), outcome.check, seconds)


def processing_seconds(timings: dict[str, float], config: PipelineConfig, computed: dict[str, float]) -> float:
    """An episode's processing time (model loads aside), a cached stage at its computed cost."""
    asr = computed.get(Stage.ASR, timings.get(Stage.ASR, 0.0))
    diarization = computed.get(Stage.DIARIZATION, timings.get(Stage.DIARIZATION, 0.0))
    both = max(asr, diarization) if side_by_side(config) else asr + diarization
    rest = (Stage.DECODE, Stage.RECOVERY, Stage.ALIGNMENT, Stage.TURN_CHECK, Stage.NAMING, Stage.CONFORM,
            Stage.WRITE, Stage.CHECK)
    return round(both + sum(timings.get(s, 0.0) for s in rest), 3)
