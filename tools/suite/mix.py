"""An episode script to audio on one timeline, with every sentence's speech spans and word times.

Sentences are synthesized and trimmed as for the seed (``render``), go through their speaker's channel
(phone line, room), are set to the speaker's level (-20 dBFS speech RMS plus ``gain``), and are laid
out with seeded pauses; backchannels and barge-ins overlap the sentence before them. Music beds duck
under speech (-24 dBFS alone, -38 dBFS, i.e. 18 dB below the voice, under it), street noise sits at
-36 dBFS, stings at -22 dBFS, all over a -72 dBFS noise floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sound
from build_seed import Layout, speech_rms_db
from catalog import VOICES
from engines import frontend_phonemes
from render import timed_clip, trim_map
from script import SPOKEN, Cue, Episode, Line
from transcript import split_sentences
from voices import SAMPLE_RATE as SR
from words import assign, to_clip

LAYOUT = Layout()
BED_ALONE_DB, BED_UNDER_DB, NOISE_DB, STING_DB = -24.0, -38.0, -36.0, -22.0
FADE = 1.0  # seconds a music bed takes to fade out after its last cue
AD_LEAD, AD_TAIL = 1.5, 1.0  # ad music alone before and after the copy


@dataclass
class Take:
    """One sentence, rendered: its audio (a room's tail included) and, in clip samples, its speech."""

    event: int
    line: Line
    text: str
    audio: np.ndarray
    spans: tuple  # speech parts (start, end)
    words: list  # (word, start, end)
    timing: str  # "model" or "spread"
    start: int = 0  # on the timeline, set by the layout


def render_takes(episode: Episode, cache: Path) -> list[Take]:
    loaded, takes = {}, []
    for k, event in enumerate(episode.events):
        if not isinstance(event, Line) or event.kind not in SPOKEN:
            continue
        voice = VOICES[episode.speakers[event.speaker].voice]
        for text in split_sentences(event.text):
            spoken = timed_clip(voice, text, episode.seed * 1000 + len(takes), cache, loaded)
            clip, pieces = trim_map(spoken.audio, LAYOUT)
            words = text.split()
            spans, timing = assign(words, frontend_phonemes(voice.engine, words), spoken.groups)
            timed = [(w, *to_clip(s, pieces)) for w, s in zip(words, spans, strict=True)]
            takes.append(Take(k, event, text, clip.audio, clip.speech, timed, timing))
    return takes


def apply_channels(episode: Episode, takes: list[Take]) -> None:
    """Phone line and room per speaker, then each speaker at -20 dBFS + gain (speech RMS)."""
    rooms = {key: sound.room(0.55, np.random.default_rng([episode.seed, i]))
             for i, key in enumerate(sorted(episode.speakers)) if episode.speakers[key].reverb}
    for take in takes:
        speaker = episode.speakers[take.line.speaker]
        if speaker.phone:
            take.audio = sound.phone(take.audio)
        if speaker.reverb:
            take.audio = sound.reverb(take.audio, rooms[take.line.speaker])
    for key, speaker in episode.speakers.items():
        mine = [t for t in takes if t.line.speaker == key]
        if not mine:
            continue
        target = LAYOUT.speech_rms_db + speaker.gain_db
        gain = np.float32(10 ** ((target - speech_rms_db([t.audio for t in mine], LAYOUT)) / 20))
        for take in mine:
            take.audio = take.audio * gain


@dataclass
class Timeline:
    takes: list
    beds: list  # (kind, start, end) in samples: music, noise, jingle
    cuts: list  # (event index, at sample)
    ads: list  # (event index, start, end) in samples, music included
    length: int = 0


def _gap(rng: np.random.Generator, turn: bool) -> int:
    low, high = LAYOUT.turn_gap if turn else LAYOUT.sentence_gap
    return round(rng.uniform(low, high) * SR)


def _place(take: Take, prev: Take | None, first: bool, cursor: int, rng) -> tuple[int, int]:
    """(start of the take, new cursor): backchannels and barge-ins overlap the previous take."""
    dry = take.spans[-1][1]
    if prev is not None and take.line.kind == "backchannel":
        end_prev = prev.start + prev.spans[-1][1]
        start = max(prev.start + round(0.2 * SR), end_prev - dry - round(rng.uniform(0.15, 0.6) * SR))
        return start, cursor
    if prev is not None and take.line.kind == "bargein" and first:
        start = prev.start + prev.spans[-1][1] - round(rng.uniform(0.3, 0.8) * SR)
        return start, start + dry
    turn = prev is None or first or prev.line.speaker != take.line.speaker
    start = cursor + _gap(rng, turn)
    return start, start + dry


def lay_out(episode: Episode, takes: list[Take]) -> Timeline:
    rng = np.random.default_rng([episode.seed, 1])
    line = Timeline(takes, [], [], [])
    cursor, prev, open_at = round(LAYOUT.lead * SR), None, {}
    by_event: dict[int, list[Take]] = {}
    for take in takes:
        by_event.setdefault(take.event, []).append(take)
    for k, event in enumerate(episode.events):
        if isinstance(event, Cue):
            cursor = _cue(event, cursor, open_at, line)
        elif event.kind == "cut":
            line.cuts.append((k, cursor))
        elif k in by_event:
            if event.kind == "ad":
                ad_start, cursor = cursor + round(0.3 * SR), cursor + round((0.3 + AD_LEAD) * SR)
            for j, take in enumerate(by_event[k]):
                take.start, cursor = _place(take, prev, j == 0, cursor, rng)
                prev = take if take.line.kind != "backchannel" else prev
            if event.kind == "ad":
                cursor += round(AD_TAIL * SR)
                line.beds.append(("music", ad_start, cursor + round(0.8 * SR)))
                line.ads.append((k, ad_start, cursor + round(0.8 * SR)))
                cursor += round(0.8 * SR)
    for kind, start in open_at.items():  # a bed never closed runs to the end
        line.beds.append((kind, start, cursor))
    line.length = cursor + round(LAYOUT.lead * SR)
    return line


def _cue(cue: Cue, cursor: int, open_at: dict, line: Timeline) -> int:
    seconds = round(cue.seconds * SR)
    if cue.kind in ("music", "noise"):
        open_at[cue.kind] = cursor
        return cursor + seconds
    if cue.kind in ("music_end", "noise_end"):
        kind = cue.kind.split("_")[0]
        end = cursor + seconds + (round(FADE * SR) if kind == "music" else 0)
        line.beds.append((kind, open_at.pop(kind), end))
        return end
    if cue.kind == "jingle":
        length = len(sound.sting(np.random.default_rng(0)))
        line.beds.append(("jingle", cursor, cursor + length))
        return cursor + length + round(0.3 * SR)
    return cursor + seconds  # pause


def speech_mask(line: Timeline) -> np.ndarray:
    mask = np.zeros(line.length, bool)
    for take in line.takes:
        for a, b in take.spans:
            mask[take.start + a: take.start + b] = True
    return mask


def _bed(kind: str, n: int, rng, duck: np.ndarray) -> np.ndarray:
    if kind == "jingle":
        return sound.sting(rng)[:n] * np.float32(10 ** (STING_DB / 20))
    if kind == "noise":
        return sound.street(n / SR, rng) * np.float32(10 ** (NOISE_DB / 20))
    gain_db = BED_ALONE_DB + (BED_UNDER_DB - BED_ALONE_DB) * duck
    fade = np.minimum(1.0, np.minimum(np.arange(n), n - np.arange(n)) / (FADE * SR))
    return sound.music(n / SR, rng) * (10 ** (gain_db / 20) * fade).astype(np.float32)


def mix(episode: Episode, line: Timeline) -> np.ndarray:
    """The episode's audio: takes, beds and the noise floor, turned down together if it would clip."""
    audio = np.random.default_rng(episode.seed).standard_normal(line.length).astype(np.float32)
    audio *= np.float32(10 ** (LAYOUT.noise_db / 20))
    smooth = round(0.3 * SR)
    duck = np.convolve(speech_mask(line).astype(np.float32), np.ones(smooth, np.float32) / smooth, "same")
    for i, (kind, start, end) in enumerate(line.beds):
        end = min(end, line.length)
        rng = np.random.default_rng([episode.seed, 2, i])
        audio[start:end] += _bed(kind, end - start, rng, np.clip(duck[start:end] * 1.5, 0, 1))
    for take in line.takes:
        n = min(len(take.audio), line.length - take.start)
        audio[take.start: take.start + n] += take.audio[:n]
    peak = float(np.abs(audio).max())
    limit = 10 ** (LAYOUT.peak_db / 20)
    return audio * np.float32(min(1.0, limit / peak))
