"""The check report on a hand-built run: its numbers, check.json, check.html and the summary rows."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

from pipeline.errors import OutputError, ReferenceError
from pipeline.layout import EpisodeFiles
from pipeline.scoring.metrics import read_rttm
from pipeline.scoring.reference import parse
from pipeline.scoring.report import audio_address, check, render_html, report_dict, summary_rows, write_report
from pipeline.stages.conform import conform
from pipeline.types import AttributedWord, RunResult, SpeakerTurn, Turn

REFERENCE = parse(
    "Story Title\n"
    "JANE DOE, HOST: Good morning and welcome to the show.\n"
    "JOHN ROE: Thanks for having me here today.\n"
    "DOE: Let us begin."
)
# Against the reference: "the" heard as "a", "here" missed, "let" given to the guest, "now" inserted.
HEARD = [
    ("SPEAKER_00", "Good morning and welcome to a show.", 0.0),
    ("SPEAKER_01", "Thanks for having me today", 8.0),
    ("SPEAKER_01", "Let", 13.0),
    ("SPEAKER_00", "us begin now.", 14.0),
]
RTTM = ("SPEAKER story 1 0.0 7.5 <NA> <NA> DOE <NA> <NA>\n"
        "SPEAKER story 1 7.5 6.0 <NA> <NA> ROE <NA> <NA>\n"
        "SPEAKER story 1 13.5 3.5 <NA> <NA> DOE <NA> <NA>\n")


def _result() -> RunResult:
    words = []
    for speaker, text, start in HEARD:
        words += [AttributedWord(start + i, start + i + 0.9, w, speaker) for i, w in enumerate(text.split())]
    turns = tuple(SpeakerTurn(s, start, start + len(t.split()), t) for s, t, start in HEARD)
    diarization = (Turn(0.0, 7.5, "SPEAKER_00"), Turn(7.5, 14.0, "SPEAKER_01"), Turn(14.0, 17.0, "SPEAKER_00"))
    return RunResult("story.wav", "0" * 64, 17.0, "en", tuple(words), turns, ("SPEAKER_00", "SPEAKER_01"),
                     diarization=diarization)


@pytest.fixture
def rttm(tmp_path):
    path = tmp_path / "story.rttm"
    path.write_text(RTTM, encoding="utf-8")
    return tuple(read_rttm(path))


def files(folder, stem: str = "story") -> EpisodeFiles:
    return EpisodeFiles(folder, stem)


def test_check_by_hand(rttm):
    report = check(_result(), REFERENCE, rttm=rttm)
    assert report.title == "Story Title"
    assert report.wer == pytest.approx(3 / 16)  # one substitution, one deletion, one insertion
    assert report.cpwer == pytest.approx(5 / 16)  # DOE<->S0: the/a, let, now; ROE<->S1: here, let
    assert report.wder == pytest.approx(1 / 15)  # "let": 1 of 15 aligned words
    assert report.speaker_names == {"SPEAKER_00": "DOE", "SPEAKER_01": "ROE"}
    assert report.naming["SPEAKER_01"].confidence == pytest.approx(5 / 6)
    assert (report.speakers_reference, report.speakers_found) == (("DOE", "ROE"), ("SPEAKER_00", "SPEAKER_01"))
    assert report.speaker_count_error == 0
    assert report.der == pytest.approx(0.5 / 17)  # 13.5-14.0 s given to the guest
    assert report.der_collar == pytest.approx(0.25 / 15.5)  # ±0.25 s around 0, 7.5, 13.5 and 17 s
    assert report.jer == pytest.approx(1 - (10.5 / 11 + 6 / 6.5) / 2)


def test_check_json(tmp_path, rttm):
    json_path, html_path = write_report(check(_result(), REFERENCE, rttm=rttm), files(tmp_path / "out"))
    assert sorted(os.listdir(tmp_path / "out")) == ["story.check.html", "story.check.json"]  # no temporary files left
    data = json.loads(json_path.read_text(encoding="utf-8"))
    for key in ("wer", "cpwer", "wder", "speaker_names", "speakers_reference", "speakers_found", "der",
                "der_collar", "jer", "naming", "per_speaker", "speaker_count_error"):
        assert key in data
    assert data["wer"] == 0.1875 and data["cpwer"] == 0.3125
    assert data["speaker_names"] == {"SPEAKER_00": "DOE", "SPEAKER_01": "ROE"}
    assert data["speakers_reference"] == ["DOE", "ROE"]
    assert data["naming"]["SPEAKER_00"] == {"name": "DOE", "confidence": 1.0, "words": 9, "candidate": "DOE",
                                            "matched": True}
    assert data["per_speaker"]["DOE"] == {
        "speaker": "DOE", "reference_words": 10, "hypothesis_words": 10, "correct": 9, "substitutions": 1,
        "deletions": 0, "insertions": 1, "wrong_speaker": 1, "error_rate": 0.2,
    }
    assert data["per_speaker"]["ROE"]["deletions"] == 1
    assert data["der"] == pytest.approx(0.5 / 17, abs=1e-6)


def test_check_html_marks_the_disagreements(tmp_path, rttm):
    _, html_path = write_report(check(_result(), REFERENCE, rttm=rttm), files(tmp_path))
    page = html_path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "<audio" not in page  # no conformed transcript, no player
    assert page.count("<svg") == 1
    assert ">reference</text>" in page and ">result</text>" in page
    assert '<span class="sub"><del>the</del><ins>a</ins></span>' in page
    assert '<del title="missed; said by ROE">here</del>' in page
    assert '<ins title="not in the reference">now</ins>' in page
    assert '<mark class="spk" title="reference speaker: DOE">let</mark>' in page
    assert "<title>DOE 0.00–7.50 s</title>" in page  # one rectangle of the reference row


def test_without_rttm_the_timeline_shows_the_result_only(tmp_path):
    report = check(_result(), REFERENCE)
    assert (report.der, report.der_collar, report.jer) == (None, None, None)
    data = report_dict(report)
    assert data["der"] is None and data["jer"] is None
    page = render_html(report)
    assert "<svg" in page and ">result</text>" in page and ">reference</text>" not in page


def test_summary_rows(rttm):
    rows = dict(summary_rows(check(_result(), REFERENCE, rttm=rttm)))
    assert rows["WER"] == "18.8%"
    assert rows["cpWER"] == "31.2%"
    assert rows["Speakers (reference / found)"] == "2 / 2"
    assert rows["DER"] == "2.9%"
    assert rows["SPEAKER_01"] == "ROE (83.3% of 6 words)"


def test_unwritable_output_raises_output_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="file"):
        write_report(check(_result(), REFERENCE), files(blocker))


def test_stem_prefixes_the_file_names(tmp_path):
    paths = write_report(check(_result(), REFERENCE), files(tmp_path, "other"))
    assert [p.name for p in paths] == ["other.check.json", "other.check.html"]
    with pytest.raises(OutputError, match="stem"):
        write_report(check(_result(), REFERENCE), files(tmp_path, "../up"))


def test_rewriting_replaces_the_files(tmp_path):
    report = check(_result(), REFERENCE)
    write_report(report, files(tmp_path))
    (tmp_path / "story.check.json").write_text("stale")
    write_report(report, files(tmp_path))
    assert json.loads((tmp_path / "story.check.json").read_text())["wer"] == 0.1875
    assert sorted(os.listdir(tmp_path)) == ["story.check.html", "story.check.json"]


def test_an_rttm_alone_gives_the_timeline_rates(rttm, tmp_path):
    report = check(_result(), None, rttm=rttm)
    assert report.der == pytest.approx(0.5 / 17) and report.jer == check(_result(), REFERENCE, rttm=rttm).jer
    assert report.reference_words == 0 and report.speaker_names == {}
    assert report.speakers_reference == ("DOE", "ROE") and report.speaker_count_error == 0
    data = json.loads(write_report(report, files(tmp_path))[0].read_text())
    assert data["wer"] is None and data["der"] == pytest.approx(0.5 / 17, abs=1e-6)
    rows = dict(summary_rows(report))
    assert rows["Reference"] == "RTTM only (no published transcript)" and "WER" not in rows and "DER" in rows
    with pytest.raises(ReferenceError, match="nothing to check against"):
        check(_result(), None)


# --- the conformed transcript on the page --------------------------------------------------------


def _conformed_report(tmp_path):
    """The hand-built run with its audio in ``tmp_path``, and the reference conformed to it."""
    result = replace(_result(), audio=str(tmp_path / "story.wav"),
                     speaker_names={"SPEAKER_00": "DOE", "SPEAKER_01": "ROE"})
    return check(result, REFERENCE, conformed=conform(REFERENCE, result))


def test_the_page_shows_the_conformed_transcript_with_clickable_words(tmp_path):
    report = _conformed_report(tmp_path)
    _, html_path = write_report(report, files(tmp_path))
    page = html_path.read_text(encoding="utf-8")
    assert '<audio id="episode" controls preload="metadata" src="story.wav"></audio>' in page
    assert page.count("<script>") == 1 and "audio.currentTime = parseFloat" in page
    assert '<span data-start="8.000" title="8.00–8.90 s, asr">Thanks</span>' in page
    # "Let" is the publisher's DOE but diarization's ROE: one word inside a turn, not a place to listen to
    assert '<span data-start="13.000" title="13.00–13.90 s, asr">Let</span>' in page
    assert '<mark class="dis" title=' not in page
    assert '<span class="interpolated" data-start=' in page  # "the" (heard as "a") and "here" (missed)
    data = report_dict(report)["conformed"]
    assert data["sources"] == {"asr": 14, "aligned": 0, "interpolated": 2, "unspoken": 0}
    assert data["gaps"] == [] and data["unspoken"] == [] and data["disagreements"] == []
    assert dict(summary_rows(report))["Conformed words"] == "14 asr, 2 interpolated"


def test_audio_address_is_relative_to_the_page_where_it_can_be(tmp_path):
    assert audio_address(str(tmp_path / "in" / "my show.mp3"), tmp_path / "out") == "../in/my%20show.mp3"
    assert audio_address("", tmp_path) == ""


def test_clicking_a_word_in_a_real_browser_plays_the_audio_from_it(tmp_path):
    from browser import CHROMIUM, Chromium, file_url
    from conftest import write_wav

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (the Makefile's `system` target installs it)")
    import numpy as np

    t = np.arange(17 * 16_000) / 16_000
    write_wav(tmp_path / "story.wav", 0.1 * np.sin(2 * np.pi * 220 * t).astype(np.float32))
    _, html_path = write_report(_conformed_report(tmp_path), files(tmp_path))
    with Chromium() as browser:
        browser.open(file_url(html_path))
        duration = browser.evaluate(
            "new Promise(done => { const a = document.getElementById('episode');"
            " if (a.readyState >= 1) done(a.duration); else a.onloadedmetadata = () => done(a.duration); })")
        assert duration == pytest.approx(17.0)
        assert browser.evaluate("document.getElementById('episode').currentTime") == 0
        browser.click('.conformed span[data-start="8.000"]')  # "Thanks", at 8 s
        now = browser.evaluate("document.getElementById('episode').currentTime")
        assert 8.0 <= now < 8.5  # from the word's time; playing on since
        browser.click('.conformed span[data-start="4.000"]')  # and back to "welcome"
        assert 4.0 <= browser.evaluate("document.getElementById('episode').currentTime") < 4.5
