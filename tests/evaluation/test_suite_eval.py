"""`pipeline eval` on the suite's shortest episodes (samples/suite), with the default config and
no speaker hints: issue 12's targets, asserted per episode. Run once per session.

The whole suite (12 episodes and pyannote's sample) is `make eval`; the figures and the choice of
each default are in the README. Every bound here was measured under CTranslate2's AVX2, AVX512,
AVX and GENERIC kernels (`make test-isa`); the measured worst case is in the comment beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

SUITE = Path(__file__).resolve().parents[2] / "samples" / "suite"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def evaluated(require_models, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("eval")
    result = CliRunner().invoke(app, ["eval", str(SUITE), "-o", str(out), "--no-cache", "--quiet"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    [config] = doc["configs"].values()
    return config


def test_every_short_episode_was_scored(evaluated):
    index = json.loads((SUITE / "index.json").read_text(encoding="utf-8"))
    names = [e["name"] for e in index["episodes"]] + [e["name"] for e in index["external"]]
    assert [e["name"] for e in evaluated["episodes"]] == names == ["farm-01", "ledger-01", "magazine-01",
                                                                   "pyannote-sample"]
    assert evaluated["failures"] == []


#: a guard against a regression, not a target: worst measured WER + 0.02 (measured under AVX, AVX2,
#: AVX512 and GENERIC; the figures per ISA are in the closing note of issue 11 and make test-isa's table)
WER = {"farm-01": 0.05, "ledger-01": 0.09, "magazine-01": 0.145}


@pytest.mark.parametrize("name", ["farm-01", "ledger-01", "magazine-01"])
def test_the_targets_on(evaluated, name, record_property):
    [episode] = [e for e in evaluated["episodes"] if e["name"] == name]
    for key in ("wer", "deletion_rate", "invented_per_min", "right_speaker", "speaker_count_error"):
        record_property(key, round(episode[key], 4))
    record_property("named", f"{len(episode['named'])}/{len(episode['expected'])}")
    # issue 12's target is 2 % on every episode; magazine-01 measured 1.99 % under AVX (1.27-1.81 %
    # under the others) and ledger-01 1.78 % (0-0.18 %): the target holds on every ISA measured, with no margin,
    # so CI asserts 2.5 %
    assert episode["deletion_rate"] <= 0.025
    assert episode["invented_per_min"] <= 1.0  # measured 0.00 everywhere
    assert episode["named"] == episode["expected"], "every published speaker with 5 words is named"
    assert episode["wrong_names"] == []
    assert episode["right_speaker"] >= 0.97  # issue 12's target; worst measured 0.980 (magazine-01, AVX512)
    assert episode["speaker_count_error"] == 0
    assert episode["wer"] <= WER[name]
