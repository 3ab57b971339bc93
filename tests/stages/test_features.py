"""faster-whisper's log-Mel features computed a block at a time are the same array, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from faster_whisper.feature_extractor import FeatureExtractor

from pipeline.stages import features


@pytest.mark.parametrize("samples", [250, 401, 16_000, 16_000 * 30 + 123, features.BLOCK_FRAMES * 160 * 3,
                                     features.BLOCK_FRAMES * 160 * 2 + 7_777, 16_000 * 61])
def test_block_features_equal_faster_whispers(samples):
    x = np.random.default_rng(samples).standard_normal(samples).astype(np.float32) * 0.1
    x[: samples // 3] *= 0.001  # a quiet stretch: the floor 8 below the loudest value is reached
    whole = FeatureExtractor(feature_size=80)(x)
    blocks = features.BlockFeatures.of(FeatureExtractor(feature_size=80))(x)
    assert blocks.shape == whole.shape and blocks.dtype == whole.dtype
    assert np.array_equal(blocks, whole)


def test_block_features_keep_the_extractors_settings_and_chunk_length():
    extractor = FeatureExtractor(feature_size=128)
    blocks = features.BlockFeatures.of(extractor)
    assert np.array_equal(blocks.mel_filters, extractor.mel_filters) and blocks.hop_length == extractor.hop_length
    x = np.random.default_rng(0).standard_normal(16_000 * 40).astype(np.float32)
    assert np.array_equal(blocks(x, chunk_length=20), FeatureExtractor(feature_size=128)(x, chunk_length=20))
    assert (blocks.n_samples, blocks.nb_max_frames) == (20 * 16_000, 2_000)


def test_the_loaded_model_computes_its_features_in_blocks():
    from pipeline.stages.asr import _load_faster_whisper
    from pipeline.weights.store import whisper_model

    model = _load_faster_whisper(whisper_model("tiny.en"), "cpu", "int8", 1)
    assert isinstance(model.feature_extractor, features.BlockFeatures)
