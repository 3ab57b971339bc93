"""Speaker embeddings of pyannote's (chunk, local speaker) pairs, each distinct crop computed once.

pyannote's ``SpeakerDiarization.get_embeddings`` embeds every local speaker of every 10 s chunk
of its sliding window, recomputing the audio features of each chunk once per local speaker. At the
default 1 s step a second of speech sits in ten chunks, and in crop mode (:mod:`pipeline.stages.campplus`)
the same stretch of one speaker's speech is cut out, and embedded, up to ten times.

:class:`CroppedSpeakerDiarization` replaces that step when ``embedding_mode`` is ``crop``:

* the Kaldi fbanks of the whole file are computed once (10 ms frames on a fixed grid: a chunk
  starting on a 10 ms boundary sees exactly the same frames), a few minutes at a time;
* each local speaker's active frames are taken in absolute time (the middle ``max_duration`` of
  them, as :mod:`pipeline.stages.campplus` does);
* a crop is embedded only when no earlier crop of the file will do (:class:`CropCache`): one that
  covers 90 % (``reuse``) of the same solo speech (overlapped speech is not compared), as the
  same turn seen from the next chunk does, or a full-length window lying within it, as in a
  long turn.

The result has pyannote's shape and meaning: ``(num_chunks, local_num_speakers, dimension)``, NaN
for a speaker active for less than ``min_duration`` in a chunk (clustering skips those).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from pyannote.audio.pipelines import SpeakerDiarization

from pipeline.stages.campplus import kaldi_fbank
from pipeline.stages.campplus import middle as window

#: Kaldi fbank framing at 16 kHz: 25 ms windows every 10 ms
FRAME_SHIFT = 160
FRAME_LENGTH = 400
FRAMES_PER_SECOND = 100
#: fbank frames computed at once (1 min: torchaudio holds about 10 KB per frame while it computes
#: them, 60 MB a block); at most two blocks are held
BLOCK_FRAMES = 6_000


def fbank_frames(num_samples: int) -> int:
    """How many 10 ms fbank frames Kaldi makes of ``num_samples`` (snip_edges: whole windows only)."""
    return 0 if num_samples < FRAME_LENGTH else (num_samples - FRAME_LENGTH) // FRAME_SHIFT + 1


class FileFbank:
    """Kaldi fbanks (80 bins, not normalized) of a whole (1, N) waveform, by absolute frame index.

    Computed block by block as chunks ask for them and dropped once behind the chunk being
    embedded, so memory stays the same however long the file is. Every frame is the one Kaldi
    computes over the whole file (the same 25 ms of samples).
    """

    def __init__(self, waveform: torch.Tensor, sample_rate: int = 16_000, block: int = BLOCK_FRAMES) -> None:
        self.samples = waveform.reshape(1, -1)
        self.sample_rate = sample_rate
        self.block = block
        self.total = fbank_frames(self.samples.shape[1])
        self.blocks: dict[int, torch.Tensor] = {}

    def forget_before(self, frame: int) -> None:
        for k in [k for k in self.blocks if (k + 1) * self.block <= frame]:
            del self.blocks[k]

    def __getitem__(self, frames: np.ndarray) -> torch.Tensor:
        """(len(frames), 80) fbanks of the given sorted absolute frame indices (all < ``total``)."""
        needed = range(int(frames[0]) // self.block, int(frames[-1]) // self.block + 1)
        for k in needed:
            if k not in self.blocks:
                first, last = k * self.block, min(self.total, (k + 1) * self.block)
                samples = self.samples[:, first * FRAME_SHIFT:(last - 1) * FRAME_SHIFT + FRAME_LENGTH]
                self.blocks[k] = kaldi_fbank(samples, self.sample_rate)
        joined = torch.cat([self.blocks[k] for k in needed]) if len(needed) > 1 else self.blocks[needed.start]
        return joined[torch.from_numpy(frames - needed.start * self.block)]


class CropCache:
    """Embeddings of the crops of one file, found again by the speech they share.

    Speech is compared by its *solo* frames, where the chunk's segmentation hears only this
    speaker: overlapped speech belongs to two speakers, and a short interjection over a long turn
    must not pass for the long turn. ``overlap`` 1: identical crops only.
    """

    def __init__(self, overlap: float) -> None:
        self.overlap = overlap
        self.entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (crop, solo frames, embedding)

    def forget_before(self, frame: int) -> None:
        """Drop crops that end before ``frame``: no later chunk (they start later) can share them."""
        self.entries = [e for e in self.entries if e[0][-1] >= frame]

    def find(self, crop: np.ndarray, solo: np.ndarray, size: int) -> np.ndarray | None:
        """The embedding of an earlier crop that will do for a speaker's ``solo`` speech in a chunk.

        ``crop`` is what would be embedded, ``size`` frames long (``solo`` is all the speaker's solo
        frames in the chunk). An earlier crop does when its solo frames cover ``overlap`` of
        ``solo`` (the same speech, or more of it: a turn cut short by this chunk's edge), or when
        ``overlap`` of them lie within ``solo`` and it is nearly ``size`` long (another window of
        the same long turn). With ``overlap`` 1 only the very same crop will do.
        """
        for other, other_solo, embedding in self.entries:
            if other[0] > crop[-1] or other[-1] < crop[0]:
                continue
            if self.overlap >= 1.0:
                if np.array_equal(crop, other):
                    return embedding
                continue
            if solo.size == 0 or other_solo.size == 0:
                continue
            shared = np.intersect1d(solo, other_solo, assume_unique=True).size
            if shared >= self.overlap * solo.size:
                return embedding
            if shared >= self.overlap * other_solo.size and other.size >= self.overlap * size:
                return embedding
        return None

    def add(self, crop: np.ndarray, solo: np.ndarray, embedding: np.ndarray) -> None:
        self.entries.append((crop, np.intersect1d(crop, solo, assume_unique=True), embedding))


class CroppedSpeakerDiarization(SpeakerDiarization):
    """pyannote's ``SpeakerDiarization`` with the embedding step of this module in crop mode.

    ``campplus`` is the :class:`~pipeline.stages.campplus.CamPPlusEmbedding` also passed as ``embedding``;
    its ``mode`` decides: ``weighted`` falls back to pyannote's own step. ``segmentation_session``, the two
    ONNX Runtime sessions of :func:`pipeline.stages.onnxrt.segmentation_sessions`, runs its forward.
    """

    def __init__(self, *args, campplus, reuse: float = 0.9, segmentation_session=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if segmentation_session is not None:  # the same sliding window, the forward on ONNX Runtime
            from pipeline.stages.onnxrt import OnnxInference

            inference = self._segmentation
            self._segmentation = OnnxInference(inference.model, *segmentation_session, duration=inference.duration,
                                               step=inference.step, skip_aggregation=True,
                                               batch_size=inference.batch_size)
        self.campplus = campplus
        self.reuse = reuse
        #: counts of the last file: (chunk, speaker) pairs embedded, crops computed, crops reused
        self.last_counts: dict[str, int] = {}

    def get_embeddings(self, file, binary_segmentations, exclude_overlap: bool = False,
                       hook: Callable | None = None):
        if self.campplus.mode != "crop" or "waveform" not in file:
            return super().get_embeddings(file, binary_segmentations, exclude_overlap=exclude_overlap, hook=hook)
        model = self.campplus
        device = next(model.parameters()).device
        feats = FileFbank(file["waveform"].float().cpu(), model.hparams.sample_rate)
        total_frames = feats.total
        window_seconds = binary_segmentations.sliding_window.duration
        num_chunks, num_frames, num_speakers = binary_segmentations.data.shape
        chunk_frames = fbank_frames(round(window_seconds * model.hparams.sample_rate))
        # pyannote's mask frame for each fbank frame of a chunk (nearest neighbour, as F.interpolate)
        mask_index = np.floor(np.arange(chunk_frames) * num_frames / chunk_frames).astype(int)
        embeddings = np.full((num_chunks, num_speakers, model.dimension), np.nan, dtype=np.float32)
        cache = CropCache(self.reuse)
        counts = {"pairs": 0, "computed": 0, "reused": 0}
        if hook is not None:
            hook("embeddings", None, total=num_chunks, completed=0)
        for c, (chunk, masks) in enumerate(binary_segmentations):
            first = round(chunk.start * FRAMES_PER_SECOND)
            cache.forget_before(first)
            feats.forget_before(first)
            active = np.nan_to_num(masks, nan=0.0)[mask_index] > 0.5  # (chunk_frames, num_speakers)
            alone = active & (active.sum(axis=1, keepdims=True) == 1)
            last = min(total_frames, first + chunk_frames)
            for s in range(num_speakers):
                spoken = active[:, s]
                if exclude_overlap and alone[:, s].sum() >= model.min_num_frames:
                    spoken = alone[:, s]
                frames = first + np.flatnonzero(spoken)
                frames = frames[frames < last]
                if frames.size < model.min_num_frames:
                    continue
                solo = first + np.flatnonzero(alone[:, s])
                solo = solo[solo < last]
                counts["pairs"] += 1
                crop = window(frames, model.max_num_frames)
                embedding = cache.find(crop, solo, crop.size)
                if embedding is None:
                    with torch.inference_mode():
                        embedding = model.embed_crop(feats[crop].to(device)).cpu().numpy()
                    cache.add(crop, solo, embedding)
                    counts["computed"] += 1
                else:
                    counts["reused"] += 1
                embeddings[c, s] = embedding
            if hook is not None:
                hook("embeddings", None, total=num_chunks, completed=c + 1)
        self.last_counts = counts
        return embeddings

    def reconstruct(self, segmentations, hard_clusters: np.ndarray, count):
        """pyannote's ``reconstruct``, with its (chunks, frames, clusters) array in float32, not float64.

        It holds each cluster's maximum of 0/1 segmentation values, the same in either type, and
        is the largest array of the step: 70 MB an hour of four speakers in float64, twice over
        while pyannote fills it with NaN.
        """
        from pyannote.core import SlidingWindowFeature

        num_chunks, num_frames, _ = segmentations.data.shape
        clustered = np.full((num_chunks, num_frames, np.max(hard_clusters) + 1), np.nan, dtype=np.float32)
        for c, (cluster, (_, segmentation)) in enumerate(zip(hard_clusters, segmentations, strict=True)):
            for k in np.unique(cluster):
                if k != -2:  # -2: a speaker too short to embed, in no cluster
                    clustered[c, :, k] = np.max(segmentation[:, cluster == k], axis=1)
        return self.to_diarization(SlidingWindowFeature(clustered, segmentations.sliding_window), count)

