"""benchmarks/features.py against values derived independently: closed-form mel scales,
hand-computed filter weights, scipy's DCT, and a loop-by-loop MFCC written from the
definition (TensorFlow's signal ops as the MLPerf Tiny KWS reference uses them)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft

from ecoscore.benchmarks import features as ft
from ecoscore.benchmarks.features import FeatureError


def test_hann_windows():
    np.testing.assert_allclose(ft.hann_window(8, periodic=False), np.hanning(8))
    # periodic: the first n points of a symmetric window of n + 1
    np.testing.assert_allclose(ft.hann_window(480), np.hanning(481)[:-1], atol=1e-15)
    assert ft.hann_window(1).tolist() == [1.0]


def test_frames_count_and_content():
    x = np.arange(16000)
    f = ft.frame_signal(x, 480, 320)
    assert f.shape == (49, 480)  # 1 + (16000 - 480) // 320, the KWS reference's 49
    assert f[1, 0] == 320 and f[-1, -1] == 48 * 320 + 479
    with pytest.raises(FeatureError, match="shorter than one frame"):
        ft.frame_signal(np.zeros(10), 480, 320)


def test_mel_scales_at_known_points():
    assert float(ft.hz_to_mel_htk(700.0)) == pytest.approx(1127.0 * math.log(2.0))
    assert float(ft.hz_to_mel_slaney(1000.0)) == pytest.approx(15.0)
    assert float(ft.hz_to_mel_slaney(6400.0)) == pytest.approx(42.0)  # 15 + 27 per x6.4
    assert float(ft.hz_to_mel_slaney(200.0)) == pytest.approx(3.0)  # linear: 200/3 Hz per mel
    f = np.array([0.0, 20.0, 999.0, 1000.0, 4000.0, 8000.0])
    np.testing.assert_allclose(ft.mel_to_hz_htk(ft.hz_to_mel_htk(f)), f, atol=1e-9)
    np.testing.assert_allclose(ft.mel_to_hz_slaney(ft.hz_to_mel_slaney(f)), f, atol=1e-9)


def _htk_weight(freq: float, band: int, lower: float, upper: float, n_mels: int) -> float:
    """One triangle's weight at one frequency, straight from the definition."""
    mel = lambda f: 1127.0 * math.log(1.0 + f / 700.0)  # noqa: E731
    step = (mel(upper) - mel(lower)) / (n_mels + 1)
    left, centre, right = (mel(lower) + (band + k) * step for k in range(3))
    m = mel(freq)
    if m <= left or m >= right:
        return 0.0
    return (m - left) / (centre - left) if m <= centre else (right - m) / (right - centre)


def test_htk_weights_match_the_definition_point_by_point():
    w = ft.mel_weights_htk(40, 257, 16000, 20.0, 4000.0)
    assert w.shape == (257, 40)
    assert np.all(w[0] == 0)  # DC
    assert np.all(w[129:] == 0)  # nothing above 4 kHz (bin 128 = 4000 Hz)
    for k in (1, 2, 5, 17, 40, 77, 128):
        for band in (0, 3, 12, 25, 39):
            expected = _htk_weight(k * 8000 / 256, band, 20.0, 4000.0, 40)
            assert w[k, band] == pytest.approx(expected, abs=1e-12)


def test_slaney_weights_have_unit_area_and_the_definitions_peak():
    sr, n_fft, n_mels = 16000, 1024, 128
    w = ft.mel_weights_slaney(n_mels, n_fft, sr)
    assert w.shape == (513, n_mels)
    edges = ft.mel_to_hz_slaney(np.linspace(0, ft.hz_to_mel_slaney(sr / 2), n_mels + 2))
    # each triangle integrates to 1 over frequency: sum of weights x bin width ~ 1 where
    # the triangle spans several bins
    widths = edges[2:] - edges[:-2]
    wide = widths > 8 * sr / n_fft
    area = w.sum(axis=0) * (sr / n_fft)
    np.testing.assert_allclose(area[wide], 1.0, rtol=0.02)
    # at a bin that falls on a centre frequency the weight is 2 / (right - left)
    freqs = np.linspace(0, sr / 2, 513)
    band = 60
    k = int(np.argmin(np.abs(freqs - edges[band + 1])))
    f = freqs[k]
    left, centre, right = edges[band], edges[band + 1], edges[band + 2]
    tri = (f - left) / (centre - left) if f <= centre else (right - f) / (right - centre)
    assert w[k, band] == pytest.approx(2.0 / (right - left) * tri, rel=1e-9)


def test_dct_is_scipys_orthonormal_dct_with_htk_scaling():
    x = np.random.default_rng(0).normal(size=(7, 40))
    ours = x @ ft.dct_matrix(40, 10)
    ortho = scipy.fft.dct(x, type=2, norm="ortho", axis=-1)[:, :10]
    np.testing.assert_allclose(ours[:, 1:], ortho[:, 1:], rtol=1e-10)
    np.testing.assert_allclose(ours[:, 0], math.sqrt(2) * ortho[:, 0], rtol=1e-10)


