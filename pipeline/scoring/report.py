"""The check report: a run measured against the published transcript (and its RTTM, if any).

:func:`check` computes the metrics of :mod:`pipeline.scoring.metrics` into a :class:`CheckReport`;
:func:`write_report` writes ``check.json`` (the numbers) and ``check.html`` (one page: the speaker
timeline as inline SVG, reference above and result below, one colour per speaker name, the
transcript with the disagreeing words marked, and, when the published transcript was conformed,
that transcript with every word a link into the episode's audio); :func:`summary_rows` gives the
few lines a CLI prints as a table.

The page's one script plays the ``<audio>`` element from the clicked word's ``data-start``; the
audio's address is relative to the page's folder where it can be, so the page and the audio can
move together.
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import ReferenceError
from pipeline.layout import EpisodeFiles, ensure_dir, write_text_atomic
from pipeline.scoring import metrics as ev
from pipeline.types import ConformedTranscript, Reference, RunResult, TimeSource, Turn, to_dict

logger = logging.getLogger(__name__)

#: the collar (whole width, seconds) of ``der_collar``: ±0.25 s around reference boundaries
COLLAR = 0.5
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")
_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)  # seconds between timeline ticks


@dataclass(frozen=True)
class CheckReport:
    """Everything ``check`` measured. Rates are fractions; NaN where undefined, None if not run.

    ``speaker_names`` holds the labels that were named; ``naming`` every label's evidence.
    ``alignment``, ``reference_turns`` and ``result_turns`` feed the HTML page, not the JSON;
    ``conformed`` (the published transcript re-timed) feeds both: its disagreements, gaps and
    unspoken lines are listed in the JSON.
    """

    audio: str
    title: str
    wer: float
    cpwer: float
    wder: float
    speaker_names: dict[str, str]
    naming: dict[str, ev.SpeakerMatch]
    speakers_reference: tuple[str, ...]
    speakers_found: tuple[str, ...]
    speaker_count_error: int
    per_speaker: tuple[ev.SpeakerStats, ...]
    reference_words: int
    hypothesis_words: int
    cpwer_assignment: tuple[tuple[str | None, str | None], ...] = ()
    der: float | None = None
    der_collar: float | None = None
    jer: float | None = None
    duration: float = 0.0
    alignment: tuple[ev.AlignedWord, ...] = field(default=(), repr=False)
    reference_turns: tuple[Turn, ...] = field(default=(), repr=False)
    result_turns: tuple[Turn, ...] = field(default=(), repr=False)
    conformed: ConformedTranscript | None = field(default=None, repr=False)


def check(result: RunResult, reference: Reference | None, *, rttm: Sequence[Turn] | None = None,
          conformed: ConformedTranscript | None = None) -> CheckReport:
    """Measure ``result`` against the published ``reference`` (and the reference ``rttm`` turns);
    ``conformed`` is that reference re-timed, shown and listed in the report.

    Without a ``reference``, only the timeline against ``rttm`` is measured (DER, JER); the word
    rates are NaN and no speaker is named.
    """
    if reference is None:
        return _check_timeline(result, rttm)
    ref_words = ev.reference_words(reference)
    if not ref_words:
        raise ReferenceError(f"{reference.title or 'the reference'}: no words to compare with")
    hyp_words = ev.hypothesis_words(result.words)
    alignment = ev.align(ref_words, hyp_words)
    naming = ev.match_speakers(alignment, result.speakers)
    names = {label: m.name for label, m in naming.items() if m.matched}
    cp = ev.cpwer(ev.words_by_speaker(ref_words), ev.words_by_speaker(hyp_words))
    found = _found(result)
    hyp_turns = _hyp_turns(result)
    timeline = _timeline_metrics(hyp_turns, rttm, result.duration) if rttm is not None else {}
    return CheckReport(
        audio=result.audio,
        title=reference.title,
        wer=ev.wer([w for w, _ in ref_words], [w for w, _ in hyp_words]),
        cpwer=cp.rate,
        wder=ev.wder(alignment),
        speaker_names=names,
        naming=naming,
        speakers_reference=reference.speakers,
        speakers_found=found,
        speaker_count_error=ev.speaker_count_error(reference.speakers, found),
        per_speaker=ev.speaker_stats(alignment, names),
        reference_words=len(ref_words),
        hypothesis_words=len(hyp_words),
        cpwer_assignment=cp.assignment,
        duration=result.duration,
        alignment=tuple(alignment),
        result_turns=tuple(Turn(t.start, t.end, names.get(t.speaker, t.speaker)) for t in hyp_turns),
        conformed=conformed,
        **timeline,
    )


def _check_timeline(result: RunResult, rttm: Sequence[Turn] | None) -> CheckReport:
    if rttm is None:
        raise ReferenceError(f"{result.audio}: nothing to check against (no published transcript, no RTTM)")
    hyp_turns, found = _hyp_turns(result), _found(result)
    speakers = tuple(dict.fromkeys(t.speaker for t in rttm))
    nan = float("nan")
    return CheckReport(
        audio=result.audio, title="", wer=nan, cpwer=nan, wder=nan, speaker_names={}, naming={},
        speakers_reference=speakers, speakers_found=found,
        speaker_count_error=ev.speaker_count_error(speakers, found), per_speaker=(), reference_words=0,
        hypothesis_words=len(result.words), duration=result.duration, result_turns=tuple(hyp_turns),
        **_timeline_metrics(hyp_turns, rttm, result.duration),
    )


def _found(result: RunResult) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*result.speakers, *(w.speaker for w in result.words)]))


def _hyp_turns(result: RunResult) -> tuple[Turn, ...]:
    return result.diarization or tuple(Turn(t.start, t.end, t.speaker) for t in result.turns)


def _timeline_metrics(hyp_turns: Sequence[Turn], ref_turns: Sequence[Turn], duration: float) -> dict[str, Any]:
    if not ref_turns:
        raise ReferenceError("the RTTM has no SPEAKER lines")
    end = max([duration, *(t.end for t in (*ref_turns, *hyp_turns))])
    uem = (0.0, end)
    return {
        "der": ev.der(hyp_turns, ref_turns, uem=uem),
        "der_collar": ev.der(hyp_turns, ref_turns, collar=COLLAR, uem=uem),
        "jer": ev.jer(hyp_turns, ref_turns, uem=uem),
        "reference_turns": tuple(ref_turns),
    }


# -- check.json --------------------------------------------------------------------------------


def _number(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, 6)


def report_dict(report: CheckReport) -> dict[str, Any]:
    """The JSON-able content of ``check.json``."""
    return {
        "audio": report.audio,
        "title": report.title,
        "wer": _number(report.wer),
        "cpwer": _number(report.cpwer),
        "cpwer_assignment": [list(pair) for pair in report.cpwer_assignment],
        "wder": _number(report.wder),
        "der": _number(report.der),
        "der_collar": _number(report.der_collar),
        "collar": COLLAR,
        "jer": _number(report.jer),
        "speaker_names": dict(report.speaker_names),
        "naming": {label: {**to_dict(m), "confidence": _number(m.confidence)}
                   for label, m in report.naming.items()},
        "speakers_reference": list(report.speakers_reference),
        "speakers_found": list(report.speakers_found),
        "speaker_count_error": report.speaker_count_error,
        "reference_words": report.reference_words,
        "hypothesis_words": report.hypothesis_words,
        "per_speaker": {s.speaker: {**to_dict(s), "error_rate": _number(s.error_rate)}
                        for s in report.per_speaker},
        **({"conformed": conformed_summary(report.conformed)} if report.conformed is not None else {}),
    }


def conformed_summary(conformed: ConformedTranscript) -> dict[str, Any]:
    """The conformed transcript's headline: how its words were timed, and the places to listen to."""
    return {
        "words": len(conformed.words),
        "sources": {s.value: sum(1 for w in conformed.words if w.source == s) for s in TimeSource},
        "matched": conformed.matched,
        "lead": conformed.lead,
        "disagreements": [to_dict(d) for d in conformed.disagreements],
        "gaps": [to_dict(g) for g in conformed.gaps],
        "unspoken": [to_dict(u) for u in conformed.unspoken],
    }


