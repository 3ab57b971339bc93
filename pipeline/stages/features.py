"""faster-whisper's log-Mel features of a long stretch, computed a block of frames at a time.

faster-whisper computes the features of everything it is about to transcribe at once: for ten
minutes of speech the windowed frames, their spectrum twice (complex, then complex64) and its
power, about 0.5 GB held for a moment beside the model (on the seed's 4.2 minutes, 0.2 GB). Each
frame's spectrum and Mel energies depend on that frame's 400 samples only, so :class:`BlockFeatures`
runs faster-whisper's own ``stft`` over ``BLOCK_FRAMES`` frames at a time and applies the one
whole-stretch step (the floor 8 below the loudest value) after; the features are the same, bit for
bit (tests/stages/test_features.py).
"""

from __future__ import annotations

import numpy as np
from faster_whisper.feature_extractor import FeatureExtractor

#: frames a block (32 s at the 10 ms hop), a multiple of 64: the matrix product's kernels then
#: take the same columns of a block together as of the whole (its result for a column depends on
#: which others it is computed with), and the last block, the rest included, ends as the whole does
BLOCK_FRAMES = 3200


class BlockFeatures(FeatureExtractor):
    """A :class:`FeatureExtractor` whose ``__call__`` gives the same array in a block's memory."""

    @classmethod
    def of(cls, extractor: FeatureExtractor) -> BlockFeatures:
        """``extractor``'s settings (mel filters, hop, chunk length) in a :class:`BlockFeatures`."""
        new = cls.__new__(cls)
        new.__dict__.update(extractor.__dict__)
        return new

    def __call__(self, waveform: np.ndarray, padding=160, chunk_length=None):
        if chunk_length is not None:  # as faster-whisper's: the chunk length it is asked for holds from now
            self.n_samples = chunk_length * self.sampling_rate
            self.nb_max_frames = self.n_samples // self.hop_length
        if waveform.dtype is not np.float32:
            waveform = waveform.astype(np.float32)
        if padding:
            waveform = np.pad(waveform, (0, padding))
        half = self.n_fft // 2
        if len(waveform) <= half:  # too short to reflect: faster-whisper's own error, as it is
            return super().__call__(waveform, padding=0)
        padded = np.pad(waveform, (half, half), mode="reflect")  # stft's centring
        del waveform
        frames = 1 + (len(padded) - self.n_fft) // self.hop_length - 1  # the last one is dropped
        window = np.hanning(self.n_fft + 1)[:-1].astype("float32")
        log_spec = np.empty((self.mel_filters.shape[0], frames), dtype=np.float32)
        starts = range(0, max(1, frames // BLOCK_FRAMES) * BLOCK_FRAMES, BLOCK_FRAMES)
        for first, stop in zip(starts, [*starts[1:], frames], strict=True):  # the last block takes the rest
            piece = padded[first * self.hop_length:(stop - 1) * self.hop_length + self.n_fft]
            stft = self.stft(piece, self.n_fft, self.hop_length, window=window, center=False,
                             return_complex=True).astype("complex64")
            mel_spec = self.mel_filters @ (np.abs(stft) ** 2)
            log_spec[:, first:stop] = np.log10(np.clip(mel_spec, a_min=1e-10, a_max=None))
        np.maximum(log_spec, log_spec.max() - 8.0, out=log_spec)
        log_spec += 4.0
        log_spec /= 4.0
        return log_spec
