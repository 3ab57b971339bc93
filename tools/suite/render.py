"""Synthesized sentences, cached on disk, and trimmed as tools/seed trims them, remembering where.

``timed_clip`` gives a sentence's raw audio and phoneme-word spans (``engines.Spoken``), from
``.cache/clips/`` where it was made before. ``trim_map`` is ``build_seed.trim`` (same samples out)
that also returns which raw samples each kept piece came from, so word times follow the cut.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
from build_seed import Clip, Layout, frame_db
from engines import Spoken, timed_voice
from voices import ENGINE_VERSION, ORT_SEED, PIPER_HEADROOM, SAMPLE_RATE

log = logging.getLogger(__name__)
CACHE_VERSION = "timed-1"  # bump when engines.py changes what it returns


def timed_clip(voice, text: str, seed: int, cache: Path, speakers: dict) -> Spoken:
    """voice: a catalog.Voice; speakers: a dict that keeps loaded synthesizers between calls."""
    key = json.dumps([voice.key(), text, seed, ORT_SEED, PIPER_HEADROOM, ENGINE_VERSION, CACHE_VERSION])
    path = cache / "clips" / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"
    if path.exists():
        with np.load(path) as npz:
            groups = json.loads(str(npz["groups"]))
            return Spoken(npz["audio"], tuple((w, a, b) for w, a, b in groups))
    log.info("%s #%d: %s", voice.id, seed, text[:70])
    if voice.id not in speakers:
        speakers[voice.id] = timed_voice(voice.engine, voice.name, voice.speed, voice.shift)
    spoken = speakers[voice.id](text, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, audio=spoken.audio, groups=np.array(json.dumps(spoken.groups, ensure_ascii=False)))
    tmp.replace(path)
    return spoken


def trim_map(audio: np.ndarray, layout: Layout) -> tuple[Clip, list[tuple[int, int, int]]]:
    """build_seed.trim, plus (raw_start, raw_end, clip_start) of each kept piece."""
    frame = round(layout.frame * SAMPLE_RATE)
    db = frame_db(audio, frame)
    speech = np.flatnonzero(db > db.max() + layout.threshold_db)
    if len(speech) == 0 or db.max() < -60:
        raise ValueError("the synthesized clip is silent")
    breaks = np.flatnonzero(np.diff(speech) - 1 >= round(layout.split_pause / layout.frame))
    firsts, lasts = [speech[0], *speech[breaks + 1]], [*speech[breaks], speech[-1]]
    margin, fade = round(layout.margin * SAMPLE_RATE), round(layout.fade * SAMPLE_RATE)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    parts, spans, pieces, cursor, shortened = [], [], [], 0, 0
    for k, (first, last) in enumerate(zip(firsts, lasts, strict=True)):
        if k:
            silence = (first - lasts[k - 1] - 1) * frame
            kept = min(silence, round(layout.max_inner_pause * SAMPLE_RATE))
            shortened += silence - kept
            parts.append(np.zeros(kept - 2 * margin, np.float32))
            cursor += kept - 2 * margin
        a, b = max(0, first * frame - margin), min(len(audio), (last + 1) * frame + margin)
        part = audio[a:b].copy()
        part[:fade] *= ramp
        part[-fade:] *= ramp[::-1]
        parts.append(part)
        spans.append((cursor, cursor + len(part)))
        pieces.append((a, b, cursor))
        cursor += len(part)
    return Clip(np.concatenate(parts), tuple(spans), shortened / SAMPLE_RATE), pieces
