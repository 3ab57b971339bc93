"""Every episode of an inbox (or a manifest), each processed once; safe to run from cron.

:func:`discover` finds the audio files under an inbox, recursively and in sorted order, with the
published transcript beside each (same stem: ``.txt``, ``.html``, ``.htm`` or ``.stm``; a
``.rttm`` too); :func:`read_manifest` reads a CSV or JSONL list of episodes instead. :func:`run`
processes them with the models loaded once, and never lets one episode's failure stop the rest.

Each episode's outputs go to ``OUT/<its path without extension>/``, every file written atomically,
and a ``done.json`` marker last. An episode whose marker matches its audio (SHA256), its config
digest and its outputs (SHA256, checked again when a file's size or mtime changed) is skipped;
anything else is processed again, so a run killed at any moment leaves nothing that looks finished
but is not, and the next run removes the temporary files the killed one left. A failed episode gets a
``failed.json`` instead; after ``max_attempts`` failures with the same audio and config it is given
up until either changes. :func:`locked` holds ``OUT/.pipeline-batch.lock`` (``flock``, released by
the OS when the process dies), so two runs never work on one output directory at once.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.audio import EXTENSIONS, file_sha256
from pipeline.config import PipelineConfig, override
from pipeline.errors import AudioError, LockError, PipelineError
from pipeline.fileio import ensure_dir, write_text_atomic

logger = logging.getLogger(__name__)

REFERENCE_EXTENSIONS = (".txt", ".html", ".htm", ".stm")
LOCK_NAME = ".pipeline-batch.lock"
DONE_NAME = "done.json"
FAILED_NAME = "failed.json"
SUMMARY_NAME = "summary.json"
MARKER_FORMAT = 1
CHECK_RATES = ("wer", "cpwer", "wder", "der", "der_collar", "jer")
HINTS = ("num_speakers", "min_speakers", "max_speakers")
MANIFEST_KEYS = ("audio", "reference", "rttm", *HINTS)
_RESERVED = frozenset({"logs", SUMMARY_NAME, LOCK_NAME})  # OUT's own files, not episode folders
_STALE_TMP = re.compile(r"^\..+\.tmp$")

DONE, SKIPPED, FAILED, GAVE_UP = "done", "skipped", "failed", "gave up"


@dataclass(frozen=True)
class Episode:
    """One audio file to process, and where its outputs go (``key``, relative to OUT).

    ``problem`` is set for a manifest line that names no usable episode; such an episode is
    recorded as failed with that message and nothing else is tried.
    """

    audio: Path
    key: str
    reference: Path | None = None
    rttm: Path | None = None
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    source: str = ""
    problem: str = ""

    @property
    def hints(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in HINTS if getattr(self, k) is not None}


@dataclass(frozen=True)
class BatchOptions:
    force: bool = False  # process every episode again, done or not
    retry_failed: bool = False  # try episodes given up after max_attempts again
    max_attempts: int = 3
    verify: bool = False  # hash every output of a done episode, not only those whose size or mtime changed


@dataclass(frozen=True)
class Outcome:
    episode: Episode
    status: str  # DONE, SKIPPED, FAILED or GAVE_UP
    reason: str = ""
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()
    processed_at: str = ""
    warning: str = ""
    check: dict[str, float] = field(default_factory=dict)  # the check report's headline rates


@dataclass(frozen=True)
class Summary:
    started: str
    finished: str
    seconds: float
    output: str
    config_digest: str
    outcomes: tuple[Outcome, ...]
    model_load: dict[str, float] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """0 when every episode is done or skipped (or given up earlier), 1 when one failed now."""
        return 1 if self.count(FAILED) else 0

    @property
    def stages(self) -> dict[str, float]:
        """Seconds per stage, summed over the episodes processed in this run."""
        total: dict[str, float] = {}
        for o in self.outcomes:
            if o.status == DONE:
                for stage, seconds in o.timings.items():
                    total[stage] = round(total.get(stage, 0.0) + seconds, 3)
        return total


@dataclass(frozen=True)
class _Plan:
    """What an episode is now: its config, audio identity and digest, and its marker if any."""

    config: PipelineConfig
    audio_sha256: str
    audio_size: int
    audio_mtime_ns: int
    digest: str
    digest_parts: dict[str, Any]
    marker: dict[str, Any] | None


# Finding episodes
# ----------------


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
        key = path.relative_to(inbox).with_suffix("").as_posix()
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
        if ep.audio in seen:
            unique.append(replace(ep, problem=f"{ep.audio} is listed twice (first at {seen[ep.audio]})"))
            continue
        seen[ep.audio] = ep.source
        if len({e.audio for e in by_key[ep.key]}) > 1 or ep.key in _RESERVED:
            ep = replace(ep, key=f"{ep.key}{ep.audio.suffix}")
        unique.append(ep)
    return unique


def read_manifest(path: str | Path) -> list[Episode]:
    """The episodes a CSV (with a header) or JSONL manifest lists, in its order.

    Keys: ``audio`` (required), ``reference``, ``rttm``, ``num_speakers``, ``min_speakers``,
    ``max_speakers``; relative paths are relative to the manifest's folder. A line that cannot be
    read becomes an episode with a ``problem`` naming the line, so the others still run.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise PipelineError(f"{path}: cannot read the manifest ({getattr(e, 'strerror', None) or e})") from e
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson") or text.lstrip().startswith("{")
    rows = _jsonl_rows(text) if jsonl else _csv_rows(text)
    base = path.resolve().parent
    episodes = []
    for line, row in rows:
        where = f"{path.name} line {line}"
        episodes.append(_manifest_episode(row, base, where) if isinstance(row, dict)
                        else Episode(Path(where), f"<{where}>", source=where, problem=f"{where}: {row}"))
    return _unique_keys(episodes)


def _jsonl_rows(text: str) -> Iterator[tuple[int, dict | str]]:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            yield n, f"not valid JSON ({e})"
            continue
        yield n, row if isinstance(row, dict) else f"expected a JSON object, got {type(row).__name__}"


def _csv_rows(text: str) -> Iterator[tuple[int, dict | str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fields = [f.strip() for f in reader.fieldnames or []]
    if "audio" not in fields:
        yield 1, f"the CSV header has no 'audio' column (columns: {', '.join(MANIFEST_KEYS)})"
        return
    for row in reader:
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        if None in row:
            yield reader.line_num, f"more fields than the header has ({len(fields)})"
            continue
        yield reader.line_num, {k.strip(): v.strip() for k, v in row.items() if v is not None and v.strip()}


def _manifest_episode(row: dict, base: Path, where: str) -> Episode:
    unknown = sorted(set(row) - set(MANIFEST_KEYS))
    if unknown:
        logger.warning("%s: ignoring unknown key %r (known: %s)", where, unknown[0], ", ".join(MANIFEST_KEYS))
    audio = row.get("audio")
    if not isinstance(audio, str) or not audio.strip():
        return Episode(Path(where), f"<{where}>", source=where, problem=f"{where}: no 'audio' path")
    audio_path = (base / audio.strip()).resolve()
    hints = {}
    for key in HINTS:
        value = row.get(key)
        if value in (None, ""):
            continue
        try:
            number = int(value)
            if number < 1 or isinstance(value, bool) or (isinstance(value, float) and value != number):
                raise ValueError
        except (TypeError, ValueError):
            return Episode(audio_path, _key_for(audio_path, base), source=where,
                           problem=f"{where}: {key} must be a positive integer, got {value!r}")
        hints[key] = number
    extra = {k: (base / row[k].strip()).resolve() if isinstance(row.get(k), str) and row[k].strip() else None
             for k in ("reference", "rttm")}
    return Episode(audio_path, _key_for(audio_path, base), source=where, **extra, **hints)


def _key_for(audio: Path, base: Path) -> str:
    """The output folder of a manifest episode: its path from the manifest's folder, else its
    absolute path without the leading ``/``; never one that climbs out of OUT."""
    try:
        rel = audio.relative_to(base)
    except ValueError:
        rel = audio.relative_to(audio.anchor)
    return rel.with_suffix("").as_posix()


# One run at a time
# -----------------


@contextlib.contextmanager
def locked(out_dir: str | Path) -> Iterator[Path]:
    """Hold ``OUT/.pipeline-batch.lock`` or raise :class:`LockError` at once, naming the holder.

    ``flock`` locks belong to the open file, so the OS releases this one when the process ends,
    however it ends; the file itself stays (removing it would let two runs lock two files).
    """
    out_dir = ensure_dir(out_dir)
    path = out_dir / LOCK_NAME
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
        os.pwrite(fd, f"pid {os.getpid()}, started {_now()}\n".encode(), 0)
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
            if _STALE_TMP.match(name):
                path = Path(root) / name
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
                    logger.info("removed %s, left by an interrupted run", path)
    return removed


# Running
# -------


def run(
    episodes: Sequence[Episode],
    config: PipelineConfig,
    out_dir: str | Path,
    options: BatchOptions = BatchOptions(),
    *,
    display=None,
    keep: Path | None = None,
) -> Summary:
    """Process the episodes that are not done, each isolated from the others; write the summary.

    Holds :func:`locked` on ``out_dir`` throughout, and first removes the temporary files a
    killed run left (:func:`clean_stale`); ``OUT/summary.json`` is written before the lock is
    released. ``keep`` is an inbox inside ``out_dir`` (not searched for stale files).

    Raises :class:`LockError` when another run holds the lock; every other failure is recorded
    in its episode's :class:`Outcome`. ``display`` gets progress (``stage(name, total)``).
    """
    out_dir = Path(out_dir)
    started, clock = _now(), time.perf_counter()
    with locked(out_dir):
        clean_stale(out_dir, keep=keep)
        logger.info("%d episode(s); config %s", len(episodes), config.digest())
        outcomes: dict[int, Outcome] = {}
        plans: dict[int, _Plan] = {}
        for i, ep in enumerate(episodes):
            result = _guarded(ep, lambda ep=ep: _plan_or_skip(ep, config, out_dir, options, keep))
            if isinstance(result, _Plan):
                plans[i] = result
            else:
                outcomes[i] = result
        model_load: dict[str, float] = {}
        if plans:
            outcomes.update(_process_all(episodes, plans, config, out_dir, display, model_load))
        summary = Summary(started, _now(), round(time.perf_counter() - clock, 3), str(out_dir.resolve()),
                          config.digest(), tuple(outcomes[i] for i in range(len(episodes))), model_load)
        write_summary(summary, out_dir)
    logger.info("%s; summary in %s", totals_line(summary), out_dir / SUMMARY_NAME)
    return summary


def _process_all(episodes, plans: dict[int, _Plan], config: PipelineConfig, out_dir: Path, display,
                 model_load: dict[str, float]) -> dict[int, Outcome]:
    from pipeline import runner

    logger.info("%d of %d episodes to process; loading models", len(plans), len(episodes))
    try:
        runner.load_models(config, model_load)
    except Exception as e:  # any failure: every episode records why it could not run
        reason = f"the models could not be loaded: {_describe(e)}"
        logger.error(reason)
        logger.debug("traceback", exc_info=True)
        return {i: Outcome(episodes[i], FAILED, reason) for i in plans}
    overall = display.stage("episodes", total=len(plans)) if display is not None else None
    outcomes = {}
    for n, (i, plan) in enumerate(plans.items(), 1):
        ep = episodes[i]
        logger.info("episode %d/%d: %s", n, len(plans), ep.audio)
        outcomes[i] = _guarded(ep, lambda ep=ep, plan=plan: _process(ep, plan, out_dir, display))
        if outcomes[i].status == FAILED:
            _record_failure(ep, plan, out_dir, outcomes[i].reason)
        if overall is not None:
            overall(n, len(plans))
    return outcomes


def _guarded(ep: Episode, work):
    """``work()``, or a FAILED outcome saying why: a PipelineError's message, or any other
    exception's type and message (its traceback goes to the log at DEBUG level)."""
    started = time.perf_counter()
    try:
        return work()
    except PipelineError as e:
        reason = str(e)
        logger.error("%s", located(ep, reason))
    except Exception as e:  # a bug in one episode must not stop the batch
        reason = f"unexpected {_describe(e)}"
        logger.error("%s", located(ep, reason))
        logger.debug("%s: traceback", ep.audio, exc_info=True)
    return Outcome(ep, FAILED, reason, seconds=round(time.perf_counter() - started, 3))


def located(ep: Episode, reason: str) -> str:
    """``reason`` prefixed with the episode's file, unless it names it already."""
    return reason if ep.problem or str(ep.audio) in reason else f"{ep.audio}: {reason}"


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if not isinstance(e, PipelineError) else str(e)


def _plan_or_skip(ep: Episode, config: PipelineConfig, out_dir: Path, options: BatchOptions,
                  keep: Path | None = None):
    """The episode's :class:`_Plan` when it has to be processed, else its SKIPPED/GAVE_UP outcome."""
    if ep.problem:
        raise PipelineError(ep.problem)
    ep_dir = out_dir / ep.key
    if keep is not None and ep_dir.resolve().is_relative_to(keep.resolve()):
        raise PipelineError(f"{ep.audio}: its output folder {ep_dir} would be inside the inbox {keep}; "
                            "rename the file or use another output directory")
    marker = _read_json(ep_dir / DONE_NAME)
    plan = _plan(ep, config, marker, trust_stat=not options.verify)
    if marker is not None and not options.force and _is_done(marker, plan, ep_dir, options.verify):
        logger.debug("%s: done, skipped", ep.audio)
        return Outcome(ep, SKIPPED, seconds=marker.get("seconds", 0.0), timings=marker.get("timings", {}),
                       outputs=tuple(marker["outputs"]), processed_at=marker.get("processed_at", ""),
                       warning=marker.get("warning", ""), check=marker.get("check") or {})
    failed = _read_json(ep_dir / FAILED_NAME)
    if (failed is not None and not (options.force or options.retry_failed)
            and failed.get("audio_sha256") == plan.audio_sha256 and failed.get("config_digest") == plan.digest
            and failed.get("attempts", 0) >= options.max_attempts):
        return Outcome(ep, GAVE_UP, f"failed {failed['attempts']} times, not tried again until the audio or "
                       f"the config changes (or --retry-failed): {failed.get('reason', '')}")
    return plan


def _plan(ep: Episode, config: PipelineConfig, marker: dict | None, *, trust_stat: bool = True) -> _Plan:
    """The episode's config (with its speaker hints), audio identity and digest.

    The digest covers the config, the hints, and the content (not the path) of the reference and
    RTTM files, so a changed transcript reprocesses the episode and a moved inbox does not.
    """
    config = override(config, "diarization", **ep.hints)
    sha, size, mtime_ns = _audio_identity(ep.audio, marker if trust_stat else None)
    files = {name: None if path is None else {"path": str(path), "sha256": _sha_or_raise(path, name)}
             for name, path in (("reference", ep.reference), ("rttm", ep.rttm))}
    parts = {"config": config.digest(), "speakers": ep.hints, **files}
    hashed = {**parts, **{name: f and f["sha256"] for name, f in files.items()}}
    digest = hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:16]
    return _Plan(config, sha, size, mtime_ns, digest, parts, marker)


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


def _is_done(marker: dict, plan: _Plan, ep_dir: Path, verify: bool = False) -> bool:
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


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        logger.warning("%s: unreadable (%s); treating the episode as not done", path, e)
        return None
    return data if isinstance(data, dict) else None


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


# One episode
# -----------


def _process(ep: Episode, plan: _Plan, out_dir: Path, display) -> Outcome:
    """Run, write every output atomically, then the ``done.json`` marker, last."""
    from pipeline import reference, runner, writers

    started = time.perf_counter()
    ep_dir = ensure_dir(out_dir / ep.key)
    (ep_dir / DONE_NAME).unlink(missing_ok=True)  # not done until the new marker is written
    ref = reference.load(ep.reference) if ep.reference is not None else None
    result = runner.run(ep.audio, plan.config, reference=ref, display=display)
    if result.audio_sha256 != plan.audio_sha256:
        raise AudioError(ep.audio, "changed while it was being processed (still being copied?); "
                                   "it will be processed again on the next run")
    timings = dict(result.timings)
    clock = time.perf_counter()
    paths = writers.write(result, ep_dir, plan.config.output.formats, ep.audio.stem)
    timings["write"] = round(time.perf_counter() - clock, 3)
    warning, check = "", {}
    if ref is not None:
        clock = time.perf_counter()
        checked, check, warning = _check(result, ref, ep, ep_dir)
        paths += checked
        timings["check"] = round(time.perf_counter() - clock, 3)
    outputs = {p.relative_to(ep_dir).as_posix(): file_sha256(p) for p in paths}
    stats = {name: list(_stat(ep_dir / name)) for name in outputs}
    _remove_stale_outputs(plan.marker, outputs, ep_dir)
    seconds = round(time.perf_counter() - started, 3)
    marker = _marker(ep, plan, result, outputs, timings, seconds)
    marker.update(output_stats=stats, check=check, **({"warning": warning} if warning else {}))
    write_text_atomic(ep_dir / DONE_NAME, json.dumps(marker, indent=2, ensure_ascii=False) + "\n")
    (ep_dir / FAILED_NAME).unlink(missing_ok=True)
    logger.info("%s: done in %.1f s -> %s", ep.audio, seconds, ep_dir)
    return Outcome(ep, DONE, seconds=seconds, timings=timings, outputs=tuple(outputs),
                   processed_at=marker["processed_at"], warning=warning, check=check)


def _check(result, ref, ep: Episode, ep_dir: Path) -> tuple[list[Path], dict[str, float], str]:
    """The check report's files and headline rates; a reference the check cannot use is a warning."""
    from pipeline import report

    try:
        checked = report.check(result, ref, rttm=ep.rttm)
        paths = list(report.write_report(checked, ep_dir, stem=ep.audio.stem))
    except PipelineError as e:
        logger.warning("%s: no check report: %s", ep.audio, e)
        return [], {}, f"no check report: {e}"
    rates = report.report_dict(checked)
    return paths, {k: rates[k] for k in CHECK_RATES if rates.get(k) is not None}, ""


def _remove_stale_outputs(old: dict | None, outputs: dict[str, str], ep_dir: Path) -> None:
    """Remove what the previous marker listed and this run did not write (a dropped format)."""
    listed = old.get("outputs") if old else None
    for name in listed if isinstance(listed, dict) else ():
        path = ep_dir / name
        if name not in outputs and path.parent == ep_dir:
            path.unlink(missing_ok=True)


def _marker(ep: Episode, plan: _Plan, result, outputs: dict[str, str], timings: dict[str, float],
            seconds: float) -> dict[str, Any]:
    return {
        "format": MARKER_FORMAT,
        "audio": str(ep.audio),
        "audio_sha256": plan.audio_sha256,
        "audio_size": plan.audio_size,
        "audio_mtime_ns": plan.audio_mtime_ns,
        "config_digest": plan.digest,
        "digest_of": plan.digest_parts,
        "outputs": outputs,
        "timings": timings,
        "seconds": seconds,
        "duration": result.duration,
        "speakers": {label: result.name_of(label) for label in result.speakers},
        "processed_at": _now(),
        "versions": result.versions,
    }


def _record_failure(ep: Episode, plan: _Plan, out_dir: Path, reason: str) -> None:
    """Write ``failed.json`` (the reason, and how often it failed with this audio and config)."""
    path = out_dir / ep.key / FAILED_NAME
    previous = _read_json(path) or {}
    same = previous.get("audio_sha256") == plan.audio_sha256 and previous.get("config_digest") == plan.digest
    record = {"audio": str(ep.audio), "audio_sha256": plan.audio_sha256, "config_digest": plan.digest,
              "attempts": (previous.get("attempts", 0) if same else 0) + 1, "reason": reason,
              "failed_at": _now()}
    try:
        write_text_atomic(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    except PipelineError as e:
        logger.error("%s: cannot record the failure: %s", ep.audio, e)


# The summary
# -----------


def summary_dict(summary: Summary) -> dict[str, Any]:
    """The JSON-able content of ``summary.json``."""
    return {
        "started": summary.started,
        "finished": summary.finished,
        "seconds": summary.seconds,
        "output": summary.output,
        "config_digest": summary.config_digest,
        "counts": {status: summary.count(status) for status in (DONE, SKIPPED, FAILED, GAVE_UP)},
        "exit_code": summary.exit_code,
        "model_load": summary.model_load,
        "stages": summary.stages,
        "done": [o.episode.key for o in summary.outcomes if o.status == DONE],
        "skipped": [o.episode.key for o in summary.outcomes if o.status == SKIPPED],
        "failed": [{"audio": _audio_name(o.episode), "reason": o.reason}
                   for o in summary.outcomes if o.status in (FAILED, GAVE_UP)],
        "episodes": [_outcome_dict(o) for o in summary.outcomes],
    }


def _outcome_dict(o: Outcome) -> dict[str, Any]:
    ep = o.episode
    entry = {"audio": _audio_name(ep), "output": None if ep.problem else ep.key, "status": o.status,
             "reference": str(ep.reference) if ep.reference else None, "seconds": o.seconds,
             "timings": o.timings, "outputs": list(o.outputs), "processed_at": o.processed_at or None}
    if o.reason:
        entry["reason"] = o.reason
    if o.check:
        entry["check"] = o.check
    if o.warning:
        entry["warning"] = o.warning
    return entry


def _audio_name(ep: Episode) -> str:
    return ep.source if ep.problem else str(ep.audio)


def write_summary(summary: Summary, out_dir: str | Path) -> Path:
    """Write ``OUT/summary.json`` atomically; its path."""
    text = json.dumps(summary_dict(summary), indent=2, ensure_ascii=False) + "\n"
    return write_text_atomic(Path(out_dir) / SUMMARY_NAME, text)


def summary_lines(summary: Summary) -> list[str]:
    """One plain line per episode that was processed, failed or given up, then the totals."""
    lines = []
    for o in summary.outcomes:
        if o.status == DONE:
            lines.append(f"done     {o.episode.key}  ({o.seconds:.1f} s)  {notes(o)}".rstrip())
        elif o.status in (FAILED, GAVE_UP):
            lines.append(f"{o.status:<8} {located(o.episode, o.reason)}")
    lines.append(totals_line(summary))
    return lines


def notes(o: Outcome) -> str:
    """Why it failed; or the check's rates (``WER 12.0%  cpWER 15.2%  DER 8.1%``) and any warning."""
    if o.reason:
        return located(o.episode, o.reason)
    names = {"wer": "WER", "cpwer": "cpWER", "der": "DER"}
    rates = [f"{label} {100 * o.check[k]:.1f}%" for k, label in names.items() if k in o.check]
    return "  ".join([*rates, *([o.warning] if o.warning else [])])


def totals_line(summary: Summary) -> str:
    counts = ", ".join(f"{summary.count(s)} {s}" for s in (DONE, SKIPPED, FAILED, GAVE_UP) if summary.count(s))
    n = len(summary.outcomes)
    return f"{n} episode{'s' if n != 1 else ''}: {counts or 'nothing to do'} in {summary.seconds:.1f} s"


class OneBarPerStage:
    """A display that keeps one bar per stage name for a whole batch, not one per episode."""

    def __init__(self, display) -> None:
        self._display = display
        self._bars: dict[str, Any] = {}

    def stage(self, name: str, total: float = 100.0):
        if name not in self._bars:
            self._bars[name] = self._display.stage(name, total)
        bar = self._bars[name]
        bar(0.0, total)
        return lambda done, total_now=None: bar(done, total_now or total)
