"""Progress for people and for cron.

Library code reports progress through plain callbacks; this module turns them into a rich
progress bar on a terminal, or into a few plain log lines when there is none (cron, CI).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator

logger = logging.getLogger("pipeline.progress")


class _Plain:
    """Log a line when a stage starts, every 10 % (at most every 15 s), and when it ends."""

    def stage(self, name: str, total: float = 100.0) -> Callable[[float, float], None]:
        logger.info("%s: started", name)
        state = {"last": 0.0, "t": time.monotonic()}

        def update(done: float, total_now: float | None = None) -> None:
            total_ = total_now or total or 1.0
            fraction = min(done / total_, 1.0)
            if fraction >= 1.0 or (fraction - state["last"] >= 0.1 and time.monotonic() - state["t"] > 15):
                state["last"], state["t"] = fraction, time.monotonic()
                logger.info("%s: %3.0f %%", name, 100 * fraction)

        return update


class _Rich:
    def __init__(self, progress) -> None:
        self._progress = progress

    def stage(self, name: str, total: float = 100.0) -> Callable[[float, float], None]:
        task = self._progress.add_task(name, total=total or 1.0)

        def update(done: float, total_now: float | None = None) -> None:
            self._progress.update(task, completed=done, total=total_now or total or 1.0)

        return update


@contextlib.contextmanager
def stage_progress(quiet: bool = False) -> Iterator[_Plain | _Rich]:
    """A progress display: rich bars on a terminal, log lines otherwise, nothing when quiet."""
    if quiet or not sys.stderr.isatty():
        yield _Plain()
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<12}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), transient=False) as progress:
        yield _Rich(progress)


def pyannote_hook(update: Callable[[float, float], None]):
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
