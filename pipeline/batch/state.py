"""What a batch knows of each episode between runs: the lock, the markers, and what is to do.

An episode is done when its ``done.json`` (written last, after every output) records the same
audio SHA256, the same config digest and outputs still as written; it is given up when its
``failed.json`` records ``max_attempts`` failures with the same identity. :func:`plan` decides
which, and :func:`mark_done` / :func:`record_failure` write the markers.

A failure's identity is what must change for the episode to be worth trying again:

* a failure while processing: the audio's SHA256 and the config digest (:func:`identity`);
* a failure before processing (a file missing or unreadable, a manifest line that cannot be read
  or whose hints are invalid): the path, size, mtime, permissions and owner of the audio, the
  transcript and the RTTM, the manifest line's text and the config digest
  (:func:`early_identity`), as the content may not be readable. Replacing, fixing, ``chmod`` ing
  or providing a file, or editing the line, changes it.

:func:`locked`
holds ``OUT/.pipeline-batch.lock`` (``flock``, released by the OS when the process dies), so two
runs never work on one output directory at once, and :func:`clean_stale` removes what a killed
run left half-written.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline import layout
from pipeline.batch.inbox import Episode
from pipeline.config import PipelineConfig
from pipeline.errors import AudioError, LockError, PipelineError
from pipeline.jobs import Job
from pipeline.layout import ensure_dir, write_text_atomic
from pipeline.stages.audio import file_sha256

logger = logging.getLogger(__name__)

MARKER_FORMAT = 1
DONE, SKIPPED, FAILED, GAVE_UP = "done", "skipped", "failed", "gave up"
#: an audio file that changed since this run found it (still being uploaded): not tried, not failed
WAITING = "waiting"


@dataclass(frozen=True)
class BatchOptions:
    force: bool = False  # process every episode again, done or not
    retry_failed: bool = False  # try episodes given up after max_attempts again
    max_attempts: int = 3
    verify: bool = False  # hash every output of a done episode, not only those whose size or mtime changed
    #: a voice library (pipeline.voices): episodes with a transcript enroll into it, the others are named from it
    voices: Path | None = None


@dataclass(frozen=True)
class Entry:
    """What became of one episode in a run: the summary's line for it."""

    episode: Episode
    status: str  # DONE, SKIPPED, FAILED, GAVE_UP or WAITING
    reason: str = ""
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()
    processed_at: str = ""
    warning: str = ""
    check: dict[str, float] = field(default_factory=dict)  # the check report's headline rates


@dataclass(frozen=True)
class Plan:
    """What an episode is now: its config, audio identity and digest, and its marker if any."""

    config: PipelineConfig
    audio_sha256: str
    audio_size: int
    audio_mtime_ns: int
    digest: str
    digest_parts: dict[str, Any]
    marker: dict[str, Any] | None
    attempts: int = 0  # failures recorded with this audio and config so far


