"""Diarization stage: CAM++ wrapper and option checks on fake tensors; the real models on
pyannote's own sample (two speakers, 30 s, with its reference RTTM) and on bad inputs."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
import torch
from conftest import SAMPLE_RTTM, music

from pipeline import runtime
from pipeline.config import DiarizationOptions, ModelStoreOptions, PipelineConfig, override
from pipeline.errors import AudioError, ConfigError, DiarizationError, ModelNotFoundError
from pipeline.stages import diarize as stage
from pipeline.types import Audio, Diarization

runtime.offline_environment()

from pyannote.core import Annotation, Segment  # noqa: E402

from pipeline.stages.campplus import CamPPlusEmbedding  # noqa: E402

SR = 16_000


def _audio(samples, name: str = "clip.wav", rate: int = SR) -> Audio:
    samples = samples.numpy() if isinstance(samples, torch.Tensor) else samples
    return Audio(name, np.asarray(samples, dtype=np.float32).reshape(-1), rate, "0" * 64)


def _reference() -> Annotation:
    reference = Annotation(uri="sample")
    for line in SAMPLE_RTTM.read_text().splitlines():
        fields = line.split()
        start, duration = float(fields[3]), float(fields[4])
        reference[Segment(start, start + duration)] = fields[7]
    return reference


def _hypothesis(turns) -> Annotation:
    hypothesis = Annotation(uri="sample")
    for turn in turns:
        hypothesis[Segment(turn.start, turn.end)] = turn.speaker
    return hypothesis


# --- CAM++ as a pyannote embedding model, with random weights -------------------------------------


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    with runtime.torch_threads(1):  # two threads crawl on a busy two-core machine
        yield


@pytest.fixture(scope="module")
def campplus():
    torch.manual_seed(0)
    return CamPPlusEmbedding(mode="crop", min_duration=0.25).eval()


def _masks(batch: int, frames: int = 236) -> torch.Tensor:
    """All-zero speaker masks for a 4 s chunk, at the segmentation model's frame rate."""
    return torch.zeros(batch, frames)


def test_campplus_shapes_and_pyannote_interface(campplus):
    assert campplus.audio.sample_rate == SR and campplus.dimension == 192
    with torch.inference_mode():
        out = campplus(torch.randn(3, 1, SR))
    assert out.shape == (3, 192) and torch.isfinite(out).all()


def test_crop_nan_for_silent_or_too_short_speaker(campplus):
    masks = _masks(4)
    masks[1] = 1.0  # active throughout
    masks[2, :10] = 1.0  # ~0.17 s: under min_duration
    masks[3, 100:200] = 1.0  # ~1.7 s
    with torch.inference_mode():
        out = campplus(torch.randn(4, 1, 4 * SR), weights=masks)
    assert out.shape == (4, 192)
    assert torch.isnan(out[0]).all() and torch.isnan(out[2]).all()
    assert torch.isfinite(out[1]).all() and torch.isfinite(out[3]).all()


def test_crop_of_everything_is_the_plain_embedding(campplus):
    waveforms = torch.randn(2, 1, 2 * SR)
    with torch.inference_mode():
        plain = campplus(waveforms)
        cropped = campplus(waveforms, weights=torch.ones(2, 118))
    torch.testing.assert_close(cropped, plain, rtol=1e-4, atol=1e-4)


def test_crop_ignores_audio_where_the_speaker_is_silent(campplus):
    masks = _masks(1)
    masks[0, :100] = 1.0  # the first ~1.7 s of the chunk
    first = torch.randn(1, 1, 4 * SR)
    second = first.clone()
    second[..., 2 * SR:] = torch.randn(1, 1, 2 * SR)  # change only the last 2 s
    with torch.inference_mode():
        a, b = campplus(first, weights=masks), campplus(second, weights=masks)
    torch.testing.assert_close(a, b)


