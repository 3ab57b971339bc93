"""The crop embedding step (pipeline/crops.py): whole-file fbanks, crop reuse, and that with reuse
off it gives exactly what pyannote's own step gives with the CAM++ crop wrapper (random weights)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pipeline.stages import diarize as stage

stage.offline_environment()

import torchaudio.compliance.kaldi as kaldi  # noqa: E402
from pyannote.core import SlidingWindow, SlidingWindowFeature  # noqa: E402

from pipeline.stages import crops  # noqa: E402
from pipeline.stages.campplus import CamPPlusEmbedding  # noqa: E402

SR = 16_000
NUM_FRAMES = 589  # segmentation-3.0's frames per 10 s chunk


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    with stage.torch_threads(1):
        yield


@pytest.fixture(scope="module")
def campplus():
    torch.manual_seed(0)
    return CamPPlusEmbedding(mode="crop", min_duration=0.25, max_duration=5.0).eval()


@pytest.fixture(scope="module")
def waveform():
    generator = torch.Generator().manual_seed(1)
    return 0.1 * torch.randn(1, 16 * SR, generator=generator)


def _fbank(samples: torch.Tensor) -> torch.Tensor:
    return kaldi.fbank(samples, num_mel_bins=80, frame_length=25.0, frame_shift=10.0, dither=0.0,
                       sample_frequency=SR)


def test_file_fbank_has_each_chunks_frames(waveform):
    fbank = crops.FileFbank(waveform, block=333)  # several blocks, joined where they meet
    assert fbank.total == crops.fbank_frames(waveform.shape[1]) == 1598
    everything = fbank[np.arange(fbank.total)]
    torch.testing.assert_close(everything, _fbank(waveform), rtol=1e-4, atol=1e-3)
    chunk = _fbank(waveform[:, 3 * SR:13 * SR])  # a 10 s chunk starting at 3 s: frames 300...
    assert chunk.shape[0] == crops.fbank_frames(10 * SR) == 998
    torch.testing.assert_close(fbank[np.arange(300, 300 + 998)], chunk, rtol=1e-4, atol=1e-3)
    picked = np.array([5, 332, 333, 334, 1200])  # across block edges, in order
    torch.testing.assert_close(fbank[picked], everything[picked])
    fbank.forget_before(700)  # blocks wholly behind frame 700 go: [0, 333) and [333, 666)
    assert sorted(fbank.blocks) == [2, 3, 4]
    torch.testing.assert_close(fbank[np.arange(700, 710)], everything[700:710])
    assert crops.fbank_frames(399) == 0


def test_window_is_the_middle_of_long_speech():
    frames = np.arange(100, 1100)
    assert np.array_equal(crops.window(frames, 2000), frames)
    assert np.array_equal(crops.window(frames, 500), np.arange(350, 850))


def test_cache_finds_the_same_speech_seen_from_another_chunk():
    cache = crops.CropCache(0.9)
    first = np.arange(1000, 1400)
    cache.add(first, first, np.ones(3))

    def find(start: int, end: int, size: int | None = None):
        frames = np.arange(start, end)
        return cache.find(frames, frames, size or frames.size)

    assert find(1005, 1400) is not None  # the same turn, one edge 50 ms off
    assert find(1100, 1400) is not None  # cut short by a chunk's edge: covered
    assert find(1000, 1800, 500) is None  # longer: a 400-frame crop is not enough
    assert find(1300, 1700) is None  # a quarter of it: another stretch
    assert find(2000, 2100) is None
    cache.add(np.arange(2000, 2500), np.arange(2000, 2500), np.zeros(3))  # a 5 s window of a long turn
    assert find(1900, 2700, 500) is not None  # a longer stretch around it
    cache.forget_before(1399)
    assert len(cache.entries) == 2  # the first ends at frame 1399: a chunk starting there has it
    cache.forget_before(1400)
    assert len(cache.entries) == 1


def test_cache_compares_solo_speech_only():
    cache = crops.CropCache(0.9)
    turn = np.arange(0, 500)
    cache.add(turn, np.setdiff1d(turn, np.arange(300, 350)), np.ones(3))  # 300-350 overlapped
    interjection = np.arange(300, 350)  # another voice over the turn: no solo frames at all
    assert cache.find(interjection, np.array([], dtype=int), 50) is None
    same = np.arange(0, 500)
    assert cache.find(same, np.setdiff1d(same, interjection), 500) is not None


def test_identical_only_with_reuse_one():
    cache = crops.CropCache(1.0)
    cache.add(np.arange(0, 400), np.arange(0, 400), np.ones(3))
    assert cache.find(np.arange(0, 400), np.arange(0, 400), 400) is not None
    assert cache.find(np.arange(1, 400), np.arange(1, 400), 399) is None


def _segmentation(num_chunks: int, step: float = 1.0) -> SlidingWindowFeature:
    """Binary masks for 3 local speakers: a long turn, a short one, a chunk edge, silence."""
    data = np.zeros((num_chunks, NUM_FRAMES, 3), dtype=np.float32)
    frame_times = np.arange(NUM_FRAMES) * 10.0 / NUM_FRAMES
    for c in range(num_chunks):
        t = c * step + frame_times  # absolute time of each frame
        data[c, :, 0] = (t >= 0.5) & (t < 14.0)  # one long turn
        data[c, :, 1] = (t >= 3.2) & (t < 4.6)  # a short one beside it
        data[c, :, 2] = (t >= c * step + 9.9)  # a sliver at the chunk's right edge: too short
    return SlidingWindowFeature(data, SlidingWindow(start=0.0, duration=10.0, step=step))


def _assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal up to float noise (random weights give embeddings of about 1e-4, hence relative)."""
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-3 * np.nanmax(np.abs(expected)))


