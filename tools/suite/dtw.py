"""Time warping between two renderings of one sentence (NumPy only): maps times in one onto the other.

Used for the seed's word truth, whose committed audio was synthesized on another CPU: the same voice,
text and seed give nearly the same samples, but int8 kernels and FFT rounding can move a predicted
duration by one 25 ms unit, so the rebuilt clip drifts from the committed one by up to ~0.1 s. The
two are aligned on log-spectral frames (10 ms) with steps (1,1), (1,2) and (2,1), which keep the
path's slope between 1/2 and 2 and let each row be computed at once.
"""

from __future__ import annotations

import numpy as np

HOP, WIN = 160, 400  # samples at 16 kHz


def features(audio: np.ndarray) -> np.ndarray:
    """Unit-normed log spectra of 25 ms frames every 10 ms, in 40 linear bands up to 8 kHz."""
    n = max(1, 1 + (len(audio) - WIN) // HOP)
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(audio, (0, WIN)), WIN)[::HOP][:n]
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(WIN), axis=1)) ** 2
    bands = np.log(spectrum[:, 1:201].reshape(n, 40, 5).sum(axis=2) + 1e-8)
    bands -= bands.mean(axis=1, keepdims=True)
    return bands / (np.linalg.norm(bands, axis=1, keepdims=True) + 1e-8)


def path(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(i, j) frame pairs of the cheapest warping path from (0, 0) to the ends."""
    d = 1.0 - a @ b.T
    n, m = d.shape
    cost = np.full((n, m), np.inf)
    step = np.zeros((n, m), np.int8)  # 0: (1,1)  1: (1,2)  2: (2,1)
    cost[0, 0] = d[0, 0]
    for i in range(1, n):
        options = np.full((3, m), np.inf)
        options[0, 1:] = cost[i - 1, :-1]
        options[1, 2:] = cost[i - 1, :-2] + d[i, 1:-1]
        if i > 1:
            options[2, 1:] = cost[i - 2, :-1] + d[i - 1, 1:]
        step[i] = np.argmin(options, axis=0)
        cost[i] = d[i] + options[step[i], np.arange(m)]
    i, j, out = n - 1, m - 1, [(n - 1, m - 1)]
    while (i, j) != (0, 0) and np.isfinite(cost[i, j]):
        i, j = {0: (i - 1, j - 1), 1: (i - 1, j - 2), 2: (i - 2, j - 1)}[int(step[i, j])]
        out.append((i, j))
    return np.array(out[::-1])


def warp(mine: np.ndarray, theirs: np.ndarray):
    """A function from seconds in mine to seconds in theirs (both 16 kHz mono)."""
    p = path(features(mine), features(theirs))
    x, y = p[:, 0] * HOP / 16000, p[:, 1] * HOP / 16000
    x, keep = np.unique(x, return_index=True)  # first j for each i
    y = y[keep]
    return lambda t: float(np.interp(t, x, y))
