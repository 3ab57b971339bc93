"""One episode, one path: a :class:`Job` in, its outputs written and a typed :class:`Outcome` out.

:func:`process` is the only sequence of stages in the project::

    read the transcript and RTTM -> decode -> transcribe | diarize -> align -> name -> conform
        -> write the outputs -> check against the transcript and RTTM

(naming and conforming, the published transcript re-timed, only when there is a transcript).

``pipeline run``, ``pipeline batch`` (every executor), ``pipeline bench`` and ``pipeline eval``
all call it; they differ only in where the job's files come from and what they do with the
outcome. Each stage is timed under its :class:`~pipeline.types.Stage` name; model loading is
timed apart from processing, and a :class:`~pipeline.jobs.models.Models` passed in stays loaded
for the next job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline import __version__, layout
from pipeline.config import PipelineConfig, override
from pipeline.display import Display, NullDisplay, pyannote_hook
from pipeline.jobs.models import Models, side_by_side, timed
from pipeline.types import ConformedTranscript, Reference, RunResult, Stage, Turn

logger = logging.getLogger(__name__)

ENGINES = ("faster-whisper", "ctranslate2", "openai-whisper", "pyannote.audio", "torch")


@dataclass(frozen=True)
class Job:
    """An episode to process: its audio, what is known about it, and where its files go.

    ``output`` is the folder for the outputs (``output/STEM.*``, :class:`~pipeline.layout.EpisodeFiles`);
    ``hints`` are speaker counts (``num_speakers``, ``min_speakers``, ``max_speakers``) that
    override the config's; ``source`` names where the job came from in messages (a manifest line).
    ``voices`` is a voice library (:mod:`pipeline.voices`): speakers the transcript does not name
    are named from it, and those it names are enrolled into it.
    """

    audio: Path
    output: Path
    reference: Path | None = None
    rttm: Path | None = None
    hints: dict[str, int] = field(default_factory=dict)
    stem: str = ""
    source: str = "command line"
    voices: Path | None = None

    @property
    def files(self) -> layout.EpisodeFiles:
        return layout.EpisodeFiles(Path(self.output), self.stem or Path(self.audio).stem)

    def configure(self, config: PipelineConfig) -> PipelineConfig:
        """``config`` with this job's speaker hints, validated (a ConfigError names ``source``)."""
        return override(config, "diarization", where=self.source, **self.hints)


@dataclass(frozen=True)
class Inputs:
    """What a job brings besides its audio, read and checked before any work is done."""

    reference: Reference | None = None
    rttm: tuple[Turn, ...] | None = None


@dataclass(frozen=True)
class Outcome:
    """What :func:`process` made of a job: the result, the files written and the check."""

    job: Job
    result: RunResult
    outputs: tuple[Path, ...]
    timings: dict[str, float]
    check: Any = None  # pipeline.scoring.report.CheckReport when a transcript or RTTM was given
    warning: str = ""
    conformed: ConformedTranscript | None = None  # the published transcript re-timed, when given


def versions() -> dict[str, str]:
    from importlib import metadata

    found = {"pipeline": __version__}
    for name in ENGINES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def read_inputs(job: Job) -> Inputs:
    """The job's published transcript and RTTM, parsed before any work; an error names the file."""
    from pipeline.errors import ReferenceError
    from pipeline.scoring import metrics, reference

    ref = reference.load(job.reference) if job.reference is not None else None
    rttm = tuple(metrics.read_rttm(job.rttm)) if job.rttm is not None else None
    if rttm == ():
        raise ReferenceError(f"{job.rttm}: the RTTM has no SPEAKER lines")
    return Inputs(ref, rttm)


