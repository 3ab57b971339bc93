"""Caption cues as broadcast captioning lays them out, and their SRT and WebVTT text.

The limits are the common broadcast ones (BBC, Netflix and EBU guidelines agree on them):

* at most ``MAX_LINE_CHARS`` characters a line and ``MAX_LINES`` lines a cue;
* a cue on screen for ``MIN_SECONDS`` to ``MAX_SECONDS`` (a short cue is held longer, up to the
  next cue's start);
* a new cue at every speaker change, and no cue across a pause of ``MAX_PAUSE`` seconds;
* cues broken at sentence ends where possible, else at clause ends (``,;:`` and dashes), and
  lines broken the same way, as evenly as they can be.

:func:`cues` chooses each block's break points by dynamic programming over the cost of each cue
(one for the cue, more for a break that is not at a sentence end and for a cue shorter than
``MIN_SECONDS``); a single word too long for a line is a cue of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

MAX_LINE_CHARS = 42
MAX_LINES = 2
MIN_SECONDS = 1.0
MAX_SECONDS = 7.0
MAX_PAUSE = 2.0
_CLAUSE = (",", ";", ":", "—", "–", "-")
_SENTENCE = (".", "?", "!", "…")
_CLOSERS = "\"'”’)]"


@dataclass(frozen=True)
class CaptionWord:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Block:
    """Consecutive words of one speaker (a turn)."""

    speaker: str
    words: tuple[CaptionWord, ...]


@dataclass(frozen=True)
class Cue:
    """One caption: ``first`` when it opens its block (a speaker change)."""

    start: float
    end: float
    speaker: str
    lines: tuple[str, ...]
    first: bool


def cues(blocks: Sequence[Block], label: Callable[[str, bool], str] = lambda name, first: "") -> list[Cue]:
    """The cues of ``blocks`` in order; ``label(name, first)`` is text shown before a cue's first
    line (SRT's ``NAME: ``), which counts towards that line's length."""
    out: list[Cue] = []
    for block in blocks:
        words = [w for w in block.words if w.text.strip()]
        indents = {first: len(label(block.speaker, first)) for first in (True, False)}
        for k, (i, j) in enumerate(_breaks(words, indents)):
            chunk = words[i:j]
            lines = _lines([w.text.strip() for w in chunk], indents[k == 0])
            out.append(Cue(chunk[0].start, max(w.end for w in chunk), block.speaker, tuple(lines), k == 0))
    return _hold(out)


def _breaks(words: Sequence[CaptionWord], indents: dict[bool, int]) -> list[tuple[int, int]]:
    """The cheapest split of ``words`` into cues: ``[(start, stop), ...]``; ``indents[first]`` is
    the label's length on the block's first cue and on the others."""
    n = len(words)
    best: list[tuple[float, int]] = [(0.0, -1)] + [(float("inf"), -1)] * n
    for j in range(1, n + 1):
        for i in range(j - 1, -1, -1):
            chunk = words[i:j]
            if j - i > 1 and not _fits(chunk, indents[i == 0]):
                break
            cost = best[i][0] + 1.0 + _break_cost(words[j - 1].text, j == n)
            if chunk[-1].end - chunk[0].start < MIN_SECONDS and n > j - i:
                cost += 3.0
            if cost < best[j][0]:
                best[j] = (cost, i)
    spans, j = [], n
    while j > 0:
        i = best[j][1]
        spans.append((i, j))
        j = i
    return spans[::-1]


def _fits(chunk: Sequence[CaptionWord], indent: int) -> bool:
    if chunk[-1].end - chunk[0].start > MAX_SECONDS:
        return False
    if any(b.start - a.end > MAX_PAUSE for a, b in zip(chunk, chunk[1:], strict=False)):
        return False
    return _lines([w.text.strip() for w in chunk], indent, strict=True) is not None


def _break_cost(text: str, last: bool) -> float:
    end = text.rstrip(_CLOSERS)
    if last or end.endswith(_SENTENCE):
        return 0.0
    return 1.0 if end.endswith(_CLAUSE) else 4.0


def _lines(texts: Sequence[str], indent: int, strict: bool = False) -> list[str] | None:
    """The words in at most two lines of ``MAX_LINE_CHARS`` (the first ``indent`` shorter), broken
    at a clause end where one is near the middle; None when they do not fit (``strict``), else
    one overlong line."""
    one = " ".join(texts)
    if indent + len(one) <= MAX_LINE_CHARS:
        return [one]
    options = []
    for k in range(1, len(texts)):
        top, bottom = " ".join(texts[:k]), " ".join(texts[k:])
        if indent + len(top) <= MAX_LINE_CHARS and len(bottom) <= MAX_LINE_CHARS:
            penalty = 0 if texts[k - 1].rstrip(_CLOSERS).endswith(_SENTENCE + _CLAUSE) else 12
            options.append((abs(indent + len(top) - len(bottom)) + penalty, [top, bottom]))
    if options:
        return min(options, key=lambda o: o[0])[1]
    return None if strict else [one]


def _hold(out: list[Cue]) -> list[Cue]:
    """Every cue at least ``MIN_SECONDS`` on screen where the next one leaves room, at most
    ``MAX_SECONDS``, and never past the next cue's start."""
    held = []
    for k, cue in enumerate(out):
        limit = out[k + 1].start if k + 1 < len(out) else float("inf")
        end = min(max(cue.end, cue.start + MIN_SECONDS), cue.start + MAX_SECONDS)
        end = max(min(end, limit), cue.start + 0.001)
        held.append(Cue(cue.start, round(end, 3), cue.speaker, cue.lines, cue.first))
    return held


# Text
# ----


def timestamp(seconds: float, decimal: str) -> str:
    """``HH:MM:SS,mmm`` (SRT) or ``HH:MM:SS.mmm`` (VTT)."""
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{ms:03d}"


def vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def srt(out: Sequence[Cue], label: Callable[[str, bool], str]) -> str:
    """SubRip text; ``label(name, first)`` goes before each cue's first line."""
    parts = []
    for n, cue in enumerate(out, start=1):
        text = label(cue.speaker, cue.first) + "\n".join(cue.lines)
        parts.append(f"{n}\n{timestamp(cue.start, ',')} --> {timestamp(cue.end, ',')}\n{text}\n\n")
    return "".join(parts)


def vtt(out: Sequence[Cue]) -> str:
    """WebVTT text, every cue in a ``<v NAME>`` voice span."""
    parts = ["WEBVTT\n\n"]
    for cue in out:
        text = "\n".join(vtt_escape(line) for line in cue.lines)
        parts.append(f"{timestamp(cue.start, '.')} --> {timestamp(cue.end, '.')}\n"
                     f"<v {vtt_escape(cue.speaker)}>{text}\n\n")
    return "".join(parts)
