"""CAM++ speaker embeddings (3D-Speaker), as an embedding model pyannote.audio can use.

The network is 3D-Speaker's ``speakerlab/models/campplus`` (``DTDNN.py`` and ``layers.py``,
Copyright 3D-Speaker, Apache-2.0), written out here with the original module names so the
published state dict loads with ``strict=True``. It follows the original exactly: the final dense
layer ends in a BatchNorm *without* a ReLU (some copies add one, which folds every embedding into
the positive orthant and every speaker into one cluster).

:class:`CamPPlusEmbedding` makes it a ``pyannote.audio.Model``, which is what pyannote's
``SpeakerDiarization`` pipeline accepts for ``embedding=`` (it wraps any ``Model`` instance in
``PyannoteAudioPretrainedSpeakerEmbedding`` and calls ``model(waveforms, weights=masks)``).
Features are Kaldi fbanks (80 mel bins, 25 ms windows every 10 ms), mean-normalized over the
frames the embedding is computed on. Two ways to use the speaker mask of a chunk:

* ``crop`` (default): keep only the fbank frames where the speaker is active (mask > 0.5), at
  most ``max_duration`` seconds of them (the middle ones), and embed those. A speaker active for
  less than ``min_duration`` seconds gets a NaN embedding, which the pipeline's clustering skips,
  as pyannote's own WeSpeaker and SpeechBrain wrappers do. Cropping is both more accurate and
  cheaper than weighting: CAM++ only sees the speaker it is asked about.
* ``weighted``: run the network on the whole chunk and weight its statistics pooling by the mask.

Importing this module imports torch and pyannote.audio: only the diarization loader does, after
:func:`pipeline.runtime.offline_environment`.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from pyannote.audio import Model
from torch import nn

EMBEDDING_MODES = ("crop", "weighted")
WEIGHTS_FILE = "campplus_cn_en_common.pt"
#: seconds of audio :meth:`CamPPlusEmbedding.embed_spans` runs through the network at once
BATCH_SECONDS = 8.0


def kaldi_fbank(samples: torch.Tensor, sample_rate: int = 16000) -> torch.Tensor:
    """(1, samples) to (frames, 80) Kaldi fbanks, 25 ms windows every 10 ms, not normalized."""
    import torchaudio.compliance.kaldi as kaldi

    return kaldi.fbank(samples, num_mel_bins=80, frame_length=25.0, frame_shift=10.0, dither=0.0,
                       sample_frequency=sample_rate)


def middle(frames, longest: int):
    """The middle ``longest`` items of ``frames`` (an array or a tensor), all of them when no more."""
    if not longest or len(frames) <= longest:
        return frames
    start = (len(frames) - longest) // 2
    return frames[start:start + longest]


def _nonlinear(channels: int, relu: bool = True, affine: bool = True) -> nn.Sequential:
    """3D-Speaker's ``get_nonlinear``: 'batchnorm-relu', or 'batchnorm_' (no affine, no ReLU)."""
    layers = OrderedDict(batchnorm=nn.BatchNorm1d(channels, affine=affine))
    if relu:
        layers["relu"] = nn.ReLU(inplace=True)
    return nn.Sequential(layers)


class BasicResBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=(stride, 1), bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out)) + self.shortcut(x)
        return F.relu(out)


class FCM(nn.Module):
    """The 2-D convolutional front end over (frequency, time)."""

    def __init__(self, m_channels: int = 32, feat_dim: int = 80) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, m_channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(m_channels)
        self.layer1 = nn.Sequential(BasicResBlock(m_channels, m_channels, 2),
                                    BasicResBlock(m_channels, m_channels, 1))
        self.layer2 = nn.Sequential(BasicResBlock(m_channels, m_channels, 2),
                                    BasicResBlock(m_channels, m_channels, 1))
        self.conv2 = nn.Conv2d(m_channels, m_channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(m_channels)
        self.out_channels = m_channels * (feat_dim // 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
        out = self.layer2(self.layer1(out))
        out = F.relu(self.bn2(self.conv2(out)))
        batch, channels, freq, time = out.shape
        return out.reshape(batch, channels * freq, time)


class TDNNLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        padding = (kernel_size - 1) // 2
        self.linear = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride,
                                padding=padding, bias=False)
        self.nonlinear = _nonlinear(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))


