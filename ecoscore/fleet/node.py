"""What runs on a node: one campaign entry, through the same session path as ``ecoscore run``.

``entry_task`` is the Ray task (a generator, so that the driver learns where and when an
entry starts before it ends). It yields two events:

1. ``started``: the node's identity (Ray node id, host, worker pid, device class);
2. ``record`` (the run record's JSON, exactly as the node wrote it, with the blobs the node
   fetched and the time the run itself took) or ``error`` (an ecoscore error: the entry
   cannot run, with its one-line message and exit code).

Rules enforced here:
- the run goes through ``ecoscore.session`` (plan, open the meter, execute, save): a
  campaign entry is measured exactly as ``ecoscore run`` measures, with the meter the node's
  device class names (``auto`` by default);
- models and data come by content hash (``ecoscore.fleet.blobs``): a model the node ships
  itself (a reference model of its installation with the same bytes) is used in place,
  a blob already in the node's cache is not fetched again;
- the record's provenance names the campaign's command line, and its notes name the
  campaign, the entry and the device class (``ecoscore.results.campaign_note``);
- the record is written to a scratch folder of the node, read back and removed: the
  campaign's store is the driver's.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ecoscore.errors import EcoscoreError, one_line
from ecoscore.fleet.blobs import BlobRef, NodeCache
from ecoscore.fleet.campaign_file import EntrySpec
from ecoscore.fleet.ray_env import CACHE_ENV, DEVICE_ENV


def cache_root() -> Path:
    """The node's blob cache: ``ECOSCORE_FLEET_CACHE`` (set by ``ecoscore node start
    --cache``), else ``~/.cache/ecoscore/fleet``."""
    given = os.environ.get(CACHE_ENV)
    return Path(given) if given else Path.home() / ".cache" / "ecoscore" / "fleet"


def materialize(ref: BlobRef, fetch: Callable[[str], bytes], cache: NodeCache) -> tuple[Path, str]:
    """The path of a blob on this node and how it got there: ``shipped`` (a model file of
    this installation with the same bytes), ``cached`` or ``fetched``."""
    if ref.kind == "file":
        from ecoscore.models.registry import find_by_sha256

        shipped = find_by_sha256(ref.sha256)
        if shipped is not None:
            return shipped, "shipped"
    if cache.has(ref):
        return cache.path_for(ref), "cached"
    return cache.store(ref, fetch(ref.sha256)), "fetched"


def measure(spec: EntrySpec, model: Path, data: Path | None, scratch: Path) -> bytes:
    """Run one entry through the session path; return the record file's bytes."""
    from ecoscore.session import (
        RunOptions,
        describe,
        execute,
        open_meter,
        plan_runs,
    )

    opts = RunOptions(
        workloads=[spec.workload],
        model=model,
        engine=spec.engine,
        device=spec.engine_device,
        meter=spec.meter,
        boundary=spec.boundary,
        quick=spec.quick,
        repeats=spec.repeats,
        data=data,
        out=scratch,
        notes=spec.notes,
        engine_settings=dict(spec.engine_settings),
    )
    argv = sys.argv
    sys.argv = list(spec.argv)  # the record's provenance names the campaign's command
    try:
        (plan,) = plan_runs(opts)
        meter = open_meter(opts.meter, opts.device, opts.boundary)
        meter.meter.start()
        try:
            _, path = execute(plan, meter, describe(opts.device), opts)
        finally:
            meter.meter.close()
    finally:
        sys.argv = argv
    return path.read_bytes()


def node_identity(node_id: str) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        eco = version("ecoscore")
    except PackageNotFoundError:
        eco = "unknown"
    return {
        "node_id": node_id,
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "advertised_device": os.environ.get(DEVICE_ENV),
        "ecoscore_version": eco,
        "cache": str(cache_root()),
    }


def run_entry(
    spec: EntrySpec, fetch: Callable[[str], bytes], node_id: str
) -> Iterator[dict[str, Any]]:
    """The events of one entry on this node (see the module docstring)."""
    yield {
        "kind": "started",
        "entry": spec.entry,
        "time_unix": time.time(),
        **node_identity(node_id),
    }
    cache = NodeCache(cache_root())
    how: dict[str, str] = {}
    scratch = Path(tempfile.mkdtemp(prefix="ecoscore-entry-"))
    try:
        t0 = time.perf_counter()
        model, how[spec.model.sha256] = materialize(spec.model, fetch, cache)
        data = None
        if spec.data is not None:
            data, how[spec.data.sha256] = materialize(spec.data, fetch, cache)
        t1 = time.perf_counter()
        record = measure(spec, model, data, scratch)
        t2 = time.perf_counter()
    except EcoscoreError as e:
        yield {
            "kind": "error",
            "entry": spec.entry,
            "error": one_line(e),
            "error_type": type(e).__name__,
            "exit_code": e.exit_code,
            "blobs": how,
        }
        return
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    yield {
        "kind": "record",
        "entry": spec.entry,
        "record_json": record,
        "blobs": how,
        "transfer_s": t1 - t0,
        "run_s": t2 - t1,
        "time_unix": time.time(),
    }


def entry_task(spec_json: str, refs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The Ray task of one entry. ``refs`` is ``[{sha256: ObjectRef}]``: nested in a list so
    that Ray does not fetch the blobs before the task runs; the node fetches only the ones
    it does not hold."""
    import ray

    spec = EntrySpec.model_validate_json(spec_json)
    table = refs[0]

    def fetch(sha: str) -> bytes:
        return ray.get(table[sha])  # type: ignore[no-any-return]

    node_id = ray.get_runtime_context().get_node_id()
    yield from run_entry(spec, fetch, node_id)
