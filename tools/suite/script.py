"""Episode scripts: what is said, by whom, over what, and what the published transcript keeps (pure text).

An episode is one ``episodes/NAME.script`` file, line by line (``#`` starts a comment):

    title: Harbor Town Weighs a Sea Wall         header lines: title, show, station, date,
    format: npr                                  format (npr | plain | html), split (tune | test), seed
    speaker VANCE = NORA VANCE, HOST | ledger_host
    speaker REYES = DIANA REYES | alpha | phone gain=-6
    VANCE: Good morning. ...                     a turn: published
    +REYES: Mm-hmm.                              a backchannel over the previous sentence: not published
    >REYES: But that is ...                      a turn that starts over the previous sentence's end
    @music 6 | @music end 3                      music bed: 6 s alone, then under the speech; 3 s alone
    @noise 2 | @noise end 1                      street noise, likewise (a field report)
    @jingle | @pause 1.5                         a sting; silence
    @station ANNOUNCER: You're listening to ...  spoken station ID: not published
    @ad ANNOUNCER: ...                           spoken ad copy over its own music: not published
    @cut VANCE: ...                              published, but cut from the audio ("cut for time")

A speaker line gives the key (the RTTM name, and the published surname), the published label on first
mention, a voice from catalog.VOICES and options: ``phone``, ``reverb``, ``soundbite`` (NPR puts an
archival-tape direction before it), ``gain=DB`` (level against the -20 dBFS norm), ``unpublished``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

HEADERS = ("title", "show", "station", "date", "format", "split", "seed")
FORMATS = ("npr", "plain", "html")
LINE_KINDS = {"": "turn", "+": "backchannel", ">": "bargein"}
SPOKEN = ("turn", "backchannel", "bargein", "station", "ad")
PUBLISHED = ("turn", "bargein", "cut")
_LINE = re.compile(r"^(?P<mark>[+>]?)(?P<who>[A-Z][A-Z_]*): (?P<text>\S.*)$")
_DIRECTIVE = re.compile(r"^@(?P<kind>station|ad|cut) (?P<who>[A-Z][A-Z_]*): (?P<text>\S.*)$")
_SPEAKER = re.compile(r"^speaker (?P<key>[A-Z][A-Z_]*) = (?P<label>[^|]+?) \| (?P<voice>\w+)(?: \| (?P<opts>.*))?$")


class ScriptError(ValueError):
    pass


@dataclass(frozen=True)
class Speaker:
    key: str
    label: str  # first-mention label: "NORA VANCE, HOST"
    voice: str
    phone: bool = False
    reverb: bool = False
    soundbite: bool = False
    gain_db: float = 0.0
    published: bool = True


@dataclass(frozen=True)
class Line:
    kind: str  # turn | backchannel | bargein | station | ad | cut
    speaker: str
    text: str


@dataclass(frozen=True)
class Cue:
    kind: str  # music | music_end | noise | noise_end | jingle | pause
    seconds: float = 0.0


@dataclass(frozen=True)
class Episode:
    name: str
    header: dict
    speakers: dict[str, Speaker]
    events: tuple = field(default_factory=tuple)  # Line and Cue, in order

    @property
    def seed(self) -> int:
        return int(self.header["seed"])


def _speaker(m: re.Match) -> Speaker:
    opts = (m["opts"] or "").split()
    gain = next((float(o.split("=", 1)[1]) for o in opts if o.startswith("gain=")), 0.0)
    unknown = [o for o in opts if o not in ("phone", "reverb", "soundbite", "unpublished")
               and not o.startswith("gain=")]
    if unknown:
        raise ScriptError(f"unknown speaker option(s) {unknown}")
    return Speaker(m["key"], m["label"].strip(), m["voice"], "phone" in opts, "reverb" in opts,
                   "soundbite" in opts, gain, "unpublished" not in opts)


def _cue(words: list[str]) -> Cue:
    kind, rest = words[0], words[1:]
    if kind in ("music", "noise") and rest[:1] == ["end"]:
        kind, rest = f"{kind}_end", rest[1:]
    if kind not in ("music", "music_end", "noise", "noise_end", "jingle", "pause"):
        raise ScriptError(f"unknown cue @{words[0]}")
    return Cue(kind, float(rest[0]) if rest else 0.0)


def _event(line: str):
    m = _DIRECTIVE.match(line)
    if m:
        return Line(m["kind"], m["who"], m["text"].strip())
    if line.startswith("@"):
        return _cue(line[1:].split())
    m = _LINE.match(line)
    if m:
        return Line(LINE_KINDS[m["mark"]], m["who"], m["text"].strip())
    raise ScriptError(f"cannot read {line[:60]!r}")


def parse(text: str, name: str) -> Episode:
    header, speakers, events = {}, {}, []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip() if not raw.startswith("#") else ""
        if not line:
            continue
        try:
            if line.startswith("speaker "):
                m = _SPEAKER.match(line)
                if not m:
                    raise ScriptError("speaker lines read 'speaker KEY = LABEL | voice [| options]'")
                speakers[m["key"]] = _speaker(m)
            elif line.split(":", 1)[0] in HEADERS and not events:
                key, value = line.split(":", 1)
                header[key] = value.strip()
            else:
                events.append(_event(line))
        except (ScriptError, ValueError, IndexError) as e:
            raise ScriptError(f"{name}:{number}: {e}") from e
    _validate(name, header, speakers, events)
    return Episode(name, header, speakers, tuple(events))


def _validate(name: str, header: dict, speakers: dict, events: list) -> None:
    missing = [h for h in HEADERS if h not in header]
    if missing:
        raise ScriptError(f"{name}: missing header(s) {missing}")
    if header["format"] not in FORMATS or header["split"] not in ("tune", "test"):
        raise ScriptError(f"{name}: format must be one of {FORMATS}, split tune or test")
    unknown = sorted({e.speaker for e in events if isinstance(e, Line)} - set(speakers))
    if unknown:
        raise ScriptError(f"{name}: no speaker line for {unknown}")


def load(path: Path) -> Episode:
    return parse(path.read_text(encoding="utf-8"), path.name.split(".")[0])
