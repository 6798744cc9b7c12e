"""Training recipe for the vision-digits reference models; writes every committed artefact.

    python -m ecoscore.models.vision_digits.train [--out DIR]

Two models, both trained on the workload's fixed training split only:
- ``digits-cnn`` (role "reference"): a small CNN (two 3x3 convolutions, one max-pool, two
  dense layers), Adam, fixed seeds, deterministic algorithms, one thread.
- ``digits-logreg`` (role "baseline"): scikit-learn multinomial logistic regression on the
  64 flattened pixels; its weights are copied into a flatten + linear torch module so that
  the baseline runs through the same engines as the neural model.

Each is exported to ONNX (opset 18, dynamo exporter, dynamic batch dimension) and to a
torch.export archive (.pt2, dynamic batch dimension). Both take ``input`` of shape
(batch, 1, 8, 8) float32 in [0, 1] and return logits of shape (batch, 10). The eval split is
used only to report quality after training, never to choose anything.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecoscore.benchmarks.base import Split
from ecoscore.benchmarks.vision_digits import VisionDigits

HERE = Path(__file__).resolve().parent
SEED = 0
OPSET = 18
#: Upper bound of the exported batch dimension (far above any scenario's batch size).
MAX_BATCH = 65536

CNN_EPOCHS = 40
CNN_BATCH = 32
CNN_LR = 3e-3
CNN_WEIGHT_DECAY = 1e-4
LOGREG_C = 1.0
LOGREG_MAX_ITER = 5000


class DigitsCnn(nn.Module):
    """conv3x3(1->16) relu, conv3x3(16->32) relu, maxpool 2, dense 512->64 relu, dense 64->10."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64),
            nn.ReLU(),
            nn.Linear(64, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class LinearOnPixels(nn.Module):
    """Flatten the 8x8 image and apply one linear layer: a linear classifier's logits."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(weight.astype(np.float32)))
            self.linear.bias.copy_(torch.from_numpy(bias.astype(np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.flatten(x))


@dataclass
class Trained:
    name: str
    role: str
    stem: str
    module: nn.Module
    seconds: float

    @property
    def parameter_count(self) -> int:
        return int(sum(p.numel() for p in self.module.parameters()))


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def train_cnn(train: Split) -> Trained:
    seed_everything(SEED)
    start = time.perf_counter()
    model = DigitsCnn()
    opt = torch.optim.Adam(model.parameters(), lr=CNN_LR, weight_decay=CNN_WEIGHT_DECAY)
    x = torch.from_numpy(train.x)
    y = torch.from_numpy(train.y)
    gen = torch.Generator().manual_seed(SEED)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(CNN_EPOCHS):
        order = torch.randperm(len(train), generator=gen)
        for i in range(0, len(train), CNN_BATCH):
            idx = order[i : i + CNN_BATCH]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
    model.eval()
    return Trained("digits-cnn", "reference", "digits_cnn", model, time.perf_counter() - start)


def train_logreg(train: Split) -> Trained:
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    clf = LogisticRegression(C=LOGREG_C, max_iter=LOGREG_MAX_ITER)
    clf.fit(train.x.reshape(len(train), -1).astype(np.float64), train.y)
    module = LinearOnPixels(clf.coef_, clf.intercept_).eval()
    seconds = time.perf_counter() - start
    return Trained("digits-logreg", "baseline", "digits_logreg", module, seconds)


@contextlib.contextmanager
def _atomic_write(path: Path) -> Iterator[Path]:
    """Yield a temporary path with the same file name (exporters embed it), in a private
    folder beside ``path``; move it into place only once it is completely written."""
    folder = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        tmp = folder / path.name
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _inline_constant_initializers(path: Path, parameter_names: set[str]) -> None:
    """Turn initializers that are not model parameters (shape constants the exporter adds)
    into Constant nodes, so that the file's initializers are exactly the parameters."""
    import onnx
    from onnx import helper

    proto = onnx.load(str(path))
    keep, constants = [], []
    for init in proto.graph.initializer:
        if init.name in parameter_names:
            keep.append(init)
        else:
            constants.append(helper.make_node("Constant", [], [init.name], value=init))
    if not constants:
        return
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(keep)
    nodes = constants + list(proto.graph.node)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def export_onnx(module: nn.Module, path: Path) -> None:
    example = torch.zeros(4, 1, 8, 8)
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    with (
        _atomic_write(path) as tmp,
        contextlib.redirect_stdout(io.StringIO()),  # the exporter prints its progress
    ):
        torch.onnx.export(
            module,
            (example,),
            str(tmp),
            input_names=["input"],
            output_names=["logits"],
            dynamic_shapes=({0: batch},),
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
        _inline_constant_initializers(tmp, {n for n, _ in module.named_parameters()})


def export_pt2(module: nn.Module, path: Path) -> None:
    example = torch.zeros(4, 1, 8, 8)
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    with _atomic_write(path) as tmp:
        torch.export.save(program, str(tmp))


def onnx_accuracy(path: Path, split: Split) -> float:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = sess.run(None, {"input": split.x})[0]
    return float(np.mean(np.argmax(logits, axis=1) == split.y))


def pt2_accuracy(path: Path, split: Split) -> float:
    module = torch.export.load(str(path)).module()
    with torch.inference_mode():
        logits = module(torch.from_numpy(split.x)).numpy()
    return float(np.mean(np.argmax(logits, axis=1) == split.y))


def _write_text(path: Path, text: str) -> None:
    with _atomic_write(path) as tmp:
        tmp.write_text(text)


def _versions() -> str:
    import platform

    import sklearn

    return (
        f"torch {torch.__version__}, scikit-learn {sklearn.__version__}, numpy "
        f"{np.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPU cores "
        f"({platform.machine()})"
    )


def _kib(path: Path) -> str:
    return f"{path.stat().st_size / 1024:.1f} KiB"


def write_card(out: Path, rows: list[dict[str, object]], models: dict[str, Trained]) -> None:
    cnn, logreg = models["digits-cnn"], models["digits-logreg"]
    r = {row["name"]: row for row in rows}
    c, b = r["digits-cnn"], r["digits-logreg"]
    text = f"""# Model cards: vision-digits

Both models are made by `python -m ecoscore.models.vision_digits.train` (this folder's `train.py`)
from the vision-digits 1.0 training split (1258 images, stratified, fixed seed) and nothing
else. Input `input`: float32 (batch, 1, 8, 8), pixels / 16 in [0, 1]. Output `logits`:
(batch, 10). Exported to ONNX (opset {OPSET}, dynamo exporter) and to a torch.export archive
(`.pt2`), both with a dynamic batch dimension (1 to {MAX_BATCH}). Quality is accuracy on the
539-image evaluation split; the workload's quality gate is 0.95.

Made with {_versions()}; training times are wall-clock on that machine, which other jobs
shared.

## digits-cnn (reference)

- Architecture: conv 3x3 (1->16) + ReLU, conv 3x3 (16->32) + ReLU, max-pool 2x2, dense
  512->64 + ReLU, dense 64->10.
- Parameters: {cnn.parameter_count}.
- Files: `digits_cnn.onnx` ({_kib(out / "digits_cnn.onnx")}), \
`digits_cnn.pt2` ({_kib(out / "digits_cnn.pt2")}).
- Training: Adam (lr {CNN_LR}, weight decay {CNN_WEIGHT_DECAY}), cross-entropy,
  {CNN_EPOCHS} epochs, batch {CNN_BATCH}, `torch.manual_seed({SEED})`, deterministic
  algorithms, one CPU thread; no augmentation, no early stopping. Hyper-parameters were
  fixed before training and not tuned on the evaluation split.
  Training time: {cnn.seconds:.1f} s.
- Eval accuracy: {c["onnx"]:.4f} with onnxruntime (CPU), {c["pt2"]:.4f} with torch (CPU).

## digits-logreg (baseline)

- Architecture: scikit-learn `LogisticRegression` (multinomial, lbfgs, C={LOGREG_C}) on the
  64 flattened pixels; its coefficients and intercepts are copied into a torch module
  (flatten + linear 64->10) whose logits equal the classifier's decision function.
- Parameters: {logreg.parameter_count}.
- Files: `digits_logreg.onnx` ({_kib(out / "digits_logreg.onnx")}), \
`digits_logreg.pt2` ({_kib(out / "digits_logreg.pt2")}).
- Training: lbfgs to convergence (max {LOGREG_MAX_ITER} iterations), deterministic.
  Training time: {logreg.seconds:.2f} s.
- Eval accuracy: {b["onnx"]:.4f} with onnxruntime (CPU), {b["pt2"]:.4f} with torch (CPU).
- Role: the "do you need AI at all?" line: a neural model for this workload should be
  compared with this one on energy per inference as well as on accuracy.

## Intended use and limits

- Intended use: reference models for the ecoscore vision-digits workload, to measure and
  compare the energy, latency and quality of inference engines and devices on a tiny,
  fully reproducible vision task.
- Not for real handwriting recognition: the data are 1797 low-resolution digits (32x32
  bitmaps reduced to 8x8 counts, 17 grey levels) from 13 writers (the test part of the UCI
  "Optical Recognition of Handwritten Digits" set).
  Accuracy on other writers, scanners or resolutions is unknown.
- The models are tiny: their inference cost is dominated by engine overhead (a call costs
  far more than the arithmetic), which is itself worth measuring but says little about
  larger vision models.
- Bitwise-identical weights need the same torch and scikit-learn versions and CPU
  instruction set; other setups give close but not identical weights.
"""
    _write_text(out / "CARD.md", text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder for the artefacts")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    workload = VisionDigits()
    train, evaluation = workload.train_split(), workload.eval_split()
    models = [train_cnn(train), train_logreg(train)]
    rows: list[dict[str, object]] = []
    manifest_models = []
    for m in models:
        onnx_path, pt2_path = out / f"{m.stem}.onnx", out / f"{m.stem}.pt2"
        export_onnx(m.module, onnx_path)
        export_pt2(m.module, pt2_path)
        acc_onnx = onnx_accuracy(onnx_path, evaluation)
        acc_pt2 = pt2_accuracy(pt2_path, evaluation)
        rows.append({"name": m.name, "onnx": acc_onnx, "pt2": acc_pt2})
        manifest_models.append(
            {
                "name": m.name,
                "role": m.role,
                "files": {"onnx": onnx_path.name, "pt2": pt2_path.name},
                "parameter_count": m.parameter_count,
                "eval_quality": {"accuracy": acc_onnx},
            }
        )
        print(
            f"{m.name}: {m.parameter_count} parameters, trained in {m.seconds:.2f} s, "
            f"eval accuracy onnxruntime {acc_onnx:.4f}, torch {acc_pt2:.4f}, "
            f"{_kib(onnx_path)} onnx, {_kib(pt2_path)} pt2"
        )
    manifest = {"workload": workload.info.name, "models": manifest_models}
    _write_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    write_card(out, rows, {m.name: m for m in models})


if __name__ == "__main__":
    main()
