"""A batch on Ray: each worker an actor that loads the models once and runs tasks one at a time.

The driver (``pipeline batch --executor ray``) keeps everything that decides what to do, as the
local executor does: discovery, the skip logic, the lock, progress and ``summary.json``. Workers
run the same ``work`` function, so they write exactly the files and ``done.json`` a local run
writes, into the output directory (on a cluster, a path every node sees the same).

* No address (and no ``RAY_ADDRESS``): a local Ray is started on this machine and stopped after.
* A worker requests ``cpus_per_worker`` CPUs (and a GPU on a cluster that has them); its torch and
  CTranslate2 threads are capped to its CPUs (:func:`pipeline.jobs.models.effective`).
* A worker that dies mid-episode (killed, out of memory, its node lost) is replaced, and its
  episode is given to the next free worker, up to ``retries`` times. The dead worker's episode
  has no ``done.json`` (it is written last), so nothing it half-wrote looks done; the temporary
  files it left are removed at the start of the next run, under the lock.
* What a worker logs comes back with its result and goes into the driver's log.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.config import PipelineConfig
from pipeline.display import Display
from pipeline.errors import PipelineError
from pipeline.jobs.executors import Finished, Work
from pipeline.jobs.models import Models

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: $RAY_ADDRESS, else a local Ray started for this run
    workers: int | None = None  # None: as many as the cluster's CPUs hold
    cpus_per_worker: int = 2  # ASR and diarization side by side want two cores
    retries: int = 2  # a task whose worker died is given to another worker this many times


class _Worker:
    """The actor: models loaded once, then one task at a time."""

    def __init__(self, config: PipelineConfig, cpus: int, factory: Callable[..., Models]) -> None:
        from pipeline import runtime

        runtime.offline_environment()
        self.cpus = cpus
        self.models = factory(config, cores=cpus)
        self.load_timings: dict[str, float] = {}

    def start(self) -> dict[str, float]:
        import torch

        torch.set_num_threads(self.cpus)
        self.models.load(self.load_timings)
        return {**self.load_timings, "pid": os.getpid()}

    def run(self, work: Work, task: Any) -> tuple[Any, list[dict[str, Any]]]:
        records: list[dict[str, Any]] = []
        handler = _Collect(records)
        root = logging.getLogger("pipeline")
        root.addHandler(handler)
        level = root.level
        root.setLevel(logging.INFO)
        try:
            return work(task, self.models, None), records
        finally:
            root.removeHandler(handler)
            root.setLevel(level)


class _Collect(logging.Handler):
    def __init__(self, records: list) -> None:
        super().__init__(logging.INFO)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append({"name": record.name, "levelno": record.levelno, "levelname": record.levelname,
                             "msg": record.getMessage(), "created": record.created, "msecs": record.msecs})


class RayExecutor:
    """Tasks on Ray actors; see the module's docstring."""

    def __init__(self, config: PipelineConfig, options: RayOptions = RayOptions(), *,
                 factory: Callable[..., Models] = Models) -> None:
        self.config, self.options, self.factory = config, options, factory
        self.workers: list[Any] = []
        self.busy: dict[Any, tuple[Any, int]] = {}  # result ref -> (actor, task index)
        self._started_ray = False
        self._actor_class = None

    def start(self) -> dict[str, float]:
        import ray

        address = self.options.address or os.environ.get("RAY_ADDRESS")
        if not ray.is_initialized():
            said = io.StringIO()  # Ray's notices (token authentication...) go to the log, not the console
            with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.ERROR, configure_logging=False)
            for line in filter(None, said.getvalue().splitlines()):
                logger.info("ray: %s", line)
            self._started_ray = True
        cpus, gpus = _resources(ray.cluster_resources())
        count, per = _shape(cpus, self.options)
        wants_gpu = gpus >= count and {self.config.asr.device, self.config.diarization.device} != {"cpu"}
        self._actor_class = ray.remote(num_cpus=per, num_gpus=1 if wants_gpu else 0)(_Worker)
        self._per = per
        logger.info("Ray: %d worker(s), %d CPU(s)%s each (cluster: %d CPUs, %d GPUs)", count, per,
                    " and a GPU" if wants_gpu else "", cpus, gpus)
        self.workers = [self._new_worker() for _ in range(count)]
        loads = ray.get([w.start.remote() for w in self.workers])
        return {k: max(load.get(k, 0.0) for load in loads) for k in loads[0] if k != "pid"}

    def _new_worker(self):
        return self._actor_class.remote(self.config, self._per, self.factory)

    def run(self, tasks: Sequence[Any], work: Work, finished: Finished, display: Display | None = None) -> None:
        import ray

        queue, tries = deque(range(len(tasks))), [0] * len(tasks)
        idle = deque(self.workers)
        while queue or self.busy:
            while queue and idle:
                actor, n = idle.popleft(), queue.popleft()
                self.busy[actor.run.remote(work, tasks[n])] = (actor, n)
            [ref], _ = ray.wait(list(self.busy), num_returns=1)
            actor, n = self.busy.pop(ref)
            try:
                result, records = ray.get(ref)
            except ray.exceptions.RayActorError as e:
                idle.append(self._replace(actor))
                tries[n] += 1
                if tries[n] <= self.options.retries:
                    logger.warning("a Ray worker died during task %d (%s); giving it to another worker", n + 1,
                                   _first_line(e))
                    queue.appendleft(n)
                    continue
                raise PipelineError(f"Ray workers died {tries[n]} times on one task: {_first_line(e)}") from e
            idle.append(actor)
            for record in records:  # the worker's log lines, at the times it wrote them
                logging.getLogger(record["name"]).handle(logging.makeLogRecord(record))
            finished(n, result)

    def _replace(self, dead):
        import ray

        ray.kill(dead, no_restart=True)
        worker = self._new_worker()
        ray.get(worker.start.remote())
        self.workers = [worker if w is dead else w for w in self.workers]
        return worker

    def stop(self) -> None:
        import ray

        for worker in self.workers:
            ray.kill(worker, no_restart=True)
        self.workers, self.busy = [], {}
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False


def _resources(resources: dict[str, float]) -> tuple[int, int]:
    return int(resources.get("CPU", 1)), int(resources.get("GPU", 0))


def _shape(cpus: int, options: RayOptions) -> tuple[int, int]:
    """(workers, CPUs each): ``options.workers`` of them when given, each as many CPUs as fit."""
    per = max(1, min(options.cpus_per_worker, cpus))
    if options.workers is None:
        return max(1, cpus // per), per
    if options.workers * per > cpus:
        per = max(1, cpus // options.workers)
        if options.workers * per > cpus:
            logger.warning("%d workers of 1 CPU need more than the cluster's %d CPUs: some wait for others",
                           options.workers, cpus)
    return options.workers, per


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
