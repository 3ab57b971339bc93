"""One episode, from script to files: audio, published transcript, RTTM, words.json and meta.json."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mix
import numpy as np
import publish
import truth
from build_seed import speech_rms_db
from catalog import VOICES
from render import timed_clip, trim_map
from script import Episode
from transcript import split_sentences
from voices import SAMPLE_RATE as SR

FLAC_RATE, MP3_BITRATE = 16000, "48k"
SIMILAR = 1.10  # two shifts of one base voice closer than this in pitch count as similar voices
TRUTH_NOTE = ("word times come from the synthesizer's own predicted phoneme durations (whole 25 ms "
              "units for hibari and Kokoro, 256-sample units at 22.05 kHz for Piper), mapped through "
              "trimming, pitch-shift resampling and layout; a word runs from its first to its last "
              "non-punctuation phoneme, clamped to the speech the trimming kept")


@dataclass(frozen=True)
class Built:
    episode: Episode
    audio: np.ndarray
    rttm: list
    words: list
    meta: dict
    transcript: tuple[str, str]  # text, extension


def conditions(episode: Episode, meta: dict) -> list[str]:
    events, speakers = episode.events, episode.speakers.values()
    kinds = {e.kind for e in events}
    gains = [sp.gain_db for sp in speakers if sp.published]
    soundbites = [k for k, sp in episode.speakers.items() if sp.soundbite]
    found = {
        "music_bed": "music" in kinds, "jingle": "jingle" in kinds, "station_id": "station" in kinds,
        "phone": any(sp.phone for sp in speakers), "street_noise": "noise" in kinds,
        "reverb": any(sp.reverb for sp in speakers),
        "level_difference": max(gains) - min(gains) >= 8, "backchannel": "backchannel" in kinds,
        "overlap": bool(meta["overlaps"]), "barge_in": "bargein" in kinds,
        "soundbite": any(meta["expected"]["published_words"].get(k, 99) <= 15 for k in soundbites),
        "similar_voices": bool(similar_pairs(episode)),
        "long_absence": any(r["longest_absence_s"] >= truth.ABSENCE_S for r in meta["speakers"].values()),
        "ad_break": "ad" in kinds, "cut_for_time": "cut" in kinds,
    }
    return [name for name, present in found.items() if present]


def similar_pairs(episode: Episode) -> list[list[str]]:
    """Speakers with the same base voice whose pitches differ by less than SIMILAR (a ratio)."""
    keys = sorted(episode.speakers)
    out = []
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            va, vb = VOICES[episode.speakers[a].voice], VOICES[episode.speakers[b].voice]
            ratio = max(va.shift, vb.shift) / min(va.shift, vb.shift)
            if (va.engine, va.name) == (vb.engine, vb.name) and ratio < SIMILAR:
                out.append([a, b])
    return out


def cut_rows(episode: Episode, line: mix.Timeline, cache: Path) -> list[dict]:
    """Each line cut for time: its text, where in the audio it was cut, its place among the published words."""
    published = publish.published_lines(episode)
    rows = []
    for k, at in line.cuts:
        event = episode.events[k]
        before = sum(len(p.text.split()) for p in published[: published.index(event)])
        voice, seconds = VOICES[episode.speakers[event.speaker].voice], 0.0
        for text in split_sentences(event.text):  # how long it would have lasted: synthesized, not laid
            clip, _ = trim_map(timed_clip(voice, text, 0, cache, {}).audio, mix.LAYOUT)
            seconds += len(clip.audio) / SR + 0.45
        rows.append({"speaker": event.speaker, "text": event.text, "at": truth.s(at),
                     "published_word_start": before, "published_words": len(event.text.split()),
                     "would_last_s": round(seconds, 1)})
    return rows


def metadata(episode: Episode, line: mix.Timeline, words: list, cache: Path) -> dict:
    h = episode.header
    regions = truth.regions(line)
    nonspeech = {}
    for r in regions:
        nonspeech[r["kind"]] = round(nonspeech.get(r["kind"], 0.0) + r["end"] - r["start"], 3)
    turns = publish.expected_turns(episode)
    meta = {"name": episode.name, "title": h["title"], "show": h["show"], "station": h["station"],
            "date": h["date"], "split": h["split"], "format": h["format"], "duration": truth.s(line.length),
            "expected": {"speakers": list(dict.fromkeys(sp for sp, _ in turns)),
                         "turns": [{"speaker": sp, "text": t} for sp, t in turns],
                         "published_words": publish.word_counts(episode)},
            "speakers": truth.speaker_rows(episode, line, words), "regions": regions,
            "nonspeech_s": nonspeech, "unpublished": truth.unpublished(episode, line),
            "cut_for_time": cut_rows(episode, line, cache), "overlaps": truth.overlaps(line),
            "similar_voices": similar_pairs(episode),
            "truth": {"words": TRUTH_NOTE, "spread_sentences": sum(t.timing == "spread" for t in line.takes)}}
    meta["ads"] = [u for u in meta["unpublished"] if u["kind"] == "ad"]
    meta["conditions"] = conditions(episode, meta)
    return meta


def build(episode: Episode, cache: Path) -> Built:
    takes = mix.render_takes(episode, cache)
    mix.apply_channels(episode, takes)
    line = mix.lay_out(episode, takes)
    audio = mix.mix(episode, line)
    words = truth.word_rows(episode, line)
    meta = metadata(episode, line, words, cache)
    meta["levels_db"] = {k: round(speech_rms_db([t.audio for t in takes if t.line.speaker == k], mix.LAYOUT), 1)
                         for k in episode.speakers if any(t.line.speaker == k for t in takes)}
    return Built(episode, audio, truth.rttm_lines(episode.name, line), words, meta, publish.write(episode))


def write_audio(audio: np.ndarray, path: Path) -> None:
    import soundfile as sf
    from scipy.signal import resample_poly

    low = np.clip(resample_poly(audio, 2, 3), -1, 1)
    if path.suffix == ".flac":
        sf.write(path, low, FLAC_RATE, subtype="PCM_16", format="FLAC")
        return
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "x.wav"
        sf.write(wav, low, FLAC_RATE, subtype="PCM_16")
        cmd = [shutil.which("ffmpeg") or "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav),
               "-ac", "1", "-c:a", "libmp3lame", "-b:a", MP3_BITRATE, "-map_metadata", "-1",
               "-fflags", "+bitexact", "-flags:a", "+bitexact", str(path)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"ffmpeg failed ({done.returncode}): {done.stderr.strip()}")


def write(built: Built, out: Path, audio_format: str) -> dict:
    """Write the episode's files into out; returns the index's file names."""
    name, (text, ext) = built.episode.name, built.transcript
    files = {"audio": f"{name}.{audio_format}", "transcript": f"{name}{ext}", "rttm": f"{name}.rttm",
             "words": f"{name}.words.json", "meta": f"{name}.meta.json"}
    write_audio(built.audio, out / files["audio"])
    (out / files["transcript"]).write_text(text, encoding="utf-8")
    (out / files["rttm"]).write_text("\n".join(built.rttm) + "\n", encoding="utf-8")
    doc = {"uri": name, "note": TRUTH_NOTE, "words": built.words}
    (out / files["words"]).write_text(json.dumps(doc, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    meta = {**built.meta, "files": files}
    (out / files["meta"]).write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return files
