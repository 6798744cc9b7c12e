"""What the four MLPerf Tiny recipes share (``models/tiny_*/train.py``): training loops,
augmentation, the non-neural baselines, export to ONNX and torch.export, and the summary
each recipe prints and writes.

Rules the recipes keep:
- models train on the workload's training split only; the evaluation split is used once,
  after training, to report quality, never to choose anything;
- seeds are fixed (``torch.manual_seed``, numpy's ``default_rng``), one CPU thread unless
  asked otherwise, deterministic algorithms;
- exports take NCHW input (torch's layout) with a dynamic batch dimension, ONNX opset 18
  (dynamo exporter) and a ``.pt2`` archive; ecoscore transposes its NHWC arrays for them;
- every baseline is a torch module too, so that it runs through the same engines.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ecoscore.benchmarks.base import Split, Workload

OPSET = 18
MAX_BATCH = 65536


@dataclass
class Trained:
    name: str
    role: str  # reference | baseline
    module: nn.Module
    seconds: float
    quality: float | None = None
    files: dict[str, str] | None = None

    @property
    def parameter_count(self) -> int:
        return int(sum(p.numel() for p in self.module.parameters()))


def seed_everything(seed: int, threads: int = 1) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)


def nchw(x: np.ndarray) -> torch.Tensor:
    """NHWC float32 array -> NCHW tensor (a 2-D array is returned as is)."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return t.permute(0, 3, 1, 2).contiguous() if t.dim() == 4 else t


@dataclass(frozen=True)
class Augment:
    """Random affine augmentation as Keras's ImageDataGenerator applies it: rotation (deg),
    shifts (fraction of the size), zoom (fraction), horizontal flip; nearest fill."""

    rotation: float = 0.0
    shift: float = 0.0
    zoom: float = 0.0
    flip: bool = False

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        if not (self.rotation or self.shift or self.zoom or self.flip):
            return x

        def uniform(lo: float, hi: float) -> torch.Tensor:
            return lo + (hi - lo) * torch.rand(n, generator=gen)

        angle = uniform(-self.rotation, self.rotation) * math.pi / 180
        scale = uniform(1 - self.zoom, 1 + self.zoom)
        tx, ty = uniform(-self.shift, self.shift) * 2, uniform(-self.shift, self.shift) * 2
        flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0) if self.flip else 1.0
        cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
        theta = torch.stack(
            [torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1
        )
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="nearest", padding_mode="border", align_corners=False)


def train_classifier(
    module: nn.Module,
    train: Split,
    epochs: int,
    batch: int,
    lr_at: Callable[[int], float],
    augment: Augment | None = None,
    seed: int = 0,
    weight_decay: float = 0.0,
) -> float:
    """Adam and cross-entropy on NHWC arrays (fed NCHW); returns the training seconds."""
    start = time.perf_counter()
    x, y = nchw(train.x), torch.from_numpy(train.y)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=lr_at(0), weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    module.train()
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = lr_at(epoch)
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), batch):
            idx = order[i : i + batch]
            xb = augment(x[idx], gen) if augment else x[idx]
            opt.zero_grad()
            loss_fn(module(xb), y[idx]).backward()
            opt.step()
    module.eval()
    return time.perf_counter() - start


def train_autoencoder(
    module: nn.Module, x: np.ndarray, epochs: int, batch: int, lr: float, seed: int = 0
) -> float:
    start = time.perf_counter()
    data = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    module.train()
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=gen)
        for i in range(0, len(data), batch):
            xb = data[order[i : i + batch]]
            if len(xb) < 2:  # batch norm needs two samples
                continue
            opt.zero_grad()
            F.mse_loss(module(xb), xb).backward()
            opt.step()
    module.eval()
    return time.perf_counter() - start


