"""How long an episode takes and how much memory it needs, next to openai-whisper's own command.

For each audio file the whole pipeline runs in a fresh Python process (``python -m
pipeline.bench run``), so the peak resident memory it reports (``ru_maxrss`` at its end) is that
file's alone. The child times every stage (decode, ASR, diarization, alignment, write) and the
model loads apart; the parent adds the process's wall and CPU time, the baseline a user would
otherwise run (openai-whisper's ``whisper`` command, transcription only, default decoding, same
model size, same file), a long episode joined from the inputs to show how time and memory grow
with length, the start-up time of ``pipeline --help`` and ``pipeline models list``, and a
machine-speed reference (a fixed numeric workload timed before and after each measurement,
because shared machines drift by a factor of three from one minute to the next).

:func:`run_bench` returns everything as one JSON-able dict; :func:`write_report` writes it
atomically to ``DIR/bench.json``; :data:`TARGETS` are the figures the project aims for, and the
report says for each whether it was met. The JSON, top level::

    version, created, config, host {platform, python, cpus, cpu {model, flags}, versions}, notes [...]
    start, end                {machine_reference_s, load_average [1, 5, 15 min]}
    files [record...], long   record (or null): see below; long adds built_from
    startup                   {help_s, models_list_s: {best, median, runs, cpu_s, ok}}
    ratio_vs_openai_whisper, cpu_ratio_vs_openai_whisper   (of the first file)
    targets                   {key: {limit, value, met (true, false, null: not measured), description}}

and each file's record::

    audio, duration_s, words, speakers, wall_s, cpu_s, peak_rss_mb, peak_rss_mb_wait4
    stages {decode, asr, diarization, alignment, write: {seconds, rtf}}
                                          plus asr_and_diarization when the two ran side by side
                                          (run.parallel): their joint wall time
    stage_cpu_s {asr, diarization}        CPU seconds: diarization's is its own thread's (ONNX Runtime
                                          and torch compute in it at diarization.threads 1), asr's
                                          the rest of the stages' ({asr_and_diarization}: both,
                                          every thread counted, when side by side)
    cpu_rtf_diarization                   diarization CPU seconds / audio seconds
    threads {asr, diarization, diarization_engine, torch_default, torch_interop, env}
                                          the engines' thread settings as the run applied them
    ctranslate2_isa                       the instruction set CTranslate2 picked (AVX2, AVX512...)
    load {load_asr, load_diarization}     seconds, imports included, apart from processing
    processing {seconds, rtf}             the stages (side by side ones counted once);
                                          total {seconds, rtf}: the whole process
    overhead_s                            interpreter start and imports outside the loads
    machine_before, machine_after         {machine_reference_s, load_average}
    baseline {command, seconds, rtf, cpu_s, peak_rss_mb, returncode}, machine_after_baseline
    ratio_vs_openai_whisper               whole process / whole whisper command, wall time
    cpu_ratio_vs_openai_whisper           the same in CPU seconds
    error                                 instead of the figures, when the run failed
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.errors import AudioError, PipelineError
from pipeline.types import Stage

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
#: the stages a benchmark's job goes through (no transcript: no naming, conforming or check)
STAGES = (Stage.DECODE, Stage.ASR, Stage.DIARIZATION, Stage.RECOVERY, Stage.ALIGNMENT, Stage.TURN_CHECK,
          Stage.WRITE)
#: ASR and diarization side by side (``run.parallel``): the wall time of both, counted once
SIDE_BY_SIDE = Stage.ASR_AND_DIARIZATION
LOADS = (Stage.LOAD_ASR, Stage.LOAD_DIARIZATION)
#: silence between the joined clips of the long episode
LONG_PAUSE_S = 2.0
#: (key, limit, description); "<=" limits, except where the description says otherwise
TARGETS = (
    ("ratio_vs_openai_whisper", 0.2, "full pipeline time / openai-whisper command time (transcription only)"),
    ("rtf_pipeline", 0.3, "real-time factor of the full pipeline (processing, models loaded)"),
    ("rtf_diarization", 0.1, "real-time factor of diarization alone"),
    ("cpu_rtf_diarization", 0.04, "diarization CPU seconds / audio seconds (its thread, beside ASR)"),
    ("long_finishes", True, "the long episode runs to the end"),
    ("long_peak_rss_mb", 2500.0, "peak resident memory on the long episode (MB)"),
    ("long_peak_ratio", 1.3, "peak memory of the long episode / of the first file"),
    ("help_s", 0.5, "`pipeline --help` wall time (s, best of 3)"),
    ("models_list_s", 1.0, "`pipeline models list` wall time (s, best of 3)"),
)

#: on_step(message): what the benchmark is doing now, for a long run's progress display
OnStep = Callable[[str], None]


@dataclass(frozen=True)
class BenchOptions:
    config: str | None = None  # a YAML path or profile name; None: configs/default.yaml
    long: bool = True
    long_minutes: float = 60.0
    baseline: bool = True
    startup: bool = True


@dataclass(frozen=True)
class Process:
    """One finished child process: exit status, times and its own peak memory."""

    argv: tuple[str, ...]
    returncode: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    output_tail: str


# The machine reference
# ---------------------


def machine_reference() -> float:
    """Seconds for a fixed, short workload: numpy matrix products and a pure-Python loop.

    Timed before and after each measurement in the same run, it says how fast the (shared)
    machine was at the time; divide a stage time by it to compare runs on a drifting machine.
    """
    import numpy as np

    a = np.random.default_rng(0).standard_normal((256, 256))
    started = time.perf_counter()
    for _ in range(40):
        a = np.tanh(a @ a / 16.0)
    total = 0
    for i in range(200_000):
        total += i * i % 7
    return round(time.perf_counter() - started, 4)


def _machine_state() -> dict:
    return {"machine_reference_s": machine_reference(), "load_average": [round(x, 2) for x in os.getloadavg()]}


# Child processes
# ---------------


# Linux carries the parent's peak resident memory into a child across fork and exec (the
# child's ``ru_maxrss`` starts at the forking process's high-water mark), so a child forked from
# a large process (pytest with torch loaded, say) would report that process's peak. A small
# launcher, exec'd fresh, forks the real command and reports the rusage of that grandchild, whose
# peak is its own.
_LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime, usage.ru_maxrss], f)
"""


