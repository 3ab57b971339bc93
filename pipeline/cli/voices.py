"""``pipeline voices enroll | list | forget``: the voice library of recurring speakers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli import ConfigOpt, DeviceOpt, QuietOpt, app, handle_errors, load_config, setup_logging

voices_app = typer.Typer(help="The voice library: speakers that published transcripts named, to name "
                         "them in episodes that have none (run/batch --voices).", no_args_is_help=True)
app.add_typer(voices_app, name="voices")

LibraryOpt = Annotated[Path | None, typer.Option("--library", "-L", help="The voice library (SQLite); default: "
                                                 "$PIPELINE_VOICES, else ~/.local/share/radio-pipeline/voices.sqlite.")]


def default_library() -> Path:
    """``$PIPELINE_VOICES``, else ``$XDG_DATA_HOME/radio-pipeline/voices.sqlite`` (folder created)."""
    if os.environ.get("PIPELINE_VOICES"):
        return Path(os.environ["PIPELINE_VOICES"]).expanduser()
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    folder = data / "radio-pipeline"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "voices.sqlite"


@voices_app.command("enroll")
@handle_errors
def voices_enroll(
    results: Annotated[list[Path], typer.Argument(help="Result JSON files written by `pipeline run` "
                                                  "with --reference (their speakers named by a transcript).")],
    library: LibraryOpt = None,
    config: ConfigOpt = None,
    device: DeviceOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Enroll the speakers a published transcript named: a voice print of each from their solo speech.

    Each result's audio is decoded again (the path the result records, or beside the JSON); an
    episode enrolled before is left as it is. Exit code 1 when a result could not be enrolled.
    """
    from pipeline.errors import PipelineError
    from pipeline.jobs import Models
    from pipeline.voices import VoiceLibrary, enroll

    setup_logging(quiet)
    conf = load_config(config, device=device)
    models, failed = Models(conf), 0
    with VoiceLibrary(library or default_library()) as lib:
        for path in results:
            try:
                line = _enroll_one(path, lib, models, conf, enroll)
            except PipelineError as e:
                typer.echo(f"error: {e}", err=True)
                failed += 1
                continue
            if not quiet:
                typer.echo(f"{path}: {line}")
    if failed:
        raise typer.Exit(1)


def _enroll_one(path: Path, lib, models, conf, enroll) -> str:
    from pipeline.outputs import writers

    result = writers.read_json(path)
    if lib.has(result.audio_sha256):
        return "already enrolled"
    if not result.speaker_names:
        return "no speaker named by a transcript; nothing to enroll"
    done = enroll(result, _audio_of(result, path), models, lib, conf.voices)
    parts = [f"enrolled {name} ({seconds:.0f} s)" for name, seconds in sorted(done.enrolled.items())]
    parts += [f"not {name}: {why}" for name, why in sorted(done.skipped.items())]
    return "; ".join(parts) or "nothing to enroll"


def _audio_of(result, json_path: Path):
    """The decoded audio a result was made from: its recorded path, else that name beside the JSON."""
    from pipeline.errors import AudioError
    from pipeline.stages import audio

    recorded = Path(result.audio)
    candidates = [recorded] + ([json_path.parent / recorded.name] if recorded.name else [])
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise AudioError(recorded, f"not found (the audio of {json_path}; also looked in {json_path.parent})")
    decoded = audio.load(found)
    if decoded.sha256 != result.audio_sha256:
        raise AudioError(found, f"is not the audio {json_path} was made from (its SHA256 differs)")
    return decoded


@voices_app.command("list")
@handle_errors
def voices_list(library: LibraryOpt = None) -> None:
    """Every enrolled name: the seconds of solo speech and the episodes its print rests on."""
    from pipeline.voices import VoiceLibrary

    path = library or default_library()
    if not path.exists():
        typer.echo(f"{path}: no voice library yet (0 voices)")
        return
    with VoiceLibrary(path) as lib:
        found = lib.voices()
        model = lib.model
    typer.echo(f"{path}: {len(found)} voice(s), embedding model {model.name} ({model.sha256[:12]}...)")
    for v in found:
        episodes = ", ".join(Path(e).name for e in v.episodes)
        typer.echo(f"{v.name}\t{v.seconds:.1f} s\t{v.exemplars} exemplars\t{len(v.episodes)} episode(s): {episodes}")


@voices_app.command("forget")
@handle_errors
def voices_forget(
    name: Annotated[str, typer.Argument(help="The name to remove, as `voices list` shows it.")],
    library: LibraryOpt = None,
) -> None:
    """Remove a name's voice print. Its episodes stay known: they are not enrolled again."""
    from pipeline.voices import VoiceLibrary

    path = library or default_library()
    if not path.exists():
        typer.echo(f"error: {path}: no voice library", err=True)
        raise typer.Exit(1)
    with VoiceLibrary(path) as lib:
        if not lib.forget(name):
            known = ", ".join(v.name for v in lib.voices()) or "none"
            typer.echo(f"error: {path}: no voice named {name!r} (enrolled: {known})", err=True)
            raise typer.Exit(1)
    typer.echo(f"forgot {name}")