def summary_rows(report: CheckReport) -> list[tuple[str, str]]:
    """(what, value) rows for a terminal table."""
    speakers = ("Speakers (reference / found)", f"{len(report.speakers_reference)} / {len(report.speakers_found)}")
    if not report.reference_words:  # checked against an RTTM alone
        rows = [("Reference", "RTTM only (no published transcript)"), speakers]
    else:
        rows = [("Reference", report.title or "(untitled)"), ("WER", _percent(report.wer)),
                ("cpWER", _percent(report.cpwer)), ("WDER", _percent(report.wder)), speakers]
    if report.der is not None:
        rows += [("DER", _percent(report.der)), ("DER (±0.25 s collar)", _percent(report.der_collar)),
                 ("JER", _percent(report.jer))]
    if report.conformed is not None:
        c = report.conformed
        counts = conformed_summary(c)["sources"]
        rows += [("Conformed words", ", ".join(f"{n} {s}" for s, n in counts.items() if n)),
                 ("Speaker disagreements", str(len(c.disagreements))),
                 ("Gaps (broadcast not in the text)", str(len(c.gaps))),
                 ("Unspoken lines (text not broadcast)", str(len(c.unspoken)))]
    for label, m in report.naming.items():
        share = f"{_percent(m.confidence)} of {m.words} words"
        if m.matched:
            rows.append((label, f"{m.name} ({share})"))
        elif m.candidate:
            rows.append((label, f"unnamed (best: {m.candidate}, {share})"))
        else:
            rows.append((label, "unnamed (no aligned words)"))
    return rows