def spawn(argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Process:
    """Run ``argv`` (a list, never a shell string) to the end; its output goes to ``log``.

    The command runs under :data:`_LAUNCHER`, so its reported peak memory is its own; ``env``
    replaces the environment when given.
    """
    argv = tuple(str(a) for a in argv)
    rusage = Path(f"{log}.rusage")
    with open(log, "w+b") as out:
        started = time.perf_counter()
        try:
            proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(rusage), *argv], stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        except OSError as e:
            raise PipelineError(f"cannot run {argv[0]}: {e.strerror or e}") from e
        try:
            proc.wait()
        except BaseException:  # interrupted: leave no orphan behind
            proc.kill()
            proc.wait()
            raise
        wall = time.perf_counter() - started
        out.seek(max(0, out.tell() - 2000))
        tail = out.read().decode("utf-8", "replace")
    try:
        returncode, cpu, maxrss = json.loads(rusage.read_text())
        rusage.unlink()
    except (OSError, ValueError) as e:
        raise PipelineError(f"cannot run {argv[0]}: the launcher reported nothing ({tail[-200:]})") from e
    return Process(argv, returncode, round(wall, 3), round(cpu, 3), round(maxrss / 1024, 1), tail)


def pipeline_command() -> list[str]:
    """The installed ``pipeline`` script beside this interpreter, else ``python -m pipeline``."""
    script = Path(sys.executable).with_name("pipeline")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "pipeline"]


