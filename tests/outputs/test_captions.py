"""Caption cues: the broadcast limits asserted on long text, breaks at sentence and clause ends."""

from __future__ import annotations

import pytest

from pipeline.outputs import captions
from pipeline.outputs.captions import Block, CaptionWord

TEXT = ("Well, it was basically this, Linda, that Russia needs to change its targeting in Syria. Kerry says "
        "that the Russians have been dropping dumb bombs in Aleppo, killing many civilians there, uprooting "
        "tens of thousands of people. He also says that Russia is targeting opponents of Bashar al-Assad, the "
        "very same moderate opposition groups who diplomats want to be part of negotiations on Syria's future.")


def block(speaker: str, text: str, start: float = 0.0, step: float = 0.3) -> Block:
    return Block(speaker, tuple(CaptionWord(start + k * step, start + (k + 1) * step, w)
                                for k, w in enumerate(text.split())))


def label(name: str, first: bool) -> str:
    return f"{name}: " if first else ""


def test_cues_respect_the_limits_and_break_at_sentence_and_clause_ends():
    blocks = [block("KELEMEN", TEXT), block("WERTHEIMER", "Right.", 20.0), block("KELEMEN", "And so on.", 20.5)]
    cues = captions.cues(blocks, label)
    for k, cue in enumerate(cues):
        shown = [label(cue.speaker, cue.first) + cue.lines[0], *cue.lines[1:]]
        assert 1 <= len(cue.lines) <= captions.MAX_LINES
        assert all(len(line) <= captions.MAX_LINE_CHARS for line in shown)
        assert cue.end - cue.start <= captions.MAX_SECONDS
        next_start = cues[k + 1].start if k + 1 < len(cues) else float("inf")
        assert cue.end - cue.start >= captions.MIN_SECONDS or cue.end == next_start
    words = " ".join(" ".join(cue.lines) for cue in cues if cue.speaker == "KELEMEN").split()
    assert words == [*TEXT.split(), "And", "so", "on."]  # every word once, in order
    ends = [cue.lines[-1][-1] for cue in cues[:-2]]
    assert sum(e in ".," for e in ends) >= len(ends) - 1  # broken at sentence or clause ends
    assert [(c.speaker, c.first) for c in cues[-2:]] == [("WERTHEIMER", True), ("KELEMEN", True)]
    right = cues[-2]
    assert (right.start, right.end) == (20.0, 20.5)  # held until the next speaker, not 1 s


def test_a_new_cue_at_every_speaker_change_and_a_short_cue_held_for_a_second():
    cues = captions.cues([block("A", "Yes."), block("B", "No.", 5.0)], label)
    assert [(c.speaker, c.start, c.end, c.lines, c.first) for c in cues] == [
        ("A", 0.0, 1.0, ("Yes.",), True), ("B", 5.0, 6.0, ("No.",), True)]


def test_no_cue_across_a_long_pause():
    words = (CaptionWord(0.0, 0.5, "Hello."), CaptionWord(3.0, 3.5, "Again."))
    assert [c.lines for c in captions.cues([Block("A", words)])] == [("Hello.",), ("Again.",)]


def test_lines_break_at_a_clause_end_near_the_middle():
    words = "He again brushed off criticism, that Moscow is facing here in Munich".split()
    assert captions._lines(words, 0) == ["He again brushed off criticism,", "that Moscow is facing here in Munich"]
    words = "So the secretary says he is going to go work, through all of this with Russia".split()
    # no clause end leaves two lines that fit: as even as they can be
    assert captions._lines(words, 0) == ["So the secretary says he is going to go",
                                         "work, through all of this with Russia"]
    assert captions._lines(words[:4], 0) == ["So the secretary says"]
    assert captions._lines(["x" * 50], 0) == ["x" * 50]  # one word too long for a line stays whole
    assert captions._lines(["x" * 50], 0, strict=True) is None


@pytest.mark.parametrize("seconds, srt, vtt", [
    (3661.5, "01:01:01,500", "01:01:01.500"), (0.0004, "00:00:00,000", "00:00:00.000"),
    (59.9996, "00:01:00,000", "00:01:00.000"), (36000.25, "10:00:00,250", "10:00:00.250")])
def test_timestamps(seconds, srt, vtt):
    assert (captions.timestamp(seconds, ","), captions.timestamp(seconds, ".")) == (srt, vtt)


def test_srt_and_vtt_text_parse_with_their_libraries():
    srt = pytest.importorskip("srt")
    webvtt = pytest.importorskip("webvtt")
    cues = captions.cues([block("AT&T <HQ>", TEXT)], label)
    subs = list(srt.parse(captions.srt(cues, label)))
    assert [s.content for s in subs] == [("AT&T <HQ>: " if k == 0 else "") + "\n".join(cue.lines)
                                         for k, cue in enumerate(cues)]  # named at the change only
    assert [(s.start.total_seconds(), s.end.total_seconds()) for s in subs] == [
        (round(cue.start, 3), cue.end) for cue in cues]
    parsed = webvtt.from_string(captions.vtt(cues)).captions
    assert {c.voice for c in parsed} == {"AT&amp;T &lt;HQ&gt;"}  # webvtt-py gives the voice as written
    assert [c.text for c in parsed] == ["\n".join(cue.lines) for cue in cues]