def _pipeline(campplus, reuse: float) -> SimpleNamespace:
    return SimpleNamespace(campplus=campplus, reuse=reuse, last_counts={})


def test_without_reuse_it_is_pyannotes_step_with_the_crop_wrapper(campplus, waveform):
    segmentation = _segmentation(num_chunks=7)
    fake = _pipeline(campplus, reuse=1.0)
    steps = []
    embeddings = crops.CroppedSpeakerDiarization.get_embeddings(
        fake, {"waveform": waveform, "sample_rate": SR}, segmentation,
        hook=lambda *a, **k: steps.append(k.get("completed")))
    assert embeddings.shape == (7, 3, 192)
    assert steps == list(range(8))
    for c, (chunk, masks) in enumerate(segmentation):  # what pyannote's own step computes
        samples = waveform[:, round(chunk.start * SR):round(chunk.end * SR)]
        with torch.inference_mode():
            expected = campplus(samples[None].expand(3, 1, -1), weights=torch.from_numpy(masks.T.copy()))
        _assert_close(embeddings[c], expected.numpy())
    assert np.isnan(embeddings[:, 2]).all()  # the sliver is too short everywhere
    assert not np.isnan(embeddings[:, 0]).any()
    assert not np.isnan(embeddings[:5, 1]).any() and np.isnan(embeddings[5:, 1]).all()  # ends at 4.6 s
    counts = fake.last_counts
    assert counts["pairs"] == counts["computed"] + counts["reused"] == 7 + 5
    # the comparison can tell crops apart: neighbouring chunks' windows of the long turn differ
    with pytest.raises(AssertionError):
        _assert_close(embeddings[0, 0], embeddings[1, 0])


def test_reuse_embeds_each_stretch_of_speech_once(campplus, waveform):
    segmentation = _segmentation(num_chunks=7)
    exact = crops.CroppedSpeakerDiarization.get_embeddings(_pipeline(campplus, 1.0), {"waveform": waveform},
                                                           segmentation)
    fake = _pipeline(campplus, reuse=0.9)
    shared = crops.CroppedSpeakerDiarization.get_embeddings(fake, {"waveform": waveform}, segmentation)
    distinct = [len({shared[c, s].tobytes() for c in range(7) if not np.isnan(shared[c, s]).any()}) for s in (0, 1)]
    assert distinct[0] <= 3  # the long turn (0.5-14 s): a few 5 s windows serve all seven chunks
    # the short turn lies under the long one: never solo, so each chunk embeds its own crop
    assert all(np.array_equal(shared[c, 1], exact[c, 1]) for c in range(5))
    assert fake.last_counts["computed"] == distinct[0] + 5
    assert np.array_equal(np.isnan(shared), np.isnan(exact))  # the same pairs have embeddings
    # every embedding is one computed for this speaker's own crop in this or an earlier chunk
    for s in range(2):
        for c in range(7):
            if not np.isnan(exact[c, s]).any():
                assert any(np.array_equal(shared[c, s], exact[k, s]) for k in range(c + 1)), (c, s)
