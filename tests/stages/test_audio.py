"""Decoding: every common format to 16 kHz mono float32; bad files give a clear AudioError."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import AudioError
from pipeline.stages import audio


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


def test_truncated_mp3_decodes_what_is_there(media, sample_audio):
    decoded = audio.load(media["truncated_mp3"])
    assert 10 < decoded.duration < sample_audio.duration - 5


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