class PooledLinear(nn.Module):
    """Average-pool the NCHW image by ``pool`` (1: none), flatten, one linear layer: a
    linear classifier's logits, with its feature standardisation folded in."""

    def __init__(self, pool: int, weight: np.ndarray, bias: np.ndarray) -> None:
        super().__init__()
        self.pool = pool
        self.linear = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(weight.astype(np.float32)))
            self.linear.bias.copy_(torch.from_numpy(bias.astype(np.float32)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool > 1:
            x = F.avg_pool2d(x, self.pool)
        return torch.flatten(x, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(x))


def fit_logistic_baseline(
    train: Split, pool: int, c: float = 1.0, max_iter: int = 2000
) -> nn.Module:
    """scikit-learn logistic regression on standardised pooled pixels (or features), as a
    ``PooledLinear`` module."""
    from sklearn.linear_model import LogisticRegression

    probe = PooledLinear(pool, np.zeros((1, 1)), np.zeros(1))
    with torch.no_grad():
        feats = probe.features(nchw(train.x)).numpy().astype(np.float64)
    mean, std = feats.mean(axis=0), feats.std(axis=0) + 1e-6
    clf = LogisticRegression(C=c, max_iter=max_iter)
    clf.fit((feats - mean) / std, train.y)
    coef = clf.coef_ / std
    intercept = clf.intercept_ - coef @ mean
    if coef.shape[0] == 1:  # binary: logits (-z, z) / 2 give the same argmax and softmax
        coef = np.concatenate([-coef, coef]) / 2
        intercept = np.concatenate([-intercept, intercept]) / 2
    return PooledLinear(pool, coef, intercept).eval()


class PcaScore(nn.Module):
    """Anomaly score = mean squared error of the input's reconstruction from its first
    ``k`` principal components (fitted on normal training vectors); output (batch,)."""

    def __init__(self, mean: np.ndarray, components: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(mean.astype(np.float32)))
        self.proj = nn.Linear(components.shape[1], components.shape[0], bias=False)
        self.back = nn.Linear(components.shape[0], components.shape[1], bias=False)
        with torch.no_grad():
            self.proj.weight.copy_(torch.from_numpy(components.astype(np.float32)))
            self.back.weight.copy_(torch.from_numpy(components.T.astype(np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - self.mean
        residual = centred - self.back(self.proj(centred))
        return torch.mean(residual * residual, dim=1)


def fit_pca_baseline(x: np.ndarray, k: int) -> nn.Module:
    data = np.asarray(x, dtype=np.float64)
    mean = data.mean(axis=0)
    _, _, vt = np.linalg.svd(data - mean, full_matrices=False)
    return PcaScore(mean, vt[: min(k, len(vt))]).eval()


def torch_outputs(module: nn.Module, x: np.ndarray, batch: int = 512) -> np.ndarray:
    outs = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            outs.append(module(nchw(x[i : i + batch])).numpy())
    return np.concatenate(outs)


def evaluate(module: nn.Module, workload: Workload) -> float:
    """The workload's metric on its evaluation split, with the torch module."""
    ev = workload.eval_split()
    return workload.score(torch_outputs(module, ev.x), ev.y)


def export(module: nn.Module, example: torch.Tensor, out: Path, stem: str) -> dict[str, str]:
    """``stem.onnx`` (opset 18, dynamo exporter) and ``stem.pt2``, dynamic batch; returns
    the file names by format."""
    out.mkdir(parents=True, exist_ok=True)
    module = module.eval()
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    onnx_path, pt2_path = out / f"{stem}.onnx", out / f"{stem}.pt2"
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress
        torch.onnx.export(
            module,
            (example,),
            str(onnx_path),
            input_names=["input"],
            output_names=["output"],
            dynamic_shapes=({0: batch},),
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(pt2_path))
    return {"onnx": onnx_path.name, "pt2": pt2_path.name}


def write_summary(
    out: Path, workload: str, models: list[Trained], notes: dict[str, object]
) -> Path:
    """``out/summary.json``: what was trained, its files, size and quality (the recipe's
    result, to compare with the model card)."""
    doc = {
        "workload": workload,
        "models": [
            {
                "name": m.name,
                "role": m.role,
                "files": m.files or {},
                "parameter_count": m.parameter_count,
                "training_seconds": round(m.seconds, 2),
                "eval_quality": m.quality,
            }
            for m in models
        ],
        "settings": notes,
    }
    path = out / "summary.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


@dataclass(frozen=True)
class RecipeArgs:
    """What every recipe's command line gives."""

    data: Path
    out: Path
    epochs: int
    batch: int
    limit: int | None
    seed: int
    threads: int

    def as_dict(self) -> dict[str, object]:
        doc = asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in doc.items()}


def limited(split: Split, limit: int | None, seed: int) -> Split:
    """At most ``limit`` samples of the split (a fixed random choice), for smoke runs."""
    if limit is None or limit >= len(split):
        return split
    idx = np.sort(np.random.default_rng(seed).choice(len(split), size=limit, replace=False))
    return Split(split.x[idx], split.y[idx])


def base_parser(description: str, epochs: int, batch: int):  # type: ignore[no-untyped-def]
    import argparse

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", type=Path, required=True, help="the data set, in its published layout")
    p.add_argument("--out", type=Path, required=True, help="folder for the model files")
    p.add_argument("--epochs", type=int, default=epochs, help=f"default {epochs} (the reference)")
    p.add_argument("--batch", type=int, default=batch, help=f"default {batch} (the reference)")
    p.add_argument("--limit", type=int, default=None, help="train on at most N samples (smoke)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    return p


def recipe_args(ns) -> RecipeArgs:  # type: ignore[no-untyped-def]
    return RecipeArgs(ns.data, ns.out, ns.epochs, ns.batch, ns.limit, ns.seed, ns.threads)


def timed(fn: Callable[[], nn.Module]) -> tuple[nn.Module, float]:
    start = time.perf_counter()
    module = fn()
    return module, time.perf_counter() - start


def finish(
    workload: Workload, args: RecipeArgs, models: list[Trained], example: torch.Tensor
) -> int:
    """Evaluate each model on the evaluation split, export it, write and print the summary."""
    for m in models:
        m.quality = evaluate(m.module, workload)
        m.files = export(m.module, example, args.out, m.name.replace("-", "_"))
    write_summary(args.out, workload.info.name, models, args.as_dict())
    for m in models:
        print(
            f"{m.name} ({m.role}): {workload.info.metric} {m.quality:.4f}, "
            f"{m.parameter_count} parameters, {m.seconds:.1f} s, files {m.files}"
        )
    return 0
