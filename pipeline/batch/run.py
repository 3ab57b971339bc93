"""Every episode of an inbox (or a manifest), each processed once; safe to run from cron.

:func:`run` holds the output directory's lock, removes what a killed run left half-written,
decides for each episode whether it is done, given up or to do (:func:`pipeline.batch.state.plan`),
hands the ones to do to an executor, and writes ``summary.json``. The executor runs :func:`work`
on each, wherever it runs it (this process, or a Ray worker): the one job path
(:func:`pipeline.jobs.process`), then ``done.json`` last, or ``failed.json`` and the reason.
One episode's failure never stops the rest, and every failure is recorded, those found before
processing (a missing or unreadable file, a bad manifest line) too, so that ``--max-attempts``
retires it. An episode that failed before has its inputs read and its audio decoded before any
model loads, and an audio file that changed since it was found (an upload still being written)
is left for the next run, neither processed nor failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline import layout
from pipeline.batch import state
from pipeline.batch.inbox import Episode
from pipeline.batch.state import DONE, FAILED, WAITING, BatchOptions, Entry, Plan
from pipeline.batch.summary import Summary, located, totals_line, write_summary
from pipeline.config import PipelineConfig
from pipeline.display import Display, NullDisplay
from pipeline.errors import PipelineError
from pipeline.jobs import Models, process
from pipeline.jobs.executors import Executor, LocalExecutor

logger = logging.getLogger(__name__)

CHECK_RATES = ("wer", "cpwer", "wder", "der", "der_collar", "jer")


@dataclass(frozen=True)
class Task:
    """One episode to process, and all a worker needs to know to do it."""

    episode: Episode
    plan: Plan
    out_dir: Path
    number: int = 1  # its place among the episodes this run processes, for the log
    total: int = 1
    voices: Path | None = None  # the voice library (BatchOptions.voices)


def run(
    episodes: Sequence[Episode],
    config: PipelineConfig,
    out_dir: str | Path,
    options: BatchOptions = BatchOptions(),
    *,
    display: Display | None = None,
    keep: Path | None = None,
    executor: Executor | None = None,
) -> Summary:
    """Process the episodes that are not done, each isolated from the others; write the summary.

    Holds :func:`~pipeline.batch.state.locked` on ``out_dir`` throughout; ``OUT/summary.json``
    is written before the lock is released. ``keep`` is an inbox inside ``out_dir`` (not searched
    for stale files). ``executor`` runs the work (default: here, one episode after another).

    Raises :class:`LockError` when another run holds the lock, and a config error found when
    the models load (exit code 2: no episode is to blame); every other failure is recorded in
    its episode's :class:`Entry` (and ``failed.json``).
    """
    out_dir = Path(out_dir)
    display = display or NullDisplay()
    started, clock = state.now(), time.perf_counter()
    with state.locked(out_dir):
        state.clean_stale(out_dir, keep=keep)
        logger.info("%d episode(s); config %s", len(episodes), config.digest())
        entries, tasks = _plan_all(episodes, config, out_dir, options, keep)
        model_load: dict[str, float] = {}
        if tasks:
            entries.update(_process_all(tasks, config, executor or LocalExecutor(config), display, model_load))
        summary = Summary(started, state.now(), round(time.perf_counter() - clock, 3), str(out_dir.resolve()),
                          config.digest(), tuple(entries[i] for i in range(len(episodes))), model_load)
        try:
            write_summary(summary, out_dir)
        except PipelineError as e:  # a full disk: the episodes' own markers still say what happened
            logger.error("%s", e)
            summary = replace(summary, problem=f"summary.json not written: {e}")
    logger.info("%s; summary in %s", totals_line(summary), layout.summary_path(out_dir))
    return summary


def _plan_all(episodes: Sequence[Episode], config: PipelineConfig, out_dir: Path, options: BatchOptions,
              keep: Path | None) -> tuple[dict[int, Entry], dict[int, Task]]:
    """What is done, given up or failing already (recorded), and the tasks left, numbered."""
    entries: dict[int, Entry] = {}
    tasks: dict[int, Task] = {}
    for i, ep in enumerate(episodes):
        planned = guarded(ep, lambda ep=ep: state.plan(ep, config, out_dir, options, keep))
        if isinstance(planned, Plan):
            tasks[i] = Task(ep, planned, out_dir, voices=options.voices)
            continue
        if planned.status == FAILED:  # found before processing: recorded all the same
            state.record_failure(ep, out_dir, planned.reason, state.early_identity(ep, config), keep=keep)
        entries[i] = planned
    entries.update(_retries_that_fail(tasks))
    todo = [(i, t) for i, t in _in_order(tasks).items() if i not in entries]
    return entries, {i: replace(t, number=n, total=len(todo)) for n, (i, t) in enumerate(todo, 1)}


def _retries_that_fail(tasks: dict[int, Task]) -> dict[int, Entry]:
    """The episodes that failed before and fail again without any model: inputs read, audio decoded.

    Only episodes with a recorded failure (same audio and config) are checked here, as they are
    the likely ones; a run with nothing else to do then loads no model for them. Their audio is
    decoded again if they pass.
    """
    failed = {}
    for i, task in tasks.items():
        if task.plan.attempts:
            entry = guarded(task.episode, lambda task=task: _without_models(task.episode.job(task.out_dir)))
            if entry is not None:
                state.record_failure(task.episode, task.out_dir, entry.reason, state.identity(task.plan),
                                     plan=task.plan)
                failed[i] = entry
    return failed


def _without_models(job) -> None:
    """Every step of ``job`` that needs no model, for what it may raise: inputs, decoding."""
    from pipeline.jobs import read_inputs
    from pipeline.stages import audio

    read_inputs(job)
    audio.load(job.audio)


def _in_order(tasks: dict[int, Task]) -> dict[int, Task]:
    """With a voice library, the episodes with a transcript first: they enroll the voices the rest are
    named from (with several workers the first episodes without one may start before they are all done)."""
    if not any(t.voices is not None for t in tasks.values()):
        return tasks
    return dict(sorted(tasks.items(), key=lambda item: item[1].episode.reference is None))


def _process_all(tasks: dict[int, Task], config: PipelineConfig, executor: Executor, display: Display,
                 model_load: dict[str, float]) -> dict[int, Entry]:
    logger.info("%d episode(s) to process; loading models", len(tasks))
    order = list(tasks)
    try:
        model_load.update(executor.start())
    except Exception as e:  # any failure: every episode records why it could not run
        if isinstance(e, PipelineError) and e.exit_code == 2:
            raise  # a config or usage error (cuda without a GPU): the run's fault, exit code 2
        reason = f"the models could not be loaded: {_describe(e)}"
        logger.error(reason)
        logger.debug("traceback", exc_info=True)
        # not recorded in failed.json: it is no episode's fault, and must not retire any
        return {i: Entry(tasks[i].episode, FAILED, reason) for i in order}
    overall = display.stage("episodes", total=len(order))
    entries: dict[int, Entry] = {}

    def finished(n: int, entry: Entry) -> None:
        entries[order[n]] = entry
        overall(len(entries), len(order))

    try:
        executor.run([tasks[i] for i in order], work, finished, display)
    finally:
        executor.stop()
    return entries


def work(task: Task, models: Models, display: Display | None = None) -> Entry:
    """Process one episode where the executor runs it; ``done.json`` last, or ``failed.json``.

    An audio file that changed since it was found, before or while it was processed, gives a
    WAITING entry instead: an upload still being written is tried again on the next run.
    """
    ep = task.episode
    entry = _still_being_written(task) or guarded(ep, lambda: _work(task, models, display))
    if entry.status == FAILED:
        entry = _still_being_written(task) or entry  # a failure of a half-written file says nothing
    if entry.status == FAILED:
        state.record_failure(ep, task.out_dir, entry.reason, state.identity(task.plan), plan=task.plan)
    return entry


def _still_being_written(task: Task, sha256: str | None = None) -> Entry | None:
    """A WAITING entry when the audio's size or mtime (or its ``sha256``) is not what planning saw."""
    ep, plan = task.episode, task.plan
    try:
        st = ep.audio.stat()
    except OSError:
        return None  # gone: processing says so
    if (st.st_size, st.st_mtime_ns) == (plan.audio_size, plan.audio_mtime_ns) and sha256 in (None, plan.audio_sha256):
        return None
    reason = (f"changed since this run found it ({plan.audio_size} bytes then, {st.st_size} now): still being "
              "written? Tried again on the next run")
    logger.info("%s: %s", ep.audio, reason)
    return Entry(ep, WAITING, reason)


