"""The conform targets on every episode of the evaluation suite (tools/suite/, `make suite`).

    python tools/conform/suite_targets.py [NAME...] [--suite DIR] [--out DIR]

Runs the whole job on each episode (its published transcript and RTTM beside it) into
``OUT/NAME/``, or, when ``OUT/NAME/NAME.json`` is there already, conforms that result again
(the ASR and diarization are not redone). Against the suite's word truth (``NAME.words.json``,
the published words; ``meta.json`` ``cut_for_time`` for the words that were cut) it prints one
JSON line an episode: the share of spoken words timed by the ASR or alignment, word start error
median and 95th percentile, turns whose two boundaries are within 0.25 s, conforming's seconds
and share of the rest of the processing, the gaps, and the unspoken words (and how many of
them were wrongly so).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pipeline import config  # noqa: E402
from pipeline.jobs import Job, Models, process  # noqa: E402
from pipeline.jobs.job import conform  # noqa: E402
from pipeline.outputs.writers import read_json  # noqa: E402
from pipeline.scoring import reference  # noqa: E402
from pipeline.stages import audio  # noqa: E402

LOADS = ("load_asr", "load_diarization", "asr", "diarization", "conform")


def truth_of(suite: Path, episode: dict) -> list[dict | None]:
    """The true time of each published word, in published order; None for a word cut."""
    words = json.loads((suite / episode["words"]).read_text())["words"]
    meta = json.loads((suite / episode["meta"]).read_text())
    truth: list[dict | None] = sorted((w for w in words if w["published"]), key=lambda w: w["turn"])
    for cut in sorted(meta.get("cut_for_time") or [], key=lambda x: x["published_word_start"]):
        truth[cut["published_word_start"]:cut["published_word_start"]] = [None] * cut["published_words"]
    return truth


def measure(conformed, truth: list[dict | None], timings: dict[str, float]) -> dict:
    if [t["word"] for t in truth if t] != [w.text for w, t in zip(conformed.words, truth, strict=True) if t]:
        raise SystemExit("the truth does not line up with the published words")
    spoken = [i for i, t in enumerate(truth) if t is not None]
    words = conformed.words
    errors = np.abs([words[i].start - truth[i]["start"] for i in spoken if words[i].start is not None])
    turns: dict[int, list[int]] = {}
    for i in spoken:
        turns.setdefault(words[i].turn, []).append(i)

    def edge(t: int, members: list[int]) -> float:  # a spoken turn given no time is as far off as can be
        turn = conformed.turns[t]
        if turn.start is None or turn.end is None:
            return float("inf")
        return max(abs(turn.start - truth[members[0]]["start"]), abs(turn.end - max(truth[i]["end"] for i in members)))

    edges = np.array([edge(t, m) for t, m in turns.items()])
    rest = sum(v for k, v in timings.items() if k not in LOADS)
    return {
        "timed": round(sum(words[i].source in ("asr", "aligned") for i in spoken) / len(spoken), 4),
        "median": round(float(np.median(errors)), 3), "p95": round(float(np.percentile(errors, 95)), 3),
        "turns": f"{int((edges <= 0.25).sum())}/{len(edges)}", "worst_turn": round(float(edges.max()), 3),
        "lead": conformed.lead, "conform_s": timings["conform"], "share": round(timings["conform"] / rest, 4),
        "gaps": [(g.start, g.end, g.heard[:40]) for g in conformed.gaps],
        "unspoken": sum(u.count for u in conformed.unspoken),
        "unspoken_wrong": sum((w.source == "unspoken") != (t is None) for w, t in zip(words, truth, strict=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*")
    default = os.environ.get("PIPELINE_SUITE_DIR", str(Path.home() / ".cache/radio-pipeline/suite"))
    parser.add_argument("--suite", type=Path, default=Path(default))
    parser.add_argument("--out", type=Path, default=Path("out/suite-conform"))
    args = parser.parse_args()
    index = json.loads((args.suite / "index.json").read_text())
    conf = config.load()
    models = Models(conf)
    for episode in index["episodes"]:
        name = episode["name"]
        if args.names and name not in args.names:
            continue
        result_json = args.out / name / f"{name}.json"
        transcript = args.suite / episode["transcript"]
        if result_json.is_file():
            result = read_json(result_json)
            timings = dict(result.timings)
            started = time.perf_counter()
            conformed = conform(audio.load(result.audio), result, reference.load(transcript), models, source=name)
            timings["conform"] = round(time.perf_counter() - started, 3)
        else:
            job = Job(args.suite / episode["audio"], args.out / name, reference=transcript,
                      rttm=args.suite / episode["rttm"])
            outcome = process(job, conf, models)
            conformed, timings = outcome.conformed, outcome.timings
        print(name, json.dumps(measure(conformed, truth_of(args.suite, episode), timings)), flush=True)


if __name__ == "__main__":
    main()
