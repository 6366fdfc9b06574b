"""An independent NumPy float64 VGGish log-mel, written from the reference description
(shared/reference.md section 1), with explicit loops: no code shared with instrec.frontend."""

import math

import numpy as np


def htk_mel(f):
    return 1127.0 * math.log(1.0 + f / 700.0)


def reference_mel_matrix():
    nyquist = 8000.0
    n_bins = 257
    lo, hi = htk_mel(125.0), htk_mel(7500.0)
    step = (hi - lo) / 65
    m = np.zeros((n_bins, 64))
    for band in range(64):
        left, centre, right = lo + band * step, lo + (band + 1) * step, lo + (band + 2) * step
        for k in range(1, n_bins):  # DC bin stays zero
            mel = htk_mel(k * nyquist / (n_bins - 1))
            if left < mel <= centre:
                m[k, band] = (mel - left) / (centre - left)
            elif centre < mel < right:
                m[k, band] = (right - mel) / (right - centre)
    return m


def reference_log_mel(samples):
    x = np.asarray(samples, dtype=np.float64)
    n_frames = 1 + (len(x) - 400) // 160
    window = np.array([0.5 - 0.5 * math.cos(2 * math.pi * i / 400) for i in range(400)])
    frames = np.stack([x[i * 160 : i * 160 + 400] * window for i in range(n_frames)])
    spectrum = np.abs(np.fft.rfft(frames, n=512))
    return np.log(spectrum @ reference_mel_matrix() + 0.01)


def reference_examples(samples):
    log_mel = reference_log_mel(samples)
    n = log_mel.shape[0] // 96
    return np.stack([log_mel[i * 96 : (i + 1) * 96] for i in range(n)])
