"""Configuration as data: one validated schema for every file, flag and manifest row.

The options are frozen pydantic models that reject unknown keys, composed into one
:class:`PipelineConfig`. Types, choices and ranges come from the declarations themselves, and
the rules between fields (``min_speakers <= max_speakers``) from validators beside them, so a bad
value is caught where the config is read, before any model loads, with the file and the key named
(:class:`~pipeline.errors.ConfigError`, exit code 2). Structural choices (which model, engine,
device) sit apart from tunable numbers, as pyannote's pipeline YAML splits them.

Files in ``configs/`` are YAML with the same nesting; command-line flags and a manifest line's
speaker hints are applied with :func:`override`, which validates the result the same way.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[str, ...] = Device.__args__  # type: ignore[attr-defined]
Engine = Literal["faster-whisper", "openai-whisper"]
ComputeType = Literal["auto", "default", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16",
                      "float16", "bfloat16", "float32"]
#: output formats (file extensions); pipeline.outputs.writers has one writer for each
Format = Literal["txt", "json", "srt", "vtt", "rttm", "tsv"]
FORMATS: tuple[str, ...] = Format.__args__  # type: ignore[attr-defined]
ClusteringMethod = Literal["average", "centroid", "complete", "median", "single", "ward", "weighted"]

# numbers: YAML ints are fine where a float is meant, strings ("0.5", "fast") are not
Real = Annotated[float, Field(strict=True)]
Count = Annotated[StrictInt, Field(ge=1)]
Fraction = Annotated[float, Field(strict=True, ge=0.0, le=1.0)]
Seconds = Annotated[float, Field(strict=True, ge=0.0)]


class _Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class ModelStoreOptions(_Options):
    #: where offline models are unpacked; None means $PIPELINE_MODEL_DIR or the XDG cache
    cache_dir: StrictStr | None = None
    #: "auto": the offline store for models it holds, the hub for the rest; "offline": never
    #: the network; "hub": the engines' own download paths even for models the store holds
    source: Literal["auto", "offline", "hub"] = "auto"


class AsrOptions(_Options):
    model: StrictStr = "base"
    engine: Engine = "faster-whisper"
    device: Device = "auto"
    compute_type: ComputeType = "auto"  # auto: int8 on CPU, float16 on CUDA
    language: StrictStr | None = None  # None: detect
    beam_size: Count = 5
    #: >0: faster-whisper's BatchedInferencePipeline (VAD chunks, batched); 0: sequential decoding
    batch_size: Annotated[StrictInt, Field(ge=0)] = 0
    threads: Annotated[StrictInt, Field(ge=0)] = 0  # 0: the engine's default
    initial_prompt: StrictStr | None = None
    hotwords: StrictStr | None = None
    vad_filter: StrictBool = True
    vad_min_silence_ms: Annotated[StrictInt, Field(ge=0)] = 500
    #: Silero's speech probability above which a frame is speech (faster-whisper's default 0.5)
    vad_threshold: Annotated[float, Field(strict=True, gt=0.0, lt=1.0)] = 0.5
    #: audio kept on each side of a speech stretch (faster-whisper's default 400 ms; 1000 chosen on
    #: the evaluation suite: fewer deletions and errors, and less time)
    vad_speech_pad_ms: Annotated[StrictInt, Field(ge=0)] = 1000
    #: decode again, on its own, each stretch of at least this many seconds where the diarization
    #: hears a speaker and the first pass found no word (faster-whisper with VAD); 0: no second pass
    recover_min_s: Seconds = 1.0
    no_speech_threshold: Fraction = 0.6
    log_prob_threshold: Real = -1.0
    compression_ratio_threshold: Annotated[float, Field(strict=True, gt=0.0)] = 2.4
    condition_on_previous_text: StrictBool = False
    temperature: tuple[Fraction, ...] = Field((0.0, 0.2, 0.4, 0.6, 0.8, 1.0), min_length=1)

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        """A language Whisper knows, as its code ("en"; "English" is taken too): checked here, not
        when decoding starts, after the models have loaded and diarization has run."""
        if value is None:
            return None
        from whisper.tokenizer import LANGUAGES, TO_LANGUAGE_CODE  # imports torch: only when one is given

        key = value.strip().lower()
        if key in LANGUAGES:
            return key
        if key in TO_LANGUAGE_CODE:
            return TO_LANGUAGE_CODE[key]
        raise ValueError(f"{value!r} is not a language Whisper knows (a code such as en, de, es, or a name "
                         "such as english)")


class DiarizationOptions(_Options):
    device: Device = "auto"
    #: what runs segmentation-3.0 and CAM++: "auto" is ONNX Runtime on CPU (the same numbers in
    #: less time; exported once into the model cache) and torch on CUDA
    engine: Literal["auto", "onnxruntime", "torch"] = "auto"
    num_speakers: Count | None = None
    min_speakers: Count | None = None
    max_speakers: Count | None = None
    #: segmentation sliding-window step, as a fraction of the 10 s window (pyannote's is 0.1)
    step: Annotated[float, Field(strict=True, gt=0.0, le=1.0)] = 0.1
    #: chunks per segmentation batch: each holds 20-40 MB while it runs, and larger batches are no faster
    segmentation_batch_size: Count = 8
    embedding_batch_size: Count = 32
    #: "crop": embed only the frames where the speaker is active; "weighted": weighted pooling
    embedding_mode: Literal["crop", "weighted"] = "crop"
    #: a speaker active for less than this (seconds) in a chunk gets no embedding (NaN)
    embedding_min_duration: Seconds = 0.25
    #: crop mode embeds at most this many seconds (the middle of the speaker's active frames)
    #: of a chunk; 0: all of them
    embedding_max_duration: Seconds = 5.0
    #: crop mode reuses an earlier crop's embedding when it covers at least this fraction of a
    #: speaker's solo speech (pipeline.stages.crops.CropCache): the same speech seen from
    #: neighbouring chunks is embedded once; 1: identical crops only
    embedding_reuse: Annotated[float, Field(strict=True, gt=0.0, le=1.0)] = 0.9
    #: embed only the frames where one speaker talks alone (when there are enough of them)
    embedding_exclude_overlap: StrictBool = False
    min_duration_off: Seconds = 0.0
    clustering_threshold: Annotated[float, Field(strict=True, ge=0.0, le=2.0)] = 0.7
    min_cluster_size: Count = 8
    clustering_method: ClusteringMethod = "centroid"
    #: split a cluster holding at least this many pairs of local speakers of one chunk (which the
    #: segmentation heard as two voices) when 2-means finds two halves further apart than
    #: split_similarity (pipeline.stages.clustering); 0: never
    split_links: Annotated[StrictInt, Field(ge=0)] = 6
    split_similarity: Annotated[float, Field(strict=True, ge=-1.0, le=1.0)] = 0.92
    #: a cluster needs this many distinct embeddings (crops), else it joins the nearest one; 1: off
    #: (pipeline.stages.clustering.merge_thin)
    min_distinct: Annotated[StrictInt, Field(ge=1)] = 2
    #: torch CPU threads while diarizing; 0: torch's default (one per core)
    threads: Annotated[StrictInt, Field(ge=0)] = 1

    @model_validator(mode="after")
    def _hints_agree(self) -> DiarizationOptions:
        low, high, exact = self.min_speakers, self.max_speakers, self.num_speakers
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_speakers ({low}) is greater than max_speakers ({high})")
        if exact is not None and ((low is not None and exact < low) or (high is not None and exact > high)):
            raise ValueError(f"num_speakers ({exact}) is outside min_speakers/max_speakers")
        return self

    @property
    def hints(self) -> dict[str, int]:
        """The speaker-count hints that are set."""
        return {k: getattr(self, k) for k in HINTS if getattr(self, k) is not None}


HINTS = ("num_speakers", "min_speakers", "max_speakers")


class AlignOptions(_Options):
    #: a pause longer than this (seconds) starts a new paragraph even for the same speaker
    max_pause: Seconds = 2.0
    #: how far (in words) a speaker change may be moved to reach a sentence end
    max_shift_words: Annotated[StrictInt, Field(ge=0)] = 3
    #: a pause at least this long (seconds) counts as a phrase boundary
    min_boundary_pause: Seconds = 0.3
    #: a boundary move may give a word only to a speaker whose turn is within this many seconds
    boundary_slack: Seconds = 0.2
    #: each solo stretch shorter than this (seconds) is embedded on its own and moved to another
    #: speaker of the episode when it clearly sounds like them (:func:`pipeline.voices.verify.misplaced`); 0: off
    check_under: Seconds = 4.0
    #: ... when it scores under this against its own speaker's print (cosine)
    check_below: Annotated[float, Field(strict=True, ge=-1.0, le=1.0)] = 0.4
    #: ... and at least this much more against the other's
    check_margin: Annotated[float, Field(strict=True, ge=0.0, le=2.0)] = 0.2
    #: a run of at least this many ASR words of one speaker (each within a second of the last),
    #: lasting ``heard_min_s`` or more, where the diarization hears no one becomes a turn of theirs
    #: (:func:`pipeline.stages.align.heard_turns`): speech the segmentation missed; 0: off
    heard_min_words: Annotated[StrictInt, Field(ge=0)] = 3
    heard_min_s: Seconds = 1.0


class RunOptions(_Options):
    #: transcribe and diarize side by side (two threads) when the ASR engine is faster-whisper;
    #: on CPU diarization keeps its ``threads`` and ASR gets the other cores
    parallel: StrictBool = True


class OutputOptions(_Options):
    formats: tuple[Format, ...] = Field(FORMATS, min_length=1)


class VoicesOptions(_Options):
    """Naming speakers from a voice library (``--voices``); see :mod:`pipeline.voices`."""

    #: a diarized speaker is named after an enrolled voice whose print scores at least this
    #: (cosine of CAM++ centroids); calibrated so that a wrong name is close to impossible
    threshold: Annotated[float, Field(strict=True, ge=-1.0, le=1.0)] = 0.92
    #: ... and beats every other enrolled voice by at least this much
    margin: Annotated[float, Field(strict=True, ge=0.0, le=2.0)] = 0.1
    #: a second diarized speaker gets a name another one already has only with this score
    shared_threshold: Annotated[float, Field(strict=True, ge=-1.0, le=1.0)] = 0.95
    #: solo speech is cut into crops of about this length (seconds), each embedded once
    crop: Annotated[float, Field(strict=True, ge=1.0)] = 4.0
    #: seconds trimmed off both ends of a solo stretch (turn edges are the least certain)
    edge: Seconds = 0.25
    #: a solo stretch shorter than this after trimming is not used (seconds)
    min_piece: Annotated[float, Field(strict=True, ge=0.5)] = 1.5
    #: at most this much of a speaker's solo speech is embedded (seconds), spread over the episode
    max_seconds: Annotated[float, Field(strict=True, gt=0.0)] = 20.0
    #: a speaker to be named is embedded on this much speech first (seconds) ...
    probe_seconds: Annotated[float, Field(strict=True, gt=0.0)] = 4.0
    #: ... and no further when that scores under this against every enrolled voice
    probe_threshold: Annotated[float, Field(strict=True, ge=-1.0, le=1.0)] = 0.5
    #: a diarized speaker with less solo speech than this is not named by voice (seconds)
    min_seconds: Seconds = 6.0
    #: a solo stretch shorter than this (seconds) of a speaker named by voice is checked on its own
    #: (diarization puts a short turn in the wrong cluster more often than a long one)
    verify_under: Seconds = 4.0
    #: ... when it is at least this long (seconds); shorter ones keep the name
    verify_min: Annotated[float, Field(strict=True, ge=0.1)] = 0.3
    #: a checked stretch scoring under this against the voice its speaker was named after is
    #: given back to a new, unnamed label
    turn_threshold: Annotated[float, Field(strict=True, ge=-1.0, le=1.0)] = 0.6
    #: a voice print rests on at least this much solo speech (seconds)
    enroll_min_seconds: Seconds = 10.0
    #: a transcript name is enrolled only when that share of the label's aligned words is theirs
    enroll_min_share: Fraction = 0.8


class PipelineConfig(_Options):
    models: ModelStoreOptions = ModelStoreOptions()
    asr: AsrOptions = AsrOptions()
    diarization: DiarizationOptions = DiarizationOptions()
    align: AlignOptions = AlignOptions()
    run: RunOptions = RunOptions()
    output: OutputOptions = OutputOptions()
    voices: VoicesOptions = VoicesOptions()

    def to_dict(self) -> dict[str, Any]:
        """Plain data (sequences as tuples, as the options hold them)."""
        return self.model_dump()

    def digest(self) -> str:
        """A stable hash of every setting that changes a result."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def from_dict(data: Any, where: str = "config") -> PipelineConfig:
    """The config ``data`` describes, or a :class:`ConfigError` naming ``where`` and the key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of sections, got {type(data).__name__}")
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{where}: {_first_problem(e)}") from None


def _first_problem(error: ValidationError) -> str:
    """``asr.beam_size: Input should be a valid integer (got 'five')``: one line, the key named."""
    problem = error.errors()[0]
    key = ".".join(str(part) for part in problem["loc"] if not isinstance(part, int)) or "config"
    message = problem["msg"].removeprefix("Value error, ")
    if problem["type"] == "extra_forbidden":
        where, name = problem["loc"][:-1], str(problem["loc"][-1])
        section = _section(where)
        known = ", ".join(section.model_fields) if section else ""
        prefix = ".".join(str(part) for part in where)
        return (f"{prefix}: " if prefix else "") + f"unknown key {name!r}" + (f" (known: {known})" if known else "")
    if problem["type"] in ("value_error", "assertion_error") or "input" not in problem:
        return f"{key}: {message}"
    return f"{key}: {message} (got {problem['input']!r})"


def _section(loc: tuple) -> type[BaseModel] | None:
    model: type[BaseModel] = PipelineConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def resolve_path(path: str | Path | None) -> Path | None:
    """A config file's path: ``None`` is configs/default.yaml (when there), a bare name a profile."""
    if path is None:
        default = CONFIG_DIR / "default.yaml"
        return default if default.exists() else None
    path = Path(path)
    if not path.is_file() and (CONFIG_DIR / f"{path}.yaml").is_file():
        return CONFIG_DIR / f"{path}.yaml"  # a profile name such as "cpu-fast"
    return path


def load(path: str | Path | None = None) -> PipelineConfig:
    """Read and validate a YAML config; ``None`` reads ``configs/default.yaml`` when it exists."""
    import yaml

    path = resolve_path(path)
    if path is None:
        return PipelineConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config ({e.strerror or e})") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from e
    return from_dict(data, where=str(path))


def override(config: PipelineConfig, section: str, where: str = "command line", **changes: Any) -> PipelineConfig:
    """A copy of ``config`` with the non-None ``changes`` applied to one section, validated.

    ``where`` names the source of the changes (``command line``, ``manifest.csv line 3``) in
    the :class:`ConfigError` a bad value raises.
    """
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        return config
    data = config.model_dump()
    data[section] = {**data[section], **changes}
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{where}: {_first_problem(e)}") from None
