"""torch: loads a torch.export archive (.pt2) and runs it in inference mode on the CPU. On a
CUDA device the config builds the CUDA variant (runners/engines/torch_cuda.py).

Rules this module enforces:
- the timed call does not pay for the export wrapper: with ``call_path="graph"`` (the
  default) the exported program's graph is called with flat tensors, its parameters,
  buffers and constants bound once at load, so no call flattens or unflattens a pytree or
  re-checks the input's shape constraints (the model interface checks the input once per
  run, before anything is timed). ``call_path="module"`` runs ``ExportedProgram.module()``
  (that wrapper, per call) and is what records without a ``call_path`` ran;
- a program the graph path cannot run as is (one that mutates its buffers or inputs, takes
  effect tokens or returns a nested structure) runs through ``module()``, and the reason is
  the engine's ``fallback_reason``; the path that ran is in the engine info (``call_path``);
- the quality pass (``run``) and the timed loop (``run_prepared``) call the same function;
- on CUDA, a CUDA graph replays the model at batch 1 unless ``cuda_graph`` is set false
  (the config resolves the default: true on CUDA, false on the CPU; a config read from a
  record that does not say keeps what such records ran: no graph, ``module()``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import ValidationInfo, model_validator

from ecoscore.runners.engines.base import (
    FROM_RECORD,
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
    """``threads``: torch's intra-op threads (None: torch's default). ``call_path``: how the
    exported program is called (module docstring). The GPU settings (fp16/bf16,
    channels-last, torch.compile, a CUDA graph at batch 1) apply on CUDA only;
    ``cuda_graph`` left unset resolves to true on CUDA and false on the CPU."""

    formats: ClassVar[tuple[str, ...]] = ("pt2",)
    tunable: ClassVar[tuple[str, ...]] = ("threads",)

    engine: Literal["torch"] = "torch"
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    call_path: Literal["graph", "module"] = "graph"
    channels_last: bool = False
    compile: bool = False
    cuda_graph: bool = False

    @model_validator(mode="before")
    @classmethod
    def _resolve_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if (info.context or {}).get(FROM_RECORD):
            # a record made before these settings existed ran without a graph, via module()
            data.setdefault("call_path", "module")
            data.setdefault("cuda_graph", False)
        if data.get("cuda_graph") is None:
            data["cuda_graph"] = str(data.get("device", "cpu")).startswith("cuda")
        return data

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
    """torch.export programs on the CPU; the CUDA engine extends it (``_place``,
    ``_finish``)."""

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
        self._program: Any = None
        self._flat: FlatGraph | None = None
        self._module: Any = None
        self._fn: Callable[[Any], Any] | None = None
        self._meta: InputMeta | None = None
        self._outputs: list[OutputMeta] = []
        self._out_index = 0
        #: The call path that runs ("graph" or "module"; see the module docstring).
        self.call_path: str = config.call_path

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
        self._program = ep
        self._flat = None
        self._module = None
        self.call_path = self.settings.call_path
        if self.call_path == "graph":
            try:
                self._flat = FlatGraph.of(ep, self._place)
            except GraphPathRefused as e:
                self.call_path = "module"
                self.fallback_reason = (
                    f"{path.name}: the exported program runs through module() (its per-call "
                    f"wrapper included), not as a flat graph: {e}"
                )
        if self._flat is None:
            self._module = self._place_module(ep.module())
        self._fn = self._make_fn()

    def _place(self, t: Any) -> Any:
        """A bound tensor (parameter, buffer, constant) where the model runs."""
        return t

    def _place_module(self, module: Any) -> Any:
        """The ``module()`` of the program where the model runs."""
        return module

    def _finish(self, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """The call function as it runs (CUDA: compiled when asked)."""
        return fn

    def _make_fn(self) -> Callable[[Any], Any]:
        if self._flat is not None:
            return self._finish(self._flat.call_for(self._outputs[self._out_index].name))
        module, index = self._module, self._out_index

        def call(x: Any) -> Any:
            y = module(x)
            return y[index] if isinstance(y, (tuple, list)) else y

        return self._finish(call)

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
        self._fn = self._make_fn()

    def run(self, x: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            y = self._fn(torch.from_numpy(x))  # type: ignore[misc]
        return y.numpy()  # type: ignore[no-any-return]

    def prepare(self, x: np.ndarray) -> Any:
        return self.torch.from_numpy(np.ascontiguousarray(x))

    def run_prepared(self, x: Any) -> Any:
        with self.torch.inference_mode():
            return self._fn(x)  # type: ignore[misc]

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
                "call_path": self.call_path,
            },
        )

    def close(self) -> None:
        self._program = self._flat = self._module = self._fn = None


class GraphPathRefused(Exception):
    """The exported program cannot run as a flat graph (the reason is the message)."""


class FlatGraph:
    """An exported program's graph called with flat tensors: what ``module()`` does per
    call (flatten the inputs, check their constraints, pass the lifted parameters, unflatten
    the outputs) is done once here, at load. Only programs whose outputs are all user
    outputs (no buffer or input mutation) and whose inputs are user inputs, parameters,
    buffers and constants qualify (``GraphPathRefused`` otherwise)."""

    def __init__(self, forward: Any, head: list[Any], tail: list[Any], out_pos: dict[str, int]):
        self.forward, self.head, self.tail, self.out_pos = forward, head, tail, out_pos

    @classmethod
    def of(cls, ep: Any, place: Callable[[Any], Any]) -> FlatGraph:
        sig = ep.graph_signature
        bound: list[Any] = []
        user_at: int | None = None
        for i, spec in enumerate(sig.input_specs):
            kind = getattr(spec.kind, "name", str(spec.kind))
            if kind == "USER_INPUT":
                user_at = i
                bound.append(None)
            elif kind in ("PARAMETER", "BUFFER", "CONSTANT_TENSOR"):
                target = spec.target
                if target in ep.state_dict:
                    bound.append(place(ep.state_dict[target]))
                elif target in ep.constants:
                    bound.append(place(ep.constants[target]))
                else:
                    raise GraphPathRefused(f"input {target!r} is not in the program's state")
            else:
                raise GraphPathRefused(f"it takes an input of kind {kind}")
        out_pos: dict[str, int] = {}
        for i, spec in enumerate(sig.output_specs):
            kind = getattr(spec.kind, "name", str(spec.kind))
            if kind != "USER_OUTPUT":
                raise GraphPathRefused(f"it has an output of kind {kind} (a mutation)")
            out_pos[spec.arg.name] = i
        if user_at is None:
            raise GraphPathRefused("it takes no user input")
        spec_out = ep.call_spec.out_spec
        if spec_out is not None and any(c.num_children for c in spec_out.children()):
            raise GraphPathRefused("it returns a nested structure")
        return cls(ep.graph_module.forward, bound[:user_at], bound[user_at + 1 :], out_pos)

    def call_for(self, output: str) -> Callable[[Any], Any]:
        """The call function returning the user output ``output``."""
        forward, head, tail, j = self.forward, self.head, self.tail, self.out_pos[output]
        if tail:

            def call_mid(x: Any) -> Any:
                return forward(*head, x, *tail)[j]

            return call_mid

        def call(x: Any) -> Any:
            return forward(*head, x)[j]

        return call


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