def process(job: Job, config: PipelineConfig, models: Models | None = None,
            display: Display | None = None) -> Outcome:
    """Run every stage of ``job`` and write its outputs; raises a PipelineError saying why not."""
    from pipeline.stages import audio

    display = display or NullDisplay()
    config = job.configure(config)
    inputs = read_inputs(job)
    layout.check_writable(job.files.folder)
    timings: dict[str, float] = {}
    with timed(timings, Stage.DECODE):
        decoded = audio.load(job.audio)
    models = models or Models(config)
    models.load(timings)
    result = recognise(decoded, config, models, display, timings)
    conformed = None
    if inputs.reference is not None or job.voices is not None:
        with timed(timings, Stage.NAMING):
            result = name(result, inputs.reference, decoded, job.voices, config, models)
    if inputs.reference is not None:
        with timed(timings, Stage.CONFORM):
            conformed = conform(decoded, result, inputs.reference, models, source=str(job.reference))
    with timed(timings, Stage.WRITE):
        paths = write_outputs(result, job.files, config, conformed)
    check, warning = None, ""
    if inputs.reference is not None or inputs.rttm is not None:  # an RTTM alone: DER and JER
        with timed(timings, Stage.CHECK):
            check, written, warning = _check(result, inputs, job.files, conformed)
        paths += written
    result = replace(result, timings=dict(timings))
    return Outcome(job, result, tuple(paths), dict(timings), check, warning, conformed)


def recognise(decoded, config: PipelineConfig, models: Models, display: Display,
              timings: dict[str, float]) -> RunResult:
    """Transcribe, diarize and align decoded audio into a :class:`RunResult` (no names yet)."""
    from pipeline.stages import align

    spare = threading.Event()  # set when diarization ends: ASR may take its core

    def transcribe():
        with timed(timings, Stage.ASR):
            return models.transcribe(decoded, progress=display.stage(Stage.ASR, decoded.duration), spare=spare)

    def diarize():
        try:
            with timed(timings, Stage.DIARIZATION):
                return models.diarize(decoded, config.diarization,
                                      hook=pyannote_hook(display.stage(Stage.DIARIZATION)))
        finally:
            spare.set()

    if side_by_side(config):
        with timed(timings, Stage.ASR_AND_DIARIZATION):
            transcript, diarization = _side_by_side(transcribe, diarize)
    else:
        transcript, diarization = transcribe(), diarize()
    transcript = _second_pass(decoded, transcript, diarization, config, models, timings)
    with timed(timings, Stage.ALIGNMENT):
        words, turns = align.align(transcript.words, diarization, config.align)
    result = RunResult(
        audio=decoded.path, audio_sha256=decoded.sha256, duration=round(decoded.duration, 3),
        language=transcript.language, words=words, turns=turns, speakers=diarization.speakers,
        diarization=diarization.turns,
        models={"asr": f"{config.asr.engine}:{config.asr.model}",
                "segmentation": "segmentation-3.0", "embedding": "campplus"},
        config=config.to_dict(), versions=versions(),
    )
    with timed(timings, Stage.TURN_CHECK):
        result = check_turns(result, decoded, config, models)
    diarization = align.heard_turns(result.words, result.diarization, result.speakers, config.align)
    return replace(result, diarization=diarization, timings=dict(timings))


def check_turns(result: RunResult, decoded, config: PipelineConfig, models: Models) -> RunResult:
    """Short stretches that sound like another speaker of the episode given to them
    (``align.check_under``; :func:`pipeline.voices.verify.misplaced`)."""
    from pipeline.voices import verify

    return verify.move(result, verify.misplaced(result, decoded, models, config.voices, config.align), config.align)


def _second_pass(decoded, transcript, diarization, config: PipelineConfig, models: Models, timings):
    """The transcript with the speech its first pass dropped decoded again (``asr.recover_min_s``):
    what the VAD cut, or what Whisper skipped on its own (a window it took for silence)."""
    from pipeline.stages import recovery

    options = config.asr
    if not options.recover_min_s or options.engine != "faster-whisper":
        return transcript
    with timed(timings, Stage.RECOVERY):
        spans = recovery.missed_speech(transcript.words, diarization.turns, options.recover_min_s)
        if not spans:
            return transcript
        found = models.transcribe_spans(decoded, spans, transcript.language)
        logger.info("%s: second pass over %d stretch(es), %.1f s: %d word(s) found", decoded.path, len(spans),
                    sum(b - a for a, b in spans), sum(len(s.words) for s in found))
        return recovery.merge(transcript, found, spans)


