"""Progress, as the library reports it and as people and cron see it.

Library code reports progress through a :class:`Display`: ``display.stage(name, total)`` opens a
stage and returns its :data:`Progress` callback, ``progress(done, total)``. :class:`NullDisplay`
shows nothing; :class:`LogDisplay` writes a few plain log lines (cron, pipes); the CLI's
:func:`terminal_display` draws rich progress bars on a terminal. :func:`pyannote_hook` adapts a
stage callback to pyannote's ``hook(step, artifact, completed=, total=)``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

logger = logging.getLogger("pipeline.display")

#: progress(done, total): ``total`` may change as the stage learns more
Progress = Callable[..., None]


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


class Display(Protocol):
    def stage(self, name: str, total: float = 100.0) -> Progress:
        """Open the stage ``name`` (its work measured in ``total`` units); its progress callback."""
        ...


class NullDisplay:
    """Shows nothing."""

    def stage(self, name: str, total: float = 100.0) -> Progress:
        return _nothing


class LogDisplay:
    """A log line when a stage starts, every 10 % (at most every 15 s), and when it ends."""

    def stage(self, name: str, total: float = 100.0) -> Progress:
        logger.info("%s: started", name)
        state = {"last": 0.0, "t": time.monotonic()}

        def update(done: float, total_now: float | None = None) -> None:
            fraction = min(done / (total_now or total or 1.0), 1.0)
            if fraction >= 1.0 or (fraction - state["last"] >= 0.1 and time.monotonic() - state["t"] > 15):
                state["last"], state["t"] = fraction, time.monotonic()
                logger.info("%s: %3.0f %%", name, 100 * fraction)

        return update


class _RichDisplay:
    def __init__(self, progress) -> None:
        self._progress = progress

    def stage(self, name: str, total: float = 100.0) -> Progress:
        task = self._progress.add_task(name, total=total or 1.0)

        def update(done: float, total_now: float | None = None) -> None:
            self._progress.update(task, completed=done, total=total_now or total or 1.0)

        return update


class OneBarPerStage:
    """A display that keeps one bar per stage name for a whole batch, not one per episode."""

    def __init__(self, display: Display) -> None:
        self._display = display
        self._bars: dict[str, Progress] = {}

    def stage(self, name: str, total: float = 100.0) -> Progress:
        if name not in self._bars:
            self._bars[name] = self._display.stage(name, total)
        bar = self._bars[name]
        bar(0.0, total)
        return lambda done, total_now=None: bar(done, total_now or total)


@contextlib.contextmanager
def terminal_display(quiet: bool = False) -> Iterator[Display]:
    """Rich bars on a terminal, log lines otherwise (their level decides whether they show)."""
    if quiet or not sys.stderr.isatty():
        yield LogDisplay()
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    # on stderr: stdout is for results (``pipeline run ... > file``)
    with Progress(TextColumn("{task.description:<12}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), transient=False, console=Console(stderr=True)) as progress:
        yield _RichDisplay(progress)


def pyannote_hook(update: Progress):
    """Adapt a stage callback to pyannote's ``hook(step, artifact, file=, total=, completed=)``.

    pyannote reports several steps (segmentation, embeddings...), each with its own counts;
    they are weighted into one 0-100 bar: segmentation 40 %, embeddings 55 %, the rest 5 %.
    """
    weights = {"segmentation": (0.0, 40.0), "embeddings": (40.0, 55.0)}

    def hook(step_name, step_artifact=None, file=None, total=None, completed=None):
        offset, span = weights.get(step_name, (95.0, 5.0))
        if total and completed is not None:
            update(offset + span * completed / total, 100.0)
        else:
            update(offset + span, 100.0)

    return hook
