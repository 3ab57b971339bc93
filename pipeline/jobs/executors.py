"""Where a batch's work runs: here, one task after another, or on a Ray cluster.

An executor runs a ``work(task, models, display)`` function (a top-level function, so that it
can travel to another process) over tasks, each with :class:`~pipeline.jobs.models.Models`
loaded once where it runs, and reports each result as it comes through ``finished(index, result)``:

* :class:`LocalExecutor`: this process, the tasks in order (the default);
* :class:`pipeline.jobs.ray_executor.RayExecutor`: Ray actors, each loading the models once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from pipeline.config import PipelineConfig
from pipeline.display import Display
from pipeline.jobs.models import Models

T = TypeVar("T")
Work = Callable[[Any, Models, Display | None], Any]
Finished = Callable[[int, Any], None]


class Executor(Protocol):
    def start(self) -> dict[str, float]:
        """Load the models (or start the workers that do); the seconds each load took."""
        ...

    def run(self, tasks: Sequence[Any], work: Work, finished: Finished, display: Display | None = None) -> None:
        """``work`` each task; ``finished(index, result)`` for each, in any order."""
        ...

    def stop(self) -> None:
        """Release what :meth:`start` took."""
        ...


class LocalExecutor:
    """Every task here, in order, with one set of models."""

    def __init__(self, config: PipelineConfig) -> None:
        self.models = Models(config)

    def start(self) -> dict[str, float]:
        timings: dict[str, float] = {}
        self.models.load(timings)
        return timings

    def run(self, tasks: Sequence[Any], work: Work, finished: Finished, display: Display | None = None) -> None:
        for n, task in enumerate(tasks):
            finished(n, work(task, self.models, display))

    def stop(self) -> None:
        return None