def test_crop_keeps_the_middle_of_long_speech(campplus):
    capped = CamPPlusEmbedding(mode="crop", max_duration=1.0)
    capped.load_state_dict(campplus.state_dict())
    capped.eval()
    waveform = torch.randn(1, 1, 3 * SR)
    with torch.inference_mode():
        out = capped(waveform, weights=torch.ones(1, 177))
        feats = capped.fbank(waveform)[0]  # 298 frames: keep 99..198
        middle = feats[99:199]
        expected = capped.campplus((middle - middle.mean(dim=0)).unsqueeze(0))
    torch.testing.assert_close(out, expected)


def test_weighted_mode_shapes_and_nan(campplus):
    weighted = CamPPlusEmbedding(mode="weighted")
    weighted.load_state_dict(campplus.state_dict())
    weighted.eval()
    masks = _masks(2)
    masks[1, 50:200] = 1.0
    with torch.inference_mode():
        out = weighted(torch.randn(2, 1, 4 * SR), weights=masks)
    assert out.shape == (2, 192)
    assert torch.isnan(out[0]).all() and torch.isfinite(out[1]).all()


def test_unknown_embedding_mode_is_refused():
    with pytest.raises(ValueError, match="embedding mode"):
        CamPPlusEmbedding(mode="average")


def test_pyannote_wraps_it_as_a_pretrained_embedding(campplus):
    from pyannote.audio.pipelines.speaker_verification import PretrainedSpeakerEmbedding

    embedding = PretrainedSpeakerEmbedding(campplus)
    assert (embedding.sample_rate, embedding.dimension, embedding.metric) == (SR, 192, "cosine")
    masks = _masks(2)
    masks[0, 100:200] = 1.0
    out = embedding(torch.randn(2, 1, 4 * SR), masks=masks)
    assert isinstance(out, np.ndarray) and out.shape == (2, 192)
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()
    assert 400 < embedding.min_num_samples <= 0.3 * SR


def test_published_weights_load_strictly(require_models):
    from pipeline.weights.store import model_dir

    model = CamPPlusEmbedding.from_file(model_dir("campplus"))
    assert sum(p.numel() for p in model.parameters()) > 6_500_000
    assert not model.training


# --- options, hints and conversion, without models -----------------------------------------------


@pytest.mark.parametrize("hints", [
    {"min_speakers": 3, "max_speakers": 2},
    {"num_speakers": 4, "max_speakers": 2},
    {"num_speakers": 0},
])
def test_contradictory_hints_are_config_errors(hints):
    with pytest.raises(ConfigError, match="speakers"):
        override(PipelineConfig(), "diarization", **hints)


@pytest.mark.parametrize("change", [
    {"embedding_mode": "mean"}, {"clustering_method": "kmeans"}, {"step": 0.0},
    {"clustering_threshold": 3.0}, {"embedding_batch_size": 0}, {"min_duration_off": -1.0},
])
def test_bad_options_are_config_errors(change):
    with pytest.raises(ConfigError, match="test.yaml: diarization"):
        override(PipelineConfig(), "diarization", where="test.yaml", **change)


class _FakePipeline:
    def __init__(self, raises: Exception | None = None):
        self.calls, self.raises = [], raises

    def __call__(self, file, **kwargs):
        self.calls.append((file, kwargs))
        if self.raises:
            raise self.raises
        return "output"


def test_hints_and_hook_are_passed_through():
    fake, hook = _FakePipeline(), object()
    options = DiarizationOptions(min_speakers=2, max_speakers=4)
    assert stage._run(fake, {"uri": "x"}, options, hook, "x") == "output"
    assert fake.calls[0][1] == {"num_speakers": None, "min_speakers": 2, "max_speakers": 4, "hook": hook}
    stage._run(fake, {"uri": "x"}, DiarizationOptions(num_speakers=3), None, "x")
    assert fake.calls[1][1]["num_speakers"] == 3


def test_pyannote_failures_become_diarization_errors():
    with pytest.raises(DiarizationError, match="show.mp3: diarization failed: boom"):
        stage._run(_FakePipeline(RuntimeError("boom")), {}, DiarizationOptions(), None, "show.mp3")


