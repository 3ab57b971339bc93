"""Calibrate and check naming from a voice library on episodes of one show with exact truth.

    python tools/voices/calibrate.py --suite ~/.cache/radio-pipeline/suite \\
        --enroll ledger-01 ledger-02 --name ledger-03 ledger-04 ledger-05 [--others citydesk-01 ...] \\
        -o out/voices-calibration

1. a new library in OUT/voices.sqlite; each ``--enroll`` episode runs through the one job path
   (:func:`pipeline.jobs.process`) with its published transcript and ``--voices`` (it enrolls);
2. each ``--name`` episode runs with no transcript and ``--voices`` (it is named from the library);
3. every episode's words are aligned with its word truth (``NAME.words.json``) and counted: words
   of enrolled speakers with their right name, words of other speakers carrying an enrolled
   name, and any word carrying an enrolled name not its speaker's;
4. every diarized speaker of the ``--name`` and ``--others`` episodes is scored against every
   enrolled voice and marked *same* (its speech is mostly that voice's speaker's, by the RTTM) or
   *different*; the distributions of both are printed (``--others``: episodes of other shows, all
   *different*; a speaker whose synthetic voice is the enrolled one's, reused for another person,
   is reported apart);
5. the naming stage's seconds against the episode's processing seconds (ASR beside diarization
   at their computed cost, as ``pipeline eval`` counts them), with and without the library.

ASR and diarization are cached in OUT/cache (pipeline.evaluation.run.CachedModels), so a second
run with other thresholds (``--set threshold=0.55``) redoes only the naming. Writes OUT/calibration.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pipeline import config as cfg  # noqa: E402
from pipeline.evaluation.run import CachedModels, processing_seconds  # noqa: E402
from pipeline.evaluation.score import tokens  # noqa: E402
from pipeline.jobs import Job, process  # noqa: E402
from pipeline.scoring import metrics  # noqa: E402
from pipeline.stages import audio as audio_stage  # noqa: E402
from pipeline.types import Stage  # noqa: E402
from pipeline.voices import VoiceLibrary  # noqa: E402
from pipeline.voices.match import score_table  # noqa: E402
from pipeline.voices.prints import speaker_prints  # noqa: E402


class Word:
    def __init__(self, d: dict) -> None:
        self.text, self.start, self.end, self.speaker = d["word"], d["start"], d["end"], d["speaker"]


def files(suite: Path, name: str) -> dict[str, Path]:
    found = {"audio": suite / f"{name}.flac", "rttm": suite / f"{name}.rttm", "words": suite / f"{name}.words.json",
             "meta": suite / f"{name}.meta.json"}
    for ext in ("txt", "html"):
        if (suite / f"{name}.{ext}").is_file():
            found["transcript"] = suite / f"{name}.{ext}"
    if not found["audio"].is_file():
        found["audio"] = suite / f"{name}.mp3"
    return found


def identities(result, truth_turns) -> dict[str, tuple[str, float]]:
    """Each label's true speaker (who speaks most of its turns' time, by the RTTM) and that share of
    its time; ``(non-speech)`` when nobody speaks half of it (a label diarization made of music)."""
    shared: dict[str, Counter] = defaultdict(Counter)
    total: Counter = Counter()
    for t in result.diarization:
        total[t.speaker] += t.end - t.start
        for r in truth_turns:
            overlap = min(t.end, r.end) - max(t.start, r.start)
            if overlap > 0:
                shared[t.speaker][r.speaker] += overlap
    out = {}
    for label in total:
        who, seconds = shared[label].most_common(1)[0] if shared[label] else ("(non-speech)", 0.0)
        share = seconds / total[label]
        out[label] = (who if share >= 0.5 else "(non-speech)", share)
    return out


def word_counts(result, words: list[Word], enrolled: set[str]) -> dict[str, int]:
    truth = tokens(sorted(words, key=lambda w: w.start), text=lambda w: w.text, speaker=lambda w: w.speaker)
    hyp = tokens(result.words, text=lambda w: w.text, speaker=lambda w: w.speaker)
    counts = Counter()
    for i, j in metrics.align_words([t.text for t in truth], [t.text for t in hyp]):
        if i is None or j is None:
            continue
        who, name = truth[i].speaker, result.name_of(hyp[j].speaker)
        if who in enrolled:
            counts["enrolled_words"] += 1
            counts["enrolled_right"] += name == who
        else:
            counts["other_words"] += 1
            counts["other_with_enrolled_name"] += name in enrolled
        counts["wrong_enrolled_name"] += name in enrolled and name != who
    return dict(counts)


CPU: dict[str, float] = {}


def _cpu_timed(function):
    """``function`` with the process CPU seconds it takes added to CPU["voices"] (it runs alone)."""
    import time

    def timed(*args, **kwargs):
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            CPU["voices"] = CPU.get("voices", 0.0) + time.process_time() - started

    return timed


def run(name: str, suite: Path, out: Path, config, models, library: Path | None, with_transcript: bool):
    f = files(suite, name)
    CPU.clear()
    job = Job(f["audio"], out / name, reference=f.get("transcript") if with_transcript else None,
              voices=library, source=name)
    outcome = process(job, config, models)
    return outcome, f


def describe(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    v = sorted(values)
    q = statistics.quantiles(v, n=20, method="inclusive") if len(v) > 1 else [v[0]] * 19
    return {"n": len(v), "min": v[0], "p5": q[0], "p50": statistics.median(v), "p95": q[-1], "max": v[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", type=Path, required=True)
    ap.add_argument("--enroll", nargs="+", required=True)
    ap.add_argument("--name", nargs="+", required=True)
    ap.add_argument("--others", nargs="*", default=[])
    ap.add_argument("-o", "--out", type=Path, default=Path("out/voices-calibration"))
    ap.add_argument("-c", "--config", default=None)
    ap.add_argument("--set", nargs="*", default=[], help="voices options, KEY=VALUE")
    ap.add_argument("--pairs", nargs="*", type=float, default=[],
                    help="also score one-episode prints of every pair of episodes, for each of these "
                         "max_seconds (the crops embedded once)")
    args = ap.parse_args()

    import pipeline.voices

    pipeline.voices.name_and_enroll = _cpu_timed(pipeline.voices.name_and_enroll)
    config = cfg.load(args.config)
    changes = {k: float(v) for k, v in (s.split("=", 1) for s in args.set)}
    config = cfg.override(config, "voices", **changes)
    library = args.out / "voices.sqlite"
    for stale in args.out.glob("voices.sqlite*"):
        stale.unlink()
    args.out.mkdir(parents=True, exist_ok=True)
    models = CachedModels(config, args.out / "cache")
    models.diarization_pipeline()  # loaded before any naming is timed
    report: dict = {"voices_options": config.voices.model_dump(), "episodes": {}}

    def record(name, kind, outcome, f, plain=None):
        with VoiceLibrary(library) as lib:
            enrolled = {v.name for v in lib.voices()}
        words = [Word(w) for w in json.loads(f["words"].read_text())["words"]]
        seconds = processing_seconds(outcome.timings, config, models.seconds)
        entry = {"kind": kind, "names": outcome.result.speaker_names, "naming": outcome.result.naming,
                 "voices_cpu_s": round(CPU.get("voices", 0.0), 3),
                 "identities": identities(outcome.result, metrics.read_rttm(f["rttm"])),
                 "words": word_counts(outcome.result, words, enrolled), "processing_s": seconds,
                 "naming_s": outcome.timings.get(Stage.NAMING, 0.0)}
        if plain is not None:
            entry["naming_s_without_voices"] = plain.timings.get(Stage.NAMING, 0.0)
        report["episodes"][name] = entry
        print(f"{name} ({kind}): {entry['names']} {entry['words']} naming {entry['naming_s']:.2f} s "
              f"of {seconds:.1f} s", flush=True)

    for name in args.enroll:
        plain, _ = run(name, args.suite, args.out / "plain", config, models, None, True)
        outcome, f = run(name, args.suite, args.out, config, models, library, True)
        record(name, "enroll", outcome, f, plain)
    for name in args.name:
        outcome, f = run(name, args.suite, args.out, config, models, library, False)
        record(name, "name", outcome, f)
    report["library"] = [vars(v) for v in VoiceLibrary(library).voices()]
    report["scores"] = score_distributions(args, config, models, library, report)
    if args.pairs:
        report["pairs"] = pairwise(args, config, models)
    (args.out / "calibration.json").write_text(json.dumps(report, indent=1, default=list))
    summarize(report)


def score_distributions(args, config, models, library: Path, report: dict) -> dict:
    """Every diarized speaker of the named and other episodes against every enrolled voice."""
    with VoiceLibrary(library) as lib:
        voices = lib.centroids()
        enrolled_from = {}
        for name in args.enroll:
            meta = json.loads(files(args.suite, name)["meta"].read_text())
            for key, s in meta["speakers"].items():
                enrolled_from.setdefault(key, s["voice"]["id"])
    rows = []
    for name in [*args.name, *args.others]:
        f = files(args.suite, name)
        meta = json.loads(f["meta"].read_text())
        outcome = run(name, args.suite, args.out / "scores", config, models, None, False)[0]
        result = outcome.result
        prints = speaker_prints(result, audio_stage.load(f["audio"]), models, config.voices)
        truth = identities(result, metrics.read_rttm(f["rttm"]))
        table = score_table({s: p.centroid for s, p in prints.items()}, voices)
        for label, row in table.items():
            who, purity = truth.get(label, ("?", 0.0))
            voice_id = meta["speakers"].get(who, {}).get("voice", {}).get("id")
            for voice, score in row.items():
                kind = "non_speech" if who == "(non-speech)" else "same" if who == voice else (
                    "same_synthetic_voice" if voice_id and enrolled_from.get(voice) == voice_id else "different")
                rows.append({"episode": name, "label": label, "truth": who, "purity": round(purity, 3),
                             "seconds": prints[label].seconds, "voice": voice, "score": score, "kind": kind})
    return {"rows": rows, **{kind: describe([r["score"] for r in rows if r["kind"] == kind])
                             for kind in ("same", "different", "same_synthetic_voice")}}


def pairwise(args, config, models) -> dict:
    """One-episode prints of every diarized speaker, each pair of episodes scored, per max_seconds."""
    import numpy as np

    from pipeline.voices.prints import centroid, speaker_crops, spread

    everything = config.voices.model_copy(update={"max_seconds": 1e9})
    labels = []  # (episode, show, truth, voice id, purity, crops, embeddings)
    for name in [*args.enroll, *args.name, *args.others]:
        f = files(args.suite, name)
        meta = json.loads(f["meta"].read_text())
        result = run(name, args.suite, args.out / "scores", config, models, None, False)[0].result
        truth = identities(result, metrics.read_rttm(f["rttm"]))
        crops = speaker_crops(result.diarization, result.speakers, everything)
        spans = [c for label in crops for c in crops[label]]
        embedded = _embedded(args.out / "pairs-cache", name, f["audio"], spans, models)
        i = 0
        for label, own in crops.items():
            who, purity = truth.get(label, ("?", 0.0))
            voice = meta["speakers"].get(who, {}).get("voice", {}).get("id", "?")
            labels.append((name, meta["show"], who, voice, purity, own, embedded[i:i + len(own)]))
            i += len(own)
    out = {}
    for cap in args.pairs:
        prints = []
        for ep, show, who, voice, purity, own, emb in labels:
            keep = {c: k for k, c in enumerate(own)}
            chosen = [keep[c] for c in spread(own, cap)]
            seconds = sum(e - s for s, e in (own[k] for k in chosen))
            if seconds >= config.voices.min_seconds:
                prints.append((ep, show, who, voice, purity, centroid(emb[chosen])))
        rows = []
        for a in range(len(prints)):
            for b in range(a + 1, len(prints)):
                pa, pb = prints[a], prints[b]
                if pa[0] == pb[0]:
                    continue  # two labels of one episode: not what a library compares
                same = pa[1] == pb[1] and pa[2] == pb[2]
                kind = ("non_speech" if "(non-speech)" in (pa[2], pb[2]) else "same" if same
                        else "same_synthetic_voice" if pa[3] == pb[3] else "different")
                rows.append({"a": f"{pa[0]}:{pa[2]}", "b": f"{pb[0]}:{pb[2]}", "kind": kind,
                             "purity": min(pa[4], pb[4]), "score": round(float(np.dot(pa[5], pb[5])), 4)})
        out[str(cap)] = {"rows": rows, **{kind: describe([r["score"] for r in rows if r["kind"] == kind])
                                          for kind in ("same", "different", "same_synthetic_voice")}}
        top = sorted((r for r in rows if r["kind"] == "different"), key=lambda r: -r["score"])[:3]
        low = sorted((r for r in rows if r["kind"] == "same"), key=lambda r: r["score"])[:3]
        print(f"pairs, max_seconds {cap:g}: same {out[str(cap)]['same']}\n  different {out[str(cap)]['different']}"
              f"\n  highest different {top}\n  lowest same {low}", flush=True)
    return out


def _embedded(cache: Path, name: str, audio: Path, spans, models):
    """Unit embeddings of ``spans`` of an episode, kept in ``cache`` (keyed by the spans)."""
    import hashlib

    import numpy as np

    from pipeline.voices.prints import unit

    key = hashlib.sha256(repr((name, spans)).encode()).hexdigest()[:16]
    path = cache / f"{name}-{key}.npy"
    if path.is_file():
        return np.load(path)
    embedded = unit(models.embed(audio_stage.load(audio), spans))
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, embedded)
    return embedded


def summarize(report: dict) -> None:
    totals = Counter()
    for e in report["episodes"].values():
        if e["kind"] == "name":
            totals.update(e["words"])
    right = totals["enrolled_right"] / max(totals["enrolled_words"], 1)
    print(f"\nnamed episodes: enrolled speakers' words with the right name {totals['enrolled_right']}/"
          f"{totals['enrolled_words']} = {100 * right:.1f} %; words of others with an enrolled name "
          f"{totals['other_with_enrolled_name']}/{totals['other_words']}; wrong enrolled names (all words) "
          f"{sum(e['words'].get('wrong_enrolled_name', 0) for e in report['episodes'].values())}")
    for kind in ("same", "different", "same_synthetic_voice"):
        print(f"{kind}: {report['scores'][kind]}")
    top_diff = sorted((r for r in report["scores"]["rows"] if r["kind"] == "different"), key=lambda r: -r["score"])[:5]
    for r in top_diff:
        print(f"  highest different: {r}")
    low_same = sorted((r for r in report["scores"]["rows"] if r["kind"] == "same"), key=lambda r: r["score"])[:5]
    for r in low_same:
        print(f"  lowest same: {r}")
    for name, e in report["episodes"].items():
        extra = e["naming_s"] - e.get("naming_s_without_voices", 0.0)
        print(f"{name}: voices add {extra:.2f} s to {e['processing_s']:.1f} s "
              f"({100 * extra / max(e['processing_s'], 1e-9):.1f} %), {e['voices_cpu_s']:.2f} CPU s")


if __name__ == "__main__":
    shutil.os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    main()
