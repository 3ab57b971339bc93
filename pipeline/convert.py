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
