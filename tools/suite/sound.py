"""Procedural radio sound, all from seeded NumPy generators: music beds, stings, street noise, rooms, phones.

Nothing here is recorded or copied. Every function returns float32 mono at 24 kHz (``voices.SAMPLE_RATE``)
and, except the channels, is normalized to RMS 1 so the mixer sets its level in dB.

* ``music``: a four-chord loop (I-V-vi-IV and relatives) of additive-saw pads, a plucked bass and a
  kick/snare/hat pattern; ``sting``: a rising arpeggio onto a held chord and a cymbal.
* ``street``: traffic rumble, passing cars, distant crowd babble (syllable-rate modulated speech-band
  noise) and the odd horn.
* ``room``: a synthetic impulse response (early reflections, exponentially decaying noise tail).
* ``phone``: 8 kHz, 300-3400 Hz band-pass and GSM 06.10 full rate through ffmpeg's libgsm, realigned to
  the input by cross-correlation so no time shifts.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt, sosfiltfilt
from voices import SAMPLE_RATE as SR

A2 = 110.0
PROGRESSIONS = ([0, 7, 9, 5], [0, 5, 7, 5], [9, 5, 0, 7], [0, 9, 5, 7])  # semitones over the key
MINOR = {9}  # the vi chord


def _norm(x: np.ndarray) -> np.ndarray:
    return (x / (np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12)).astype(np.float32)


def _hz(semitones: float) -> float:
    return A2 * 2 ** (semitones / 12)


def _saw(freq: float, n: int, harmonics: int = 8) -> np.ndarray:
    t = np.arange(n) / SR
    return sum(np.sin(2 * np.pi * freq * k * t) / k for k in range(1, harmonics + 1) if freq * k < SR / 2)


def _decay(n: int, seconds: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (seconds * SR))


def _chord(root: int, n: int) -> np.ndarray:
    third = 3 if root % 12 in MINOR else 4
    tones = [root + 12, root + 12 + third, root + 19, root + 24]
    pad = sum(_saw(_hz(t) * d, n, 6) for t in tones for d in (0.997, 1.003))
    attack = np.minimum(1.0, np.arange(n) / (0.08 * SR))
    return pad * attack * (0.6 + 0.4 * _decay(n, 1.5))


def _drums(bar: int, beat: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(bar)
    kick_n = int(0.25 * SR)
    sweep = 50 + 70 * _decay(kick_n, 0.03)
    kick = np.sin(2 * np.pi * np.cumsum(sweep) / SR) * _decay(kick_n, 0.09)
    snare = sosfilt(butter(2, [900, 6000], "band", fs=SR, output="sos"), rng.standard_normal(int(0.2 * SR)))
    snare *= _decay(len(snare), 0.05)
    for k in (0, 2):
        out[k * beat: k * beat + kick_n] += kick[: bar - k * beat]
    for k in (1, 3):
        out[k * beat: k * beat + len(snare)] += 0.6 * snare[: bar - k * beat]
    hat_n = int(0.05 * SR)
    high = butter(2, 7000, "high", fs=SR, output="sos")
    for k in range(8):
        at = k * beat // 2
        out[at: at + hat_n] += 0.25 * sosfilt(high, rng.standard_normal(hat_n)) * _decay(hat_n, 0.012)
    return out


def music(seconds: float, rng: np.random.Generator, tempo: float = 96.0) -> np.ndarray:
    """A loop of chords, bass and drums, seconds long (whole bars, cut to length)."""
    n, beat = round(seconds * SR), round(60 / tempo * SR)
    bar, key = 4 * beat, int(rng.integers(0, 7))
    progression = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    bars = []
    for k in range(-(-n // bar)):
        root = key + progression[k % 4]
        pad = _chord(root, bar)
        bass = np.zeros(bar)
        for b in (0, 2):
            pluck = _saw(_hz(root - 12), bar - b * beat, 3) * _decay(bar - b * beat, 0.35)
            bass[b * beat:] += pluck
        bars.append(0.35 * pad + 0.5 * bass + 0.5 * _drums(bar, beat, rng))
    mix = np.concatenate(bars)[:n]
    return _norm(sosfilt(butter(2, 9000, "low", fs=SR, output="sos"), mix))


def sting(rng: np.random.Generator) -> np.ndarray:
    """A station sting: a rising arpeggio (0.11 s a note) onto a held chord with a cymbal, about 2.6 s."""
    key = int(rng.integers(0, 7)) + 12
    notes = [key, key + 4, key + 7, key + 12, key + 16]
    step, hold = int(0.11 * SR), int(2.0 * SR)
    out = np.zeros(step * len(notes) + hold)
    for k, note in enumerate(notes):
        tone = _saw(_hz(note), hold, 5) * _decay(hold, 0.25)
        out[k * step: k * step + hold] += tone
    chord = _chord(key, hold) * _decay(hold, 0.9)
    out[len(notes) * step:] += 0.8 * chord
    crash = sosfilt(butter(2, 5000, "high", fs=SR, output="sos"), rng.standard_normal(hold)) * _decay(hold, 0.5)
    out[len(notes) * step:] += 0.5 * crash
    fade = np.minimum(1.0, (len(out) - np.arange(len(out))) / (0.3 * SR))
    return _norm(out * fade)


def _band_noise(n: int, lo: float, hi: float, rng: np.random.Generator) -> np.ndarray:
    return sosfilt(butter(2, [lo, hi], "band", fs=SR, output="sos"), rng.standard_normal(n))


def _envelope(n: int, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random positive envelope varying at about rate_hz."""
    points = rng.random(int(n / SR * rate_hz) + 3)
    return np.interp(np.arange(n), np.linspace(0, n, len(points)), points) ** 2


