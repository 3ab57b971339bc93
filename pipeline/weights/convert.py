"""Convert CTranslate2 Whisper models into openai-whisper checkpoints.

The only Whisper weights available offline are CTranslate2 conversions (Systran's float16
``faster-whisper-*`` directories); openai-whisper cannot read them. This module reads
CTranslate2's ``model.bin`` and writes the ``{'dims', 'model_state_dict'}`` checkpoint that
``whisper.load_model(path)`` expects, renaming the very same float16 tensors.

The ``model.bin`` layout (binary versions 4 to 6; see CTranslate2's ``ModelSpec._serialize`` in
``python/ctranslate2/specs/model_spec.py`` and ``Model::load`` in ``src/models/model.cc``), all
integers little-endian::

    uint32 binary_version
    string spec_name                      # string = uint16 length incl. NUL, bytes, NUL
    uint32 spec_revision
    uint32 num_variables
    num_variables x (string name, uint8 rank, rank x uint32 dim,
                     uint8 dtype_id, uint32 num_bytes, num_bytes raw data)
    uint32 num_aliases
    num_aliases x (string alias, string target)

Scalars (rank 0) hold settings such as ``encoder/num_heads``. Every variable whose value
equals an alphabetically earlier one is stored as an alias of it, so
``decoder/projection/weight`` is an alias of ``decoder/embeddings/weight``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import tempfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from pipeline.errors import ModelError

logger = logging.getLogger(__name__)

SUPPORTED_BINARY_VERSIONS = (4, 5, 6)

# The order of CTranslate2's DataType enum (include/ctranslate2/types.h); 5 is bfloat16,
# which numpy cannot represent.
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


class _Reader:
    """Sequential reads from ``model.bin`` that raise ModelError when the file ends early."""

    def __init__(self, stream: IO[bytes], path: Path) -> None:
        self.stream = stream
        self.path = path

    def error(self, problem: str) -> ModelError:
        return ModelError(f"{self.path}: {problem}")

    def read(self, size: int) -> bytearray:
        buffer = bytearray(size)
        if self.stream.readinto(buffer) != size:
            raise self.error(f"truncated CTranslate2 model file (wanted {size} bytes)")
        return buffer

    def uint(self, fmt: str) -> int:
        return struct.unpack("<" + fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        raw = self.read(self.uint("H"))
        return raw.split(b"\0", 1)[0].decode("utf-8")

    def array(self, name: str) -> np.ndarray:
        shape = tuple(self.uint("I") for _ in range(self.uint("B")))
        type_id = self.uint("B")
        num_bytes = self.uint("I")
        if type_id not in _DTYPES:
            raise self.error(f"variable {name} has unsupported CTranslate2 dtype id {type_id}")
        dtype = np.dtype(_DTYPES[type_id])
        if num_bytes != dtype.itemsize * int(np.prod(shape)):
            raise self.error(f"variable {name}: {num_bytes} bytes do not fit shape {shape} {dtype}")
        return np.frombuffer(self.read(num_bytes), dtype=dtype).reshape(shape)


def read_ct2_model(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a CTranslate2 ``model.bin``: its variables by name, and its aliases (alias -> target).

    The variables are exactly the stored arrays (writable, native dtype; scalars have shape
    ``()``); aliased names are not repeated in them. Raises ModelError naming the file if it is
    truncated, of an unsupported binary version or dtype, or has an alias to nothing.
    """
    path = Path(path)
    try:
        stream = path.open("rb")
    except OSError as err:
        raise ModelError(f"{path}: cannot read CTranslate2 model ({err.strerror})") from err
    with stream:
        reader = _Reader(stream, path)
        version = reader.uint("I")
        if version not in SUPPORTED_BINARY_VERSIONS:
            raise reader.error(
                f"unsupported CTranslate2 binary version {version} "
                f"(supported: {', '.join(map(str, SUPPORTED_BINARY_VERSIONS))})"
            )
        spec, revision = reader.string(), reader.uint("I")
        variables = {}
        for _ in range(reader.uint("I")):
            name = reader.string()
            variables[name] = reader.array(name)
        aliases = {}
        for _ in range(reader.uint("I")):
            alias, target = reader.string(), reader.string()
            if target not in variables:
                raise reader.error(f"alias {alias} points to missing variable {target}")
            aliases[alias] = target
        if stream.read(1):
            raise reader.error("unexpected data after the aliases")
    logger.debug("%s: %s revision %d, %d variables, %d aliases",
                 path, spec, revision, len(variables), len(aliases))
    return variables, aliases


