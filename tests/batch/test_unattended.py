"""``pipeline batch`` from cron: every failure recorded and retired, quiet means quiet, a bad
config refused before any work, an upload still being written left for the next run.

The same fakes as test_batch.py (tests/fakes.py): real decoding, writers and markers; fake model
stages that record each load. "Ticks" are consecutive runs, as cron makes them.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import test_batch
from fakes import FOUND_ONLY
from permissions import unreadable
from test_batch import TESTS, invoke, put, summary_of

from pipeline.errors import ConfigError

calls, clips, config_file = test_batch.calls, test_batch.clips, test_batch.config_file  # the same fixtures


def quiet_tick(*args):
    """One cron tick: ``--quiet``; the result, with stdout and stderr apart."""
    return invoke(*args, "--quiet")


def failed_json(out: Path, key: str) -> dict:
    return json.loads((out / key / "failed.json").read_text())


def logs(out: Path) -> list[Path]:
    return sorted((out / "logs").glob("*.log"))


def truncate(src: Path, dest: Path, fraction: float = 0.3) -> Path:
    data = src.read_bytes()
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data[: int(len(data) * fraction)])
    return dest


# Failures are recorded and retired, whenever they are found
# -----------------------------------------------------------


def test_an_unreadable_and_a_truncated_file_are_retired_after_three_ticks(tmp_path, clips, config_file, calls):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    put(clips[0], inbox / "good.wav")
    locked = put(clips[1], inbox / "locked.wav")
    truncated = truncate(clips[3], inbox / "truncated.mp3")  # 30 % of a 4 s MP3
    with unreadable(locked):
        for tick in (1, 2, 3):
            result = quiet_tick(inbox, "-o", out, "-c", config_file)
            assert result.exit_code == 1, result.output
            assert result.stdout == ""
            errors = result.stderr.splitlines()
            assert len(errors) == 2, errors
            assert f"{locked}: cannot be read (Permission denied)" in errors[0]
            assert f"{truncated}: ends early: 1.1 s decoded of the 4.1 s its header declares" in errors[1]
            early, late = failed_json(out, "locked"), failed_json(out, "truncated")
            assert early["attempts"] == late["attempts"] == tick
            assert early["before_processing"] and early["identity"].startswith("stat:")
            assert early["audio_sha256"] is None and late["audio_sha256"] and not late["before_processing"]
        assert len(logs(out)) == 3
        assert calls.count("load") == 1, "the retried truncated file is decoded before any model loads"

        result = quiet_tick(inbox, "-o", out, "-c", config_file)
        assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
        assert len(logs(out)) == 3, "a tick with nothing new leaves no log"
        summary = summary_of(out)
        assert summary["counts"]["gave up"] == 2 and summary["skipped"] == ["good"]
        assert all("--retry-failed" in f["reason"] for f in summary["failed"])

    result = quiet_tick(inbox, "-o", out, "-c", config_file)  # chmod fixed it: its identity changed
    assert result.exit_code == 0 and summary_of(out)["done"] == ["locked"]
    assert not (out / "locked" / "failed.json").exists()
    put(clips[3], truncated)  # the upload, complete this time
    assert quiet_tick(inbox, "-o", out, "-c", config_file).exit_code == 0
    assert summary_of(out)["done"] == ["truncated"]


def test_manifest_lines_that_fail_before_processing_are_retired(tmp_path, clips, config_file, calls):
    d, out = tmp_path / "lists", tmp_path / "out"
    for name in ("a", "b", "c"):
        put(clips[0], d / "audio" / f"{name}.wav")
    rows = [["audio", "reference", "min_speakers", "max_speakers"],
            ["audio/a.wav", "", "", ""],
            ["audio/missing.wav", "", "", ""],
            ["audio/b.wav", "audio/missing.txt", "", ""],
            ["audio/c.wav", "", "3", "2"],
            ["audio/d.wav", "", "", "", "a field too many"]]
    manifest = d / "episodes.csv"
    with open(manifest, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    for _ in range(3):
        result = quiet_tick("--manifest", manifest, "-o", out, "-c", config_file)
        assert result.exit_code == 1 and result.stdout == ""
        assert len(result.stderr.splitlines()) == 4, result.stderr
    reasons = [f["reason"] for f in summary_of(out)["failed"]]
    assert reasons == [f"{d / 'audio' / 'missing.wav'}: no such file",
                       f"{d / 'audio' / 'missing.txt'}: cannot read the reference (No such file or directory)",
                       "episodes.csv line 5: diarization: min_speakers (3) is greater than max_speakers (2)",
                       "episodes.csv line 6: more fields than the header has (4)"]
    for key in ("audio/missing", "audio/b", "<episodes.csv line 5>", "<episodes.csv line 6>"):
        assert failed_json(out, key)["attempts"] == 3, key
    result = quiet_tick("--manifest", manifest, "-o", out, "-c", config_file)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert summary_of(out)["counts"]["gave up"] == 4

    put(clips[1], d / "audio" / "missing.wav")  # what was missing arrives, a line is corrected
    rows[4][2] = "1"
    with open(manifest, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    result = quiet_tick("--manifest", manifest, "-o", out, "-c", config_file)
    assert result.exit_code == 0, result.stderr
    summary = summary_of(out)
    assert summary["done"] == ["audio/missing", "audio/c"] and summary["counts"]["gave up"] == 2


def test_a_manifest_hint_out_of_range_names_its_line(tmp_path, clips, config_file, calls):
    put(clips[0], tmp_path / "a.wav")
    (tmp_path / "m.jsonl").write_text('{"audio": "a.wav", "num_speakers": 2.5}\n'
                                      '{"audio": "a.wav", "max_speakers": 0}\n')
    result = invoke("--manifest", tmp_path / "m.jsonl", "-o", tmp_path / "out", "-c", config_file)
    assert result.exit_code == 1
    assert [f["reason"] for f in summary_of(tmp_path / "out")["failed"]] == [
        "m.jsonl line 1: diarization.num_speakers: Input should be a valid integer (got 2.5)",
        "m.jsonl line 2: diarization.max_speakers: Input should be greater than or equal to 1 (got 0)"]


def test_a_manifest_hint_that_contradicts_the_command_line_names_the_line(tmp_path, clips, config_file, calls):
    put(clips[0], tmp_path / "a.wav")
    (tmp_path / "m.csv").write_text("audio,num_speakers\na.wav,5\n")
    result = invoke("--manifest", tmp_path / "m.csv", "-o", tmp_path / "out", "-c", config_file,
                    "--max-speakers", "2")
    assert result.exit_code == 1
    assert summary_of(tmp_path / "out")["failed"][0]["reason"] == (
        "m.csv line 2: diarization: num_speakers (5) is outside min_speakers/max_speakers")


# An upload still being written
# -----------------------------


def test_an_upload_that_grows_is_left_for_the_next_tick(tmp_path, clips, config_file, calls, monkeypatch):
    from pipeline.stages import diarize

    inbox, out = tmp_path / "inbox", tmp_path / "out"
    put(clips[0], inbox / "a.wav")
    growing = put(clips[1], inbox / "b.wav")
    fake = diarize.diarize

    def diarize_and_upload(pipeline, audio, options, *, hook=None):
        with open(growing, "ab") as f:  # b.wav grows while a.wav (then b.wav itself) is processed
            f.write(bytes(3200))
        return fake(pipeline, audio, options, hook=hook)

    monkeypatch.setattr(diarize, "diarize", diarize_and_upload)
    result = quiet_tick(inbox, "-o", out, "-c", config_file)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    summary = summary_of(out)
    assert summary["done"] == ["a"] and summary["counts"]["waiting"] == 1
    assert summary["failed"] == []
    assert not (out / "b" / "failed.json").exists() and not (out / "b" / "done.json").exists()

    result = quiet_tick(inbox, "-o", out, "-c", config_file)  # grows while processed: waiting again
    assert result.exit_code == 0 and summary_of(out)["counts"]["waiting"] == 1
    assert "changed since this run found it" in summary_of(out)["episodes"][1]["reason"]
    monkeypatch.setattr(diarize, "diarize", fake)
    assert quiet_tick(inbox, "-o", out, "-c", config_file).exit_code == 0
    assert summary_of(out)["done"] == ["b"]


# Usage and config errors: exit code 2 before any work
# ----------------------------------------------------


@pytest.mark.parametrize("yaml, key", [
    ("asr: {beam_size: five}", "asr.beam_size"),
    ("diarization: {step: fast}", "diarization.step"),
    ("run: {parallel: 'no'}", "run.parallel"),
    ("output: {formats: txt}", "output.formats"),
    ("diarization: {step: 0}", "diarization.step"),
    ("diarization: {clustering_threshold: -5}", "diarization.clustering_threshold"),
    ("diarization: {min_speakers: 3, max_speakers: 2}", "min_speakers (3) is greater than max_speakers (2)"),
    ("asr: {model: tinyy}", "asr.model: unknown Whisper model 'tinyy'"),
])
def test_a_bad_config_stops_the_batch_before_the_first_episode(tmp_path, clips, calls, yaml, key):
    put(clips[0], tmp_path / "inbox" / "a.wav")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml + "\n")
    result = quiet_tick(tmp_path / "inbox", "-o", tmp_path / "out", "-c", bad)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {bad}: ") and key in result.stderr
    assert calls == [] and not (tmp_path / "out").exists(), "no model loaded, no failed.json, nothing written"


def test_an_unknown_model_on_the_command_line_is_a_usage_error(tmp_path, clips, config_file, calls):
    put(clips[0], tmp_path / "inbox" / "a.wav")
    result = quiet_tick(tmp_path / "inbox", "-o", tmp_path / "out", "-c", config_file, "--model", "tinyy")
    assert result.exit_code == 2 and "command line: asr.model: unknown Whisper model 'tinyy'" in result.stderr
    assert "offline models: tiny.en, base" in result.stderr
    assert calls == [] and not (tmp_path / "out").exists()


def test_a_config_error_found_when_the_models_load_is_exit_code_2(tmp_path, clips, config_file, calls, monkeypatch):
    from pipeline.stages import asr

    def no_gpu(options, store=None, workers=1):
        raise ConfigError("asr.device is cuda, but torch sees no CUDA GPU")

    monkeypatch.setattr(asr, "load_model", no_gpu)
    put(clips[0], tmp_path / "inbox" / "a.wav")
    result = quiet_tick(tmp_path / "inbox", "-o", tmp_path / "out", "-c", config_file)
    assert result.exit_code == 2 and "asr.device is cuda" in result.stderr
    assert not (tmp_path / "out" / "a").exists(), "no episode is blamed for the config"


def test_a_csv_manifest_without_an_audio_column_is_a_usage_error(tmp_path, config_file, calls):
    (tmp_path / "m.csv").write_text("file,reference\na.wav,\n")
    result = quiet_tick("--manifest", tmp_path / "m.csv", "-o", tmp_path / "out", "-c", config_file)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'm.csv'}: the CSV header has no 'audio' column")
    assert not (tmp_path / "out" / "summary.json").exists() and not list((tmp_path / "out").rglob("failed.json"))


# What cron sees
# --------------


def cron_tick(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``pipeline batch ARGS --quiet`` as cron runs it: its own session, no terminal, no stdin;
    the fake model stages installed."""
    harness = (f"import sys; sys.path[:0] = [{str(TESTS.parent)!r}, {str(TESTS.parents[1])!r}]; import fakes; "
               "fakes.install_fakes(); from pipeline.cli import app; app(sys.argv[1:], prog_name='pipeline')")
    return subprocess.run([sys.executable, "-c", harness, "batch", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, start_new_session=True, timeout=300)


def test_a_quiet_batch_that_works_prints_nothing(tmp_path, clips, config_file):
    """Third parties' prints and warnings (the fake diarization prints pyannote's "Found only...",
    asked for 5 speakers) and a manifest's unknown key are warnings in the log, not output."""
    put(clips[0], tmp_path / "a.wav")
    (tmp_path / "m.csv").write_text("audio,notes\na.wav,first\n")
    out = tmp_path / "out"
    args = ("--manifest", str(tmp_path / "m.csv"), "-o", str(out), "-c", str(config_file), "--num-speakers", "5")
    proc = cron_tick(*args, "--quiet", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    log = logs(out)[0].read_text()
    assert f"WARNING pipeline.thirdparty: {FOUND_ONLY}\n" in log, log
    assert "WARNING py.warnings: " in log and "fake diarization: asked for 5 speakers" in log
    assert "WARNING pipeline.batch.inbox: m.csv line 2: ignoring unknown key 'notes'" in log

    proc = cron_tick(*args, "--force", cwd=tmp_path)  # without --quiet: the results on stdout, only them
    assert proc.returncode == 0 and proc.stdout.splitlines()[0].startswith("done     a  (")
    assert len(proc.stdout.splitlines()) == 2 and "Found only" not in proc.stdout
    assert FOUND_ONLY in proc.stderr and "ignoring unknown key 'notes'" in proc.stderr


def test_done_lines_are_printed_when_summary_json_cannot_be_written(tmp_path, clips, config_file, calls):
    put(clips[0], tmp_path / "inbox" / "a.wav")
    out = tmp_path / "out"
    (out / "summary.json").mkdir(parents=True)  # as good as a full disk for the rename
    (out / "summary.json" / "keep").write_text("")
    result = invoke(tmp_path / "inbox", "-o", out, "-c", config_file)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].startswith("done     a  (") and "1 done" in result.stdout
    assert f"{out / 'summary.json'}: cannot write" in result.stderr
    assert (out / "a" / "done.json").exists()


def test_the_unreadable_helper_works_here(tmp_path):
    path = tmp_path / "x"
    path.write_text("x")
    with unreadable(path), pytest.raises(PermissionError):
        path.read_text()
    assert path.read_text() == "x"
