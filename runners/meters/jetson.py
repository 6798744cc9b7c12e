"""NVIDIA Jetson board energy MEASURED from the on-board INA3221 power monitors.

Two sysfs layouts exist, both read directly (jetson-stats needs a root service and is
AGPL-licensed):
- hwmon (JetPack 5+, Orin and recent Xavier/Nano kernels):
  /sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/ with inN_label, inN_input (bus mV) and
  currN_input (mA), N = 1..3;
- iio (older JetPack 4 kernels): /sys/bus/i2c/drivers/ina3221x/*/iio:device*/ with
  rail_name_N, in_powerN_input (mW), in_voltageN_input (mV), in_currentN_input (mA).

The boundary is the board's input rail (VDD_IN, or POM_5V_IN on older boards):
"board-input". AGX Orin has no input rail on its monitors: the rails present are summed and
the boundary is "board-rails", which covers those rails only (not the carrier board, the
fan or conversion losses upstream of them).
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from ecoscore.runners.host import board_model, sysfs_path
from ecoscore.runners.meters.base import (
    Measurement,
    MeterConfig,
    MeterError,
    MeterInfo,
    SampledPowerMeter,
    SamplingPeriod,
)

HWMON_GLOB = "/sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*"
IIO_GLOB = "/sys/bus/i2c/drivers/ina3221x/*/iio:device*"
#: Names of the total board input rail, newest first.
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
#: Default sampling period: 100 Hz, the rate the issue asks for at least.
DEFAULT_PERIOD_S = 0.01
#: Stated relative uncertainty (1 sigma): INA3221 gain error plus shunt tolerance.
UNCERTAINTY_REL = 0.05


@dataclass(frozen=True)
class Rail:
    """One INA3221 channel: its label and the files that give its power."""

    label: str
    layout: str  # "hwmon" | "iio"
    voltage_mv: Path | None
    current_ma: Path | None
    power_mw: Path | None = None

    def read_power_w(self) -> float:
        if self.power_mw is not None:
            return _read_int(self.power_mw) / 1000
        assert self.voltage_mv is not None and self.current_ma is not None
        return _read_int(self.voltage_mv) * _read_int(self.current_ma) / 1e6

    @property
    def files(self) -> list[str]:
        return [str(p) for p in (self.power_mw, self.voltage_mv, self.current_ma) if p]


class _OpenSysfsFile:
    """A sysfs value file kept open and re-read with ``pread``: about 15 times cheaper than
    opening it for every sample, which keeps a 100 Hz sampler's CPU share low. The file is
    re-opened when it was replaced (new inode); a file that vanished raises."""

    __slots__ = ("path", "fd", "ino")

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None
        self.ino = -1

    def read_int(self) -> int:
        st = os.stat(self.path)
        if self.fd is None or st.st_ino != self.ino:
            if self.fd is not None:
                os.close(self.fd)
            self.fd = os.open(self.path, os.O_RDONLY)
            self.ino = st.st_ino
        return int(os.pread(self.fd, 64, 0).strip())


_OPEN: dict[Path, _OpenSysfsFile] = {}


def _read_int(path: Path) -> int:
    try:
        f = _OPEN.get(path)
        if f is None:
            f = _OPEN[path] = _OpenSysfsFile(path)
        return f.read_int()
    except (OSError, ValueError) as e:
        raise MeterError(f"cannot read {path}: {e}") from e


def _glob(pattern: str) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(str(sysfs_path(pattern))))


def _hwmon_rails() -> list[Rail]:
    rails: list[Rail] = []
    for d in _glob(HWMON_GLOB):
        for label_file in sorted(d.glob("in*_label")):
            m = re.fullmatch(r"in(\d+)_label", label_file.name)
            if not m:
                continue
            n = m.group(1)
            label = label_file.read_text().strip()
            volt, curr = d / f"in{n}_input", d / f"curr{n}_input"
            if label.upper() == "NC" or not volt.exists() or not curr.exists():
                continue  # not connected, or a shunt/sum channel without a bus voltage
            rails.append(Rail(label, "hwmon", volt, curr))
    return rails


def _iio_rails() -> list[Rail]:
    rails: list[Rail] = []
    for d in _glob(IIO_GLOB):
        for name_file in sorted(d.glob("rail_name_*")):
            n = name_file.name.rsplit("_", 1)[1]
            label = name_file.read_text().strip()
            power = d / f"in_power{n}_input"
            volt, curr = d / f"in_voltage{n}_input", d / f"in_current{n}_input"
            if label.upper() == "NC":
                continue
            if power.exists():
                rails.append(Rail(label, "iio", volt, curr, power))
            elif volt.exists() and curr.exists():
                rails.append(Rail(label, "iio", volt, curr))
    return rails


def discover_rails() -> list[Rail]:
    """All INA3221 rails readable on this board, hwmon layout first."""
    return _hwmon_rails() or _iio_rails()


def select_rails(rails: list[Rail], only: list[str] | None = None) -> tuple[list[Rail], str]:
    """The rails to sum and the resulting boundary."""
    if only:
        by_label = {r.label: r for r in rails}
        missing = [name for name in only if name not in by_label]
        if missing:
            raise MeterError(f"Jetson rails {missing} not found; present: {sorted(by_label)}")
        chosen = [by_label[name] for name in only]
        is_input = len(chosen) == 1 and chosen[0].label.upper() in INPUT_RAILS
        return chosen, "board-input" if is_input else "board-rails"
    for name in INPUT_RAILS:
        for r in rails:
            if r.label.upper() == name:
                return [r], "board-input"
    return rails, "board-rails"


class JetsonConfig(MeterConfig):
    """Jetson INA3221 rails through sysfs (board input, or the summed rails), MEASURED"""

    covers: ClassVar[str] = "the Jetson board"
    boundaries: ClassVar[tuple[str, ...] | None] = ("board-input", "board-rails")

    meter: Literal["jetson"] = "jetson"
    period_s: SamplingPeriod = DEFAULT_PERIOD_S
    rails: tuple[str, ...] | None = None  # None: the input rail, else every rail

    @classmethod
    def detect(cls, device: str) -> JetsonConfig | None:
        return cls() if is_jetson() else None

    @classmethod
    def status(cls) -> tuple[bool, str]:
        return jetson_status()

    def build(self) -> JetsonMeter:
        return JetsonMeter(self.period_s, list(self.rails) if self.rails else None)


class JetsonMeter(SampledPowerMeter):
    """Board power from the INA3221 rails, polled in a background thread and integrated."""

    def __init__(self, period_s: float = DEFAULT_PERIOD_S, rails: list[str] | None = None) -> None:
        super().__init__(period_s)
        self._asked_rails = tuple(rails) if rails else None
        present = discover_rails()
        if not present:
            raise MeterError(
                "no Jetson INA3221 rails: neither "
                f"{HWMON_GLOB}/in*_label nor {IIO_GLOB}/rail_name_* exists"
            )
        self.rails, boundary = select_rails(present, rails)
        labels = [r.label for r in self.rails]
        if boundary == "board-input":
            coverage = f"the board's input rail {labels[0]}"
        else:
            coverage = (
                f"the sum of rails {' + '.join(labels)} only: no board input rail is monitored, "
                "so the carrier board, fan and regulator losses upstream of these rails are "
                "not included, and a rail that feeds another may be counted twice"
            )
        model = board_model()
        self.info = MeterInfo(
            name="jetson",
            source=f"INA3221 {self.rails[0].layout} sysfs: {' + '.join(labels)}",
            boundary=boundary,
            measurement=Measurement.MEASURED,
            sampling_period_s=period_s,
            uncertainty_rel=UNCERTAINTY_REL,
            details={
                "board_model": model,
                "rails_summed": labels,
                "rails_present": [r.label for r in present],
                "coverage": coverage,
                "layout": self.rails[0].layout,
                "files": [f for r in self.rails for f in r.files],
                "sampling_period_s": period_s,
                "sensor_update_interval_ms": _update_interval_ms(self.rails[0]),
            },
        )

    @property
    def config(self) -> JetsonConfig:
        return JetsonConfig(period_s=self.period_s, rails=self._asked_rails)

    def read_power_w(self) -> float:
        return sum(r.read_power_w() for r in self.rails)


def _update_interval_ms(rail: Rail) -> int | None:
    """The INA3221 conversion interval the hwmon driver reports, if it does."""
    if rail.layout != "hwmon" or rail.voltage_mv is None:
        return None
    path = rail.voltage_mv.parent / "update_interval"
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def is_jetson() -> bool:
    model = board_model()
    return model is not None and "NVIDIA Jetson" in model


def jetson_status() -> tuple[bool, str]:
    """(available, one-line description) for `ecoscore meters`."""
    rails = discover_rails()
    if not rails:
        return False, "no Jetson INA3221 rails in sysfs"
    chosen, boundary = select_rails(rails)
    model = board_model() or "unknown board"
    return True, f"{model}: {boundary} from {' + '.join(r.label for r in chosen)}"
