"""A jury's policy: what a submission must show to pass, read from a TOML file.

::

    [policy]
    name = "Frugal AI call 2026"
    scale_version = "2026.1"            # grade with this scale (default: the current one)
    required_workloads = ["vision-digits"]
    hardware_class = "cpu"              # optional: cpu, gpu or board
    reference_hardware = ["Raspberry Pi 5 Model B Rev 1.0"]   # optional: device names
    measured_only = true                # ESTIMATED energy fails
    allow_quick = false                 # quick (smoke) runs fail
    require_signature = true            # default: true when trusted keys are listed
    min_assurance = "self-measured"     # estimated < self-reported < self-measured < lab-replicated
    require_certifiable = true          # every rule of ecoscore.checks holds (docs/trust.md)
    default_category = "sme"            # for submissions that declare none

    [policy.min_grade]                  # minimum grade by applicant category
    micro = "C"
    sme = "B"
    mid-size = "B"

    [[keys]]                            # trusted signing keys (as in a trusted-keys file)
    name = "Lab A"
    public_key_b64 = "..."

A submission is a bundle (its manifest may declare the applicant's category) or a single
record file. It passes when every record in it passes every rule and every required
workload is covered; otherwise each failed rule is a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from ecoscore.checks import ASSURANCE_LEVELS
from ecoscore.errors import InputError
from ecoscore.files import toml_model
from ecoscore.grading.scale import CLASSES, DEFAULT_SCALE_VERSION
from ecoscore.jury.compare import Comparison, Entry, Row
from ecoscore.jury.trust import TrustedKey, TrustedKeys

Grade = Literal["A", "B", "C", "D", "E"]
Name = Annotated[str, StringConstraints(min_length=1)]


class PolicyError(InputError):
    """The policy file is invalid; the message names the file and the field."""


class PolicyRules(BaseModel):
    """The ``[policy]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    scale_version: str = DEFAULT_SCALE_VERSION
    required_workloads: tuple[Name, ...] = ()
    hardware_class: Literal["cpu", "gpu", "board"] | None = None
    reference_hardware: tuple[Name, ...] = ()
    measured_only: StrictBool = True
    allow_quick: StrictBool = False
    require_signature: StrictBool | None = None  # default: true when trusted keys are listed
    #: The lowest assurance accepted: estimated < self-reported < self-measured <
    #: lab-replicated (docs/trust.md). Default: self-measured.
    min_assurance: Literal["estimated", "self-reported", "self-measured", "lab-replicated"] = (
        "self-measured"
    )
    #: Records must be certifiable (no rule of ecoscore.checks fails). Default: true.
    require_certifiable: StrictBool = True
    default_category: str | None = None
    min_grade: dict[str, Grade] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _default_category_is_known(self) -> PolicyRules:
        cat = self.default_category
        if cat is not None and self.min_grade and cat not in self.min_grade:
            raise ValueError(f"default_category {cat!r} has no min_grade entry")
        return self


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: PolicyRules
    keys: tuple[TrustedKey, ...] = ()


@dataclass(frozen=True)
class Policy:
    name: str
    source: str
    scale_version: str
    required_workloads: tuple[str, ...]
    hardware_class: str | None
    reference_hardware: tuple[str, ...]
    measured_only: bool
    allow_quick: bool
    require_signature: bool
    min_assurance: str
    require_certifiable: bool
    default_category: str | None
    min_grade: dict[str, str]
    trusted: TrustedKeys


@dataclass
class Verdict:
    submission: str
    category: str | None
    records: int
    reasons: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.reasons

    def line(self) -> str:
        head = f"{'PASS' if self.passed else 'FAIL'}  {self.submission}"
        cat = f" [{self.category}]" if self.category else ""
        if self.passed:
            return f"{head}{cat}: {self.records} record(s), every rule met"
        return f"{head}{cat}: " + "; ".join(self.reasons)


def load_policy(path: Path) -> Policy:
    path = Path(path)
    doc = toml_model(path, PolicyFile, PolicyError, "policy")
    rules = doc.policy
    try:
        trusted = TrustedKeys(keys=doc.keys, source=str(path))
    except ValueError as e:
        raise PolicyError(f"{path}: keys: {e}") from None
    return Policy(
        name=rules.name or path.stem,
        source=str(path),
        scale_version=rules.scale_version,
        required_workloads=rules.required_workloads,
        hardware_class=rules.hardware_class,
        reference_hardware=rules.reference_hardware,
        measured_only=rules.measured_only,
        allow_quick=rules.allow_quick,
        require_signature=(
            rules.require_signature if rules.require_signature is not None else bool(doc.keys)
        ),
        min_assurance=rules.min_assurance,
        require_certifiable=rules.require_certifiable,
        default_category=rules.default_category,
        min_grade=dict(rules.min_grade),
        trusted=trusted,
    )


