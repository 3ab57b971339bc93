"""``pipeline eval``: a config (or two, side by side) over every episode of a suite."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli import ConfigOpt, QuietOpt, app, handle_errors, setup_logging

DEFAULT_SUITE = Path("samples/suite")


@app.command("eval")
@handle_errors
def evaluate(
    suite: Annotated[Path, typer.Argument(help="Suite folder with an index.json (make suite builds the "
                                          "whole suite; samples/suite holds the short ones).")] = DEFAULT_SUITE,
    output_dir: Annotated[Path, typer.Option("--output-dir", "-o", help="Outputs, cache and eval.json.")]
    = Path("out/eval"),
    config: ConfigOpt = None,
    vs: Annotated[Path | None, typer.Option("--vs", help="A second config, run on the same episodes and "
                                            "shown beside the first.")] = None,
    split: Annotated[str, typer.Option("--split", help="tune, test, meetings or all.")] = "all",
    only: Annotated[list[str] | None, typer.Option("--only", help="Only this episode (repeat).")] = None,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Reuse transcripts and diarizations "
                                        "computed with the same options.")] = True,
    quiet: QuietOpt = False,
) -> None:
    """Run the pipeline over SUITE and print WER, deletions, invented words, speakers, names, DER, RTF."""
    from rich.console import Console
    from rich.table import Table

    from pipeline import config as cfg
    from pipeline.display import terminal_display
    from pipeline.evaluation import report
    from pipeline.evaluation.run import Candidate
    from pipeline.evaluation.run import evaluate as run_eval
    from pipeline.evaluation.suite import MEETINGS, load_suite

    setup_logging(quiet)
    if split not in ("tune", "test", MEETINGS, "all"):
        raise typer.BadParameter(f"tune, test, {MEETINGS} or all", param_hint="'--split'")
    candidates = [Candidate(_label(config, "default"), cfg.load(config), str(config or "default"))]
    if vs is not None:
        candidates.append(Candidate(_label(vs, "vs"), cfg.load(vs), str(vs)))
    if len({c.label for c in candidates}) < len(candidates):
        candidates[1] = Candidate(candidates[1].label + "-vs", candidates[1].config, candidates[1].source)
    episodes = load_suite(suite, split=split, only=tuple(only or ()))
    console = Console(width=200)

    def show(label, found) -> None:
        if not quiet:
            console.print("  ".join(report.row(label, found)), soft_wrap=True)

    with terminal_display(quiet) as display:
        results = run_eval(episodes, candidates, output_dir, cache=cache, display=display, on_score=show)
    doc = report.report_dict(suite, candidates, results)
    path = report.write_report(doc, output_dir)
    if not quiet:
        table = Table(title=f"pipeline eval: {suite} ({len(episodes)} episodes)")
        for column in ("episode", "config", *(name for name, _ in report.COLUMNS)):
            table.add_column(column)
        for n in range(len(episodes)):
            for c in candidates:
                table.add_row(*report.row(c.label, results[c.label][n]))
        for row in report.total_rows(results):
            table.add_row(*row)
        console.print(table)
        typer.echo(f"wrote {path}", err=True)


def _label(path: Path | None, fallback: str) -> str:
    return Path(path).stem if path is not None else fallback
