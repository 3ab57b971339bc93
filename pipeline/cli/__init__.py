"""The ``pipeline`` command: thin Typer commands over the library.

Commands read the config, call the library, write outputs, and turn the project's exceptions
into a one-line message on stderr and a non-zero exit code (2 for usage and config errors).
Heavy modules (torch, Whisper, pyannote) are imported inside the commands, so ``--help`` and
``models list`` answer at once.
"""

from __future__ import annotations

import functools
import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pipeline import __version__
from pipeline.config import FORMATS
from pipeline.errors import PipelineError, UnknownModelError

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


Format = StrEnum("Format", {name: name for name in FORMATS})


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
FormatOpt = Annotated[list[Format] | None, typer.Option("--format", "-f", help="Output format; repeat for "
                                                       "several. Default: all.")]
ReferenceOpt = Annotated[Path | None, typer.Option("--reference", "-r", help="Published transcript (scraped "
                                                   "page text, HTML, NAME: lines or STM) to name speakers "
                                                   "and check against.")]
RttmOpt = Annotated[Path | None, typer.Option("--rttm", help="Reference RTTM for DER/JER.")]
VoicesOpt = Annotated[Path | None, typer.Option("--voices", help="Voice library (SQLite; created when missing): "
                                                "speakers no transcript names are named from it, and those a "
                                                "transcript names are enrolled into it.")]


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
    """Log lines on stderr (only errors with ``quiet``); third parties' warnings among them."""
    level = logging.ERROR if quiet else logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("pipeline").setLevel(level)
    logging.getLogger("py.warnings").setLevel(level)
    logging.captureWarnings(False)  # (re)install: someone may have replaced warnings.showwarning since
    logging.captureWarnings(True)


def load_config(config: Path | None, *, model=None, engine=None, device=None, language=None,
                num=None, min_=None, max_=None, formats=None):
    """The config file (or profile) with the command line's flags applied; validated as one,
    the Whisper model's name included, before any work (a ConfigError, exit code 2)."""
    from pipeline import config as cfg
    from pipeline.weights import store

    conf = cfg.load(config)
    conf = cfg.override(conf, "asr", model=model, engine=engine.value if engine else None,
                        device=device.value if device else None, language=language)
    conf = cfg.override(conf, "diarization", device=device.value if device else None,
                        num_speakers=num, min_speakers=min_, max_speakers=max_)
    conf = cfg.override(conf, "output", formats=tuple(f.value for f in formats) if formats else None)
    try:
        store.check_whisper_name(conf.asr.model, conf.models)
    except UnknownModelError as e:
        raise UnknownModelError(f"{'command line' if model else cfg.resolve_path(config)}: asr.model: {e}") from None
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


def main() -> None:
    app()


# the commands register themselves on ``app`` when their modules are imported
from pipeline.cli import batch as _batch  # noqa: E402,F401
from pipeline.cli import episode as _episode  # noqa: E402,F401
from pipeline.cli import evaluate as _evaluate  # noqa: E402,F401
from pipeline.cli import tools as _tools  # noqa: E402,F401
from pipeline.cli import voices as _voices  # noqa: E402,F401
