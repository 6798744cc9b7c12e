"""torch on the CPU: loads a torch.export archive (.pt2) and runs it in inference mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from ecoscore.runners.engines.base import Engine, EngineError, EngineInfo, EngineUnavailable
from ecoscore.runners.model_files import check_pt2_file


def import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise EngineUnavailable(
            "the torch engine needs PyTorch: pip install 'ecoscore[torch]' "
            "(a CPU build: pip install torch==2.13.0)"
        ) from None
    return torch


class TorchEngine(Engine):
    """torch.export programs on a torch device. This module serves the CPU; the CUDA
    variant (runners/engines/torch_cuda.py) extends it."""

    name = "torch"
    formats = ("pt2",)

    def __init__(self, threads: int | None = None) -> None:
        self.torch = import_torch()
        if threads:
            self.torch.set_num_threads(threads)
        self.threads = self.torch.get_num_threads()
        self._module: Any = None
        self.parameter_count: int | None = None
        self.device = "cpu"
        self.precision = "fp32"

    def load(self, path: Path) -> None:
        torch = self.torch
        check_pt2_file(path)
        try:
            ep = torch.export.load(str(path))
        except Exception as e:
            raise EngineError(f"{path}: torch.export.load failed: {e}") from None
        self.parameter_count = int(sum(p.numel() for p in ep.state_dict.values()))
        self._module = ep.module()
        self._after_load()

    def _after_load(self) -> None:
        pass

    def run(self, x: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            y = self._module(torch.from_numpy(x))
        if isinstance(y, (tuple, list)):
            y = y[0]
        return y.numpy()

    def prepare(self, x: np.ndarray) -> Any:
        return self.torch.from_numpy(np.ascontiguousarray(x))

    def run_prepared(self, x: Any) -> Any:
        with self.torch.inference_mode():
            return self._module(x)

    def info(self) -> EngineInfo:
        return EngineInfo(
            name=self.name,
            version=self.torch.__version__,
            device=self.device,
            precision=self.precision,
            settings={
                "num_threads": self.threads,
                "inference_mode": True,
                "loader": "torch.export.load",
            },
        )

    def close(self) -> None:
        self._module = None
