"""Published transcripts as typed turns: who said what, in order, with no times.

Four inputs are understood, told apart by content (and by extension in :func:`load`):

* text scraped from a transcript web page (NPR and member stations): site navigation, station
  boilerplate, donation appeals and the ``Transcript provided by NPR`` trailer are dropped;
* the HTML page itself (``<p>`` paragraphs, maybe inside ``<div class="transcript">``), read with
  the standard library's :mod:`html.parser` and then treated as the scraped text;
* plain ``NAME: text`` lines;
* NIST STM (``file channel speaker start end text``), whose speaker names are kept as written.

NPR labels a speaker with the full name and a title on first appearance (``MICHELE KELEMEN,
BYLINE:``), the surname afterwards (``KELEMEN:``) and a soundbite with the name alone (``JOHN
KERRY:``). All three become one speaker whose canonical name is the upper-case surname, as NPR
writes it later; two people of one surname keep their full names, or the first names the
transcript calls them by later. An unlabelled opening paragraph is the host's, named by its
``I'm Linda Wertheimer``, also when a stage direction separates it from the first label.
Stage directions and bracketed notes (``(SOUNDBITE OF ...)``, ``[inaudible]``) are not words.
Parsing never invents a speaker and raises only :class:`~pipeline.errors.ReferenceError`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from pipeline.errors import ReferenceError
from pipeline.types import Reference, ReferenceTurn

logger = logging.getLogger(__name__)

#: where the transcript ends: NPR's trailer and copyright notice
_END = re.compile(
    r"Transcript provided by NPR|Copyright\s*(?:©|\(c\))?\s*\d{4}\s+NPR|NPR transcripts are created",
    re.IGNORECASE,
)
#: whole paragraphs of page chrome and station boilerplate
_BOILERPLATE = re.compile(
    r"""^(?:play\ live\ radio|next\ up:?|available\ on\ air\ stations|live\ radio|listen(?:\ live)?
        |donate|skip\ to\ (?:main\ )?content|menu|search|close|share|[\d:\s]+)$
      |^(?:©|copyright\b)
      |all\ rights\ reserved\.?$
      |made\ possible\ by\ (?:donors|listeners|your)
      |\bdonate\ (?:today|now)\b
      |thanks\ to\ your\ generosity
      |become\ a\ (?:sustaining\ )?member""",
    re.IGNORECASE | re.VERBOSE,
)
_DIRECTION = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_LABEL = re.compile(r"^([^:]{1,80}?)\s*:(?:\s+(.*))?$", re.DOTALL)
_LABEL_CHARS = re.compile(r"^[^\W\d_][\w .'’&#/-]*(?:,[\w .'’&#/-]*)*$")
_IM = re.compile(r"\bI['’]m\s+((?:[^\W\d_][\w'’.-]*\s+){1,3}[^\W\d_][\w'’-]*)")
_STM_LINE = re.compile(r"^(\S+)\s+(\S+)\s+(\S+)\s+(-?\d+(?:\.\d*)?)\s+(-?\d+(?:\.\d*)?)(?:\s+(.*))?$")
_STM_TAG = re.compile(r"^<[^>]*>\s*")
_NOT_SPEAKERS = frozenset(
    {"NOTE", "EDITOR'S NOTE", "EDITOR’S NOTE", "CORRECTION", "UPDATE", "UPDATED", "TRANSCRIPT",
     "COPYRIGHT", "SOURCE", "PHOTO", "AUDIO", "LISTEN", "WATCH", "RELATED", "PUBLISHED", "BY",
     "HTTP", "HTTPS", "TAGS", "DATE", "TIME"}
)
_SUFFIXES = frozenset({"JR", "JR.", "SR", "SR.", "II", "III", "IV"})
_MAX_NAME_WORDS = 6


@dataclass(frozen=True)
class _Label:
    """``MICHELE KELEMEN, BYLINE: text`` split into its name, title and text."""

    name: str
    title: str
    text: str


def load(path: str | Path) -> Reference:
    """Read a published transcript file; the format comes from the extension, else the content."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise ReferenceError(f"{path}: cannot read the transcript ({e.strerror or e})") from e
    suffix = path.suffix.lower()
    if suffix == ".stm":
        return parse_stm(text, source=str(path))
    if suffix in (".html", ".htm"):
        return parse_html(text, source=str(path))
    return parse(text, source=str(path))


def parse(text: str, *, source: str = "<text>") -> Reference:
    """Parse a transcript whose format is told by its content: HTML, STM, or text."""
    if _looks_like_html(text):
        return parse_html(text, source=source)
    if _looks_like_stm(text):
        return parse_stm(text, source=source)
    return parse_text(text, source=source)