def _work(task: Task, models: Models, display: Display | None) -> Entry:
    ep, plan = task.episode, task.plan
    started = time.perf_counter()
    job = replace(ep.job(task.out_dir), voices=task.voices)
    job.files.done.unlink(missing_ok=True)  # not done until the new marker is written
    logger.info("episode %d/%d: %s", task.number, task.total, ep.audio)
    outcome = process(job, plan.config, models, display)
    if waiting := _still_being_written(task, outcome.result.audio_sha256):
        return waiting
    check = _rates(outcome.check)
    seconds = round(time.perf_counter() - started, 3)
    marker = state.mark_done(ep, plan, outcome, seconds, check)
    logger.info("%s: done in %.1f s -> %s", ep.audio, seconds, job.files.folder)
    return Entry(ep, DONE, seconds=seconds, timings=outcome.timings, outputs=tuple(marker["outputs"]),
                 processed_at=marker["processed_at"], warning=outcome.warning, check=check)


def _rates(checked) -> dict[str, float]:
    """The headline rates of a check report, for done.json and the summary."""
    if checked is None:
        return {}
    from pipeline.scoring import report

    rates = report.report_dict(checked)
    return {k: rates[k] for k in CHECK_RATES if rates.get(k) is not None}


def guarded(ep: Episode, step):
    """``step()``, or a FAILED entry saying why: a PipelineError's message, or any other
    exception's type and message (its traceback goes to the log at DEBUG level)."""
    started = time.perf_counter()
    try:
        return step()
    except PipelineError as e:
        reason = str(e)
        logger.error("%s", located(ep, reason))
    except Exception as e:  # a bug in one episode must not stop the batch
        reason = f"unexpected {_describe(e)}"
        logger.error("%s", located(ep, reason))
        logger.debug("%s: traceback", ep.audio, exc_info=True)
    return Entry(ep, FAILED, reason, seconds=round(time.perf_counter() - started, 3))


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if not isinstance(e, PipelineError) else str(e)
