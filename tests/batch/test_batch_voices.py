"""``pipeline batch --voices``: episodes with a transcript first, each enrolling its speakers; the
others named from the library; the library's path in the digest.

The model stages are test_batch's fakes (SPEAKER_00 speaks the first half of every clip, SPEAKER_01
the second), and the embedder gives the first half of any clip one voice and the second another,
as if every episode had the same two people: what is tested is the batch's part.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_batch import clips, fakes, invoke, put, reference_text, summary_of  # noqa: F401 - fixtures

FIRST, SECOND = (np.random.default_rng(i).normal(size=192) for i in (1, 2))
CONFIG = """\
asr: {model: tiny.en, beam_size: 1, device: cpu}
diarization: {device: cpu}
output: {formats: [txt, json]}
align: {check_under: 0}  # no turn check: what embeds here is the voice library alone
voices: {min_piece: 0.5, min_seconds: 1.0, enroll_min_seconds: 1.0, enroll_min_share: 0.5}
"""


@pytest.fixture
def models(monkeypatch) -> list:
    from pipeline.jobs.models import Models

    embedded: list = []

    def embed(self, audio, spans):
        embedded.append(audio.path)
        half = audio.duration / 2
        return np.array([FIRST if (a + b) / 2 < half else SECOND for a, b in spans], dtype=np.float32)

    for name, (module, fake) in fakes().items():
        monkeypatch.setattr(module, name, fake)
    monkeypatch.setattr(Models, "embed", embed)
    return embedded


def test_batch_enrolls_first_then_names_the_rest(tmp_path, clips, models):  # noqa: F811
    inbox, out, library = tmp_path / "inbox", tmp_path / "out", tmp_path / "voices.sqlite"
    put(clips[0], inbox / "a" / "ep1.wav")
    put(clips[1], inbox / "b" / "ep2.wav")
    put(clips[2], inbox / "c" / "ep3.wav")  # last in the inbox, the only one with a transcript
    (inbox / "c" / "ep3.txt").write_text(reference_text())
    config = tmp_path / "fast.yaml"
    config.write_text(CONFIG)
    result = invoke(inbox, "-o", out, "-c", config, "--voices", library)
    assert result.exit_code == 0, result.output
    assert summary_of(out)["done"] == ["a/ep1", "b/ep2", "c/ep3"]  # the summary keeps the inbox's order
    log = next((out / "logs").glob("*.log")).read_text()
    assert log.index("episode 1/3: " + str(inbox / "c" / "ep3.wav")) < log.index("episode 2/3: ")

    enrolled = json.loads((out / "c" / "ep3" / "done.json").read_text())
    assert enrolled["speakers"] == {"SPEAKER_00": "ALICE", "SPEAKER_01": "BOB"}
    assert {how["source"] for how in enrolled["naming"].values()} == {"transcript"}
    assert enrolled["digest_of"]["voices"] == str(library.resolve())
    for key in ("a/ep1", "b/ep2"):
        marker = json.loads((out / key / "done.json").read_text())
        assert marker["speakers"] == {"SPEAKER_00": "ALICE", "SPEAKER_01": "BOB"}, key
        assert {how["source"] for how in marker["naming"].values()} == {"voice"}
        assert all(how["score"] > 0.99 for how in marker["naming"].values())
        assert (out / key / f"{key[-3:]}.txt").read_text().startswith("ALICE: ")

    models.clear()
    assert invoke(inbox, "-o", out, "-c", config, "--voices", library).exit_code == 0
    assert summary_of(out)["counts"]["skipped"] == 3 and models == []
    # without the library the digest differs: every episode is done again, unnamed where no transcript
    assert invoke(inbox, "-o", out, "-c", config).exit_code == 0
    assert summary_of(out)["counts"]["done"] == 3 and models == []
    assert json.loads((out / "a" / "ep1" / "done.json").read_text())["speakers"] == {
        "SPEAKER_00": "SPEAKER_00", "SPEAKER_01": "SPEAKER_01"}
