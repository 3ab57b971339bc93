"""``pipeline voices list | forget | enroll``: messages and exit codes (no model is loaded here)."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.types import RunResult, to_dict
from pipeline.voices import VoiceLibrary
from pipeline.voices.prints import VoicePrint, unit

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def library_with(path, *names):
    rng = np.random.default_rng(0)
    with VoiceLibrary(path) as lib:
        lib.enroll("a" * 64, "/in/ep1.mp3", {n: VoicePrint(unit(rng.normal(size=(2, 192))), 8.0) for n in names})
    return path


def test_list_and_forget(tmp_path):
    path = tmp_path / "voices.sqlite"
    result = invoke("voices", "list", "--library", path)
    assert result.exit_code == 0 and "no voice library yet" in result.output and not path.exists()
    library_with(path, "VANCE", "OKAFOR")
    result = invoke("voices", "list", "--library", path)
    assert result.exit_code == 0, result.output
    assert "2 voice(s), embedding model campplus" in result.output
    assert "VANCE\t8.0 s\t2 exemplars\t1 episode(s): ep1.mp3" in result.output
    result = invoke("voices", "forget", "NOBODY", "--library", path)
    assert result.exit_code == 1 and "no voice named 'NOBODY' (enrolled: OKAFOR, VANCE)" in result.output
    assert invoke("voices", "forget", "VANCE", "--library", path).exit_code == 0
    assert "VANCE" not in invoke("voices", "list", "--library", path).output
    assert invoke("voices", "forget", "X", "--library", tmp_path / "none.sqlite").exit_code == 1


def test_the_default_library_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_VOICES", str(library_with(tmp_path / "env.sqlite", "REYES")))
    assert "REYES" in invoke("voices", "list").output


def result_json(tmp_path, name, **fields):
    result = RunResult(audio=str(tmp_path / "gone.mp3"), audio_sha256="b" * 64, duration=1.0, language="en",
                       words=(), turns=(), speakers=("SPEAKER_00",), **fields)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(to_dict(result)))
    return path


def test_enroll_says_what_it_cannot_do(tmp_path):
    path = library_with(tmp_path / "voices.sqlite", "VANCE")
    unnamed = result_json(tmp_path, "unnamed")
    named = result_json(tmp_path, "named", speaker_names={"SPEAKER_00": "VANCE"})
    result = invoke("voices", "enroll", unnamed, named, "--library", path)
    assert result.exit_code == 1
    assert f"{unnamed}: no speaker named by a transcript; nothing to enroll" in result.output
    assert "gone.mp3: not found (the audio of" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert invoke("voices", "enroll", bad, "--library", path).exit_code == 1
    other = tmp_path / "other.sqlite"
    VoiceLibrary(other).close()
    import sqlite3

    db = sqlite3.connect(other)
    db.execute("UPDATE meta SET value = 'x' WHERE key = 'model_sha256'")
    db.commit()
    result = invoke("voices", "enroll", named, "--library", other)
    assert result.exit_code == 1 and "cannot be compared" in result.output
