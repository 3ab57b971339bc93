"""The project's exceptions, all in one place.

Every error a user can cause derives from :class:`PipelineError`; the CLI turns it into a
one-line message and a non-zero exit code, never a traceback. Messages name the file (or model,
or config key) and the problem. The exit code is 1 (a bad input, a failed episode) unless the
class says otherwise: 2 for what the command line or the config got wrong, 3 for the lock.

    PipelineError
    ├── AudioError            unreadable, empty, truncated, too-short or missing audio
    ├── ModelError
    │   ├── ModelNotFoundError    not cached, or not allowed to download
    │   │   └── UnknownModelError     a model name no source can serve (a usage error, exit 2)
    │   └── ModelIntegrityError   a cached or downloaded file fails its SHA256 check
    ├── ConfigError           unknown key, bad value, contradictory speaker hints
    ├── ManifestError         a batch manifest that cannot be used at all (exit 2)
    ├── TranscriptionError    the ASR engine failed
    ├── DiarizationError      the diarization engine failed
    ├── ReferenceError        a published transcript that cannot be parsed
    │   └── TranscriptMismatchError   a transcript that is not this episode's (too few words heard)
    ├── OutputError           an output directory that cannot be written, unknown format
    ├── VoiceLibraryError     a voice library that cannot be opened, or was made with another model
    └── LockError             another batch run holds the lock
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class of every error the user can cause or fix."""

    exit_code = 1


class AudioError(PipelineError):
    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class ModelError(PipelineError):
    pass


class ModelNotFoundError(ModelError):
    pass


class UnknownModelError(ModelNotFoundError):
    exit_code = 2


class ModelIntegrityError(ModelError):
    pass


class ConfigError(PipelineError):
    exit_code = 2


class ManifestError(PipelineError):
    exit_code = 2


class TranscriptionError(PipelineError):
    pass


class DiarizationError(PipelineError):
    pass


class ReferenceError(PipelineError):  # noqa: A001 - shadows the builtin only inside this package
    pass


class TranscriptMismatchError(ReferenceError):
    pass


class OutputError(PipelineError):
    pass


class VoiceLibraryError(PipelineError):
    pass


class LockError(PipelineError):
    exit_code = 3
