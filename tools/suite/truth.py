"""The truth of a laid-out episode: RTTM, word list, non-speech regions, and its metadata.

Times are seconds, rounded to the millisecond. Speech is what the trimmed sentence clips cover (as
for the seed): pauses between sentences and silences of 0.2 s or more inside them are not speech; a
room's reverberant tail is not speech either. Every second that is not speech belongs to exactly one
non-speech region, named by what plays there: ``jingle`` over ``music`` over ``noise`` over ``silence``.
"""

from __future__ import annotations

import numpy as np
import publish
from catalog import VOICES
from mix import Timeline, speech_mask
from script import Episode
from voices import SAMPLE_RATE as SR

PRIORITY = ("jingle", "music", "noise")
ABSENCE_S = 120.0  # a speaker who is silent this long and then speaks again "returns"


def s(samples: int) -> float:
    return round(samples / SR, 3)


def rttm_lines(name: str, line: Timeline) -> list[str]:
    rows = sorted((t.start + a, t.start + b, t.line.speaker) for t in line.takes for a, b in t.spans)
    return [f"SPEAKER {name} 1 {s(a):.3f} {s(b) - s(a):.3f} <NA> <NA> {who} <NA> <NA>" for a, b, who in rows]


def word_rows(episode: Episode, line: Timeline) -> list[dict]:
    turns = turn_of_event(episode)
    rows = []
    for i, take in enumerate(line.takes):
        speaker = episode.speakers[take.line.speaker]
        published = take.line.kind in ("turn", "bargein") and speaker.published
        for word, a, b in take.words:
            rows.append({"word": word, "start": s(take.start + a), "end": s(take.start + b),
                         "speaker": take.line.speaker, "published": published, "kind": take.line.kind,
                         "sentence": i, "turn": turns.get(take.event) if published else None,
                         "timing": take.timing})
    return sorted(rows, key=lambda r: (r["start"], r["sentence"]))


def turn_of_event(episode: Episode) -> dict[int, int]:
    """Event index to the index of the published (merged) turn it is part of."""
    out, turn, previous = {}, -1, None
    lines = publish.published_lines(episode)
    for k, event in enumerate(episode.events):
        if event in lines:
            turn += event.speaker != previous
            out[k], previous = turn, event.speaker
    return out


def regions(line: Timeline) -> list[dict]:
    """Disjoint non-speech regions covering everything that is not speech."""
    label = np.full(line.length, len(PRIORITY), np.int8)  # silence
    for rank, kind in reversed(list(enumerate(PRIORITY))):
        for bed_kind, a, b in line.beds:
            if bed_kind == kind:
                label[a:b] = rank
    label[speech_mask(line)] = -1
    edges = np.flatnonzero(np.diff(label)) + 1
    out = []
    for a, b in zip([0, *edges], [*edges, line.length], strict=True):
        if label[a] >= 0 and b - a >= SR // 100:
            out.append({"kind": (*PRIORITY, "silence")[label[a]], "start": s(a), "end": s(b)})
    return out


def overlaps(line: Timeline) -> list[dict]:
    spans = sorted((t.start + a, t.start + b, t.line.speaker) for t in line.takes for a, b in t.spans)
    out = []
    for i, (_, b, who) in enumerate(spans):
        for a2, b2, who2 in spans[i + 1:]:
            if a2 >= b:
                break
            if who2 != who:
                out.append({"start": s(a2), "end": s(min(b, b2)), "speakers": [who, who2]})
    return out


def speaker_rows(episode: Episode, line: Timeline, words: list[dict]) -> dict:
    counts = publish.word_counts(episode)
    out = {}
    for key, speaker in episode.speakers.items():
        spans = sorted((t.start + a, t.start + b) for t in line.takes if t.line.speaker == key for a, b in t.spans)
        gaps = [s(a2 - b) for (_, b), (a2, _) in zip(spans, spans[1:], strict=False)]
        out[key] = {"label": speaker.label, "voice": VOICES[speaker.voice].describe(),
                    "published": speaker.published, "phone": speaker.phone, "reverb": speaker.reverb,
                    "soundbite": speaker.soundbite, "gain_db": speaker.gain_db,
                    "speech_s": s(sum(b - a for a, b in spans)),
                    "first": s(spans[0][0]) if spans else None, "last": s(spans[-1][1]) if spans else None,
                    "longest_absence_s": max(gaps, default=0.0),
                    "words_spoken": sum(w["speaker"] == key for w in words),
                    "words_published": counts.get(key, 0)}
    return out


def unpublished(episode: Episode, line: Timeline) -> list[dict]:
    """Spoken but not in the transcript: station IDs, ads (music included), backchannels."""
    out = []
    for k, a, b in line.ads:
        out.append({"kind": "ad", "start": s(a), "end": s(b), "speaker": episode.events[k].speaker,
                    "text": episode.events[k].text})
    events = {}
    for take in line.takes:
        if take.line.kind in ("station", "backchannel") or not episode.speakers[take.line.speaker].published:
            a, b = events.get(take.event, (take.start, 0))
            events[take.event] = (min(a, take.start), max(b, take.start + take.spans[-1][1]))
    for k, (a, b) in sorted(events.items()):
        event = episode.events[k]
        kind = "station_id" if event.kind == "station" else event.kind
        if kind != "ad":
            out.append({"kind": kind, "start": s(a), "end": s(b), "speaker": event.speaker, "text": event.text})
    return sorted(out, key=lambda r: r["start"])