class CAMLayer(nn.Module):
    """Context-aware masking: a local convolution gated by utterance and 100-frame segment means."""

    def __init__(self, bn_channels: int, out_channels: int, kernel_size: int, dilation: int,
                 reduction: int = 2, seg_len: int = 100) -> None:
        super().__init__()
        padding = (kernel_size - 1) // 2 * dilation
        self.linear_local = nn.Conv1d(bn_channels, out_channels, kernel_size, padding=padding,
                                      dilation=dilation, bias=False)
        self.linear1 = nn.Conv1d(bn_channels, bn_channels // reduction, 1)
        self.relu = nn.ReLU(inplace=True)
        self.linear2 = nn.Conv1d(bn_channels // reduction, out_channels, 1)
        self.sigmoid = nn.Sigmoid()
        self.seg_len = seg_len

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear_local(x)
        context = x.mean(-1, keepdim=True) + self.seg_pooling(x)
        return y * self.sigmoid(self.linear2(self.relu(self.linear1(context))))

    def seg_pooling(self, x: torch.Tensor) -> torch.Tensor:
        seg = F.avg_pool1d(x, kernel_size=self.seg_len, stride=self.seg_len, ceil_mode=True)
        seg = seg.unsqueeze(-1).expand(*seg.shape, self.seg_len).reshape(*seg.shape[:-1], -1)
        return seg[..., : x.shape[-1]]


class CAMDenseTDNNLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, bn_channels: int, kernel_size: int,
                 dilation: int) -> None:
        super().__init__()
        self.nonlinear1 = _nonlinear(in_channels)
        self.linear1 = nn.Conv1d(in_channels, bn_channels, 1, bias=False)
        self.nonlinear2 = _nonlinear(bn_channels)
        self.cam_layer = CAMLayer(bn_channels, out_channels, kernel_size, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class CAMDenseTDNNBlock(nn.ModuleList):
    def __init__(self, num_layers: int, in_channels: int, out_channels: int, bn_channels: int,
                 kernel_size: int, dilation: int) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = CAMDenseTDNNLayer(in_channels + i * out_channels, out_channels, bn_channels,
                                      kernel_size, dilation)
            self.add_module(f"tdnnd{i + 1}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = torch.cat([x, layer(x)], dim=1)
        return x


class TransitLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.nonlinear = _nonlinear(in_channels)
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(x))


class DenseLayer(nn.Module):
    """The embedding layer: a linear map and a BatchNorm without affine parameters, no ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.nonlinear = _nonlinear(out_channels, relu=False, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))


class StatsPool(nn.Module):
    """Mean and standard deviation over time, optionally weighted (pyannote's formula)."""

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        if weights is None:
            return torch.cat([x.mean(dim=-1), x.std(dim=-1, unbiased=True)], dim=-1)
        weights = weights.unsqueeze(1)
        v1 = weights.sum(dim=2) + 1e-8
        mean = torch.sum(x * weights, dim=2) / v1
        v2 = torch.square(weights).sum(dim=2)
        var = torch.sum(torch.square(x - mean.unsqueeze(2)) * weights, dim=2) / (v1 - v2 / v1 + 1e-8)
        return torch.cat([mean, torch.sqrt(var)], dim=1)


class CAMPPlus(nn.Module):
    """CAM++ (Wang et al., Interspeech 2023): fbanks (batch, frames, 80) to embeddings."""

    def __init__(self, feat_dim: int = 80, embedding_size: int = 192, growth_rate: int = 32,
                 bn_size: int = 4, init_channels: int = 128) -> None:
        super().__init__()
        self.head = FCM(feat_dim=feat_dim)
        self.xvector = nn.Sequential(
            OrderedDict(tdnn=TDNNLayer(self.head.out_channels, init_channels, 5, stride=2))
        )
        channels = init_channels
        for i, (num_layers, dilation) in enumerate(((12, 1), (24, 2), (16, 2)), start=1):
            block = CAMDenseTDNNBlock(num_layers, channels, growth_rate, bn_size * growth_rate,
                                      kernel_size=3, dilation=dilation)
            self.xvector.add_module(f"block{i}", block)
            channels += num_layers * growth_rate
            self.xvector.add_module(f"transit{i}", TransitLayer(channels, channels // 2))
            channels //= 2
        self.xvector.add_module("out_nonlinear", _nonlinear(channels))
        self.xvector.add_module("stats", StatsPool())
        self.xvector.add_module("dense", DenseLayer(channels * 2, embedding_size))
        self.embedding_size = embedding_size

    def forward(self, feats: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """``weights`` (batch, frames), if given, weight the statistics pooling over time."""
        x = self.head(feats.permute(0, 2, 1))
        for name, module in self.xvector.named_children():
            if name == "stats":
                if weights is not None:
                    weights = F.interpolate(weights.unsqueeze(1), size=x.shape[-1], mode="nearest")
                    weights = weights.squeeze(1)
                x = module(x, weights)
            else:
                x = module(x)
        return x


class CamPPlusEmbedding(Model):
    """CAM++ as a ``pyannote.audio.Model``: ``forward(waveforms (B, 1, N), weights (B, F)) -> (B, 192)``.

    ``weights`` are pyannote's per-frame speaker masks at the segmentation model's frame rate;
    they are stretched to the fbank frame rate (nearest neighbour).
    """

    def __init__(self, mode: str = "crop", min_duration: float = 0.25, max_duration: float = 0.0,
                 sample_rate: int = 16000, num_channels: int = 1) -> None:
        if mode not in EMBEDDING_MODES:
            raise ValueError(f"embedding mode must be one of {EMBEDDING_MODES}, got {mode!r}")
        super().__init__(sample_rate=sample_rate, num_channels=num_channels)
        self.mode = mode
        self.min_duration = min_duration
        self.max_duration = max_duration
        self.campplus = CAMPPlus()
        #: an ONNX Runtime session of ``campplus`` (pipeline.stages.onnxrt) for crops; None: torch
        self.session = None

    @classmethod
    def from_file(cls, path: str | Path, **kwargs) -> CamPPlusEmbedding:
        """Load the 3D-Speaker state dict (``campplus_cn_en_common.pt``, or its folder)."""
        path = Path(path)
        if path.is_dir():
            path = path / WEIGHTS_FILE
        model = cls(**kwargs)
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.campplus.load_state_dict(state, strict=True)
        return model.eval()

    @property
    def dimension(self) -> int:
        return self.campplus.embedding_size

    @property
    def min_num_frames(self) -> int:
        """Fewest active fbank frames (10 ms each) worth an embedding."""
        return max(3, round(self.min_duration * 100))

    @property
    def max_num_frames(self) -> int | None:
        """Most active fbank frames a crop keeps (the middle ones); None: all of them."""
        return max(self.min_num_frames, round(self.max_duration * 100)) if self.max_duration else None

    def fbank(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, 1, samples) to (batch, frames, 80) Kaldi fbanks, not normalized."""
        if waveforms.shape[-1] < 400:  # one 25 ms window
            raise ValueError(f"{waveforms.shape[-1]} samples is too short for one fbank frame")
        return torch.stack([kaldi_fbank(w, self.hparams.sample_rate) for w in waveforms])

    def embed_crop(self, feats: torch.Tensor) -> torch.Tensor:
        """The embedding (dimension,) of (frames, 80) fbanks, mean-normalized over those frames."""
        normalized = (feats - feats.mean(dim=0)).unsqueeze(0)
        if self.session is not None and normalized.device.type == "cpu":
            return torch.from_numpy(self.session(normalized.numpy()))[0]
        return self.campplus(normalized)[0]

    def embed_spans(self, waveform: torch.Tensor, spans, batch: int = 32) -> torch.Tensor:
        """(len(spans), dimension) embeddings of stretches ``(first, end)`` (samples) of a (1, N) waveform.

        Each stretch is embedded on its own, as :meth:`embed_crop` embeds a diarization crop:
        its Kaldi fbanks, mean-normalized over the stretch. Stretches of the same length go
        through the network together, ``batch`` at a time and :data:`BATCH_SECONDS` of audio at
        most (the same numbers to 1e-5, a fraction of the calls: a short crop costs little more
        than the call itself; ten 4 s crops at once held 0.3 GB more than two at a time).
        """
        device = next(self.parameters()).device
        out = torch.empty((len(spans), self.dimension))
        by_length: dict[int, list[int]] = {}
        for i, (first, end) in enumerate(spans):
            by_length.setdefault(end - first, []).append(i)
        with torch.inference_mode():
            for length, same in by_length.items():
                size = max(1, min(batch, int(BATCH_SECONDS * self.hparams.sample_rate) // length))
                for k in range(0, len(same), size):
                    items = same[k:k + size]
                    feats = torch.stack([kaldi_fbank(waveform[:, spans[i][0]:spans[i][1]], self.hparams.sample_rate)
                                         for i in items]).to(device)
                    out[items] = self.campplus(feats - feats.mean(dim=1, keepdim=True)).cpu()
        return out

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        feats = self.fbank(waveforms)
        if weights is None:
            if feats.shape[1] < self.min_num_frames:
                raise ValueError(f"{feats.shape[1]} fbank frames is too short for an embedding")
            return self.campplus(feats - feats.mean(dim=1, keepdim=True))
        masks = F.interpolate(weights.unsqueeze(1).float(), size=feats.shape[1], mode="nearest")
        masks = masks.squeeze(1)
        if self.mode == "weighted":
            return self._weighted(feats, masks)
        return self._cropped(feats, masks > 0.5)

    def _weighted(self, feats: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        embeddings = self.campplus(feats - feats.mean(dim=1, keepdim=True), weights=masks)
        too_short = (masks > 0.5).sum(dim=1) < self.min_num_frames
        embeddings[too_short] = torch.nan
        return embeddings

    def _cropped(self, feats: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """Embed each item on its active frames only, mean-normalized over those frames."""
        embeddings = torch.full((feats.shape[0], self.dimension), torch.nan, device=feats.device)
        for i, (feat, keep) in enumerate(zip(feats, active, strict=True)):
            cropped = middle(feat[keep], self.max_num_frames)
            if cropped.shape[0] >= self.min_num_frames:
                embeddings[i] = self.embed_crop(cropped)
        return embeddings
