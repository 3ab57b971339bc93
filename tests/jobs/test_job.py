"""The one job path end to end on real audio with the real models (each sample run once per session)."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import SEED_DIR

from pipeline.outputs import writers
from pipeline.scoring.metrics import read_rttm

pytestmark = pytest.mark.slow


def _overlap(a0, a1, b0, b1) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _truth_speaker(word, segments):
    """The truth speaker whose segment overlaps the word most (nearest segment if none)."""
    best = max(segments, key=lambda s: _overlap(word.start, word.end, s[1], s[2]))
    if _overlap(word.start, word.end, best[1], best[2]) > 0:
        return best[0]
    middle = (word.start + word.end) / 2
    return min(segments, key=lambda s: min(abs(middle - s[1]), abs(middle - s[2])))[0]


def test_sample_words_attributed_to_the_right_speaker(sample_run, stm_segments, record_property):
    words = sample_run.words
    assert words and all(w.speaker in sample_run.speakers for w in words), "every word has a speaker"
    names = sample_run.speaker_names
    assert sorted(names.values()) == ["Diane", "Sheila"], names
    right = sum(names.get(w.speaker) == _truth_speaker(w, stm_segments) for w in words)
    accuracy = right / len(words)
    record_property("attributed", round(accuracy, 3))
    # 0.973-0.974 under AVX, AVX2, AVX512 and GENERIC (make test-isa): 0.96 leaves a word of margin
    # (it was 0.97, which one word more would break)
    assert accuracy >= 0.96


def test_sample_result_invariants_and_round_trip(sample_outcome):
    sample_run = sample_outcome.result
    assert sample_run.turns and sample_run.language == "en"
    assert [w.start for w in sample_run.words] == sorted(w.start for w in sample_run.words)
    assert sum(len(t.words) for t in sample_run.turns) == len(sample_run.words)
    for key in ("decode", "asr", "diarization", "alignment", "naming", "conform", "load_asr", "write", "check"):
        assert key in sample_run.timings and key in sample_outcome.timings
    assert {"pipeline", "faster-whisper", "pyannote.audio", "torch"} <= set(sample_run.versions)
    folder = sample_outcome.job.files.folder
    names = sorted(p.name for p in sample_outcome.outputs)
    assert names == sorted(f"sample.{ext}" for ext in ("json", "txt", "srt", "vtt", "rttm", "tsv",
                                                       "check.json", "check.html", "conformed.json",
                                                       "conformed.txt", "conformed.tsv", "conformed.srt",
                                                       "conformed.vtt"))
    assert sample_outcome.conformed is not None and sample_outcome.conformed.words
    assert sorted(p.name for p in folder.iterdir()) == names, "nothing else, no temporary file"
    assert writers.read_json(folder / "sample.json").words == sample_run.words
    text = (folder / "sample.txt").read_text()
    assert text.startswith(("Diane: ", "Sheila: ")) and "Chicago" in text


def test_sample_check_against_stm(sample_outcome, record_property):
    sample_run, checked = sample_outcome.result, sample_outcome.check
    for key in ("wer", "cpwer", "wder", "der", "der_collar"):
        record_property(key, round(getattr(checked, key), 3))
    assert checked.wder <= 0.03  # 0.013 under every ISA measured
    assert checked.speaker_names == sample_run.speaker_names
    assert checked.der_collar <= 0.02 and checked.der <= 0.07  # 0.000 and 0.056 under every ISA


def test_seed_episode_speakers_named_and_scored(seed_outcome, record_property):
    seed_run = seed_outcome.result
    truth = read_rttm(SEED_DIR / "seed.rttm")
    assert len(seed_run.speakers) == 4, seed_run.speakers
    names = seed_run.speaker_names
    assert sorted(names.values()) == ["KELEMEN", "KERRY", "LAVROV", "WERTHEIMER"], names
    for label in seed_run.speakers:  # each name is the truth speaker the label's turns cover most
        cover = Counter()
        for t in seed_run.diarization:
            if t.speaker == label:
                for s in truth:
                    cover[s.speaker] += _overlap(t.start, t.end, s.start, s.end)
        assert names[label] == cover.most_common(1)[0][0], (label, cover)
    checked = seed_outcome.check
    for key in ("wer", "cpwer", "wder", "der", "der_collar", "jer"):
        record_property(key, round(getattr(checked, key), 3))
    assert checked.wder <= 0.02  # 0.007 (AVX2; 0.016 before the turn check)
    assert checked.der_collar <= 0.03  # 0.001 (0.009 before the turn check)
    assert checked.speaker_count_error == 0