def convert(ct2_dir: Path, out_path: Path) -> Path:
    """Write the openai-whisper checkpoint of the CTranslate2 Whisper model in ``ct2_dir``.

    The checkpoint is ``{'dims', 'model_state_dict', 'alignment_heads'}``: ``whisper.load_model``
    reads the first two. The word-timing heads from ``config.json`` cannot go into the state
    dict (openai-whisper keeps them in a non-persistent buffer, and ``load_state_dict`` is
    strict), so they travel as the gzip+base85 dump that ``Whisper.set_alignment_heads`` takes;
    load with :func:`load_openai_whisper` to apply them. Tensors keep their dtype (float16 for
    Systran's models). Written atomically; returns ``out_path``.
    """
    import torch

    ct2_dir, out_path = Path(ct2_dir), Path(out_path)
    variables, aliases = read_ct2_model(ct2_dir / "model.bin")
    variables.update({alias: variables[target] for alias, target in aliases.items()})
    try:
        dims = _dims(variables)
        state = {name: torch.from_numpy(value) for name, value in _state_dict(variables, dims).items()}
    except KeyError as err:
        raise ModelError(f"{ct2_dir / 'model.bin'}: not a CTranslate2 Whisper model "
                         f"(no variable {err})") from err
    heads = _alignment_heads(ct2_dir / "config.json", dims)
    checkpoint = {"dims": dims, "model_state_dict": state, "alignment_heads": heads}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            torch.save(checkpoint, stream)
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    logger.info("converted %s to %s (%s)", ct2_dir, out_path, dims)
    return out_path


def load_openai_whisper(checkpoint: Path, device: str) -> Any:
    """Load a checkpoint written by :func:`convert` as an openai-whisper model on ``device``.

    What ``whisper.load_model(path)`` does, plus the alignment heads that word timestamps
    need (``load_model`` sets them only for the official model names; with its default heads,
    tiny.en's word starts on pyannote's sample drift up to 0.42 s from faster-whisper's).
    """
    import torch
    from whisper.model import ModelDimensions, Whisper

    saved = torch.load(checkpoint, map_location=device, weights_only=True)
    if "alignment_heads" not in saved:
        raise ModelError(f"{checkpoint}: no alignment_heads; convert the CTranslate2 model again")
    model = Whisper(ModelDimensions(**saved["dims"]))
    model.load_state_dict(saved["model_state_dict"])
    model.set_alignment_heads(saved["alignment_heads"])
    return model.to(device)


def _num_layers(variables: dict[str, np.ndarray], stack: str) -> int:
    pattern = re.compile(rf"{stack}/layer_(\d+)/")
    return 1 + max((int(m.group(1)) for name in variables if (m := pattern.match(name))), default=-1)


def _dims(variables: dict[str, np.ndarray]) -> dict[str, int]:
    """openai-whisper's ModelDimensions, read off the tensor shapes and the stored head counts."""
    conv1 = variables["encoder/conv1/weight"]  # (n_audio_state, n_mels, 3)
    audio_pos = variables["encoder/position_encodings/encodings"]  # (n_audio_ctx, n_audio_state)
    tokens = variables["decoder/embeddings/weight"]  # (n_vocab, n_text_state)
    text_pos = variables["decoder/position_encodings/encodings"]  # (n_text_ctx, n_text_state)
    return {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(audio_pos.shape[0]),
        "n_audio_state": int(conv1.shape[0]),
        "n_audio_head": int(variables["encoder/num_heads"]),
        "n_audio_layer": _num_layers(variables, "encoder"),
        "n_vocab": int(tokens.shape[0]),
        "n_text_ctx": int(text_pos.shape[0]),
        "n_text_state": int(tokens.shape[1]),
        "n_text_head": int(variables["decoder/num_heads"]),
        "n_text_layer": _num_layers(variables, "decoder"),
    }


