"""The seed episode edited the way broadcasts differ from their transcripts, with its truth.

* **Cut:** the last three sentences of Kelemen's first answer (sentences 9-11, 29.6 s of speech,
  31.2 s with their pauses) are cut from the audio but stay in the published text.
* **Ad:** 20 s of music under speech (pyannote's sample conversation, which is in no transcript)
  are added in the pause before Wertheimer's "Michele, let's listen..." (sentence 18).

:func:`build` writes ``edited.flac`` and returns the truth of every published word and turn in
the edited audio's time (None for the cut words), from the seed's ``seed.words.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from conftest import SAMPLE_WAV, SEED_DIR, music

RATE = 16_000
CUT_SENTENCES = (9, 10, 11)
AD_BEFORE_SENTENCE = 18
AD_SECONDS = 20.0


@dataclass(frozen=True)
class Edited:
    audio: Path
    words: list[dict]  # per published word: word, speaker, turn, start and end (None when cut)
    turns: list[dict]  # per published turn: speaker, start, end (of what is left of it)
    cut_at: float  # where the cut is, in the edited audio
    cut_words: frozenset[int]  # the published words that were cut
    ad: tuple[float, float]  # the ad, in the edited audio


def build(folder: Path) -> Edited:
    from pipeline.stages import audio

    truth = json.loads((SEED_DIR / "seed.words.json").read_text(encoding="utf-8"))
    sentences = truth["sentences"]
    samples = audio.load(SEED_DIR / "seed.flac").samples
    cut = (sentences[CUT_SENTENCES[0]]["start"], sentences[CUT_SENTENCES[-1] + 1]["start"])
    before, after = sentences[AD_BEFORE_SENTENCE - 1]["end"], sentences[AD_BEFORE_SENTENCE]["start"]
    insert = round((before + after) / 2, 3)  # in the middle of the pause
    a, b, c = (int(round(t * RATE)) for t in (*cut, insert))
    ad = _ad()
    edited = np.concatenate([samples[:a], samples[b:c], ad, samples[c:]])
    path = folder / "edited.flac"
    _write_flac(path, edited)
    length = cut[1] - cut[0]

    def moved(t: float) -> float:
        t = t - length if t >= cut[1] else t
        return round(t + AD_SECONDS if t >= insert - length else t, 3)

    words, cut_words = [], set()
    for i, w in enumerate(truth["words"]):
        gone = w["sentence"] in CUT_SENTENCES
        if gone:
            cut_words.add(i)
        words.append({**w, "start": None if gone else moved(w["start"]), "end": None if gone else moved(w["end"])})
    turns = []
    for t in range(len(truth["turns"])):
        left = [w for w in words if w["turn"] == t and w["start"] is not None]
        turns.append({"speaker": truth["turns"][t]["speaker"], "start": left[0]["start"] if left else None,
                      "end": left[-1]["end"] if left else None})
    at = round(insert - length, 3)
    return Edited(path, words, turns, round(cut[0], 3), frozenset(cut_words), (at, round(at + AD_SECONDS, 3)))


def _ad() -> np.ndarray:
    """20 s: a music bed, with 15 s of a conversation over it from 2.5 s."""
    from pipeline.stages import audio

    bed = music(AD_SECONDS) * 0.25
    speech = audio.load(SAMPLE_WAV).samples[3 * RATE: 18 * RATE]
    speech = speech / (np.sqrt(np.mean(speech ** 2)) + 1e-9) * 0.1  # -20 dBFS RMS, as the seed's voices
    start = int(2.5 * RATE)
    bed[start:start + len(speech)] += speech
    return np.clip(bed, -1, 1).astype(np.float32)


def _write_flac(path: Path, samples: np.ndarray) -> None:
    import subprocess

    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-f", "s16le", "-ar", str(RATE), "-ac", "1",
                    "-i", "-", str(path)], input=pcm, check=True)