def startup_times(repeat: int = 3) -> dict:
    """Wall time of ``pipeline --help`` and ``pipeline models list``, each run ``repeat`` times."""
    found = {}
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
        for key, args in (("help_s", ["--help"]), ("models_list_s", ["models", "list"])):
            runs = [spawn(pipeline_command() + args, Path(tmp) / "log") for _ in range(repeat)]
            walls = [p.wall_s for p in runs]
            found[key] = {"best": min(walls), "median": statistics.median(walls), "runs": walls,
                          "cpu_s": min(p.cpu_s for p in runs), "ok": all(p.returncode == 0 for p in runs)}
    return found


# One file, in a fresh process
# ----------------------------


def measure_file(path: Path, out_dir: Path, config: str | None, work: Path) -> dict:
    """Run the whole pipeline on ``path`` in a child process; its stages, RTFs and memory."""
    result_json = work / f"{path.stem}.child.json"
    argv = [sys.executable, "-m", "pipeline.bench", "run", str(path), "--out", str(out_dir / path.stem),
            "--result", str(result_json)]
    if config:
        argv += ["--config", str(config)]
    before = _machine_state()
    log = work / f"{path.stem}.child.log"
    # CTranslate2 logs the instruction set it picked when it loads a model
    proc = spawn(argv, log, env={**os.environ, "CT2_VERBOSE": "1"})
    after = _machine_state()
    record = {"audio": str(path), "machine_before": before, "machine_after": after,
              "wall_s": proc.wall_s, "cpu_s": proc.cpu_s, "peak_rss_mb_wait4": proc.peak_rss_mb,
              "ctranslate2_isa": ctranslate2_isa(log.read_text(errors="replace"))}
    if proc.returncode != 0 or not result_json.is_file():
        record["error"] = f"exit {proc.returncode}: {proc.output_tail.strip()[-600:]}"
        return record
    child = json.loads(result_json.read_text())
    record.update(_stage_figures(child, proc))
    return record


def ctranslate2_isa(log: str) -> str | None:
    """The instruction set CTranslate2 picked (``AVX2``, ``AVX512``...), from its ``CT2_VERBOSE`` log."""
    found = re.search(r"Selected ISA: (\S+)", log)
    return found.group(1) if found else None


def _stage_figures(child: dict, proc: Process) -> dict:
    """Seconds and real-time factor of each stage, of the processing, and of the whole process."""
    duration = child["duration_s"]
    timings = child["timings"]

    def figure(seconds: float) -> dict:
        return {"seconds": round(seconds, 3), "rtf": round(seconds / duration, 4)}

    processing = sum(timings.get(s, 0.0) for s in STAGES)
    stages = {s: figure(timings.get(s, 0.0)) for s in STAGES}
    if SIDE_BY_SIDE in timings:  # ASR and diarization overlapped: count their joint wall time once
        processing += timings[SIDE_BY_SIDE] - timings.get("asr", 0.0) - timings.get("diarization", 0.0)
        stages[SIDE_BY_SIDE] = figure(timings[SIDE_BY_SIDE])
    load = sum(timings.get(s, 0.0) for s in LOADS)
    return {
        "duration_s": duration,
        "stages": stages,
        "stage_cpu_s": child.get("cpu_s", {}),
        "load": {s: round(timings.get(s, 0.0), 3) for s in LOADS},
        "processing": figure(processing),
        "total": figure(proc.wall_s),
        # interpreter start, imports before the run, and leaving: what neither stages nor loads hold
        "overhead_s": round(proc.wall_s - processing - load, 3),
        "cpu_rtf_diarization": (round(child["cpu_s"][Stage.DIARIZATION] / duration, 4)
                                if Stage.DIARIZATION in child.get("cpu_s", {}) else None),
        "threads": child.get("threads", {}),
        "peak_rss_mb": child["peak_rss_mb"],
        "words": child["words"],
        "speakers": child["speakers"],
    }


