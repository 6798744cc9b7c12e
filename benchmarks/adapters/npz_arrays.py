"""NumPy ``.npz`` arrays: samples ``x`` and labels or targets ``y``.

- split ``given``: ``train_file`` and ``eval_file`` (default ``train.npz``, ``eval.npz``);
- split ``seeded``: one ``file`` (default ``data.npz``), split by the seeded rule.

Files are read with ``allow_pickle=False`` (an object array is refused). ``x`` is numeric,
one sample per row along its first axis; ``x_kind`` says what a sample is for
preprocessing: ``features`` (rows of numbers), ``images`` (uint8 height x width x channels),
``audio`` (int16 clips, with ``sample_rate``) or ``tensor`` (already what the model takes;
the default for arrays of more than two axes). ``y`` is one label per sample: class
indices 0..classes-1 (classification), 0/1 (anomaly) or numbers (regression).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from ecoscore.benchmarks.adapters import (
    Context,
    RawData,
    RawSplit,
    SeededSplit,
    _Config,
    files_sha256,
    seeded_split,
)
from ecoscore.benchmarks.base import array_sha256
from ecoscore.benchmarks.errors import DataFormatError
from ecoscore.benchmarks.preprocess import Stage

TASKS = ("classification", "anomaly", "regression")


class NpzConfig(_Config):
    adapter: Literal["npz"]
    file: str = "data.npz"
    train_file: str = "train.npz"
    eval_file: str = "eval.npz"
    x_key: str = "x"
    y_key: str = "y"
    x_kind: Literal["features", "images", "audio", "tensor"] | None = None
    sample_rate: Annotated[int, Field(gt=0, strict=True)] | None = None
    eval_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _audio_rate(self) -> NpzConfig:
        if self.x_kind == "audio" and self.sample_rate is None:
            raise ValueError("x_kind 'audio' needs sample_rate")
        return self

    def start_stage(self) -> Stage:
        """Before the data is read: the rank of a sample is known for features, images and
        audio; for a plain array (``tensor``) not even that."""
        kind = self.x_kind or "tensor"
        shape: tuple[int | None, ...] = {
            "features": (None,),
            "images": (None, None, None),
            "audio": (None,),
        }.get(kind, (None,))
        return Stage(kind, shape, sample_rate=self.sample_rate, rank_known=kind != "tensor")


def _load(path: Path, config: NpzConfig) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in (config.x_key, config.y_key) if k not in z.files]
            if missing:
                raise DataFormatError(
                    f"{path}: no array {', '.join(missing)} (it holds: {', '.join(z.files)})"
                )
            x, y = z[config.x_key], z[config.y_key]
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise DataFormatError(f"{path}: not a readable .npz file: {e}") from None
    if x.dtype.kind not in "biuf" or y.dtype.kind not in "biuf":
        raise DataFormatError(f"{path}: x and y must be numeric ({x.dtype}, {y.dtype})")
    if y.ndim != 1 or x.ndim < 2 or x.shape[0] != y.shape[0]:
        raise DataFormatError(
            f"{path}: x {x.shape} and y {y.shape}: expected x with one sample per row and "
            "y of one value per sample"
        )
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise DataFormatError(f"{path}: x holds NaN or infinite values")
    return x, y


def _labels(y: np.ndarray, ctx: Context, path: Path) -> np.ndarray:
    if ctx.task == "regression":
        if not np.all(np.isfinite(y)):
            raise DataFormatError(f"{path}: y holds NaN or infinite values")
        return y.astype(np.float64)
    top = len(ctx.classes) if ctx.task == "classification" else 2
    if not np.array_equal(y, np.round(y)) or y.min() < 0 or y.max() >= top:
        raise DataFormatError(f"{path}: y must hold integers 0..{top - 1} for this {ctx.task}")
    return y.astype(np.int64)


def _stage(config: NpzConfig, x: np.ndarray) -> Stage:
    kind = config.x_kind or ("features" if x.ndim == 2 else "tensor")
    if kind == "images" and (x.ndim != 4 or x.dtype != np.uint8):
        raise DataFormatError(
            f"x_kind 'images' needs uint8 x of shape (N, H, W, C), got {x.dtype} {x.shape}"
        )
    if kind == "audio" and (x.ndim != 2 or x.dtype != np.int16):
        raise DataFormatError(
            f"x_kind 'audio' needs int16 x of shape (N, samples), got {x.dtype} {x.shape}"
        )
    return Stage(kind, tuple(x.shape[1:]), sample_rate=config.sample_rate)


def read(config: NpzConfig, data: Path, ctx: Context) -> RawData:
    if isinstance(ctx.split, SeededSplit):
        path = data if data.is_file() else data / config.file
        x, y = _load(path, config)
        y = _labels(y, ctx, path)
        tr, ev = seeded_split(y, ctx.task, ctx.split.eval_fraction, ctx.split.seed)
        xt, yt, xe, ye = x[tr], y[tr], x[ev], y[ev]
        eval_sha, files, root = array_sha256(xe, ye), [path], path.parent
    else:
        tp, ep = data / config.train_file, data / config.eval_file
        xt, yt = _load(tp, config)
        xe, ye = _load(ep, config)
        yt, ye = _labels(yt, ctx, tp), _labels(ye, ctx, ep)
        if xt.shape[1:] != xe.shape[1:] or xt.dtype != xe.dtype:
            raise DataFormatError(
                f"{ep}: x is {xe.dtype} {xe.shape[1:]} per sample, {tp} has {xt.dtype} "
                f"{xt.shape[1:]}"
            )
        eval_sha, files, root = files_sha256(data, [ep]), [tp, ep], data
    return RawData(
        stage=_stage(config, xt),
        train=RawSplit(xt, yt),
        eval=RawSplit(xe, ye),
        eval_sha256=eval_sha,
        data_sha256=files_sha256(root, files),
        description=(
            f"{len(yt)} training and {len(ye)} evaluation samples from {', '.join(map(str, files))}"
        ),
    )
