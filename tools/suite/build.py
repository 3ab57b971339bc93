"""Build the evaluation suite: every episodes/*.script to audio, its published transcript and its truth.

    make suite                                   # the whole suite into $PIPELINE_SUITE_DIR
    tools/suite/.venv/bin/python tools/suite/build.py [--out DIR] [--only NAME ...] [--samples]

Per episode NAME: NAME.flac (16 kHz mono), NAME.txt or NAME.html (the published transcript),
NAME.rttm, NAME.words.json (every spoken word) and NAME.meta.json (speakers, conditions, regions,
split, what the transcript leaves out or keeps that the audio does not); index.json lists them all.
``--samples`` also writes the committed subset (SAMPLES) to samples/suite/ as 48 kbps MP3.
Same scripts and packages, same bytes out.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "seed")]
os.environ.setdefault("KOKORO_JA_CACHE", str(HERE / ".cache"))  # the assembled Kokoro model

import episode as ep  # noqa: E402
import script  # noqa: E402

log = logging.getLogger("build")
ROOT = HERE.parents[1]
SAMPLES = ("ledger-01", "farm-01", "magazine-01")
DEFAULT_OUT = Path(os.environ.get("PIPELINE_SUITE_DIR") or Path.home() / ".cache" / "radio-pipeline" / "suite")
PYANNOTE = {"name": "pyannote-sample", "split": "tune", "package": "pyannote.audio",
            "audio": "pyannote/audio/sample/sample.wav", "rttm": "pyannote/audio/sample/sample.rttm",
            "transcript": "pyannote/audio/sample/sample.stm",
            "note": "real speech, 30 s, 2 speakers; paths are inside the installed pyannote.audio package "
                    "(importlib.resources.files('pyannote.audio') / 'sample'), not copied"}


def index_entry(meta: dict, files: dict) -> dict:
    return {"name": meta["name"], "show": meta["show"], "split": meta["split"],
            "minutes": round(meta["duration"] / 60, 2), "speakers": meta["expected"]["speakers"],
            "conditions": meta["conditions"], **files}


def write_index(out: Path, entries: list[dict], note: str) -> None:
    doc = {"note": note, "episodes": sorted(entries, key=lambda e: e["name"]), "external": [PYANNOTE]}
    old = out / "index.json"
    if old.exists() and "meetings" in (kept := json.loads(old.read_text(encoding="utf-8"))):
        doc["meetings"] = kept["meetings"]  # tools/suite/meetings.py's clips stay listed
    (out / "index.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def build_all(names: list[str], out: Path, samples: bool, cache: Path = HERE / ".cache") -> None:
    out.mkdir(parents=True, exist_ok=True)
    old = out / "index.json"
    entries = {e["name"]: e for e in json.loads(old.read_text())["episodes"]} if old.exists() else {}
    sample_entries = []
    for name in names:
        started = time.monotonic()
        episode = script.load(HERE / "episodes" / f"{name}.script")
        built = ep.build(episode, cache)
        entries[name] = index_entry(built.meta, ep.write(built, out, "flac"))
        log.info("%s: %.1f min in %.0f s", name, built.meta["duration"] / 60, time.monotonic() - started)
        if samples and name in SAMPLES:
            target = ROOT / "samples" / "suite"
            target.mkdir(parents=True, exist_ok=True)
            sample_entries.append(index_entry(built.meta, ep.write(built, target, "mp3")))
    write_index(out, list(entries.values()), "built by tools/suite/build.py; see tools/suite/README.md")
    if sample_entries:
        write_index(ROOT / "samples" / "suite", sample_entries,
                    "the shortest episodes of the suite, committed for CI; see tools/suite/README.md")


def table(out: Path) -> str:
    """The README's episode table, from a built suite's index.json and meta files."""
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    rows = ["| episode | show | format | min | speakers (published + other voices) | split | conditions |",
            "|---|---|---|---|---|---|---|"]
    for e in index["episodes"]:
        meta = json.loads((out / e["meta"]).read_text(encoding="utf-8"))
        others = [k for k, v in meta["speakers"].items() if not v["published"]]
        speakers = f"{len(e['speakers'])}" + (f" + {len(others)}" if others else "")
        rows.append(f"| {e['name']} | {e['show']} | {meta['format']} | {e['minutes']:.1f} | {speakers} "
                    f"| {e['split']} | {', '.join(e['conditions'])} |")
    return "\n".join(rows)


def voice_table() -> str:
    """The README's voice table: every catalog voice, its source, and who speaks with it where."""
    from catalog import VOICES

    used: dict[str, list[str]] = {}
    for path in sorted((HERE / "episodes").glob("*.script")):
        episode = script.load(path)
        for key, speaker in episode.speakers.items():
            used.setdefault(speaker.voice, []).append(f"{episode.name} {key}")
    rows = ["| voice | base (engine, voice) | speed | pitch shift | heard rate | used by |",
            "|---|---|---|---|---|---|"]
    for v in VOICES.values():
        rows.append(f"| {v.id} | {v.engine} {v.name} | {v.speed} | {v.shift} | {v.speed * float(v.shift):.2f} "
                    f"| {', '.join(used.get(v.id, ['-']))} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: %(default)s")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="build these episodes only")
    parser.add_argument("--samples", action="store_true", help="also write samples/suite/")
    parser.add_argument("--cache", type=Path, default=HERE / ".cache", help="synthesized clips (default: %(default)s)")
    parser.add_argument("--table", action="store_true", help="print the episode table of --out and stop")
    args = parser.parse_args()
    if args.table:
        print(table(args.out) + "\n\n" + voice_table())
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    names = args.only or sorted(p.name.split(".")[0] for p in (HERE / "episodes").glob("*.script"))
    build_all(names, args.out, args.samples, args.cache)


if __name__ == "__main__":
    main()
