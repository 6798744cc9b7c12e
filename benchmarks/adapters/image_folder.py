"""Image folders: one sub-folder per class, as most image data sets are shared.

Layouts (``DATA`` is the folder given with ``--data``):

- split ``given``: ``DATA/train/<class>/*`` and ``DATA/eval/<class>/*`` (``test/`` is read
  as ``eval/`` when there is no ``eval/``);
- split ``seeded``: ``DATA/<class>/*``, split by the seeded rule.

Class folders are named as the workload file's classes; a folder that is not a declared
class, or a file that is not an image of the accepted extensions, is an error naming it
(hidden names, starting with ``.``, are ignored). Images are read with Pillow and converted
to grey (one channel) or RGB (three), as ``colour`` says, to uint8 arrays
(height, width, channels). A file Pillow cannot read is an error naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from ecoscore.benchmarks.adapters import (
    Context,
    RawData,
    RawSplit,
    SeededSplit,
    _Config,
    files_sha256,
    not_hidden,
    seeded_split,
)
from ecoscore.benchmarks.errors import DataFormatError
from ecoscore.benchmarks.preprocess import Stage

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp")
TASKS = ("classification",)


class ImageFolderConfig(_Config):
    adapter: Literal["image-folder"]
    colour: Literal["grey", "rgb"] = "rgb"
    extensions: list[str] = Field(default_factory=lambda: list(EXTENSIONS), min_length=1)
    #: SHA-256 of the evaluation files (relative path and bytes); checked on every run.
    eval_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    def start_stage(self) -> Stage:
        return Stage("images", (None, None, 1 if self.colour == "grey" else 3))


def _class_files(folder: Path, classes: tuple[str, ...], exts: set[str]) -> list[tuple[Path, int]]:
    if not folder.is_dir():
        raise DataFormatError(f"{folder}: no such folder (expected one sub-folder per class)")
    index = {c: i for i, c in enumerate(classes)}
    out: list[tuple[Path, int]] = []
    for sub in sorted(filter(not_hidden, folder.iterdir())):
        if not sub.is_dir():
            raise DataFormatError(
                f"{sub}: a file beside the class folders; {folder} holds one folder per class"
            )
        if sub.name not in index:
            raise DataFormatError(
                f"{sub}: folder {sub.name!r} is not a class of the workload ({', '.join(classes)})"
            )
        for f in sorted(filter(not_hidden, sub.iterdir())):
            if not f.is_file() or f.suffix.lower() not in exts:
                raise DataFormatError(
                    f"{f}: not an image file ({', '.join(sorted(exts))}); remove it or add "
                    "its extension to data.extensions"
                )
            out.append((f, index[sub.name]))
    return out


def _read_image(path: Path, colour: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            pixels = np.asarray(img.convert("L" if colour == "grey" else "RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataFormatError(f"{path}: cannot read the image: {e}") from None
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def _split(files: list[tuple[Path, int]], colour: str) -> RawSplit:
    images = [_read_image(p, colour) for p, _ in files]
    return RawSplit(images, np.array([c for _, c in files], dtype=np.int64))


def read(config: ImageFolderConfig, data: Path, ctx: Context) -> RawData:
    exts = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in config.extensions}
    if not data.is_dir():
        raise DataFormatError(f"{data}: not a folder (the image-folder adapter reads a folder)")
    if isinstance(ctx.split, SeededSplit):
        files = _class_files(data, ctx.classes, exts)
        y = np.array([c for _, c in files], dtype=np.int64)
        tr, ev = seeded_split(y, ctx.task, ctx.split.eval_fraction, ctx.split.seed)
        train_files, eval_files = [files[i] for i in tr], [files[i] for i in ev]
    else:
        eval_dir = data / "eval" if (data / "eval").is_dir() else data / "test"
        if not eval_dir.is_dir():
            raise DataFormatError(
                f"{data}: no eval/ (or test/) folder; a given split is train/ and eval/, each "
                "with one folder per class (or use a seeded split)"
            )
        extra = sorted(
            p.name
            for p in filter(not_hidden, data.iterdir())
            if p.name not in ("train", eval_dir.name)
        )
        if extra:
            raise DataFormatError(
                f"{data}: unexpected {', '.join(extra)}; a given split is train/ and eval/ "
                "(or test/), each with one folder per class"
            )
        train_files = _class_files(data / "train", ctx.classes, exts)
        eval_files = _class_files(eval_dir, ctx.classes, exts)
    train = _split(train_files, config.colour)
    evaluation = _split(eval_files, config.colour)
    shapes = {img.shape for img in (*train.x, *evaluation.x)}
    channels = 1 if config.colour == "grey" else 3
    stage = Stage("images", next(iter(shapes)) if len(shapes) == 1 else (None, None, channels))
    return RawData(
        stage=stage,
        train=train,
        eval=evaluation,
        eval_sha256=files_sha256(data, [p for p, _ in eval_files]),
        data_sha256=files_sha256(data, [p for p, _ in train_files + eval_files]),
        description=(
            f"{len(train_files)} training and {len(eval_files)} evaluation images in {data}"
        ),
    )
