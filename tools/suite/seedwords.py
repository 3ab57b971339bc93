"""Add word-level truth to samples/seed/seed.words.json: every spoken word with its start, end and speaker.

The seed is synthesized again, sentence by sentence, by the timed engines (same phonemes, seeds and
graphs as tools/seed, plus the durations each model predicts). The committed audio came from another
CPU: int8 kernels and FFT rounding move some predicted durations by a 25 ms unit, so the rebuilt
sentences drift from the committed ones by up to ~0.1 s. Each rebuilt sentence is therefore warped
onto the committed audio of that sentence (dtw.py), and the words' times follow the warp. Existing
keys of seed.words.json stay as they were; a "words" list (and "words_note") is added.

    tools/suite/.venv/bin/python tools/suite/seedwords.py [--dir samples/seed]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "seed")]
os.environ.setdefault("KOKORO_JA_CACHE", str(HERE / ".cache"))  # the assembled Kokoro model

import numpy as np  # noqa: E402
from build_seed import VOICES, Layout, trim  # noqa: E402
from catalog import seed_voice  # noqa: E402
from dtw import warp  # noqa: E402
from engines import frontend_phonemes  # noqa: E402
from render import timed_clip, trim_map  # noqa: E402
from transcript import parse_turns, split_sentences  # noqa: E402
from voices import SAMPLE_RATE  # noqa: E402
from words import assign, to_clip  # noqa: E402

log = logging.getLogger("seedwords")
NOTE = ("words: every spoken word (the text split at spaces), its speaker, sentence and turn, and its "
        "start and end in seconds, from the durations the synthesizer predicted for its phonemes "
        "(timing 'model'; 'spread' where the word count did not match the phoneme words and the "
        "sentence's words were spread by letters). The sentences were synthesized again for this; "
        "the committed audio came from another CPU, whose rounding moves some predicted durations by "
        "25 ms, so each rebuilt sentence is time-warped (log-spectral DTW) onto the committed audio "
        "of its sentence. Checked on the speech-span edges: median {median:.3f} s, 90th percentile "
        "{p90:.3f} s from the committed spans")
PAD, RATE = 0.1, 16000


def sentence_words(unit, index: int, spoken, pieces, place) -> list[dict]:
    """Rows of one sentence's words; place maps seconds in the rebuilt clip to the episode's timeline."""
    speaker, turn, text = unit
    words = text.split()
    spans, timing = assign(words, frontend_phonemes(VOICES[speaker].engine, words), spoken.groups)
    rows = []
    for word, span in zip(words, spans, strict=True):
        a, b = to_clip(span, pieces)
        rows.append({"word": word, "start": round(place(a / SAMPLE_RATE), 3),
                     "end": round(place(b / SAMPLE_RATE), 3), "speaker": speaker,
                     "sentence": index, "turn": turn, "timing": timing})
    return rows


def placement(clip, sentence: dict, committed: np.ndarray):
    """Seconds in the rebuilt clip to seconds in the committed audio, warped onto its sentence."""
    from scipy.signal import resample_poly

    pad = round(PAD * RATE)
    mine = np.pad(resample_poly(clip.audio, 2, 3), (pad, pad))
    a, b = round(sentence["start"] * RATE) - pad, round(sentence["end"] * RATE) + pad
    to_theirs = warp(mine, committed[max(0, a): b])
    return lambda t: sentence["start"] - PAD + to_theirs(t + PAD)


def span_errors(clip, sentence: dict, place) -> list[float]:
    """How far the rebuilt speech-span edges land from the committed ones, where they pair up."""
    mine = [place(x / SAMPLE_RATE) for a, b in clip.speech for x in (a, b)]
    theirs = [x for a, b in sentence["speech"] for x in (a, b)]
    if len(mine) != len(theirs):
        mine, theirs = [mine[0], mine[-1]], [theirs[0], theirs[-1]]
    return [abs(x - y) for x, y in zip(mine, theirs, strict=True)]


def rebuild(seed_dir: Path, doc: dict, layout: Layout) -> tuple[list[dict], list[float]]:
    """Word rows of every sentence, warped onto the committed audio; and the span-edge errors."""
    import soundfile as sf

    turns = parse_turns((seed_dir / "seed.txt").read_text(encoding="utf-8"))
    units = [(t.speaker, i, s) for i, t in enumerate(turns) for s in split_sentences(t.text)]
    if [u[2] for u in units] != [s["text"] for s in doc["sentences"]]:
        raise SystemExit("seed.txt's sentences are not seed.words.json's")
    committed, _ = sf.read(seed_dir / "seed.flac", dtype="float32")
    loaded, rows, errors = {}, [], []
    for i, (unit, sentence) in enumerate(zip(units, doc["sentences"], strict=True)):
        spoken = timed_clip(seed_voice(unit[0], VOICES[unit[0]]), unit[2], i, HERE / ".cache", loaded)
        clip, pieces = trim_map(spoken.audio, layout)
        if not np.array_equal(clip.audio, trim(spoken.audio, layout).audio):
            raise SystemExit("trim_map disagrees with build_seed.trim")
        place = placement(clip, sentence, committed)
        errors += span_errors(clip, sentence, place)
        rows += sentence_words(unit, i, spoken, pieces, place)
    return rows, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=HERE.parents[1] / "samples" / "seed")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    path = args.dir / "seed.words.json"
    before = path.read_text(encoding="utf-8")
    doc = json.loads(before)
    doc.pop("words", None)
    doc.pop("words_note", None)
    words, errors = rebuild(args.dir, doc, Layout())
    median, p90 = float(np.median(errors)), float(np.percentile(errors, 90))
    doc["words_note"], doc["words"] = NOTE.format(median=median, p90=p90), words
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    spread = sum(w["timing"] == "spread" for w in words)
    log.info("%d words (%d spread) added to %s; span edges off by median %.3f s, p90 %.3f s",
             len(words), spread, path, median, p90)


if __name__ == "__main__":
    main()
