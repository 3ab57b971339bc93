"""Output formats: a registry of writers keyed by format name, as whisper's ``utils.py`` has.

Every writer is a function ``writer(result, stream)`` that writes one :class:`RunResult` to a
text stream; :data:`WRITERS` maps the format name (which is also the file extension) to it.
:func:`write` puts the chosen formats in a directory, each file written atomically: a temporary
file beside the target, flushed and fsynced, then renamed over it, so a failure leaves neither a
partial file nor a temporary one behind.

Formats: ``txt`` (a published-transcript style ``NAME: text`` per turn), ``json`` (everything,
read back with :func:`read_json`), ``srt`` and ``vtt`` (subtitles labelled with the speaker),
``rttm`` (speaker turns, for diarization tools), ``tsv`` (one word a row). The published
transcript re-timed has writers of its own (:mod:`pipeline.outputs.conformed`).
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TextIO, TypeVar

from pipeline.errors import OutputError
from pipeline.layout import EpisodeFiles, ensure_dir, write_atomic
from pipeline.outputs import captions
from pipeline.types import AttributedWord, RunResult, SpeakerTurn, to_dict

T = TypeVar("T")

logger = logging.getLogger(__name__)

Writer = Callable[[RunResult, TextIO], None]


def write_txt(result: RunResult, stream: TextIO) -> None:
    """One ``NAME: text`` paragraph per turn, a blank line between them."""
    paragraphs = [f"{result.name_of(t.speaker)}: {t.text.strip()}" for t in result.turns]
    if paragraphs:
        stream.write("\n\n".join(paragraphs) + "\n")


def write_json(result: RunResult, stream: TextIO) -> None:
    """The whole result; :func:`read_json` reads it back to an equal :class:`RunResult`."""
    json.dump(to_dict(result), stream, ensure_ascii=False, indent=2)
    stream.write("\n")


def read_json(path: str | Path) -> RunResult:
    """A :class:`RunResult` from a file :func:`write_json` wrote."""
    return read_document(path, RunResult.from_dict, "a pipeline result")


def read_document(path: str | Path, parse: Callable[[dict], T], what: str) -> T:
    """``parse`` applied to the JSON in ``path``; an :class:`OutputError` naming the file otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise OutputError(f"{path}: cannot read ({e.strerror or e})") from e
    except ValueError as e:
        raise OutputError(f"{path}: not valid JSON ({e})") from e
    try:
        return parse(data)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise OutputError(f"{path}: not {what} ({type(e).__name__}: {e})") from e


def write_srt(result: RunResult, stream: TextIO) -> None:
    """SubRip cues (:mod:`~pipeline.outputs.captions`), each of one speaker, prefixed ``[NAME] ``."""
    stream.write(captions.srt(_cues(result), _srt_label))


def write_vtt(result: RunResult, stream: TextIO) -> None:
    """WebVTT cues, each of one speaker, in a ``<v NAME>`` voice span."""
    stream.write(captions.vtt(_cues(result)))


def write_rttm(result: RunResult, stream: TextIO) -> None:
    """NIST RTTM: the overlap-aware diarization turns, or the transcript's turns without them."""
    spans = [(t.start, t.end, t.speaker) for t in result.diarization] or [
        (t.start, t.end, t.speaker) for t in result.turns
    ]
    stream.write(rttm_text(Path(result.audio).stem, spans, result.name_of))


def rttm_text(uri: str, spans: Iterable[tuple[float, float, str]],
              name_of: Callable[[str], str] = str) -> str:
    """RTTM lines for ``(start, end, speaker)`` spans; names and the uri have no spaces."""
    uri = _no_spaces(uri) or "audio"
    lines = []
    for start, end, speaker in sorted(spans):
        if end > start:
            name = _no_spaces(name_of(speaker)) or _no_spaces(speaker) or "unknown"
            lines.append(f"SPEAKER {uri} 1 {start:.3f} {end - start:.3f} <NA> <NA> {name} <NA> <NA>\n")
    return "".join(lines)