def _record_reasons(row: Row, policy: Policy, category: str | None) -> list[str]:
    rec = row.record
    tag = f"{rec.model.name} on {rec.workload.name} ({rec.record_id[:12]})"
    if row.entry.integrity_failed:
        return [f"{tag}: integrity check failed"]
    out: list[str] = []
    sig = row.signature
    if sig is not None:
        refused = ("invalid", "unsigned", "untrusted", "unchecked")
        if sig.state == "invalid" or (policy.require_signature and sig.state in refused):
            out.append(f"{tag}: {sig.detail}")
    if "signed-by-other-key" in row.flags:
        out.append(f"{tag}: signed by key {sig.key_id if sig else '?'}, not by the bundle's signer")
    if row.duplicate_of is not None:
        return [*out, f"{tag}: duplicate of {row.duplicate_of} (counted once)"]
    if rec.record_type == "replication":
        if "untrusted-replication" in row.flags:
            out.append(f"{tag}: a replication not signed by a trusted key does not count")
        return out
    if ASSURANCE_LEVELS.index(row.assurance or "estimated") < ASSURANCE_LEVELS.index(
        policy.min_assurance
    ):
        out.append(
            f"{tag}: assurance {row.assurance}; the policy needs at least {policy.min_assurance}"
        )
    if policy.require_certifiable and row.grade is not None and not row.certifiable:
        rules = ", ".join(row.grade.failed_rules) or ", ".join(
            f for f in row.flags if f in ("signed-by-other-key", "power-log-missing")
        )
        out.append(f"{tag}: not certifiable ({rules})")
    if policy.measured_only and rec.meter.measurement != "MEASURED":
        out.append(f"{tag}: energy is {rec.meter.measurement}; the policy accepts measured only")
    if not policy.allow_quick and rec.run.quick:
        out.append(f"{tag}: quick (smoke) run; the policy needs a full run")
    if policy.hardware_class and rec.device.kind != policy.hardware_class:
        out.append(
            f"{tag}: hardware class {rec.device.kind}; the policy asks for {policy.hardware_class}"
        )
    if policy.reference_hardware and rec.device.name not in policy.reference_hardware:
        out.append(
            f"{tag}: device {rec.device.name!r} is not reference hardware "
            f"({', '.join(policy.reference_hardware)})"
        )
    out.extend(_grade_reasons(row, policy, category, tag))
    return out


def _grade_reasons(row: Row, policy: Policy, category: str | None, tag: str) -> list[str]:
    grade = row.grade
    if grade is None or grade.letter is None:
        return [f"{tag}: {grade.reason if grade else 'no grade'}"]
    if not policy.min_grade:
        return []
    if category is None:
        return [f"{tag}: no applicant category declared (categories: {_cats(policy)})"]
    need = policy.min_grade.get(category)
    if need is None:
        return [f"{tag}: category {category!r} is not in the policy ({_cats(policy)})"]
    if CLASSES.index(grade.letter) > CLASSES.index(need):
        return [f"{tag}: grade {grade.mark} is below the minimum {need} for {category}"]
    return []


def _cats(policy: Policy) -> str:
    return ", ".join(policy.min_grade) or "none"


def evaluate(comparison: Comparison, policy: Policy, category: str | None = None) -> list[Verdict]:
    """Pass or fail per submission, with the reasons. ``category`` overrides what the
    submissions declare; else a bundle's declared category, else the policy's default."""
    subs: dict[str, list[Entry | Row]] = {}
    for row in comparison.rows:
        subs.setdefault(row.entry.submission, []).append(row)
    for entry in comparison.errors:
        subs.setdefault(entry.submission, []).append(entry)
    verdicts = []
    for items in subs.values():
        rows = [i for i in items if isinstance(i, Row)]
        entries = _entries(items)
        declared = next((i.category for i in entries if i.category), None)
        cat = category or declared or policy.default_category
        v = Verdict(submission=entries[0].label, category=cat, records=len(rows))
        bundled = [e for e in entries if e.logs is not None]
        if policy.require_signature and bundled and bundled[0].submitter_key is None:
            v.reasons.append("the bundle's manifest is not signed (ecoscore bundle --key)")
        for item in items:
            if isinstance(item, Entry):
                v.reasons.append(item.error or f"{item.source}: unreadable")
        for row in rows:
            v.reasons.extend(_record_reasons(row, policy, cat))
        covered = {
            r.record.workload.name
            for r in rows
            if r.trusted_content and r.record.record_type == "run"
        }
        for w in policy.required_workloads:
            if w not in covered:
                v.reasons.append(f"required workload {w} is missing")
        if not any(r.rankable for r in rows):
            v.reasons.append("no graded run in this submission")
        verdicts.append(v)
    return verdicts


def _entries(items: list[Entry | Row]) -> list[Entry]:
    return [i.entry if isinstance(i, Row) else i for i in items]