def parse_text(text: str, *, source: str = "<text>") -> Reference:
    """Parse scraped web-page text or plain ``NAME: text`` lines, one paragraph a line."""
    return _parse_paragraphs(text.splitlines(), source=source)


def parse_html(text: str, *, source: str = "<html>") -> Reference:
    """Parse a transcript web page: its ``<p>`` paragraphs, or those of its transcript ``<div>``."""
    reader = _HtmlParagraphs()
    try:
        reader.feed(text)
        reader.close()
    except Exception as e:  # html.parser is lenient, but keep the promise of ReferenceError only
        raise ReferenceError(f"{source}: unreadable HTML ({e})") from e
    paragraphs = reader.transcript or reader.paragraphs
    return _parse_paragraphs(paragraphs, source=source, title=reader.title)


def parse_stm(text: str, *, source: str = "<stm>") -> Reference:
    """Parse STM; consecutive segments of one speaker become one turn, names kept as written."""
    turns: list[ReferenceTurn] = []
    for speaker, _, _, words in _stm_segments(text):
        words = _clean(words)
        if not words:
            continue
        if turns and turns[-1].speaker == speaker:
            turns[-1] = ReferenceTurn(speaker, f"{turns[-1].text} {words}")
        else:
            turns.append(ReferenceTurn(speaker, words))
    if not turns:
        raise ReferenceError(f"{source}: no transcript found (no STM segment with words)")
    speakers = tuple(dict.fromkeys(t.speaker for t in turns))
    same = {s: s for s in speakers}
    return Reference(tuple(turns), speakers, "", same, dict(same))


def load_stm_segments(path: str | Path) -> list[tuple[str, float, float, str]]:
    """The STM segments of ``path`` as ``(speaker, start, end, text)``, in file order."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise ReferenceError(f"{path}: cannot read the transcript ({e.strerror or e})") from e
    segments = _stm_segments(text)
    if not segments:
        raise ReferenceError(f"{path}: no STM segments found")
    return segments


# -- format detection -------------------------------------------------------------------------


def _looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    if head.startswith(("<!doctype html", "<html")):
        return True
    return len(re.findall(r"<(?:p|div|body|br)\b[^>]*>", text, re.IGNORECASE)) >= 2


def _looks_like_stm(text: str) -> bool:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(";;")]
    if not lines:
        return False
    matching = sum(1 for ln in lines if _STM_LINE.match(ln.strip()))
    return matching >= 0.8 * len(lines)


def _stm_segments(text: str) -> list[tuple[str, float, float, str]]:
    segments = []
    for line in text.splitlines():
        m = _STM_LINE.match(line.strip())
        if not m or line.startswith(";;"):
            continue
        words = _STM_TAG.sub("", m.group(6) or "").strip()
        if words.lower() == "ignore_time_segment_in_scoring":
            continue
        segments.append((m.group(3), float(m.group(4)), float(m.group(5)), words))
    return segments


# -- text: paragraphs to turns ----------------------------------------------------------------


def _parse_paragraphs(lines: list[str], *, source: str, title: str | None = None) -> Reference:
    paragraphs = [p for p in (" ".join(line.split()) for line in lines) if p]
    labels = [_label(_clean(p)) for p in paragraphs]
    first = next((i for i, lab in enumerate(labels) if lab is not None), None)
    if first is None:
        raise ReferenceError(f"{source}: no transcript found (no 'NAME: text' speaker labels)")
    speakers = _Speakers([lab.name for lab in labels if lab is not None])
    start, opening_speaker = _opening(paragraphs, labels, first, speakers)
    turns = _body(paragraphs[first:], labels[first:], speakers)
    if opening_speaker is not None:
        opening = [t for t in (_clean(p) for p in paragraphs[start:first]) if t]  # directions: empty
        turns.insert(0, (opening_speaker, opening))
    turns = _merge(turns)
    if not turns:
        raise ReferenceError(f"{source}: no transcript found (speaker labels but no words)")
    if title is None:
        title = _title(paragraphs, start)
    kept = tuple(dict.fromkeys(s for s, _ in turns))
    return Reference(
        turns=tuple(ReferenceTurn(s, t) for s, t in turns),
        speakers=kept,
        title=title,
        aliases={a: c for a, c in speakers.aliases.items() if c in kept},
        full_names={c: n for c, n in speakers.full_names.items() if c in kept},
    )


def _opening(
    paragraphs: list[str], labels: list[_Label | None], first: int, speakers: _Speakers
) -> tuple[int, str | None]:
    """Where the unlabelled host paragraphs before the first label start, and whose they are.

    The host is the one an opening paragraph introduces ("I'm Linda Wertheimer"), else the only
    speaker labelled as HOST (then only the paragraph just before the first label counts), else
    nobody: the opening is dropped rather than given to a made-up speaker. A stage direction
    alone between the opening and the first label (``(SOUNDBITE OF ARCHIVED RECORDING)``, before
    a soundbite that opens the transcript) is stepped over.
    """
    last = first  # the end of the opening: the first label, less the stage directions before it
    while last > 0 and not _clean(paragraphs[last - 1]) and paragraphs[last - 1].strip():
        last -= 1
    start = last
    while start > 0 and _is_prose(paragraphs[start - 1]) and not _BOILERPLATE.search(paragraphs[start - 1]):
        start -= 1
    if start == last:
        return first, None
    for i in range(last - 1, start - 1, -1):
        name = _introduced_name(paragraphs[i])
        if name is not None:
            return i, speakers.resolve(name)
    hosts = {speakers.canonical_of(lab.name): lab.name for lab in labels if lab and "HOST" in lab.title}
    if len(hosts) == 1:
        return last - 1, speakers.resolve(next(iter(hosts.values())))
    if start < first:
        logger.info("dropping an unlabelled opening paragraph that names no speaker")
    return first, None


def _body(
    paragraphs: list[str], labels: list[_Label | None], speakers: _Speakers
) -> list[tuple[str, list[str]]]:
    """Labelled paragraphs and their unlabelled continuations, up to the transcript's end."""
    turns: list[tuple[str, list[str]]] = []
    for paragraph, label in zip(paragraphs, labels, strict=True):
        end = _END.search(paragraph)
        if end:
            paragraph = paragraph[: end.start()]
            label = _label(_clean(paragraph))
        if label is not None:
            turns.append((speakers.resolve(label.name), [label.text] if label.text else []))
        elif turns and not _is_chrome(paragraph):
            text = _clean(paragraph)
            if text:
                turns[-1][1].append(text)
        if end:
            break
    return turns