def run_child(path: Path, out_dir: Path, config: str | None) -> dict:
    """The child's work: the one job path on ``path``, timed by stage; and its peak memory."""
    from pipeline import config as cfg
    from pipeline.jobs import Job, Models, process

    marks = CpuMarks()
    conf = cfg.load(config)
    models = Models(conf)
    outcome = process(Job(path, out_dir), conf, models=models, display=marks)
    marks.stage("end")
    timings, result = outcome.timings, outcome.result
    cpu = marks.spans(side_by_side=SIDE_BY_SIDE in timings)
    if Stage.DIARIZATION in models.thread_cpu_s:  # its own thread's: told apart from ASR's even beside it
        cpu[Stage.DIARIZATION] = round(models.thread_cpu_s[Stage.DIARIZATION], 2)
        if SIDE_BY_SIDE in cpu:
            cpu[Stage.ASR] = round(cpu[SIDE_BY_SIDE] - cpu[Stage.DIARIZATION], 2)
    return {"audio": str(path), "duration_s": result.duration, "timings": timings, "cpu_s": cpu,
            "threads": thread_settings(models), "words": len(result.words), "speakers": len(result.speakers),
            "peak_rss_mb": peak_rss_mb()}


#: environment variables that decide how the engines use the CPU
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "CT2_FORCE_CPU_ISA", "CT2_USE_EXPERIMENTAL_PACKED_GEMM",
              "OMP_WAIT_POLICY", "KMP_BLOCKTIME")


def thread_settings(models) -> dict:
    """The threads each engine ran on in this process (after a run, torch's default restored)."""
    import torch

    from pipeline.runtime import resolve_device
    from pipeline.stages.diarize import resolve_engine

    config = models.config
    engine = resolve_engine(config.diarization.engine, resolve_device(config.diarization.device))
    return {"asr": config.asr.threads, "diarization": config.diarization.threads, "diarization_engine": engine,
            "torch_default": torch.get_num_threads(), "torch_interop": torch.get_num_interop_threads(),
            "env": {k: os.environ[k] for k in THREAD_ENV if k in os.environ}}


class CpuMarks:
    """A runner display that notes the process's CPU time as each stage starts.

    The job opens the ASR display right before ASR and the diarization one right before
    diarization, so the CPU seconds between the marks are ASR's and diarization's
    (with alignment, which is milliseconds). CPU time counts every thread and suffers less than
    wall time from other work on a shared machine. When the two run side by side only their
    joint CPU time can be told apart.
    """

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    def stage(self, name: str, total: float = 100.0) -> Callable[..., None]:
        self.marks.setdefault(name, time.process_time())
        return lambda *args, **kwargs: None

    def spans(self, side_by_side: bool = False) -> dict[str, float]:
        m = self.marks
        if not {Stage.ASR, Stage.DIARIZATION, "end"} <= set(m):
            return {}
        if side_by_side:
            return {SIDE_BY_SIDE: round(m["end"] - min(m[Stage.ASR], m[Stage.DIARIZATION]), 2)}
        return {Stage.ASR: round(m[Stage.DIARIZATION] - m[Stage.ASR], 2),
                Stage.DIARIZATION: round(m["end"] - m[Stage.DIARIZATION], 2)}


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports ``ru_maxrss`` in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# The baseline: openai-whisper's own command
# ------------------------------------------


def whisper_command(path: Path, checkpoint: str, out_dir: Path) -> list[str]:
    """openai-whisper's CLI on ``path``: default decoding (beam 5, best of 5, fallback), txt only."""
    script = Path(sys.executable).with_name("whisper")
    head = [str(script)] if script.is_file() else [sys.executable, "-m", "whisper"]
    return head + [str(path), "--model", checkpoint, "--output_dir", str(out_dir),
                   "--output_format", "txt", "--device", "cpu"]


