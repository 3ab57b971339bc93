"""The voice library: one SQLite file of voice prints, each under the name a transcript gave it.

Schema (version :data:`SCHEMA_VERSION`, in ``meta``)::

    meta     (key PRIMARY KEY, value)   schema_version, model, model_sha256, dimension, created_at
    episodes (audio_sha256 PRIMARY KEY, audio, enrolled_at)
    prints   (name, audio_sha256 -> episodes, seconds, count, exemplars BLOB, PRIMARY KEY (name, audio_sha256))

``exemplars`` holds ``count`` unit-length CAM++ embeddings (float32, little-endian, row after
row): a name's print is all its exemplars over every episode it was enrolled from, compared by
their centroid. An episode is known by its audio's SHA256, so enrolling it again (another run,
a copy of the file) changes nothing; :meth:`VoiceLibrary.forget` removes a name but not the
episodes it came from, so a forgotten name comes back only from an episode not seen before.

The file records the embedding model's name and the SHA256 of its weights, and a library made
with other weights is refused: embeddings of two models are not comparable. It is opened in WAL
mode with a busy timeout, and every change is one ``BEGIN IMMEDIATE`` transaction, so a batch
and a manual run (or several Ray workers) can read and enroll at the same time. WAL needs a
local file system (not NFS).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from pipeline.errors import VoiceLibraryError
from pipeline.voices.prints import VoicePrint, centroid

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: the embedding model, as the offline store names it (pipeline.weights.store.REGISTRY)
MODEL = "campplus"
BUSY_SECONDS = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS episodes (
    audio_sha256 TEXT PRIMARY KEY,
    audio TEXT NOT NULL,
    enrolled_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS prints (
    name TEXT NOT NULL,
    audio_sha256 TEXT NOT NULL REFERENCES episodes(audio_sha256) ON DELETE CASCADE,
    seconds REAL NOT NULL,
    count INTEGER NOT NULL,
    exemplars BLOB NOT NULL,
    PRIMARY KEY (name, audio_sha256)
);
"""


@dataclass(frozen=True)
class ModelIdentity:
    name: str
    sha256: str
    dimension: int = 192


@dataclass(frozen=True)
class Voice:
    """One enrolled name: the seconds of solo speech and the episodes its print rests on."""

    name: str
    seconds: float
    exemplars: int
    episodes: tuple[str, ...]  # the audio files, as they were when enrolled


def embedding_model() -> ModelIdentity:
    """The CAM++ the diarization uses: its registry name and the SHA256 of its weights."""
    from pipeline.weights.store import spec

    (weights,) = spec(MODEL).files
    return ModelIdentity(MODEL, weights.sha256)


