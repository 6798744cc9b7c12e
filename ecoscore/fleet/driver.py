"""The campaign driver: sends each entry to a node of its device class through Ray, stores
what comes back, retries what a lost node took, and keeps the campaign record.

Ray schedules: each entry is one task asking for its device class's resource
(``device:<name>``: 1), so a node runs one entry at a time on its device. The driver only
submits, listens and decides what a failure means.

Rules enforced here:
- resumption is keyed by content: an entry whose verified record is in the store is never
  sent again (``CampaignStore.done``); an entry is sent at most twice in a run, and a second
  record for an entry that already has one is never stored;
- a lost attempt (the worker or the node died, the task was cancelled after
  ``attempt_timeout_s`` of running, the node left the cluster) is retried once on another
  node of the same class (Ray's label selector excludes the node that lost it); with no
  other node of that class alive, or lost twice, the entry fails with the reason;
- an entry that fails on its node with an ecoscore error (model that does not fit, meter
  that cannot be read) fails with that error: running it elsewhere would not change it;
- a class with no node in the cluster fails its entries at once, with the reason and the
  command that starts such a node; the other classes go on;
- an interrupted driver (Ctrl-C, SIGTERM) records its running attempts as interrupted,
  cancels them and exits 130; the records already stored stay, and the next run resumes;
- the campaign record is rewritten after every event (``campaign_record``).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecoscore.errors import EcoscoreError, one_line
from ecoscore.fleet.blobs import pack
from ecoscore.fleet.campaign_file import CampaignPlan, PlannedEntry
from ecoscore.fleet.campaign_record import (
    Attempt,
    CampaignRecord,
    DriverSession,
    EntryRecord,
    NodeSeen,
    load_campaign_record,
    save_campaign_record,
)
from ecoscore.fleet.ray_env import Cluster, ClusterOptions, connect, device_resource
from ecoscore.fleet.store import CampaignStore, campaign_folder, check_arrival
from ecoscore.runners.provenance import utc_now

Event = dict[str, Any]


@dataclass
class DriverOptions:
    cluster: ClusterOptions = field(default_factory=ClusterOptions)
    #: An attempt still running this long after it started is cancelled and counts as lost.
    attempt_timeout_s: float | None = None
    #: How long one wait for events lasts, and how often liveness is checked.
    poll_s: float = 0.5
    liveness_every_s: float = 5.0


@dataclass
class Timing:
    """One stored entry, for the dispatch-overhead benchmark (times from the node's clock
    for start and finish, the driver's for storing)."""

    entry: str
    node_id: str
    started_unix: float
    finished_unix: float
    run_s: float
    stored_unix: float


@dataclass
class CampaignResult:
    folder: Path
    record_path: Path
    record: CampaignRecord
    stored: int  # records stored in this run
    in_store: int  # entries skipped: their record was already in the store
    failed: list[EntryRecord]
    wall_s: float
    timings: list[Timing] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failed


@dataclass
class _InFlight:
    planned: PlannedEntry
    gen: Any
    attempt: Attempt
    number: int  # 1 or 2
    excluded: frozenset[str]
    node_id: str | None = None
    hostname: str | None = None
    started_at: float | None = None  # driver's monotonic clock
    started_unix: float | None = None  # node's clock
    terminal: bool = False


def _ray_version() -> str | None:
    mod = sys.modules.get("ray")
    return getattr(mod, "__version__", None) if mod is not None else None


class CampaignDriver:
    def __init__(
        self,
        plan: CampaignPlan,
        results: Path,
        opts: DriverOptions | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.plan = plan
        self.opts = opts or DriverOptions()
        self.on_event = on_event or (lambda ev: None)
        self.store = CampaignStore(campaign_folder(results, plan.name))
        self.record: CampaignRecord
        self.session_index = 0
        self.inflight: dict[Any, _InFlight] = {}
        self.refs: dict[str, Any] = {}
        self.cluster: Cluster | None = None
        self.stored = 0
        self.timings: list[Timing] = []
        self._remote: Any = None
        self._last_liveness = 0.0
        self._critical = False
        self._pending: int | None = None

    # -- bookkeeping ---------------------------------------------------------------

    def _save(self) -> Path:
        return save_campaign_record(self.record, self.store.folder)

    def _emit(self, kind: str, p: PlannedEntry | None = None, **more: Any) -> None:
        ev: Event = {"kind": kind, **more}
        if p is not None:
            ev.update(entry=p.spec.entry, device_class=p.spec.device_class, label=p.spec.label)
        self.on_event(ev)

    def _entry(self, p: PlannedEntry) -> EntryRecord:
        er = self.record.entry(p.spec.entry)
        assert er is not None
        return er

    def _open_record(self, in_store: dict[str, str]) -> None:
        from ecoscore.session import check_output_folder

        check_output_folder(self.store.folder)
        path = self.store.folder / "campaign.json"
        if path.exists():
            self.record = load_campaign_record(path)
        else:
            self.record = CampaignRecord(
                campaign=self.plan.name, description=self.plan.campaign.description
            )
        for p in self.plan.entries:
            s = p.spec
            er = self.record.entry(s.entry)
            if er is None:
                er = EntryRecord(
                    entry=s.entry,
                    device_class=s.device_class,
                    workload=s.workload,
                    model_name=s.model_name,
                    model_sha256=s.model.sha256,
                    data_sha256=s.data.sha256 if s.data else None,
                    engine=s.engine,
                    engine_settings=dict(s.engine_settings),
                    engine_device=s.engine_device,
                    meter=s.meter,
                    repeats=s.repeats,
                    quick=s.quick,
                    replicate=s.replicate,
                )
                self.record.entries.append(er)
            if s.entry in in_store:
                er.state, er.record_id, er.failure = "done", in_store[s.entry], None
            else:
                er.state, er.record_id, er.failure = "pending", None, None
            for a in er.attempts:  # a driver that died without a word leaves "running"
                if a.outcome == "running":
                    a.outcome, a.detail = "interrupted", "the driver stopped before a result"

    # -- the run --------------------------------------------------------------------

    def run(self) -> CampaignResult:
        t0 = time.perf_counter()
        in_store = self.store.done()
        self._open_record(in_store)
        todo = [p for p in self.plan.entries if p.spec.entry not in in_store]
        for cls, entries in self.plan.by_class().items():
            done = sum(1 for p in entries if p.spec.entry in in_store)
            self._emit("planned", device_class=cls, total=len(entries), in_store=done)
        if todo:
            self.cluster = connect(self.opts.cluster)
        self.record.sessions.append(
            DriverSession(
                started_utc=utc_now(),
                campaign_file=str(self.plan.source),
                campaign_file_sha256=self.plan.file_sha256,
                command_line=list(self.plan.entries[0].spec.argv) if self.plan.entries else [],
                cluster=self.cluster.address if self.cluster else "none (nothing to run)",
                ecoscore_version=_ecoscore_version(),
                ray_version=_ray_version() or "not imported",
                entries_planned=len(self.plan.entries),
                entries_in_store=len(self.plan.entries) - len(todo),
            )
        )
        self.session_index = len(self.record.sessions) - 1
        self._save()
        previous = self._install_interrupts()
        try:
            if todo:
                self._dispatch(todo)
                self._listen()
            state = (
                "completed"
                if all(self._entry(p).state == "done" for p in self.plan.entries)
                else "incomplete"
            )
            self._finish(state)
        except KeyboardInterrupt:
            self._interrupted()
            raise
        finally:
            _restore_handlers(previous)
            if self.cluster is not None:
                self.cluster.close()
        failed = [self._entry(p) for p in self.plan.entries if self._entry(p).state == "failed"]
        return CampaignResult(
            folder=self.store.folder,
            record_path=self.store.folder / "campaign.json",
            record=self.record,
            stored=self.stored,
            in_store=len(self.plan.entries) - len(todo),
            failed=failed,
            wall_s=time.perf_counter() - t0,
            timings=self.timings,
        )

    def _install_interrupts(self) -> dict[int, Any]:
        """Ctrl-C and SIGTERM stop the driver, but never between storing a record and noting
        it in the campaign record: there they wait for the bookkeeping to end."""
        import threading

        if sys.platform == "win32" or threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum: int, frame: object) -> None:
            if self._critical:
                self._pending = signum
                return
            raise KeyboardInterrupt(f"signal {signum}")

        return {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    @contextlib.contextmanager
    def _critical_section(self) -> Iterator[None]:
        self._critical = True
        try:
            yield
        finally:
            self._critical = False
        if self._pending is not None:
            signum, self._pending = self._pending, None
            raise KeyboardInterrupt(f"signal {signum}")

    def _finish(self, state: str) -> None:
        s = self.record.sessions[self.session_index]
        s.state, s.finished_utc = state, utc_now()  # type: ignore[assignment]
        self._save()
        self._emit("finished", state=state)

    def _interrupted(self) -> None:
        for a in list(self.inflight.values()):
            # an attempt whose result already arrived (its task not yet ended) keeps it
            if not a.terminal:
                a.attempt.outcome, a.attempt.detail = "interrupted", "the driver was interrupted"
                a.attempt.finished_utc = utc_now()
                er = self._entry(a.planned)
                if er.state == "running":
                    er.state = "pending"
            self._cancel(a)
        self.inflight.clear()
        s = self.record.sessions[self.session_index]
        s.state, s.finished_utc = "interrupted", utc_now()
        self._save()
        self._emit("interrupted")

    def _dispatch(self, todo: list[PlannedEntry]) -> None:
        from ecoscore.fleet.node import entry_task

        assert self.cluster is not None
        ray = self.cluster.ray
        runnable = []
        for cls in dict.fromkeys(p.spec.device_class for p in todo):
            entries = [p for p in todo if p.spec.device_class == cls]
            if self.cluster.nodes_of(cls):
                runnable.extend(entries)
                continue
            reason = (
                f"no node of the cluster advertises {device_resource(cls)} (start one on "
                f"such a device with `ecoscore node start --device {cls}`)"
            )
            for p in entries:
                self._fail(p, reason)
        self._save()
        for p in runnable:
            for ref in (p.spec.model, p.spec.data):
                if ref is not None and ref.sha256 not in self.refs:
                    path = p.model_path if ref == p.spec.model else p.data_path
                    assert path is not None
                    self.refs[ref.sha256] = ray.put(pack(path, ref))
        self._remote = ray.remote(num_cpus=0, max_retries=0)(entry_task)
        for p in runnable:
            self._submit(p, 1, frozenset())
        self._save()

    def _submit(self, p: PlannedEntry, number: int, excluded: frozenset[str]) -> None:
        spec = p.spec
        refs = {r.sha256: self.refs[r.sha256] for r in (spec.model, spec.data) if r is not None}
        options: dict[str, Any] = {
            "resources": {device_resource(spec.device_class): 1},
            "name": f"ecoscore-entry-{spec.entry[:12]}",
        }
        if excluded:
            options["label_selector"] = {"ray.io/node-id": f"!in({','.join(sorted(excluded))})"}
        gen = self._remote.options(**options).remote(spec.model_dump_json(), [refs])
        attempt = Attempt(session=self.session_index, submitted_utc=utc_now())
        er = self._entry(p)
        er.attempts.append(attempt)
        er.state = "running"
        self.inflight[gen] = _InFlight(p, gen, attempt, number, excluded)
        self._emit("submitted", p, attempt=number)

    def _listen(self) -> None:
        assert self.cluster is not None
        ray = self.cluster.ray
        while self.inflight:
            ready, _ = ray.wait(list(self.inflight), num_returns=1, timeout=self.opts.poll_s)
            for gen in ready:
                if gen in self.inflight:
                    self._next_event(self.inflight[gen])
            self._check_attempts(time.monotonic())

    def _next_event(self, a: _InFlight) -> None:
        assert self.cluster is not None
        ray = self.cluster.ray
        try:
            ref = next(a.gen)
            ev = ray.get(ref)
        except StopIteration:
            del self.inflight[a.gen]
            if not a.terminal:
                self._lost(a, "the node's task ended without a result", "lost")
            return
        except ray.exceptions.RayTaskError as e:  # an unexpected error inside the task
            del self.inflight[a.gen]
            cause = e.cause if getattr(e, "cause", None) is not None else e
            self._attempt_failed(a, "error", f"unexpected error on the node: {one_line(cause)}")
            return
        except ray.exceptions.RayError as e:  # the worker or the node is gone
            del self.inflight[a.gen]
            self._lost(a, f"{type(e).__name__}: {one_line(e).partition('. ')[0]}", "lost")
            return
        kind = ev.get("kind")
        if kind == "started":
            self._started(a, ev)
        elif kind == "record":
            a.terminal = True
            with self._critical_section():
                self._arrived(a, ev)
        elif kind == "error":
            a.terminal = True
            self._note_blobs(a, ev.get("blobs", {}))
            reason = f"{ev['error']} (exit code {ev['exit_code']})"
            self._attempt_failed(a, "error", reason)

    def _started(self, a: _InFlight, ev: Event) -> None:
        a.node_id, a.hostname, a.started_at = ev["node_id"], ev["hostname"], time.monotonic()
        a.attempt.node_id, a.attempt.hostname = a.node_id, a.hostname
        a.attempt.started_utc = utc_now()
        node = self.record.node(ev["node_id"])
        if node is None:
            node = NodeSeen(
                node_id=ev["node_id"],
                hostname=ev["hostname"],
                device_class=a.planned.spec.device_class,
                advertised_device=ev.get("advertised_device"),
                ecoscore_version=ev.get("ecoscore_version", "unknown"),
                first_seen_utc=utc_now(),
            )
            self.record.nodes.append(node)
        node.attempts += 1
        a.started_unix = ev.get("time_unix")
        self._save()
        self._emit(
            "started",
            a.planned,
            node=_node_label(a),
            node_id=a.node_id,
            pid=ev.get("pid"),
            attempt=a.number,
        )

    def _note_blobs(self, a: _InFlight, how: dict[str, str]) -> None:
        node = self.record.node(a.node_id) if a.node_id else None
        if node is None:
            return
        for sha, way in how.items():
            if way == "fetched" and sha not in node.blobs_fetched:
                node.blobs_fetched.append(sha)

    def _arrived(self, a: _InFlight, ev: Event) -> None:
        spec = a.planned.spec
        er = self._entry(a.planned)
        self._note_blobs(a, ev.get("blobs", {}))
        a.attempt.run_s = ev.get("run_s")
        source = f"node {a.hostname} ({(a.node_id or '?')[:12]}), entry {spec.entry[:12]}"
        if er.state == "done":  # never two records for one entry
            self._close_attempt(a, "rejected", "a record for this entry is already stored")
            return
        try:
            record, verdict = check_arrival(ev["record_json"], spec, source)
            self.store.save(record)
        except EcoscoreError as e:
            self._attempt_failed(a, "rejected", f"record refused on arrival: {one_line(e)}")
            return
        self._close_attempt(a, "record", None)
        er.state, er.record_id, er.verification, er.failure = (
            "done",
            record.record_id,
            verdict,
            None,
        )
        self.stored += 1
        self.timings.append(
            Timing(
                entry=spec.entry,
                node_id=a.node_id or "",
                started_unix=float(a.started_unix or 0.0),
                finished_unix=float(ev.get("time_unix") or 0.0),
                run_s=float(ev.get("run_s") or 0.0),
                stored_unix=time.time(),
            )
        )
        self._save()
        self._emit("done", a.planned, node=_node_label(a), record_id=record.record_id)

    def _close_attempt(self, a: _InFlight, outcome: str, detail: str | None) -> None:
        a.attempt.outcome, a.attempt.detail = outcome, detail  # type: ignore[assignment]
        a.attempt.finished_utc = utc_now()

    def _attempt_failed(self, a: _InFlight, outcome: str, reason: str) -> None:
        self._close_attempt(a, outcome, reason)
        self._fail(a.planned, reason)
        self._save()

    def _fail(self, p: PlannedEntry, reason: str) -> None:
        er = self._entry(p)
        er.state, er.failure = "failed", reason
        self._emit("failed", p, reason=reason)

    def _lost(self, a: _InFlight, reason: str, outcome: str) -> None:
        """A lost attempt: retry once on another node of its class, or fail."""
        assert self.cluster is not None
        where = f"on node {_node_label(a)}" if a.node_id else "before it started"
        self._close_attempt(a, outcome, f"{reason} ({where})")
        excluded = a.excluded | ({a.node_id} if a.node_id else set())
        cls = a.planned.spec.device_class
        if a.number >= 2:
            self._fail(a.planned, f"lost twice; last: {reason} ({where})")
        elif not [n for n in self.cluster.nodes_of(cls) if n.node_id not in excluded]:
            self._fail(
                a.planned,
                f"lost {where}: {reason}; no other node of device class {cls} to retry on",
            )
        else:
            self._emit("retry", a.planned, reason=f"{reason} ({where})")
            self._submit(a.planned, a.number + 1, frozenset(excluded))
        self._save()

    def _cancel(self, a: _InFlight) -> None:
        assert self.cluster is not None
        try:
            self.cluster.ray.cancel(a.gen, force=True)
        except Exception:  # noqa: BLE001 - the task may be gone already; nothing to undo
            return

    def _check_attempts(self, now: float) -> None:
        """Attempts that ran too long, whose node left, or that no alive node can take."""
        assert self.cluster is not None
        timeout = self.opts.attempt_timeout_s
        check_nodes = now - self._last_liveness >= self.opts.liveness_every_s
        alive = {n.node_id: n for n in self.cluster.nodes()} if check_nodes else None
        if check_nodes:
            self._last_liveness = now
        for a in list(self.inflight.values()):
            reason = None
            if timeout is not None and a.started_at is not None and now - a.started_at > timeout:
                reason, outcome = f"no result {timeout:g} s after it started", "timeout"
            elif alive is not None and a.node_id is not None and a.node_id not in alive:
                reason, outcome = "the node left the cluster", "lost"
            elif alive is not None and a.node_id is None:
                cls = a.planned.spec.device_class
                if not [
                    n
                    for n in alive.values()
                    if cls in n.device_classes and n.node_id not in a.excluded
                ]:
                    del self.inflight[a.gen]
                    self._cancel(a)
                    self._attempt_failed(
                        a, "unschedulable", f"no alive node of device class {cls} can take it"
                    )
                    continue
            if reason is not None:
                del self.inflight[a.gen]
                self._cancel(a)
                self._lost(a, reason, outcome)


def _node_label(a: _InFlight) -> str:
    return f"{a.hostname}/{(a.node_id or '?')[:8]}"


def _ecoscore_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ecoscore")
    except PackageNotFoundError:
        return "unknown"


def _restore_handlers(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def run_campaign(
    plan: CampaignPlan,
    results: Path,
    opts: DriverOptions | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> CampaignResult:
    return CampaignDriver(plan, results, opts, on_event).run()
