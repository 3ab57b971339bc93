"""The committed suite episodes (samples/suite/) and the seed's word truth are consistent with themselves.

No TTS is needed: these read the committed files. The generator is tools/suite/ (see its README).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.scoring.reference import load

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "samples" / "suite"
INDEX = json.loads((SUITE / "index.json").read_text(encoding="utf-8"))
EPISODES = [e["name"] for e in INDEX["episodes"]]


def _entry(name: str) -> dict:
    return next(e for e in INDEX["episodes"] if e["name"] == name)


def _read(entry: dict, key: str):
    return json.loads((SUITE / entry[key]).read_text(encoding="utf-8"))


def _rttm(entry: dict) -> list[tuple[float, float, str]]:
    rows = [line.split() for line in (SUITE / entry["rttm"]).read_text().splitlines()]
    return [(float(f[3]), float(f[3]) + float(f[4]), f[7]) for f in rows]


def test_index_lists_the_committed_episodes_and_the_pyannote_sample():
    assert len(EPISODES) >= 2
    for entry in INDEX["episodes"]:
        for key in ("audio", "transcript", "rttm", "words", "meta"):
            assert (SUITE / entry[key]).is_file(), entry[key]
        assert entry["split"] in ("tune", "test")
        assert 3 <= entry["minutes"] <= 4.5
    assert INDEX["external"][0]["audio"] == "pyannote/audio/sample/sample.wav"


@pytest.mark.parametrize("name", EPISODES)
def test_transcript_parses_into_the_expected_speakers_and_turns(name):
    entry = _entry(name)
    expected = _read(entry, "meta")["expected"]
    reference = load(SUITE / entry["transcript"])
    assert list(reference.speakers) == expected["speakers"]
    assert [(t.speaker, t.text) for t in reference.turns] == [(t["speaker"], t["text"]) for t in expected["turns"]]


@pytest.mark.parametrize("name", EPISODES)
def test_every_word_lies_in_an_rttm_span_of_its_speaker(name):
    entry = _entry(name)
    spans = _rttm(entry)
    words = _read(entry, "words")["words"]
    for w in words:
        assert w["start"] < w["end"]
        assert any(who == w["speaker"] and a - 0.015 <= w["start"] and w["end"] <= b + 0.015
                   for a, b, who in spans), w
    meta = _read(entry, "meta")
    counts = {}
    for w in words:
        if w["published"]:
            counts[w["speaker"]] = counts.get(w["speaker"], 0) + 1
    for cut in meta["cut_for_time"]:  # published, not spoken
        counts[cut["speaker"]] = counts.get(cut["speaker"], 0) + cut["published_words"]
    assert counts == meta["expected"]["published_words"]


@pytest.mark.parametrize("name", EPISODES)
def test_nonspeech_regions_are_disjoint_and_outside_speech(name):
    entry = _entry(name)
    regions = _read(entry, "meta")["regions"]
    assert all(a["end"] <= b["start"] for a, b in zip(regions, regions[1:], strict=False))
    for a, b, _ in _rttm(entry):
        assert all(r["end"] <= a + 0.001 or r["start"] >= b - 0.001 for r in regions)


def test_seed_words_follow_its_sentences():
    doc = json.loads((ROOT / "samples" / "seed" / "seed.words.json").read_text(encoding="utf-8"))
    words, sentences = doc["words"], doc["sentences"]
    assert [w["word"] for w in words] == [x for s in sentences for x in s["text"].split()]
    for w in words:
        s = sentences[w["sentence"]]
        assert s["speaker"] == w["speaker"] and s["start"] - 0.02 <= w["start"] < w["end"] <= s["end"] + 0.02
    starts = np.array([w["start"] for w in words])
    assert np.all(np.diff(starts) >= 0)


def test_word_pairing_merges_and_splits():
    sys.path.insert(0, str(ROOT / "tools" / "suite"))
    from words import assign

    groups = [("ɪnðə", 0, 100), ("wˈɜɹld", 120, 300)]
    spans, timing = assign(["in", "the", "world"], [["ˈɪn"], ["ðə"], ["wˈɜɹld"]], groups)
    assert timing == "merged" and spans == [(0, 50), (50, 100), (120, 300)]
    spans, timing = assign(["49"], [["fˈɔɹTi", "nˈIn"]], [("fˈɔɹTi", 0, 40), ("nˈIn", 50, 90)])
    assert timing == "model" and spans == [(0, 90)]
