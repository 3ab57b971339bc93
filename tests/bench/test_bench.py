"""The benchmark: its machine reference, per-process memory, targets, and a short real run.

No timing is asserted here: the figures belong to the benchmark's output, not to the tests.
"""

from __future__ import annotations

import json
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.bench import bench
from pipeline.cli import app

runner = CliRunner()


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def test_machine_reference_is_a_positive_number_of_seconds():
    seconds = bench.machine_reference()
    assert isinstance(seconds, float) and seconds > 0


def test_spawn_reports_the_childs_own_peak_memory(tmp_path):
    grab = "import numpy as np; a = np.ones(200 * 2**20 // 8); print(a.sum())"
    big = bench.spawn([sys.executable, "-c", grab], tmp_path / "log")
    small = bench.spawn([sys.executable, "-c", "print(1)"], tmp_path / "log")
    assert big.returncode == 0 and small.returncode == 0
    assert big.peak_rss_mb >= 200 > small.peak_rss_mb > 0
    assert "26214400" in big.output_tail
    failed = bench.spawn([sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "log")
    assert failed.returncode == 3


def test_long_episode_has_the_asked_length(tmp_path):
    clip = write_wav(tmp_path / "clip.wav", np.full(16_000 * 3, 0.1, np.float32))
    out = bench.build_long_episode([clip], 0.25, tmp_path / "long.wav")
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getnframes()) == (16_000, 1, 15 * 16_000)


def _record(peak: float, **extra) -> dict:
    stages = {s: {"seconds": 1.0, "rtf": 0.01} for s in bench.STAGES}
    stages["diarization"] = {"seconds": 5.0, "rtf": 0.05}
    return {"audio": "a.wav", "duration_s": 100.0, "stages": stages, "load": {"load_asr": 1.0},
            "processing": {"seconds": 20.0, "rtf": 0.2}, "total": {"seconds": 30.0, "rtf": 0.3},
            "peak_rss_mb": peak, **extra}


def test_targets_say_met_not_met_and_not_measured():
    startup = {"help_s": {"best": 0.4}, "models_list_s": {"best": 1.2}}
    targets = bench.evaluate_targets(_record(1000.0, ratio_vs_openai_whisper=0.3, cpu_rtf_diarization=0.05),
                                     _record(1200.0), startup)
    assert set(targets) == {key for key, *_ in bench.TARGETS}
    met = {key: t["met"] for key, t in targets.items()}
    assert met == {"ratio_vs_openai_whisper": False, "rtf_pipeline": True, "rtf_diarization": True,
                   "cpu_rtf_diarization": False, "long_finishes": True, "long_peak_rss_mb": True,
                   "long_peak_ratio": True, "help_s": True, "models_list_s": False}
    assert targets["long_peak_ratio"]["value"] == 1.2
    assert not bench.evaluate_targets(_record(1000.0), _record(1400.0), None)["long_peak_ratio"]["met"]
    assert bench.evaluate_targets(_record(1000.0, cpu_rtf_diarization=0.04), None, None)["cpu_rtf_diarization"]["met"]
    unmeasured = bench.evaluate_targets(_record(1000.0), None, None)
    assert unmeasured["ratio_vs_openai_whisper"] == {
        "limit": 0.2, "value": None, "met": None,
        "description": unmeasured["ratio_vs_openai_whisper"]["description"]}
    assert unmeasured["long_finishes"]["met"] is None


def test_failed_long_run_is_a_missed_target_and_a_failure():
    long = {"audio": "long.wav", "error": "exit 1: boom"}
    assert bench.evaluate_targets(_record(1000.0), long, None)["long_finishes"]["met"] is False
    assert bench.failures({"files": [_record(1.0)], "long": long}) == ["long.wav: exit 1: boom"]
    columns, rows = bench.table({"files": [], "long": long})
    assert columns == ["measure", "long.wav"] and rows[0] == ["audio", "failed"]


