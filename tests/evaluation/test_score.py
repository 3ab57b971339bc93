"""Scoring a result against word-level truth, on hand-built data with exact expected values."""

from __future__ import annotations

import json

import pytest

from pipeline.evaluation.score import score, totals
from pipeline.evaluation.suite import Region, SuiteEpisode, TruthWord, load_suite
from pipeline.types import AttributedWord, RunResult, Turn


def truth(*items) -> tuple[TruthWord, ...]:
    """(text, start, speaker[, published]) -> words 0.4 s long."""
    return tuple(TruthWord(t, s, s + 0.4, who, *rest) for t, s, who, *rest in items)


EPISODE = SuiteEpisode(
    name="ep", split="tune", audio=None, transcript=None, rttm=None,
    words=truth(("Good", 1.0, "HOST"), ("morning", 1.5, "HOST"), ("to", 2.0, "HOST"), ("you", 2.5, "HOST"),
                ("all", 3.0, "HOST"), ("Thanks", 5.0, "GUEST"), ("for", 5.5, "GUEST"), ("having", 6.0, "GUEST"),
                ("me", 6.5, "GUEST"), ("here", 7.0, "GUEST"), ("Buy", 9.0, "AD", False), ("now", 9.5, "AD", False)),
    regions=(Region("music", 10.5, 14.5), Region("silence", 3.5, 4.9)),
    published={"HOST": 5, "GUEST": 5},
    duration=15.0,
)
RTTM = (Turn(1.0, 3.4, "HOST"), Turn(5.0, 7.4, "GUEST"), Turn(9.0, 9.9, "AD"))


def result(words, names, speakers=("S0", "S1", "S2")) -> RunResult:
    attributed = tuple(AttributedWord(s, s + 0.4, f" {t}", who) for t, s, who in words)
    return RunResult("ep.wav", "0" * 64, 15.0, "en", attributed, (), speakers, speaker_names=names)


def test_a_perfect_result():
    words = [(w.text, w.start, {"HOST": "S0", "GUEST": "S1", "AD": "S2"}[w.speaker]) for w in EPISODE.words]
    s = score(EPISODE, result(words, {"S0": "HOST", "S1": "GUEST"}), RTTM, seconds=3.0)
    assert (s.wer, s.deletion_rate, s.invented, s.right_speaker, s.wder) == (0.0, 0.0, 0, 1.0, 0.0)
    assert s.named == ("GUEST", "HOST") and s.expected == ("GUEST", "HOST") and s.wrong_names == ()
    assert s.speaker_count_error == 0 and s.rtf == pytest.approx(0.2)
    assert s.nonspeech_minutes == pytest.approx((3.5 + 0.9) / 60)  # each region less 0.25 s at each edge


def test_deletions_inventions_wrong_speakers_and_wrong_names():
    words = [("Good", 1.0, "S0"), ("morning", 1.5, "S0"), ("to", 2.0, "S0"),  # "you all" missed
             ("Thanks", 5.0, "S0"), ("for", 5.5, "S1"), ("having", 6.0, "S1"), ("me", 6.5, "S1"), ("here", 7.0, "S1"),
             ("Buy", 9.0, "S1"), ("now", 9.5, "S1"),
             ("la", 12.0, "S1"), ("la", 12.5, "S1"), ("yes", 4.2, "S1")]  # over the music, in the silence
    s = score(EPISODE, result(words, {"S0": "HOST", "S1": "HOST"}, ("S0", "S1")), RTTM)
    assert s.errors == 2 + 3 and s.wer == pytest.approx(5 / 12)
    assert s.deletions == 2 and s.deletion_rate == pytest.approx(2 / 10)
    assert s.invented == 3 and s.invented_per_min == pytest.approx(3 / ((3.5 + 0.9) / 60))
    # of the 8 published words heard: S0 said "Thanks" (GUEST's) as HOST; S1 is named HOST but is GUEST
    assert s.attributed_words == 8 and s.right_speaker_words == 3 and s.right_speaker == pytest.approx(3 / 8)
    assert s.wder_errors == 1, "with each label mapped to its best speaker, only 'Thanks' is wrong"
    assert s.named == ("HOST",) and s.wrong_names == ("S1=HOST",) and s.speaker_count_error == -1


def test_totals_add_words_not_rates():
    perfect = score(EPISODE, result([(w.text, w.start, "S0" if w.speaker == "HOST" else "S1") for w in EPISODE.words],
                                    {"S0": "HOST", "S1": "GUEST"}), RTTM)
    empty = score(EPISODE, result([], {}), RTTM)
    t = totals([perfect, empty])
    assert t.episodes == 2 and t.wer == pytest.approx(12 / 24) and t.deletion_rate == pytest.approx(10 / 20)
    assert t.worst_deletion_rate == 1.0 and t.named == 2 and t.expected == 4 and t.count_exact == 2
    assert t.right_speaker == 1.0 and t.worst_right_speaker == 0.0, "an episode with no word has none right"
    with pytest.raises(ValueError):
        totals([])


