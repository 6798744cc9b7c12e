"""Audio features for workload files: MFCC and stacked log-mel frames of one clip.

Two functions, one per feature, with the signatures the MLPerf Tiny tasks use in ecoscore
(keyword spotting: MFCC; anomaly detection: log-mel frames stacked in vectors). They take
one clip as a 1-D array of samples in [-1, 1] and return a 2-D float32 array (time, values).

- :func:`mfcc`: frames of ``frame_length_s`` every ``frame_step_s``, periodic Hann window,
  magnitude spectrum over ``fft_length`` points, a triangular mel filterbank (HTK mel scale)
  of ``num_mel_bins`` bands between ``lower_hz`` and ``upper_hz``, ``log(mel + log_offset)``,
  then an orthonormal DCT-II over the bands; the first ``num_coefficients`` are kept.
- :func:`log_mel_frames`: frames of ``n_fft`` samples every ``hop_length``, periodic Hann
  window, spectrum to the power ``power``, a mel filterbank of ``n_mels`` bands from 0 Hz to
  the Nyquist frequency, ``10 * log10`` of power (``20 / power * log10`` in general), then
  ``frames`` consecutive frames concatenated into one vector: (vectors, n_mels * frames).

Frames are not centred (no padding): a clip of n samples gives
``1 + (n - frame) // step`` frames. A clip shorter than one frame is refused.
"""

from __future__ import annotations

import numpy as np

_EPS = float(np.finfo(np.float64).eps)


def _mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, lower_hz: float, upper_hz: float
) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) triangular filters, equally spaced on the HTK mel scale."""

    def to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    bins = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = to_hz(
        np.linspace(to_mel(np.float64(lower_hz)), to_mel(np.float64(upper_hz)), n_mels + 2)
    )
    left, centre, right = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins[:, None] - left) / np.maximum(centre - left, _EPS)
    falling = (right - bins[:, None]) / np.maximum(right - centre, _EPS)
    return np.maximum(0.0, np.minimum(rising, falling))


def _frames(signal: np.ndarray, length: int, step: int) -> np.ndarray:
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"a clip is a 1-D array of samples, got shape {x.shape}")
    if length < 1 or step < 1:
        raise ValueError(f"frame length {length} and step {step} must be at least 1 sample")
    if x.size < length:
        raise ValueError(f"the clip has {x.size} samples, fewer than one frame ({length})")
    n = 1 + (x.size - length) // step
    idx = np.arange(length)[None, :] + step * np.arange(n)[:, None]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)  # periodic Hann
    return x[idx] * window


def mfcc(
    signal: np.ndarray,
    sample_rate: int,
    frame_length_s: float,
    frame_step_s: float,
    fft_length: int,
    num_mel_bins: int,
    lower_hz: float,
    upper_hz: float,
    num_coefficients: int,
    log_offset: float,
) -> np.ndarray:
    """MFCC of one clip: float32 (frames, num_coefficients)."""
    length = int(round(frame_length_s * sample_rate))
    step = int(round(frame_step_s * sample_rate))
    if fft_length < length:
        raise ValueError(f"fft_length {fft_length} is shorter than a frame ({length} samples)")
    spectrum = np.abs(np.fft.rfft(_frames(signal, length, step), n=fft_length, axis=-1))
    mel = spectrum @ _mel_filterbank(sample_rate, fft_length, num_mel_bins, lower_hz, upper_hz)
    log_mel = np.log(mel + log_offset)
    k = np.arange(num_mel_bins)
    dct = np.cos(np.pi / num_mel_bins * (k[:, None] + 0.5) * k[None, :num_coefficients])
    dct *= np.sqrt(2.0 / num_mel_bins)
    dct[:, 0] /= np.sqrt(2.0)
    return (log_mel @ dct).astype(np.float32)


def log_mel_frames(
    signal: np.ndarray,
    sample_rate: int,
    n_fft: int,
    hop_length: int,
    n_mels: int,
    frames: int,
    power: float,
) -> np.ndarray:
    """Stacked log-mel frames of one clip: float32 (vectors, n_mels * frames)."""
    spectrum = np.abs(np.fft.rfft(_frames(signal, n_fft, hop_length), axis=-1)) ** power
    mel = spectrum @ _mel_filterbank(sample_rate, n_fft, n_mels, 0.0, sample_rate / 2.0)
    log_mel = 20.0 / power * np.log10(mel + _EPS)
    vectors = log_mel.shape[0] - frames + 1
    if vectors < 1:
        raise ValueError(f"the clip gives {log_mel.shape[0]} frames, fewer than {frames}")
    stacked = np.concatenate([log_mel[i : i + vectors] for i in range(frames)], axis=1)
    return stacked.astype(np.float32)
