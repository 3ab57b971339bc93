"""The CLI: exit codes, one-line errors naming the file, nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_help_and_version():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("run", "transcribe", "diarize", "check", "models"):
        assert command in result.output
    assert invoke("--version").output.startswith("pipeline ")


def test_help_imports_no_heavy_module():
    code = ("import sys; from pipeline.cli import app; "
            "heavy = [m for m in ('torch', 'numpy', 'whisper', 'faster_whisper', 'pyannote.audio') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_models_list_shows_every_model():
    result = invoke("models", "list")
    assert result.exit_code == 0
    for name in ("tiny.en", "base", "segmentation", "campplus"):
        assert name in result.output


@pytest.mark.parametrize("kind, message", [
    ("missing", "no such file"),
    ("empty", "is empty"),
    ("text_mp3", "not a readable audio file"),
    ("short", "too short"),
])
def test_bad_audio_is_one_line_and_exit_1(media, tmp_path, kind, message):
    out = tmp_path / "out"
    result = invoke("run", media[kind], "-o", out)
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert str(media[kind]) in lines[0]
    assert "Traceback" not in result.output
    assert not any(p.is_file() for p in out.rglob("*")), "nothing may be written for a bad input"


def test_config_typo_unknown_format_and_contradictory_hints(sample_wav, tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text("diarization:\n  num_speaker: 2\n")
    result = invoke("run", sample_wav, "-o", tmp_path / "o", "--config", bad)
    assert result.exit_code == 2 and "num_speaker" in result.output and str(bad) in result.output
    result = invoke("run", sample_wav, "-o", tmp_path / "o", "--format", "docx")
    assert result.exit_code == 2 and "'docx' is not one of" in result.output
    result = invoke("run", sample_wav, "-o", tmp_path / "o", "--min-speakers", "3", "--max-speakers", "2")
    assert result.exit_code == 2 and "greater than max_speakers" in result.output
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_unwritable_output_directory(sample_wav, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = invoke("run", sample_wav, "-o", blocker / "out")
    assert result.exit_code == 1
    assert "cannot create output directory" in result.output and str(blocker / "out") in result.output


@pytest.mark.slow
def test_transcribe_command_writes_json_and_text(sample_wav, tmp_path, require_models):
    result = invoke("transcribe", sample_wav, "-o", tmp_path, "--model", "tiny.en", "--quiet")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "sample.transcript.json").read_text())
    assert data["model"] == "tiny.en" and data["segments"]
    assert "Chicago" in (tmp_path / "sample.transcript.txt").read_text()
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.slow
def test_diarize_command_writes_rttm_and_json(sample_wav, tmp_path, require_models):
    from pyannote.database.util import load_rttm

    result = invoke("diarize", sample_wav, "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert "2 speakers" in result.output
    annotation = load_rttm(tmp_path / "sample.diarization.rttm")["sample"]
    assert len(annotation.labels()) == 2
    data = json.loads((tmp_path / "sample.diarization.json").read_text())
    assert len(data["speakers"]) == 2 and data["exclusive"]
