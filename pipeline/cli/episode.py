"""``pipeline transcribe``, ``run``, ``diarize`` and ``check``: one episode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli import (
    ConfigOpt,
    DeviceOpt,
    EngineOpt,
    FormatOpt,
    LanguageOpt,
    MaxOpt,
    MinOpt,
    ModelOpt,
    NumOpt,
    OutOpt,
    QuietOpt,
    ReferenceOpt,
    RttmOpt,
    VoicesOpt,
    app,
    handle_errors,
    load_config,
    setup_logging,
)


@app.command()
@handle_errors
def transcribe(
    audio: Annotated[Path, typer.Argument(help="Audio file (wav, flac, mp3, m4a, ogg, opus...).")],
    output_dir: OutOpt = Path("out"),
    config: ConfigOpt = None,
    model: ModelOpt = None,
    engine: EngineOpt = None,
    device: DeviceOpt = None,
    language: LanguageOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Transcribe AUDIO with word times; writes STEM.transcript.json and STEM.transcript.txt."""
    from pipeline import layout
    from pipeline.display import terminal_display
    from pipeline.jobs import Models
    from pipeline.stages import audio as audio_stage
    from pipeline.types import Stage, to_dict

    setup_logging(quiet)
    conf = load_config(config, model=model, engine=engine, device=device, language=language)
    decoded = audio_stage.load(audio)
    with terminal_display(quiet) as display:
        result = Models(conf).transcribe(decoded, progress=display.stage(Stage.ASR, total=decoded.duration))
    json_path, txt_path = layout.transcript_files(output_dir, audio.stem)
    layout.write_text_atomic(json_path, json.dumps(to_dict(result), indent=1))
    layout.write_text_atomic(txt_path, result.text + "\n")
    if not quiet:
        typer.echo(result.text)
        typer.echo(f"wrote {json_path} and {txt_path}", err=True)


@app.command()
@handle_errors
def run(
    audio: Annotated[Path, typer.Argument(help="The episode's audio file.")],
    output_dir: OutOpt = Path("out"),
    format: FormatOpt = None,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    engine: EngineOpt = None,
    device: DeviceOpt = None,
    language: LanguageOpt = None,
    num_speakers: NumOpt = None,
    min_speakers: MinOpt = None,
    max_speakers: MaxOpt = None,
    reference: ReferenceOpt = None,
    rttm: RttmOpt = None,
    voices: VoicesOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Transcribe, diarize and merge AUDIO into a speaker-attributed transcript in every format."""
    from pipeline.display import terminal_display
    from pipeline.jobs import Job, process
    from pipeline.outputs import writers

    setup_logging(quiet)
    conf = load_config(config, model=model, engine=engine, device=device, language=language,
                       num=num_speakers, min_=min_speakers, max_=max_speakers, formats=format)
    job = Job(audio, output_dir, reference=reference, rttm=rttm, voices=voices)
    with terminal_display(quiet) as display:
        outcome = process(job, conf, display=display)
    if not quiet:
        typer.echo(writers.render("txt", outcome.result))
        typer.echo("wrote " + ", ".join(str(p) for p in outcome.outputs), err=True)
        if outcome.check is not None:
            print_check(outcome.check, audio.stem)


def print_check(checked, stem: str) -> None:
    """The check report's headline figures as a table on stdout."""
    from rich.console import Console
    from rich.table import Table

    from pipeline.scoring import report

    table = Table(title=f"Check against the published transcript: {stem}")
    table.add_column("measure")
    table.add_column("value")
    for key, value in report.summary_rows(checked):
        table.add_row(key, value)
    Console(stderr=False).print(table)


@app.command()
@handle_errors
def diarize(
    audio: Annotated[Path, typer.Argument(help="Audio file.")],
    output_dir: OutOpt = Path("out"),
    config: ConfigOpt = None,
    device: DeviceOpt = None,
    num_speakers: NumOpt = None,
    min_speakers: MinOpt = None,
    max_speakers: MaxOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Who spoke when: writes STEM.diarization.rttm and STEM.diarization.json."""
    from pipeline import layout
    from pipeline.display import pyannote_hook, terminal_display
    from pipeline.jobs import Models
    from pipeline.outputs.writers import rttm_text
    from pipeline.stages import audio as audio_stage
    from pipeline.types import Stage, to_dict

    setup_logging(quiet)
    conf = load_config(config, device=device, num=num_speakers, min_=min_speakers, max_=max_speakers)
    decoded = audio_stage.load(audio)
    with terminal_display(quiet) as display:
        result = Models(conf).diarize(decoded, hook=pyannote_hook(display.stage(Stage.DIARIZATION)))
    rttm_path, json_path = layout.diarization_files(output_dir, audio.stem)
    layout.write_text_atomic(rttm_path, rttm_text(audio.stem, [(t.start, t.end, t.speaker) for t in result.turns]))
    layout.write_text_atomic(json_path, json.dumps(to_dict(result), indent=1))
    if not quiet:
        typer.echo(f"{audio}: {len(result.speakers)} speakers, {len(result.turns)} turns")


@app.command()
@handle_errors
def check(
    result_json: Annotated[Path, typer.Argument(help="A result JSON written by `pipeline run`.")],
    transcript: Annotated[Path, typer.Argument(help="The published transcript.")],
    output_dir: OutOpt = Path("out"),
    rttm: RttmOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Score a result against the published transcript: names, WER, cpWER, WDER, DER; HTML report.

    Also writes the conformed transcript (STEM.conformed.*): force-aligned with the result's
    Whisper model when the audio the result records is still there, unchanged; else timed from
    the result's words alone, the words between them interpolated.
    """
    from pipeline.jobs import Job, read_inputs
    from pipeline.jobs.job import name_speakers
    from pipeline.layout import EpisodeFiles
    from pipeline.outputs import conformed as conformed_writers
    from pipeline.outputs import writers
    from pipeline.scoring import report

    setup_logging(quiet)
    inputs = read_inputs(Job(result_json, output_dir, reference=transcript, rttm=rttm))
    result = writers.read_json(result_json)
    if not result.speaker_names:
        result = name_speakers(result, inputs.reference)
    stem = result_json.name.removesuffix(".json")
    files = EpisodeFiles(output_dir, stem)
    conformed = conform_result(result, inputs.reference, str(transcript))
    checked = report.check(result, inputs.reference, rttm=inputs.rttm, conformed=conformed)
    paths = [*report.write_report(checked, files), *conformed_writers.write(conformed, files)]
    if not quiet:
        print_check(checked, stem)
        typer.echo("wrote " + ", ".join(str(p) for p in paths), err=True)


def conform_result(result, reference, source: str):
    """``reference`` conformed to a result read back from its JSON, with its audio if it is there."""
    import logging

    from pipeline.config import from_dict
    from pipeline.errors import PipelineError
    from pipeline.jobs import Models
    from pipeline.jobs.job import conform
    from pipeline.stages import audio as audio_stage

    log = logging.getLogger(__name__)
    decoded = models = None  # the audio and the result's Whisper model, when both can be had
    try:
        decoded = audio_stage.load(result.audio)
        if decoded.sha256 != result.audio_sha256:
            log.warning("%s has changed since the run: conforming without it", result.audio)
            decoded = None
        else:
            models = Models(from_dict(result.config, where=f"{result.audio}'s result"))
            models.asr_model()
    except PipelineError as e:
        log.warning("conforming without the audio (%s): the words the ASR missed are interpolated", e)
        decoded = models = None
    return conform(decoded, result, reference, models, source=source)
