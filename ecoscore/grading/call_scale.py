"""A call's own scale, derived from records: the call's reference runs (rule ``reference``)
or its first cohort (rule ``quantiles``). ``ecoscore scale derive`` writes it as a TOML scale
file that :func:`ecoscore.grading.scale.load_scale` reads and checks like any other.

What a record must be to enter a scale's basis (else the derivation stops, naming it):

- a run record (not a replication), its integrity checked on loading;
- a valid single-stream measurement with a positive energy per inference (gross, median);
- quality at or past its workload's gate;
- MEASURED, unless ``allow_estimated``; a full run, unless ``allow_quick``: then the scale
  says so (``allow_estimated``/``allow_quick``, ``basis_measurement = "ESTIMATED"``);
- one record id once; the records of one workload share one workload definition (name,
  version, definition and evaluation data), which the scale then pins.

Every record id used is written in the scale's ``basis``, with its model, energy,
measurement and whether it was a quick run.
"""

from __future__ import annotations

import json
import tomllib
from collections import defaultdict
from datetime import UTC, datetime

from ecoscore.errors import InputError, UsageError
from ecoscore.grading.scale import (
    DEFAULT_QUANTILE_LEVELS,
    SCALE_RULES,
    Scale,
    ScaleError,
    derive_upper_bounds,
    geometric_mean,
    median,
    quantile,
)
from ecoscore.record import RunRecord


class DerivationError(InputError):
    """A record cannot enter a derived scale; the message names it and why."""


def _energy(rec: RunRecord) -> float:
    single = rec.scenario("single_stream")
    stat = single.energy_per_inference_j if single is not None else None
    if single is None or stat is None or not single.valid or not stat.median > 0:
        raise DerivationError(
            f"record {rec.record_id[:12]} ({rec.model.name}): no valid single-stream energy per "
            "inference"
        )
    return stat.median


def _admit(rec: RunRecord, allow_estimated: bool, allow_quick: bool) -> None:
    from ecoscore.grading.grade import quality_gate_reason

    what = f"record {rec.record_id[:12]} ({rec.model.name} on {rec.workload.name})"
    if rec.record_type != "run":
        raise DerivationError(f"{what}: a replication record cannot enter a scale's basis")
    gate = quality_gate_reason(rec)
    if gate is not None:
        raise DerivationError(f"{what}: {gate}; only eligible runs make a scale")
    if rec.meter.measurement == "ESTIMATED" and not allow_estimated:
        raise DerivationError(
            f"{what}: energy ESTIMATED ({rec.meter.name}); a call scale is built on MEASURED "
            "runs, or give --allow-estimated and the scale will say it is built on estimates"
        )
    if rec.run.quick and not allow_quick:
        raise DerivationError(
            f"{what}: a quick (smoke) run; give --allow-quick to use it, and the scale will say so"
        )


def _definition(rec: RunRecord) -> tuple[str, str, str]:
    w = rec.workload
    return (w.version, w.definition_sha256, w.eval_data_sha256)


def _basis_line(rec: RunRecord, energy: float) -> str:
    return (
        f"{{ record_id = {_q(rec.record_id)}, model = {_q(rec.model.name)}, "
        f"energy_per_inference_j = {energy!r}, measurement = {_q(rec.meter.measurement)}, "
        f"quick = {'true' if rec.run.quick else 'false'} }}"
    )


