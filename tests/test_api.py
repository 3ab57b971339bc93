"""The public API: ``import pipeline`` and run an episode; nothing heavy at import."""

from __future__ import annotations

import subprocess
import sys

import pipeline


def test_all_names_resolve_and_nothing_else_is_promised():
    assert sorted(pipeline.__all__) == sorted(set(pipeline.__all__))
    for name in pipeline.__all__:
        assert hasattr(pipeline, name), name
    for name in ("Job", "process", "Models", "Outcome", "load_config", "PipelineConfig", "RunResult"):
        assert name in pipeline.__all__


def test_import_loads_no_engine_and_changes_no_environment():
    code = ("import os, sys; before = dict(os.environ); import pipeline; "
            "heavy = [m for m in ('torch', 'numpy', 'whisper', 'faster_whisper', 'ctranslate2', 'pyannote.audio',"
            " 'ray') if m in sys.modules]; print(heavy, dict(os.environ) == before)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] True"


def test_a_job_reads_its_options(tmp_path):
    job = pipeline.Job(tmp_path / "show.mp3", tmp_path / "out", hints={"num_speakers": 3}, source="list line 2")
    assert job.files.output("txt") == tmp_path / "out" / "show.txt"
    assert job.configure(pipeline.load_config()).diarization.num_speakers == 3
    bad = pipeline.Job(tmp_path / "show.mp3", tmp_path / "out", hints={"num_speakers": 0}, source="list line 2")
    try:
        bad.configure(pipeline.load_config())
    except pipeline.ConfigError as e:
        assert str(e).startswith("list line 2: diarization.num_speakers")
    else:
        raise AssertionError("a bad hint must be a ConfigError")
