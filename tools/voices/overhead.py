"""What enrolling and naming by voice add to an episode's time, measured inside one real run.

    python tools/voices/overhead.py --library LIB.sqlite EPISODE.flac [--reference T.txt] -o OUT

Runs the one job path (no cache: ASR and diarization computed) with ``--voices LIB`` and reports
the wall seconds of processing (model loading aside, ASR beside diarization as the run does it)
and of the voice work inside the naming stage, and the process CPU seconds of each: the voice work
runs alone on one thread, so its CPU seconds are what it costs on an idle machine, while wall
times on a shared machine stretch with the load. Writes OUT/overhead.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import pipeline.voices  # noqa: E402
from pipeline import config as cfg  # noqa: E402
from pipeline.evaluation.run import processing_seconds  # noqa: E402
from pipeline.jobs import Job, Models, process  # noqa: E402
from pipeline.stages import diarize  # noqa: E402
from pipeline.types import Stage  # noqa: E402

SPENT = {"wall": 0.0, "cpu": 0.0, "embedded_s": 0.0, "stretches": 0, "inside": False}


def counted(embed):
    """CAM++ calls of the voice work (stretches the turn check embedded come from Models' cache)."""
    def wrapper(pipeline, audio, spans, options, workers=1):
        if SPENT["inside"]:
            SPENT["embedded_s"] += sum(b - a for a, b in spans)
            SPENT["stretches"] += len(spans)
        return embed(pipeline, audio, spans, options, workers=workers)

    return wrapper


def measured(function):
    def wrapper(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        SPENT["inside"] = True
        try:
            return function(*args, **kwargs)
        finally:
            SPENT["inside"] = False
            SPENT["wall"] += time.perf_counter() - wall
            SPENT["cpu"] += time.process_time() - cpu

    return wrapper


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("audio", type=Path)
    ap.add_argument("--library", type=Path, required=True)
    ap.add_argument("--reference", type=Path)
    ap.add_argument("--copy", action="store_true", help="work on a copy of the library (left unchanged)")
    ap.add_argument("-o", "--out", type=Path, default=Path("out/voices-overhead"))
    args = ap.parse_args()
    library = args.library
    args.out.mkdir(parents=True, exist_ok=True)
    if args.copy:
        library = args.out / "library-copy.sqlite"
        for stale in args.out.glob("library-copy.sqlite*"):
            stale.unlink()
        shutil.copy(args.library, library)
    pipeline.voices.name_and_enroll = measured(pipeline.voices.name_and_enroll)
    diarize.embed = counted(diarize.embed)
    config = cfg.load()
    models = Models(config).load()
    cpu = time.process_time()
    outcome = process(Job(args.audio, args.out / args.audio.stem, reference=args.reference, voices=library),
                      config, models)
    cpu = time.process_time() - cpu
    processing = processing_seconds(outcome.timings, config, {})
    report = {
        "audio": str(args.audio), "duration": outcome.result.duration, "reference": str(args.reference or ""),
        "names": outcome.result.speaker_names, "naming": outcome.result.naming,
        "processing_wall_s": processing, "process_cpu_s": round(cpu, 3),
        "voices_wall_s": round(SPENT["wall"], 3), "voices_cpu_s": round(SPENT["cpu"], 3),
        "embedded_s": round(SPENT["embedded_s"], 1), "embedded_stretches": SPENT["stretches"],
        "naming_stage_wall_s": outcome.timings.get(Stage.NAMING, 0.0), "timings": outcome.timings,
        "voices_share_of_wall": round(SPENT["wall"] / processing, 4),
        "voices_share_of_cpu": round(SPENT["cpu"] / cpu, 4),
    }
    (args.out / f"{args.audio.stem}.overhead.json").write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k not in ("timings", "naming")}, indent=1))


if __name__ == "__main__":
    main()
