"""The conformed transcript's files on a hand-built one, read back with the formats' own parsers."""

from __future__ import annotations

import io
import os

import pytest

from pipeline.errors import OutputError
from pipeline.layout import CONFORMED_FORMATS, EpisodeFiles
from pipeline.outputs import captions
from pipeline.outputs import conformed as out
from pipeline.types import ConformedTranscript, ConformedTurn, ConformedWord, Disagreement, Gap, Unspoken


def word(text, speaker, turn, start, end, source="asr", diarized=None):
    return ConformedWord(text, speaker, turn, start, end, source, diarized or speaker)


WORDS = (
    word("Good", "DOE", 0, 0.0, 0.25), word("morning.", "DOE", 0, 0.25, 0.75),
    word("Munich", "DOE", 0, 0.75, 1.25, "aligned"),
    word("Thanks,", "ROE", 1, 1.5, 1.75, diarized="DOE"), word("Jane.", "ROE", 1, 1.75, 2.0, diarized="DOE"),
    word("Cut", "ROE", 1, None, None, "unspoken", ""), word("line.", "ROE", 1, None, None, "unspoken", ""),
    word("Bye.", "ROE", 1, 9.0, 9.5, "interpolated"),
)
CONFORMED = ConformedTranscript(
    audio="ep.mp3", duration=10.0, words=WORDS,
    turns=(ConformedTurn("DOE", 0.0, 1.25, "Good morning. Munich", 0, 3),
           ConformedTurn("ROE", 1.5, 9.5, "Thanks, Jane. Cut line. Bye.", 3, 5)),
    gaps=(Gap(2.0, 9.0, "buy soap"),), unspoken=(Unspoken("ROE", "Cut line.", 1, 5, 2, 2.0),),
    disagreements=(Disagreement(1.5, 2.0, "ROE", "DOE", "Thanks, Jane.", 3, 2),),
    matched=0.75, lead=0.1, title="A story",
)


def render(fmt: str) -> str:
    stream = io.StringIO()
    out.WRITERS[fmt](CONFORMED, stream)
    return stream.getvalue()


def test_every_conformed_format_has_a_writer():
    assert tuple(out.WRITERS) == CONFORMED_FORMATS


def test_json_reads_back_to_an_equal_transcript(tmp_path):
    paths = out.write(CONFORMED, EpisodeFiles(tmp_path, "ep"), ["json", "rttm"])  # rttm is not a conformed format
    assert [p.name for p in paths] == ["ep.conformed.json"]
    assert out.read_json(paths[0]) == CONFORMED
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(OutputError, match="not a conformed transcript"):
        out.read_json(tmp_path / "bad.json")


def test_txt_is_the_publishers_paragraphs_unspoken_words_included():
    assert render("txt") == "DOE: Good morning. Munich\n\nROE: Thanks, Jane. Cut line. Bye.\n"


def test_tsv_has_a_row_a_word_with_its_source():
    lines = render("tsv").splitlines()
    assert lines[0] == "start\tend\tspeaker\tsource\ttext"
    assert lines[3] == "0.750\t1.250\tDOE\taligned\tMunich"
    assert lines[6] == "\t\tROE\tunspoken\tCut"
    assert len(lines) == 1 + len(WORDS)


def test_srt_names_the_speaker_at_each_change_and_leaves_out_unspoken_words():
    srt = pytest.importorskip("srt")
    subs = list(srt.parse(render("srt")))
    assert [s.content for s in subs] == ["DOE: Good morning. Munich", "ROE: Thanks, Jane.", "Bye."]
    assert [(s.start.total_seconds(), s.end.total_seconds()) for s in subs] == [
        (0.0, 1.25), (1.5, 2.5), (9.0, 10.0)]  # the short cues held for a second
    for s in subs:
        assert all(len(line) <= captions.MAX_LINE_CHARS for line in s.content.split("\n"))


def test_vtt_has_a_voice_span_on_every_cue():
    webvtt = pytest.importorskip("webvtt")
    parsed = webvtt.from_string(render("vtt")).captions
    assert [(c.voice, c.text) for c in parsed] == [("DOE", "Good morning. Munich"), ("ROE", "Thanks, Jane."),
                                                   ("ROE", "Bye.")]


def test_write_puts_every_format_beside_the_others(tmp_path):
    paths = out.write(CONFORMED, EpisodeFiles(tmp_path / "new", "ep"))
    assert [p.name for p in paths] == [f"ep.conformed.{fmt}" for fmt in CONFORMED_FORMATS]
    assert sorted(os.listdir(tmp_path / "new")) == sorted(p.name for p in paths)  # no temporary files