def _side_by_side(first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
    """Run ``second`` in a thread while ``first`` runs here; both results, or the first error.

    An error in one still waits for the other to finish: nothing is left running behind a
    failed episode when a batch goes on to the next.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="diarize") as pool:
        future = pool.submit(second)
        try:
            one = first()
        except BaseException:
            future.exception()  # wait; its own error, if any, is the lesser news
            raise
        return one, future.result()


def name(result: RunResult, reference: Reference | None, decoded, voices: Path | None,
         config: PipelineConfig, models: Models) -> RunResult:
    """Names from the published transcript first, then from the voice library for the rest."""
    if reference is not None:
        result = name_speakers(result, reference)
    if voices is not None:
        from pipeline.voices import name_and_enroll

        result, _ = name_and_enroll(result, decoded, models, voices, config.voices,
                                    enroll_names=reference is not None, align=config.align)
    return result


def name_speakers(result: RunResult, reference: Reference) -> RunResult:
    """``result`` with real names for the diarized speakers the published transcript names."""
    from pipeline.scoring.metrics import name_speakers as match

    matches = match(result, reference)
    for label, m in matches.items():
        logger.info("%s -> %s (%.0f %% of %d aligned words)", label, m.name, 100 * m.confidence, m.words)
    names = {label: m.name for label, m in matches.items() if m.matched}
    naming = {label: {"source": "transcript", "score": round(matches[label].confidence, 3)} for label in names}
    return replace(result, speaker_names=names, naming=naming)


def conform(decoded, result: RunResult, reference: Reference, models: Models | None,
            source: str = "the transcript") -> ConformedTranscript:
    """The published transcript re-timed from the audio (:mod:`pipeline.stages.conform`).

    ``decoded`` None (``pipeline check`` without the audio): ASR anchors and interpolation only.
    """
    from pipeline.stages import conform as conforming
    from pipeline.stages import forced, pauses

    if decoded is None:
        return conforming.conform(reference, result, source=source)
    aligner = None
    if models is not None:
        made: list = []

        def aligner(start: float, end: float, words):  # the model is asked for only if a run needs it
            if not made:
                made.append(forced.whisper_aligner(models.asr_model(), decoded.samples,
                                                   engine=models.config.asr.engine, language=result.language))
            return made[0](start, end, words)

    exact = pauses.silences(decoded.samples, decoded.sample_rate)
    rough = pauses.heard(pauses.unvoiced(decoded.samples, decoded.sample_rate), exact,
                         [(t.start, t.end) for t in result.diarization])
    quiet = pauses.combine(exact, rough)
    return conforming.conform(reference, result, aligner=aligner, source=source, pauses=quiet)


def write_outputs(result: RunResult, files: layout.EpisodeFiles, config: PipelineConfig,
                  conformed: ConformedTranscript | None = None) -> list[Path]:
    """The attributed transcript in every configured format, and the conformed one in those of
    its formats that are configured; the paths written."""
    from pipeline.outputs import conformed as conformed_writers
    from pipeline.outputs import writers

    paths = writers.write(result, files, config.output.formats)
    if conformed is not None:
        paths += conformed_writers.write(conformed, files, config.output.formats)
    return paths


def _check(result: RunResult, inputs: Inputs, files: layout.EpisodeFiles, conformed: ConformedTranscript | None):
    """The check report and its files; a transcript the check cannot use is a warning, not a failure."""
    from pipeline.errors import PipelineError
    from pipeline.scoring import report

    try:
        checked = report.check(result, inputs.reference, rttm=inputs.rttm, conformed=conformed)
        return checked, list(report.write_report(checked, files)), ""
    except PipelineError as e:
        logger.warning("%s: no check report: %s", result.audio, e)
        return None, [], f"no check report: {e}"
