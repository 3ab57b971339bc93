"""``pipeline batch``: what is new gets done, what is done is skipped, nothing is lost or half-made.

Most tests run the real CLI, real decoding (ffmpeg) and the real writers, alignment and check
report, with the two model stages replaced by fast fakes (:func:`fakes`), so that what is tested
is the batch's own logic: discovery, idempotence, isolation, locking and crash safety. The kill
test runs ``pipeline batch`` in a subprocess with the same fakes and ``kill -9`` s it mid-episode.
One slow test runs the real models (tiny.en) on short cuts of pyannote's sample.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SAMPLE_STM, SAMPLE_WAV, ffmpeg
from fakes import fakes
from typer.testing import CliRunner

from pipeline import batch
from pipeline.cli import app
from pipeline.outputs import writers
from pipeline.stages.audio import file_sha256

TESTS = Path(__file__).resolve().parent
FAST_CONFIG = """\
asr: {model: tiny.en, beam_size: 1, device: cpu}
diarization: {device: cpu}
output: {formats: [txt, json, rttm]}
"""


@pytest.fixture
def calls(monkeypatch) -> list:
    """Fake models installed; the list records each load_models call and diarized file.

    (only the first load of a Models object loads anything; test_real_models_batch counts the
    real loads.)
    """
    recorded: list = []
    for name, (module, fake) in fakes(calls=recorded).items():
        monkeypatch.setattr(module, name, fake)
    return recorded


# Inputs
# ------


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> list[Path]:
    """Three 4 s WAV cuts of the sample, and one MP3."""
    d = tmp_path_factory.mktemp("clips")
    paths = []
    for i, start in enumerate((6, 12, 18)):
        paths.append(d / f"clip{i}.wav")
        ffmpeg("-i", str(SAMPLE_WAV), "-ss", str(start), "-t", "4", str(paths[-1]))
    paths.append(d / "clip.mp3")
    ffmpeg("-i", str(SAMPLE_WAV), "-ss", "6", "-t", "4", "-b:a", "32k", str(paths[-1]))
    return paths


def put(src: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(src.read_bytes())
    return dest


def reference_text(words: int = 7) -> str:
    """A published transcript in ``NAME: text`` lines: the fake words of a 4 s clip."""
    half = words // 2
    return (f"ALICE: {' '.join(f'w{i}' for i in range(half))}\n\n"
            f"BOB: {' '.join(f'w{i}' for i in range(half, words))}\n")


@pytest.fixture
def inbox(tmp_path, clips) -> Path:
    """``inbox/`` with three episodes in two folders, the first with its transcript beside it."""
    d = tmp_path / "inbox"
    put(clips[0], d / "2024" / "ep1.wav")
    (d / "2024" / "ep1.txt").write_text(reference_text())
    put(clips[1], d / "2024" / "ep2.wav")
    put(clips[2], d / "2025" / "ep1.wav")  # the same stem in another folder
    return d


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "fast.yaml"
    path.write_text(FAST_CONFIG)
    return path


def invoke(*args):
    return CliRunner().invoke(app, ["batch", *(str(a) for a in args)])


def summary_of(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def assert_complete(out: Path, key: str, formats=("txt", "json", "rttm")) -> dict:
    """The episode's marker lists every output with its current hash; its JSON reads back."""
    ep_dir = out / key
    marker = json.loads((ep_dir / "done.json").read_text())
    stem = Path(key).name
    assert {f"{stem}.{f}" for f in formats} <= set(marker["outputs"])
    for name, sha in marker["outputs"].items():
        assert file_sha256(ep_dir / name) == sha, name
    assert marker["audio_sha256"] == file_sha256(marker["audio"])
    result = writers.read_json(ep_dir / f"{stem}.json")
    assert result.words and result.audio == marker["audio"]
    return marker


def tmp_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*.tmp")]


# Discovery and manifests (no models)
# -----------------------------------


def test_discover_is_recursive_sorted_and_skips_the_output_inside(tmp_path, clips):
    d = tmp_path / "in"
    for rel in ("b/z.mp3", "a/y.wav", "a/x.flac", "top.WAV", ".hidden/h.wav", "a/.part.wav", "a/notes.pdf",
                "out/a/y/y.wav", "dup/ep.mp3", "dup/ep.wav", "logs.mp3", "summary.json.wav"):
        put(clips[0], d / rel)
    (d / "a" / "y.html").write_text("<p>ALICE: hi</p>")
    (d / "a" / "y.rttm").write_text("")
    episodes = batch.discover(d, d / "out")
    assert [e.key for e in episodes] == ["a/x", "a/y", "b/z", "dup/ep.mp3", "dup/ep.wav", "logs.mp3",
                                         "summary.json.wav", "top"]
    y = episodes[1]
    assert y.audio.is_absolute() and y.reference == (d / "a" / "y.html").resolve()
    assert y.rttm == (d / "a" / "y.rttm").resolve()
    assert episodes[0].reference is None