@contextlib.contextmanager
def locked(out_dir: str | Path) -> Iterator[Path]:
    """Hold ``OUT/.pipeline-batch.lock`` or raise :class:`LockError` at once, naming the holder.

    ``flock`` locks belong to the open file, so the OS releases this one when the process ends,
    however it ends; the file itself stays (removing it would let two runs lock two files).
    """
    out_dir = ensure_dir(out_dir)
    path = layout.lock_path(out_dir)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise LockError(f"{path}: cannot open the lock file ({e.strerror or e})") from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
            raise LockError(f"another batch run is already working on {out_dir} ({holder}); "
                            f"this one exits without doing anything (lock: {path})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {now()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)


def clean_stale(out_dir: str | Path, *, keep: Path | None = None) -> list[Path]:
    """Remove the temporary files (``.NAME.XXXX.tmp``) a killed run left under ``out_dir``.

    Only call it while holding :func:`locked`: another run's temporary files are not stale.
    ``keep`` (an inbox inside ``out_dir``) is not searched.
    """
    removed = []
    keep = keep.resolve() if keep is not None else None
    for root, dirs, files in os.walk(out_dir):
        if keep is not None:
            dirs[:] = [d for d in dirs if (Path(root) / d).resolve() != keep]
        for name in files:
            if layout.is_temporary(name):
                path = Path(root) / name
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
                    logger.info("removed %s, left by an interrupted run", path)
    return removed


def plan(ep: Episode, config: PipelineConfig, out_dir: Path, options: BatchOptions,
         keep: Path | None = None) -> Plan | Entry:
    """The episode's :class:`Plan` when it has to be processed, else its SKIPPED/GAVE_UP entry.

    Raises (a PipelineError saying why) when the episode cannot even be planned: the caller
    records that with :func:`record_failure` and :func:`early_identity`.
    """
    files = layout.episode_files(out_dir, ep.key, ep.audio)
    failed = read_json(files.failed)
    retry = options.force or options.retry_failed
    if _attempts(failed, early_identity(ep, config)) >= options.max_attempts and not retry:
        return _gave_up(ep, failed, "its files, its manifest line or the config change")
    if ep.problem:
        raise PipelineError(ep.problem)
    if keep is not None and files.folder.resolve().is_relative_to(keep.resolve()):
        raise PipelineError(f"{ep.audio}: its output folder {files.folder} would be inside the inbox {keep}; "
                            "rename the file or use another output directory")
    marker = read_json(files.done)
    plan = _plan(replace(ep.job(out_dir), voices=options.voices), config, marker, trust_stat=not options.verify)
    if marker is not None and not options.force and _is_done(marker, plan, files.folder, options.verify):
        logger.debug("%s: done, skipped", ep.audio)
        return Entry(ep, SKIPPED, seconds=marker.get("seconds", 0.0), timings=marker.get("timings", {}),
                       outputs=tuple(marker["outputs"]), processed_at=marker.get("processed_at", ""),
                       warning=marker.get("warning", ""), check=marker.get("check") or {})
    attempts = _attempts(failed, identity(plan))
    if attempts >= options.max_attempts and not retry:
        return _gave_up(ep, failed, "the audio or the config changes")
    return replace(plan, attempts=attempts)


def identity(plan: Plan) -> str:
    """What a failure while processing is recorded against: the audio's content and the config."""
    return f"sha256:{plan.audio_sha256}+config:{plan.digest}"


def early_identity(ep: Episode, config: PipelineConfig) -> str:
    """What a failure before processing is recorded against, without reading any content:
    the stat of each file the episode names, its manifest line and hints, and the config."""
    parts = {"problem": ep.problem, "line": ep.line, "hints": ep.hints, "config": config.digest(),
             **{name: _stat_identity(path) for name, path in
                (("audio", ep.audio), ("reference", ep.reference), ("rttm", ep.rttm))}}
    blob = json.dumps(parts, sort_keys=True, default=str)
    return "stat:" + hashlib.sha256(blob.encode()).hexdigest()[:16]


def _stat_identity(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError as e:
        return f"{path}: errno {e.errno}"
    return [str(path), st.st_size, st.st_mtime_ns, st.st_mode, st.st_uid, st.st_gid]


def _attempts(failed: dict | None, key: str) -> int:
    """How many failures ``failed.json`` records with this identity."""
    return int(failed.get("attempts", 0)) if failed is not None and failed.get("identity") == key else 0


def _gave_up(ep: Episode, failed: dict, what: str) -> Entry:
    logger.info("%s: failed %d times; not tried again", ep.source or ep.audio, failed["attempts"])
    return Entry(ep, GAVE_UP, f"failed {failed['attempts']} times, not tried again until {what} "
                              f"(or --retry-failed): {failed.get('reason', '')}")


def _plan(job: Job, config: PipelineConfig, marker: dict | None, *, trust_stat: bool = True) -> Plan:
    """The episode's config (with its speaker hints), audio identity and digest.

    The digest covers the config, the hints, and the content (not the path) of the reference and
    RTTM files, so a changed transcript reprocesses the episode and a moved inbox does not.
    A voice library counts by its path, not its content: adding ``--voices`` processes every
    episode once more (to enroll it, or to name it), but a later enrollment does not rename
    episodes already done.
    """
    config = job.configure(config)
    sha, size, mtime_ns = _audio_identity(job.audio, marker if trust_stat else None)
    files = {name: None if path is None else {"path": str(path), "sha256": _sha_or_raise(path, name)}
             for name, path in (("reference", job.reference), ("rttm", job.rttm))}
    parts = {"config": config.digest(), "speakers": job.hints, **files,
             **({"voices": str(job.voices)} if job.voices is not None else {})}
    hashed = {**parts, **{name: f and f["sha256"] for name, f in files.items()}}
    digest = hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:16]
    return Plan(config, sha, size, mtime_ns, digest, parts, marker)


def _audio_identity(path: Path, marker: dict | None) -> tuple[str, int, int]:
    """(sha256, size, mtime_ns) of the audio; the marker's sha when size and mtime still match it."""
    try:
        st = path.stat()
    except OSError as e:
        raise AudioError(path, "no such file" if isinstance(e, FileNotFoundError)
                         else f"cannot be read ({e.strerror or e})") from e
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    if marker and marker.get("audio_size") == st.st_size and marker.get("audio_mtime_ns") == st.st_mtime_ns:
        return marker["audio_sha256"], st.st_size, st.st_mtime_ns
    try:
        return file_sha256(path), st.st_size, st.st_mtime_ns
    except OSError as e:
        raise AudioError(path, f"cannot be read ({e.strerror or e})") from e


def _sha_or_raise(path: Path, what: str) -> str:
    try:
        return file_sha256(path)
    except OSError as e:
        raise PipelineError(f"{path}: cannot read the {what} ({e.strerror or e})") from e


def _is_done(marker: dict, plan: Plan, ep_dir: Path, verify: bool = False) -> bool:
    """The marker matches the audio and config digest, and every output it lists is there as written.

    An output whose size and mtime are those recorded is taken as written (a file cannot be changed
    without changing its mtime, short of setting it back); any other is hashed. ``verify`` hashes all.
    """
    if marker.get("format") != MARKER_FORMAT or marker.get("audio_sha256") != plan.audio_sha256:
        return False
    outputs, stats = marker.get("outputs"), marker.get("output_stats") or {}
    if marker.get("config_digest") != plan.digest or not isinstance(outputs, dict):
        return False
    for name, sha in outputs.items():
        path = ep_dir / name
        try:
            if verify or stats.get(name) != list(_stat(path)):
                if file_sha256(path) != sha:
                    logger.info("%s changed since it was written; processing the episode again", path)
                    return False
        except OSError:
            logger.info("%s is missing; processing the episode again", path)
            return False
    return True


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        logger.warning("%s: unreadable (%s); treating the episode as not done", path, e)
        return None
    return data if isinstance(data, dict) else None


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def mark_done(ep: Episode, plan: Plan, outcome, seconds: float, check: dict[str, float]) -> dict[str, Any]:
    """Write ``done.json`` for a processed episode, last, and remove what this run made stale."""
    files = outcome.job.files
    outputs = {files.name(p): file_sha256(p) for p in outcome.outputs}
    _remove_stale_outputs(plan.marker, outputs, files.folder)
    result = outcome.result
    marker = {
        "format": MARKER_FORMAT,
        "audio": str(ep.audio),
        "audio_sha256": plan.audio_sha256,
        "audio_size": plan.audio_size,
        "audio_mtime_ns": plan.audio_mtime_ns,
        "config_digest": plan.digest,
        "digest_of": plan.digest_parts,
        "outputs": outputs,
        "output_stats": {name: list(_stat(files.folder / name)) for name in outputs},
        "timings": outcome.timings,
        "seconds": seconds,
        "duration": result.duration,
        "speakers": {label: result.name_of(label) for label in result.speakers},
        **({"naming": result.naming} if result.naming else {}),
        "check": check,
        "processed_at": now(),
        "versions": result.versions,
        **({"warning": outcome.warning} if outcome.warning else {}),
    }
    write_text_atomic(files.done, json.dumps(marker, indent=2, ensure_ascii=False) + "\n")
    files.failed.unlink(missing_ok=True)
    return marker


def _remove_stale_outputs(old: dict | None, outputs: dict[str, str], ep_dir: Path) -> None:
    """Remove what the previous marker listed and this run did not write (a dropped format)."""
    listed = old.get("outputs") if old else None
    for name in listed if isinstance(listed, dict) else ():
        path = ep_dir / name
        if name not in outputs and path.parent == ep_dir:
            path.unlink(missing_ok=True)


def record_failure(ep: Episode, out_dir: Path, reason: str, key: str, *, plan: Plan | None = None,
                   keep: Path | None = None) -> None:
    """Write ``failed.json``: the reason, the failure's identity ``key`` (:func:`identity` with its
    ``plan``, or :func:`early_identity`) and how often the episode failed with it. Never inside
    the inbox ``keep``."""
    path = layout.episode_files(out_dir, ep.key, ep.audio).failed
    if keep is not None and path.resolve().is_relative_to(keep.resolve()):
        logger.error("%s: the failure is not recorded: its folder would be inside the inbox", ep.audio)
        return
    record = {"audio": ep.source if ep.problem else str(ep.audio),
              "audio_sha256": plan.audio_sha256 if plan else None, "config_digest": plan.digest if plan else None,
              "before_processing": plan is None, "identity": key,
              "attempts": _attempts(read_json(path), key) + 1, "reason": reason, "failed_at": now()}
    try:
        write_text_atomic(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    except PipelineError as e:
        logger.error("%s: cannot record the failure: %s", ep.audio, e)
