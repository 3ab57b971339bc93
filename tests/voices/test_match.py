"""The naming rule on hand-built scores, and the score table on hand-built vectors."""

from __future__ import annotations

import math

import numpy as np

from pipeline.config import VoicesOptions
from pipeline.voices.match import match_voices, score_table

OPTIONS = VoicesOptions(threshold=0.6, margin=0.1, shared_threshold=0.75)


def names(matches):
    return {label: m.name for label, m in matches.items()}


def test_score_table_is_the_cosine_of_unit_vectors():
    speakers = {"S0": np.array([1.0, 0.0]), "S1": np.array([0.6, 0.8])}
    voices = {"VANCE": np.array([1.0, 0.0]), "OKAFOR": np.array([0.0, 1.0])}
    assert score_table(speakers, voices) == {"S0": {"VANCE": 1.0, "OKAFOR": 0.0}, "S1": {"VANCE": 0.6, "OKAFOR": 0.8}}
    assert score_table(speakers, {}) == {"S0": {}, "S1": {}}


def test_a_speaker_is_named_only_above_the_threshold_and_clear_of_the_runner_up():
    scores = {
        "S0": {"VANCE": 0.82, "OKAFOR": 0.10},   # named
        "S1": {"VANCE": 0.05, "OKAFOR": 0.59},   # just under the threshold
        "S2": {"VANCE": 0.66, "REYES": 0.61},    # above it, but too close to another voice
        "S3": {},                                # an empty library
    }
    found = match_voices(scores, OPTIONS)
    assert names(found) == {"S0": "VANCE", "S1": "S1", "S2": "S2", "S3": "S3"}
    assert found["S0"].matched and found["S0"].score == 0.82 and found["S0"].runner_up == 0.10
    assert found["S2"].candidate == "VANCE" and not found["S2"].matched
    assert found["S3"].candidate == "" and found["S3"].score == -math.inf


def test_one_voice_alone_needs_no_margin_against_nothing():
    assert names(match_voices({"S0": {"VANCE": 0.61}}, OPTIONS)) == {"S0": "VANCE"}


def test_two_speakers_share_a_name_only_when_it_clearly_dominates_the_second():
    found = match_voices({"S0": {"VANCE": 0.80, "OKAFOR": 0.1}, "S1": {"VANCE": 0.70, "OKAFOR": 0.2}}, OPTIONS)
    assert names(found) == {"S0": "VANCE", "S1": "S1"}  # 0.70 < shared_threshold: the stronger claim wins
    assert not found["S1"].matched and found["S1"].candidate == "VANCE"
    found = match_voices({"S0": {"VANCE": 0.80, "OKAFOR": 0.1}, "S1": {"VANCE": 0.78, "OKAFOR": 0.2}}, OPTIONS)
    assert names(found) == {"S0": "VANCE", "S1": "VANCE"}  # a voice diarization split in two
    # the order of the labels does not decide: the higher score does
    found = match_voices({"S1": {"VANCE": 0.70}, "S0": {"VANCE": 0.80}}, OPTIONS)
    assert names(found) == {"S0": "VANCE", "S1": "S1"}


def test_a_name_the_transcript_gave_is_the_strongest_claim():
    scores = {"S2": {"VANCE": 0.70, "OKAFOR": 0.1}, "S3": {"VANCE": 0.1, "OKAFOR": 0.9}}
    found = match_voices(scores, OPTIONS, taken={"VANCE"})
    assert names(found) == {"S2": "S2", "S3": "OKAFOR"}
    found = match_voices({"S2": {"VANCE": 0.80, "OKAFOR": 0.1}}, OPTIONS, taken={"VANCE"})
    assert names(found) == {"S2": "VANCE"}
