"""Listen-free checks of samples/seed/, run with the main project's venv (it has faster-whisper).

    .venv/bin/python tools/seed/check_seed.py [--dir samples/seed] [--no-asr] [--no-embeddings]

* signal: every RTTM span carries speech energy, the pauses between them are near-silent, nothing
  clips, the MP3 lines up with the FLAC;
* ASR: faster-whisper (the cached ``whisper-base``, int8, beam 5) on seed.flac; WER against the
  spoken text after whisper's EnglishTextNormalizer, overall and per speaker (words go to the
  speaker whose span holds their midpoint);
* speakers: cosine similarity of per-speaker mean CAM++ embeddings (pipeline.campplus), if it loads.

Prints a JSON report; exits 1 when a signal check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000
WHISPER = Path(os.path.expanduser("~/.cache/radio-pipeline/models/whisper-base"))
CAMPPLUS = Path(os.path.expanduser("~/.cache/radio-pipeline/models/campplus"))


def decode(path: Path) -> np.ndarray:
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "f32le", "-ac", "1",
           "-ar", str(RATE), "-"]
    done = subprocess.run(cmd, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"ffmpeg could not decode {path}: {done.stderr.decode().strip()}")
    return np.frombuffer(done.stdout, np.float32)


def read_rttm(path: Path) -> list[tuple[float, float, str]]:
    rows = []
    for line in path.read_text().splitlines():
        f = line.split()
        rows.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return rows


def db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12))


def signal_checks(audio: np.ndarray, mp3: np.ndarray, spans) -> dict:
    guard = int(0.02 * RATE)
    inside = [db(audio[int(s * RATE) + guard: int(e * RATE) - guard]) for s, e, _ in spans]
    gaps = [(e, s2) for (_, e, _), (s2, _, _) in pairwise(spans)]
    outside = [db(audio[int(a * RATE) + guard: int(b * RATE) - guard]) for a, b in gaps]
    n = min(len(audio), len(mp3), 60 * RATE)
    lags = np.arange(-400, 401)
    corr = [np.dot(audio[1000:n - 1000], mp3[1000 + k: n - 1000 + k]) for k in lags]
    report = {
        "duration_s": round(len(audio) / RATE, 2),
        "speech_s": round(sum(e - s for s, e, _ in spans), 2),
        "spans": len(spans),
        "speakers": sorted({n for _, _, n in spans}),
        "spans_sorted_disjoint": all(e1 <= s2 for (_, e1, _), (s2, _, _) in pairwise(spans)),
        "span_rms_db_min": round(min(inside), 1),
        "pause_rms_db_max": round(max(outside), 1),
        "pause_s_min_max": [round(min(b - a for a, b in gaps), 3), round(max(b - a for a, b in gaps), 3)],
        "peak": round(float(np.abs(audio).max()), 3),
        "samples_at_full_scale": int((np.abs(audio) > 0.999).sum()),
        "mp3_minus_flac_duration_s": round((len(mp3) - len(audio)) / RATE, 4),
        "mp3_lag_ms": round(1000 * float(lags[int(np.argmax(corr))]) / RATE, 2),
    }
    report["ok"] = bool(report["spans_sorted_disjoint"] and report["span_rms_db_min"] > -40
                        and report["pause_rms_db_max"] < -55 and report["samples_at_full_scale"] == 0
                        and abs(report["mp3_lag_ms"]) <= 5 and abs(report["mp3_minus_flac_duration_s"]) < 0.1)
    return report


def asr_check(flac: Path, words_doc: dict) -> dict:
    import jiwer
    from faster_whisper import WhisperModel
    from whisper.normalizers import EnglishTextNormalizer

    model = WhisperModel(str(WHISPER), device="cpu", compute_type="int8", cpu_threads=2)
    segments, _ = model.transcribe(str(flac), beam_size=5, language="en", word_timestamps=True)
    words = [w for seg in segments for w in seg.words]
    norm = EnglishTextNormalizer()
    sentences = words_doc["sentences"]

    def owner(t: float) -> str:
        return min(sentences, key=lambda s: 0 if s["start"] <= t <= s["end"]
                   else min(abs(t - s["start"]), abs(t - s["end"])))["speaker"]

    report = {"model": WHISPER.name, "hypothesis": "".join(w.word for w in words).strip()}
    reference = " ".join(s["text"] for s in sentences)
    report["wer"] = round(jiwer.wer(norm(reference), norm(report["hypothesis"])), 4)
    per = {}
    for speaker in sorted({s["speaker"] for s in sentences}):
        ref = norm(" ".join(s["text"] for s in sentences if s["speaker"] == speaker))
        hyp = norm("".join(w.word for w in words if owner((w.start + w.end) / 2) == speaker))
        per[speaker] = round(jiwer.wer(ref, hyp), 4)
    report["wer_by_speaker"] = per
    return report


def embedding_check(audio: np.ndarray, sentences: list[dict], window: float = 3.0) -> dict:
    """Cosine similarities of CAM++ embeddings of 3 s windows (the last one of a sentence if >= 1.5 s)."""
    import torch

    sys.path.insert(0, str(ROOT))
    from pipeline.stages.campplus import CamPPlusEmbedding

    model = CamPPlusEmbedding.from_file(CAMPPLUS)
    by_speaker: dict[str, list[np.ndarray]] = {}
    step = int(window * RATE)
    for s in sentences:
        clip = audio[int(s["start"] * RATE): int(s["end"] * RATE)]
        for cut in range(0, len(clip), step):
            piece = clip[cut: cut + step]
            if len(piece) < step // 2:
                continue
            with torch.no_grad():
                e = model(torch.from_numpy(piece.copy())[None, None])[0].numpy()
            by_speaker.setdefault(s["speaker"], []).append(e / np.linalg.norm(e))
    names = sorted(by_speaker)
    means = {n: np.mean(by_speaker[n], axis=0) for n in names}
    means = {n: m / np.linalg.norm(m) for n, m in means.items()}
    within, nearest_other = {}, {}
    for n in names:
        e = np.array(by_speaker[n])
        within[n] = round(float((e @ e.T)[np.triu_indices(len(e), 1)].mean()), 3)
        others = np.concatenate([np.array(by_speaker[o]) for o in names if o != n])
        nearest_other[n] = round(float((e @ others.T).max()), 3)
    return {"model": "CAM++ (campplus_cn_en_common)", "window_s": window, "speakers": names,
            "windows": {n: len(by_speaker[n]) for n in names},
            "mean_cosine": [[round(float(means[a] @ means[b]), 3) for b in names] for a in names],
            "within_speaker_mean_window_cosine": within,
            "max_window_cosine_to_another_speaker": nearest_other}


def main() -> None:
    parser = argparse.ArgumentParser(description="Check samples/seed/ without listening.")
    parser.add_argument("--dir", type=Path, default=ROOT / "samples" / "seed")
    parser.add_argument("--no-asr", action="store_true")
    parser.add_argument("--no-embeddings", action="store_true")
    args = parser.parse_args()
    doc = json.loads((args.dir / "seed.words.json").read_text(encoding="utf-8"))
    spans = read_rttm(args.dir / "seed.rttm")
    audio = decode(args.dir / "seed.flac")
    report = {"signal": signal_checks(audio, decode(args.dir / "seed.mp3"), spans)}
    listed = [(a, b, s["speaker"]) for s in doc["sentences"] for a, b in s["speech"]]
    report["signal"]["rttm_matches_words_json"] = len(spans) == len(listed) and all(
        n == n2 and abs(s - s2) < 0.002 and abs(e - e2) < 0.002
        for (s, e, n), (s2, e2, n2) in zip(spans, listed, strict=True))
    if not args.no_asr:
        report["asr"] = asr_check(args.dir / "seed.flac", doc)
    if not args.no_embeddings:
        try:
            report["embeddings"] = embedding_check(audio, doc["sentences"])
        except ImportError as e:
            report["embeddings"] = f"skipped: {e}"
    print(json.dumps(report, indent=1))
    sys.exit(0 if report["signal"]["ok"] and report["signal"]["rttm_matches_words_json"] else 1)


if __name__ == "__main__":
    main()
