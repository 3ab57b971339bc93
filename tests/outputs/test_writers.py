"""Output writers on a hand-built RunResult, read back with the formats' own parsers."""

from __future__ import annotations

import io
import os
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline.config import PipelineConfig
from pipeline.errors import OutputError
from pipeline.layout import EpisodeFiles
from pipeline.outputs import captions, writers
from pipeline.outputs.writers import WRITERS, read_json
from pipeline.stages.align import group_turns
from pipeline.types import AttributedWord, RunResult, SpeakerTurn, Turn

A, B = "SPEAKER_00", "SPEAKER_01"


def words_of(speaker: str, text: str, start: float, step: float = 0.25) -> list[AttributedWord]:
    return [
        AttributedWord(start + k * step, start + (k + 1) * step, " " + token, speaker, 0.875)
        for k, token in enumerate(text.split())
    ]


def make_result(**changes) -> RunResult:
    words = (
        words_of(A, "Good morning. What about Russia?", 0.0)
        + words_of(B, "It matters a great deal.", 2.5)
        + words_of(A, "Thanks.", 4.5)
    )
    fields = dict(
        audio="/data/npr/morning edition 2024-03-01.mp3",
        audio_sha256="ab" * 32,
        duration=6.0,
        language="en",
        words=tuple(words),
        turns=group_turns(words),
        speakers=(A, B),
        diarization=(Turn(0.0, 2.25, A), Turn(2.0, 3.75, B), Turn(4.5, 4.75, A)),
        speaker_names={A: "MICHELE KELEMEN"},
        models={"asr": "base", "diarization": "pyannote/speaker-diarization-community-1"},
        timings={"asr": 1.5, "diarization": 2.25},
        config=PipelineConfig().to_dict(),
        versions={"python": "3.11.7"},
    )
    fields.update(changes)
    return RunResult(**fields)


def write(result: RunResult, folder: Path, formats, stem: str) -> list[Path]:
    return writers.write(result, EpisodeFiles(folder, stem), formats)


def render(fmt: str, result: RunResult) -> str:
    stream = io.StringIO()
    WRITERS[fmt](result, stream)
    return stream.getvalue()


# --- txt ---------------------------------------------------------------------------------------


def test_txt_is_a_published_style_transcript():
    assert render("txt", make_result()) == (
        "MICHELE KELEMEN: Good morning. What about Russia?\n"
        "\n"
        "SPEAKER_01: It matters a great deal.\n"
        "\n"
        "MICHELE KELEMEN: Thanks.\n"
    )


def test_txt_of_an_empty_result_is_empty():
    assert render("txt", make_result(words=(), turns=())) == ""


# --- json --------------------------------------------------------------------------------------


def test_json_round_trips_to_an_equal_result(tmp_path):
    result = make_result()
    [path] = write(result, tmp_path, ["json"], "episode")
    assert read_json(path) == result


def test_json_round_trips_an_empty_result(tmp_path):
    result = RunResult("a.wav", "", 0.0, "en", (), (), ())
    [path] = write(result, tmp_path, ["json"], "empty")
    assert read_json(path) == result


def test_read_json_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(OutputError, match="bad.json"):
        read_json(bad)
    with pytest.raises(OutputError, match="missing.json"):
        read_json(tmp_path / "missing.json")
    other = tmp_path / "other.json"
    other.write_text('{"audio": "x"}', encoding="utf-8")
    with pytest.raises(OutputError, match="not a pipeline result"):
        read_json(other)


# --- srt and vtt -------------------------------------------------------------------------------


def test_srt_parses_with_speaker_prefixes_and_exact_times():
    srt = pytest.importorskip("srt")
    subs = list(srt.parse(render("srt", make_result())))
    assert [(s.index, s.start, s.end, s.content) for s in subs] == [
        # the line breaks at the sentence end; the last cue is held for a second
        (1, timedelta(0), timedelta(seconds=1.25), "[MICHELE KELEMEN] Good morning.\nWhat about Russia?"),
        (2, timedelta(seconds=2.5), timedelta(seconds=3.75), "[SPEAKER_01] It matters a great deal."),
        (3, timedelta(seconds=4.5), timedelta(seconds=5.5), "[MICHELE KELEMEN] Thanks."),
    ]