def test_table_has_a_column_per_file_and_a_row_per_measure():
    machine = {"machine_reference_s": 0.5, "load_average": [2.0, 1.0, 1.0]}
    record = _record(1000.0, cpu_s=50.0, stage_cpu_s={"asr": 10.2, "diarization": 4.0}, cpu_rtf_diarization=0.04,
                     machine_before=machine, machine_after=machine, ctranslate2_isa="AVX2",
                     threads={"asr": 1, "diarization": 1, "diarization_engine": "onnxruntime"},
                     baseline={"seconds": 60.0, "rtf": 0.6}, ratio_vs_openai_whisper=0.5)
    columns, rows = bench.table({"files": [record], "long": None})
    assert columns == ["measure", "a.wav"]
    cells = dict(rows)
    assert cells["audio"] == "1.7 min"
    assert cells["diarization s (RTF)"] == "5.0 (0.050)"
    assert cells["processing s (RTF)"] == "20.0 (0.200)"
    assert cells["peak memory MB"] == "1000"
    assert cells["CPU s: asr / diarization / process"] == "10 / 4 / 50"
    assert cells["openai-whisper cmd s (RTF)"] == "60.0 (0.600)"
    assert cells["ratio vs openai-whisper"] == "0.50"
    assert cells["machine reference s"] == "0.50 -> 0.50"
    assert cells["diarization CPU s / audio s"] == "0.040"
    assert cells["threads: asr / diarization (engine)"] == "1 / 1 (onnxruntime)"
    assert cells["CTranslate2 ISA"] == "AVX2"
    assert dict(bench.table({"files": [_record(1.0, cpu_s=1.0, machine_before=machine, machine_after=machine)],
                             "long": None})[1])["CTranslate2 ISA"] == "-"


def test_ctranslate2_isa_and_cpu_flags_are_read():
    log = ("[2026-12-01 09:06:13.148] [ctranslate2] [thread 1] [info] CPU: GenuineIntel (AVX2=true)\n"
           "[2026-12-01 09:06:13.148] [ctranslate2] [thread 1] [info]  - Selected ISA: AVX512\n")
    assert bench.ctranslate2_isa(log) == "AVX512"
    assert bench.ctranslate2_isa("no model loaded") is None
    cpu = bench.cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu avx2 fma avx512f\n")
    assert cpu == {"model": "AMD EPYC 9R14", "flags": ["avx2", "fma", "avx512f"]}
    assert set(bench.cpu_model()) == {"model", "flags"}


def test_whisper_command_is_an_argument_list_with_the_checkpoint(tmp_path):
    argv = bench.whisper_command(Path("a b.mp3"), "/m/openai-whisper.pt", tmp_path)
    assert argv[1:] == ["a b.mp3", "--model", "/m/openai-whisper.pt", "--output_dir", str(tmp_path),
                        "--output_format", "txt", "--device", "cpu"]


# -- the CLI --------------------------------------------------------------------------------------


def test_bench_exit_codes(tmp_path):
    missing = runner.invoke(app, ["bench", str(tmp_path / "nope.wav"), "-o", str(tmp_path), "--no-baseline"])
    assert missing.exit_code == 1 and "no such file" in missing.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("asr:\n  beam: 3\n")
    config = runner.invoke(app, ["bench", "x.wav", "-o", str(tmp_path), "--config", str(bad)])
    assert config.exit_code == 2 and "unknown key 'beam'" in config.output
    assert runner.invoke(app, ["bench", "x.wav", "--long-minutes", "0"]).exit_code == 2
    assert not (tmp_path / "bench.json").exists()


