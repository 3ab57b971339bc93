"""Exported forms of the offline models, built once from their verified weights and cached beside them.

An export (an ONNX graph of segmentation-3.0 or CAM++) lives in the model's own cache folder,
``<cache>/<model>/exported/<graph>-<key>.onnx``, where ``key`` hashes what the file depends on:
the SHA256s of the model's weights (checked by :func:`pipeline.weights.store.model_dir`), the
graph's name and version, and the versions of the exporter (torch, onnx). A changed weight file,
graph or exporter makes a new key, so a stale export is never used. Nothing is downloaded: the
export is computed here from the weights already in the store.

Beside each export a small JSON record keeps the export's own SHA256 (and its size and mtime, so an
unchanged file is not hashed on every load) and what its check against torch measured; a file
that no longer matches its record is built again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from pipeline.config import ModelStoreOptions
from pipeline.weights.store import model_dir, sha256_file, spec

logger = logging.getLogger(__name__)

FOLDER = "exported"

#: build(path) writes the export to ``path`` and returns what its check measured (JSON-able)
Build = Callable[[Path], Mapping]


def export_key(weights: Iterable[str], graph: str, versions: Mapping[str, str]) -> str:
    """16 hex digits naming one export: the weights' SHA256s, the ``graph`` and the exporter ``versions``."""
    parts = {"weights": sorted(weights), "graph": graph, "versions": dict(versions)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def model_export(name: str, graph: str, versions: Mapping[str, str], build: Build,
                 options: ModelStoreOptions | None = None) -> tuple[Path, dict]:
    """The export ``graph`` of offline model ``name`` (verified first), built by ``build`` when missing."""
    folder = model_dir(name, options) / FOLDER
    return exported(folder, graph, export_key((f.sha256 for f in spec(name).files), graph, versions), build)


def exported(folder: Path, graph: str, key: str, build: Build) -> tuple[Path, dict]:
    """``folder/graph-key.onnx`` and its record, built by ``build`` when missing or changed.

    The record holds the export's ``sha256`` and what ``build`` measured (its check). ``build``
    writes to a temporary file in the same folder, renamed into place when it returns, so a crash
    or a second process building at the same time leaves no half-written export.
    """
    path = folder / f"{graph}-{key}.onnx"
    record_path = path.with_suffix(".json")
    record = _record(path, record_path)
    if record is not None:
        return path, record
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{graph}.", suffix=".onnx.tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        measured = dict(build(tmp))
        record = {"graph": graph, "key": key, "sha256": sha256_file(tmp), "check": measured}
        os.chmod(tmp, 0o644)  # as the store's other files (mkstemp makes it private)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    st = path.stat()
    record["stat"] = [st.st_size, st.st_mtime_ns]
    _write_json(record_path, record)
    logger.info("exported %s to %s", graph, path)
    return path, record


def _record(path: Path, record_path: Path) -> dict | None:
    """The record of a complete, unchanged export at ``path``; None when it must be built.

    The file is hashed again only when its size or modification time differ from the record's.
    """
    try:
        record = json.loads(record_path.read_text())
        st = path.stat()
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    if record.get("stat") == [st.st_size, st.st_mtime_ns]:
        return record
    if record.get("sha256") != sha256_file(path):
        return None
    record["stat"] = [st.st_size, st.st_mtime_ns]  # hashed once: the next load trusts size and mtime
    _write_json(record_path, record)
    return record


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)
