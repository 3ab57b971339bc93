"""tools/suite/meetings.py on a stand-in for pyannote.audio's sdist: the clips and their RTTMs go into
the suite and its index, and pipeline.evaluation reads them as diarization-only episodes."""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools" / "suite"))

import meetings  # noqa: E402

from pipeline.evaluation.suite import MEETINGS, load_suite  # noqa: E402
from pipeline.stages import audio  # noqa: E402


def _sdist(path: Path) -> bytes:
    """A tarball with the sdist's layout: a 1 s wav per clip and the RTTMs of two debug sets."""
    import wave

    def add(archive, name, data):
        info = tarfile.TarInfo(meetings.DATA + name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))

    rows = {"train": [], "test": []}
    with tarfile.open(path, "w:gz") as archive:
        for k, name in enumerate(meetings.CLIPS):
            buffer = io.BytesIO()
            with wave.open(buffer, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(16000)
                w.writeframes((np.sin(np.arange(16000) * (k + 1) / 50) * 3000).astype("<i2").tobytes())
            add(archive, f"{name}.wav", buffer.getvalue())
            which = "train" if name.startswith("trn") else "test"
            rows[which] += [f"SPEAKER {name} 1 0.500 0.200 <NA> <NA> B{k} <NA> <NA>",
                            f"SPEAKER {name} 1 0.100 0.300 <NA> <NA> A{k} <NA> <NA>"]
        for which, lines in rows.items():
            add(archive, f"debug.{which}.rttm", ("\n".join(lines) + "\n").encode())
    return path.read_bytes()


def test_meeting_clips_join_a_built_suite(tmp_path, monkeypatch):
    fake = tmp_path / "fake.tar.gz"
    monkeypatch.setattr(meetings, "SHA256", hashlib.sha256(_sdist(fake)).hexdigest())
    monkeypatch.setattr(meetings, "URL", fake.as_uri())
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "index.json").write_text(json.dumps({"episodes": [], "note": "built"}))

    entries = meetings.add(suite)
    assert [e["name"] for e in entries] == [f"ami-{n}" for n in meetings.CLIPS]
    index = json.loads((suite / "index.json").read_text())
    assert index["note"] == "built" and index["meetings"] == entries  # the rest of the index kept
    rttm = (suite / "meetings" / "dev00.rttm").read_text().splitlines()
    assert [r.split()[7] for r in rttm] == ["A0", "B0"]  # this clip's lines only, in time order
    assert (suite / ".downloads" / meetings.SDIST).is_file()

    episodes = load_suite(suite)
    assert len(episodes) == len(meetings.CLIPS) and {e.split for e in episodes} == {MEETINGS}
    first = episodes[0]
    assert first.transcript is None and first.words == () and first.rttm.is_file()
    assert audio.load(first.audio).duration == pytest.approx(1.0)

    monkeypatch.setattr(meetings, "URL", "file:///nowhere")  # the download is kept, not fetched again
    assert meetings.add(suite) == entries

    monkeypatch.setattr(meetings, "URL", fake.as_uri())
    monkeypatch.setattr(meetings, "SHA256", "0" * 64)  # a download that is not the pinned one is refused
    with pytest.raises(SystemExit, match="SHA256"):
        meetings.add(suite)
    assert not (suite / ".downloads" / (meetings.SDIST.removesuffix(".gz") + ".part")).exists()
