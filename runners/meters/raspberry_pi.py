"""Raspberry Pi 5 energy MEASURED from the PMIC's rail monitors (``vcgencmd pmic_read_adc``).

The command prints one line per ADC channel, currents and voltages apart::

    VDD_CORE_A current(7)=2.12345678A
    VDD_CORE_V volt(15)=0.81234567V

The power of a rail is V x A when both its ``_V`` and ``_A`` channels exist; the meter sums
those products. The 5 V input (EXT5V_V) has a voltage channel but no current channel, so
the sum covers the PMIC's output rails only ("pmic-rails"): not the USB ports, the fan, the
PMIC's own conversion losses or HATs. For the board input, use an external instrument
(``csv:PATH`` or ``joulescope``). Boards without this PMIC (Pi 4 and older) have no sensor.

The command takes milliseconds to tens of milliseconds; the sampler runs as fast as it
allows and the achieved period is recorded per window.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import ClassVar, Literal

from ecoscore.runners.host import board_model
from ecoscore.runners.meters.base import (
    Measurement,
    MeterConfig,
    MeterError,
    MeterInfo,
    SampledPowerMeter,
    SamplingPeriod,
)

COMMAND = ("vcgencmd", "pmic_read_adc")
_LINE_RE = re.compile(
    r"^\s*(?P<rail>\S+)_(?P<kind>[AV])\s+(?:current|volt)\(\d+\)=(?P<value>[-+0-9.eE]+)[AV]\s*$"
)
#: Never poll faster than this, whatever the command's speed.
MIN_PERIOD_S = 0.02
#: Stated relative uncertainty (1 sigma) of the PMIC ADC readings (not calibrated by the
#: vendor for metering; an external meter is the reference).
UNCERTAINTY_REL = 0.1


def run_vcgencmd() -> str:
    """Run ``vcgencmd pmic_read_adc`` and return its output."""
    try:
        done = subprocess.run(COMMAND, capture_output=True, text=True, timeout=5, check=True)
    except FileNotFoundError as e:
        raise MeterError("vcgencmd not found: this is not a Raspberry Pi OS system") from e
    except (subprocess.SubprocessError, OSError) as e:
        raise MeterError(f"`{' '.join(COMMAND)}` failed: {e}") from e
    return done.stdout


def parse_pmic_adc(text: str) -> dict[str, tuple[float | None, float | None]]:
    """rail -> (volts, amps) from the command's output; None where a channel is missing."""
    volts: dict[str, float] = {}
    amps: dict[str, float] = {}
    for line in text.splitlines():
        m = _LINE_RE.match(line)
        if not m:
            continue
        target = amps if m["kind"] == "A" else volts
        target[m["rail"]] = float(m["value"])
    return {rail: (volts.get(rail), amps.get(rail)) for rail in sorted(volts.keys() | amps.keys())}


def rails_power_w(rails: dict[str, tuple[float | None, float | None]]) -> float:
    return sum(v * a for v, a in rails.values() if v is not None and a is not None)


class RpiConfig(MeterConfig):
    """Raspberry Pi 5 PMIC rails via vcgencmd pmic_read_adc, MEASURED"""

    covers: ClassVar[str] = "the Raspberry Pi 5 PMIC rails"
    boundaries: ClassVar[tuple[str, ...] | None] = ("pmic-rails",)

    meter: Literal["rpi"] = "rpi"
    period_s: SamplingPeriod | None = None  # None: 1.5 x one command's duration

    @classmethod
    def detect(cls, device: str) -> RpiConfig | None:
        return cls() if is_raspberry_pi_5() else None

    @classmethod
    def status(cls) -> tuple[bool, str]:
        return rpi_status()

    def build(self) -> RaspberryPiPmicMeter:
        return RaspberryPiPmicMeter(period_s=self.period_s)


class RaspberryPiPmicMeter(SampledPowerMeter):
    """Pi 5 power as the sum over PMIC rails of V x A, polled in a background thread."""

    def __init__(
        self,
        run_command: Callable[[], str] = run_vcgencmd,
        period_s: float | None = None,
    ) -> None:
        self._run = run_command
        t = time.perf_counter()
        rails = parse_pmic_adc(self._run())
        call_s = time.perf_counter() - t
        powered = sorted(r for r, (v, a) in rails.items() if v is not None and a is not None)
        if not powered:
            raise MeterError(
                "`vcgencmd pmic_read_adc` reported no rail with both a voltage and a current: "
                "this board has no PMIC power monitor (Raspberry Pi 5 only)"
            )
        period = period_s if period_s is not None else max(MIN_PERIOD_S, 1.5 * call_s)
        super().__init__(period)
        voltage_only = sorted(r for r, (v, a) in rails.items() if a is None)
        self.info = MeterInfo(
            name="rpi",
            source=f"Raspberry Pi 5 PMIC via `{' '.join(COMMAND)}` ({len(powered)} rails)",
            boundary="pmic-rails",
            measurement=Measurement.MEASURED,
            sampling_period_s=period,
            uncertainty_rel=UNCERTAINTY_REL,
            details={
                "board_model": board_model(),
                "rails_summed": powered,
                "rails_without_current": voltage_only,
                "coverage": "sum of V x A over the PMIC output rails; excludes the 5 V input "
                "path (USB, fan, HATs) and the PMIC's conversion losses",
                "command_duration_s": round(call_s, 4),
                "requested_period_s": period,
            },
        )

    @property
    def config(self) -> RpiConfig:
        return RpiConfig(period_s=self.period_s)

    def read_power_w(self) -> float:
        return rails_power_w(parse_pmic_adc(self._run()))


def is_raspberry_pi_5() -> bool:
    model = board_model()
    return model is not None and "Raspberry Pi 5" in model and shutil.which("vcgencmd") is not None


def rpi_status() -> tuple[bool, str]:
    """(available, one-line description) for `ecoscore meters`."""
    model = board_model()
    if model is None or "Raspberry Pi" not in model:
        return False, "not a Raspberry Pi"
    if "Raspberry Pi 5" not in model:
        return False, f"{model}: no on-board power sensor (use csv:PATH or joulescope)"
    if shutil.which("vcgencmd") is None:
        return False, f"{model}: vcgencmd not installed"
    return True, f"{model}: PMIC rails via vcgencmd pmic_read_adc"
