"""The CLI: exit codes, one-line errors naming the file, nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import SAMPLE_RTTM
from fakes import FOUND_ONLY, fakes
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def calls(monkeypatch) -> list:
    """The model stages replaced by fakes (tests/fakes.py); each model load is recorded."""
    recorded: list = []
    for name, (module, fake) in fakes(calls=recorded).items():
        monkeypatch.setattr(module, name, fake)
    return recorded


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


@pytest.mark.parametrize("yaml, key", [
    ("asr: {beam_size: five}", "asr.beam_size: Input should be a valid integer (got 'five')"),
    ("diarization: {step: fast}", "diarization.step: Input should be a valid number (got 'fast')"),
    ("run: {parallel: 'no'}", "run.parallel: Input should be a valid boolean (got 'no')"),
    ("output: {formats: txt}", "output.formats: Input should be a valid tuple (got 'txt')"),
    ("diarization: {step: 0}", "diarization.step: Input should be greater than 0 (got 0)"),
    ("diarization: {clustering_threshold: -5}", "diarization.clustering_threshold: Input should be greater"),
    ("asr: {model: tinyy}", "asr.model: unknown Whisper model 'tinyy'"),
    ("asr: {language: klingon}", "asr.language: 'klingon' is not a language Whisper knows"),
])
def test_a_bad_config_is_exit_2_naming_file_and_key_before_any_work(sample_wav, tmp_path, calls, yaml, key):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml + "\n")
    result = invoke("run", sample_wav, "-o", tmp_path / "out", "-c", bad)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {bad}: {key}") and len(result.stderr.splitlines()) == 1
    assert calls == [] and not (tmp_path / "out").exists()


def test_usage_errors_are_exit_2(sample_wav, tmp_path, calls):
    result = invoke("run", sample_wav, "-o", tmp_path / "out", "--model", "tinyy")
    assert result.exit_code == 2
    assert "command line: asr.model: unknown Whisper model 'tinyy'" in result.stderr
    assert "offline models: tiny.en, base" in result.stderr
    assert invoke("run", sample_wav, "-o", tmp_path / "out", "--format", "docx").exit_code == 2
    assert calls == [] and not (tmp_path / "out").exists()
    for fine in ("Systran/faster-whisper-small", "large-v3", "tiny.en", str(tmp_path)):  # hub ids, folders
        assert invoke("transcribe", tmp_path / "missing.wav", "-o", tmp_path / "out", "--model", fine).exit_code == 1


@pytest.mark.parametrize("kind", ["text_mp3", "truncated_mp3", "missing"])
def test_a_failed_run_leaves_no_folder(media, tmp_path, calls, kind):
    out = tmp_path / "new" / "out"
    result = invoke("run", media[kind], "-o", out)
    assert result.exit_code == 1 and str(media[kind]) in result.stderr
    assert not (tmp_path / "new").exists()


def test_rttm_is_read_before_any_work_and_used_alone(sample_wav, tmp_path, calls):
    bad = tmp_path / "bad.rttm"
    bad.write_text("SPEAKER sample 1 zero 2.0 <NA> <NA> A <NA> <NA>\n")
    out = tmp_path / "out"
    result = invoke("run", sample_wav, "-o", out, "--rttm", bad)
    assert result.exit_code == 1 and f"{bad}:1: not an RTTM SPEAKER line" in result.stderr
    assert calls == [] and not out.exists(), "no model loaded, nothing written"
    bad.write_text("")
    result = invoke("run", sample_wav, "-o", out, "--rttm", bad)
    assert result.exit_code == 1 and "the RTTM has no SPEAKER lines" in result.stderr and not out.exists()

    result = invoke("run", sample_wav, "-o", out, "--rttm", SAMPLE_RTTM, "-f", "txt")  # no --reference
    assert result.exit_code == 0, result.output
    check = json.loads((out / "sample.check.json").read_text())
    assert 0.0 <= check["der"] < 1.0 and check["jer"] is not None and check["wer"] is None
    assert "DER" in result.stdout and "RTTM only" in result.stdout
    assert (out / "sample.check.html").is_file()


def test_third_party_prints_go_to_the_log_not_stdout(sample_wav, tmp_path, calls, caplog):
    result = invoke("run", sample_wav, "-o", tmp_path, "--num-speakers", "5", "-f", "txt")
    assert result.exit_code == 0 and "Found only" not in result.stdout
    assert result.stdout.startswith("SPEAKER_00: w0 w1")
    logged = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert ("pipeline.thirdparty", "WARNING", FOUND_ONLY) in logged
    assert any(name == "py.warnings" and "fake diarization: asked for 5 speakers" in m for name, _, m in logged)
    result = invoke("run", sample_wav, "-o", tmp_path, "--num-speakers", "5", "--quiet")
    assert (result.exit_code, result.stdout) == (0, "")


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