def measure_baseline(path: Path, checkpoint: str, duration: float, work: Path) -> dict:
    """Time openai-whisper's command transcribing ``path``, start to end, as a user runs it."""
    argv = whisper_command(path, checkpoint, work / "whisper-out")
    proc = spawn(argv, work / f"{path.stem}.whisper.log")
    record = {"command": list(argv), "seconds": proc.wall_s, "rtf": round(proc.wall_s / duration, 4),
              "cpu_s": proc.cpu_s, "peak_rss_mb": proc.peak_rss_mb, "returncode": proc.returncode}
    if proc.returncode != 0:
        record["error"] = proc.output_tail.strip()[-600:]
    return record


def baseline_checkpoint(config: str | None) -> str:
    """The openai-whisper checkpoint of the configured model size (converted once, offline)."""
    from pipeline import config as cfg
    from pipeline.weights.store import openai_whisper_checkpoint

    conf = cfg.load(config)
    return openai_whisper_checkpoint(conf.asr.model, conf.models)


# The long episode
# ----------------


def build_long_episode(sources: Sequence[Path], minutes: float, out: Path) -> Path:
    """Join ``sources`` (decoded, in turn, with pauses) into a ``minutes`` long 16 kHz WAV."""
    import numpy as np

    from pipeline.stages import audio

    clips = [audio.load(p).samples for p in sources]
    pause = np.zeros(int(LONG_PAUSE_S * SAMPLE_RATE), np.float32)
    wanted, written, i = int(minutes * 60 * SAMPLE_RATE), 0, 0
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        while written < wanted:
            block = np.concatenate([clips[i % len(clips)], pause])[: wanted - written]
            w.writeframes((np.clip(block, -1, 1) * 32767).astype("<i2").tobytes())
            written, i = written + len(block), i + 1
    return out


def default_inputs(work: Path) -> tuple[list[Path], str | None]:
    """The seed episode; until it exists, pyannote's sample.wav joined to five minutes."""
    seed = Path(__file__).resolve().parent.parent / "samples" / "seed" / "seed.mp3"
    if seed.is_file():
        return [seed], None
    import importlib.util

    spec = importlib.util.find_spec("pyannote.audio")
    sample = Path(next(iter(spec.submodule_search_locations))) / "sample" / "sample.wav"
    five = build_long_episode([sample], 5.0, work / "sample-5min.wav")
    return [five], f"{seed} is missing: used pyannote's sample.wav joined to 5 minutes instead"


# The whole benchmark
# -------------------


def run_bench(audios: Sequence[Path], out_dir: Path, options: BenchOptions = BenchOptions(),
              on_step: OnStep | None = None) -> dict:
    """Benchmark every file of ``audios`` (default: the seed episode) and a long episode."""
    step = on_step or (lambda message: None)
    for path in audios:
        if not Path(path).is_file():
            raise AudioError(path, "no such file")
    started = _machine_state()
    report: dict = {"version": 1, "created": datetime.now(UTC).isoformat(timespec="seconds"),
                    "config": options.config, "host": _host(), "start": started, "notes": []}
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
        work = Path(tmp)
        if not audios:
            audios, note = default_inputs(work)
            report["notes"] += [note] if note else []
        report["files"] = [_bench_one(Path(p), out_dir, options, work, step) for p in audios]
        report["long"] = _bench_long(audios, out_dir, options, work, step) if options.long else None
    if options.startup:
        step("start-up: pipeline --help, pipeline models list")
        report["startup"] = startup_times()
    report["end"] = _machine_state()
    main = report["files"][0]
    report["ratio_vs_openai_whisper"] = main.get("ratio_vs_openai_whisper")
    report["cpu_ratio_vs_openai_whisper"] = main.get("cpu_ratio_vs_openai_whisper")
    report["targets"] = evaluate_targets(main, report["long"], report.get("startup"))
    return report


