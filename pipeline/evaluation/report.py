"""The evaluation's table (per episode and overall, per split) and its JSON, ``OUT/eval.json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.evaluation.run import Candidate, Failure
from pipeline.evaluation.score import EpisodeScore, Totals, totals
from pipeline.evaluation.suite import MEETINGS
from pipeline.layout import write_text_atomic


def _words(show):
    """A word column: '-' for an episode (or a group) with no word truth."""
    return lambda s: show(s) if s.has_words else "-"


#: (column, how an episode's score shows in it)
COLUMNS = (
    ("WER", _words(lambda s: f"{100 * s.wer:.1f}")),
    ("del%", _words(lambda s: f"{100 * s.deletion_rate:.1f}")),
    ("inv/min", _words(lambda s: f"{s.invented_per_min:.2f}")),
    ("cpWER", _words(lambda s: "-" if s.cpwer is None else f"{100 * s.cpwer:.1f}")),
    ("right spk%", _words(lambda s: f"{100 * s.right_speaker:.1f}")),
    ("WDER", _words(lambda s: f"{100 * s.wder:.1f}")),
    ("named", _words(lambda s: f"{len(s.named)}/{len(s.expected)}"
                     + (f" !{len(s.wrong_names)}" if s.wrong_names else ""))),
    ("spk err", lambda s: f"{s.speaker_count_error:+d}"),
    ("DER", lambda s: "-" if s.der is None else f"{100 * s.der:.1f}"),
    ("DER±.25", lambda s: "-" if s.der_collar is None else f"{100 * s.der_collar:.1f}"),
    ("RTF", lambda s: f"{s.rtf:.3f}"),
)
TOTAL_COLUMNS = (
    ("WER", _words(lambda t: f"{100 * t.wer:.1f}")),
    ("del%", _words(lambda t: f"{100 * t.deletion_rate:.1f} (max {100 * t.worst_deletion_rate:.1f})")),
    ("inv/min", _words(lambda t: f"{t.invented_per_min:.2f}")),
    ("cpWER", lambda t: ""),
    ("right spk%", _words(lambda t: f"{100 * t.right_speaker:.1f} (min {100 * t.worst_right_speaker:.1f})")),
    ("WDER", _words(lambda t: f"{100 * t.wder:.1f}")),
    ("named", _words(lambda t: f"{t.named}/{t.expected}" + (f" !{t.wrong_names}" if t.wrong_names else ""))),
    ("spk err", lambda t: f"{t.count_exact}/{t.episodes} exact"),
    ("DER", lambda t: "-" if t.der is None else f"{100 * t.der:.1f}"),
    ("DER±.25", lambda t: "-" if t.der_collar is None else f"{100 * t.der_collar:.1f}"),
    ("RTF", lambda t: f"{t.rtf:.3f}"),
)


def scores_of(found: Sequence[EpisodeScore | Failure]) -> list[EpisodeScore]:
    return [s for s in found if isinstance(s, EpisodeScore)]


def broadcast(scores: Sequence[EpisodeScore]) -> list[EpisodeScore]:
    """Every episode but the meeting recordings, which are totalled apart (30 s clips of another
    kind of audio, scored on diarization only): what "all" and issue 12's targets are over."""
    return [s for s in scores if s.split != MEETINGS]


def split_totals(found: Sequence[EpisodeScore | Failure]) -> dict[str, Totals]:
    """Totals over each split that has any, and "all" over the :func:`broadcast` episodes."""
    scores = scores_of(found)
    out = {"all": totals(broadcast(scores))} if broadcast(scores) else {}
    for split in sorted({s.split for s in scores}):
        out[split] = totals([s for s in scores if s.split == split])
    return out


def row(label: str, found: EpisodeScore | Failure) -> list[str]:
    if isinstance(found, Failure):
        return [found.episode, label, f"failed: {found.reason}"] + [""] * (len(COLUMNS) - 1)
    return [found.name, label, *(show(found) for _, show in COLUMNS)]


def total_rows(results: dict[str, list[EpisodeScore | Failure]]) -> list[list[str]]:
    rows = []
    for split in ("tune", "test", "all", MEETINGS):
        for label, found in results.items():
            t = split_totals(found).get(split)
            if t is not None:
                rows.append([f"overall ({split}, {t.episodes})", label, *(show(t) for _, show in TOTAL_COLUMNS)])
    return rows


def targets(t: Totals, scores: Sequence[EpisodeScore]) -> dict[str, dict[str, Any]]:
    """Issue 12's targets that one config's figures can answer (reference-WER ones need --vs)."""
    wrong = sum(len(s.wrong_names) for s in scores)
    return {
        "deletions_every_episode_le_2pct": {"value": round(t.worst_deletion_rate, 4),
                                            "met": t.worst_deletion_rate <= 0.02},
        "invented_per_min_le_1": {"value": round(t.invented_per_min, 3), "met": t.invented_per_min <= 1.0},
        "every_published_speaker_named": {"value": f"{t.named}/{t.expected}", "met": t.named == t.expected},
        "no_wrong_name": {"value": wrong, "met": wrong == 0},
        "right_speaker_overall_ge_98.5": {"value": round(t.right_speaker, 4), "met": t.right_speaker >= 0.985},
        "right_speaker_every_episode_ge_97": {"value": round(t.worst_right_speaker, 4),
                                              "met": t.worst_right_speaker >= 0.97},
        "speaker_count_exact_all_but_one": {"value": f"{t.count_exact}/{t.episodes}",
                                            "met": t.count_exact >= t.episodes - 1},
    }


def report_dict(suite: Path, candidates: Sequence[Candidate], results: dict[str, list]) -> dict[str, Any]:
    configs = {}
    for c in candidates:
        found = results[c.label]
        scores = scores_of(found)
        by_split = split_totals(found)
        configs[c.label] = {
            "source": c.source, "digest": c.config.digest(), "config": c.config.model_dump(mode="json"),
            "episodes": [_score_dict(s) for s in scores],
            "failures": [asdict(f) for f in found if isinstance(f, Failure)],
            "totals": {k: asdict(v) for k, v in by_split.items()},
            "targets": targets(by_split["all"], broadcast(scores)) if "all" in by_split else {},
        }
    return {"created": datetime.now(UTC).isoformat(timespec="seconds"), "suite": str(suite), "configs": configs}


def _score_dict(s: EpisodeScore) -> dict[str, Any]:
    return {**asdict(s), "wer": s.wer, "deletion_rate": s.deletion_rate, "invented_per_min": s.invented_per_min,
            "right_speaker": s.right_speaker, "wder": s.wder, "speaker_count_error": s.speaker_count_error,
            "rtf": s.rtf}


def write_report(doc: dict[str, Any], out_dir: Path) -> Path:
    return write_text_atomic(Path(out_dir) / "eval.json", json.dumps(doc, indent=1) + "\n")
