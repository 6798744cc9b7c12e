"""Quality metrics, computed with numpy from model outputs and labels, and what a workload's
quality gate means for each of them.

A gate is the line a run's quality must reach to be graded. For a metric where higher is
better (accuracy, macro-F1, ROC-AUC) the gate is a minimum: quality >= gate passes. For a
metric where lower is better (RMSE, an error in the target's own unit) the gate is a
maximum: quality <= gate passes. Every comparison with a gate goes through
:func:`passes_gate`, so the direction is decided in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ecoscore.benchmarks.errors import WorkloadError

if TYPE_CHECKING:
    from ecoscore.benchmarks.base import WorkloadInfo


def accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(pred == labels))


def macro_f1(pred: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    """Unweighted mean of per-class F1; a class absent from both gives no term."""
    scores = []
    for c in range(num_classes):
        tp = np.sum((pred == c) & (labels == c))
        fp = np.sum((pred == c) & (labels != c))
        fn = np.sum((pred != c) & (labels == c))
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    labels = labels.astype(bool)
    n_pos = int(labels.sum())
    n_neg = int(labels.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        raise WorkloadError("ROC-AUC needs both normal and anomalous samples")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(scores.size, dtype=np.float64)
    i = 0
    while i < scores.size:
        j = i
        while j + 1 < scores.size and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def rmse(pred: np.ndarray, targets: np.ndarray) -> float:
    """Root of the mean squared error, in the target's unit (computed in float64)."""
    diff = pred.astype(np.float64) - targets.astype(np.float64)
    return float(np.sqrt(np.mean(diff * diff)))


#: Metrics where a lower value is better; for them a gate is a maximum.
LOWER_IS_BETTER: frozenset[str] = frozenset({"rmse"})


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def passes_gate(metric: str, value: float, gate: float) -> bool:
    """Whether ``value`` of ``metric`` reaches the gate: ``>=`` for a metric where higher is
    better, ``<=`` for one where lower is better (RMSE)."""
    return value <= gate if metric in LOWER_IS_BETTER else value >= gate


def gate_relation(metric: str, passed: bool) -> str:
    """The sign between a quality and its gate: ``>=``/``<`` or ``<=``/``>`` for RMSE."""
    if metric in LOWER_IS_BETTER:
        return "<=" if passed else ">"
    return ">=" if passed else "<"


def check_outputs(info: WorkloadInfo, outputs: np.ndarray, n: int) -> np.ndarray:
    """Validate a model's outputs against the workload's output convention."""
    outputs = np.asarray(outputs)
    if outputs.shape[0] != n:
        raise WorkloadError(
            f"model returned {outputs.shape[0]} outputs for {n} inputs (shape {outputs.shape})"
        )
    if not np.all(np.isfinite(outputs)):
        bad = int(np.sum(~np.isfinite(outputs)))
        raise WorkloadError(f"model produced {bad} NaN or infinite output values")
    if info.task == "classification":
        if outputs.ndim != 2 or outputs.shape[1] != info.num_classes:
            hint = ""
            if outputs.ndim == 1 and np.issubdtype(outputs.dtype, np.integer):
                hint = (
                    "; it gives class labels: keep only the class scores as the model's output "
                    "(with skl2onnx, the 'probabilities' output; see the README, 'Build a model "
                    "for a workload')"
                )
            raise WorkloadError(
                f"{info.name} expects outputs of shape (batch, {info.num_classes}), "
                f"the model gives {tuple(outputs.shape)}{hint}"
            )
    else:
        if outputs.ndim == 2 and outputs.shape[1] == 1:
            outputs = outputs[:, 0]
        if outputs.ndim != 1:
            what = "anomaly score" if info.task == "anomaly" else "predicted value"
            raise WorkloadError(
                f"{info.name} expects one {what} per input (batch,) or (batch, 1), "
                f"the model gives {tuple(outputs.shape)}"
            )
    return outputs


def compute_metric(info: WorkloadInfo, outputs: np.ndarray, labels: np.ndarray) -> float:
    outputs = check_outputs(info, outputs, labels.shape[0])
    if info.metric == "roc_auc":
        return roc_auc(outputs.astype(np.float64), labels)
    if info.metric == "rmse":
        return rmse(outputs, labels)
    pred = np.argmax(outputs, axis=1)
    if info.metric == "accuracy":
        return accuracy(pred, labels)
    if info.metric == "macro_f1":
        assert info.num_classes is not None
        return macro_f1(pred, labels, info.num_classes)
    raise WorkloadError(f"unknown metric {info.metric!r}")
