"""Engines by name. Each entry names the engine's config class; its module (and library) is
imported only when that engine is asked for. Adding an engine: its module, and one line in
``ENGINES``.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import ValidationError

from ecoscore.errors import UsageError
from ecoscore.runners.engines.base import FROM_RECORD, Engine, EngineConfig, EngineError

#: Engine name -> "module:ConfigClass". The first engine that loads a format is the default
#: for model files of that format.
ENGINES: dict[str, str] = {
    "onnxruntime": "ecoscore.runners.engines.onnxruntime_engine:OnnxRuntimeConfig",
    "torch": "ecoscore.runners.engines.torch_engine:TorchConfig",
    "tensorrt": "ecoscore.runners.engines.tensorrt_engine:TensorRTConfig",
}


class EngineSettingError(UsageError):
    """An engine setting given on the command line (or read from a record) is not valid."""


def config_class(name: str) -> type[EngineConfig]:
    """The config class of engine ``name``."""
    target = ENGINES.get(name)
    if target is None:
        raise EngineError(f"unknown engine {name!r}; known engines: {', '.join(ENGINES)}")
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def engine_config(name: str, **settings: Any) -> EngineConfig:
    """A validated config for engine ``name``: an unknown or invalid setting is one line
    naming the engine, the setting and what it accepts."""
    return _validate(config_class(name), {**settings, "engine": name}, f"engine {name}")


class RecordedEngineError(EngineError):
    """An engine config read from a record cannot be used here (an input file's fault)."""


def config_from_record(
    doc: dict[str, Any], source: str = "record", notes: list[str] | None = None
) -> EngineConfig:
    """Rebuild an engine config stored in a record (``engine.config``), under the rules of
    a config read from a record (``EngineConfig``: threads capped to this machine, no
    path taken); what was changed is appended to ``notes``."""
    name = doc.get("engine")
    if not isinstance(name, str):
        raise RecordedEngineError(f"{source}: engine.config has no engine name")
    try:
        cls = config_class(name)
    except EngineError as e:
        raise RecordedEngineError(f"{source}: engine.config: {e}") from None
    context = {FROM_RECORD: True, "notes": notes if notes is not None else []}
    try:
        return _validate(cls, doc, f"{source}: engine.config", context)
    except EngineSettingError as e:
        raise RecordedEngineError(str(e)) from None


def _validate(
    cls: type[EngineConfig], doc: dict[str, Any], where: str, context: dict[str, Any] | None = None
) -> EngineConfig:
    try:
        return cls.model_validate(doc, context=context)
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(settings)"
        if first["type"] == "extra_forbidden":
            known = ", ".join(f for f in cls.model_fields if f != "engine")
            raise EngineSettingError(
                f"{where} has no setting {key!r} (its settings: {known})"
            ) from None
        raise EngineSettingError(f"{where}: setting {key!r}: {first['msg']}") from None


def engine_for_format(fmt: str) -> str:
    """The default engine for a model file format ("onnx", "pt2")."""
    for name in ENGINES:
        if fmt in config_class(name).formats:
            return name
    raise EngineError(f"no engine loads {fmt!r} model files")


def make_engine(name: str, device: str = "cpu", **settings: Any) -> Engine:
    """The engine ``name`` on ``device`` with ``settings`` (validated by its config)."""
    return engine_config(name, device=device, **settings).build()
