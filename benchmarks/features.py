"""Audio features for the workloads, with every parameter an argument: frames, windows,
short-time spectra, mel filter banks, MFCCs and stacked log-mel frames. numpy only.

Two mel conventions are implemented, because the two reference pipelines use different
ones, and a model trained on one does not work on the other:

- ``mel_weights_htk``: triangles on the HTK mel scale (``1127 ln(1 + f / 700)``), linear in
  mel, peak 1, no area normalisation, the DC bin's weights zero, band edges evenly spaced in
  mel between ``lower_hz`` and ``upper_hz``, spectrum bin ``k`` at ``k * sr / fft_length``.
  This is how TensorFlow's ``linear_to_mel_weight_matrix`` is defined, which the MLPerf Tiny
  keyword-spotting reference uses (:func:`mfcc`).
- ``mel_weights_slaney``: the Slaney auditory-toolbox scale (linear 200/3 Hz per mel below
  1 kHz, logarithmic above, 27 mels per factor 6.4) with each triangle scaled to unit area
  (``2 / (f_right - f_left)``). This is the default of librosa's ``melspectrogram``, which the
  MLPerf Tiny anomaly-detection reference uses (:func:`log_mel_frames`).

Rules this module keeps:
- the signal is never resampled or rescaled here; callers say how samples were scaled;
- a signal too short for one frame (or for the frames asked for) is an error, never an
  empty or zero-padded result the caller did not ask for;
- arithmetic is float64 inside; results are float32.
"""

from __future__ import annotations

import math

import numpy as np

#: librosa's Slaney mel scale: linear part slope (Hz per mel) and where the log part starts.
_SLANEY_HZ_PER_MEL = 200.0 / 3.0
_SLANEY_LOG_START_HZ = 1000.0
_SLANEY_LOG_START_MEL = _SLANEY_LOG_START_HZ / _SLANEY_HZ_PER_MEL  # 15.0
_SLANEY_LOG_STEP = math.log(6.4) / 27.0


class FeatureError(ValueError):
    """A signal or a parameter cannot give the features asked for."""


# -- windows and frames -------------------------------------------------------------------


def hann_window(length: int, periodic: bool = True) -> np.ndarray:
    """Hann window; ``periodic`` (the spectral-analysis form) divides by ``length``, the
    symmetric form by ``length - 1``."""
    if length < 1:
        raise FeatureError(f"window length must be >= 1, got {length}")
    if length == 1:
        return np.ones(1)
    denom = length if periodic else length - 1
    n = np.arange(length)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / denom)


def frame_signal(signal: np.ndarray, frame_length: int, frame_step: int) -> np.ndarray:
    """Frames ``(n_frames, frame_length)`` of a 1-D signal, hop ``frame_step``, no padding:
    ``n_frames = 1 + (len - frame_length) // frame_step``."""
    x = np.asarray(signal)
    if x.ndim != 1:
        raise FeatureError(f"expected a 1-D signal, got shape {x.shape}")
    if frame_length < 1 or frame_step < 1:
        raise FeatureError(f"frame length and step must be >= 1 ({frame_length}, {frame_step})")
    if x.size < frame_length:
        raise FeatureError(f"signal of {x.size} samples is shorter than one frame ({frame_length})")
    n_frames = 1 + (x.size - frame_length) // frame_step
    starts = frame_step * np.arange(n_frames)
    return x[starts[:, None] + np.arange(frame_length)[None, :]]


def stft_magnitude(
    signal: np.ndarray,
    frame_length: int,
    frame_step: int,
    fft_length: int,
    power: float = 1.0,
    center: bool = False,
    pad_mode: str = "reflect",
) -> np.ndarray:
    """``|STFT| ** power``, shape ``(n_frames, fft_length // 2 + 1)``.

    Each frame is multiplied by a periodic Hann window of ``frame_length`` samples and
    zero-padded at its end to ``fft_length``. ``center`` pads the signal by
    ``fft_length // 2`` on both sides first (``pad_mode`` "reflect" or "constant"), so that
    frame ``t`` is centred on sample ``t * frame_step``.
    """
    if fft_length < frame_length:
        raise FeatureError(f"fft_length {fft_length} is shorter than the frame {frame_length}")
    x = np.asarray(signal, dtype=np.float64)
    if center:
        pad = fft_length // 2
        if pad_mode == "reflect" and x.size <= pad:
            raise FeatureError(f"signal of {x.size} samples is too short to reflect-pad by {pad}")
        if pad_mode not in ("reflect", "constant"):
            raise FeatureError(f"pad_mode must be 'reflect' or 'constant', got {pad_mode!r}")
        x = np.pad(x, pad, mode=pad_mode)  # type: ignore[call-overload]
    frames = frame_signal(x, frame_length, frame_step) * hann_window(frame_length)
    mag = np.abs(np.fft.rfft(frames, n=fft_length, axis=-1))
    return mag if power == 1.0 else mag**power