def test_vtt_parses_with_voices():
    webvtt = pytest.importorskip("webvtt")
    text = render("vtt", make_result())
    assert text.startswith("WEBVTT\n\n")
    captions = webvtt.from_string(text).captions
    assert [(c.start, c.end, c.voice, c.text) for c in captions] == [
        ("00:00:00.000", "00:00:01.250", "MICHELE KELEMEN", "Good morning.\nWhat about Russia?"),
        ("00:00:02.500", "00:00:03.750", "SPEAKER_01", "It matters a great deal."),
        ("00:00:04.500", "00:00:05.500", "MICHELE KELEMEN", "Thanks."),
    ]


def long_result() -> RunResult:
    """A 60-word monologue over 30 s, then a short reply: several cues for the first turn."""
    text = " ".join(f"word{k:02d}" for k in range(60))
    words = words_of(A, text, 0.0, step=0.5) + words_of(B, "Indeed.", 30.0)
    return make_result(words=tuple(words), turns=group_turns(words))


def test_subtitle_cues_respect_the_limits_and_never_mix_speakers():
    srt = pytest.importorskip("srt")
    result = long_result()
    subs = list(srt.parse(render("srt", result)))
    assert len(subs) > 3
    for sub in subs:
        lines = sub.content.split("\n")
        assert len(lines) <= captions.MAX_LINES
        assert all(len(line) <= captions.MAX_LINE_CHARS for line in lines)
        assert sub.end - sub.start <= timedelta(seconds=captions.MAX_SECONDS)
        assert sub.content.count("[") == 1  # one speaker label per cue
    monologue = [s for s in subs if s.content.startswith("[MICHELE KELEMEN] ")]
    words = " ".join(s.content.removeprefix("[MICHELE KELEMEN] ").replace("\n", " ") for s in monologue)
    assert words == result.turns[0].text
    assert subs[-1].content == "[SPEAKER_01] Indeed."


def test_vtt_cues_respect_the_limits():
    webvtt = pytest.importorskip("webvtt")
    cues = webvtt.from_string(render("vtt", long_result())).captions
    assert {c.voice for c in cues} == {"MICHELE KELEMEN", "SPEAKER_01"}
    for c in cues:
        assert len(c.lines) <= captions.MAX_LINES
        assert all(len(line) <= captions.MAX_LINE_CHARS for line in c.text.split("\n"))


def test_vtt_escapes_markup_in_names_and_text():
    webvtt = pytest.importorskip("webvtt")
    words = words_of(A, "Q<A> & more -->", 0.0)
    result = make_result(words=tuple(words), turns=group_turns(words), speaker_names={A: "AT&T <HQ>"})
    [caption] = webvtt.from_string(render("vtt", result)).captions
    assert caption.raw_text == "<v AT&amp;T &lt;HQ&gt;>Q&lt;A&gt; &amp; more --&gt;"


def test_timestamps():
    assert captions.timestamp(3661.5, ",") == "01:01:01,500"
    assert captions.timestamp(0.0004, ".") == "00:00:00.000"
    assert captions.timestamp(59.9996, ".") == "00:01:00.000"
    assert captions.timestamp(36000.25, ",") == "10:00:00,250"


def test_a_turn_without_words_still_gets_timed_cues():
    srt = pytest.importorskip("srt")
    turn = SpeakerTurn(A, 10.0, 12.0, "Hello there.")
    subs = list(srt.parse(render("srt", make_result(words=(), turns=(turn,)))))
    assert [(s.start, s.end, s.content) for s in subs] == [
        (timedelta(seconds=10), timedelta(seconds=12), "[MICHELE KELEMEN] Hello there.")
    ]


def test_a_zero_length_word_gives_a_cue_that_ends_after_it_starts():
    words = [AttributedWord(1.0, 1.0, " Uh.", A)]
    text = render("srt", make_result(words=tuple(words), turns=group_turns(words)))
    assert "00:00:01,000 --> 00:00:02,000" in text  # held for the shortest time a cue is shown


# --- rttm --------------------------------------------------------------------------------------


def tracks(annotation) -> list[tuple[float, float, str]]:
    return sorted(
        (round(s.start, 3), round(s.end, 3), label) for s, _, label in annotation.itertracks(yield_label=True)
    )


