"""Configuration as data: frozen option dataclasses, composed into one :class:`PipelineConfig`.

Structural choices (which model, which engine, which device) sit apart from tunable numbers
(thresholds, step sizes), as pyannote's pipeline YAML splits them. Files in ``configs/`` are
YAML with the same nesting as :class:`PipelineConfig`; unknown keys are rejected with the file
and the key named, and command-line flags override what the file says.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, get_type_hints

from pipeline.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class ModelStoreOptions:
    #: where offline models are unpacked; None means $PIPELINE_MODEL_DIR or the XDG cache
    cache_dir: str | None = None
    #: "auto": the offline store for models it holds, the hub for the rest; "offline": never
    #: the network; "hub": the engines' own download paths even for models the store holds
    source: str = "auto"


@dataclass(frozen=True)
class AsrOptions:
    model: str = "base"
    engine: str = "faster-whisper"  # or "openai-whisper"
    device: str = "auto"
    compute_type: str = "auto"  # auto: int8 on CPU, float16 on CUDA
    language: str | None = None  # None: detect
    beam_size: int = 5
    batch_size: int = 8  # >0: faster-whisper's BatchedInferencePipeline (VAD chunks, batched)
    threads: int = 0  # 0: the engine's default
    initial_prompt: str | None = None
    hotwords: str | None = None
    vad_filter: bool = True
    vad_min_silence_ms: int = 500
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    condition_on_previous_text: bool = False
    temperature: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class DiarizationOptions:
    device: str = "auto"
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    #: segmentation sliding-window step, as a fraction of the 10 s window (pyannote's is 0.1)
    step: float = 0.1
    segmentation_batch_size: int = 32
    embedding_batch_size: int = 32
    #: "crop": embed only the frames where the speaker is active; "weighted": weighted pooling
    embedding_mode: str = "crop"
    #: a speaker active for less than this (seconds) in a chunk gets no embedding (NaN)
    embedding_min_duration: float = 0.25
    #: crop mode embeds at most this many seconds (the middle of the speaker's active frames)
    #: of a chunk; 0: all of them
    embedding_max_duration: float = 5.0
    #: crop mode reuses an earlier crop's embedding when it covers at least this fraction of a
    #: speaker's solo speech (pipeline.crops.CropCache): the same speech seen from neighbouring
    #: chunks is embedded once; 1: identical crops only
    embedding_reuse: float = 0.9
    #: embed only the frames where one speaker talks alone (when there are enough of them)
    embedding_exclude_overlap: bool = False
    min_duration_off: float = 0.0
    clustering_threshold: float = 0.7
    min_cluster_size: int = 12
    clustering_method: str = "centroid"
    #: torch CPU threads while diarizing; 0: torch's default (one per core)
    threads: int = 1


@dataclass(frozen=True)
class AlignOptions:
    #: a pause longer than this (seconds) starts a new paragraph even for the same speaker
    max_pause: float = 2.0
    #: how far (in words) a speaker change may be moved to reach a sentence end
    max_shift_words: int = 3
    #: a pause at least this long (seconds) counts as a phrase boundary
    min_boundary_pause: float = 0.3
    #: a boundary move may give a word only to a speaker whose turn is within this many seconds
    boundary_slack: float = 0.2


@dataclass(frozen=True)
class RunOptions:
    #: transcribe and diarize side by side (two threads) when the ASR engine is faster-whisper;
    #: on CPU diarization keeps its ``threads`` and ASR gets the other cores
    parallel: bool = True


@dataclass(frozen=True)
class OutputOptions:
    formats: tuple[str, ...] = ("txt", "json", "srt", "vtt", "rttm", "tsv")


@dataclass(frozen=True)
class PipelineConfig:
    models: ModelStoreOptions = field(default_factory=ModelStoreOptions)
    asr: AsrOptions = field(default_factory=AsrOptions)
    diarization: DiarizationOptions = field(default_factory=DiarizationOptions)
    align: AlignOptions = field(default_factory=AlignOptions)
    run: RunOptions = field(default_factory=RunOptions)
    output: OutputOptions = field(default_factory=OutputOptions)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """A stable hash of every setting that changes a result."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=list)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(names))})"
        )
    values = {}
    for key, value in data.items():
        hint = hints[key]
        if is_dataclass(hint):
            values[key] = _build(hint, value, f"{where}.{key}")
        elif isinstance(value, list):
            values[key] = tuple(value)
        else:
            values[key] = value
    return cls(**values)


def from_dict(data: dict[str, Any], where: str = "config") -> PipelineConfig:
    config = _build(PipelineConfig, data or {}, where)
    validate(config, where)
    return config


def load(path: str | Path | None = None) -> PipelineConfig:
    """Read a YAML config; ``None`` reads ``configs/default.yaml`` when it exists."""
    import yaml

    if path is None:
        path = CONFIG_DIR / "default.yaml"
        if not path.exists():
            return PipelineConfig()
    path = Path(path)
    if not path.is_file() and (CONFIG_DIR / f"{path}.yaml").is_file():
        path = CONFIG_DIR / f"{path}.yaml"  # a profile name such as "cpu-fast"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config ({e.strerror or e})") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from e
    return from_dict(data or {}, where=str(path))


def override(config: PipelineConfig, section: str, **changes: Any) -> PipelineConfig:
    """A copy of ``config`` with the non-None ``changes`` applied to one section."""
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        return config
    new = replace(config, **{section: replace(getattr(config, section), **changes)})
    validate(new, "command line")
    return new


def validate(config: PipelineConfig, where: str) -> None:
    d = config.diarization
    for name in ("num_speakers", "min_speakers", "max_speakers"):
        value = getattr(d, name)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"{where}: diarization.{name} must be a positive integer, got {value!r}")
    if d.min_speakers is not None and d.max_speakers is not None and d.min_speakers > d.max_speakers:
        raise ConfigError(
            f"{where}: min_speakers ({d.min_speakers}) is greater than max_speakers ({d.max_speakers})"
        )
    if d.num_speakers is not None and (
        (d.min_speakers is not None and d.num_speakers < d.min_speakers)
        or (d.max_speakers is not None and d.num_speakers > d.max_speakers)
    ):
        raise ConfigError(f"{where}: num_speakers ({d.num_speakers}) is outside min/max speakers")
    for section in ("asr", "diarization"):
        device = getattr(config, section).device
        if device not in DEVICES:
            raise ConfigError(f"{where}: {section}.device must be one of {DEVICES}, got {device!r}")
    if config.asr.engine not in ("faster-whisper", "openai-whisper"):
        raise ConfigError(f"{where}: asr.engine must be faster-whisper or openai-whisper")
    if config.models.source not in ("auto", "offline", "hub"):
        raise ConfigError(f"{where}: models.source must be auto, offline or hub")
