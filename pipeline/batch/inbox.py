"""Finding a batch's episodes: every audio file under an inbox, or the lines of a manifest.

:func:`discover` finds the audio files under an inbox, recursively and in sorted order, with the
published transcript beside each (same stem: ``.txt``, ``.html``, ``.htm`` or ``.stm``; a
``.rttm`` too); :func:`read_manifest` reads a CSV or JSONL list of episodes instead. Either gives
:class:`Episode` s; an entry that names no usable episode still becomes one, with a ``problem``,
so that it is recorded as failed (and retired like any failure) and the rest goes on. A manifest
line's speaker hints are checked by the config schema, alone here and with the run's config when
the episode is planned (:meth:`~pipeline.jobs.Job.configure`); the message names the line.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline import layout
from pipeline.config import HINTS, PipelineConfig, override
from pipeline.errors import ConfigError, ManifestError
from pipeline.jobs import Job
from pipeline.stages.audio import EXTENSIONS

logger = logging.getLogger(__name__)

REFERENCE_EXTENSIONS = (".txt", ".html", ".htm", ".stm")
MANIFEST_KEYS = ("audio", "reference", "rttm", *HINTS)


@dataclass(frozen=True)
class Episode:
    """One audio file to process, and where its outputs go (``key``, relative to OUT).

    ``hints`` are a manifest line's speaker counts; ``source`` names the line (or is the audio's
    path); ``line`` is the line's content, part of what a failure is recorded against. ``problem``
    is set for a manifest line that names no usable episode; such an episode gets a folder of its
    own (``<episodes.csv line 3>``), is recorded as failed with that message, and nothing else is
    tried.
    """

    audio: Path
    key: str
    reference: Path | None = None
    rttm: Path | None = None
    hints: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    problem: str = ""
    line: str = ""

    def job(self, out_dir: Path) -> Job:
        """The episode as a :class:`~pipeline.jobs.Job` writing to its folder under ``out_dir``."""
        return Job(self.audio, layout.episode_files(out_dir, self.key, self.audio).folder,
                   reference=self.reference, rttm=self.rttm, hints=self.hints,
                   source=self.source if self.source != str(self.audio) else "command line")


def discover(inbox: str | Path, out_dir: str | Path | None = None) -> list[Episode]:
    """Every audio file under ``inbox`` (recursively, sorted), each with its reference if any.

    Hidden files and folders are skipped, and so is ``out_dir`` when it lies inside ``inbox``,
    so outputs are never discovered as inputs. Two files that differ only by extension
    (``ep.mp3``, ``ep.wav``) each keep their extension in their output folder's name.
    """
    inbox = Path(inbox).resolve()
    skip = Path(out_dir).resolve() if out_dir is not None else None
    episodes = []
    for path in _walk_audio(inbox, skip):
        key = layout.episode_key(path.relative_to(inbox))
        episodes.append(Episode(path, key, _beside(path, REFERENCE_EXTENSIONS), _beside(path, (".rttm",)),
                                source=str(path)))
    return _unique_keys(episodes)


def _walk_audio(inbox: Path, skip: Path | None) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(inbox):
        here = Path(root)
        kept = []
        for d in sorted(dirs):
            if d.startswith("."):
                continue
            if skip is not None and (here / d).resolve() == skip:
                logger.info("not searching %s: it is the output directory", here / d)
                continue
            kept.append(d)
        dirs[:] = kept
        found += [here / f for f in files if not f.startswith(".") and f.lower().endswith(EXTENSIONS)]
    return sorted(found, key=lambda p: p.relative_to(inbox).as_posix())


def _beside(audio: Path, extensions: Sequence[str]) -> Path | None:
    for ext in extensions:
        for candidate in (audio.with_suffix(ext), audio.with_suffix(ext.upper())):
            if candidate.is_file():
                return candidate
    return None


def _unique_keys(episodes: list[Episode]) -> list[Episode]:
    """Give files whose keys collide (``ep.mp3``/``ep.wav``, or ``logs.mp3`` with OUT's own ``logs``)
    their full name as key; refuse a file listed twice."""
    by_key: dict[str, list[Episode]] = {}
    for ep in episodes:
        if not ep.problem:
            by_key.setdefault(ep.key, []).append(ep)
    seen: dict[Path, str] = {}
    unique = []
    for ep in episodes:
        if ep.problem:
            unique.append(ep)
            continue
        if ep.audio in seen:  # a folder of its own: the first listing's must not get its failed.json
            unique.append(replace(ep, key=f"<{ep.source}>",
                                  problem=f"{ep.source}: {ep.audio} is listed twice (first at {seen[ep.audio]})"))
            continue
        seen[ep.audio] = ep.source
        if len({e.audio for e in by_key[ep.key]}) > 1 or ep.key in layout.RESERVED:
            ep = replace(ep, key=f"{ep.key}{ep.audio.suffix}")
        unique.append(ep)
    return unique


def read_manifest(path: str | Path) -> list[Episode]:
    """The episodes a CSV (with a header) or JSONL manifest lists, in its order.

    Keys: ``audio`` (required), ``reference``, ``rttm``, ``num_speakers``, ``min_speakers``,
    ``max_speakers``; relative paths are relative to the manifest's folder. A line that cannot be
    read becomes an episode with a ``problem`` naming the line, so the others still run; a
    manifest that cannot be used at all (unreadable, a CSV header without ``audio``) raises
    :class:`~pipeline.errors.ManifestError` (a usage error). Unknown keys are logged as warnings.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path}: cannot read the manifest ({getattr(e, 'strerror', None) or e})") from e
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson") or text.lstrip().startswith("{")
    rows = _jsonl_rows(text) if jsonl else _csv_rows(text, path)
    base = path.resolve().parent
    episodes = []
    for line, row, content in rows:
        where = f"{path.name} line {line}"
        episodes.append(_manifest_episode(row, base, where, content) if isinstance(row, dict)
                        else Episode(Path(where), f"<{where}>", source=where, problem=f"{where}: {row}",
                                     line=content))
    return _unique_keys(episodes)


def _jsonl_rows(text: str) -> Iterator[tuple[int, dict | str, str]]:
    """(line number, the row or what is wrong with it, the line's text) for each line."""
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            yield n, f"not valid JSON ({e})", line
            continue
        yield n, row if isinstance(row, dict) else f"expected a JSON object, got {type(row).__name__}", line


def _csv_rows(text: str, path: Path) -> Iterator[tuple[int, dict | str, str]]:
    """As :func:`_jsonl_rows`; a whole number is read as one (CSV has no types), the rest as text."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fields = [f.strip() for f in reader.fieldnames or []]
    if "audio" not in fields:
        raise ManifestError(f"{path}: the CSV header has no 'audio' column (header: {', '.join(fields) or 'empty'}; "
                            f"columns: {', '.join(MANIFEST_KEYS)})")
    for row in reader:
        content = json.dumps([row.get(k) for k in reader.fieldnames or []] + row.get(None, []), ensure_ascii=False)
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        if None in row:
            yield reader.line_num, f"more fields than the header has ({len(fields)})", content
            continue
        yield reader.line_num, {k.strip(): _csv_value(v.strip()) for k, v in row.items()
                                if v is not None and v.strip()}, content


def _csv_value(text: str) -> int | str:
    return int(text) if re.fullmatch(r"[+-]?\d+", text) else text


def _manifest_episode(row: dict, base: Path, where: str, content: str) -> Episode:
    unknown = sorted(set(row) - set(MANIFEST_KEYS))
    if unknown:
        logger.warning("%s: ignoring unknown key %r (known: %s)", where, unknown[0], ", ".join(MANIFEST_KEYS))
    audio = row.get("audio")
    if not isinstance(audio, str) or not audio.strip():
        return Episode(Path(where), f"<{where}>", source=where, problem=f"{where}: no 'audio' path", line=content)
    audio_path = (base / audio.strip()).resolve()
    hints = {key: row[key] for key in HINTS if row.get(key) not in (None, "")}
    try:  # the schema's rules on the line alone; with the run's config when it is planned
        override(PipelineConfig(), "diarization", where=where, **hints)
    except ConfigError as e:
        return Episode(audio_path, f"<{where}>", source=where, problem=str(e), line=content)
    extra = {k: (base / row[k].strip()).resolve() if isinstance(row.get(k), str) and row[k].strip() else None
             for k in ("reference", "rttm")}
    return Episode(audio_path, _key_for(audio_path, base), source=where, hints=hints, line=content, **extra)


def _key_for(audio: Path, base: Path) -> str:
    """The output folder of a manifest episode: its path from the manifest's folder, else its
    absolute path without the leading ``/``; never one that climbs out of OUT."""
    try:
        rel = audio.relative_to(base)
    except ValueError:
        rel = audio.relative_to(audio.anchor)
    return rel.with_suffix("").as_posix()