def street(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Traffic rumble, passing cars, crowd babble and a horn now and then."""
    n = round(seconds * SR)
    rumble = sosfilt(butter(2, [25, 300], "band", fs=SR, output="sos"), np.cumsum(rng.standard_normal(n)))
    out = _norm(rumble) * 0.8
    t = np.arange(n) / SR
    for at in rng.uniform(0, seconds, max(1, int(seconds / 6))):  # a car every ~6 s
        width = rng.uniform(1.0, 2.5)
        out += 1.2 * _norm(_band_noise(n, 120, 1800, rng)) * np.exp(-(((t - at) / width) ** 2))
    babble = sum(_norm(_band_noise(n, 300, 3000, rng)) * _envelope(n, 4.0, rng) for _ in range(6))
    out += 0.35 * babble
    for at in rng.uniform(0, seconds, int(seconds / 15)):  # a horn every ~15 s
        k, m = int(at * SR), int(0.35 * SR)
        horn = (_saw(400, m, 4) + _saw(500, m, 4)) * np.minimum(1, np.arange(m)[::-1] / (0.05 * SR))
        out[k: k + m] += 0.6 * horn[: n - k]
    return _norm(out)


def room(rt60: float, rng: np.random.Generator) -> np.ndarray:
    """An impulse response: the direct path, six early reflections and a tail decaying 60 dB in rt60."""
    n = int(rt60 * SR)
    ir = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n) * 0.25
    ir[:int(0.004 * SR)] = 0
    for delay, gain in zip(rng.uniform(0.004, 0.03, 6), rng.uniform(0.2, 0.5, 6), strict=True):
        ir[int(delay * SR)] += gain
    ir[0] = 1.0
    return ir.astype(np.float32)


def reverb(audio: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """The audio in the room, its tail included (len(audio) + len(ir) - 1 samples), same energy."""
    wet = fftconvolve(audio, ir)
    return (wet * np.sqrt(np.sum(audio.astype(np.float64) ** 2) / (np.sum(wet ** 2) + 1e-12))).astype(np.float32)


def _gsm(x8: np.ndarray) -> np.ndarray:
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        wav, gsm, back = Path(tmp) / "in.wav", Path(tmp) / "x.gsm", Path(tmp) / "out.wav"
        sf.write(wav, np.clip(x8, -1, 1), 8000, subtype="PCM_16")
        for cmd in (["-i", str(wav), "-c:a", "libgsm", "-f", "gsm", str(gsm)],
                    ["-f", "gsm", "-i", str(gsm), "-c:a", "pcm_s16le", str(back)]):
            done = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *cmd[:-1],
                                   "-fflags", "+bitexact", "-flags:a", "+bitexact", cmd[-1]],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"ffmpeg GSM round trip failed: {done.stderr.strip()}")
        out, _ = sf.read(back, dtype="float32")
    return out


def phone(audio: np.ndarray) -> np.ndarray:
    """The audio over a phone line: 8 kHz, 300-3400 Hz, GSM full rate; same length, no time shift."""
    x8 = resample_poly(audio, 1, 3)
    x8 = sosfiltfilt(butter(4, [300, 3400], "band", fs=8000, output="sos"), x8)
    pad = np.zeros(800)
    coded = _gsm(np.concatenate([pad, x8, pad]))
    lags = np.arange(-200, 201)
    ref = np.concatenate([pad, x8, pad])
    corr = [np.dot(ref[400:-400], coded[400 + k: len(ref) - 400 + k]) for k in lags]
    lag = int(lags[int(np.argmax(corr))])
    x8 = np.pad(coded, (0, 1000))[800 + lag: 800 + lag + len(x8)]
    up = resample_poly(x8, 3, 1)[: len(audio)]
    return np.pad(up, (0, len(audio) - len(up))).astype(np.float32)