def test_a_suite_index_with_an_external_episode(tmp_path):
    (tmp_path / "ep.words.json").write_text(json.dumps({"words": [
        {"word": "Hi", "start": 0.5, "end": 0.8, "speaker": "HOST", "published": True}]}))
    (tmp_path / "ep.meta.json").write_text(json.dumps({
        "duration": 2.0, "regions": [{"kind": "music", "start": 1.0, "end": 2.0}],
        "speakers": {"HOST": {"published": True, "words_published": 1}, "AD": {"published": False}}}))
    index = {"episodes": [{"name": "ep", "split": "test", "audio": "ep.flac", "transcript": "ep.txt",
                           "rttm": "ep.rttm", "words": "ep.words.json", "meta": "ep.meta.json"}],
             "external": [{"name": "pyannote-sample", "split": "tune", "package": "pyannote.audio",
                           "audio": "pyannote/audio/sample/sample.wav", "rttm": "pyannote/audio/sample/sample.rttm",
                           "transcript": "pyannote/audio/sample/sample.stm"}]}
    (tmp_path / "index.json").write_text(json.dumps(index))
    ep, sample = load_suite(tmp_path)
    assert ep.published == {"HOST": 1} and ep.regions == (Region("music", 1.0, 2.0),) and ep.split == "test"
    assert sample.audio.is_file() and sample.words[0].speaker in ("Diane", "Sheila") and sample.published
    assert [e.name for e in load_suite(tmp_path, split="test")] == ["ep"]
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="no episode named 'nope'"):
        load_suite(tmp_path, only=("nope",))
    with pytest.raises(ConfigError, match="not an evaluation suite"):
        load_suite(tmp_path / "missing")


def test_processing_time_counts_every_stage_but_the_loads_and_asr_beside_diarization_once():
    from pipeline.config import PipelineConfig, override
    from pipeline.evaluation.run import processing_seconds
    from pipeline.types import Stage

    timings = {Stage.LOAD_ASR: 5.0, Stage.LOAD_DIARIZATION: 3.0, Stage.DECODE: 1.0, Stage.ASR: 20.0,
               Stage.DIARIZATION: 12.0, Stage.ASR_AND_DIARIZATION: 20.5, Stage.RECOVERY: 2.0,
               Stage.ALIGNMENT: 0.5, Stage.TURN_CHECK: 3.0, Stage.NAMING: 1.5, Stage.CONFORM: 1.0,
               Stage.WRITE: 0.25, Stage.CHECK: 0.25}
    config = PipelineConfig()
    assert processing_seconds(timings, config, {}) == 20.0 + 1.0 + 2.0 + 0.5 + 3.0 + 1.5 + 1.0 + 0.25 + 0.25
    # a cached stage counts at what it cost when it was computed
    assert processing_seconds(timings, config, {Stage.DIARIZATION: 30.0}) == 30.0 + 9.5
    assert processing_seconds(timings, override(config, "run", parallel=False), {}) == 32.0 + 9.5


def test_a_meeting_recording_is_scored_on_diarization_alone_and_totalled_apart(tmp_path):
    from types import SimpleNamespace

    from pipeline.evaluation import report
    from pipeline.evaluation.suite import MEETINGS

    (tmp_path / "ep.words.json").write_text(json.dumps({"words": [
        {"word": "Hi", "start": 0.5, "end": 0.8, "speaker": "HOST", "published": True}]}))
    (tmp_path / "ep.meta.json").write_text(json.dumps({"duration": 2.0, "speakers": {
        "HOST": {"published": True, "words_published": 1}}}))
    index = {"episodes": [{"name": "ep", "split": "test", "audio": "ep.flac", "transcript": "ep.txt",
                           "rttm": "ep.rttm", "words": "ep.words.json", "meta": "ep.meta.json"}],
             "meetings": [{"name": "ami-x", "audio": "meetings/x.wav", "rttm": "meetings/x.rttm"}]}
    (tmp_path / "index.json").write_text(json.dumps(index))
    ep, meeting = load_suite(tmp_path)
    assert meeting.split == MEETINGS and meeting.transcript is None and meeting.words == ()
    assert meeting.rttm == tmp_path / "meetings" / "x.rttm"
    assert [e.name for e in load_suite(tmp_path, split=MEETINGS)] == ["ami-x"]

    meeting = SuiteEpisode(name="ami-x", split=MEETINGS, audio=None, transcript=None, rttm=None, words=())
    heard = score(meeting, result([("hello", 1.0, "S0"), ("there", 1.5, "S1")], {}, ("S0", "S1")), RTTM,
                  check=SimpleNamespace(der=0.4, der_collar=0.3, cpwer=None))
    assert not heard.has_words and heard.errors == 0 and heard.deletions == 0 and heard.invented == 0
    assert heard.der == 0.4 and heard.speaker_count_error == -1 and heard.expected == ()
    perfect = score(EPISODE, result([(w.text, w.start, "S0" if w.speaker == "HOST" else "S1")
                                     for w in EPISODE.words], {"S0": "HOST", "S1": "GUEST"}), RTTM)
    assert perfect.has_words
    by_split = report.split_totals([perfect, heard])
    assert set(by_split) == {"all", "tune", MEETINGS}
    assert by_split["all"].episodes == 1, "the meeting clips are not in the broadcast total"
    apart = by_split[MEETINGS]
    assert apart.words == 0 and apart.worst_right_speaker == 1.0 and apart.count_exact == 0
    assert apart.der == pytest.approx(0.4)
    row = report.row("default", heard)
    assert row[2:9] == ["-"] * 7 and row[9] == "-1" and row[10] == "40.0"  # word columns empty, DER shown
    assert report.row("default", perfect)[2] == "0.0"
    shown = {r[0]: r for r in report.total_rows({"default": [perfect, heard]})}
    assert shown[f"overall ({MEETINGS}, 1)"][2] == "-" and shown["overall (all, 1)"][2] == "0.0"