def write_tsv(result: RunResult, stream: TextIO) -> None:
    """One word a row: start and end in seconds, the speaker's name, the word."""
    stream.write("start\tend\tspeaker\ttext\n")
    for w in _words(result):
        text = " ".join(w.text.split())
        stream.write(f"{w.start:.3f}\t{w.end:.3f}\t{_one_line(result.name_of(w.speaker))}\t{text}\n")


WRITERS: dict[str, Writer] = {
    "txt": write_txt,
    "json": write_json,
    "srt": write_srt,
    "vtt": write_vtt,
    "rttm": write_rttm,
    "tsv": write_tsv,
}


def check_formats(formats: Sequence[str]) -> list[str]:
    """The formats without repeats; an unknown one raises :class:`OutputError` naming it."""
    formats = list(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in WRITERS]
    if unknown:
        raise OutputError(f"unknown output format {unknown[0]!r} (known: {', '.join(WRITERS)})")
    return formats


def render(fmt: str, result: RunResult) -> str:
    """One format as a string (for printing)."""
    stream = io.StringIO()
    WRITERS[check_formats([fmt])[0]](result, stream)
    return stream.getvalue()


def write(result: RunResult, files: EpisodeFiles, formats: Sequence[str]) -> list[Path]:
    """Write ``result`` as ``files.output(format)`` for each format; the paths written.

    Every format is checked before anything is written; an unknown one or a directory that
    cannot be created or written raises :class:`OutputError`.
    """
    formats = check_formats(formats)
    ensure_dir(files.folder)
    paths = []
    for fmt in formats:
        path = files.output(fmt)
        write_atomic(path, lambda stream, writer=WRITERS[fmt]: writer(result, stream))
        logger.info("wrote %s", path)
        paths.append(path)
    return paths


# Subtitle cues
# -------------


def _srt_label(name: str, first: bool) -> str:
    return f"[{name}] "


def _cues(result: RunResult) -> list[captions.Cue]:
    """Cues of the result's turns (a turn that has only text gets words timed by length)."""
    blocks = [captions.Block(result.name_of(t.speaker), _caption_words(_turn_words(t))) for t in result.turns]
    return captions.cues(blocks, _srt_label)


def _caption_words(words: Sequence[AttributedWord]) -> tuple[captions.CaptionWord, ...]:
    """Words as a reader sees them: one without a leading space is glued to the one before, as
    :func:`~pipeline.stages.align.join_words` joins them."""
    spaced = any(w.text[:1].isspace() for w in words)
    out: list[captions.CaptionWord] = []
    for w in words:
        if spaced and out and not w.text[:1].isspace():
            out[-1] = captions.CaptionWord(out[-1].start, max(out[-1].end, w.end), out[-1].text + w.text.strip())
        else:
            out.append(captions.CaptionWord(w.start, w.end, w.text.strip()))
    return tuple(out)


def _turn_words(turn: SpeakerTurn) -> tuple[AttributedWord, ...]:
    """A turn's words; for a turn that has only text, words timed by their share of characters."""
    if turn.words:
        return tuple(w for w in turn.words if w.text.strip())
    tokens = turn.text.split()
    total = sum(len(t) for t in tokens)
    words, done = [], 0
    for token in tokens:
        start = turn.start + (turn.end - turn.start) * done / total
        done += len(token)
        end = turn.start + (turn.end - turn.start) * done / total
        words.append(AttributedWord(start, end, token, turn.speaker))
    return tuple(words)


def _words(result: RunResult) -> tuple[AttributedWord, ...]:
    return result.words or tuple(w for t in result.turns for w in _turn_words(t))


def _no_spaces(text: str) -> str:
    return re.sub(r"\s+", "_", text.strip())


def _one_line(text: str) -> str:
    return " ".join(text.split())