# -- mel scales and filter banks ----------------------------------------------------------


def hz_to_mel_htk(hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz_htk(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * np.expm1(np.asarray(mel, dtype=np.float64) / 1127.0)


def hz_to_mel_slaney(hz: np.ndarray | float) -> np.ndarray:
    f = np.asarray(hz, dtype=np.float64)
    linear = f / _SLANEY_HZ_PER_MEL
    with np.errstate(divide="ignore"):
        log = _SLANEY_LOG_START_MEL + np.log(np.maximum(f, 1e-300) / _SLANEY_LOG_START_HZ) / (
            _SLANEY_LOG_STEP
        )
    return np.where(f >= _SLANEY_LOG_START_HZ, log, linear)


def mel_to_hz_slaney(mel: np.ndarray | float) -> np.ndarray:
    m = np.asarray(mel, dtype=np.float64)
    linear = m * _SLANEY_HZ_PER_MEL
    log = _SLANEY_LOG_START_HZ * np.exp(_SLANEY_LOG_STEP * (m - _SLANEY_LOG_START_MEL))
    return np.where(m >= _SLANEY_LOG_START_MEL, log, linear)


def _check_band(sample_rate: float, lower_hz: float, upper_hz: float) -> None:
    if not 0.0 <= lower_hz < upper_hz <= sample_rate / 2.0:
        raise FeatureError(
            f"mel band {lower_hz}..{upper_hz} Hz must satisfy 0 <= lower < upper <= "
            f"{sample_rate / 2.0} (half the sample rate)"
        )


def mel_weights_htk(
    num_mel_bins: int,
    num_spectrogram_bins: int,
    sample_rate: float,
    lower_hz: float,
    upper_hz: float,
) -> np.ndarray:
    """HTK-mel triangles, shape ``(num_spectrogram_bins, num_mel_bins)``; see the module
    docstring for the definition."""
    _check_band(sample_rate, lower_hz, upper_hz)
    freqs = np.linspace(0.0, sample_rate / 2.0, num_spectrogram_bins)
    bin_mel = hz_to_mel_htk(freqs)[:, None]
    edges = np.linspace(hz_to_mel_htk(lower_hz), hz_to_mel_htk(upper_hz), num_mel_bins + 2)
    left, centre, right = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel - left) / (centre - left)
    falling = (right - bin_mel) / (right - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0  # the DC bin contributes to no band
    return weights


def mel_weights_slaney(
    num_mel_bins: int,
    fft_length: int,
    sample_rate: float,
    lower_hz: float = 0.0,
    upper_hz: float | None = None,
) -> np.ndarray:
    """Slaney-mel triangles of unit area, shape ``(fft_length // 2 + 1, num_mel_bins)``."""
    upper = sample_rate / 2.0 if upper_hz is None else upper_hz
    _check_band(sample_rate, lower_hz, upper)
    freqs = np.linspace(0.0, sample_rate / 2.0, fft_length // 2 + 1)
    mel_edges = np.linspace(hz_to_mel_slaney(lower_hz), hz_to_mel_slaney(upper), num_mel_bins + 2)
    hz_edges = mel_to_hz_slaney(mel_edges)
    left, centre, right = hz_edges[:-2], hz_edges[1:-1], hz_edges[2:]
    f = freqs[:, None]
    rising = (f - left) / (centre - left)
    falling = (right - f) / (right - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return weights * (2.0 / (right - left))


# -- MFCC ---------------------------------------------------------------------------------


def dct_matrix(num_inputs: int, num_outputs: int) -> np.ndarray:
    """DCT-II with the HTK scaling, ``(num_inputs, num_outputs)``:
    ``c_k = sqrt(2 / N) * sum_n x_n cos(pi k (2n + 1) / (2N))`` for every ``k`` (so ``c_0``
    is ``sqrt(2)`` times the orthonormal DCT's first coefficient, the others equal it)."""
    if num_outputs > num_inputs:
        raise FeatureError(f"{num_outputs} coefficients asked from {num_inputs} inputs")
    n = np.arange(num_inputs)[:, None]
    k = np.arange(num_outputs)[None, :]
    return math.sqrt(2.0 / num_inputs) * np.cos(np.pi * k * (2 * n + 1) / (2 * num_inputs))


def mfcc(
    signal: np.ndarray,
    sample_rate: float,
    frame_length_s: float,
    frame_step_s: float,
    fft_length: int,
    num_mel_bins: int,
    lower_hz: float,
    upper_hz: float,
    num_coefficients: int,
    log_offset: float,
) -> np.ndarray:
    """MFCCs ``(n_frames, num_coefficients)`` float32, computed as the MLPerf Tiny KWS
    reference computes them (TensorFlow's signal ops):

    frames of ``int(sample_rate * frame_length_s)`` samples every
    ``int(sample_rate * frame_step_s)``, no padding; periodic Hann window; ``|rfft|`` with
    ``fft_length`` points (magnitude, not power); HTK-mel triangles (:func:`mel_weights_htk`);
    ``ln(mel + log_offset)``; DCT-II with HTK scaling (:func:`dct_matrix`), the first
    ``num_coefficients`` kept.
    """
    frame_length = int(sample_rate * frame_length_s)
    frame_step = int(sample_rate * frame_step_s)
    mag = stft_magnitude(signal, frame_length, frame_step, fft_length, power=1.0)
    weights = mel_weights_htk(num_mel_bins, mag.shape[1], sample_rate, lower_hz, upper_hz)
    log_mel = np.log(mag @ weights + log_offset)
    return (log_mel @ dct_matrix(num_mel_bins, num_coefficients)).astype(np.float32)


# -- log-mel frames -----------------------------------------------------------------------


def log_mel_spectrogram(
    signal: np.ndarray,
    sample_rate: float,
    fft_length: int,
    hop_length: int,
    num_mel_bins: int,
    power: float = 2.0,
    lower_hz: float = 0.0,
    upper_hz: float | None = None,
    center: bool = True,
    pad_mode: str = "reflect",
    log_floor: float = float(np.finfo(np.float64).eps),
) -> np.ndarray:
    """``(20 / power) * log10(mel + log_floor)`` (decibels for ``power`` 2), shape
    ``(n_frames, num_mel_bins)``: ``|STFT| ** power`` with a periodic Hann window of
    ``fft_length`` samples, then Slaney-mel triangles of unit area
    (:func:`mel_weights_slaney`)."""
    spec = stft_magnitude(
        signal, fft_length, hop_length, fft_length, power=power, center=center, pad_mode=pad_mode
    )
    weights = mel_weights_slaney(num_mel_bins, fft_length, sample_rate, lower_hz, upper_hz)
    return (20.0 / power) * np.log10(spec @ weights + log_floor)


def stack_frames(log_mel: np.ndarray, frames: int) -> np.ndarray:
    """Vectors of ``frames`` consecutive frames, hop one frame: vector ``t`` holds frames
    ``t .. t + frames - 1`` one after the other, so element ``k * n_mels + m`` is mel bin
    ``m`` of frame ``t + k``. Shape ``(n_frames - frames + 1, frames * n_mels)``."""
    lm = np.asarray(log_mel)
    if lm.ndim != 2:
        raise FeatureError(f"expected (n_frames, n_mels), got shape {lm.shape}")
    n = lm.shape[0] - frames + 1
    if frames < 1 or n < 1:
        raise FeatureError(f"{lm.shape[0]} frames cannot be stacked {frames} at a time")
    return np.concatenate([lm[k : k + n] for k in range(frames)], axis=1)


def log_mel_frames(
    signal: np.ndarray,
    sample_rate: float,
    fft_length: int,
    hop_length: int,
    num_mel_bins: int,
    frames: int,
    power: float = 2.0,
    first_frame: int = 0,
    last_frame: int | None = None,
    lower_hz: float = 0.0,
    upper_hz: float | None = None,
    center: bool = True,
    pad_mode: str = "reflect",
    log_floor: float = float(np.finfo(np.float64).eps),
) -> np.ndarray:
    """Stacked log-mel vectors float32 ``(n, frames * num_mel_bins)``, as the MLPerf Tiny
    AD reference makes them: :func:`log_mel_spectrogram`, then only frames
    ``first_frame .. last_frame - 1`` kept (the reference keeps 50..249), then
    :func:`stack_frames`. A signal with fewer than ``last_frame`` frames is an error."""
    lm = log_mel_spectrogram(
        signal,
        sample_rate,
        fft_length,
        hop_length,
        num_mel_bins,
        power=power,
        lower_hz=lower_hz,
        upper_hz=upper_hz,
        center=center,
        pad_mode=pad_mode,
        log_floor=log_floor,
    )
    end = lm.shape[0] if last_frame is None else last_frame
    if end > lm.shape[0] or first_frame < 0 or first_frame >= end:
        raise FeatureError(
            f"frames {first_frame}..{end - 1} asked, the signal gives {lm.shape[0]} frames "
            f"({np.asarray(signal).size} samples, hop {hop_length})"
        )
    return stack_frames(lm[first_frame:end], frames).astype(np.float32)


def samples_for_frames(n_frames: int, frame_length: int, hop_length: int, center: bool) -> int:
    """The fewest samples that give ``n_frames`` frames: ``(n_frames - 1) * hop_length`` for
    centred frames (``1 + len // hop`` frames), ``frame_length + (n_frames - 1) * hop_length``
    otherwise."""
    if n_frames < 1:
        raise FeatureError(f"n_frames must be >= 1, got {n_frames}")
    span = (n_frames - 1) * hop_length
    return span if center else frame_length + span
