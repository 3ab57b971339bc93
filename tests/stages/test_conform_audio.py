"""The published transcript re-timed on real audio, with the real models, against the known truth.

The seed episode's ``seed.words.json`` has every word's true time; the edited seed
(``cut_and_ad.py``) has 30 s of speech cut and a 20 s ad added. Run with ``-s`` to see the
figures the targets are checked on. Bounds leave a margin over the measured values (in the
comments) for other CPUs' int8 kernels.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import SEED_DIR

from pipeline.scoring import metrics, reference
from pipeline.types import Stage

pytestmark = pytest.mark.slow


def measure(conformed, words: list[dict], turns: list[dict]) -> dict[str, float]:
    """The targets' figures: share of spoken words timed by the ASR or alignment, word start
    errors, and the share of turns whose two boundaries are both within 0.25 s."""
    assert [w.text for w in conformed.words] == [w["word"] for w in words]
    spoken = [i for i, w in enumerate(words) if w["start"] is not None]
    timed = sum(1 for i in spoken if conformed.words[i].source in ("asr", "aligned"))
    errors = np.abs([conformed.words[i].start - words[i]["start"] for i in spoken])
    edges = [max(abs(c.start - t["start"]), abs(c.end - t["end"]))
             for c, t in zip(conformed.turns, turns, strict=True) if t["start"] is not None]
    figures = {"timed": timed / len(spoken), "median": float(np.median(errors)),
               "p95": float(np.percentile(errors, 95)), "turns": float(np.mean(np.array(edges) <= 0.25)),
               "worst_turn": float(max(edges))}
    print({k: round(v, 3) for k, v in figures.items()})
    return figures


def processing_share(timings: dict[str, float]) -> float:
    """Conforming's seconds over the rest of the episode's processing (model loading apart)."""
    rest = sum(v for k, v in timings.items()
               if k not in (Stage.LOAD_ASR, Stage.LOAD_DIARIZATION, Stage.ASR, Stage.DIARIZATION, Stage.CONFORM))
    share = timings[Stage.CONFORM] / rest
    print(f"conform {timings[Stage.CONFORM]:.2f} s, {100 * share:.1f} % of the rest ({rest:.1f} s)")
    return share


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((SEED_DIR / "seed.words.json").read_text(encoding="utf-8"))


def test_the_seed_conformed_meets_the_targets(seed_outcome, truth, record_property):
    conformed = seed_outcome.check.conformed
    figures = measure(conformed, truth["words"], truth["turns"])
    for key in ("timed", "median", "p95", "turns"):
        record_property(key, round(figures[key], 3))
    assert figures["timed"] >= 0.99  # measured 1.000 (684 asr, 31 aligned)
    assert figures["median"] <= 0.08  # measured 0.037
    assert figures["p95"] <= 0.25  # measured 0.171
    assert figures["turns"] >= 0.95  # measured 14 of 14, the worst 0.091 s off
    assert 0.05 <= conformed.lead <= 0.2  # measured 0.115: Whisper's times run early
    assert conformed.gaps == () and conformed.unspoken == ()  # nothing was cut or added
    assert processing_share(seed_outcome.timings) <= 0.10  # measured 2.8-5.5 % on a shared 2-core machine
    published = reference.load(SEED_DIR / "seed.txt")
    assert [t.text for t in conformed.turns] == [t.text for t in published.turns]  # word for word, as written
    assert metrics.normalize(conformed.text) == metrics.normalize(" ".join(t.text for t in published.turns))


def test_the_seed_conformed_files_and_captions(seed_outcome):
    srt = pytest.importorskip("srt")
    webvtt = pytest.importorskip("webvtt")
    from pipeline.outputs import captions
    from pipeline.outputs.conformed import read_json

    names = {p.name for p in seed_outcome.outputs}
    assert {f"seed.conformed.{fmt}" for fmt in ("json", "txt", "tsv", "srt", "vtt")} <= names
    folder = seed_outcome.outputs[0].parent
    assert read_json(folder / "seed.conformed.json") == seed_outcome.check.conformed
    txt = (folder / "seed.conformed.txt").read_text(encoding="utf-8")
    assert txt.startswith("WERTHEIMER: This is WEEKEND EDITION from NPR News. I'm Linda Wertheimer")
    assert "KELEMEN: Well, it was basically this, Linda," in txt and "Michele Kelemen" in txt
    subs = list(srt.parse((folder / "seed.conformed.srt").read_text(encoding="utf-8")))
    cues = webvtt.read(str(folder / "seed.conformed.vtt")).captions
    assert len(subs) == len(cues) > 40
    for k, sub in enumerate(subs):
        lines = sub.content.split("\n")
        assert len(lines) <= captions.MAX_LINES
        assert all(len(line) <= captions.MAX_LINE_CHARS for line in lines)
        seconds = (sub.end - sub.start).total_seconds()
        assert seconds <= captions.MAX_SECONDS
        assert seconds >= captions.MIN_SECONDS or k + 1 < len(subs) and subs[k + 1].start == sub.end
    assert sum(1 for s in subs if s.content.startswith(("WERTHEIMER: ", "KELEMEN: ", "KERRY: ", "LAVROV: "))) == 14
    assert {c.voice for c in cues} == {"WERTHEIMER", "KERRY", "KELEMEN", "LAVROV"}
    check = json.loads((folder / "seed.check.json").read_text(encoding="utf-8"))
    assert check["conformed"]["sources"]["asr"] > 600 and "disagreements" in check["conformed"]
    page = (folder / "seed.check.html").read_text(encoding="utf-8")
    assert "<audio id=\"episode\"" in page and page.count("data-start=") > 700


@pytest.fixture(scope="module")
def edited_outcome(require_models, tmp_path_factory):
    import cut_and_ad

    from pipeline import config
    from pipeline.jobs import Job, process

    folder = tmp_path_factory.mktemp("cut-and-ad")
    edited = cut_and_ad.build(folder)
    return edited, process(Job(edited.audio, folder / "out", reference=SEED_DIR / "seed.txt"), config.load())


def test_a_cut_and_an_ad_are_found_and_nothing_else_is_marked(edited_outcome, record_property):
    edited, outcome = edited_outcome
    conformed = outcome.check.conformed
    unspoken = {i for u in conformed.unspoken for i in range(u.first, u.first + u.count)}
    assert unspoken == edited.cut_words  # measured: exactly the 93 words of the three sentences
    [line] = conformed.unspoken
    assert line.text.startswith("Kerry says that the Russians") and line.after == pytest.approx(edited.cut_at, abs=0.8)
    [gap] = conformed.gaps  # measured 98.74-119.55 s for the ad at 99.13-119.13 s
    overlap = min(gap.end, edited.ad[1]) - max(gap.start, edited.ad[0])
    assert overlap >= 0.9 * (edited.ad[1] - edited.ad[0]) and gap.end - gap.start <= 22.0
    assert "New Jersey" in gap.heard  # what the ad said
    figures = measure(conformed, edited.words, edited.turns)
    for key in ("timed", "median", "p95", "turns"):
        record_property(key, round(figures[key], 3))
    assert figures["timed"] >= 0.99  # measured 1.000
    assert figures["median"] <= 0.08  # measured 0.038
    assert figures["p95"] <= 0.25  # measured 0.154
    assert figures["turns"] >= 0.95  # measured 14 of 14 (the cut turn's remainder), the worst 0.048 s off
    assert processing_share(outcome.timings) <= 0.10  # measured 1.3-4.7 %


def test_another_episodes_transcript_is_refused(seed_run, tmp_path):
    from pipeline.errors import TranscriptMismatchError
    from pipeline.jobs.job import conform
    from pipeline.scoring.reference import parse

    other = parse("HOST: Good evening. Tonight, the city council votes on the new budget for the schools and "
                  "the parks.\nREPORTER: The vote is expected late tonight after a long public hearing.")
    with pytest.raises(TranscriptMismatchError, match="other.txt: does not match this episode's audio"):
        conform(None, seed_run, other, None, source="other.txt")


def test_forced_alignment_with_both_engines(require_models):
    """The words of one sentence, aligned in its stretch of the seed by tiny.en in each engine."""
    from conftest import tiny_models

    from pipeline.stages import audio, forced

    truth = json.loads((SEED_DIR / "seed.words.json").read_text(encoding="utf-8"))
    sentence = truth["sentences"][21]  # "In fact, he gave it a 49 percent chance that it'll work."
    words = [w for w in truth["words"] if w["sentence"] == 21]
    samples = audio.load(SEED_DIR / "seed.flac").samples
    models = tiny_models()
    for engine in ("faster-whisper", "openai-whisper"):
        config = models.config.model_copy(update={"asr": models.config.asr.model_copy(update={"engine": engine})})
        from pipeline.jobs import Models

        model = Models(config).asr_model()
        align = forced.whisper_aligner(model, samples, engine=engine, language="en")
        found = align(sentence["start"] - 0.2, sentence["end"] + 0.2, [w["word"] for w in words])
        assert found is not None and len(found) == len(words), engine
        errors = np.abs([s - w["start"] for (s, _), w in zip(found, words, strict=True)])
        print(engine, "median", round(float(np.median(errors)), 3), "max", round(float(errors.max()), 3))
        assert np.median(errors) <= 0.2, engine
        assert all(b[0] >= a[0] for a, b in zip(found, found[1:], strict=False))


def test_check_conforms_a_result_with_its_audio_and_without(seed_outcome, tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app
    from pipeline.outputs.conformed import read_json
    from pipeline.outputs.writers import read_json as read_result
    from pipeline.outputs.writers import write_json

    result_json = next(p for p in seed_outcome.outputs if p.name == "seed.json")
    runner = CliRunner()
    out = runner.invoke(app, ["check", str(result_json), str(SEED_DIR / "seed.txt"), "-o", str(tmp_path / "a"), "-q"])
    assert out.exit_code == 0, out.output
    with_audio = read_json(tmp_path / "a" / "seed.conformed.json")
    assert {w.source for w in with_audio.words} == {"asr", "aligned"} and with_audio.lead > 0
    moved = tmp_path / "moved.json"
    with open(moved, "w", encoding="utf-8") as stream:
        write_json(replace(read_result(result_json), audio=str(tmp_path / "gone.mp3")), stream)
    out = runner.invoke(app, ["check", str(moved), str(SEED_DIR / "seed.txt"), "-o", str(tmp_path / "b"), "-q"])
    assert out.exit_code == 0, out.output
    without = read_json(tmp_path / "b" / "moved.conformed.json")
    assert {w.source for w in without.words} == {"asr", "interpolated"} and without.lead == 0.0
