#!/usr/bin/env python3
"""Build a table of MLPerf Tiny energy results from the public results repos.

Each MLCommons "tiny_results_vX.Y" repository holds one submission round.
Energy-mode results sit under

    <division>/<submitter>/results/<system...>/<benchmark>/energy/results.txt

(one round spells the folder ``enegy``; Silicon Labs names the file
``energy_results.txt``).  Next to ``energy/`` there are usually
``performance/`` and ``accuracy/`` folders from the same system and
benchmark, and ``<division>/<submitter>/systems/`` holds one JSON file per
system describing the hardware and software.

For every energy folder this script reads:

* the median energy per inference ("Median energy cost is X uJ/inf.");
* the median throughput of the performance run ("Median throughput is
  X inf./sec."), reported as latency in ms (1000 / throughput);
* the accuracy run: Top-1 (%) for ic / kws / vww, AUC for ad;
* processor, accelerator and framework from the matching system JSON;

and writes one CSV row per (round, submitter, system, benchmark).

Inputs are snapshots of the repositories, either bare git directories (read
with ``git ls-tree`` / ``git cat-file``) or ordinary folders (read from the
file system).  The round label is taken from the repository name
(``tiny_results_v1.1`` -> ``v1.1``) or given explicitly as ``v1.1=PATH``.

Only the Python standard library (and the ``git`` executable, for bare
repositories) is needed.

Usage::

    python3 build_mlperf_tiny_table.py -o mlperf_tiny_energy.csv \\
        /path/to/tiny_results_v1.0 /path/to/tiny_results_v1.1 ...

Files that look like energy results but cannot be parsed are reported on
stderr and skipped; the number of skips is printed at the end (and the exit
status is 0 unless --fail-on-skip is given).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
import statistics
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

CSV_COLUMNS = [
    "round",
    "division",
    "submitter",
    "system",
    "processor",
    "accelerator",
    "framework",
    "device_class",
    "benchmark",
    "median_energy_uj_per_inference",
    "median_latency_ms",
    "accuracy",
    "accuracy_metric",
    "source",
    "identical_to_round",
]

# Folder names used for the benchmark level, mapped to the short code.
BENCHMARK_ALIASES = {
    "ic": "ic",
    "image_classification": "ic",
    "kws": "kws",
    "keyword_spotting": "kws",
    "vww": "vww",
    "visual_wake_words": "vww",
    "ad": "ad",
    "anomaly_detection": "ad",
    "sww": "sww",
    "streaming_wakeword": "sww",
}

# Benchmarks whose energy figure is per single inference.  The v1.3
# streaming-wakeword benchmark (sww) reports the energy of a whole ~20 minute
# audio stream as "one inference", which is not comparable; it is left out
# unless --include-sww is given.
PER_INFERENCE_BENCHMARKS = ("ic", "kws", "vww", "ad")

# Folder names of the three run modes (with the one typo seen in v1.0).
ENERGY_DIRS = ("energy", "enegy")
PERFORMANCE_DIRS = ("performance",)
ACCURACY_DIRS = ("accuracy",)

# Energy units -> factor to microjoules.
UNIT_TO_UJ = {"j": 1e6, "mj": 1e3, "uj": 1.0, "µj": 1.0, "μj": 1.0, "nj": 1e-3}

RE_ENERGY = re.compile(
    r"Median\s+energy\s+cost\s+is\s+([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*"
    r"([mun\u00b5\u03bc]?J)\s*/\s*inf",
    re.IGNORECASE,
)
RE_THROUGHPUT = re.compile(
    r"Median\s+throughput\s+is\s+([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*inf\.?\s*/\s*sec",
    re.IGNORECASE,
)
# "Top-1: 87.5%" (runner up to v1.2) and "Top 1% = 87.0" (v1.3 runner).
RE_TOP1 = re.compile(r"Top[-\s]?1\s*%?\s*[:=]\s*([0-9]*\.?[0-9]+)", re.IGNORECASE)
# "AUC: 0.86" / "AUC = 0.862".
RE_AUC = re.compile(r"\bAUC\s*[:=]\s*([0-9]*\.?[0-9]+)", re.IGNORECASE)
RE_ROUND = re.compile(r"v(\d+)\.(\d+)")

# Any "key": "string value" pair in a system description.  The JSON files are
# hand-written and several are not valid JSON (missing commas, duplicate keys
# whose later copy is empty), so they are scanned with this pattern instead of
# json.loads; the first non-empty value of a key wins.
RE_JSON_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:\s*"((?:[^"\\]|\\.)*)"')

EMPTY_VALUES = {"", "n/a", "na", "none", "-", "null", "no", "not applicable"}


# --------------------------------------------------------------------------
# Reading snapshots
# --------------------------------------------------------------------------


class ParseError(Exception):
    """A result file could not be read, or no figure could be parsed from it."""


class Snapshot:
    """A read-only view of one results repository (git dir or folder)."""

    def __init__(self, path: str, round_label: str | None = None):
        self.path = os.path.abspath(path)
        self.is_bare = _is_git_dir(self.path)
        self.commit = self._head_commit()
        self.repo_name = self._repo_name()
        self.round = round_label or _round_from_text(self.repo_name) or _round_from_text(self.path)
        if not self.round:
            raise ValueError(f"cannot tell the round of {path!r}; pass it as vX.Y={path}")
        self._files: list[str] | None = None

    # -- metadata ---------------------------------------------------------

    def _git(self, *args: str) -> bytes:
        if self.is_bare:
            cmd = ["git", "--git-dir", self.path, *args]
        else:
            cmd = ["git", "-C", self.path, *args]
        return subprocess.run(cmd, check=True, capture_output=True).stdout

    def _head_commit(self) -> str:
        try:
            return self._git("rev-parse", "HEAD").decode().strip()
        except (subprocess.CalledProcessError, FileNotFoundError):
            return ""

    def _repo_name(self) -> str:
        """owner/name, from the origin remote URL or else the folder path."""
        try:
            url = self._git("config", "--get", "remote.origin.url").decode().strip()
        except (subprocess.CalledProcessError, FileNotFoundError):
            url = ""
        if url:
            name = _name_from_location(url)
            if name:
                return name
        return _name_from_location(self.path) or self.path

    # -- file access ------------------------------------------------------

    def files(self) -> list[str]:
        """All file paths (POSIX, relative to the repository root)."""
        if self._files is None:
            if self.is_bare:
                raw = self._git("ls-tree", "-r", "-z", "--name-only", "HEAD")
                self._files = [p.decode("utf-8", "surrogateescape") for p in raw.split(b"\0") if p]
            else:
                out = []
                for root, dirs, names in os.walk(self.path):
                    dirs[:] = [d for d in dirs if d != ".git"]
                    for name in names:
                        rel = os.path.relpath(os.path.join(root, name), self.path)
                        out.append(rel.replace(os.sep, "/"))
                self._files = sorted(out)
        return self._files

    def read_text(self, rel: str) -> str:
        """File content as text; ParseError if it cannot be read."""
        try:
            if self.is_bare:
                data = self._git("cat-file", "blob", f"HEAD:{rel}")
            else:
                with open(os.path.join(self.path, rel), "rb") as fh:
                    data = fh.read()
        except (OSError, subprocess.CalledProcessError) as exc:
            raise ParseError(f"cannot read file ({exc.__class__.__name__})") from exc
        if data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
            return data.decode("utf-16", "replace")
        return data.decode("utf-8", "replace")

    def source_ref(self, rel: str) -> str:
        sha = self.commit or "unknown-commit"
        return f"{self.repo_name}@{sha}:{rel}"


def _name_from_location(location: str) -> str:
    """'owner/name' from a remote URL or a local path.

    Handles https/ssh URLs (``.../owner/name(.git)``), the mirror layout
    ``.../owner+name/repo`` and plain folders (last path component).
    """
    loc = location.rstrip("/")
    parts = [p for p in re.split(r"[/:]", loc) if p]
    for part in reversed(parts):  # mirror layout: owner+name
        if "+" in part:
            owner, _, name = part.partition("+")
            return f"{owner}/{name.removesuffix('.git')}"
    if re.match(r"^[a-z][a-z0-9+.-]*://|^[^/]+@[^/]+:", loc) and len(parts) >= 2:
        return f"{parts[-2]}/{parts[-1].removesuffix('.git')}"
    for part in reversed(parts):
        if part not in ("repo", ".git"):
            return part.removesuffix(".git")
    return ""


def _is_git_dir(path: str) -> bool:
    """True for a bare repository / .git directory (not a work tree)."""
    return (
        os.path.isfile(os.path.join(path, "HEAD"))
        and os.path.isdir(os.path.join(path, "objects"))
        and os.path.isdir(os.path.join(path, "refs"))
    )


def _round_from_text(text: str) -> str | None:
    matches = list(RE_ROUND.finditer(text))
    m = matches[-1] if matches else None  # the last match: the repo name ends a path
    return f"v{m.group(1)}.{m.group(2)}" if m else None


# --------------------------------------------------------------------------
# Parsing helpers
# --------------------------------------------------------------------------


def _single_value(pattern: re.Pattern, text: str, what: str) -> re.Match:
    """The one match of pattern; several identical matches are accepted."""
    matches = list(pattern.finditer(text))
    if not matches:
        raise ParseError(f"no '{what}' line")
    distinct = {m.group(0).strip() for m in matches}
    if len(distinct) > 1:
        raise ParseError(f"{len(distinct)} different '{what}' lines")
    return matches[0]


def parse_energy_uj(text: str) -> float:
    """Median energy per inference in microjoules."""
    m = _single_value(RE_ENERGY, text, "Median energy cost")
    value = float(m.group(1))
    unit = m.group(2).lower()
    factor = UNIT_TO_UJ.get(unit)
    if factor is None:
        raise ParseError(f"unknown energy unit {m.group(2)!r}")
    if value <= 0:
        raise ParseError(f"non-positive energy {value}")
    return value * factor


def parse_latency_ms(text: str) -> float:
    """Median latency in ms from the median throughput (inferences/s)."""
    m = _single_value(RE_THROUGHPUT, text, "Median throughput")
    throughput = float(m.group(1))
    if throughput <= 0:
        raise ParseError(f"non-positive throughput {throughput}")
    return 1000.0 / throughput


def parse_accuracy(text: str, benchmark: str) -> tuple[float, str]:
    """(value, metric): AUC for anomaly detection, Top-1 % otherwise."""
    if benchmark == "ad":
        return float(_single_value(RE_AUC, text, "AUC").group(1)), "auc"
    return float(_single_value(RE_TOP1, text, "Top-1").group(1)), "top1_pct"


def parse_system_description(text: str) -> dict[str, str]:
    """Lower-cased key -> first non-empty string value."""
    fields: dict[str, str] = {}
    for key, value in RE_JSON_PAIR.findall(text):
        key_n = re.sub(r"\s+", " ", key).strip().lower()
        value = value.replace('\\"', '"').replace("\\n", " ").strip()
        if _is_empty(value):
            continue
        fields.setdefault(key_n, value)
    return fields


def _is_empty(value: str | None) -> bool:
    return value is None or value.strip().lower() in EMPTY_VALUES


def _field(desc: dict[str, str], *prefixes: str) -> str:
    """First value whose key starts with one of prefixes (in order)."""
    for prefix in prefixes:
        for key, value in desc.items():
            if key.startswith(prefix):
                return value
    return ""


# --------------------------------------------------------------------------
# Device classification
# --------------------------------------------------------------------------

RE_CORTEX_M = re.compile(r"cortex\W*m\W*(0\+?|33|35p|3|4|55|52|85|7|23)(?![0-9])")


def classify_device(processor: str, accelerator: str, soc: str = "") -> str:
    """Best-effort device class from the system description strings.

    Rules, applied in this order to the lower-cased strings (trademark signs
    removed):

    1. a non-empty accelerator entry (other than a bare "DSP co-processor"
       or FPU) -> ``gpu`` if it names a GPU
       (gpu / adreno / mali / cuda / nvidia), otherwise ``npu`` (Syntiant
       NDP core, GreenWaves NE16, Arm Ethos-U, Hexagon NPU, ...);
    2. processor naming an Arm Cortex-M core -> ``mcu-cortex-m0`` (M0/M0+),
       ``mcu-cortex-m4``, ``mcu-cortex-m7``, ``mcu-cortex-m33``,
       ``mcu-cortex-m55``; other Cortex-M cores (M3, M23, M85, ...) -> ``other``;
    3. RISC-V processor -> ``mcu-riscv``;
    4. Cortex-A / Raspberry Pi / Broadcom BCM / Snapdragon / Kryo -> ``sbc``;
    5. x86 / Intel / AMD / Xeon / Core i -> ``x86``;
    6. GPU named in the processor -> ``gpu``;
    7. if the processor string says nothing usable, rules 2-3 are tried on the
       SoC name (e.g. an STM32 part number does not name its core, so this
       rarely fires; it is a fallback only);
    8. anything else -> ``other``.
    """

    def clean(s: str) -> str:
        return re.sub(r"[\u00ae\u2122\u00a9]", "", (s or "")).lower()

    proc, acc, soc_l = clean(processor), clean(accelerator), clean(soc)

    if re.fullmatch(r"\W*(dsp|fpu|dma)?\W*(co-?processor)?\W*", acc):
        acc = ""  # a plain DSP / FPU co-processor is not an ML accelerator
    if not _is_empty(acc):
        if re.search(r"gpu|adreno|mali|cuda|nvidia", acc):
            return "gpu"
        return "npu"

    def from_core(text: str) -> str | None:
        m = RE_CORTEX_M.search(text)
        if m:
            core = m.group(1).rstrip("+")
            return {
                "0": "mcu-cortex-m0",
                "4": "mcu-cortex-m4",
                "7": "mcu-cortex-m7",
                "33": "mcu-cortex-m33",
                "55": "mcu-cortex-m55",
            }.get(core, "other")
        if re.search(r"risc\W?v|rv32|rv64|andescore", text):
            return "mcu-riscv"
        return None

    cls = from_core(proc)
    if cls:
        return cls
    if re.search(r"cortex\W*a\d+|raspberry|bcm\d{4}|snapdragon|kryo", proc):
        return "sbc"
    if re.search(r"x86|intel|amd|xeon|core\W?i[3579]|ryzen", proc):
        return "x86"
    if re.search(r"gpu|nvidia|cuda", proc):
        return "gpu"
    cls = from_core(soc_l)
    if cls:
        return cls
    return "other"


# --------------------------------------------------------------------------
# Locating results
# --------------------------------------------------------------------------


@dataclass
class EnergyDir:
    """One <...>/results/<system>/<benchmark>/<energy-dir>/ folder."""

    division: str
    submitter: str
    system_parts: tuple[str, ...]
    benchmark_dir: str
    folder: str  # path of the energy folder
    files: list[str] = field(default_factory=list)

    @property
    def system(self) -> str:
        return "/".join(self.system_parts)

    @property
    def bench_root(self) -> str:
        return self.folder.rsplit("/", 1)[0]


def find_energy_dirs(snap: Snapshot, divisions: Iterable[str]) -> list[EnergyDir]:
    """Group the files of every energy folder in the chosen divisions."""
    wanted = {d.lower() for d in divisions}
    found: dict[str, EnergyDir] = {}
    for rel in snap.files():
        parts = rel.split("/")
        # division/submitter/results/<system...>/<benchmark>/<mode>/<file>
        if len(parts) < 7 or parts[2] != "results":
            continue
        if parts[0].lower() not in wanted:
            continue
        if parts[-2].lower() not in ENERGY_DIRS:
            continue
        folder = "/".join(parts[:-1])
        if folder not in found:
            found[folder] = EnergyDir(
                division=parts[0].lower(),
                submitter=parts[1],
                system_parts=tuple(parts[3:-3]),
                benchmark_dir=parts[-3],
                folder=folder,
            )
        found[folder].files.append(rel)
    return [found[k] for k in sorted(found)]


def _result_files(paths: Iterable[str]) -> list[str]:
    """Result text files of one run folder, plain results.txt first."""
    names = [p for p in paths if p.rsplit("/", 1)[-1].lower().endswith("results.txt")]
    return sorted(names, key=lambda p: (p.rsplit("/", 1)[-1].lower() != "results.txt", p))


def _sibling_files(snap: Snapshot, bench_root: str, mode_dirs: tuple[str, ...]) -> list[str]:
    out = []
    for rel in snap.files():
        head, _, name = rel.rpartition("/")
        folder_root, _, mode = head.rpartition("/")
        if folder_root == bench_root and mode.lower() in mode_dirs:
            out.append(rel)
    return _result_files(out)


def _norm_tokens(text: str) -> tuple[str, ...]:
    tokens = re.split(r"[^a-z0-9]+", text.lower())
    drop = {"", "system", "description", "json"}
    return tuple(sorted(t for t in tokens if t not in drop))


def find_system_json(snap: Snapshot, edir: EnergyDir) -> str | None:
    """The system description for a result folder, matched by name.

    A JSON under <division>/<submitter>/systems/ matches when its file name,
    or the folder directly holding it, has the same name tokens as the
    system path (case, separators, word order, and the words "system" and
    "description" ignored).  So ``microtvm_cmsis_nn/NUCLEO_L4R5ZI`` matches
    ``system_description_NUCLEO_L4R5ZI_microtvm_cmsis_nn.json`` and
    ``NUCLEO-H7A3ZI-Q`` matches ``NUCLEO-H7A3ZI-Q/NUCLEO_H7A3ZI_Q_system_description.json``.
    """
    prefix = f"{edir.division}/{edir.submitter}/systems/".lower()
    target = _norm_tokens(" ".join(edir.system_parts))
    by_name, by_folder = [], []
    for rel in snap.files():
        if not rel.lower().startswith(prefix) or not rel.lower().endswith(".json"):
            continue
        name = rel.rsplit("/", 1)[-1]
        if name.startswith("._"):  # macOS resource-fork litter
            continue
        if _norm_tokens(name[:-5]) == target:
            by_name.append(rel)
        parent = rel.rsplit("/", 2)[-2] if rel.count("/") > 3 else ""
        if parent and _norm_tokens(parent) == target:
            by_folder.append(rel)
    for group in (by_name, by_folder):
        if len(group) == 1:
            return group[0]
    return None


# --------------------------------------------------------------------------
# Building rows
# --------------------------------------------------------------------------


@dataclass
class Stats:
    energy_dirs: int = 0
    rows: int = 0
    skipped: int = 0
    excluded_sww: int = 0
    missing_system_json: int = 0
    missing_latency: int = 0
    missing_accuracy: int = 0
    per_round: dict[str, int] = field(default_factory=dict)


def _warn(msg: str) -> None:
    print(f"WARNING: {msg}", file=sys.stderr)


def _skip(stats: Stats, msg: str) -> None:
    stats.skipped += 1
    print(f"SKIP: {msg}", file=sys.stderr)


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")


def rows_for_snapshot(
    snap: Snapshot, divisions: Iterable[str], include_sww: bool, stats: Stats
) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for edir in find_energy_dirs(snap, divisions):
        stats.energy_dirs += 1
        where = f"{snap.repo_name}:{edir.folder}"
        benchmark = BENCHMARK_ALIASES.get(edir.benchmark_dir.lower())
        if benchmark is None:
            _skip(stats, f"{where}: unknown benchmark folder {edir.benchmark_dir!r}")
            continue
        if benchmark not in PER_INFERENCE_BENCHMARKS and not include_sww:
            stats.excluded_sww += 1
            continue

        # Energy figure (required).
        candidates = _result_files(edir.files)
        if not candidates:
            _skip(stats, f"{where}: no results.txt in energy folder")
            continue
        energy_uj, energy_file, energy_hash, errors = None, None, "", []
        for rel in candidates:
            try:
                text = snap.read_text(rel)
                energy_uj = parse_energy_uj(text)
                energy_file = rel
                energy_hash = hashlib.sha1(text.encode("utf-8")).hexdigest()
                break
            except ParseError as exc:
                errors.append(f"{rel.rsplit('/', 1)[-1]}: {exc}")
        if energy_uj is None:
            _skip(stats, f"{where}: " + "; ".join(errors))
            continue

        # Latency from the performance run (optional).
        latency_ms = None
        for rel in _sibling_files(snap, edir.bench_root, PERFORMANCE_DIRS):
            try:
                latency_ms = parse_latency_ms(snap.read_text(rel))
                break
            except ParseError as exc:
                _warn(f"{snap.repo_name}:{rel}: {exc}")
        if latency_ms is None:
            stats.missing_latency += 1

        # Accuracy from the accuracy run (optional).
        accuracy, metric = None, ""
        for rel in _sibling_files(snap, edir.bench_root, ACCURACY_DIRS):
            try:
                accuracy, metric = parse_accuracy(snap.read_text(rel), benchmark)
                break
            except ParseError as exc:
                _warn(f"{snap.repo_name}:{rel}: {exc}")
        if accuracy is None:
            stats.missing_accuracy += 1

        # System description.
        processor = accelerator = framework = soc = ""
        sys_json = find_system_json(snap, edir)
        if sys_json is None:
            stats.missing_system_json += 1
            _warn(f"{where}: no system description JSON matched {edir.system!r}")
        else:
            try:
                desc = parse_system_description(snap.read_text(sys_json))
            except ParseError as exc:
                _warn(f"{snap.repo_name}:{sys_json}: {exc}")
                desc = {}
            processor = _field(desc, "processor(s) name", "processor name", "processor")
            accelerator = _field(desc, "accelerator(s) name", "accelerator name", "accelerator")
            if accelerator and re.search(r"frequenc|memory|storage", accelerator, re.I):
                accelerator = ""
            framework = _field(
                desc, "inference framework", "ml model compiler", "software libraries"
            )
            soc = _field(desc, "soc name")

        rows.append(
            {
                "round": snap.round,
                "division": edir.division,
                "submitter": edir.submitter,
                "system": edir.system,
                "processor": processor,
                "accelerator": accelerator,
                "framework": framework,
                "device_class": classify_device(processor, accelerator, soc),
                "benchmark": benchmark,
                "median_energy_uj_per_inference": _fmt(energy_uj, 4),
                "median_latency_ms": _fmt(latency_ms, 4),
                "accuracy": _fmt(accuracy, 4),
                "accuracy_metric": metric,
                "source": snap.source_ref(energy_file),
                "identical_to_round": "",
                "_hash": energy_hash,
            }
        )
        stats.rows += 1
        stats.per_round[snap.round] = stats.per_round.get(snap.round, 0) + 1
    return rows


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------


def _round_key(label: str) -> tuple[int, int]:
    m = RE_ROUND.search(label)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def mark_repeats(rows: list[dict[str, str]]) -> int:
    """Fill identical_to_round for re-submitted results.

    Some submitters re-published byte-identical energy logs in later rounds
    (e.g. Syntiant NDP9120, v1.0 to v1.3).  Such a row keeps its place in the
    table but names the earliest round with the same energy file content, so
    that users can drop repeats before computing statistics.  Returns the
    number of rows marked.
    """
    first_seen: dict[str, str] = {}
    marked = 0
    for row in sorted(rows, key=lambda r: _round_key(r["round"])):
        digest = row.get("_hash", "")
        if not digest:
            continue
        if digest in first_seen and first_seen[digest] != row["round"]:
            row["identical_to_round"] = first_seen[digest]
            marked += 1
        else:
            first_seen.setdefault(digest, row["round"])
    return marked


def write_csv(rows: list[dict[str, str]], path: str) -> None:
    rows.sort(
        key=lambda r: (
            _round_key(r["round"]),
            r["submitter"].lower(),
            r["system"].lower(),
            r["benchmark"],
        )
    )
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def print_summary(rows: list[dict[str, str]], stats: Stats, out=sys.stdout) -> None:
    print(f"energy folders seen: {stats.energy_dirs}", file=out)
    print(f"rows written: {stats.rows}", file=out)
    print(f"skipped (unparseable): {stats.skipped}", file=out)
    print(f"excluded sww (whole-stream energy): {stats.excluded_sww}", file=out)
    print(
        f"rows without system JSON: {stats.missing_system_json}; "
        f"without latency: {stats.missing_latency}; "
        f"without accuracy: {stats.missing_accuracy}",
        file=out,
    )
    print(
        "rows per round: "
        + ", ".join(
            f"{k}={v}" for k, v in sorted(stats.per_round.items(), key=lambda kv: _round_key(kv[0]))
        ),
        file=out,
    )
    print(f"{'benchmark':<10}{'count':>6}{'min uJ':>14}{'median uJ':>14}{'max uJ':>16}", file=out)
    by_bench: dict[str, list[float]] = {}
    for r in rows:
        by_bench.setdefault(r["benchmark"], []).append(float(r["median_energy_uj_per_inference"]))
    for bench in sorted(by_bench):
        vals = by_bench[bench]
        print(
            f"{bench:<10}{len(vals):>6}{min(vals):>14.3f}{statistics.median(vals):>14.3f}"
            f"{max(vals):>16.3f}",
            file=out,
        )


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def _parse_source_arg(arg: str) -> tuple[str | None, str]:
    """'v1.1=/path' -> ('v1.1', '/path'); '/path' -> (None, '/path')."""
    m = re.match(r"^(v\d+\.\d+)=(.+)$", arg)
    if m:
        return m.group(1), m.group(2)
    return None, arg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build a CSV of MLPerf Tiny energy results from local "
        "snapshots (bare git dirs or folders) of the "
        "mlcommons/tiny_results_vX.Y repositories."
    )
    parser.add_argument(
        "sources",
        nargs="+",
        metavar="[vX.Y=]PATH",
        help="snapshot path; the round is read from the name unless given as vX.Y=PATH",
    )
    parser.add_argument(
        "-o",
        "--output",
        default="mlperf_tiny_energy.csv",
        help="CSV file to write (default: %(default)s)",
    )
    parser.add_argument(
        "--divisions",
        default="closed",
        help="comma-separated divisions to read (default: %(default)s)",
    )
    parser.add_argument(
        "--include-sww",
        action="store_true",
        help="also emit streaming-wakeword rows (energy of a whole stream, not per inference)",
    )
    parser.add_argument(
        "--fail-on-skip",
        action="store_true",
        help="exit with status 1 if any energy result was skipped",
    )
    args = parser.parse_args(argv)

    divisions = [d.strip() for d in args.divisions.split(",") if d.strip()]
    stats = Stats()
    rows: list[dict[str, str]] = []
    for arg in args.sources:
        round_label, path = _parse_source_arg(arg)
        if not os.path.isdir(path):
            parser.error(f"not a directory: {path}")
        snap = Snapshot(path, round_label)
        print(
            f"reading {snap.repo_name} ({snap.round}) at {snap.commit or 'no commit'}",
            file=sys.stderr,
        )
        rows.extend(rows_for_snapshot(snap, divisions, args.include_sww, stats))

    repeats = mark_repeats(rows)
    write_csv(rows, args.output)
    print_summary(rows, stats)
    print(f"rows repeating an earlier round's identical energy file: {repeats}")
    print(f"wrote {args.output}")
    return 1 if (args.fail_on_skip and stats.skipped) else 0


if __name__ == "__main__":
    sys.exit(main())