class VoiceLibrary:
    """An open voice library (created when missing); use as a context manager or :meth:`close`."""

    def __init__(self, path: str | Path, model: ModelIdentity | None = None) -> None:
        self.path = Path(path)
        self.model = model or embedding_model()
        if not self.path.parent.is_dir():
            raise VoiceLibraryError(f"{self.path}: no such folder for a voice library ({self.path.parent})")
        try:
            self._db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None)
        except sqlite3.Error as e:
            raise VoiceLibraryError(f"{self.path}: cannot open the voice library ({e})") from e
        try:
            self._setup()
        except sqlite3.DatabaseError as e:
            self._db.close()
            raise VoiceLibraryError(f"{self.path}: not a voice library ({e})") from e
        except VoiceLibraryError:
            self._db.close()
            raise

    def __enter__(self) -> VoiceLibrary:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _setup(self) -> None:
        db = self._db
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_SECONDS * 1000)}")
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            logger.warning("%s: SQLite refused WAL mode (%s); concurrent use may wait longer", self.path, mode)
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA synchronous = FULL")
        with self._writing():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            defaults = {"schema_version": str(SCHEMA_VERSION), "model": self.model.name,
                        "model_sha256": self.model.sha256, "dimension": str(self.model.dimension),
                        "created_at": _now()}
            db.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", defaults.items())
        self._check(dict(db.execute("SELECT key, value FROM meta")))

    def _check(self, meta: dict[str, str]) -> None:
        version = int(meta.get("schema_version", "0"))
        if version != SCHEMA_VERSION:
            raise VoiceLibraryError(f"{self.path}: voice library schema version {version}; this pipeline "
                                    f"reads version {SCHEMA_VERSION}")
        if (meta.get("model"), meta.get("model_sha256")) != (self.model.name, self.model.sha256):
            raise VoiceLibraryError(
                f"{self.path}: made with the embedding model {meta.get('model')} "
                f"(weights {str(meta.get('model_sha256'))[:12]}...), this pipeline embeds with {self.model.name} "
                f"(weights {self.model.sha256[:12]}...); voice prints of two models cannot be compared: "
                "use a new library")

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``): committed, or rolled back."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def has(self, audio_sha256: str) -> bool:
        """Whether the episode with this audio was enrolled."""
        row = self._db.execute("SELECT 1 FROM episodes WHERE audio_sha256 = ?", (audio_sha256,)).fetchone()
        return row is not None

    def enroll(self, audio_sha256: str, audio: str, prints: Mapping[str, VoicePrint]) -> bool:
        """Add an episode's prints (name -> print) in one transaction; False (nothing changed) when
        the episode was enrolled before or there is nothing to enroll."""
        if not prints:
            return False
        with self._writing() as db:
            if db.execute("SELECT 1 FROM episodes WHERE audio_sha256 = ?", (audio_sha256,)).fetchone():
                return False
            db.execute("INSERT INTO episodes (audio_sha256, audio, enrolled_at) VALUES (?, ?, ?)",
                       (audio_sha256, str(audio), _now()))
            for name, p in prints.items():
                rows = np.ascontiguousarray(p.embeddings, dtype="<f4")
                if rows.ndim != 2 or rows.shape[1] != self.model.dimension:
                    raise VoiceLibraryError(f"{self.path}: a print of {name} has shape {rows.shape}, "
                                            f"not (n, {self.model.dimension})")
                db.execute("INSERT INTO prints (name, audio_sha256, seconds, count, exemplars) VALUES (?, ?, ?, ?, ?)",
                           (name, audio_sha256, float(p.seconds), len(rows), rows.tobytes()))
        logger.info("%s: enrolled %s from %s", self.path, ", ".join(prints), audio)
        return True

    def forget(self, name: str) -> bool:
        """Remove every print of ``name``; False when there was none."""
        with self._writing() as db:
            return db.execute("DELETE FROM prints WHERE name = ?", (name,)).rowcount > 0

    def voices(self) -> list[Voice]:
        """Every enrolled name, sorted."""
        rows = self._db.execute(
            "SELECT p.name, SUM(p.seconds), SUM(p.count), GROUP_CONCAT(e.audio, char(10)) FROM prints p "
            "JOIN episodes e USING (audio_sha256) GROUP BY p.name ORDER BY p.name").fetchall()
        return [Voice(name, round(seconds, 3), count, tuple(sorted(audios.split("\n"))))
                for name, seconds, count, audios in rows]

    def prints(self) -> dict[str, VoicePrint]:
        """Each name's print: its exemplars from every episode, joined."""
        found: dict[str, list[VoicePrint]] = {}
        for name, seconds, count, blob in self._db.execute(
                "SELECT name, seconds, count, exemplars FROM prints ORDER BY name, audio_sha256"):
            rows = np.frombuffer(blob, dtype="<f4").reshape(count, self.model.dimension)
            found.setdefault(name, []).append(VoicePrint(rows.astype(np.float32), seconds))
        return {name: VoicePrint.join(group) for name, group in found.items()}

    def centroids(self) -> dict[str, np.ndarray]:
        return {name: centroid(p.embeddings) for name, p in self.prints().items()}

    def digest(self) -> str:
        """A hash of what the library holds (names and the episodes of each): it changes with every change."""
        rows = self._db.execute("SELECT name, audio_sha256, count FROM prints ORDER BY name, audio_sha256")
        return hashlib.sha256(repr(rows.fetchall()).encode()).hexdigest()[:16]


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")