def _state_dict(variables: dict[str, np.ndarray], dims: dict[str, int]) -> dict[str, np.ndarray]:
    """openai-whisper's parameter names for CTranslate2's variables (same arrays, renamed)."""
    v = variables
    state = {
        "encoder.conv1.weight": v["encoder/conv1/weight"],
        "encoder.conv1.bias": v["encoder/conv1/bias"],
        "encoder.conv2.weight": v["encoder/conv2/weight"],
        "encoder.conv2.bias": v["encoder/conv2/bias"],
        "encoder.positional_embedding": v["encoder/position_encodings/encodings"],
        **_layer_norm(v, "encoder/layer_norm", "encoder.ln_post"),
        "decoder.token_embedding.weight": v["decoder/embeddings/weight"],
        "decoder.positional_embedding": v["decoder/position_encodings/encodings"],
        **_layer_norm(v, "decoder/layer_norm", "decoder.ln"),
    }
    for i in range(dims["n_audio_layer"]):
        state.update(_block(v, f"encoder/layer_{i}", f"encoder.blocks.{i}"))
    for i in range(dims["n_text_layer"]):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        state.update(_block(v, src, dst))
        # Cross-attention: linear_0 is the query, linear_1 the fused [key; value], linear_2 out.
        state.update(_linear(v, f"{src}/attention/linear_0", f"{dst}.cross_attn.query"))
        state.update(_split(v, f"{src}/attention/linear_1", f"{dst}.cross_attn", ("key", "value")))
        state.update(_linear(v, f"{src}/attention/linear_2", f"{dst}.cross_attn.out"))
        state.update(_layer_norm(v, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln"))
    return state


def _block(v: dict[str, np.ndarray], src: str, dst: str) -> dict[str, np.ndarray]:
    """Self-attention and MLP of one layer: linear_0 is the fused [query; key; value]."""
    return {
        **_split(v, f"{src}/self_attention/linear_0", f"{dst}.attn", ("query", "key", "value")),
        **_linear(v, f"{src}/self_attention/linear_1", f"{dst}.attn.out"),
        **_layer_norm(v, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln"),
        **_linear(v, f"{src}/ffn/linear_0", f"{dst}.mlp.0"),
        **_linear(v, f"{src}/ffn/linear_1", f"{dst}.mlp.2"),
        **_layer_norm(v, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln"),
    }


def _linear(v: dict[str, np.ndarray], src: str, dst: str) -> dict[str, np.ndarray]:
    return {f"{dst}.weight": v[f"{src}/weight"], f"{dst}.bias": v[f"{src}/bias"]}


def _layer_norm(v: dict[str, np.ndarray], src: str, dst: str) -> dict[str, np.ndarray]:
    return {f"{dst}.weight": v[f"{src}/gamma"], f"{dst}.bias": v[f"{src}/beta"]}


def _split(v: dict[str, np.ndarray], src: str, dst: str, parts: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Split a fused projection along its output rows into ``dst.<part>`` linears.

    openai-whisper's key projection has no bias; CTranslate2 stores zeros there. (Any key bias
    would shift every attention score of a query by the same amount, which softmax ignores.)
    """
    weights = np.split(v[f"{src}/weight"], len(parts))
    biases = np.split(v[f"{src}/bias"], len(parts))
    state = {}
    for part, weight, bias in zip(parts, weights, biases, strict=True):
        state[f"{dst}.{part}.weight"] = weight.copy()
        if part != "key":
            state[f"{dst}.{part}.bias"] = bias.copy()
    return state


def _alignment_heads(config_path: Path, dims: dict[str, int]) -> bytes:
    """config.json's ``alignment_heads`` ([layer, head] pairs) as openai-whisper's gzip+base85 mask."""
    import base64
    import gzip

    try:
        pairs = json.loads(config_path.read_text(encoding="utf-8"))["alignment_heads"]
    except (OSError, ValueError, KeyError) as err:
        raise ModelError(f"{config_path}: cannot read alignment_heads ({err})") from err
    mask = np.zeros((dims["n_text_layer"], dims["n_text_head"]), dtype=bool)
    for pair in pairs:
        if not (len(pair) == 2 and 0 <= pair[0] < mask.shape[0] and 0 <= pair[1] < mask.shape[1]):
            raise ModelError(f"{config_path}: alignment head {pair} outside {mask.shape[0]} layers "
                             f"x {mask.shape[1]} heads")
        mask[pair[0], pair[1]] = True
    return base64.b85encode(gzip.compress(mask.tobytes(), mtime=0))