def _q(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def derive_scale_toml(
    records: list[RunRecord],
    rule: str,
    version: str,
    allow_estimated: bool = False,
    allow_quick: bool = False,
    quantile_levels: tuple[float, float, float, float] = DEFAULT_QUANTILE_LEVELS,
    classes_per_decade: int = 2,
    published: str | None = None,
) -> tuple[str, Scale]:
    """The scale file's text and the validated scale it holds."""
    if rule not in SCALE_RULES or not SCALE_RULES[rule].from_records:
        derived = [n for n, r in SCALE_RULES.items() if r.from_records]
        raise UsageError(f"--rule {rule!r}: a scale derives from records by {', '.join(derived)}")
    if not records:
        raise UsageError("no records to derive a scale from")
    by_workload: dict[str, list[tuple[RunRecord, float]]] = defaultdict(list)
    seen: set[str] = set()
    for rec in records:
        if rec.record_id in seen:
            raise DerivationError(f"record {rec.record_id[:12]} is given twice")
        seen.add(rec.record_id)
        _admit(rec, allow_estimated, allow_quick)
        by_workload[rec.workload.name].append((rec, _energy(rec)))
    estimated = any(r.meter.measurement == "ESTIMATED" for r in records)
    quick = any(r.run.quick for r in records)
    date = published or datetime.now(UTC).date().isoformat()
    head = [
        f"# ecoscore call scale {version}, derived by `ecoscore scale derive --rule {rule}` from",
        f"# {len(records)} record(s). Every record used is listed in its workload's basis.",
    ]
    if estimated:
        head.append("# Built on ESTIMATED energy (allowed explicitly): grades on it are not")
        head.append("# certifiable.")
    if quick:
        head.append("# Includes quick (smoke) runs (allowed explicitly).")
    lines = [
        *head,
        "",
        "[scale]",
        f"version = {_q(version)}",
        f"published = {_q(date)}",
        'quantity = "energy_per_inference_j"',
        'scenario = "single_stream"',
        'energy = "gross"',
        'classes = ["A", "B", "C", "D", "E"]',
        f"rule = {_q(rule)}",
    ]
    if rule == "quantiles":
        lines.append(f"quantile_levels = [{', '.join(repr(q) for q in quantile_levels)}]")
    else:
        lines.append(f"classes_per_decade = {classes_per_decade}")
    lines += [
        f"rescaling_rule = {_q(_rescaling_text(rule))}",
        f"allow_estimated = {'true' if allow_estimated else 'false'}",
        f"allow_quick = {'true' if allow_quick else 'false'}",
        f"basis_measurement = {_q('ESTIMATED' if estimated else 'MEASURED')}",
    ]
    for name in sorted(by_workload):
        rows = by_workload[name]
        defs = {_definition(r) for r, _ in rows}
        if len(defs) > 1:
            raise DerivationError(
                f"{name}: the records were made with {len(defs)} different workload "
                "definitions or evaluation data; a scale is for one"
            )
        energies = [e for _, e in rows]
        if rule == "quantiles":
            ref = median(energies)
            bounds = tuple(quantile(energies, q) for q in quantile_levels)
            point = (
                f"median of the {len(rows)} basis records; bounds at the "
                f"{', '.join(f'{q:g}' for q in quantile_levels)} quantiles of their energies"
            )
        else:
            ref = geometric_mean(energies)
            bounds = derive_upper_bounds(ref, classes_per_decade)
            point = f"geometric mean of the {len(rows)} reference run(s) in basis"
        kind = "ESTIMATED" if any(r.meter.measurement == "ESTIMATED" for r, _ in rows) else ""
        point += f" ({kind} energy)" if kind else ""
        lines += [
            "",
            f"[workloads.{_q(name)}]",
            f"reference_energy_per_inference_j = {ref!r}",
            f"reference_point = {_q(point)}",
            "upper_bounds_j = { "
            + ", ".join(f"{c} = {b!r}" for c, b in zip("ABCD", bounds, strict=True))
            + " }",
            f"definition_sha256 = {_q(rows[0][0].workload.definition_sha256)}",
            "basis = [",
            *(f"    {_basis_line(r, e)}," for r, e in sorted(rows, key=lambda t: t[1])),
            "]",
        ]
    text = "\n".join(lines) + "\n"
    try:
        scale = Scale.model_validate(tomllib.loads(text))
    except ValueError as e:
        first = str(e).splitlines()
        raise ScaleError(f"the derived scale is not valid: {' '.join(first[:3])}") from None
    return text, scale


def _rescaling_text(rule: str) -> str:
    if rule == "quantiles":
        return (
            "A call scale: fixed for the call once published; the bounds are quantiles of "
            "the call's first cohort and are not moved by later submissions."
        )
    return (
        "A call scale: fixed for the call once published; class C is centred on the "
        "geometric mean of the call's reference runs."
    )
