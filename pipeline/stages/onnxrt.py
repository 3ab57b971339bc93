"""segmentation-3.0 and CAM++ on ONNX Runtime: the same networks, the same numbers, less CPU.

On one CPU thread ONNX Runtime runs both networks in about 0.6x torch's time (faster
convolutions, no per-operator Python overhead). The graphs are exported from the torch modules
the diarization loader has already built from the offline store's verified weights, once, into
the model cache (:mod:`pipeline.weights.export`, keyed by the weights' SHA256 and the exporter's
versions), and checked against torch on fixed inputs before use: an export that differs by more
than :data:`TOLERANCE` is not used.

* segmentation-3.0 is two graphs, :class:`SincConv` (SincNet's band-pass filters, computed once
  instead of on every call) and :class:`SegmentationHead` (the rest of PyanNet). The filters are
  linear, so the per-chunk waveform normalization can be applied after them; then the filters run
  once over a batch of overlapping chunks (:func:`filtered`) instead of once per chunk, ten times
  over each second at the default 1 s step. :class:`OnnxInference` is pyannote's sliding-window
  ``Inference`` with this in place of the torch forward.
* CAM++ is :class:`CampplusGraph`, on mean-normalized fbanks of any length;
  :class:`~pipeline.stages.campplus.CamPPlusEmbedding` runs its crops on it.

:func:`sessions` returns None for a model whose export cannot be built or fails its check,
with a warning saying why, and the loader keeps torch for that model.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pyannote.audio.core.inference import Inference
from torch import nn

from pipeline.config import ModelStoreOptions
from pipeline.errors import ModelError
from pipeline.runtime import release_memory

logger = logging.getLogger(__name__)

#: bump when a graph below changes: it is part of the exports' cache key
GRAPH_VERSION = 1
OPSET = 17
#: the largest absolute difference from torch an export may show on its check input
TOLERANCE = {"segmentation": 1e-3, "campplus": 1e-3}


class Session:
    """An ONNX Runtime session on CPU, numpy in and out, on ``threads`` threads (0: ORT's default).

    With one thread it runs in the calling thread, so its CPU time is that thread's.
    """

    def __init__(self, path: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: its warnings go to stderr, not to our log
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        # a run with these gives the session's memory arena back (shrinking it after every run
        # costs a quarter more time: the pages are zeroed again on the next)
        self.releasing = ort.RunOptions()
        self.releasing.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self.path = Path(path)
        self.threads = threads

    def __call__(self, *arrays: np.ndarray, release: bool = False) -> np.ndarray:
        """The (first) output for ``arrays``, in the order of the graph's inputs.

        ``release``: give the memory the session holds back to the system after this run.
        """
        feed = {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in zip(self.inputs, arrays, strict=True)}
        return self.session.run(None, feed, self.releasing if release else None)[0]


class SincConv(nn.Module):
    """SincNet's first layer alone: raw waveforms (batch, 1, samples) through its 80 band-pass filters.

    Without the waveform normalization in front of it, it is the same for every chunk a stretch
    of audio falls in: :class:`OnnxInference` runs it once over a batch of overlapping chunks.
    """

    def __init__(self, model) -> None:
        super().__init__()
        encoder = model.sincnet.conv1d[0]
        with torch.no_grad():  # asteroid computes the filters from their cut-offs on every call
            self.register_buffer("filters", encoder.filterbank.filters().detach().clone())
        self.stride = encoder.stride

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        return F.conv1d(waveforms, self.filters, stride=self.stride)


class SegmentationHead(nn.Module):
    """The rest of PyanNet (segmentation-3.0) from :class:`SincConv`'s output to log-probabilities.

    PyanNet normalizes each chunk's waveform (an instance norm: ``(x - mean) * scale + bias``)
    before the filters; the filters being linear, that is ``scale * conv(x) + shift * sum(filter)``
    after them, with ``scale`` and ``shift`` per chunk (:func:`chunk_norm`). From there on the
    layers are PyanNet's own.
    """

    def __init__(self, model) -> None:
        super().__init__()
        if not model.hparams.lstm["monolithic"]:
            raise ModelError("segmentation export: only PyanNet's monolithic LSTM is supported")
        sincnet = model.sincnet
        with torch.no_grad():
            sums = sincnet.conv1d[0].filterbank.filters().detach().sum(dim=-1)  # (80, 1)
        self.register_buffer("filter_sums", sums.unsqueeze(0).clone())  # (1, 80, 1)
        self.convs = nn.ModuleList(list(sincnet.conv1d)[1:])
        self.pools, self.norms = sincnet.pool1d, sincnet.norm1d
        self.lstm, self.linear = model.lstm, model.linear
        self.classifier, self.activation = model.classifier, model.activation

    def forward(self, filtered: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        x = torch.abs(filtered * scale + shift * self.filter_sums)
        x = F.leaky_relu(self.norms[0](self.pools[0](x)))
        for conv, pool, norm in zip(self.convs, self.pools[1:], self.norms[1:], strict=True):
            x = F.leaky_relu(norm(pool(conv(x))))
        x, _ = self.lstm(x.transpose(1, 2))
        for linear in self.linear:
            x = F.leaky_relu(linear(x))
        return self.activation(self.classifier(x))


def chunk_norm(chunks: np.ndarray, norm: nn.InstanceNorm1d) -> tuple[np.ndarray, np.ndarray]:
    """PyanNet's waveform instance norm of each of ``chunks`` (batch, 1, samples) as (scale, shift).

    ``norm(x) = (x - mean) / sqrt(var + eps) * weight + bias = scale * x + shift``, each (batch, 1, 1).
    """
    mean = chunks.mean(axis=-1, keepdims=True, dtype=np.float64)
    centred = chunks - mean.astype(np.float32)
    var = np.einsum("bct,bct->bc", centred, centred, dtype=np.float64)[..., None] / chunks.shape[-1]
    scale = float(norm.weight.item()) / np.sqrt(var + norm.eps)
    shift = float(norm.bias.item()) - scale * mean
    return scale.astype(np.float32), shift.astype(np.float32)


class CampplusGraph(nn.Module):
    """CAM++ on mean-normalized fbanks (batch, frames, 80) to embeddings (batch, 192)."""

    def __init__(self, campplus: nn.Module) -> None:
        super().__init__()
        self.campplus = campplus

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.campplus(feats)


class OnnxInference(Inference):
    """pyannote's sliding-window ``Inference`` with segmentation-3.0's forward on ONNX Runtime.

    Chunking, the powerset-to-multilabel conversion and the receptive field are pyannote's, from
    the torch ``model``. The forward is :class:`SincConv` then :class:`SegmentationHead`; when a
    batch is pyannote's run of consecutive chunks (each ``hop`` samples after the last) the
    filters run once over the stretch of audio they cover, not once per chunk (ten times at the
    default 1 s step), and each chunk takes its frames from that.
    """

    def __init__(self, model, conv: Session, head: Session, **kwargs) -> None:
        super().__init__(model, **kwargs)
        if isinstance(model.specifications, tuple):
            raise ModelError("segmentation export: models with several outputs are not supported")
        self.conv, self.head = conv, head

    def __call__(self, file, hook=None):
        try:
            return super().__call__(file, hook=hook)
        finally:  # a batch of chunks leaves 40 MB per chunk in the sessions' memory arenas
            segment(self.model, self.conv, self.head, np.zeros((1, 1, 4_000), np.float32), 0, release=True)
            release_memory()

    def infer(self, chunks: torch.Tensor) -> np.ndarray:
        hop = round(self.step * self.model.hparams.sample_rate)
        scores = torch.from_numpy(segment(self.model, self.conv, self.head, chunks.numpy(), hop))
        with torch.inference_mode():
            return self.conversion(scores).numpy()


def segment(model, conv: Session, head: Session, x: np.ndarray, hop: int, release: bool = False) -> np.ndarray:
    """segmentation-3.0's log-probabilities (batch, frames, classes) of chunks ``x`` (batch, 1, samples).

    ``model`` is the torch PyanNet the sessions were exported from; ``hop``: the samples between
    chunk starts, when they are consecutive; ``release``: the sessions' memory goes back after.
    """
    scale, shift = chunk_norm(x, model.sincnet.wav_norm1d)
    frames = filtered(conv, x, hop, model.sincnet.conv1d[0].stride, release)
    return head(frames, scale, shift, release=release)


def filtered(conv: Session, x: np.ndarray, hop: int, stride: int, release: bool = False) -> np.ndarray:
    """:class:`SincConv` of each chunk of ``x`` (batch, 1, samples), once where chunks overlap.

    When each chunk starts ``hop`` samples (a whole number of filter strides) after the one
    before, the filters run over the stretch the chunks cover and each chunk takes its frames.
    """
    if len(x) < 2 or hop <= 0 or hop % stride or hop >= x.shape[-1] or not consecutive(x, hop):
        return conv(x, release=release)
    stretch = np.concatenate([x[0, 0], x[1:, 0, -hop:].reshape(-1)])
    frames = conv(stretch[None, None], release=release)[0]  # (80, frames of the stretch)
    per_chunk = frames.shape[-1] - (len(x) - 1) * (hop // stride)
    return np.stack([frames[:, i * (hop // stride):i * (hop // stride) + per_chunk] for i in range(len(x))])


def consecutive(x: np.ndarray, hop: int) -> bool:
    """Whether each chunk of ``x`` (batch, 1, samples) starts ``hop`` samples after the one before."""
    return bool(np.array_equal(x[1:, :, :-hop], x[:-1, :, hop:]))


def versions() -> dict[str, str]:
    """What an export depends on besides the weights: part of its cache key."""
    from importlib.metadata import version

    return {"torch": torch.__version__, "onnx": version("onnx"), "graph": str(GRAPH_VERSION),
            "opset": str(OPSET)}


def segmentation_example(hop: int = 16_000) -> np.ndarray:
    """Four fixed consecutive 10 s chunks, ``hop`` apart (noise, then a warbling tone), to check on."""
    rng = np.random.default_rng(0)
    samples = 160_000 + 3 * hop
    t = np.arange(samples) / 16_000
    tone = 0.3 * np.sin(2 * np.pi * (200 + 50 * np.sin(2 * np.pi * 0.5 * t)) * t)
    signal = np.where(t < t[-1] / 2, 0.1 * rng.standard_normal(samples), tone + 0.01 * rng.standard_normal(samples))
    return np.stack([signal[i * hop:i * hop + 160_000] for i in range(4)]).astype(np.float32)[:, None]


def campplus_examples() -> list[np.ndarray]:
    """Fixed mean-normalized fbank crops of 0.4 s, 1.37 s and 5 s to check an export on."""
    rng = np.random.default_rng(0)
    crops = []
    for frames in (40, 137, 500):
        feats = rng.standard_normal((1, frames, 80)).astype(np.float32) * 3.0 + 10.0
        crops.append(feats - feats.mean(axis=1, keepdims=True))
    return crops


def export(graph: nn.Module, examples: tuple[np.ndarray, ...], path: Path, dynamic: dict[str, dict[int, str]]) -> None:
    """Write ``graph`` traced on ``examples`` to ``path`` as ONNX; ``dynamic``: axes left free, by input."""
    names = list(dynamic)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph.eval(), tuple(torch.from_numpy(e) for e in examples), str(path),
                          input_names=names, output_names=["output"],
                          dynamic_axes={**dynamic, "output": {0: "batch"}}, opset_version=OPSET, dynamo=False)


def compared(name: str, got: np.ndarray, expected: np.ndarray, tolerance: float) -> dict:
    """Their largest absolute difference, or a :class:`ModelError` when above ``tolerance``."""
    worst = float(np.abs(got - expected).max())
    if not worst <= tolerance:
        raise ModelError(f"{name}: ONNX Runtime differs from torch by {worst:.2g} (more than {tolerance:g})")
    return {"max_abs_diff": worst, "tolerance": tolerance}


def build_sincconv(model, path: Path) -> dict:
    """Export SincNet's filters of segmentation-3.0 (``model``, a loaded PyanNet) and check them."""
    example = segmentation_example()
    graph = SincConv(model)
    export(graph, (example[:1],), path, {"waveforms": {0: "batch", 2: "samples"}})
    with torch.inference_mode():
        expected = model.sincnet.conv1d[0](torch.from_numpy(example)).numpy()
    return compared("SincNet filters", Session(path)(example), expected, TOLERANCE["segmentation"])


def build_head(model, conv: Path, path: Path) -> dict:
    """Export the rest of segmentation-3.0 and check both parts together against PyanNet's forward."""
    example = segmentation_example()
    scale, shift = chunk_norm(example[:1], model.sincnet.wav_norm1d)
    with torch.inference_mode():
        filtered_one = model.sincnet.conv1d[0](torch.from_numpy(example[:1])).numpy()
        expected = model.eval()(torch.from_numpy(example)).numpy()
    export(SegmentationHead(model), (filtered_one, scale, shift), path,
           {"filtered": {0: "batch", 2: "frames"}, "scale": {0: "batch"}, "shift": {0: "batch"}})
    got = segment(model, Session(conv), Session(path), example, hop=16_000)
    return compared("segmentation-3.0", got, expected, TOLERANCE["segmentation"])


def build_campplus(embedding, path: Path) -> dict:
    """Export CAM++ (``embedding``, a CamPPlusEmbedding) to ``path`` and check it on three crops."""
    examples = campplus_examples()
    network = embedding.campplus.eval()
    export(CampplusGraph(network), (examples[-1],), path, {"feats": {0: "batch", 1: "frames"}})
    session = Session(path)
    with torch.inference_mode():
        checks = [compared("CAM++", session(e), network(torch.from_numpy(e)).numpy(), TOLERANCE["campplus"])
                  for e in examples]
    return max(checks, key=lambda c: c["max_abs_diff"])


def segmentation_sessions(model, threads: int, models: ModelStoreOptions | None = None) -> tuple[Session, Session]:
    """The two sessions of segmentation-3.0 (filters, rest), exported on first use."""
    from pipeline.weights.export import model_export

    conv, _ = model_export("segmentation-3.0", "sincconv", versions(), lambda p: build_sincconv(model, p), models)
    head, _ = model_export("segmentation-3.0", "segmentation-head", versions(),
                       lambda p: build_head(model, conv, p), models)
    return Session(conv, threads), Session(head, threads)


def campplus_session(embedding, threads: int, models: ModelStoreOptions | None = None) -> Session:
    """The session of CAM++, exported on first use."""
    from pipeline.weights.export import model_export

    path, _ = model_export("campplus", "campplus", versions(), lambda p: build_campplus(embedding, p), models)
    return Session(path, threads)


def sessions(segmentation, embedding, threads: int, models: ModelStoreOptions | None = None):
    """``(segmentation sessions or None, CAM++ session or None)``; None: torch runs that model.

    An export that cannot be built or fails its check is a warning saying why, not an error.
    """
    found = []
    for name, load in (("segmentation-3.0", lambda: segmentation_sessions(segmentation, threads, models)),
                       ("CAM++", lambda: campplus_session(embedding, threads, models))):
        try:
            found.append(load())
        except (ImportError, OSError, RuntimeError, ValueError, ModelError) as e:
            logger.warning("%s: ONNX Runtime not used, torch runs it instead: %s", name, e)
            found.append(None)
    return found[0], found[1]
