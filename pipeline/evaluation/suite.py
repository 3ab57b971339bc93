"""An evaluation suite on disk: episodes with their audio, published transcript, RTTM and truth.

A suite is a folder with an ``index.json`` (tools/suite builds one; ``samples/suite/`` holds the
committed short episodes)::

    {"episodes": [{"name", "split", "audio", "transcript", "rttm", "words", "meta", ...}],
     "external": [{"name", "split", "package", "audio", "rttm", "transcript"}],
     "meetings": [{"name", "audio", "rttm", "conditions"}]}

File names are relative to the folder; an ``external`` episode's are relative to an installed
package (pyannote.audio's real ``sample.wav``, with its STM). ``words`` lists every spoken word
with its true time and speaker, and whether the published transcript has it; ``meta`` gives the
non-speech regions (music, jingle, noise, silence), the speakers and the split (``tune`` or
``test``). An STM-only episode gets its word truth from the STM's segments (each segment's words
spread evenly over it). A ``meetings`` entry is real audio with its RTTM only (no transcript, no
words: scored on diarization alone), in the split :data:`MEETINGS`; ``tools/suite/meetings.py`` adds
pyannote.audio's AMI test clips.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError, ReferenceError

INDEX = "index.json"
#: non-speech kinds counted for invented words (an ad is speech, only unpublished)
NONSPEECH = ("music", "jingle", "noise", "silence")
#: the split of real recordings scored on their RTTM alone
MEETINGS = "meetings"


@dataclass(frozen=True)
class TruthWord:
    """A word as it was spoken: when, by whom, and whether the publisher printed it."""

    text: str
    start: float
    end: float
    speaker: str
    published: bool = True


@dataclass(frozen=True)
class Region:
    kind: str
    start: float
    end: float


@dataclass(frozen=True)
class SuiteEpisode:
    """One episode of a suite: its files and what is true of it."""

    name: str
    split: str
    audio: Path
    transcript: Path | None
    rttm: Path
    words: tuple[TruthWord, ...]
    regions: tuple[Region, ...] = ()
    conditions: tuple[str, ...] = ()
    #: published speakers (canonical names) and how many published words each has
    published: dict[str, int] = field(default_factory=dict)
    duration: float = 0.0


def load_suite(folder: str | Path, *, split: str = "all", only: tuple[str, ...] = ()) -> list[SuiteEpisode]:
    """The episodes of the suite in ``folder`` (of one split, or the named ones), in index order."""
    folder = Path(folder)
    try:
        index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{folder}: not an evaluation suite (no readable {INDEX}: {e.strerror or e})") from e
    except ValueError as e:
        raise ConfigError(f"{folder / INDEX}: not valid JSON ({e})") from e
    entries = [(e, folder) for e in index.get("episodes", [])]
    entries += [(e, _package_folder(e["package"])) for e in index.get("external", [])]
    entries += [({**e, "split": MEETINGS}, folder) for e in index.get("meetings", [])]
    episodes = [_episode(entry, base) for entry, base in entries
                if (split == "all" or entry.get("split") == split) and (not only or entry["name"] in only)]
    missing = sorted(set(only) - {e.name for e in episodes})
    if missing:
        raise ConfigError(f"{folder / INDEX}: no episode named {missing[0]!r}")
    return episodes


def _package_folder(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the suite names the package {package!r}, which is not installed")
    return Path(next(iter(spec.submodule_search_locations))).parents[len(package.split(".")) - 1]


def _episode(entry: dict[str, Any], base: Path) -> SuiteEpisode:
    audio, rttm = base / entry["audio"], base / entry["rttm"]
    transcript = base / entry["transcript"] if entry.get("transcript") else None
    if transcript is None:  # a recording with its RTTM only
        words, meta = (), {}
    elif "words" in entry:
        words = _truth_words(base / entry["words"])
        meta = json.loads((base / entry["meta"]).read_text(encoding="utf-8"))
    else:
        words, meta = _stm_words(transcript), {}
    speakers = meta.get("speakers", {})
    published = ({k: v.get("words_published", 0) for k, v in speakers.items() if v.get("published")}
                 if speakers else _counts(words))
    return SuiteEpisode(
        name=entry["name"], split=entry.get("split", "tune"), audio=audio, transcript=transcript, rttm=rttm,
        words=words, regions=tuple(Region(r["kind"], r["start"], r["end"]) for r in meta.get("regions", ())),
        conditions=tuple(entry.get("conditions", meta.get("conditions", ()))), published=published,
        duration=float(meta.get("duration", 0.0)),
    )


def _truth_words(path: Path) -> tuple[TruthWord, ...]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return tuple(TruthWord(w["word"], w["start"], w["end"], w["speaker"], bool(w.get("published", True)))
                 for w in doc["words"])


def _stm_words(path: Path) -> tuple[TruthWord, ...]:
    from pipeline.scoring.reference import load_stm_segments

    words = []
    for speaker, start, end, text in load_stm_segments(path):
        tokens = text.split()
        if not tokens:
            continue
        step = (end - start) / len(tokens)
        words += [TruthWord(t, start + k * step, start + (k + 1) * step, speaker) for k, t in enumerate(tokens)]
    if not words:
        raise ReferenceError(f"{path}: no words in the STM")
    return tuple(words)


def _counts(words: tuple[TruthWord, ...]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for w in words:
        if w.published:
            counts[w.speaker] = counts.get(w.speaker, 0) + 1
    return counts