def _percent(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.1f}%"


# -- writing -----------------------------------------------------------------------------------


def write_report(report: CheckReport, files: EpisodeFiles) -> tuple[Path, Path]:
    """Write ``STEM.check.json`` and ``STEM.check.html`` (atomically); both paths."""
    ensure_dir(files.folder)
    json_path = write_text_atomic(files.check("json"), json.dumps(report_dict(report), indent=2,
                                                                  ensure_ascii=False) + "\n")
    html_path = write_text_atomic(files.check("html"), render_html(report, audio_address(report.audio, files.folder)))
    logger.info("check report written to %s and %s", json_path, html_path)
    return json_path, html_path


# -- check.html --------------------------------------------------------------------------------

_CSS = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; } td, th { padding: 2px 12px; text-align: left; }
del { background: #fdd; color: #900; } ins { background: #dfd; color: #060; text-decoration: none; }
.sub { border-bottom: 1px dotted #888; }
mark.spk { background: #ffe08a; outline: 1px dashed #b80; }
.turn b { margin-right: .5em; } .label { color: #888; font-size: 85%; }
.swatch { display: inline-block; width: 1em; height: 1em; vertical-align: middle; margin: 0 .3em 0 1em; }
audio { width: 100%; position: sticky; top: 0; background: #fff; }
[data-start] { cursor: pointer; } .conformed [data-start]:hover { background: #def; }
.interpolated { border-bottom: 1px dashed #888; } .unspoken { color: #999; text-decoration: line-through; }
mark.dis { background: #fcd; outline: 1px dashed #c36; } .gap { color: #666; font-style: italic; }
.clock { color: #888; font-size: 85%; margin-right: .5em; }
"""

#: the page's one script: a click on anything with ``data-start`` plays the episode from there
_SCRIPT = """
(function () {
  var audio = document.getElementById("episode");
  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-start]");
    if (!target || !audio) { return; }
    audio.currentTime = parseFloat(target.getAttribute("data-start"));
    var playing = audio.play();
    if (playing && playing.catch) { playing.catch(function () {}); }
  });
})();
"""


def audio_address(audio: str, folder: Path) -> str:
    """The episode's audio as a URL relative to ``folder`` (where the page is), else a file URL."""
    if not audio:
        return ""
    path = Path(os.path.abspath(audio))
    try:
        relative = os.path.relpath(path, os.path.abspath(folder))
    except ValueError:  # another drive
        return path.as_uri()
    return urllib.parse.quote(Path(relative).as_posix())


def render_html(report: CheckReport, audio_src: str | None = None) -> str:
    """``check.html``: summary, naming, timeline picture and marked transcript, in one page; with
    the conformed transcript, an ``<audio>`` element on ``audio_src`` (default: the audio's path
    as a URL) that a click on a word plays from that word."""
    colours = _colours(report)
    title = html.escape(report.title or report.audio or "check")
    summary = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                      for k, v in summary_rows(report))
    legend = "".join(f'<span class="swatch" style="background:{c}"></span>{html.escape(n)}'
                     for n, c in colours.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Check: {title}</title>
<style>{_CSS}</style></head><body>
<h1>{title}</h1>
<table class="summary">{summary}</table>
<h2>Speaker timeline</h2>
{_timeline_svg(report, colours)}
<p class="legend">{legend}</p>
<h2>Transcript</h2>
<p class="key">Marks: <del>missed</del> <ins>inserted</ins>
<span class="sub"><del>reference</del><ins>heard</ins></span> substituted,
<mark class="spk">wrong speaker</mark>.</p>
{_transcript_html(report, colours)}
{_conformed_section(report, colours, audio_src)}
</body></html>
"""


def _colours(report: CheckReport) -> dict[str, str]:
    """One colour per speaker name: reference speakers first, then RTTM and result names."""
    names = [*report.speakers_reference, *(t.speaker for t in report.reference_turns),
             *(t.speaker for t in report.result_turns),
             *(report.speaker_names.get(s, s) for s in report.speakers_found)]
    return {n: _PALETTE[i % len(_PALETTE)] for i, n in enumerate(dict.fromkeys(names))}


def _timeline_svg(report: CheckReport, colours: dict[str, str]) -> str:
    """Inline SVG: the reference RTTM turns on the upper row, the run's turns on the lower."""
    rows = [("reference", report.reference_turns), ("result", report.result_turns)]
    rows = [(name, turns) for name, turns in rows if turns]
    end = max([report.duration, *(t.end for _, turns in rows for t in turns)], default=0.0)
    if not rows or end <= 0:
        return "<p>(no timed turns)</p>"
    left, width, height = 80, 1000, 30
    scale = width / end
    parts = []
    for r, (name, turns) in enumerate(rows):
        y = 10 + r * (height + 10)
        parts.append(f'<text x="0" y="{y + 20}" font-size="13">{name}</text>')
        for t in turns:
            x, w = left + t.start * scale, max((t.end - t.start) * scale, 0.5)
            tip = html.escape(f"{t.speaker} {t.start:.2f}–{t.end:.2f} s")
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{height}" '
                         f'fill="{colours.get(t.speaker, "#999")}"><title>{tip}</title></rect>')
    axis_y = 10 + len(rows) * (height + 10)
    step = next((s for s in _STEPS if end / s <= 12), _STEPS[-1] * math.ceil(end / _STEPS[-1] / 12))
    for k in range(int(end // step) + 1):
        x = left + k * step * scale
        parts.append(f'<line x1="{x:.1f}" y1="{axis_y - 4}" x2="{x:.1f}" y2="{axis_y}" stroke="#444"/>'
                     f'<text x="{x:.1f}" y="{axis_y + 12}" font-size="11" text-anchor="middle">'
                     f"{_clock(k * step)}</text>")
    size = f"{left + width + 20} {axis_y + 20}"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size}" width="100%" '
            f'role="img" aria-label="speaker timeline">{"".join(parts)}</svg>')


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def _transcript_html(report: CheckReport, colours: dict[str, str]) -> str:
    """The run's words in paragraphs by speaker, with the reference's disagreements marked."""
    names = report.speaker_names
    paragraphs: list[tuple[str | None, str | None, list[str]]] = []  # name, label, words
    for a in report.alignment:
        label = a.hyp_speaker
        name = names.get(label, label) if label is not None else None
        if label is None and paragraphs:
            name, label = paragraphs[-1][0], paragraphs[-1][1]
        if not paragraphs or (name, label) != paragraphs[-1][:2]:
            paragraphs.append((name, label, []))
        paragraphs[-1][2].append(_mark(a, names))
    out = []
    for name, label, words in paragraphs:
        who = html.escape(name or "(missed)")
        tag = f' <span class="label">{html.escape(label)}</span>' if label and label != name else ""
        out.append(f'<p class="turn"><b style="color:{colours.get(name or "", "#444")}">{who}</b>'
                   f'{tag} {" ".join(words)}</p>')
    return "\n".join(out)


def _mark(a: ev.AlignedWord, names: dict[str, str]) -> str:
    """One aligned step as HTML: plain when it agrees, marked when it does not."""
    ref, hyp = html.escape(a.ref or ""), html.escape(a.hyp or "")
    if a.op == "delete":
        return f'<del title="missed; said by {html.escape(a.ref_speaker or "?")}">{ref}</del>'
    if a.op == "insert":
        return f'<ins title="not in the reference">{hyp}</ins>'
    word = hyp if a.op == "equal" else f'<span class="sub"><del>{ref}</del><ins>{hyp}</ins></span>'
    said_by = names.get(a.hyp_speaker or "", a.hyp_speaker)
    if said_by != a.ref_speaker:
        speaker = html.escape(a.ref_speaker or "?")
        return f'<mark class="spk" title="reference speaker: {speaker}">{word}</mark>'
    return word


# -- the conformed transcript ------------------------------------------------------------------


def _conformed_section(report: CheckReport, colours: dict[str, str], audio_src: str | None) -> str:
    """The published transcript re-timed: an audio player, the places to listen to, the words."""
    c = report.conformed
    if c is None:
        return ""
    if audio_src is None:
        audio_src = audio_address(report.audio, Path.cwd()) if report.audio else ""
    listen = "".join(
        f'<tr><td><a data-start="{d.start:.3f}">{_clock(d.start)}</a></td><td>{html.escape(d.published)}</td>'
        f"<td>{html.escape(d.diarized)}</td><td>{html.escape(d.text)}</td></tr>" for d in c.disagreements)
    gaps = "".join(
        f'<tr><td><a data-start="{g.start:.3f}">{_clock(g.start)}</a></td><td>{g.end - g.start:.1f} s</td>'
        f"<td>{html.escape(g.heard or '(no speech heard)')}</td></tr>" for g in c.gaps)
    unspoken = "".join(f"<tr><td>{html.escape(u.speaker)}</td><td>{html.escape(u.text)}</td></tr>"
                       for u in c.unspoken)
    return f"""<h2>Conformed transcript</h2>
<p class="key">The publisher's words and speakers, timed from the audio. Click a word to play the episode
from there. Marks: <span class="interpolated">time interpolated</span>, <span class="unspoken">not
broadcast</span>, <mark class="dis">publisher and diarization name different speakers</mark>,
<span class="gap">[broadcast not in the text]</span>.</p>
<audio id="episode" controls preload="metadata" src="{html.escape(audio_src)}"></audio>
<h3>Where the publisher and diarization disagree ({len(c.disagreements)})</h3>
<table class="disagreements"><tr><th>at</th><th>publisher</th><th>diarization</th><th>words</th></tr>{listen}</table>
<h3>Broadcast not in the text ({len(c.gaps)})</h3>
<table class="gaps"><tr><th>at</th><th>length</th><th>heard</th></tr>{gaps}</table>
<h3>Text not broadcast ({len(c.unspoken)})</h3>
<table class="unspoken-lines"><tr><th>speaker</th><th>text</th></tr>{unspoken}</table>
<div class="conformed">
{_conformed_turns(c, colours)}
</div>
<script>{_SCRIPT}</script>"""


def _conformed_turns(c: ConformedTranscript, colours: dict[str, str]) -> str:
    """A paragraph per published turn; each timed word a ``data-start`` span, gaps in their place."""
    disagreeing = {i: d for d in c.disagreements for i in range(d.first, d.first + d.count)}
    gaps = sorted(c.gaps, key=lambda g: g.start)
    out = []
    for turn in c.turns:
        parts: list[str] = []
        for i in range(turn.first, turn.first + turn.count):
            w = c.words[i]
            while gaps and w.start is not None and w.start >= gaps[0].end - 1e-6:
                g = gaps.pop(0)
                parts.append(f'<span class="gap" data-start="{g.start:.3f}">[{g.end - g.start:.1f} s not in the '
                             f"text{': ' + html.escape(g.heard) if g.heard else ''}]</span>")
            parts.append(_conformed_word(w, disagreeing.get(i)))
        clock = f'<span class="clock">{_clock(turn.start)}</span>' if turn.start is not None else ""
        out.append(f'<p class="turn"><b style="color:{colours.get(turn.speaker, "#444")}">'
                   f"{html.escape(turn.speaker)}</b> {clock}{' '.join(parts)}</p>")
    return "\n".join(out)


def _conformed_word(w, disagreement) -> str:
    text = html.escape(w.text)
    if w.start is None:
        return f'<span class="unspoken" title="not broadcast">{text}</span>'
    css = ' class="interpolated"' if w.source == TimeSource.INTERPOLATED else ""
    word = (f'<span{css} data-start="{w.start:.3f}" title="{w.start:.2f}–{w.end:.2f} s, {w.source}">'
            f"{text}</span>")
    if disagreement is not None:
        return f'<mark class="dis" title="diarization: {html.escape(disagreement.diarized)}">{word}</mark>'
    return word