def _bench_one(path: Path, out_dir: Path, options: BenchOptions, work: Path, step: OnStep) -> dict:
    step(f"{path.name}: full pipeline in a fresh process")
    record = measure_file(path, out_dir, options.config, work)
    if options.baseline and "error" not in record:
        step(f"{path.name}: openai-whisper's command (transcription only)")
        try:
            checkpoint = baseline_checkpoint(options.config)
        except PipelineError as e:
            record["baseline"] = {"error": f"no openai-whisper checkpoint: {e}"}
            return record
        record["baseline"] = measure_baseline(path, checkpoint, record["duration_s"], work)
        record["machine_after_baseline"] = _machine_state()
        if record["baseline"]["returncode"] == 0:
            record["ratio_vs_openai_whisper"] = round(record["total"]["seconds"] / record["baseline"]["seconds"], 3)
            # CPU seconds suffer less than wall time from other work on a shared machine
            record["cpu_ratio_vs_openai_whisper"] = round(record["cpu_s"] / record["baseline"]["cpu_s"], 3)
    return record


def _bench_long(audios: Sequence[Path], out_dir: Path, options: BenchOptions, work: Path,
                step: OnStep) -> dict:
    step(f"long episode: joining the inputs to {options.long_minutes:g} minutes")
    long = build_long_episode([Path(p) for p in audios], options.long_minutes,
                              work / f"long-{options.long_minutes:g}min.wav")
    step(f"{long.name}: full pipeline in a fresh process")
    record = measure_file(long, out_dir, options.config, work)
    record["built_from"] = [str(p) for p in audios]
    return record


def _host() -> dict:
    from pipeline.jobs.job import versions

    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpus": len(os.sched_getaffinity(0)), "cpu": cpu_model(), "versions": versions()}


#: the CPU's vector extensions that decide which kernels the engines pick
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")


def cpu_model(cpuinfo: str | None = None) -> dict:
    """The CPU's model name and which of :data:`ISA_FLAGS` it has (Linux ``/proc/cpuinfo``)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return {"model": platform.processor(), "flags": []}
    fields = dict(line.split(":", 1) for line in cpuinfo.splitlines()[:40] if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name", platform.processor()), "flags": [f for f in ISA_FLAGS if f in flags]}


def evaluate_targets(main: dict, long: dict | None, startup: dict | None) -> dict:
    """Each target's limit, measured value and whether it was met (None: not measured)."""
    values = {
        "ratio_vs_openai_whisper": main.get("ratio_vs_openai_whisper"),
        "rtf_pipeline": main.get("processing", {}).get("rtf"),
        "rtf_diarization": main.get("stages", {}).get("diarization", {}).get("rtf"),
        "cpu_rtf_diarization": main.get("cpu_rtf_diarization"),
        "long_finishes": None if long is None else "error" not in long,
        "long_peak_rss_mb": (long or {}).get("peak_rss_mb"),
        "long_peak_ratio": (round(long["peak_rss_mb"] / main["peak_rss_mb"], 3)
                            if long and "peak_rss_mb" in long and main.get("peak_rss_mb") else None),
        "help_s": (startup or {}).get("help_s", {}).get("best"),
        "models_list_s": (startup or {}).get("models_list_s", {}).get("best"),
    }
    targets = {}
    for key, limit, description in TARGETS:
        value = values[key]
        met = None if value is None else (value is limit if isinstance(limit, bool) else value <= limit)
        targets[key] = {"limit": limit, "value": value, "met": met, "description": description}
    return targets


def failures(report: dict) -> list[str]:
    """The pipeline runs of ``report`` that failed, one line each."""
    records = report["files"] + ([report["long"]] if report.get("long") else [])
    return [f"{r['audio']}: {r['error']}" for r in records if "error" in r]


def write_report(report: dict, out_dir: Path) -> Path:
    """``out_dir/bench.json``, written atomically."""
    from pipeline.layout import write_text_atomic

    return write_text_atomic(Path(out_dir) / "bench.json", json.dumps(report, indent=1) + "\n")


