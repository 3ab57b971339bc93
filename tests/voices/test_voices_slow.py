"""Voices end to end with the real CAM++: enroll the seed episode's named speakers, then name
the second half of the seed, cut to a file of its own and run with no transcript.

The second half's speech is part of what was enrolled, so its scores are higher than a new
episode's would be (tools/voices/calibrate.py measures those); what this checks is the whole
path on real audio: the model, the store, the CLI, the naming stage and the provenance.
"""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import SEED_DIR, ffmpeg
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.scoring.metrics import read_rttm

pytestmark = pytest.mark.slow
CUT = 125.0  # seconds: the second half starts here


@pytest.fixture(scope="module")
def enrolled(seed_outcome, tmp_path_factory):
    library = tmp_path_factory.mktemp("voices") / "voices.sqlite"
    seed_json = next(p for p in seed_outcome.outputs if p.name == "seed.json")
    first = CliRunner().invoke(app, ["voices", "enroll", str(seed_json), "--library", str(library)])
    again = CliRunner().invoke(app, ["voices", "enroll", str(seed_json), "--library", str(library)])
    listed = CliRunner().invoke(app, ["voices", "list", "--library", str(library)])
    return library, first, again, listed


def test_enroll_the_seed_once(enrolled, seed_run):
    library, first, again, listed = enrolled
    assert first.exit_code == 0, first.output
    names = {seed_run.name_of(label) for label in seed_run.speakers}
    assert {"KELEMEN", "WERTHEIMER"} <= names
    assert "enrolled KELEMEN" in first.output and "enrolled WERTHEIMER" in first.output
    assert "enrolled LAVROV" not in first.output  # 8 s of speech in the episode: under the 10 s a print needs
    assert again.exit_code == 0 and again.output.strip().endswith("already enrolled")
    assert "KELEMEN\t" in listed.output and "seed.mp3" in listed.output


def test_name_the_second_half_from_the_library(enrolled, tmp_path_factory, record_property):
    from pipeline import config
    from pipeline.jobs import Job, process

    library = enrolled[0]
    folder = tmp_path_factory.mktemp("second-half")
    cut = folder / "second-half.wav"
    ffmpeg("-ss", str(CUT), "-i", str(SEED_DIR / "seed.mp3"), "-ac", "1", "-ar", "16000", str(cut))
    outcome = process(Job(cut, folder / "out", voices=library), config.load())
    result = outcome.result
    assert result.speaker_names, "someone is named by voice"
    assert all(how["source"] == "voice" for how in result.naming.values())
    assert set(result.naming) == set(result.speaker_names)
    truth = [t for t in read_rttm(SEED_DIR / "seed.rttm") if t.end > CUT]
    said: dict[str, Counter] = {label: Counter() for label in result.speakers}
    for w in result.words:
        middle = CUT + (w.start + w.end) / 2
        who = next((t.speaker for t in truth if t.start <= middle <= t.end), None)
        if who is not None:
            said[w.speaker][who] += 1
    for label, name in result.speaker_names.items():
        share = said[label][name] / max(sum(said[label].values()), 1)
        print(f"{label} -> {name}: score {result.naming[label]['score']:.3f}, {share:.2f} of its words theirs")
        record_property(f"{name} share", round(share, 3))
        record_property(f"{name} score", round(result.naming[label]["score"], 3))
        assert share >= 0.9, (label, name, said[label])
        assert result.naming[label]["score"] >= config.load().voices.threshold
    # KELEMEN scores 0.948; WERTHEIMER 0.891, under the 0.92 threshold even on her own episode's
    # second half: unnamed, which the threshold accepts (better unnamed than misnamed)
    assert "KELEMEN" in result.speaker_names.values()
    assert "LAVROV" not in result.speaker_names.values()
    print(f"naming {outcome.timings['naming']:.2f} s, ASR {outcome.timings['asr']:.2f} s")
    assert outcome.timings["naming"] < 0.2 * outcome.timings["asr"]  # the README has the measured share
    text = (folder / "out" / "second-half.txt").read_text()
    assert "KELEMEN: " in text


def test_stretches_of_one_length_embed_together_as_they_would_alone(require_models):
    import numpy as np

    from pipeline import config
    from pipeline.jobs import Models
    from pipeline.stages import audio

    decoded = audio.load(SEED_DIR / "seed.mp3")
    models = Models(config.load())
    spans = [(10.0, 10.5), (20.0, 20.5), (30.0, 31.7), (40.0, 40.5)]
    together = models.embed(decoded, spans)
    # a fresh Models for each: one Models keeps an episode's embeddings and would not embed again
    alone = np.concatenate([Models(config.load()).embed(decoded, [span]) for span in spans])
    assert together.shape == (4, 192)
    assert np.abs(together - alone).max() < 1e-4  # measured 1e-5
