"""The conformed transcript's formats: ``STEM.conformed.json .txt .tsv .srt .vtt``.

The words are the publisher's and so are the speakers; only the times come from the audio.

* ``json``: everything (:class:`~pipeline.types.ConformedTranscript`: words with speaker, start,
  end and source; turns; gaps; unspoken lines; disagreements), read back with :func:`read_json`;
* ``txt``: ``NAME: text`` paragraphs of the publisher's words, unspoken ones included;
* ``tsv``: one word a row, with how its time was found (empty times for an unspoken word);
* ``srt`` and ``vtt``: captions (:mod:`pipeline.outputs.captions`) of the broadcast words, the
  speaker named at each change (SRT ``NAME: ``; a WebVTT ``<v NAME>`` voice span on every cue).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from pipeline.layout import CONFORMED_FORMATS, EpisodeFiles, ensure_dir, write_atomic
from pipeline.outputs import captions
from pipeline.outputs.writers import read_document
from pipeline.types import ConformedTranscript, to_dict

logger = logging.getLogger(__name__)

Writer = Callable[[ConformedTranscript, TextIO], None]


def write_json(conformed: ConformedTranscript, stream: TextIO) -> None:
    json.dump(to_dict(conformed), stream, ensure_ascii=False, indent=1)
    stream.write("\n")


def read_json(path: str | Path) -> ConformedTranscript:
    """A :class:`ConformedTranscript` from a file :func:`write_json` wrote."""
    return read_document(path, ConformedTranscript.from_dict, "a conformed transcript")


def write_txt(conformed: ConformedTranscript, stream: TextIO) -> None:
    paragraphs = [f"{t.speaker}: {t.text}" for t in conformed.turns if t.text]
    if paragraphs:
        stream.write("\n\n".join(paragraphs) + "\n")


def write_tsv(conformed: ConformedTranscript, stream: TextIO) -> None:
    stream.write("start\tend\tspeaker\tsource\ttext\n")
    for w in conformed.words:
        start = "" if w.start is None else f"{w.start:.3f}"
        end = "" if w.end is None else f"{w.end:.3f}"
        stream.write(f"{start}\t{end}\t{w.speaker}\t{w.source}\t{w.text}\n")


def cues(conformed: ConformedTranscript) -> list[captions.Cue]:
    """Caption cues of the broadcast words, a block per published turn."""
    blocks = []
    for turn in conformed.turns:
        words = tuple(captions.CaptionWord(w.start, w.end, w.text)
                      for w in conformed.words[turn.first:turn.first + turn.count] if w.start is not None)
        if words:
            blocks.append(captions.Block(turn.speaker, words))
    return captions.cues(blocks, _srt_label)


def _srt_label(name: str, first: bool) -> str:
    return f"{name}: " if first else ""


def write_srt(conformed: ConformedTranscript, stream: TextIO) -> None:
    stream.write(captions.srt(cues(conformed), _srt_label))


def write_vtt(conformed: ConformedTranscript, stream: TextIO) -> None:
    stream.write(captions.vtt(cues(conformed)))


WRITERS: dict[str, Writer] = {"json": write_json, "txt": write_txt, "tsv": write_tsv, "srt": write_srt,
                              "vtt": write_vtt}


def write(conformed: ConformedTranscript, files: EpisodeFiles,
          formats: Sequence[str] = CONFORMED_FORMATS) -> list[Path]:
    """Write ``files.conformed(format)`` for each of ``formats`` that is a conformed format."""
    ensure_dir(files.folder)
    paths = []
    for fmt in dict.fromkeys(formats):
        if fmt not in WRITERS:
            continue
        path = files.conformed(fmt)
        write_atomic(path, lambda stream, writer=WRITERS[fmt]: writer(conformed, stream))
        logger.info("wrote %s", path)
        paths.append(path)
    return paths
