"""Turns and sentences of a scraped NPR transcript page (pure text handling, no audio).

A deliberately small parser, independent of the pipeline's own ``pipeline/reference.py``:

* a turn starts at a paragraph ``NAME: text`` or ``NAME, ROLE: text`` with NAME in capitals; the
  speaker id is the surname (``MICHELE KELEMEN, BYLINE`` -> ``KELEMEN``);
* the unlabelled paragraph right before the first label is the host's opening; the host is the
  speaker with the most turns;
* unlabelled paragraphs after a turn continue it, until NPR's closing line
  ("Transcript provided by NPR ..."), where the transcript ends and site text begins;
* stage directions, ``(SOUNDBITE OF ...)`` or ``[...]``, are dropped.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

LABEL = re.compile(
    r"^(?P<name>[A-Z][A-Z'.\- ]*[A-Z.]|[A-Z][A-Z ]* #\d+)(?:, (?P<role>[A-Z][A-Z ,'.\-]*))?: (?P<text>\S.*)$"
)
END_MARK = re.compile(r"\s*Transcript provided by NPR\b.*$", re.S)
STAGE = re.compile(r"\((?=[^)]*[A-Z]{2})[A-Z0-9 ,.'\-:]+\)|\[[^\]]*\]")
SENTENCE_END = re.compile(r"[.!?][\"”’)]*(?=\s+[\"“(]?[A-Z0-9])")
ABBREVIATIONS = frozenset(
    "Mr Mrs Ms Dr St Sen Rep Gov Gen Lt Col Sgt Jr Sr Prof Mt Ft No Rev Hon Capt Adm Cmdr Maj Pres".split()
)
MIN_OPENING_WORDS = 12


@dataclass(frozen=True)
class Turn:
    speaker: str  # surname in capitals, e.g. "KELEMEN"
    text: str


def _paragraphs(page: str) -> list[str]:
    return [line.strip() for line in page.splitlines() if line.strip()]


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", STAGE.sub(" ", text)).strip()


def _speaker(name: str) -> str:
    if "#" in name:  # UNIDENTIFIED PERSON #1
        return "_".join(name.split())
    return name.split()[-1].strip(".").upper()


def parse_turns(page: str) -> list[Turn]:
    """The spoken turns of a transcript page, site text and stage directions removed."""
    paragraphs = _paragraphs(page)
    first = next((i for i, p in enumerate(paragraphs) if LABEL.match(p)), None)
    if first is None:
        raise ValueError("no 'NAME: text' paragraph found: not an NPR transcript page")
    turns: list[list[str]] = []  # [speaker, text] while building
    for paragraph in paragraphs[first:]:
        label = LABEL.match(paragraph)
        text = label["text"] if label else paragraph
        end = END_MARK.search(text)
        if end:
            text = text[: end.start()]
        if label:
            turns.append([_speaker(label["name"]), text])
        else:
            turns[-1][1] += " " + text
        if end:
            break
    host = Counter(speaker for speaker, _ in turns).most_common(1)[0][0]
    if first > 0 and len(paragraphs[first - 1].split()) >= MIN_OPENING_WORDS:
        turns.insert(0, [host, paragraphs[first - 1]])
    cleaned = [Turn(speaker, _clean(text)) for speaker, text in turns]
    return [turn for turn in cleaned if turn.text]


def _ends_sentence(text: str, at: int) -> bool:
    """False after a title ("Dr."), an initial ("J.") or a dotted acronym ("U.S.")."""
    word = text[text.rfind(" ", 0, at) + 1: at].lstrip("\"“(")
    if word in ABBREVIATIONS:
        return False
    return not re.fullmatch(r"[A-Z]|(?:[A-Za-z]\.)+[A-Za-z]", word)


def split_sentences(text: str) -> list[str]:
    """Sentences of one turn, split after . ! ? (and closing quotes) before a capital or digit."""
    out, cut = [], 0
    for match in SENTENCE_END.finditer(text):
        if _ends_sentence(text, match.start()):
            out.append(text[cut: match.end()].strip())
            cut = match.end()
    out.append(text[cut:].strip())
    return [s for s in out if s]
