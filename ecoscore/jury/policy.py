"""A jury's policy: what a submission must show to pass, read from a TOML file.

Every key is documented in docs/policy.md, and ``ecoscore policy init`` writes
``EXAMPLE_POLICY``, a commented file with every key, which this module loads (a test checks
that the example, the documentation and ``PolicyRules`` name the same keys).

A submission is a bundle (its manifest may declare the applicant's category) or a single
record file. It passes when every record in it passes every rule and every required
workload is covered; otherwise each failed rule is a reason. A quick replication
(``reproduce --quick``) never raises a record to ``lab-replicated``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from ecoscore.checks import ASSURANCE_LEVELS
from ecoscore.errors import InputError, OutputError
from ecoscore.files import toml_model
from ecoscore.grading.scale import CLASSES, DEFAULT_SCALE_VERSION
from ecoscore.jury.compare import Comparison, Entry, Row
from ecoscore.jury.summary import RecordSummary
from ecoscore.jury.trust import TrustedKey, TrustedKeys

Grade = Literal["A", "B", "C", "D", "E"]
Name = Annotated[str, StringConstraints(min_length=1)]


class PolicyError(InputError):
    """The policy file is invalid; the message names the file and the field."""


class PolicyWriteError(OutputError):
    """A policy file could not be written."""


class PolicyRules(BaseModel):
    """The ``[policy]`` table; docs/policy.md documents each key."""

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
    #: How every scenario's engine thread settings must have been set: "any", "auto" (tried
    #: and chosen by ecoscore, --threads auto) or "user-chosen" (docs/measuring.md).
    engine_settings: Literal["any", "auto", "user-chosen"] = "any"
    #: Every scenario ran with exactly this many engine threads (None: any).
    threads: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _default_category_is_known(self) -> PolicyRules:
        cat = self.default_category
        if cat is not None and self.min_grade and cat not in self.min_grade:
            raise ValueError(f"default_category {cat!r} has no min_grade entry")
        return self


#: What ``ecoscore policy init`` writes: every key of the ``[policy]`` table, commented.
#: Optional keys whose absence means "no restriction" are commented out with an example.
EXAMPLE_POLICY = f"""\
# ecoscore jury policy (docs/policy.md documents every key).
# `ecoscore compare SUBMISSIONS... --policy policy.toml` gives PASS or FAIL per submission,
# with the reasons, and exits with code 7 when one fails.

[policy]
# Shown in reports; default: the file's name without .toml.
name = "Frugal AI call 2026"

# Grade with this published scale version (ecoscore/scales/); default: the current one.
scale_version = "{DEFAULT_SCALE_VERSION}"

# Workloads every submission must cover with a graded full run (`ecoscore workloads`).
required_workloads = ["vision-digits"]

# Kind of hardware the runs must be made on: "cpu", "gpu" or "board". Default: any.
# hardware_class = "cpu"

# Device names accepted as reference hardware (as records state them). Empty: any.
reference_hardware = []

# ESTIMATED energy (no sensor read) fails. Default: true.
measured_only = true

# Quick (smoke) runs are accepted. Default: false (they fail).
allow_quick = false

# Every record must carry a valid signature by a trusted key (the [[keys]] below, and the
# file given with --trusted-keys), and a bundle's manifest must be signed.
# Default: true when keys are listed in this file, else false.
require_signature = true

# The lowest assurance accepted, from weakest to strongest: "estimated", "self-reported",
# "self-measured", "lab-replicated" (a full replication within tolerances, signed by a
# trusted key that is not the applicant's; `reproduce --quick` never counts). docs/trust.md.
min_assurance = "self-measured"

# Every rule of `ecoscore verify --rules` must hold: no quick run, no interference, at
# least 3 valid windows, ... Default: true.
require_certifiable = true

# Category of the submissions that declare none (`ecoscore bundle --category`); it must
# have a minimum grade below. Default: none (such a submission fails when minimum grades
# are set).
default_category = "sme"

# How every scenario's engine thread settings were set: "any", "auto" (tried during
# warm-up and chosen by ecoscore: `ecoscore run`'s default on the CPU) or "user-chosen"
# (--threads N). docs/measuring.md, "Engine settings". Default: "any".
engine_settings = "any"

# Every scenario ran with exactly this many engine threads. Default: any.
# threads = 1

# Minimum grade (A best ... E) per applicant category. Empty: any grade passes.
[policy.min_grade]
micro = "C"
sme = "B"
mid-size = "B"

# Trusted signing keys, as `ecoscore keys` prints them (or `ecoscore trust add`);
# one table per key. A trusted-keys file given with --trusted-keys adds to these.
# [[keys]]
# name = "Lab A"
# public_key_b64 = "base64 of the 32-byte ed25519 public key"
"""


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
    engine_settings: str = "any"
    threads: int | None = None


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
        engine_settings=rules.engine_settings,
        threads=rules.threads,
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
        quick = " (a quick replication does not count)" if row.quick_looks else ""
        out.append(
            f"{tag}: assurance {row.assurance}; the policy needs at least "
            f"{policy.min_assurance}{quick}"
        )
    if policy.require_certifiable and row.grade is not None and not row.certifiable:
        why = [
            *row.grade.failed_rules,
            *row.grade.scale_blockers,
            *(f for f in row.flags if f in ("signed-by-other-key", "power-log-missing")),
        ]
        out.append(f"{tag}: not certifiable ({', '.join(why) or 'see ecoscore verify'})")
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
    out.extend(_settings_reasons(rec, policy, tag))
    out.extend(_grade_reasons(row, policy, category, tag))
    return out


def _settings_reasons(rec: RecordSummary, policy: Policy, tag: str) -> list[str]:
    """The policy's ``engine_settings`` and ``threads``, scenario by scenario (a scenario
    without its own config ran with the record's engine config; without a tuning record,
    how its settings were set is not recorded)."""
    out: list[str] = []
    for s in rec.scenarios:
        mode = s.settings_mode
        if policy.engine_settings != "any" and mode != policy.engine_settings:
            out.append(
                f"{tag}: {s.name} engine settings {mode or 'not recorded'}; the policy needs "
                f"{policy.engine_settings}"
            )
        if policy.threads is not None and s.threads != policy.threads:
            out.append(
                f"{tag}: {s.name} ran with {s.threads} engine thread(s); the policy needs "
                f"{policy.threads}"
            )
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
        runs = ("run", "quick") if policy.allow_quick else ("run",)
        counted = [r for r in rows if r.section in runs and r.duplicate_of is None]
        covered = {r.record.workload.name for r in counted}
        for w in policy.required_workloads:
            if w not in covered:
                v.reasons.append(f"required workload {w} is missing")
        if not any(r.grade is not None and r.grade.letter is not None for r in counted):
            v.reasons.append("no graded run in this submission")
        verdicts.append(v)
    return verdicts


def _entries(items: list[Entry | Row]) -> list[Entry]:
    return [i.entry if isinstance(i, Row) else i for i in items]
