"""Add real meeting recordings to a built suite: pyannote.audio's AMI test clips, scored on DER.

    python3 tools/suite/meetings.py [--out SUITE_DIR]        # make suite runs it after build.py

pyannote.audio's source distribution on PyPI carries 14 clips of 30 s from AMI meetings (far-field
microphones, 1-4 speakers, overlapping speech; CC BY 4.0) with their RTTMs, for its own tests. The
sdist is fetched once (into SUITE_DIR/.downloads/), checked against its SHA256, and each clip goes to
SUITE_DIR/meetings/NAME.wav with NAME.rttm, listed under "meetings" in index.json (no transcript and
no word truth: ``pipeline eval`` scores them on diarization alone, in a split of their own). Standard
library only; the same sdist gives the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tarfile
import urllib.request
from pathlib import Path

SDIST = "pyannote.audio-3.1.1.tar.gz"
URL = ("https://files.pythonhosted.org/packages/cf/8d/c6920c1c1fe439bee72c591297c69d32fe27218a96fd708e4d2274d5462c/"
       + SDIST)
SHA256 = "b6562d46b5d5d616c1887cafd5aab3f7d19ecf6b3312fc6c4f72f37332fcd408"
DATA = "pyannote.audio-3.1.1/tests/data/"
CLIPS = ("dev00", "dev01", "trn00", "trn01", "trn02", "trn03", "trn04", "trn05", "trn06", "trn07", "trn08",
         "trn09", "tst00", "tst01")
CONDITIONS = ["real", "meeting", "far_field", "overlap"]
DEFAULT_OUT = Path(os.environ.get("PIPELINE_SUITE_DIR") or Path.home() / ".cache" / "radio-pipeline" / "suite")


def fetch(downloads: Path) -> Path:
    """The sdist, downloaded once and checked against :data:`SHA256`."""
    downloads.mkdir(parents=True, exist_ok=True)
    path = downloads / SDIST
    if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != SHA256:
        partial = path.with_suffix(".part")
        with urllib.request.urlopen(URL, timeout=120) as response:  # noqa: S310 (a fixed https URL)
            partial.write_bytes(response.read())
        found = hashlib.sha256(partial.read_bytes()).hexdigest()
        if found != SHA256:
            partial.unlink()
            raise SystemExit(f"{URL}: SHA256 {found}, expected {SHA256}")
        partial.replace(path)
    return path


def rttm_lines(archive: tarfile.TarFile) -> dict[str, list[str]]:
    """Each clip's SPEAKER lines, from the debug.*.rttm files."""
    lines: dict[str, list[str]] = {}
    for member in archive.getmembers():
        if member.name.startswith(DATA + "debug.") and member.name.endswith(".rttm"):
            for line in archive.extractfile(member).read().decode().splitlines():
                parts = line.split()
                if parts and parts[0] == "SPEAKER":
                    lines.setdefault(parts[1], []).append(line.strip())
    return lines


def add(out: Path) -> list[dict]:
    sdist = fetch(out / ".downloads")
    target = out / "meetings"
    target.mkdir(parents=True, exist_ok=True)
    entries = []
    with tarfile.open(sdist) as archive:
        turns = rttm_lines(archive)
        for name in CLIPS:
            (target / f"{name}.wav").write_bytes(archive.extractfile(DATA + f"{name}.wav").read())
            (target / f"{name}.rttm").write_text("\n".join(sorted(turns[name], key=lambda s: float(s.split()[3])))
                                                 + "\n")
            speakers = sorted({line.split()[7] for line in turns[name]})
            entries.append({"name": f"ami-{name}", "audio": f"meetings/{name}.wav", "rttm": f"meetings/{name}.rttm",
                            "speakers": len(speakers), "conditions": CONDITIONS})
    index_path = out / "index.json"
    index = json.loads(index_path.read_text(encoding="utf-8")) if index_path.exists() else {"episodes": []}
    index["meetings"] = entries
    index_path.write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return entries


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    entries = add(args.out)
    print(f"{args.out}: {len(entries)} meeting clips added ({SDIST}, AMI)")


if __name__ == "__main__":
    main()
