"""``pipeline batch``: every new episode of an inbox or manifest, once; safe to run from cron."""

from pipeline.batch.inbox import Episode, discover, read_manifest
from pipeline.batch.run import Task, run, work
from pipeline.batch.state import DONE, FAILED, GAVE_UP, SKIPPED, WAITING, BatchOptions, Entry, locked
from pipeline.batch.summary import Summary, notes, summary_lines, totals_line

__all__ = ["DONE", "FAILED", "GAVE_UP", "SKIPPED", "WAITING", "BatchOptions", "Entry", "Episode", "Summary", "Task",
           "discover", "locked", "notes", "read_manifest", "run", "summary_lines", "totals_line", "work"]