def test_manifest_csv_and_jsonl(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "list.csv").write_text(
        "audio,reference,num_speakers,notes\n"
        "sub/a.mp3,sub/a.txt,2,first\n"
        "/abs/b.wav,,,\n"
        "c.wav,,three,\n"
        ",,,\n"
        "d.wav,,,,extra\n"
        "sub/a.mp3,,,\n"
    )
    eps = batch.read_manifest(tmp_path / "list.csv")
    assert [(e.key, bool(e.problem)) for e in eps] == [("sub/a", False), ("abs/b", False), ("<list.csv line 4>", True),
                                                      ("<list.csv line 6>", True), ("<list.csv line 7>", True)]
    assert eps[0].audio == (tmp_path / "sub" / "a.mp3").resolve() and eps[0].hints == {"num_speakers": 2}
    assert eps[0].reference == (tmp_path / "sub" / "a.txt").resolve()
    assert eps[2].problem == "list.csv line 4: diarization.num_speakers: Input should be a valid integer (got 'three')"
    assert "more fields" in eps[3].problem
    assert "list.csv line 7: " in eps[4].problem and "listed twice (first at list.csv line 2)" in eps[4].problem
    assert eps[1].line != eps[2].line, "each line's text is part of its failure's identity"

    (tmp_path / "list.jsonl").write_text(
        '{"audio": "sub/a.mp3", "max_speakers": 3}\n'
        "# a comment\n"
        '{"audio": "b.wav"\n'
        '["c.wav"]\n'
        '{"reference": "x.txt"}\n'
    )
    eps = batch.read_manifest(tmp_path / "list.jsonl")
    assert eps[0].hints == {"max_speakers": 3} and not eps[0].problem
    assert [p.problem.split(": ", 1)[1][:20] for p in eps[1:]] == [
        "not valid JSON (Expe", "expected a JSON obje", "no 'audio' path"]


# The batch, with fake models
# ---------------------------


def test_batch_then_rerun_skips_everything(inbox, tmp_path, config_file, calls):
    out = tmp_path / "out"
    result = invoke(inbox, "-o", out, "-c", config_file)
    assert result.exit_code == 0, result.output
    assert calls[0] == "load", "the batch loads the models before the first episode"
    summary = summary_of(out)
    assert summary["counts"] == {"done": 3, "skipped": 0, "failed": 0, "gave up": 0, "waiting": 0}
    assert summary["done"] == ["2024/ep1", "2024/ep2", "2025/ep1"]
    assert set(summary["stages"]) >= {"decode", "asr", "diarization", "alignment", "write"}
    marker = assert_complete(out, "2024/ep1")
    assert {"ep1.check.json", "ep1.check.html"} <= set(marker["outputs"])
    # the published transcript re-timed, in the configured formats that it has
    assert {"ep1.conformed.json", "ep1.conformed.txt"} <= set(marker["outputs"])
    assert "ep1.conformed.srt" not in marker["outputs"]
    assert marker["speakers"] == {"SPEAKER_00": "ALICE", "SPEAKER_01": "BOB"}
    assert marker["check"]["wer"] == 0.0 and summary["episodes"][0]["check"]["wer"] == 0.0
    assert "done     2024/ep1" in result.output and "WER 0.0%" in result.output
    assert marker["digest_of"]["reference"]["sha256"] == file_sha256(inbox / "2024" / "ep1.txt")
    assert_complete(out, "2024/ep2")
    assert_complete(out, "2025/ep1")
    logs = list((out / "logs").glob("batch-*.log"))
    assert len(logs) == 1 and "episode 3/3" in logs[0].read_text()

    calls.clear()
    result = invoke(inbox, "-o", out, "-c", config_file)
    assert result.exit_code == 0, result.output
    assert calls == [], "nothing to do: no model is loaded, nothing is run"
    summary = summary_of(out)
    assert summary["counts"]["done"] == 0 and summary["counts"]["skipped"] == 3
    assert summary["skipped"] == ["2024/ep1", "2024/ep2", "2025/ep1"]
    assert "3 skipped" in result.output
    assert len(list((out / "logs").glob("*.log"))) == 1, "a run with nothing to do leaves no log"


