"""Sweep the diarization's clustering settings over a suite, segmentation and embeddings computed once.

The clustering numbers (threshold, method, minimum cluster size) change neither the segmentation
nor the embeddings, so each episode is segmented and embedded once (pyannote's own training cache
for the segmentation, a memo for the crop embeddings) and only clustered again per setting. The
words come from ``pipeline eval``'s cache (the same ASR options), or are computed there. Each
setting is scored exactly as ``pipeline eval`` scores (alignment, naming, the truth's measures).

    .venv/bin/python tools/tune/sweep_diarization.py SUITE --cache out/eval/cache \\
        --set clustering_threshold=0.6,0.7 --set min_cluster_size=6,12 [--split tune] [--config C]

This is a tuning tool, not the product: the setting it points at is then run through
``pipeline eval`` (the one job path) before it becomes a default.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from anywhere, as the docstring says

from pipeline import config as cfg  # noqa: E402
from pipeline.evaluation import report  # noqa: E402
from pipeline.evaluation.run import CachedModels  # noqa: E402
from pipeline.evaluation.score import score, totals  # noqa: E402
from pipeline.evaluation.suite import load_suite  # noqa: E402
from pipeline.jobs.job import name_speakers  # noqa: E402
from pipeline.scoring import metrics  # noqa: E402
from pipeline.scoring import report as check_report  # noqa: E402
from pipeline.scoring.reference import load as load_reference  # noqa: E402
from pipeline.stages import align, audio, diarize  # noqa: E402


def grid(settings: list[str]) -> list[dict]:
    keys, values = [], []
    for item in settings:
        key, _, options = item.partition("=")
        keys.append(key)
        values.append([_number(v) for v in options.split(",")])
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def _number(text: str):
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def memoize(pipeline, folder: Path) -> None:
    """Segmentation and crop embeddings computed once per file (kept in ``folder`` by the file's
    ``key``: its audio hash and the structural options), whatever the clustering."""
    import numpy as np
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    folder.mkdir(parents=True, exist_ok=True)
    get_segmentations, get_embeddings = pipeline.get_segmentations, pipeline.get_embeddings

    def segmentations(file, hook=None):
        path = folder / f"{file['key']}.segmentation.npz"
        if path.is_file():
            saved = np.load(path)
            start, duration, step = saved["window"]
            return SlidingWindowFeature(saved["data"], SlidingWindow(duration=duration, step=step, start=start))
        found = get_segmentations(file, hook=hook)
        window = found.sliding_window
        np.savez(path, data=found.data, window=np.array([window.start, window.duration, window.step]))
        return found

    def embeddings(file, binary_segmentations, exclude_overlap=False, hook=None):
        path = folder / f"{file['key']}.embeddings.npy"
        if path.is_file():
            return np.load(path)
        found = get_embeddings(file, binary_segmentations, exclude_overlap=exclude_overlap, hook=hook)
        np.save(path, found)
        return found

    pipeline.get_segmentations, pipeline.get_embeddings = segmentations, embeddings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite", type=Path)
    parser.add_argument("--cache", type=Path, default=Path("out/eval/cache"))
    parser.add_argument("--config", default=None)
    parser.add_argument("--split", default="all")
    parser.add_argument("--set", action="append", default=[], help="KEY=V1,V2 (diarization options)")
    parser.add_argument("--out", type=Path, default=None, help="write the table as JSON here")
    args = parser.parse_args()
    base = cfg.load(args.config)
    episodes = load_suite(args.suite, split=args.split)
    models = CachedModels(base, args.cache)
    pipeline = models.diarization_pipeline()
    memoize(pipeline, args.cache / "sweep")
    structure = {k: v for k, v in base.diarization.model_dump().items()
                 if k in ("step", "embedding_mode", "embedding_min_duration", "embedding_max_duration",
                          "embedding_reuse", "embedding_exclude_overlap", "engine")}
    settings = grid(args.set) or [{}]
    scores: dict[str, list] = {json.dumps(s): [] for s in settings}
    for ep in episodes:
        started = time.perf_counter()
        decoded = audio.load(ep.audio)
        words = models.transcribe(decoded).words
        reference, truth_turns = load_reference(ep.transcript), metrics.read_rttm(ep.rttm)
        key = hashlib.sha256(json.dumps([decoded.sha256, structure], sort_keys=True).encode()).hexdigest()[:20]
        file = {"waveform": diarize._checked_waveform(decoded), "sample_rate": 16_000, "uri": ep.name, "key": key}
        for setting in settings:
            options = cfg.override(base, "diarization", where="--set", **setting).diarization
            diarize.configure(pipeline, options)
            output = diarize._run(pipeline, file, options, None, ep.name)
            found = diarize.to_diarization(output.speaker_diarization, output.exclusive_speaker_diarization,
                                           decoded.duration)
            attributed, turns = align.align(words, found, base.align)
            result = _result(decoded, attributed, turns, found, reference)
            checked = check_report.check(result, reference, rttm=truth_turns)
            scores[json.dumps(setting)].append(score(ep, result, truth_turns, checked))
        print(f"{ep.name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    rows = {}
    for setting, found in scores.items():
        t = totals(found)
        rows[setting] = {"totals": t.__dict__, "worst": {s.name: (round(s.right_speaker, 4), s.speaker_count_error,
                                                                 len(s.named), len(s.expected), list(s.wrong_names))
                                                         for s in found}}
        print(setting, "  ".join(f"{name}={show(t)}" for name, show in report.TOTAL_COLUMNS if name != "cpWER"))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


def _result(decoded, words, turns, found, reference):
    from pipeline.types import RunResult

    result = RunResult(audio=decoded.path, audio_sha256=decoded.sha256, duration=decoded.duration, language="en",
                       words=words, turns=turns, speakers=found.speakers, diarization=found.turns)
    return name_speakers(result, reference)


if __name__ == "__main__":
    sys.exit(main())
