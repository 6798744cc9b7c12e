"""torch: loads a torch.export archive (.pt2) and runs it in inference mode on the CPU. On a
CUDA device the config builds the CUDA variant (runners/engines/torch_cuda.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from ecoscore.runners.engines.base import (
    Engine,
    EngineConfig,
    EngineError,
    EngineInfo,
    EngineUnavailable,
    InputMeta,
    LoadHints,
    OutputMeta,
)
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


class TorchConfig(EngineConfig):
    """``threads``: torch's intra-op threads (None: torch's default). The GPU settings
    (fp16/bf16, channels-last, torch.compile, a CUDA graph at batch 1) apply on CUDA only."""

    formats: ClassVar[tuple[str, ...]] = ("pt2",)
    tunable: ClassVar[tuple[str, ...]] = ("threads",)

    engine: Literal["torch"] = "torch"
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    channels_last: bool = False
    compile: bool = False
    cuda_graph: bool = False

    def build(self) -> Engine:
        if self.device == "cpu":
            gpu_only = [k for k in ("channels_last", "compile", "cuda_graph") if getattr(self, k)]
            if self.precision != "fp32" or gpu_only:
                asked = [f"precision {self.precision}"] if self.precision != "fp32" else []
                raise EngineError(
                    f"torch on the CPU runs fp32 only, without {', '.join(asked + gpu_only)}: "
                    "these settings apply to torch on CUDA"
                )
            return TorchEngine(self)
        if self.device.startswith("cuda"):
            from ecoscore.runners.engines.torch_cuda import TorchCudaEngine

            return TorchCudaEngine(self)
        raise EngineError(f"torch engine: unknown device {self.device!r} (cpu, cuda, cuda:N)")


class TorchEngine(Engine):
    """torch.export programs on the CPU; the CUDA engine extends it."""

    libraries = ("torch",)

    def owns(self, e: BaseException) -> bool:
        # torch raises plain RuntimeError for most failures of a program it runs
        return isinstance(e, RuntimeError) or super().owns(e)

    def __init__(self, config: TorchConfig) -> None:
        self.torch = import_torch()
        if isinstance(config.threads, int):  # None or "auto": torch's default to start with
            self.torch.set_num_threads(config.threads)
        super().__init__(config.model_copy(update={"threads": self.torch.get_num_threads()}))
        self.settings: TorchConfig = self.config  # type: ignore[assignment]
        self._module: Any = None
        self._meta: InputMeta | None = None
        self._outputs: list[OutputMeta] = []
        self._out_index = 0

    def load(self, path: Path, hints: LoadHints | None = None) -> None:
        torch = self.torch
        check_pt2_file(path)
        try:
            ep = torch.export.load(str(path))
        except Exception as e:
            raise EngineError(f"{path}: torch.export.load failed: {e}") from None
        self.parameter_count = int(sum(p.numel() for p in ep.state_dict.values()))
        self._meta = _input_meta(ep, path)
        self._outputs = _output_metas(ep)
        self._out_index = 0
        self._module = ep.module()
        self._after_load()

    def _after_load(self) -> None:
        pass

    def apply_settings(self, **settings: Any) -> None:
        """Intra-op threads change on the fly (``torch.set_num_threads``)."""
        if set(settings) - {"threads"} or not isinstance(settings.get("threads"), int):
            raise EngineError(f"torch can change only its thread count, not {settings}")
        self.torch.set_num_threads(settings["threads"])
        threads = self.torch.get_num_threads()
        self.config = self.settings = self.settings.model_copy(update={"threads": threads})

    def input_meta(self) -> InputMeta:
        assert self._meta is not None, "load() first"
        return self._meta

    def output_metas(self) -> list[OutputMeta]:
        return list(self._outputs)

    def select_output(self, name: str) -> None:
        names = [o.name for o in self._outputs]
        if name not in names:
            raise EngineError(f"no output {name!r} (the exported program's: {', '.join(names)})")
        self._out_index = names.index(name)

    def _pick(self, y: Any) -> Any:
        return y[self._out_index] if isinstance(y, (tuple, list)) else y

    def run(self, x: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            y = self._module(torch.from_numpy(x))
        return self._pick(y).numpy()

    def prepare(self, x: np.ndarray) -> Any:
        return self.torch.from_numpy(np.ascontiguousarray(x))

    def run_prepared(self, x: Any) -> Any:
        with self.torch.inference_mode():
            return self._module(x)

    def info(self) -> EngineInfo:
        return EngineInfo(
            name="torch",
            version=self.torch.__version__,
            device=self.settings.device,
            precision=self.settings.precision,
            settings={
                "num_threads": self.settings.threads,
                "inference_mode": True,
                "loader": "torch.export.load",
            },
        )

    def close(self) -> None:
        self._module = None


def _input_meta(ep: Any, path: Path) -> InputMeta:
    """The exported program's one user input: name, shape (symbolic sizes by name), dtype."""
    specs = [
        s
        for s in ep.graph_signature.input_specs
        if getattr(s.kind, "name", str(s.kind)) == "USER_INPUT"
    ]
    if len(specs) != 1:
        raise EngineError(
            f"{path}: the exported program takes {len(specs)} inputs; ecoscore workloads feed "
            "exactly one"
        )
    name = specs[0].arg.name
    node = next(n for n in ep.graph.nodes if n.op == "placeholder" and n.name == name)
    val = node.meta.get("val")
    if val is None:
        raise EngineError(f"{path}: the exported program does not record its input's shape")
    shape = tuple(int(d) if isinstance(d, int) or str(d).isdigit() else str(d) for d in val.shape)
    return InputMeta(name, shape, str(val.dtype).removeprefix("torch."))


def _output_metas(ep: Any) -> list[OutputMeta]:
    """The exported program's user outputs, in order: name, shape and dtype."""
    names = [
        s.arg.name
        for s in ep.graph_signature.output_specs
        if getattr(s.kind, "name", str(s.kind)) == "USER_OUTPUT"
    ]
    nodes = {n.name: n for n in ep.graph.nodes}
    out = []
    for name in names:
        val = nodes[name].meta.get("val") if name in nodes else None
        if val is None or not hasattr(val, "shape"):
            out.append(OutputMeta(name, (), "unknown"))
            continue
        shape = tuple(
            int(d) if isinstance(d, int) or str(d).isdigit() else str(d) for d in val.shape
        )
        out.append(OutputMeta(name, shape, str(val.dtype).removeprefix("torch.")))
    return out