def test_changes_reprocess_what_they_touch(inbox, tmp_path, config_file, clips, calls):
    out = tmp_path / "out"
    assert invoke(inbox, "-o", out, "-c", config_file).exit_code == 0

    put(clips[0], inbox / "2024" / "ep2.wav")  # new audio content
    (inbox / "2024" / "ep1.txt").write_text(reference_text(6))  # a corrected transcript
    (out / "2025" / "ep1" / "ep1.txt").write_text("tampered\n")  # an output changed by hand
    assert invoke(inbox, "-o", out, "-c", config_file).exit_code == 0
    assert summary_of(out)["done"] == ["2024/ep1", "2024/ep2", "2025/ep1"]
    (out / "2024" / "ep2" / "done.json").unlink()  # outputs there, marker not: not done
    assert invoke(inbox, "-o", out, "-c", config_file).exit_code == 0
    assert summary_of(out)["done"] == ["2024/ep2"]

    result = invoke(inbox, "-o", out, "-c", config_file, "-f", "txt", "-f", "json")  # config change
    assert result.exit_code == 0, result.output
    assert summary_of(out)["counts"]["done"] == 3
    assert not (out / "2024" / "ep2" / "ep2.rttm").exists(), "an output no longer made is removed"
    assert_complete(out, "2024/ep2", formats=("txt", "json"))

    assert invoke(inbox, "-o", out, "-c", config_file, "-f", "txt", "-f", "json").exit_code == 0
    assert summary_of(out)["counts"]["skipped"] == 3

    txt = out / "2024" / "ep2" / "ep2.txt"  # changed, keeping its size and mtime: only --verify sees it
    st = txt.stat()
    txt.write_text(txt.read_text().replace("w", "v"))
    os.utime(txt, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert invoke(inbox, "-o", out, "-c", config_file, "-f", "txt", "-f", "json").exit_code == 0
    assert summary_of(out)["counts"]["skipped"] == 3
    assert invoke(inbox, "-o", out, "-c", config_file, "-f", "txt", "-f", "json", "--verify").exit_code == 0
    assert summary_of(out)["done"] == ["2024/ep2"]
    assert invoke(inbox, "-o", out, "-c", config_file, "-f", "txt", "-f", "json", "--force").exit_code == 0
    assert summary_of(out)["counts"]["done"] == 3


def test_a_bad_episode_is_recorded_and_the_rest_goes_on(inbox, tmp_path, config_file, clips, calls):
    (inbox / "2024" / "ep1b bad.mp3").write_text("not audio\n" * 50)
    put(clips[1], inbox / "2024" / "ep1c boom.wav")  # the fake diarization raises RuntimeError
    out = tmp_path / "out"
    result = invoke(inbox, "-o", out, "-c", config_file, "--max-attempts", "2")
    assert result.exit_code == 1, result.output
    summary = summary_of(out)
    assert summary["counts"] == {"done": 3, "skipped": 0, "failed": 2, "gave up": 0, "waiting": 0}
    reasons = {Path(f["audio"]).name: f["reason"] for f in summary["failed"]}
    assert "is not a readable audio file" in reasons["ep1b bad.mp3"]
    assert reasons["ep1c boom.wav"] == "unexpected RuntimeError: kaboom"
    log = next((out / "logs").glob("*.log")).read_text()
    assert "Traceback" in log and "kaboom" in log
    assert "Traceback" not in result.output
    assert not (out / "2024" / "ep1b bad" / "done.json").exists()
    for key in ("2024/ep1", "2024/ep2", "2025/ep1"):
        assert_complete(out, key)

    assert invoke(inbox, "-o", out, "-c", config_file, "--max-attempts", "2").exit_code == 1  # tried again
    failed = json.loads((out / "2024" / "ep1c boom" / "failed.json").read_text())
    assert failed["attempts"] == 2 and failed["reason"] == "unexpected RuntimeError: kaboom"
    result = invoke(inbox, "-o", out, "-c", config_file, "--max-attempts", "2")
    assert result.exit_code == 0, "episodes given up are reported, not retried every run"
    assert summary_of(out)["counts"] == {"done": 0, "skipped": 3, "failed": 0, "gave up": 2, "waiting": 0}
    assert "--retry-failed" in summary_of(out)["failed"][0]["reason"]
    result = invoke(inbox, "-o", out, "-c", config_file, "--max-attempts", "2", "--retry-failed")
    assert result.exit_code == 1 and summary_of(out)["counts"]["failed"] == 2


def test_a_second_run_is_refused_while_one_holds_the_lock(inbox, tmp_path, config_file, calls):
    out = tmp_path / "out"
    with batch.locked(out):
        result = invoke(inbox, "-o", out, "-c", config_file)
    assert result.exit_code == 3
    assert "another batch run is already working on" in result.output and f"pid {os.getpid()}" in result.output
    assert calls == [] and not (out / "summary.json").exists() and not list((out / "logs").glob("*"))
    assert invoke(inbox, "-o", out, "-c", config_file).exit_code == 0, "the lock is released"


def test_kill_9_mid_episode_then_the_next_run_finishes(tmp_path, clips, config_file, calls):
    inbox = tmp_path / "inbox"
    for i in range(4):
        put(clips[i % 3], inbox / f"ep{i}.wav")
    out = tmp_path / "out"
    harness = (f"import sys; sys.path[:0] = [{str(TESTS.parent)!r}, {str(TESTS.parents[1])!r}]; import fakes; "
               "fakes.install_fakes(delay=1.0); from pipeline.cli import app; "
               "app(sys.argv[1:], prog_name='pipeline')")
    proc = subprocess.Popen([sys.executable, "-c", harness, "batch", str(inbox), "-o", str(out),
                             "-c", str(config_file), "--quiet"], cwd=TESTS.parents[1],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not (out / "ep0" / "done.json").exists():
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the first episode never finished"
            time.sleep(0.05)
        time.sleep(0.5)  # well into the second episode
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (out / "ep3" / "done.json").exists(), "killed before the end"
    (out / "ep1").mkdir(exist_ok=True)
    (out / "ep1" / ".ep1.json.deadbeef.tmp").write_text("{half")  # as a kill during a write leaves

    result = invoke(inbox, "-o", out, "-c", config_file)
    assert result.exit_code == 0, result.output
    summary = summary_of(out)
    assert summary["skipped"][0] == "ep0" and summary["done"][-1] == "ep3"
    assert summary["counts"]["done"] + summary["counts"]["skipped"] == 4
    for i in range(4):
        assert_complete(out, f"ep{i}")
    assert tmp_files(out) == []


def test_awkward_names_and_bad_files(tmp_path, clips, config_file, calls):
    inbox = tmp_path / "inbox"
    put(clips[0], inbox / "with space.wav")
    put(clips[3], inbox / "ünïcødé – épisode.mp3")
    put(clips[3], inbox / "-x.mp3")
    put(clips[1], inbox / "--help.wav")
    (inbox / "empty.mp3").write_bytes(b"")
    (inbox / "folder with no audio").mkdir()
    (inbox / "folder with no audio" / "readme.txt").write_text("nothing\n")
    (inbox / "dir.mp3").mkdir()  # a folder with an audio extension is searched, not decoded
    os.symlink(tmp_path / "nowhere.wav", inbox / "dangling.wav")
    if os.geteuid() != 0:  # root reads anything
        put(clips[0], inbox / "locked.wav").chmod(0)
    out = tmp_path / "out"
    result = invoke(inbox, "-o", out, "-c", config_file)
    assert result.exit_code == 1, result.output
    summary = summary_of(out)
    assert summary["done"] == ["--help", "-x", "with space", "ünïcødé – épisode"]
    reasons = {Path(f["audio"]).name: f["reason"] for f in summary["failed"]}
    assert "no such file" in reasons["dangling.wav"] and "is empty (0 bytes)" in reasons["empty.mp3"]
    if os.geteuid() != 0:
        assert "cannot be read (Permission denied)" in reasons["locked.wav"]
    for key in summary["done"]:
        assert_complete(out, key)
    assert invoke(inbox, "-o", out, "-c", config_file).exit_code == 1  # the bad ones are tried again
    assert summary_of(out)["counts"]["skipped"] == 4


def test_manifest_with_a_missing_file_and_a_malformed_line(tmp_path, clips, config_file, calls):
    d = tmp_path / "lists"
    put(clips[0], d / "audio" / "a.wav")
    put(clips[1], d / "audio" / "-b.wav")
    (d / "audio" / "a.txt").write_text(reference_text())
    with open(d / "episodes.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerows([["audio", "reference", "num_speakers"], ["audio/a.wav", "audio/a.txt", "2"],
                     ["audio/missing.wav", "", ""], ["audio/-b.wav", "", "two"], ["audio/-b.wav", "", ""]])
    out = tmp_path / "out"
    result = invoke("--manifest", d / "episodes.csv", "-o", out, "-c", config_file)
    assert result.exit_code == 1, result.output
    summary = summary_of(out)
    assert summary["done"] == ["audio/a", "audio/-b"]
    reasons = [f["reason"] for f in summary["failed"]]
    assert len(reasons) == 2 and "missing.wav: no such file" in reasons[0]
    assert reasons[1] == "episodes.csv line 4: diarization.num_speakers: Input should be a valid integer (got 'two')"
    marker = assert_complete(out, "audio/a")
    assert marker["digest_of"]["speakers"] == {"num_speakers": 2}
    assert (str(d / "audio" / "a.wav"), 2) in calls


def test_usage_errors_and_an_empty_inbox(tmp_path, calls):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke(empty, "-o", tmp_path / "out")
    assert result.exit_code == 0 and "no audio files found" in result.output
    assert summary_of(tmp_path / "out")["episodes"] == []
    assert invoke(tmp_path / "nope", "-o", tmp_path / "out").exit_code == 2
    assert invoke(empty, "-o", empty).exit_code == 2
    assert invoke("-o", tmp_path / "out").exit_code == 2
    assert invoke(empty).exit_code == 2  # -o is required


def test_output_inside_the_inbox_is_not_rediscovered(inbox, config_file, calls):
    out = inbox / "transcripts"
    assert invoke(inbox, "-o", out, "-c", config_file).exit_code == 0
    assert invoke(inbox, "-o", out, "-c", config_file).exit_code == 0
    summary = summary_of(out)
    assert len(summary["episodes"]) == 3 and summary["counts"]["skipped"] == 3


def test_an_inbox_inside_the_output_never_gets_outputs(tmp_path, clips, config_file, calls):
    out = tmp_path / "radio"
    put(clips[0], out / "inbox" / "ep.wav")
    put(clips[1], out / "inbox" / "inbox" / "x.wav")  # its output folder would be radio/inbox/x
    (out / "inbox" / ".ep.wav.part.tmp").write_text("an upload in progress")
    result = invoke(out / "inbox", "-o", out, "-c", config_file)
    assert result.exit_code == 1, result.output
    summary = summary_of(out)
    assert summary["done"] == ["ep"] and "would be inside the inbox" in summary["failed"][0]["reason"]
    assert (out / "inbox" / ".ep.wav.part.tmp").exists(), "the inbox is not cleaned"
    assert sorted(p.name for p in (out / "inbox").rglob("*")) == [".ep.wav.part.tmp", "ep.wav", "inbox", "x.wav"]


def test_lock_is_held_by_the_open_file(tmp_path):
    with batch.locked(tmp_path) as path:
        fd = os.open(path, os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)


# Real models
# -----------


@pytest.mark.slow
def test_real_models_batch(tmp_path, require_models, config_file):
    """tiny.en and the real diarization on two 8 s cuts; the first named from the STM's lines."""
    from pipeline.scoring.reference import load_stm_segments
    from pipeline.stages import asr, diarize

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name, start in (("first", 6.0), ("second", 16.0)):
        ffmpeg("-i", str(SAMPLE_WAV), "-ss", str(start), "-t", "8", str(inbox / f"{name}.mp3"))
    lines = [f"{spk.upper()}: {text}" for spk, s, e, text in load_stm_segments(SAMPLE_STM) if 6.0 <= s and e <= 14]
    (inbox / "first.txt").write_text("\n\n".join(lines) + "\n")
    misses = asr._load_faster_whisper.cache_info().misses, diarize._load_pipeline.cache_info().misses
    out = tmp_path / "out"
    result = invoke(inbox, "-o", out, "-c", config_file)
    assert result.exit_code == 0, result.output
    assert asr._load_faster_whisper.cache_info().misses - misses[0] <= 1
    assert diarize._load_pipeline.cache_info().misses - misses[1] <= 1
    summary = summary_of(out)
    assert summary["done"] == ["first", "second"]
    for o in summary["episodes"]:
        assert o["timings"].get("load_asr", 0) + o["timings"].get("load_diarization", 0) < 1.0, "models loaded once"
    marker = assert_complete(out, "first")
    assert set(marker["speakers"].values()) & {"DIANE", "SHEILA"}, marker["speakers"]
    check = json.loads((out / "first" / "first.check.json").read_text())
    assert 0.0 <= check["wer"] < 1.0 and check["reference_words"] > 10
    assert invoke(inbox, "-o", out, "-c", config_file).exit_code == 0
    assert summary_of(out)["counts"]["skipped"] == 2