def _mfcc_by_loops(signal: np.ndarray) -> np.ndarray:
    """The KWS reference's MFCC written out frame by frame from the definitions."""
    n, hop, nfft = 480, 320, 512
    window = [0.5 - 0.5 * math.cos(2 * math.pi * i / n) for i in range(n)]
    weights = np.array(
        [[_htk_weight(k * 8000 / 256, b, 20.0, 4000.0, 40) for b in range(40)] for k in range(257)]
    )
    weights[0] = 0.0
    rows = []
    for start in range(0, len(signal) - n + 1, hop):
        frame = np.zeros(nfft)
        frame[:n] = [signal[start + i] * window[i] for i in range(n)]
        mag = np.abs(np.fft.rfft(frame))
        log_mel = np.log(mag @ weights + 1e-6)
        coeffs = [
            2.0
            / math.sqrt(2 * 40)
            * sum(log_mel[j] * math.cos(math.pi * c * (2 * j + 1) / 80) for j in range(40))
            for c in range(10)
        ]
        rows.append(coeffs)
    return np.array(rows)


def test_mfcc_matches_the_definition_written_out():
    rng = np.random.default_rng(1)
    t = np.arange(16000) / 16000
    signal = 0.6 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.normal(size=16000)
    ours = ft.mfcc(signal, 16000, 0.03, 0.02, 512, 40, 20.0, 4000.0, 10, 1e-6)
    assert ours.shape == (49, 10) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, _mfcc_by_loops(signal), rtol=2e-5, atol=2e-4)


def test_power_spectrum_of_a_bin_centred_sine():
    n_fft, sr = 1024, 16000
    k = 64  # 1000 Hz
    x = 0.5 * np.sin(2 * np.pi * k * sr / n_fft * np.arange(8192) / sr)
    spec = ft.stft_magnitude(x, n_fft, 512, n_fft, power=2.0, center=True)
    assert spec.shape == (1 + 8192 // 512, 513)
    # the Hann window sums to n/2; a sine of amplitude A gives |X_k| = A * n / 4
    assert spec[8, k] == pytest.approx((0.5 * n_fft / 4) ** 2, rel=1e-9)


def test_log_mel_frames_crop_and_stacking_order():
    rng = np.random.default_rng(2)
    x = rng.normal(0, 0.1, 128000)
    lm = ft.log_mel_spectrogram(x, 16000, 1024, 512, 128)
    assert lm.shape == (251, 128)  # 1 + 128000 // 512
    vec = ft.log_mel_frames(x, 16000, 1024, 512, 128, 5, first_frame=50, last_frame=250)
    assert vec.shape == (196, 640) and vec.dtype == np.float32
    for t in (0, 17, 195):
        for k in range(5):
            np.testing.assert_allclose(vec[t, 128 * k : 128 * (k + 1)], lm[50 + t + k], rtol=1e-6)
    # decibels: 10 log10 of the mel power
    weights = ft.mel_weights_slaney(128, 1024, 16000)
    power = ft.stft_magnitude(x, 1024, 512, 1024, power=2.0, center=True)
    np.testing.assert_allclose(lm, 10 * np.log10(power @ weights + np.finfo(float).eps))
    with pytest.raises(FeatureError, match="frames 50..249"):
        ft.log_mel_frames(x[:100000], 16000, 1024, 512, 128, 5, first_frame=50, last_frame=250)


def test_centre_padding_reflects():
    x = np.arange(1, 3001, dtype=float)
    spec = ft.stft_magnitude(x, 1024, 512, 1024, center=True)
    padded = np.concatenate([x[1:513][::-1], x, x[-513:-1][::-1]])
    frame0 = padded[:1024] * ft.hann_window(1024)
    np.testing.assert_allclose(spec[0], np.abs(np.fft.rfft(frame0)), rtol=1e-9)
    assert ft.samples_for_frames(250, 1024, 512, center=True) == 249 * 512


def test_bad_band_is_refused():
    with pytest.raises(FeatureError, match="half the sample rate"):
        ft.mel_weights_htk(40, 257, 16000, 20.0, 9000.0)


def test_log_mel_frames_match_librosa_where_installed():
    """librosa is the AD reference's library (0.6.0 there, reflect padding); a one-off check
    with librosa 0.11 agreed within 4e-6 dB. Skipped where librosa is not installed."""
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(0)
    t = np.arange(160000) / 16000
    y = (0.3 * np.sin(2 * np.pi * 120 * t) + 0.05 * rng.normal(size=t.size)).astype(np.float32)
    mel = librosa.feature.melspectrogram(
        y=y, sr=16000, n_fft=1024, hop_length=512, n_mels=128, power=2.0, pad_mode="reflect"
    )
    lm = (10.0 * np.log10(mel + np.finfo(float).eps))[:, 50:250].T
    expected = np.concatenate([lm[k : k + 196] for k in range(5)], axis=1)
    ours = ft.log_mel_frames(y.astype(np.float64), 16000, 1024, 512, 128, 5, 2.0, 50, 250)
    np.testing.assert_allclose(ours, expected, atol=1e-4)
