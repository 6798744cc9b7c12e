"""``ecoscore campaign``: run a campaign file on a Ray cluster of devices (``run``), show its
report (``report``), sign its campaign record (``sign``) and check it (``verify``).

``run`` needs Ray (the ``fleet`` extra); the others read the store only."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ecoscore.commands.common import add_command, warn
from ecoscore.errors import EXIT_INPUT, EXIT_INTEGRITY, EXIT_OK

if TYPE_CHECKING:
    from ecoscore.fleet.campaign_file import CampaignPlan
    from ecoscore.jury.compare import Comparison

campaign_app = typer.Typer(
    name="campaign",
    help="Run a campaign of entries on many devices (Ray), and report, sign or verify it.",
    no_args_is_help=True,
)


class ClassProgress:
    """A progress line per device class: done / total, running entries, failures."""

    def __init__(self, plan: CampaignPlan, console: Any) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.fields[cls]:<20}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[str, Any] = {}
        self.running: dict[str, dict[str, str]] = {}
        self.counts: dict[str, dict[str, int]] = {}
        for cls, entries in plan.by_class().items():
            self.tasks[cls] = self.progress.add_task(
                cls, total=len(entries), cls=cls, status="waiting"
            )
            self.running[cls] = {}
            self.counts[cls] = {"done": 0, "failed": 0, "retried": 0, "in_store": 0}

    def __enter__(self) -> ClassProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def _status(self, cls: str) -> str:
        c = self.counts[cls]
        parts = []
        if c["in_store"]:
            parts.append(f"{c['in_store']} already in store")
        if self.running[cls]:
            parts.append("running: " + ", ".join(sorted(self.running[cls].values())))
        if c["retried"]:
            parts.append(f"{c['retried']} retried")
        if c["failed"]:
            parts.append(f"[red]{c['failed']} failed[/]")
        return "; ".join(parts) or "waiting"

    def __call__(self, ev: dict[str, Any]) -> None:
        kind, cls = ev["kind"], ev.get("device_class")
        if cls not in self.tasks:
            return
        c = self.counts[cls]
        if kind == "planned":
            c["in_store"] = ev["in_store"]
            self.progress.update(self.tasks[cls], completed=ev["in_store"])
        elif kind == "started":
            self.running[cls][ev["entry"]] = f"{ev['label']} on {ev['node']}"
        elif kind in ("done", "failed"):
            self.running[cls].pop(ev["entry"], None)
            c[kind] += 1
            self.progress.advance(self.tasks[cls])
        elif kind == "retry":
            self.running[cls].pop(ev["entry"], None)
            c["retried"] += 1
        self.progress.update(self.tasks[cls], status=self._status(cls))


def run(
    campaign_file: Annotated[Path, typer.Argument(help="Campaign file (TOML).")],
    address: Annotated[
        str | None,
        typer.Option(help="Ray cluster to join (default: RAY_ADDRESS; none: an embedded Ray)."),
    ] = None,
    node_ip_address: Annotated[
        str | None, typer.Option(help="This machine's address in the cluster.")
    ] = None,
    local_device: Annotated[
        str | None,
        typer.Option(
            help="Embedded Ray: the device class of this machine (default: the file's only one)."
        ),
    ] = None,
    num_cpus: Annotated[int, typer.Option(min=1, help="Embedded Ray: CPUs it may use.")] = 1,
    object_store_mb: Annotated[
        int | None, typer.Option(min=80, help="Embedded Ray: object store size, MB.")
    ] = None,
    quick: Annotated[bool, typer.Option(help="Make every entry a quick (smoke) run.")] = False,
    attempt_timeout: Annotated[
        float | None,
        typer.Option(min=1, help="Seconds an entry may run on a node before it counts as lost."),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Results folder (the store is OUT/campaigns/NAME/).")
    ] = Path("results"),
    scale: Annotated[str | None, typer.Option(help="Scale version of the report.")] = None,
    html: Annotated[Path | None, typer.Option(help="Write compare's HTML report here.")] = None,
    csv: Annotated[Path | None, typer.Option(help="Write the table as CSV here.")] = None,
    md: Annotated[Path | None, typer.Option(help="Write the table as Markdown here.")] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Run every entry of a campaign on the nodes of its device classes; store, verify and
    report the records. Entries already in the store are skipped (resumption)."""
    from rich.console import Console

    from ecoscore.fleet.campaign_file import plan_campaign
    from ecoscore.fleet.driver import DriverOptions, run_campaign
    from ecoscore.fleet.errors import CampaignIncomplete
    from ecoscore.fleet.ray_env import ClusterOptions, require_ray

    require_ray()
    plan = plan_campaign(campaign_file, quick=quick, argv=["ecoscore", *sys.argv[1:]])
    if plan.duplicates:
        warn(
            f"{plan.duplicates} entries are written more than once in {campaign_file}; "
            "each runs once"
        )
    joined = address or os.environ.get("RAY_ADDRESS")
    if not joined and local_device is None:
        classes = list(plan.campaign.devices)
        if len(classes) == 1:
            local_device = classes[0]
    cluster = ClusterOptions(
        address=address,
        node_ip_address=node_ip_address,
        local_device=local_device,
        num_cpus=num_cpus,
        object_store_bytes=object_store_mb * 1_000_000 if object_store_mb else None,
    )
    console = Console(stderr=True)
    console.print(
        f"campaign [bold]{plan.name}[/]: {len(plan.entries)} entries on "
        f"{len(plan.campaign.devices)} device class(es); "
        + (f"cluster {joined}" if joined else f"embedded Ray, this machine as {local_device}"),
        highlight=False,
    )
    with ClassProgress(plan, console) as progress:
        result = run_campaign(
            plan, out, DriverOptions(cluster=cluster, attempt_timeout_s=attempt_timeout), progress
        )
    print(
        f"campaign {plan.name}: {result.stored} record(s) stored, {result.in_store} already in "
        f"the store, {len(result.failed)} failed, in {result.wall_s:.1f} s"
    )
    for er in result.failed:
        print(f"FAILED  {er.device_class}: {er.workload} / {er.model_name}: {er.failure}")
    _report(result.folder, scale, html, csv, md, f"campaign {plan.name}")
    print(f"campaign record: {result.record_path}")
    if result.failed:
        raise CampaignIncomplete(
            f"{len(result.failed)} of {len(plan.entries)} entries have no record "
            f"(reasons above and in {result.record_path}); run the campaign again to retry them"
        )


