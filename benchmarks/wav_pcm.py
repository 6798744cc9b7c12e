"""16-bit PCM WAV files, parsed from their bytes (files on disk or members of an archive).

The RIFF chunks are read here rather than with the standard library's ``wave`` module,
which in Python 3.11 refuses WAVE_FORMAT_EXTENSIBLE headers (format tag 0xFFFE), used by
some published audio data sets for plain 16-bit PCM. Accepted: format tag 1 (PCM), or
0xFFFE whose sub-format GUID is PCM; 16 bits per sample. Anything else is refused with one
line naming the file. Nothing is resampled or converted: the caller gets int16 samples.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecoscore.benchmarks.errors import DataFormatError

_PCM = 1
_EXTENSIBLE = 0xFFFE
#: The KSDATAFORMAT_SUBTYPE_PCM GUID as stored in the file (little-endian fields).
_PCM_SUBFORMAT = bytes.fromhex("0100000000001000800000aa00389b71")


@dataclass(frozen=True)
class PcmAudio:
    """Samples int16 of shape (frames,) for mono, (frames, channels) otherwise."""

    sample_rate: int
    channels: int
    samples: np.ndarray


def parse_wav(raw: bytes, where: str) -> PcmAudio:
    """A 16-bit PCM WAV file's samples; ``where`` names the file in error messages."""
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise DataFormatError(f"{where}: not a WAV file (no RIFF/WAVE header)")
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(raw):
        cid, size = raw[pos : pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        body = raw[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            fmt = body
        elif cid == b"data":
            data = body
            break
        pos += 8 + size + (size & 1)
    if fmt is None or len(fmt) < 16:
        raise DataFormatError(f"{where}: WAV file without a valid 'fmt ' chunk")
    if data is None:
        raise DataFormatError(f"{where}: WAV file without a 'data' chunk")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt, 0)
    if tag == _EXTENSIBLE:
        if len(fmt) < 40 or fmt[24:40] != _PCM_SUBFORMAT:
            raise DataFormatError(f"{where}: WAVE_FORMAT_EXTENSIBLE with a non-PCM sub-format")
    elif tag != _PCM:
        raise DataFormatError(f"{where}: WAV format tag {tag}; expected PCM (1)")
    if bits != 16:
        raise DataFormatError(f"{where}: {bits}-bit samples; expected 16-bit PCM")
    if channels < 1 or block_align != 2 * channels:
        raise DataFormatError(
            f"{where}: inconsistent header ({channels} channels, block {block_align})"
        )
    n = len(data) // block_align
    samples = np.frombuffer(data[: n * block_align], dtype="<i2").astype(np.int16)
    if channels > 1:
        samples = samples.reshape(n, channels)
    return PcmAudio(int(rate), int(channels), samples)


def read_mono(path: Path | str, raw: bytes | None = None, rate: int | None = None) -> np.ndarray:
    """int16 samples of a mono 16-bit WAV (``raw``: its bytes, if already read); ``rate``,
    when given, is the only sample rate accepted."""
    where = str(path)
    if raw is None:
        try:
            raw = Path(path).read_bytes()
        except OSError as e:
            raise DataFormatError(f"{where}: cannot read the file: {e.strerror or e}") from None
    audio = parse_wav(raw, where)
    if audio.channels != 1:
        raise DataFormatError(f"{where}: {audio.channels} channels; expected mono")
    if rate is not None and audio.sample_rate != rate:
        raise DataFormatError(f"{where}: sample rate {audio.sample_rate} Hz; expected {rate} Hz")
    return audio.samples


def pcm16_bytes(samples: np.ndarray, sample_rate: int, extensible: bool = False) -> bytes:
    """A mono or multi-channel 16-bit PCM WAV file's bytes (tests and tools write data sets
    in the published layouts with it)."""
    s = np.asarray(samples, dtype="<i2")
    channels = 1 if s.ndim == 1 else int(s.shape[1])
    data = s.tobytes()
    block = 2 * channels
    if extensible:
        fmt = struct.pack(
            "<HHIIHHHHI",
            _EXTENSIBLE,
            channels,
            sample_rate,
            sample_rate * block,
            block,
            16,
            22,
            16,
            0,
        )
        fmt += _PCM_SUBFORMAT
    else:
        fmt = struct.pack("<HHIIHH", _PCM, channels, sample_rate, sample_rate * block, block, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data + (b"\0" if len(data) & 1 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body
