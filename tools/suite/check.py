"""Listen-free checks of built suite episodes, run with the main project's venv (pipeline, faster-whisper).

    .venv/bin/python tools/suite/check.py [DIR] [--asr NAME ...] [--seed]

DIR holds index.json (default: samples/suite). For each episode:

* the published transcript parses with ``pipeline.reference.load`` into the expected speakers and
  turns (meta.json ``expected``), and its words per speaker match;
* every word lies inside an RTTM span of its speaker, every RTTM span holds a word, words of one
  sentence are ordered and start < end;
* the audio lasts what meta.json says (3-20 min, one episode over 20), non-speech regions are
  disjoint and lie outside speech, the split is tune or test;
* ``--asr NAME``: faster-whisper tiny.en on that episode: WER of the spoken words, and the median
  distance of Whisper's word starts from the truth's (words paired by text in order);
* ``--seed``: the same word-start check on samples/seed (seed.words.json ``words``).

Prints a JSON report; exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
TINY = Path(os.path.expanduser("~/.cache/radio-pipeline/models/whisper-tiny.en"))
TOLERANCE = 0.015  # seconds a word may stick out of its RTTM span (rounding to ms on both)


def duration(path: Path) -> float:
    """Seconds of decoded audio (ffmpeg honours the MP3's encoder delay and padding, as the pipeline)."""
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", "16000", "-"]
    return len(subprocess.run(cmd, capture_output=True, check=True).stdout) / 2 / 16000


def read_rttm(path: Path) -> list[tuple[float, float, str]]:
    from pipeline.scoring.metrics import read_rttm as turns

    return [(t.start, t.end, t.speaker) for t in turns(path)]


def check_transcript(path: Path, meta: dict) -> dict:
    from pipeline.scoring.reference import load

    ref = load(path)
    expected = meta["expected"]
    got = [(t.speaker, " ".join(t.text.split())) for t in ref.turns]
    want = [(t["speaker"], " ".join(t["text"].split())) for t in expected["turns"]]
    words = {}
    for speaker, text in got:
        words[speaker] = words.get(speaker, 0) + len(text.split())
    return {"speakers_ok": list(ref.speakers) == expected["speakers"], "turns_ok": got == want,
            "turns": len(got), "words_ok": words == expected["published_words"],
            "first_bad_turn": next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)}


def check_words(words: list[dict], rttm: list) -> dict:
    by_speaker: dict[str, list] = {}
    for a, b, who in rttm:
        by_speaker.setdefault(who, []).append((a, b))
    outside, covered = 0, set()
    for w in words:
        spans = by_speaker.get(w["speaker"], [])
        hit = [k for k, (a, b) in enumerate(spans) if a - TOLERANCE <= w["start"] and w["end"] <= b + TOLERANCE]
        outside += not hit
        covered.update((w["speaker"], k) for k in hit)
    ordered = all(w["start"] < w["end"] for w in words)
    return {"words": len(words), "outside_rttm": outside, "start_before_end": ordered,
            "rttm_spans_without_words": len(rttm) - len(covered),
            "timing": {t: sum(w["timing"] == t for w in words) for t in {w["timing"] for w in words}}}


def check_regions(meta: dict, rttm: list) -> dict:
    regions = meta["regions"]
    disjoint = all(a["end"] <= b["start"] for a, b in zip(regions, regions[1:], strict=False))
    overlap = sum(max(0.0, min(r["end"], e) - max(r["start"], s)) for r in regions for s, e, _ in rttm)
    return {"disjoint": disjoint, "overlap_with_speech_s": round(overlap, 3)}


def check_episode(folder: Path, entry: dict) -> dict:
    meta = json.loads((folder / entry["meta"]).read_text(encoding="utf-8"))
    words = json.loads((folder / entry["words"]).read_text(encoding="utf-8"))["words"]
    rttm = read_rttm(folder / entry["rttm"])
    report = {"transcript": check_transcript(folder / entry["transcript"], meta),
              "words": check_words(words, rttm), "regions": check_regions(meta, rttm),
              "duration_s": round(duration(folder / entry["audio"]), 2), "meta_duration_s": meta["duration"],
              "split": meta["split"], "conditions": meta["conditions"]}
    t, w, r = report["transcript"], report["words"], report["regions"]
    report["ok"] = bool(t["speakers_ok"] and t["turns_ok"] and t["words_ok"] and w["outside_rttm"] == 0
                        and w["start_before_end"] and w["rttm_spans_without_words"] == 0 and r["disjoint"]
                        and r["overlap_with_speech_s"] < 0.05 and meta["split"] in ("tune", "test")
                        and abs(report["duration_s"] - meta["duration"]) < 0.1)
    return report


def whisper_words(audio: Path) -> list:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(TINY), device="cpu", compute_type="int8", cpu_threads=1)
    segments, _ = model.transcribe(str(audio), beam_size=5, language="en", word_timestamps=True)
    return [w for seg in segments for w in seg.words]


def asr_check(audio: Path, truth: list[dict]) -> dict:
    """WER of Whisper tiny.en against the spoken words, and its word starts against the truth's."""
    import jiwer
    from whisper.normalizers import EnglishTextNormalizer

    norm, hyp = EnglishTextNormalizer(), whisper_words(audio)
    truth = sorted(truth, key=lambda w: w["start"])
    ref_tokens = [norm(w["word"]) for w in truth]
    hyp_tokens = [norm(w.word) for w in hyp]
    matcher = difflib.SequenceMatcher(a=ref_tokens, b=hyp_tokens, autojunk=False)
    errors = [abs(hyp[j + k].start - truth[i + k]["start"]) for i, j, n in matcher.get_matching_blocks()
              for k in range(n) if ref_tokens[i + k]]
    return {"model": TINY.name, "wer": round(jiwer.wer(norm(" ".join(w["word"] for w in truth)),
                                                      norm(" ".join(w.word for w in hyp))), 4),
            "paired_words": len(errors), "median_start_error_s": round(float(np.median(errors)), 3),
            "p90_start_error_s": round(float(np.percentile(errors, 90)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description="Check built suite episodes without listening.")
    parser.add_argument("dir", nargs="?", type=Path, default=ROOT / "samples" / "suite")
    parser.add_argument("--asr", nargs="*", default=[], metavar="NAME", help="episodes to run Whisper on")
    parser.add_argument("--seed", action="store_true", help="also check seed.words.json against Whisper")
    args = parser.parse_args()
    index = json.loads((args.dir / "index.json").read_text(encoding="utf-8"))
    report = {e["name"]: check_episode(args.dir, e) for e in index["episodes"]}
    long = [n for n, e in zip(report, index["episodes"], strict=False) if e["minutes"] > 20]
    report["_suite"] = {"episodes": len(index["episodes"]), "over_20_min": long,
                        "splits": {s: sum(e["split"] == s for e in index["episodes"]) for s in ("tune", "test")}}
    for entry in index["episodes"]:
        if entry["name"] in args.asr:
            words = json.loads((args.dir / entry["words"]).read_text(encoding="utf-8"))["words"]
            report[entry["name"]]["asr"] = asr_check(args.dir / entry["audio"], words)
    if args.seed:
        seed = ROOT / "samples" / "seed"
        words = json.loads((seed / "seed.words.json").read_text(encoding="utf-8"))["words"]
        report["_seed"] = asr_check(seed / "seed.flac", words)
    print(json.dumps(report, indent=1))
    sys.exit(0 if all(r["ok"] for n, r in report.items() if not n.startswith("_")) else 1)


if __name__ == "__main__":
    main()
