"""Training recipe of the defect-scratch models; writes every committed model file.

    python -m ecoscore.benchmarks.examples.defect_scratch.train [--out DIR]

Both models are trained on the training split only (generated into a temporary folder by
:func:`~ecoscore.benchmarks.examples.defect_scratch.generate.generate` and read through the
workload file, as a user's run reads it); the evaluation split only reports their quality.

- ``defect-cnn`` (the reference): three 3x3 convolutions (8, 16, 16 channels, ReLU, two
  2x2 max-pools), a global max-pool (a scratch anywhere in the image counts) and a linear
  layer to the two class scores; Adam, 40 epochs, batch 32, fixed seeds, one thread.
- ``defect-filters`` (the non-neural baseline): a bank of 16 oriented line detectors (9x9
  matched filters, zero mean), the absolute response's maximum and its ratio to the mean
  per orientation (32 features, in log), and a logistic regression (scikit-learn) on them.
  The filters and the regression's weights are fixed in a small torch module so that the
  baseline runs through the same engines as the CNN.

Both are exported to ONNX (opset 18, dynamo exporter, dynamic batch dimension), input
``input`` float32 (batch, 1, 32, 32), output ``logits`` (batch, 2) in the order ok, scratch.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecoscore.benchmarks.examples.defect_scratch import HERE, WORKLOAD_FILE
from ecoscore.benchmarks.examples.defect_scratch.generate import generate
from ecoscore.benchmarks.metrics import macro_f1
from ecoscore.benchmarks.workload_file import FileWorkload

SEED = 0
OPSET = 18
MAX_BATCH = 65536
EPOCHS = 40
BATCH = 32
LR = 3e-3
KERNEL = 9
ORIENTATIONS = 16
LOGREG_C = 1.0


class DefectCnn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.amax(self.features(x), dim=(2, 3)))


def line_filters() -> np.ndarray:
    """(ORIENTATIONS, KERNEL, KERNEL) zero-mean matched filters of a thin line through the
    centre, one per orientation (Gaussian profile across, sigma 0.6 pixel)."""
    c = (KERNEL - 1) / 2
    yy, xx = np.mgrid[0:KERNEL, 0:KERNEL] - c
    out = []
    for i in range(ORIENTATIONS):
        a = np.pi * i / ORIENTATIONS
        across = np.abs(-np.sin(a) * xx + np.cos(a) * yy)
        along = np.abs(np.cos(a) * xx + np.sin(a) * yy)
        line = np.exp(-(across**2) / (2 * 0.6**2)) * (along <= c)
        out.append(line / line.sum() - 1.0 / KERNEL**2)
    return np.asarray(out, dtype=np.float32)


class LineFilterFeatures(nn.Module):
    """The baseline's features: per orientation, log max |response| and log(max / mean)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("filters", torch.from_numpy(line_filters())[:, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = torch.abs(nn.functional.conv2d(x, self.filters))
        peak = torch.log(torch.amax(r, dim=(2, 3)) + 1e-6)
        mean = torch.log(torch.mean(r, dim=(2, 3)) + 1e-6)
        return torch.cat([peak, peak - mean], dim=1)


class LineFilterBaseline(nn.Module):
    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        super().__init__()
        self.features = LineFilterFeatures()
        self.linear = nn.Linear(weight.shape[1], 2)
        with torch.no_grad():
            # a binary logistic regression as two class scores: (0, w.x + b)
            w = np.concatenate([np.zeros_like(weight), weight]).astype(np.float32)
            b = np.concatenate([np.zeros_like(bias), bias]).astype(np.float32)
            self.linear.weight.copy_(torch.from_numpy(w))
            self.linear.bias.copy_(torch.from_numpy(b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(x))


def train_cnn(x: np.ndarray, y: np.ndarray) -> nn.Module:
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    model = DefectCnn()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(EPOCHS):
        order = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), BATCH):
            idx = order[i : i + BATCH]
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def train_baseline(x: np.ndarray, y: np.ndarray) -> nn.Module:
    from sklearn.linear_model import LogisticRegression

    with torch.no_grad():
        feats = LineFilterFeatures()(torch.from_numpy(x)).numpy().astype(np.float64)
    clf = LogisticRegression(C=LOGREG_C, max_iter=5000).fit(feats, y)
    return LineFilterBaseline(clf.coef_, clf.intercept_).eval()


def export_onnx(module: nn.Module, path: Path) -> None:
    """ONNX with a dynamic batch, written in a private folder and moved into place."""
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    folder = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        tmp = folder / path.name
        with contextlib.redirect_stdout(io.StringIO()):
            torch.onnx.export(
                module,
                (torch.zeros(4, 1, 32, 32),),
                str(tmp),
                input_names=["input"],
                output_names=["logits"],
                dynamic_shapes=({0: batch},),
                opset_version=OPSET,
                dynamo=True,
                external_data=False,
            )
        tmp.chmod(0o644)
        tmp.replace(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def onnx_macro_f1(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = sess.run(None, {"input": x})[0]
    return macro_f1(np.argmax(logits, axis=1), y, 2)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        wl = FileWorkload(WORKLOAD_FILE, Path(tmp))
        train, evaluation = wl.train_split(), wl.eval_split()
        models = []
        for name, role, stem, module in (
            ("defect-cnn", "reference", "defect_cnn", train_cnn(train.x, train.y)),
            ("defect-filters", "baseline", "defect_filters", train_baseline(train.x, train.y)),
        ):
            path = out / f"{stem}.onnx"
            export_onnx(module, path)
            params = int(sum(p.numel() for p in module.parameters()))
            quality = onnx_macro_f1(path, evaluation.x, evaluation.y)
            models.append(
                {
                    "name": name,
                    "role": role,
                    "files": {"onnx": path.name},
                    "parameter_count": params,
                    "eval_quality": {"macro_f1": quality},
                }
            )
            print(f"{name}: {params} trained parameters, eval macro-F1 {quality:.4f} -> {path}")
    manifest = {"workload": "defect-scratch", "models": models}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    main(parser.parse_args().out)