def test_speakers_renamed_in_order_of_first_appearance():
    annotation, exclusive = Annotation(), Annotation()
    annotation[Segment(5.0, 9.0)] = 0
    annotation[Segment(1.00049, 6.0)] = 1
    annotation[Segment(7.0, 8.0)] = 2
    exclusive[Segment(1.0, 5.0)] = 1
    exclusive[Segment(5.0, 9.0)] = 0
    annotation[Segment(9.5, 10.02)] = 1  # pyannote's last frame can overrun the end
    result = stage.to_diarization(annotation, exclusive, duration=10.0)
    assert result.speakers == ("SPEAKER_00", "SPEAKER_01", "SPEAKER_02")
    assert [(t.start, t.end, t.speaker) for t in result.turns] == [
        (1.0, 6.0, "SPEAKER_00"), (5.0, 9.0, "SPEAKER_01"), (7.0, 8.0, "SPEAKER_02"),
        (9.5, 10.0, "SPEAKER_00")]
    assert [t.speaker for t in result.exclusive] == ["SPEAKER_00", "SPEAKER_01"]
    assert result.duration == 10.0


@pytest.mark.parametrize("audio, problem", [
    (_audio(np.zeros(SR // 4)), "too short"),
    (_audio(np.zeros(2 * 44_100), rate=44_100), "16000 Hz"),
    (_audio(np.full(2 * SR, np.nan)), "NaN"),
])
def test_unusable_audio_is_an_audio_error_naming_the_file(audio, problem):
    with pytest.raises(AudioError, match=f"clip.wav: .*{problem}"):
        stage.diarize(_FakePipeline(), audio, DiarizationOptions(device="cpu"))


def test_device_choice():
    assert runtime.resolve_device("cpu") == "cpu"
    assert runtime.resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="cuda"):
            runtime.resolve_device("cuda")


def test_telemetry_is_off(monkeypatch):
    monkeypatch.setenv("PYANNOTE_METRICS_ENABLED", "1")
    runtime.offline_environment()
    assert os.environ["PYANNOTE_METRICS_ENABLED"] == "0"


# --- the real models ------------------------------------------------------------------------------

OPTIONS = DiarizationOptions(device="cpu")


@pytest.fixture(scope="module")
def sample(sample_audio) -> torch.Tensor:
    return torch.from_numpy(sample_audio.samples)[None]


@pytest.fixture(scope="module")
def pipeline(require_models):
    return stage.load_pipeline(OPTIONS)


@pytest.fixture(scope="module")
def sample_result(sample, pipeline):
    steps = []

    def hook(step, artifact, file=None, total=None, completed=None):
        steps.append(step)

    result = stage.diarize(pipeline, _audio(sample, "sample.wav"), OPTIONS, hook=hook)
    counts = dict(pipeline.last_counts)  # the crop step's, for this run
    return result, steps, counts


@pytest.mark.slow
def test_sample_has_two_speakers(sample_result):
    result = sample_result[0]
    assert isinstance(result, Diarization)
    assert result.speakers == ("SPEAKER_00", "SPEAKER_01")
    assert result.duration == pytest.approx(30.0)


@pytest.mark.slow
def test_sample_der(sample_result, record_property):
    from pyannote.metrics.diarization import DiarizationErrorRate

    hypothesis = _hypothesis(sample_result[0].turns)
    der, der_collar = (DiarizationErrorRate(collar=c)(_reference(), hypothesis) for c in (0.0, 0.5))
    record_property("der", round(der, 3))
    record_property("der_collar", round(der_collar, 3))
    assert der <= 0.07  # 0.056 under AVX, AVX2, AVX512 and GENERIC (torch and ONNX Runtime alike)
    assert der_collar <= 0.02  # 0.000


@pytest.mark.slow
def test_sample_turns_are_well_formed(sample_result):
    result, steps, _ = sample_result
    for turns in (result.turns, result.exclusive):
        assert list(turns) == sorted(turns)
        assert all(0.0 <= t.start < t.end <= result.duration + 0.01 for t in turns)
        assert {t.speaker for t in turns} == set(result.speakers)
    assert result.turns[0].speaker == "SPEAKER_00"
    for a, b in itertools.pairwise(result.exclusive):
        assert a.end <= b.start + 1e-6  # exclusive turns never overlap
    exclusive_time = sum(t.duration for t in result.exclusive)
    assert exclusive_time == pytest.approx(_hypothesis(result.turns).get_timeline().support().duration(),
                                           abs=0.1)
    # the reference's longest turn (speaker91, 21.78-28.50) is one speaker throughout
    assert {_speaker_at(result, t) for t in (22.5, 24.0, 26.0, 27.5)} == {_speaker_at(result, 22.5)}
    assert "segmentation" in steps and "embeddings" in steps


def _speaker_at(result: Diarization, time: float) -> str | None:
    return next((t.speaker for t in result.exclusive if t.start <= time < t.end), None)


@pytest.mark.slow
@pytest.mark.parametrize("hints, expected", [({"num_speakers": 2}, 2), ({"max_speakers": 1}, 1)])
def test_hints_reach_the_clustering(sample, hints, expected, pipeline):
    result = stage.diarize(pipeline, _audio(sample, "sample.wav"), OPTIONS.model_copy(update=hints))
    assert len(result.speakers) == expected


@pytest.mark.slow
def test_silence_gives_no_speakers(pipeline):
    result = stage.diarize(pipeline, _audio(np.zeros(20 * SR), "silence.wav"), OPTIONS)
    assert result.turns == () and result.exclusive == () and result.speakers == ()
    assert result.duration == 20.0


@pytest.mark.slow
def test_one_speaker(sample, pipeline):
    # speaker91 alone, per sample.rttm: 14.75-17.90 and 21.90-27.70, spliced
    stretches = [sample[:, int(a * SR):int(b * SR)] for a, b in ((14.75, 17.9), (21.9, 27.7))]
    result = stage.diarize(pipeline, _audio(torch.cat(stretches, dim=1), "one.wav"), OPTIONS)
    assert result.speakers == ("SPEAKER_00",)
    assert sum(t.duration for t in result.exclusive) > 6.0


def _noise(seconds: float) -> np.ndarray:
    return 0.1 * np.random.default_rng(0).standard_normal(int(seconds * SR)).astype(np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("make", [music, _noise], ids=["music", "noise"])
def test_music_or_noise_only_gives_no_speakers(make, pipeline):
    result = stage.diarize(pipeline, _audio(make(16.0), "music.wav"), OPTIONS)
    assert result.turns == () and result.speakers == ()


@pytest.mark.slow
def test_under_one_second_of_speech(sample, pipeline):
    # 24.0-24.8 s of sample.wav: speaker91 alone (too little for an embedding the clustering trusts)
    result = stage.diarize(pipeline, _audio(sample[:, int(24.0 * SR):int(24.8 * SR)], "short.wav"), OPTIONS)
    assert result.speakers == ("SPEAKER_00",)
    assert all(0.0 <= t.start < t.end <= 0.8 for t in result.turns)
    assert sum(t.duration for t in result.turns) > 0.5


def test_store_options_are_used(tmp_path):
    with pytest.raises(ModelNotFoundError, match="segmentation-3.0"):
        stage.load_pipeline(OPTIONS, ModelStoreOptions(cache_dir=str(tmp_path)))


@pytest.mark.slow
def test_sample_embeds_each_crop_once(sample_result):
    counts = sample_result[2]
    assert counts["pairs"] == counts["computed"] + counts["reused"] > 0
    assert counts["reused"] > 0


def test_stretches_of_one_length_go_through_the_network_a_few_seconds_at_a_time(campplus):
    # the turn check's prints: 4 s crops, up to 32 of them at once held 0.4 GB on the hour
    waveform = torch.randn(1, 16_000 * 40) * 0.1
    spans = [(16_000 * 5 * k, 16_000 * (5 * k + 4)) for k in range(7)] + [(16_000 * 36, 16_000 * 37)] * 3
    seen = []
    hook = campplus.campplus.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[0]))
    together = campplus.embed_spans(waveform, spans)
    hook.remove()
    assert seen == [2, 2, 2, 1, 3]  # 8 s of 4 s crops a call; the 1 s ones all at once
    alone = torch.cat([campplus.embed_spans(waveform, [span]) for span in spans])
    assert torch.allclose(together, alone, atol=1e-4)