def _merge(turns: list[tuple[str, list[str]]]) -> list[tuple[str, str]]:
    """Join each turn's paragraphs, drop empty turns and merge consecutive turns of one speaker."""
    merged: list[tuple[str, str]] = []
    for speaker, texts in turns:
        text = " ".join(t for t in texts if t)
        if not text:
            continue
        if merged and merged[-1][0] == speaker:
            merged[-1] = (speaker, f"{merged[-1][1]} {text}")
        else:
            merged.append((speaker, text))
    return merged


def _title(paragraphs: list[str], start: int) -> str:
    """The story's title: the nearest short, non-boilerplate, non-prose line before the transcript."""
    for paragraph in reversed(paragraphs[max(0, start - 6) : start]):
        if _BOILERPLATE.search(paragraph) or _is_prose(paragraph):
            continue
        if len(paragraph.split()) <= 25 and _label(paragraph) is None:
            return paragraph
    return ""


# -- paragraphs, labels and names -------------------------------------------------------------


def _clean(text: str) -> str:
    """The paragraph without stage directions and bracketed notes, whitespace collapsed."""
    previous = None
    while previous != text:
        previous, text = text, _DIRECTION.sub(" ", text)
    return " ".join(text.split())


def _label(paragraph: str) -> _Label | None:
    """``NAME[, TITLE]: text`` when NAME is an upper-case speaker label, else None."""
    m = _LABEL.match(paragraph)
    if not m:
        return None
    label = m.group(1).strip()
    if label != label.upper() or not _LABEL_CHARS.match(label):
        return None
    name, _, title = (" ".join(part.split()) for part in label.partition(","))
    if not name or name in _NOT_SPEAKERS or len(name.split()) > _MAX_NAME_WORDS:
        return None
    if not any(c.isalpha() for c in name):
        return None
    return _Label(name, title, (m.group(2) or "").strip())


def _introduced_name(paragraph: str) -> str | None:
    """``LINDA WERTHEIMER`` from "... I'm Linda Wertheimer in for Scott Simon ..."."""
    m = _IM.search(paragraph)
    if not m:
        return None
    words = []
    for word in m.group(1).split():
        if not word[0].isupper():
            break
        words.append(word.rstrip(".,;:!?'’"))
        if word.rstrip("'’\"”").endswith((".", ",", ";", ":", "!", "?")):
            break  # "I'm Nora Vance. The council...": the name ends with its sentence
    words = [w for w in words if w]
    return " ".join(words).upper() if len(words) >= 2 else None


def _is_prose(paragraph: str) -> bool:
    text = paragraph.rstrip("\"'”’) ")
    return len(paragraph.split()) >= 4 and text.endswith((".", "?", "!", "…"))


