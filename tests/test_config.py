"""Configuration: YAML profiles, unknown keys rejected, CLI overrides, validation."""

from __future__ import annotations

import pytest

from pipeline import config
from pipeline.errors import ConfigError


def test_every_profile_in_configs_loads():
    names = sorted(p.stem for p in config.CONFIG_DIR.glob("*.yaml"))
    assert "default" in names
    for name in names:
        loaded = config.load(config.CONFIG_DIR / f"{name}.yaml")
        assert isinstance(loaded, config.PipelineConfig)


def test_profile_by_name():
    assert config.load("default") == config.load(config.CONFIG_DIR / "default.yaml")


def test_unknown_key_is_rejected_with_file_and_key(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("asr:\n  beam_sise: 3\n")
    with pytest.raises(ConfigError, match=r"typo.yaml.*asr.*'beam_sise'"):
        config.load(path)
    path.write_text("asrr: {}\n")
    with pytest.raises(ConfigError, match="unknown key 'asrr'"):
        config.load(path)


def test_bad_yaml_and_missing_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("asr: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(path)
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(tmp_path / "missing.yaml")


def test_values_and_lists(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("asr:\n  model: tiny.en\n  temperature: [0.0, 0.5]\noutput:\n  formats: [txt]\n")
    loaded = config.load(path)
    assert loaded.asr.model == "tiny.en"
    assert loaded.asr.temperature == (0.0, 0.5)
    assert loaded.output.formats == ("txt",)
    assert loaded.diarization == config.DiarizationOptions()


def test_override_and_digest():
    base = config.PipelineConfig()
    changed = config.override(base, "asr", model="tiny.en", language=None)
    assert changed.asr.model == "tiny.en" and changed.asr.language is None
    assert base.asr.model != "tiny.en", "override must not mutate"
    assert changed.digest() != base.digest()
    assert config.override(base, "asr", model=None) is base
    assert config.PipelineConfig().digest() == base.digest()


@pytest.mark.parametrize("changes, message", [
    ({"min_speakers": 3, "max_speakers": 2}, "greater than max_speakers"),
    ({"num_speakers": 0}, "num_speakers: Input should be greater than or equal to 1"),
    ({"num_speakers": 5, "max_speakers": 2}, "outside min_speakers/max_speakers"),
    ({"device": "tpu"}, "device"),
])
def test_contradictory_or_bad_hints(changes, message):
    with pytest.raises(ConfigError, match=message):
        config.override(config.PipelineConfig(), "diarization", **changes)


def test_default_yaml_matches_the_dataclass_defaults():
    """Profiles override the dataclass defaults, so default.yaml must not drift from them."""
    assert config.load(config.CONFIG_DIR / "default.yaml") == config.PipelineConfig()


def test_a_language_whisper_does_not_know_is_refused_before_any_model_loads(tmp_path):
    bad = tmp_path / "lang.yaml"
    bad.write_text("asr:\n  language: klingon\n")
    with pytest.raises(ConfigError, match=r"lang.yaml: asr.language: 'klingon' is not a language Whisper knows"):
        config.load(bad)
    with pytest.raises(ConfigError, match=r"command line: asr.language: 'xx'"):
        config.override(config.load(), "asr", language="xx")
    # codes and names are both taken, as the code the engines expect
    assert config.from_dict({"asr": {"language": "English"}}).asr.language == "en"
    assert config.from_dict({"asr": {"language": " DE "}}).asr.language == "de"