def table(report: dict) -> tuple[list[str], list[list[str]]]:
    """The report as a table: one column per measured file, one row per measure.

    Times read "seconds (real-time factor)"; the machine reference is the fixed workload's
    seconds before and after the file's run (higher: a slower, busier machine).
    """
    records = report["files"] + ([report["long"]] if report.get("long") else [])
    columns = ["measure"] + [Path(r["audio"]).name for r in records]
    rows = [[label] + [_cell(r, key) for r in records] for label, key in _ROWS]
    return columns, rows


_ROWS = (("audio", "duration"), *((f"{s} s (RTF)", s) for s in STAGES),
         ("asr + diarization side by side s (RTF)", SIDE_BY_SIDE),
         ("processing s (RTF)", "processing"), ("model load s", "load"), ("whole process s (RTF)", "total"),
         ("CPU s: asr / diarization / process", "cpu"), ("diarization CPU s / audio s", "cpu_rtf"),
         ("peak memory MB", "peak"),
         ("openai-whisper cmd s (RTF)", "baseline"), ("ratio vs openai-whisper", "ratio"),
         ("threads: asr / diarization (engine)", "threads"), ("CTranslate2 ISA", "isa"),
         ("machine reference s", "reference"), ("load average", "loadavg"))


def _cell(r: dict, key: str) -> str:
    if "error" in r:
        return "failed" if key == "duration" else ""

    def timed(figure: dict) -> str:
        return f"{figure['seconds']:.1f} ({figure['rtf']:.3f})"

    base, threads = r.get("baseline", {}), r.get("threads", {})
    before, after = r["machine_before"], r["machine_after"]
    cells = {
        "duration": f"{r['duration_s'] / 60:.1f} min",
        "processing": timed(r["processing"]), "total": timed(r["total"]),
        "load": f"{sum(r['load'].values()):.1f}",
        "cpu": " / ".join(f"{r['stage_cpu_s'][k]:.0f}" if k in r.get("stage_cpu_s", {}) else "-"
                          for k in ("asr", "diarization")) + f" / {r['cpu_s']:.0f}",
        SIDE_BY_SIDE: timed(r["stages"][SIDE_BY_SIDE]) if SIDE_BY_SIDE in r["stages"] else "-",
        "peak": f"{r['peak_rss_mb']:.0f}",
        "cpu_rtf": f"{r['cpu_rtf_diarization']:.3f}" if r.get("cpu_rtf_diarization") is not None else "-",
        "threads": (f"{threads.get('asr', '-')} / {threads.get('diarization', '-')} "
                    f"({threads.get('diarization_engine', '-')})"),
        "isa": r.get("ctranslate2_isa") or "-",
        "baseline": f"{base['seconds']:.1f} ({base['rtf']:.3f})" if "seconds" in base else "-",
        "ratio": f"{r['ratio_vs_openai_whisper']:.2f}" if "ratio_vs_openai_whisper" in r else "-",
        "reference": f"{before['machine_reference_s']:.2f} -> {after['machine_reference_s']:.2f}",
        "loadavg": f"{before['load_average'][0]:.1f} -> {after['load_average'][0]:.1f}",
    }
    return cells[key] if key in cells else timed(r["stages"][key])


# The child's entry point: python -m pipeline.bench run AUDIO --out DIR --result FILE
# -----------------------------------------------------------------------------------


def _child_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.bench",
                                     description="internal: one timed pipeline run (used by `pipeline bench`)")
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run")
    one.add_argument("audio", type=Path)
    one.add_argument("--out", type=Path, required=True)
    one.add_argument("--result", type=Path, required=True)
    one.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        found = run_child(args.audio, args.out, args.config)
    except PipelineError as e:
        logger.error("%s", e)
        return e.exit_code
    from pipeline.layout import write_text_atomic

    write_text_atomic(args.result, json.dumps(found, indent=1))
    return 0