def test_rttm_reads_back_to_the_diarization_turns(tmp_path):
    util = pytest.importorskip("pyannote.database.util")
    [path] = write(make_result(), tmp_path, ["rttm"], "episode")
    assert path.read_text().splitlines()[0] == (
        "SPEAKER morning_edition_2024-03-01 1 0.000 2.250 <NA> <NA> MICHELE_KELEMEN <NA> <NA>"
    )
    loaded = util.load_rttm(path)
    assert list(loaded) == ["morning_edition_2024-03-01"]
    assert tracks(loaded["morning_edition_2024-03-01"]) == [
        (0.0, 2.25, "MICHELE_KELEMEN"),
        (2.0, 3.75, "SPEAKER_01"),
        (4.5, 4.75, "MICHELE_KELEMEN"),
    ]


def test_rttm_falls_back_to_the_transcript_turns(tmp_path):
    util = pytest.importorskip("pyannote.database.util")
    [path] = write(make_result(diarization=()), tmp_path, ["rttm"], "episode")
    [annotation] = util.load_rttm(path).values()
    assert tracks(annotation) == [
        (0.0, 1.25, "MICHELE_KELEMEN"),
        (2.5, 3.75, "SPEAKER_01"),
        (4.5, 4.75, "MICHELE_KELEMEN"),
    ]


# --- tsv ---------------------------------------------------------------------------------------


def test_tsv_has_a_header_and_one_row_per_word():
    lines = render("tsv", make_result()).splitlines()
    assert lines[0] == "start\tend\tspeaker\ttext"
    assert lines[1] == "0.000\t0.250\tMICHELE KELEMEN\tGood"
    assert lines[6] == "2.500\t2.750\tSPEAKER_01\tIt"
    assert len(lines) == 1 + len(make_result().words)


# --- write() -----------------------------------------------------------------------------------


def test_write_all_formats(tmp_path):
    result = make_result()
    paths = write(result, tmp_path / "new" / "dir", list(WRITERS), "episode")
    assert [p.name for p in paths] == [f"episode.{fmt}" for fmt in WRITERS]
    assert sorted(os.listdir(tmp_path / "new" / "dir")) == sorted(p.name for p in paths)
    assert paths[0].read_text(encoding="utf-8") == render("txt", result)


def test_unknown_format_names_it_and_the_known_ones_and_writes_nothing(tmp_path):
    with pytest.raises(OutputError) as err:
        write(make_result(), tmp_path, ["txt", "docx"], "episode")
    assert "'docx'" in str(err.value)
    assert "txt, json, srt, vtt, rttm, tsv" in str(err.value)
    assert os.listdir(tmp_path) == []


def test_an_output_directory_that_cannot_be_made_names_it(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="a-file"):
        write(make_result(), blocker / "out", ["txt"], "episode")
    with pytest.raises(OutputError, match="a-file"):
        write(make_result(), blocker, ["txt"], "episode")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write anywhere")
def test_a_read_only_output_directory_names_it(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="locked"):
            write(make_result(), locked, ["txt"], "episode")
    finally:
        locked.chmod(0o700)


def test_a_bad_stem_is_refused(tmp_path):
    for stem in ("", "..", "a/b"):
        with pytest.raises(OutputError, match="stem"):
            write(make_result(), tmp_path, ["txt"], stem)


def failing_writer(error: BaseException):
    def writer(result: RunResult, stream) -> None:
        stream.write("partial output " * 1000)
        stream.flush()
        raise error

    return writer


def test_a_writer_failing_mid_write_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setitem(WRITERS, "txt", failing_writer(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        write(make_result(), tmp_path, ["txt"], "episode")
    assert os.listdir(tmp_path) == []


def test_an_os_error_mid_write_is_an_output_error_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setitem(WRITERS, "txt", failing_writer(OSError(28, "No space left on device")))
    with pytest.raises(OutputError, match="No space left"):
        write(make_result(), tmp_path, ["txt"], "episode")
    assert os.listdir(tmp_path) == []


def test_a_failed_rewrite_keeps_the_previous_file(tmp_path, monkeypatch):
    [path] = write(make_result(), tmp_path, ["txt"], "episode")
    before = path.read_text()
    monkeypatch.setitem(WRITERS, "txt", failing_writer(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        write(make_result(), tmp_path, ["txt"], "episode")
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["episode.txt"]


def test_written_files_get_ordinary_permissions(tmp_path):
    [path] = write(make_result(), tmp_path, ["txt"], "episode")
    umask = os.umask(0)
    os.umask(umask)
    assert Path(path).stat().st_mode & 0o777 == 0o666 & ~umask
