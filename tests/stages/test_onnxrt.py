"""ONNX Runtime for diarization's networks: the exports, their cache, and the same numbers as torch.

CAM++ with random weights, the instance-norm algebra and the export cache run without model
files; segmentation-3.0 and the whole stage use the offline store's weights on sample.wav.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pipeline import runtime
from pipeline.config import DiarizationOptions
from pipeline.errors import ConfigError, ModelError
from pipeline.stages import diarize as stage
from pipeline.types import Audio
from pipeline.weights import export

runtime.offline_environment()

from pipeline.stages import onnxrt  # noqa: E402
from pipeline.stages.campplus import CamPPlusEmbedding  # noqa: E402

SR = 16_000


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    with runtime.torch_threads(1):
        yield


# --- the pieces, without model files ---------------------------------------------------------------


def test_chunk_norm_is_pyannotes_instance_norm():
    norm = torch.nn.InstanceNorm1d(1, affine=True)
    with torch.no_grad():
        norm.weight.fill_(0.7)
        norm.bias.fill_(-0.2)
    x = (np.random.default_rng(1).standard_normal((3, 1, 16_000)) * [[[0.1]], [[0.5]], [[1e-3]]] + 0.01)
    x = x.astype(np.float32)
    scale, shift = onnxrt.chunk_norm(x, norm)
    assert scale.shape == shift.shape == (3, 1, 1)
    with torch.inference_mode():
        expected = norm(torch.from_numpy(x)).numpy()
    assert np.abs(scale * x + shift - expected).max() < 1e-5


def test_consecutive_chunks_are_recognised():
    signal = np.arange(100, dtype=np.float32)
    chunks = np.stack([signal[i * 10:i * 10 + 40] for i in range(4)])[:, None]
    assert onnxrt.consecutive(chunks, 10)
    assert not onnxrt.consecutive(chunks, 20)
    chunks[2, 0, 5] = -1.0
    assert not onnxrt.consecutive(chunks, 10)


@pytest.fixture(scope="module")
def campplus_export(tmp_path_factory):
    torch.manual_seed(0)
    embedding = CamPPlusEmbedding(mode="crop").eval()
    path = tmp_path_factory.mktemp("export") / "campplus.onnx"
    measured = onnxrt.build_campplus(embedding, path)
    return embedding, path, measured


def test_campplus_export_gives_torchs_embeddings(campplus_export):
    embedding, path, measured = campplus_export
    assert 0.0 <= measured["max_abs_diff"] <= measured["tolerance"]
    session = onnxrt.Session(path)
    feats = torch.randn(233, 80) * 2.0 + 5.0  # a length the export was not traced on
    with torch.inference_mode():
        expected = embedding.embed_crop(feats).numpy()
        embedding.session = session
        try:
            got = embedding.embed_crop(feats).numpy()
        finally:
            embedding.session = None
    assert got.shape == (192,)
    assert np.abs(got - expected).max() < 1e-4 * max(1.0, np.abs(expected).max())


def test_an_export_that_differs_from_torch_is_refused():
    with pytest.raises(ModelError, match="differs from torch"):
        onnxrt.compared("CAM++", np.zeros(3), np.array([0.0, 0.0, 0.1]), 1e-3)


def test_exports_are_built_once_and_rebuilt_when_changed(tmp_path):
    calls = []

    def build(path):
        calls.append(path)
        path.write_bytes(b"graph %d" % len(calls))
        return {"max_abs_diff": 0.0}

    path, record = export.exported(tmp_path, "net", "k1", build)
    assert path == tmp_path / "net-k1.onnx" and path.read_bytes() == b"graph 1"
    assert record["check"] == {"max_abs_diff": 0.0} and record["key"] == "k1"
    assert json.loads(path.with_suffix(".json").read_text())["sha256"] == record["sha256"]
    assert export.exported(tmp_path, "net", "k1", build)[0] == path and len(calls) == 1
    path.write_bytes(b"tampered!")
    export.exported(tmp_path, "net", "k1", build)
    assert len(calls) == 2 and path.read_bytes() == b"graph 2"
    record_path = path.with_suffix(".json")
    stale = json.loads(record_path.read_text())
    del stale["stat"]  # a record without the file's size and time: hashed once, then trusted
    record_path.write_text(json.dumps(stale))
    assert export.exported(tmp_path, "net", "k1", build)[0] == path and len(calls) == 2
    assert "stat" in json.loads(record_path.read_text())
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def test_a_failed_build_leaves_nothing(tmp_path):
    def build(path):
        path.write_bytes(b"half")
        raise ModelError("check failed")

    with pytest.raises(ModelError):
        export.exported(tmp_path, "net", "k1", build)
    assert list(tmp_path.iterdir()) == []


def test_export_key_follows_weights_graph_and_versions():
    key = export.export_key(["aa", "bb"], "campplus", {"torch": "2.9"})
    assert key == export.export_key(["bb", "aa"], "campplus", {"torch": "2.9"})
    assert len({key, export.export_key(["aa", "cc"], "campplus", {"torch": "2.9"}),
                export.export_key(["aa", "bb"], "sincconv", {"torch": "2.9"}),
                export.export_key(["aa", "bb"], "campplus", {"torch": "2.10"})}) == 4


def test_engine_choice():
    assert stage.resolve_engine("auto", "cpu") == "onnxruntime"
    assert stage.resolve_engine("auto", "cuda") == "torch"
    assert stage.resolve_engine("torch", "cpu") == "torch"
    with pytest.raises(ConfigError, match="CPU only"):
        stage.resolve_engine("onnxruntime", "cuda")


# --- the offline store's weights on sample.wav ----------------------------------------------------


@pytest.fixture(scope="module")
def pipelines(require_models):
    options = DiarizationOptions(device="cpu")
    return {engine: stage.load_pipeline(options.model_copy(update={"engine": engine}))
            for engine in ("torch", "onnxruntime")}


@pytest.mark.slow
def test_segmentation_on_onnx_runtime_matches_torch(pipelines, sample_audio):
    inference = pipelines["onnxruntime"]._segmentation
    assert isinstance(inference, onnxrt.OnnxInference)
    model = inference.model
    chunks = torch.from_numpy(sample_audio.samples)[None].unfold(1, 160_000, 16_000).permute(1, 0, 2)
    x = chunks.contiguous().numpy()  # the 21 consecutive chunks of sample.wav at the 1 s step
    shared = onnxrt.filtered(inference.conv, x, 16_000, 10)
    assert np.abs(shared - inference.conv(x)).max() < 1e-4  # the filters once, or once per chunk
    with torch.inference_mode():
        expected = model(chunks).numpy()
    got = onnxrt.segment(model, inference.conv, inference.head, x, 16_000)
    assert np.abs(got - expected).max() < 1e-3  # measured 1.2e-4
    # the powerset class of each frame: one frame in 12,369 is a near tie that may go either way
    assert (got.argmax(-1) == expected.argmax(-1)).mean() > 0.999


@pytest.mark.slow
def test_diarization_on_onnx_runtime_matches_torch(pipelines, sample_audio):
    results = {engine: stage.diarize(pipeline, sample_audio, DiarizationOptions(device="cpu", engine=engine))
               for engine, pipeline in pipelines.items()}
    assert pipelines["onnxruntime"].campplus.session is not None
    assert pipelines["torch"].campplus.session is None
    assert results["onnxruntime"] == results["torch"]
    assert len(results["torch"].speakers) == 2


@pytest.mark.slow
def test_silence_on_onnx_runtime(require_models):
    pipeline = stage.load_pipeline(DiarizationOptions(device="cpu", engine="onnxruntime"))
    result = stage.diarize(pipeline, Audio("silence.wav", np.zeros(12 * SR, np.float32), SR, "0" * 64),
                           DiarizationOptions(device="cpu"))
    assert result.speakers == ()
