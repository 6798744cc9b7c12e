"""The defect-scratch data: textured metal surfaces, some with a scratch, generated here.

Every image is made with integer arithmetic from numpy's legacy ``RandomState`` (whose
integer stream numpy keeps frozen) and written as an 8-bit grey PNG by a writer of our own
(stored deflate blocks, no compression library choices), so the files are the same bytes on
every platform: the workload file pins the SHA-256 of the evaluation files, and
:func:`generate` checks it.

An image (32 x 32 pixels) is a brushed surface: uniform noise smoothed along one direction
(the brushing: horizontal or vertical, a streak length of 5 to 12 pixels), a linear shading
gradient and fine grain. A scratch is a straight segment at any angle, 8 to 26 pixels long,
one or two pixels wide, brighter or darker than the surface, its contrast fading towards
its ends; its peak contrast runs from barely visible (about the texture's own streaks) to
plain. Classes: ``ok`` (no scratch) and ``scratch``.

    python -m ecoscore.benchmarks.examples.defect_scratch.generate DIR
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import numpy as np

SIZE = 32
SEED = 20261201
#: Images per split and class.
COUNTS = {
    ("train", "ok"): 400,
    ("train", "scratch"): 400,
    ("eval", "ok"): 300,
    ("eval", "scratch"): 100,
}
CLASSES = ("ok", "scratch")
_SPLIT_STREAM = {"train": 0, "eval": 1}
_CLASS_STREAM = {"ok": 0, "scratch": 1}
#: Peak contrast of a scratch, in grey levels (the texture's streaks reach about 15).
CONTRAST = (10, 48)


def png_bytes(gray: np.ndarray) -> bytes:
    """An 8-bit greyscale PNG of ``gray`` (uint8, rows x columns), deflate stored blocks."""
    h, w = gray.shape
    raw = b"".join(b"\x00" + gray[r].tobytes() for r in range(h))  # filter 0 on each row
    blocks = []
    for start in range(0, len(raw), 65535):
        chunk = raw[start : start + 65535]
        final = 1 if start + 65535 >= len(raw) else 0
        blocks.append(struct.pack("<BHH", final, len(chunk), 0xFFFF ^ len(chunk)) + chunk)
    stream = b"\x78\x01" + b"".join(blocks) + struct.pack(">I", zlib.adler32(raw))

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    return head + chunk(b"IDAT", stream) + chunk(b"IEND", b"")


def surface(rng: np.random.RandomState) -> np.ndarray:
    """A brushed surface, int32 (SIZE, SIZE), around grey level 128."""
    length = int(rng.randint(5, 13))
    pad = SIZE + length
    noise = rng.randint(-40, 41, size=(SIZE + 1, pad)).astype(np.int64)
    c = np.cumsum(noise, axis=1)
    streaks = (c[:, length:] - c[:, :-length])[:, :SIZE] // length  # box blur along x
    streaks = (streaks[:-1] + streaks[1:]) // 2  # a little across
    if rng.randint(0, 2):
        streaks = streaks.T
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    gx, gy = int(rng.randint(-24, 25)), int(rng.randint(-24, 25))
    base = int(rng.randint(96, 161))
    shading = base + (gx * (xx - SIZE // 2) + gy * (yy - SIZE // 2)) // 16
    grain = rng.randint(-6, 7, size=(SIZE, SIZE))
    return shading + streaks + grain


def add_scratch(img: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """A straight scratch in 1/16 pixel steps; contrast fades to a quarter at the ends."""
    length16 = int(rng.randint(8, 27)) * 16
    angle = int(rng.randint(0, 360))
    # direction in 1/1024 units from an integer table of the angle (no floating point)
    dx = int(_COS[angle]), int(_COS[(angle + 270) % 360])
    cx, cy = int(rng.randint(6, SIZE - 6)) * 16, int(rng.randint(6, SIZE - 6)) * 16
    x0 = cx - dx[0] * length16 // 2048
    y0 = cy - dx[1] * length16 // 2048
    steps = length16 // 4
    peak = int(rng.randint(CONTRAST[0], CONTRAST[1] + 1)) * (1 if rng.randint(0, 2) else -1)
    wide = bool(rng.randint(0, 3) == 0)
    mark = np.zeros_like(img)
    for k in range(steps + 1):
        x = (x0 + dx[0] * length16 * k // (1024 * steps)) // 16
        y = (y0 + dx[1] * length16 * k // (1024 * steps)) // 16
        weight = peak * (1024 + 3 * 4096 * k * (steps - k) // (steps * steps)) // 4096
        for ox, oy in ((0, 0), (1, 0)) if wide else ((0, 0),):
            px, py = x + ox, y + oy
            if 0 <= px < SIZE and 0 <= py < SIZE and abs(weight) > abs(mark[py, px]):
                mark[py, px] = weight
    return img + mark


#: round(1024 * cos(degrees)), computed once with integer-exact rounding of a float that is
#: far from a .5 boundary for every whole degree (checked in the tests).
_COS = np.array([int(round(1024 * np.cos(np.deg2rad(a)))) for a in range(360)], dtype=np.int64)


def image(split: str, label: str, index: int) -> np.ndarray:
    """One image, uint8 (SIZE, SIZE): the same for the same split, class and index."""
    rng = np.random.RandomState([SEED, _SPLIT_STREAM[split], _CLASS_STREAM[label], index])
    img = surface(rng)
    if label == "scratch":
        img = add_scratch(img, rng)
    return np.clip(img, 0, 255).astype(np.uint8)


def generate(out: Path) -> list[Path]:
    """Write every image under ``out/<split>/<class>/``; return the files written."""
    from ecoscore.files import write_atomic

    out = Path(out)
    written = []
    for (split, label), n in COUNTS.items():
        for i in range(n):
            path = out / split / label / f"{label}_{i:04d}.png"
            write_atomic(path, png_bytes(image(split, label, i)))
            written.append(path)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m ecoscore.benchmarks.examples.defect_scratch.generate DIR")
        raise SystemExit(2)
    print(f"{len(generate(Path(sys.argv[1])))} images in {sys.argv[1]}")