def _print_comparison(comparison: Comparison) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=180)
    shown = ("rank", "grade", "model", "device", "energy mJ/inference", "quality",
             "latency p50 ms", "measurement", "flags", "record_id")  # fmt: skip
    for w in comparison.workloads():
        table = Table(title=f"{w} (scale {comparison.scale.version})")
        for c in shown:
            table.add_column(c)
        for row in comparison.dataframe(w).to_dict("records"):
            table.add_row(*(escape(str(row[c])) for c in shown))
        console.print(table)
        flags = comparison.group_flags(w)
        if flags:
            console.print(f"[yellow]workload flags:[/] {' '.join(flags)}")


def _print_device_summary(folder: Path, scale: str | None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ecoscore.fleet.report import device_summary

    table_df = device_summary(folder, scale)
    if table_df.empty:
        return
    console = Console() if sys.stdout.isatty() else Console(width=180)
    table = Table(title="single-stream grade and energy per device class")
    table.add_column("workload")
    table.add_column("model")
    for cls in table_df.columns:
        table.add_column(str(cls))
    for (workload, model), row in table_df.iterrows():
        cells = ["" if v != v or v is None else str(v) for v in row.tolist()]
        table.add_row(escape(str(workload)), escape(str(model)), *map(escape, cells))
    console.print(table)


def _report(
    folder: Path,
    scale: str | None,
    html: Path | None,
    csv: Path | None,
    md: Path | None,
    title: str,
) -> None:
    from ecoscore.fleet.report import campaign_comparison, write_exports

    comparison = campaign_comparison(folder, scale)
    for e in comparison.errors:
        warn(f"skipped: {e.error}")
    if not comparison.rows:
        print(f"no record in {folder / 'runs'}")
        return
    _print_comparison(comparison)
    _print_device_summary(folder, scale)
    for path in write_exports(comparison, title, html=html, csv=csv, md=md):
        print(f"wrote {path}", file=sys.stderr)


def report(
    folder: Annotated[Path, typer.Argument(help="Campaign folder (OUT/campaigns/NAME).")],
    scale: Annotated[str | None, typer.Option(help="Scale version.")] = None,
    html: Annotated[Path | None, typer.Option(help="Write compare's HTML report here.")] = None,
    csv: Annotated[Path | None, typer.Option(help="Write the table as CSV here.")] = None,
    md: Annotated[Path | None, typer.Option(help="Write the table as Markdown here.")] = None,
) -> None:
    """The campaign's report: compare's tables of its records, and grades per device class."""
    from ecoscore.fleet.campaign_record import load_campaign_record

    rec = load_campaign_record(folder)
    done = sum(1 for e in rec.entries if e.state == "done")
    print(
        f"campaign {rec.campaign}: {done}/{len(rec.entries)} entries with a record, "
        f"{len(rec.failures)} failed, {len(rec.nodes)} node(s), {len(rec.sessions)} run(s)"
    )
    for f in rec.failures:
        print(f"FAILED  {f.device_class}: {f.label}: {f.reason}")
    _report(folder, scale, html, csv, md, f"campaign {rec.campaign}")


def sign(
    folder: Annotated[Path, typer.Argument(help="Campaign folder (OUT/campaigns/NAME).")],
    key: Annotated[Path, typer.Option("--key", help="Private key file from `ecoscore keys`.")],
) -> None:
    """Sign the campaign record (ed25519 over its record_id, campaign domain tag)."""
    from ecoscore.fleet.campaign_record import (
        load_campaign_record,
        save_campaign_record,
        sign_campaign,
    )
    from ecoscore.jury.signing import load_private_key

    rec = load_campaign_record(folder)
    signed = sign_campaign(rec, load_private_key(key))
    path = save_campaign_record(signed, rec_folder(folder), keep_signature=True)
    assert signed.signature is not None
    print(
        f"signed {path}: campaign record {signed.record_id[:12]} with key {signed.signature.key_id}"
    )


def rec_folder(folder: Path) -> Path:
    return folder.parent if folder.is_file() else folder


def verify(
    folder: Annotated[Path, typer.Argument(help="Campaign folder (OUT/campaigns/NAME).")],
    trusted_keys: Annotated[
        Path | None, typer.Option(help="Trusted-keys TOML for the campaign record's signature.")
    ] = None,
    require_signature: Annotated[
        bool, typer.Option(help="Fail when the campaign record is unsigned.")
    ] = False,
) -> None:
    """Check the campaign record (integrity, signature) and every record it lists."""
    from ecoscore.fleet.campaign_record import check_campaign_signature, load_campaign_record
    from ecoscore.jury.trust import load_trusted_keys
    from ecoscore.record import IntegrityError, RecordError, load_record
    from ecoscore.results import note_fields

    trusted = load_trusted_keys(trusted_keys) if trusted_keys else None
    rec = load_campaign_record(folder)  # integrity: raises, exit 5
    base = rec_folder(folder)
    code = EXIT_OK
    sig = check_campaign_signature(rec, trusted)
    bad_sig = sig.state in ("invalid", "untrusted") or (
        sig.state == "unsigned" and require_signature
    )
    print(
        f"{'FAIL' if bad_sig else 'OK  '}  campaign record {rec.record_id[:12]}: "
        f"integrity ok; {sig.detail}"
    )
    if bad_sig:
        code = EXIT_INTEGRITY
    listed = set()
    for e in rec.entries:
        if e.state != "done" or e.record_id is None:
            continue
        path = base / "runs" / f"{e.record_id}.json"
        listed.add(path.name)
        try:
            run_rec = load_record(path)
            note = note_fields(run_rec.provenance.notes)
            if note is None or note["entry"] != e.entry:
                raise IntegrityError(f"{path}: its notes do not name entry {e.entry[:12]}")
            print(f"OK    {e.device_class}: {e.workload} / {e.model_name}: {e.record_id[:12]}")
        except IntegrityError as err:
            print(f"FAIL  {e.device_class}: {e.workload} / {e.model_name}: {err}")
            code = EXIT_INTEGRITY
        except RecordError as err:
            print(f"FAIL  {e.device_class}: {e.workload} / {e.model_name}: {err}")
            code = code if code == EXIT_INTEGRITY else EXIT_INPUT
    extra = sorted(p.name for p in (base / "runs").glob("*.json") if p.name not in listed)
    for name in extra:
        print(f"NOTE  runs/{name}: in the store but not listed as an entry's record")
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    add_command(campaign_app, "run", run)
    add_command(campaign_app, "report", report)
    add_command(campaign_app, "sign", sign)
    add_command(campaign_app, "verify", verify)
    app.add_typer(campaign_app, name="campaign")
