"""``pipeline batch``: every new episode of an inbox or a manifest."""

from __future__ import annotations

import contextlib
import logging
import sys
from enum import StrEnum
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
    QuietOpt,
    VoicesOpt,
    app,
    handle_errors,
    load_config,
)

logger = logging.getLogger("pipeline")


class Executor(StrEnum):
    local = "local"
    ray = "ray"

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
    executor: Annotated[Executor, typer.Option("--executor", help="Where episodes run: here, one after "
                                               "another, or on Ray workers.")] = Executor.local,
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster to join (default: $RAY_ADDRESS, "
                                                "else a local Ray on this machine).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Ray workers (default: as many as "
                                                "the cluster's CPUs hold).")] = None,
    cpus_per_worker: Annotated[int, typer.Option("--cpus-per-worker", min=1, help="CPUs each Ray worker "
                                                 "requests and caps its threads to.")] = 2,
    voices: VoicesOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Process every new episode of INBOX (or --manifest) into OUTPUT_DIR; skip what is done.

    Safe from cron: one run at a time per OUTPUT_DIR; a killed run is finished by the next.

    Exit codes: 0 all done or skipped (or no audio found), 1 an episode failed, 2 usage, 3 locked.
    """
    from pipeline import batch as batch_mod
    from pipeline.display import OneBarPerStage, terminal_display

    conf = load_config(config, model=model, engine=engine, device=device, language=language,
                       num=num_speakers, min_=min_speakers, max_=max_speakers, formats=format)
    keep = _inbox_to_keep(inbox, manifest, output_dir)
    runner = _executor(executor, conf, address, workers, cpus_per_worker)
    options = batch_mod.BatchOptions(force=force, retry_failed=retry_failed, max_attempts=max_attempts,
                                     verify=verify, voices=voices.resolve() if voices else None)
    interactive = not quiet and sys.stderr.isatty()
    with _batch_logging(output_dir, quiet, interactive) as log_path:
        # read with the logging in place: a manifest's warnings go to the log and respect --quiet
        episodes = batch_mod.read_manifest(manifest) if manifest is not None else batch_mod.discover(inbox, output_dir)
        with terminal_display(quiet) as display:
            summary = batch_mod.run(episodes, conf, output_dir, options, keep=keep,
                                    executor=runner,
                                    display=OneBarPerStage(display) if interactive else display)
        worked = summary.count(batch_mod.DONE) + summary.count(batch_mod.FAILED) > 0 or bool(summary.problem)
    if not worked:  # a run that found nothing new leaves no log file; summary.json says it ran
        log_path.unlink(missing_ok=True)
    if not quiet:
        _print_batch_summary(summary, interactive, inbox or manifest, log_path if worked else None)
    raise typer.Exit(summary.exit_code)


def _executor(kind: Executor, conf, address: str | None, workers: int | None, cpus_per_worker: int):
    """The executor ``--executor`` names (None: the batch's default, local)."""
    if kind is Executor.local:
        if address or workers:
            raise typer.BadParameter("--address and --workers need --executor ray")
        return None
    try:
        from pipeline.jobs.ray_executor import RayExecutor, RayOptions
    except ImportError:  # pragma: no cover - ray is an extra
        raise typer.BadParameter("--executor ray needs Ray: pip install 'radio-pipeline[ray]'") from None
    return RayExecutor(conf, RayOptions(address=address, workers=workers, cpus_per_worker=cpus_per_worker))


def _inbox_to_keep(inbox: Path | None, manifest: Path | None, output_dir: Path) -> Path | None:
    """The inbox when it lies inside the output directory (kept out of stale-file cleaning), else
    None; a usage error for a missing or doubled source, or an inbox that is the output."""
    if (inbox is None) == (manifest is None):
        raise typer.BadParameter("give either an INBOX folder or --manifest FILE")
    if manifest is not None:
        return None
    if inbox.resolve() == output_dir.resolve():
        raise typer.BadParameter("the output directory must not be the inbox itself", param_hint="'-o'")
    return inbox if inbox.resolve().is_relative_to(output_dir.resolve()) else None


@contextlib.contextmanager
def _batch_logging(output_dir: Path, quiet: bool, interactive: bool):
    """Everything to OUT/logs/batch-YYYYmmdd-HHMMSS.log; to stderr: errors (--quiet), warnings (on a
    terminal, where progress bars show the rest) or info lines (no terminal: cron, pipes)."""
    from datetime import datetime

    from pipeline.layout import ensure_dir, logs_dir

    logs = ensure_dir(logs_dir(output_dir))
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
    logging.captureWarnings(True)  # third parties' warnings.warn: to the log, not straight to stderr
    try:
        yield path
    finally:
        logging.captureWarnings(False)
        logger.setLevel(previous)
        for handler in (to_file, to_stderr):
            root.removeHandler(handler)
            handler.close()


def _print_batch_summary(summary, interactive: bool, source: Path | None, log_path: Path | None) -> None:
    from pipeline import batch as batch_mod

    if not summary.entries:
        typer.echo(f"no audio files found in {source}")
    elif interactive and summary.count(batch_mod.SKIPPED) < len(summary.entries):
        from rich.console import Console
        from rich.table import Table

        table = Table(title=batch_mod.totals_line(summary))
        for column in ("episode", "status", "seconds", "check / reason"):
            table.add_column(column)
        for o in summary.entries:
            if o.status != batch_mod.SKIPPED:
                key = o.episode.source if o.episode.problem else o.episode.key
                table.add_row(key, o.status, f"{o.seconds:.1f}", batch_mod.notes(o))
        Console().print(table)
    else:
        for line in batch_mod.summary_lines(summary):
            typer.echo(line)
    from pipeline.layout import summary_path

    if not summary.problem:  # else the error is on stderr already
        where = f"{summary_path(Path(summary.output))}" + (f", log {log_path}" if log_path else "")
        typer.echo(f"summary: {where}", err=True)


