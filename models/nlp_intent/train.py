"""Recipe for the nlp-intent reference models, on the bundled training split.

- intent-mlp (reference): FEATURE_DIM -> 64 -> ReLU -> 10 logits, Adam, full batch,
  fixed seed and a single thread, so that two runs give the same weights.
- intent-linear (baseline, non-neural): scikit-learn LogisticRegression (lbfgs, L2) on the
  same features; its weights are copied into a one-layer torch module so that it runs
  through both engines like the reference model.

Each model is exported to ONNX (opset 18, dynamic batch) and to a torch.export archive
(.pt2, dynamic batch); both are evaluated on the evaluation split through onnxruntime and
through torch.export.load, per language and overall, and manifest.json is written.

    python -m ecoscore.models.nlp_intent.train
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecoscore.benchmarks.metrics import macro_f1
from ecoscore.benchmarks.nlp_intent import FEATURE_DIM, INTENTS, LANGUAGES, NlpIntent

OUT_DIR = Path(__file__).resolve().parent
SEED = 0
HIDDEN = 64
EPOCHS = 150
LEARNING_RATE = 1e-2
WEIGHT_DECAY = 1e-4
LOGREG_C = 30.0
OPSET = 18
MAX_BATCH = 1 << 16


class IntentMLP(nn.Module):
    def __init__(self, dim: int = FEATURE_DIM, hidden: int = HIDDEN, classes: int = 10) -> None:
        super().__init__()
        self.hidden = nn.Linear(dim, hidden)
        self.out = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x)))


class LinearClassifier(nn.Module):
    """Logits = x W^T + b: the weights of a linear model fitted elsewhere."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        super().__init__()
        self.linear = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(weight.astype(np.float32)))
            self.linear.bias.copy_(torch.from_numpy(bias.astype(np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


@dataclass
class Trained:
    name: str
    stem: str
    role: str
    module: nn.Module
    seconds: float


def train_mlp(x: np.ndarray, y: np.ndarray) -> Trained:
    torch.manual_seed(SEED)
    model = IntentMLP(classes=len(INTENTS))
    opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    model.train()
    for _ in range(EPOCHS):
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()
    model.eval()
    return Trained("intent-mlp", "intent_mlp", "reference", model, time.perf_counter() - start)


def train_linear(x: np.ndarray, y: np.ndarray) -> Trained:
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    clf = LogisticRegression(C=LOGREG_C, max_iter=5000, random_state=SEED).fit(x, y)
    seconds = time.perf_counter() - start
    module = LinearClassifier(clf.coef_, clf.intercept_).eval()
    return Trained("intent-linear", "intent_linear", "baseline", module, seconds)


def export_onnx(module: nn.Module, path: Path) -> None:
    example = (torch.zeros(4, FEATURE_DIM),)
    torch.onnx.export(
        module,
        example,
        str(path),
        input_names=["input"],
        output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=MAX_BATCH)},),
        opset_version=OPSET,
        dynamo=True,
        external_data=False,
        verbose=False,
    )


def export_pt2(module: nn.Module, path: Path) -> None:
    example = (torch.zeros(4, FEATURE_DIM),)
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    program = torch.export.export(module, example, dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))


def onnx_logits(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def pt2_logits(path: Path, x: np.ndarray) -> np.ndarray:
    module = torch.export.load(str(path)).module()
    with torch.inference_mode():
        return module(torch.from_numpy(x)).numpy()


def quality(logits: np.ndarray, y: np.ndarray, langs: np.ndarray) -> dict[str, float]:
    """Macro-F1 overall and per language."""
    pred = np.argmax(logits, axis=1)
    out = {"all": macro_f1(pred, y, len(INTENTS))}
    for lang in LANGUAGES:
        m = langs == lang
        out[lang] = macro_f1(pred[m], y[m], len(INTENTS))
    return out


def parameter_count(module: nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def write_json_atomic(path: Path, doc: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)


def main() -> None:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    workload = NlpIntent()
    train, evaluation = workload.train_split(), workload.eval_split()
    langs = np.array([u.lang for u in workload.utterances("eval")])
    models = [train_mlp(train.x, train.y), train_linear(train.x, train.y)]
    entries = []
    for m in models:
        onnx_path, pt2_path = OUT_DIR / f"{m.stem}.onnx", OUT_DIR / f"{m.stem}.pt2"
        export_onnx(m.module, onnx_path)
        export_pt2(m.module, pt2_path)
        q_onnx = quality(onnx_logits(onnx_path, evaluation.x), evaluation.y, langs)
        q_torch = quality(pt2_logits(pt2_path, evaluation.x), evaluation.y, langs)
        print(
            f"{m.name}: {parameter_count(m.module)} parameters, trained in {m.seconds:.2f} s; "
            f"{onnx_path.name} {onnx_path.stat().st_size} B, {pt2_path.name} "
            f"{pt2_path.stat().st_size} B\n  onnxruntime macro-F1 {q_onnx}\n"
            f"  torch       macro-F1 {q_torch}"
        )
        entries.append(
            {
                "name": m.name,
                "role": m.role,
                "files": {"onnx": onnx_path.name, "pt2": pt2_path.name},
                "parameter_count": parameter_count(m.module),
                "eval_quality": {"macro_f1": round(q_onnx["all"], 4)},
            }
        )
    write_json_atomic(OUT_DIR / "manifest.json", {"workload": "nlp-intent", "models": entries})


if __name__ == "__main__":
    main()