@pytest.mark.slow
def test_bench_on_a_short_file(tmp_path, sample_audio, require_models):
    short = write_wav(tmp_path / "short.wav", sample_audio.samples[: 10 * 16_000])
    config = tmp_path / "tiny.yaml"
    config.write_text("asr:\n  model: tiny.en\n  device: cpu\ndiarization:\n  device: cpu\n"
                      "output:\n  formats: [json, txt]\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["bench", str(short), "-o", str(out), "--config", str(config),
                                 "--no-baseline", "--long-minutes", "0.5"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "bench.json").read_text())
    for record in (report["files"][0], report["long"]):
        assert "error" not in record
        stages = record["stages"]
        assert set(stages) == {*bench.STAGES, bench.SIDE_BY_SIDE}  # run.parallel is on by default
        assert all(s["seconds"] >= 0 and s["rtf"] >= 0 for s in stages.values())
        # side by side, the joint wall time is at least the longer stage's and less than both together
        both = stages["asr"]["seconds"] + stages["diarization"]["seconds"]
        joint = stages[bench.SIDE_BY_SIDE]["seconds"]
        assert max(stages["asr"]["seconds"], stages["diarization"]["seconds"]) <= joint + 0.01 < both
        others = sum(stages[s]["seconds"] for s in bench.STAGES if s not in ("asr", "diarization"))
        assert record["processing"]["seconds"] == pytest.approx(joint + others, abs=0.01)
        assert record["processing"]["rtf"] > 0 and record["total"]["rtf"] > 0
        assert record["peak_rss_mb"] > 0 and set(record["load"]) == set(bench.LOADS)
        # diarization's thread told apart from ASR's beside it
        assert set(record["stage_cpu_s"]) == {bench.SIDE_BY_SIDE, "asr", "diarization"}
        cpu = record["stage_cpu_s"]
        assert cpu["asr"] > 0 and cpu["diarization"] > 0
        assert cpu["asr"] + cpu["diarization"] == pytest.approx(cpu[bench.SIDE_BY_SIDE], abs=0.02)
        assert record["cpu_rtf_diarization"] == pytest.approx(cpu["diarization"] / record["duration_s"], abs=1e-3)
        assert record["threads"]["diarization"] == 1 and record["threads"]["diarization_engine"] == "onnxruntime"
        assert record["threads"]["asr"] >= 1 and record["threads"]["torch_default"] >= 1
        assert record["ctranslate2_isa"]  # AVX2, AVX512... as CTranslate2 logged it
    assert report["files"][0]["duration_s"] == pytest.approx(10.0, abs=0.01)
    assert report["long"]["duration_s"] == pytest.approx(30.0, abs=0.01)
    assert (out / "short" / "short.json").is_file()
    assert set(report["targets"]) == {key for key, *_ in bench.TARGETS}
    assert report["targets"]["ratio_vs_openai_whisper"]["met"] is None  # --no-baseline
    assert report["targets"]["long_finishes"]["met"] is True
    assert report["start"]["machine_reference_s"] > 0 and report["end"]["machine_reference_s"] > 0
    assert "ratio_vs_openai_whisper" in report


def test_side_by_side_stages_are_counted_once():
    timings = {"decode": 1.0, "asr": 30.0, "diarization": 40.0, bench.SIDE_BY_SIDE: 42.0, "alignment": 0.5,
               "write": 0.5, "load_asr": 2.0, "load_diarization": 3.0}
    proc = bench.Process(("x",), 0, 50.0, 90.0, 1500.0, "")
    figures = bench._stage_figures({"duration_s": 100.0, "timings": timings, "peak_rss_mb": 1500.0,
                                    "words": 10, "speakers": 2}, proc)
    assert figures["processing"] == {"seconds": 44.0, "rtf": 0.44}  # 1 + 42 + 0.5 + 0.5, not 1 + 30 + 40 + ...
    assert figures["stages"][bench.SIDE_BY_SIDE] == {"seconds": 42.0, "rtf": 0.42}
    assert figures["stages"]["diarization"]["rtf"] == 0.4
    assert figures["overhead_s"] == 1.0
    sequential = {k: v for k, v in timings.items() if k != bench.SIDE_BY_SIDE}
    figures = bench._stage_figures({"duration_s": 100.0, "timings": sequential, "peak_rss_mb": 1.0,
                                    "words": 1, "speakers": 1}, proc)
    assert figures["processing"]["seconds"] == 72.0 and bench.SIDE_BY_SIDE not in figures["stages"]
