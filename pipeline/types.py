"""Plain, typed data exchanged between the stages.

Every stage returns these frozen dataclasses; no framework object (pyannote ``Annotation``,
faster-whisper ``Segment``, torch tensors) leaves the stage that made it. All of them convert to
plain JSON-able dicts with :func:`to_dict` and back with the ``from_dict`` class methods.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


class Stage(StrEnum):
    """The steps of an episode: timing keys, progress bars and log lines all use these names."""

    DECODE = "decode"
    LOAD_ASR = "load_asr"
    LOAD_DIARIZATION = "load_diarization"
    ASR = "asr"
    DIARIZATION = "diarization"
    #: ASR and diarization side by side: their joint wall time
    ASR_AND_DIARIZATION = "asr_and_diarization"
    #: the second ASR pass over speech the first one missed
    RECOVERY = "recovery"
    ALIGNMENT = "alignment"
    #: short stretches that sound like another speaker of the episode moved to them
    TURN_CHECK = "turn_check"
    NAMING = "naming"
    CONFORM = "conform"
    WRITE = "write"
    CHECK = "check"


@dataclass(frozen=True, eq=False)
class Audio:
    """Decoded audio: 16 kHz mono float32 samples in [-1, 1], and the file they came from."""

    path: str
    samples: np.ndarray
    sample_rate: int
    sha256: str

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True, order=True)
class Word:
    """One recognised word with its time span in seconds."""

    start: float
    end: float
    text: str
    probability: float = 1.0


@dataclass(frozen=True)
class Segment:
    """A Whisper segment: a stretch of text and the words it is made of."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Segment:
        return cls(d["start"], d["end"], d["text"], tuple(Word(**w) for w in d.get("words", ())))


@dataclass(frozen=True)
class Transcript:
    """The output of the ASR stage."""

    segments: tuple[Segment, ...]
    language: str
    model: str
    engine: str
    duration: float

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for s in self.segments for w in s.words)

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments).strip()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Transcript:
        return cls(
            tuple(Segment.from_dict(s) for s in d["segments"]),
            d["language"],
            d["model"],
            d["engine"],
            d["duration"],
        )


@dataclass(frozen=True, order=True)
class Turn:
    """A speaker turn from diarization: ``speaker`` talks from ``start`` to ``end`` (seconds)."""

    start: float
    end: float
    speaker: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Diarization:
    """The output of the diarization stage.

    ``turns`` may overlap (two people talking at once); ``exclusive`` is pyannote's
    exclusive diarization, where at most one speaker is active at any time, which is what
    word-to-speaker assignment uses.
    """

    turns: tuple[Turn, ...]
    exclusive: tuple[Turn, ...]
    speakers: tuple[str, ...]
    duration: float

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Diarization:
        return cls(
            tuple(Turn(**t) for t in d["turns"]),
            tuple(Turn(**t) for t in d["exclusive"]),
            tuple(d["speakers"]),
            d["duration"],
        )


@dataclass(frozen=True, order=True)
class AttributedWord:
    """A word with the speaker who said it."""

    start: float
    end: float
    text: str
    speaker: str
    probability: float = 1.0