def _is_chrome(paragraph: str) -> bool:
    """Page chrome between or after turns: boilerplate, or a short line that is not speech."""
    if _BOILERPLATE.search(paragraph):
        return True
    ends_like_speech = paragraph.rstrip("\"'”’) ").endswith((".", "?", "!", "…", ",", ";", "-", "—"))
    return len(paragraph.split()) < 6 and not ends_like_speech and bool(_clean(paragraph))


class _Speakers:
    """Labels seen so far, resolved to canonical names (the upper-case surname).

    ``names``, every label of the transcript in order, settle two cases first. A one-word label
    that is the first name of exactly one full name (``ROSA:`` after ``ROSA DELGADO:``) is that
    person. When two full names share the surname and the transcript calls them by their first
    names later, the first names are their canonical names (``ROSA``, ``MARISOL``); otherwise the
    first keeps the surname and the second the full name.
    """

    def __init__(self, names: list[str] | tuple[str, ...] = ()) -> None:
        self.aliases: dict[str, str] = {}
        self.full_names: dict[str, str] = {}
        full = [n for n in dict.fromkeys(names) if self.canonical_of(n) != n]
        surnames = [self.canonical_of(n) for n in full]
        singles = {n for n in names if " " not in n}
        for name, surname in zip(full, surnames, strict=True):
            first = name.split()[0]
            if first not in singles or first in surnames or sum(f.split()[0] == first for f in full) > 1:
                continue
            if surnames.count(surname) > 1:
                self.aliases[name] = self.aliases[first] = first
                self.full_names[first] = name
            else:
                self.aliases[first] = surname

    @staticmethod
    def canonical_of(name: str) -> str:
        words = name.split()
        if len(words) == 1 or words[0] == "UNIDENTIFIED" or any(c.isdigit() or c == "#" for c in name):
            return name
        while len(words) > 1 and words[-1] in _SUFFIXES:
            words.pop()
        return words[-1]

    def resolve(self, name: str) -> str:
        if name in self.aliases:
            return self.aliases[name]
        canonical = self.canonical_of(name)
        known = self.full_names.get(canonical)
        if known is not None and " " in known and " " in name and known != canonical and name != known:
            canonical = name  # a second person with the same surname keeps the full name
        self.aliases[name] = canonical
        if len(name) > len(self.full_names.get(canonical, "")):
            self.full_names[canonical] = name
        return canonical


class _HtmlParagraphs(HTMLParser):
    """Text blocks of an HTML page, the transcript container's apart, and the ``<h1>`` title."""

    _BLOCKS = frozenset(
        {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article",
         "header", "footer", "blockquote", "main", "ul", "ol", "table", "figure", "figcaption"}
    )
    _SKIP = frozenset({"head", "script", "style", "noscript", "template", "svg", "nav", "aside", "form",
                       "button", "select", "iframe"})
    _VOID = frozenset({"br", "img", "meta", "link", "input", "hr", "source", "wbr", "area", "col"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self.transcript: list[str] = []
        self._titles: dict[str, str] = {}  # the first <h1> and <title>
        self._stack: list[tuple[str, bool, bool]] = []  # tag, skipped, opens the transcript
        self._buffer: list[str] = []
        self._capture: tuple[str, list[str]] | None = None

    @property
    def title(self) -> str | None:
        """The first ``<h1>``, else the ``<title>`` without its `` : NPR`` site suffix, else None."""
        if self._titles.get("h1"):
            return self._titles["h1"]
        if self._titles.get("title"):
            return re.split(r"\s+[:|–—-]\s+", self._titles["title"])[0]
        return None

    def _skipping(self) -> bool:
        return any(skip for _, skip, _ in self._stack)

    def _in_transcript(self) -> bool:
        return any(opens for _, _, opens in self._stack)

    def _flush(self) -> None:
        text = " ".join("".join(self._buffer).split())
        self._buffer = []
        if text:
            self.paragraphs.append(text)
            if self._in_transcript():
                self.transcript.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCKS:
            self._flush()
        if tag in self._VOID:
            return
        if tag == "p" and self._stack and self._stack[-1][0] == "p":
            self.handle_endtag("p")
        names = " ".join(v or "" for k, v in attrs if k in ("class", "id")).lower().split()
        opens = any(n == "transcript" or n.startswith("transcript") for n in names)
        self._stack.append((tag, tag in self._SKIP, opens))
        if tag in ("h1", "title") and tag not in self._titles and self._capture is None:
            self._capture = (tag, [])

    def handle_endtag(self, tag: str) -> None:
        if tag in self._BLOCKS:
            self._flush()
        if self._capture is not None and self._capture[0] == tag:
            self._titles[tag] = " ".join("".join(self._capture[1]).split())
            self._capture = None
        if any(t == tag for t, _, _ in self._stack):
            while self._stack and self._stack.pop()[0] != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self._capture[1].append(data)
        if not self._skipping():
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()
