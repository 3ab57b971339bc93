"""A batch run's summary: ``OUT/summary.json``, and the lines a CLI prints of it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import layout
from pipeline.batch.inbox import Episode
from pipeline.batch.state import DONE, FAILED, GAVE_UP, SKIPPED, WAITING, Entry
from pipeline.layout import write_text_atomic

STATUSES = (DONE, SKIPPED, FAILED, GAVE_UP, WAITING)


@dataclass(frozen=True)
class Summary:
    started: str
    finished: str
    seconds: float
    output: str
    config_digest: str
    entries: tuple[Entry, ...]
    model_load: dict[str, float] = field(default_factory=dict)
    problem: str = ""  # what went wrong with the run itself (summary.json not written)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.entries)

    @property
    def exit_code(self) -> int:
        """0 when every episode is done, skipped, waiting or given up earlier; 1 when one failed now
        (or the summary could not be written)."""
        return 1 if self.count(FAILED) or self.problem else 0

    @property
    def stages(self) -> dict[str, float]:
        """Seconds per stage, summed over the episodes processed in this run."""
        total: dict[str, float] = {}
        for o in self.entries:
            if o.status == DONE:
                for stage, seconds in o.timings.items():
                    total[stage] = round(total.get(stage, 0.0) + seconds, 3)
        return total


def summary_dict(summary: Summary) -> dict[str, Any]:
    """The JSON-able content of ``summary.json``."""
    return {
        "started": summary.started,
        "finished": summary.finished,
        "seconds": summary.seconds,
        "output": summary.output,
        "config_digest": summary.config_digest,
        "counts": {status: summary.count(status) for status in STATUSES},
        "exit_code": summary.exit_code,
        "model_load": summary.model_load,
        "stages": summary.stages,
        "done": [o.episode.key for o in summary.entries if o.status == DONE],
        "skipped": [o.episode.key for o in summary.entries if o.status == SKIPPED],
        "failed": [{"audio": _audio_name(o.episode), "reason": o.reason}
                   for o in summary.entries if o.status in (FAILED, GAVE_UP)],
        "episodes": [_entry_dict(o) for o in summary.entries],
    }


def _entry_dict(o: Entry) -> dict[str, Any]:
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
    return write_text_atomic(layout.summary_path(Path(out_dir)), text)


def summary_lines(summary: Summary) -> list[str]:
    """One plain line per episode that was processed, failed or given up, then the totals."""
    lines = []
    for o in summary.entries:
        if o.status == DONE:
            lines.append(f"done     {o.episode.key}  ({o.seconds:.1f} s)  {notes(o)}".rstrip())
        elif o.status in (FAILED, GAVE_UP, WAITING):
            lines.append(f"{o.status:<8} {located(o.episode, o.reason)}")
    lines.append(totals_line(summary))
    return lines


def notes(o: Entry) -> str:
    """Why it failed; or the check's rates (``WER 12.0%  cpWER 15.2%  DER 8.1%``) and any warning."""
    if o.reason:
        return located(o.episode, o.reason)
    names = {"wer": "WER", "cpwer": "cpWER", "der": "DER"}
    rates = [f"{label} {100 * o.check[k]:.1f}%" for k, label in names.items() if k in o.check]
    return "  ".join([*rates, *([o.warning] if o.warning else [])])


def totals_line(summary: Summary) -> str:
    counts = ", ".join(f"{summary.count(s)} {s}" for s in STATUSES if summary.count(s))
    n = len(summary.entries)
    return f"{n} episode{'s' if n != 1 else ''}: {counts or 'nothing to do'} in {summary.seconds:.1f} s"




def located(ep: Episode, reason: str) -> str:
    """``reason`` prefixed with the episode's file, unless it names it already."""
    return reason if ep.problem or str(ep.audio) in reason else f"{ep.audio}: {reason}"