@dataclass(frozen=True)
class SpeakerTurn:
    """Consecutive words of one speaker, as a reader sees a paragraph of a transcript."""

    speaker: str
    start: float
    end: float
    text: str
    words: tuple[AttributedWord, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpeakerTurn:
        return cls(
            d["speaker"], d["start"], d["end"], d["text"],
            tuple(AttributedWord(**w) for w in d.get("words", ())),
        )


@dataclass(frozen=True)
class ReferenceTurn:
    """One turn of a published transcript: who said what, with no times."""

    speaker: str
    text: str


@dataclass(frozen=True)
class Reference:
    """A parsed published transcript.

    ``speakers`` lists canonical speaker names in order of first appearance;
    ``aliases`` maps every label seen in the source (``KELEMEN``, ``MICHELE KELEMEN``) to its
    canonical name; ``full_names`` maps a canonical name to the longest form seen.
    """

    turns: tuple[ReferenceTurn, ...]
    speakers: tuple[str, ...]
    title: str = ""
    aliases: dict[str, str] = field(default_factory=dict)
    full_names: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reference:
        return cls(
            tuple(ReferenceTurn(**t) for t in d["turns"]),
            tuple(d["speakers"]),
            d.get("title", ""),
            dict(d.get("aliases", {})),
            dict(d.get("full_names", {})),
        )


class TimeSource(StrEnum):
    """How a conformed word's time was found."""

    ASR = "asr"  # the ASR heard this very word: its time
    ALIGNED = "aligned"  # forced-aligned to the audio between two ASR anchors
    INTERPOLATED = "interpolated"  # alignment failed or had no audio: spread between anchors
    UNSPOKEN = "unspoken"  # published but not broadcast (a line cut for time): no time


@dataclass(frozen=True)
class ConformedWord:
    """A word of the published transcript, as the publisher wrote it, with its time in the audio.

    ``speaker`` is the publisher's (canonical name); ``turn`` the index of its published turn;
    ``diarized`` who diarization says speaks at that time (a name, or a label it could not name);
    ``start``/``end`` are None for an unspoken word.
    """

    text: str
    speaker: str
    turn: int
    start: float | None
    end: float | None
    source: str
    diarized: str = ""


@dataclass(frozen=True)
class ConformedTurn:
    """A published turn, from its first timed word's start to its last timed word's end.

    Its words are ``ConformedTranscript.words[first:first + count]``; a turn none of whose words
    was broadcast has no times.
    """

    speaker: str
    start: float | None
    end: float | None
    text: str
    first: int
    count: int


@dataclass(frozen=True)
class Gap:
    """Broadcast that the published text leaves out: music, an ad, a cut soundbite, a station ID.

    ``heard`` is what the ASR heard in it ("" for music or silence).
    """

    start: float
    end: float
    heard: str = ""


@dataclass(frozen=True)
class Unspoken:
    """Published words that were not broadcast: ``words[first:first + count]``, all of turn ``turn``.

    ``after`` is the end of the last broadcast word before them (None at the very start).
    """

    speaker: str
    text: str
    turn: int
    first: int
    count: int
    after: float | None = None


@dataclass(frozen=True)
class Disagreement:
    """Where the publisher and diarization name different speakers: a place to listen to."""

    start: float
    end: float
    published: str
    diarized: str
    text: str
    first: int
    count: int


@dataclass(frozen=True)
class ConformedTranscript:
    """The published transcript re-timed from the audio: the publisher's words and speakers.

    ``matched`` is the share of the published (normalized) words the ASR heard; ``lead`` the
    seconds by which Whisper's word times ran early on this episode, measured at its pauses and
    taken off every time (0.0 when it could not be measured).
    """

    audio: str
    duration: float
    words: tuple[ConformedWord, ...]
    turns: tuple[ConformedTurn, ...]
    gaps: tuple[Gap, ...] = ()
    unspoken: tuple[Unspoken, ...] = ()
    disagreements: tuple[Disagreement, ...] = ()
    matched: float = 0.0
    lead: float = 0.0
    title: str = ""

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConformedTranscript:
        return cls(
            audio=d["audio"],
            duration=d["duration"],
            words=tuple(ConformedWord(**w) for w in d["words"]),
            turns=tuple(ConformedTurn(**t) for t in d["turns"]),
            gaps=tuple(Gap(**g) for g in d.get("gaps", ())),
            unspoken=tuple(Unspoken(**u) for u in d.get("unspoken", ())),
            disagreements=tuple(Disagreement(**x) for x in d.get("disagreements", ())),
            matched=d.get("matched", 0.0),
            lead=d.get("lead", 0.0),
            title=d.get("title", ""),
        )


def to_dict(obj: Any) -> Any:
    """Any of the dataclasses above (or containers of them) as plain JSON-able data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    return obj


@dataclass(frozen=True)
class RunResult:
    """Everything one ``pipeline run`` produced, serializable to JSON and back.

    ``speakers`` are the diarized labels (``SPEAKER_00``...); ``speaker_names`` maps a label to a
    real name when a published transcript or a voice library named it, and ``naming`` says how
    for each named label: ``{"source": "transcript", "score": share of the label's aligned words
    that are that speaker's}`` or ``{"source": "voice", "score": cosine of the voice prints}``.
    ``diarization`` keeps the overlap-aware turns (for RTTM); ``words`` and ``turns`` carry the
    labels, not the names.
    """

    audio: str
    audio_sha256: str
    duration: float
    language: str
    words: tuple[AttributedWord, ...]
    turns: tuple[SpeakerTurn, ...]
    speakers: tuple[str, ...]
    diarization: tuple[Turn, ...] = ()
    speaker_names: dict[str, str] = field(default_factory=dict)
    naming: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def name_of(self, speaker: str) -> str:
        return self.speaker_names.get(speaker, speaker)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResult:
        return cls(
            audio=d["audio"],
            audio_sha256=d["audio_sha256"],
            duration=d["duration"],
            language=d["language"],
            words=tuple(AttributedWord(**w) for w in d["words"]),
            turns=tuple(SpeakerTurn.from_dict(t) for t in d["turns"]),
            speakers=tuple(d["speakers"]),
            diarization=tuple(Turn(**t) for t in d.get("diarization", ())),
            speaker_names=dict(d.get("speaker_names", {})),
            naming={label: dict(how) for label, how in d.get("naming", {}).items()},
            models=dict(d.get("models", {})),
            timings=dict(d.get("timings", {})),
            config=_tuplify(d.get("config", {})),
            versions=dict(d.get("versions", {})),
        )


def _tuplify(obj: Any) -> Any:
    """JSON lists back to the tuples the frozen config used, so a round trip compares equal."""
    if isinstance(obj, dict):
        return {k: _tuplify(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return tuple(_tuplify(x) for x in obj)
    return obj
