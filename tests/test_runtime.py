"""The process the stages run in: what third parties print while they run becomes log lines."""

from __future__ import annotations

import io
import logging
import sys
import threading

from pipeline.runtime import third_party_output


def project_module_writer():
    """A function whose module is one of the project's, as the CLI's own output would be."""
    namespace = {"__name__": "pipeline.cli.example"}
    exec("import sys\ndef say(text):\n    sys.stdout.write(text)\n", namespace)
    return namespace["say"]


def test_two_stages_printing_at_once_give_whole_lines_and_nothing_on_stdout(monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="pipeline.thirdparty")  # whatever a CLI test left on "pipeline"
    stdout = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stdout)
    halfway = threading.Barrier(2, timeout=5)
    say = project_module_writer()

    def stage(name: str) -> None:
        with third_party_output():
            print(f"{name}: first half", end="")
            halfway.wait()  # both are mid-line now
            print(f" and second half of {name}")
            halfway.wait()
            print("\n\n")  # blank lines are dropped
            if name == "asr":
                say("the project's own line\n")

    threads = [threading.Thread(target=stage, args=(name,)) for name in ("asr", "diarization")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sys.stdout is stdout, "the capture is gone once the last stage is done"
    assert stdout.getvalue() == "the project's own line\n"
    lines = sorted(r.getMessage() for r in caplog.records if r.name == "pipeline.thirdparty")
    assert lines == ["asr: first half and second half of asr",
                     "diarization: first half and second half of diarization"]
    assert {r.levelname for r in caplog.records if r.name == "pipeline.thirdparty"} == {"WARNING"}


def test_an_unfinished_line_is_logged_when_the_stage_ends(monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="pipeline.thirdparty")
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    with third_party_output():
        with third_party_output():  # nested: installed once
            sys.stdout.write("progress 50%")
        sys.stdout.write(" 100%")
    assert [r.getMessage() for r in caplog.records if r.name == "pipeline.thirdparty"] == ["progress 50% 100%"]
    assert sys.stdout.getvalue() == ""


def test_a_stream_replaced_meanwhile_is_left_in_place(monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    theirs = io.StringIO()
    with third_party_output():
        sys.stdout = theirs
    assert sys.stdout is theirs
