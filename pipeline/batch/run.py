"""Every episode of an inbox (or a manifest), each processed once; safe to run from cron.

:func:`run` holds the output directory's lock, removes what a killed run left half-written,
decides for each episode whether it is done, given up or to do (:func:`pipeline.batch.state.plan`),
hands the ones to do to an executor, and writes ``summary.json``. The executor runs :func:`work`
on each, wherever it runs it (this process, or a Ray worker): the one job path
(:func:`pipeline.jobs.process`), then ``done.json`` last, or ``failed.json`` and the reason.
One episode's failure never stops the rest.
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
from pipeline.batch.state import DONE, FAILED, BatchOptions, Entry, Plan
from pipeline.batch.summary import Summary, located, totals_line, write_summary
from pipeline.config import PipelineConfig
from pipeline.display import Display, NullDisplay
from pipeline.errors import AudioError, PipelineError
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

    Raises :class:`LockError` when another run holds the lock; every other failure is recorded
    in its episode's :class:`Entry`.
    """
    out_dir = Path(out_dir)
    display = display or NullDisplay()
    started, clock = state.now(), time.perf_counter()
    with state.locked(out_dir):
        state.clean_stale(out_dir, keep=keep)
        logger.info("%d episode(s); config %s", len(episodes), config.digest())
        entries: dict[int, Entry] = {}
        tasks: dict[int, Task] = {}
        for i, ep in enumerate(episodes):
            planned = guarded(ep, lambda ep=ep: state.plan(ep, config, out_dir, options, keep))
            if isinstance(planned, Plan):
                tasks[i] = Task(ep, planned, out_dir, voices=options.voices)
            else:
                entries[i] = planned
        tasks = {i: replace(t, number=n, total=len(tasks)) for n, (i, t) in enumerate(_in_order(tasks).items(), 1)}
        model_load: dict[str, float] = {}
        if tasks:
            entries.update(_process_all(tasks, config, executor or LocalExecutor(config), display, model_load))
        summary = Summary(started, state.now(), round(time.perf_counter() - clock, 3), str(out_dir.resolve()),
                          config.digest(), tuple(entries[i] for i in range(len(episodes))), model_load)
        write_summary(summary, out_dir)
    logger.info("%s; summary in %s", totals_line(summary), layout.summary_path(out_dir))
    return summary


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
    """Process one episode where the executor runs it; ``done.json`` last, or ``failed.json``."""
    ep = task.episode
    entry = guarded(ep, lambda: _work(task, models, display))
    if entry.status == FAILED:
        state.record_failure(ep, task.plan, task.out_dir, entry.reason)
    return entry


def _work(task: Task, models: Models, display: Display | None) -> Entry:
    ep, plan = task.episode, task.plan
    started = time.perf_counter()
    job = replace(ep.job(task.out_dir), voices=task.voices)
    job.files.done.unlink(missing_ok=True)  # not done until the new marker is written
    logger.info("episode %d/%d: %s", task.number, task.total, ep.audio)
    outcome = process(job, plan.config, models, display)
    if outcome.result.audio_sha256 != plan.audio_sha256:
        raise AudioError(ep.audio, "changed while it was being processed (still being copied?); "
                                   "it will be processed again on the next run")
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
