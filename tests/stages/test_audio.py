"""Decoding: every common format to 16 kHz mono float32; bad files give a clear AudioError."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import AudioError
from pipeline.stages import audio


def ffmpeg(*args: str, stdout: Path | None = None) -> None:
    with open(stdout, "wb") if stdout else open("/dev/null", "wb") as out:
        subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", *args], check=True, stdout=out)


@pytest.mark.parametrize("kind", ["mp3", "phone_8k", "stereo_48k", "ogg", "m4a"])
def test_formats_decode_to_16k_mono(media, sample_audio, kind):
    decoded = audio.load(media[kind])
    assert decoded.sample_rate == 16_000
    assert decoded.samples.dtype == np.float32 and decoded.samples.ndim == 1
    assert abs(decoded.duration - sample_audio.duration) < 0.15, (kind, decoded.duration)
    assert 0.01 < np.abs(decoded.samples).max() <= 1.0
    assert len(decoded.sha256) == 64


def test_wav_is_read_exactly(sample_audio):
    assert sample_audio.duration == pytest.approx(30.0, abs=0.1)
    assert sample_audio.sample_rate == 16_000 and sample_audio.samples.shape == (30 * 16_000,)


def cut(src: Path, dest: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dest.write_bytes(data[: int(len(data) * fraction)])
    return dest


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, sample_wav) -> dict[str, Path]:
    """The sample's first 20 s as a VBR MP3, a FLAC, a WAV, a streamed WAV (no size in its header)
    and ADTS AAC (whose duration ffprobe only estimates)."""
    d = tmp_path_factory.mktemp("encoded")
    files = {name: d / name for name in ("vbr.mp3", "full.flac", "full.wav", "streamed.wav", "raw.aac")}
    ffmpeg("-i", str(sample_wav), "-t", "20", "-q:a", "5", str(files["vbr.mp3"]))
    ffmpeg("-i", str(sample_wav), "-t", "20", str(files["full.flac"]))
    ffmpeg("-i", str(sample_wav), "-t", "20", str(files["full.wav"]))
    ffmpeg("-i", str(sample_wav), "-t", "20", "-f", "wav", "-rf64", "never", "pipe:1", stdout=files["streamed.wav"])
    ffmpeg("-i", str(sample_wav), "-t", "20", "-c:a", "aac", "-f", "adts", str(files["raw.aac"]))
    return files


def test_a_truncated_file_ends_early_naming_both_durations(media, encoded, tmp_path):
    with pytest.raises(AudioError) as info:
        audio.load(media["truncated_mp3"])  # half of a 30 s MP3's bytes
    assert str(info.value) == (f"{media['truncated_mp3']}: ends early: 15.0 s decoded of the 30.1 s its header "
                               "declares (truncated, or still being uploaded?)")
    for name, decoded, declared in (("vbr.mp3", 6.9, 20.1), ("full.flac", 7.1, 20.0), ("full.wav", 6.0, 20.0)):
        truncated = cut(encoded[name], tmp_path / name, 0.3)
        with pytest.raises(AudioError, match=f"ends early: {decoded} s decoded of the {declared} s"):
            audio.load(truncated)


def test_what_declares_no_duration_or_only_estimates_one_is_taken_as_it_is(encoded, tmp_path):
    assert audio.declared_duration(encoded["streamed.wav"]) is None  # its header says "as long as it gets"
    assert audio.declared_duration(encoded["raw.aac"]) is None  # ffprobe estimates 22.4 s for these 20 s
    assert audio.load(encoded["raw.aac"]).duration == pytest.approx(20.0, abs=0.1)
    assert audio.load(cut(encoded["streamed.wav"], tmp_path / "s.wav", 0.3)).duration == pytest.approx(6.0, abs=0.1)
    assert audio.load(cut(encoded["raw.aac"], tmp_path / "r.aac", 0.3)).duration < 7.0


def test_vbr_and_padding_stay_within_the_tolerance(encoded):
    """ffprobe declares 20.088 s for the VBR MP3 (encoder padding): within max(1 s, 2 %) of 20.0 s."""
    assert audio.declared_duration(encoded["vbr.mp3"]) == pytest.approx(20.088, abs=0.01)
    assert audio.load(encoded["vbr.mp3"]).duration == pytest.approx(20.0, abs=0.05)
    assert audio.declared_duration(encoded["full.wav"]) == 20.0  # from the header, with wave


def test_names_that_look_like_options_or_protocols_are_probed_as_files(encoded, tmp_path):
    for name in ("-i.mp3", "concat:x.mp3", "http:y.mp3"):
        path = tmp_path / name
        path.write_bytes(encoded["vbr.mp3"].read_bytes())
        assert audio.declared_duration(path) == pytest.approx(20.088, abs=0.01), name


@pytest.mark.parametrize("kind, message", [
    ("missing", "no such file"),
    ("empty", "is empty"),
    ("text_mp3", "not a readable audio file"),
    ("short", "too short"),
])
def test_bad_files_name_the_file_and_the_problem(media, kind, message):
    with pytest.raises(AudioError, match=message) as info:
        audio.load(media[kind])
    assert str(media[kind]) in str(info.value)
    assert "\n" not in str(info.value)


def test_directory_is_not_audio(tmp_path):
    with pytest.raises(AudioError, match="is a directory"):
        audio.load(tmp_path)
