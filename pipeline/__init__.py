"""Speaker-attributed transcripts of radio episodes, named from the published transcript.

Run one episode from a script::

    import pipeline

    config = pipeline.load_config()                      # configs/default.yaml
    job = pipeline.Job("episode.mp3", "out/episode", reference="episode.txt")
    outcome = pipeline.process(job, config)              # every stage; the outputs written
    for turn in outcome.result.turns:
        print(outcome.result.name_of(turn.speaker), turn.text)
    for turn in outcome.conformed.turns:                 # the published transcript, re-timed
        print(turn.speaker, turn.start, turn.end, turn.text)

Importing the package loads no model and imports no torch: the stages import their engines
when they first run, and :class:`Models` keeps them loaded for the next job.
"""

__version__ = "0.2.0"

from pipeline.config import PipelineConfig  # noqa: E402
from pipeline.config import load as load_config  # noqa: E402
from pipeline.errors import (  # noqa: E402
    AudioError,
    ConfigError,
    DiarizationError,
    ModelError,
    OutputError,
    PipelineError,
    ReferenceError,
    TranscriptionError,
    TranscriptMismatchError,
)
from pipeline.jobs import Job, Models, Outcome, process  # noqa: E402
from pipeline.types import (  # noqa: E402
    AttributedWord,
    Audio,
    ConformedTranscript,
    Diarization,
    Reference,
    RunResult,
    Segment,
    SpeakerTurn,
    Stage,
    Transcript,
    Turn,
    Word,
)

__all__ = [
    "Audio", "AttributedWord", "AudioError", "ConfigError", "ConformedTranscript", "Diarization",
    "DiarizationError", "Job",
    "ModelError", "Models", "Outcome", "OutputError", "PipelineConfig", "PipelineError", "Reference",
    "ReferenceError", "RunResult", "Segment", "SpeakerTurn", "Stage", "Transcript", "TranscriptionError",
    "TranscriptMismatchError", "Turn", "Word", "__version__", "load_config", "process",
]
