"""A deterministic generator of vibration signals from a small fleet of rotating machines.

Each machine is a motor driving a gearbox on rolling-element bearings, seen by an
accelerometer sampled at 4 kHz through a 16-bit ADC (full scale +-8 g). A clip is 0.5 s.

Normal operation (per record, around each machine's own profile):
- a shaft line (1x) at a speed that varies between machines (nominal 18-45 Hz, i.e.
  1080-2700 rpm), between records (load-dependent slip, +-3 %) and slightly within a record
  (speed jitter of a few per mille); its amplitude (residual imbalance) grows with the
  square of the speed;
- a few shaft harmonics (2x, 3x), the gear-mesh tone (teeth x shaft speed) with shaft-rate
  amplitude modulation (sidebands);
- broadband noise shaped by the structure, with a hump at its resonance frequency;
- now and then, a single knock from the surroundings that rings the structure.

Faults (severity in (0, 1], drawn per clip so that some are subtle):
- ``imbalance``: a stronger 1x line, and stronger 1x sidebands around the gear mesh;
- ``misalignment``: strong 2x and 3x, plus a 4x line (the axial-like harmonic pattern);
- ``bearing``: an outer-race defect, i.e. impulses repeating at the ball-pass frequency
  (BPFO, 3-5.2 x shaft speed, with a little slip) that ring the structural resonance,
  amplitude-modulated at the shaft rate;
- ``looseness``: many shaft harmonics and half-order sub-harmonics, and a truncated
  (one-sided clipped) waveform.

Every clip is drawn from its own ``numpy.random.default_rng([seed, split, index])`` so that a
clip does not depend on how many others are generated. Samples are rounded to int16, so the
raw data (and its checksum) is the same on every platform; numpy's Generator streams are
stable across platforms, and the checksum fixed in the workload catches any change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 4000
CLIP_SAMPLES = 2000  # 0.5 s
FULL_SCALE_G = 8.0
COUNTS_PER_G = 32768.0 / FULL_SCALE_G

NORMAL = "normal"
FAULT_TYPES: tuple[str, ...] = ("imbalance", "misalignment", "bearing", "looseness")

N_MACHINES = 6
MACHINE_SEED = 7301

_RING_SAMPLES = 64  # 16 ms impulse response of the structure
_KNOCK_PROBABILITY = 0.15


@dataclass(frozen=True)
class MachineProfile:
    """The fixed mechanical make-up of one machine (amplitudes in g)."""

    machine_id: int
    shaft_hz: float
    gear_teeth: int
    resonance_hz: float
    damping_s: float
    bpfo_ratio: float
    a1: float
    a2: float
    a3: float
    mesh: float
    noise: float


@dataclass(frozen=True)
class Clip:
    """One generated record: int16 samples and what was drawn to make it."""

    samples: np.ndarray
    machine_id: int
    fault: str
    severity: float
    speed_hz: float


@dataclass(frozen=True)
class VibrationSet:
    """A set of clips: int16 samples (N, CLIP_SAMPLES) and per-clip ground truth."""

    clips: np.ndarray
    labels: np.ndarray
    faults: np.ndarray
    severities: np.ndarray
    machine_ids: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def machine_profiles(n: int = N_MACHINES, seed: int = MACHINE_SEED) -> tuple[MachineProfile, ...]:
    """The fleet: ``n`` machines with their own speeds, gears, resonances and bearings."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        a1 = float(rng.uniform(0.08, 0.15))
        out.append(
            MachineProfile(
                machine_id=i,
                shaft_hz=float(rng.uniform(18.0, 45.0)),
                gear_teeth=int(rng.integers(19, 38)),
                resonance_hz=float(rng.uniform(1100.0, 1700.0)),
                damping_s=float(rng.uniform(0.002, 0.004)),
                bpfo_ratio=float(rng.uniform(3.0, 5.2)),
                a1=a1,
                a2=a1 * float(rng.uniform(0.3, 0.6)),
                a3=a1 * float(rng.uniform(0.1, 0.3)),
                mesh=float(rng.uniform(0.05, 0.12)),
                noise=float(rng.uniform(0.03, 0.06)),
            )
        )
    return tuple(out)


def _ring_kernel(p: MachineProfile) -> np.ndarray:
    """Impulse response of the structure: a damped sinusoid at its resonance."""
    t = np.arange(_RING_SAMPLES) / SAMPLE_RATE
    return np.exp(-t / p.damping_s) * np.sin(2.0 * np.pi * p.resonance_hz * t)


def _shaft_phase(rng: np.random.Generator, speed_hz: float) -> np.ndarray:
    """Shaft angle (rad) with a slow random speed drift of a few per mille."""
    knots = rng.standard_normal(12)
    drift = np.interp(np.arange(CLIP_SAMPLES), np.linspace(0, CLIP_SAMPLES, 12), knots)
    inst_hz = speed_hz * (1.0 + 0.003 * drift)
    return 2.0 * np.pi * np.cumsum(inst_hz) / SAMPLE_RATE


def _shaped_noise(rng: np.random.Generator, p: MachineProfile, rms: float) -> np.ndarray:
    """Broadband noise: gently falling spectrum plus a hump at the structural resonance."""
    white = rng.standard_normal(CLIP_SAMPLES)
    f = np.fft.rfftfreq(CLIP_SAMPLES, 1.0 / SAMPLE_RATE)
    shape = 1.0 / np.sqrt(1.0 + (f / 600.0) ** 2) + 0.6 * np.exp(
        -(((f - p.resonance_hz) / 180.0) ** 2)
    )
    x = np.fft.irfft(np.fft.rfft(white) * shape, n=CLIP_SAMPLES)
    return x * (rms / float(np.sqrt(np.mean(x**2))))


def _normal_parts(
    rng: np.random.Generator, p: MachineProfile
) -> tuple[float, np.ndarray, dict[str, float], np.ndarray]:
    """Speed, shaft phase, per-record line amplitudes and the non-rotating part (noise)."""
    speed = p.shaft_hz * float(rng.uniform(0.97, 1.03))
    phase = _shaft_phase(rng, speed)
    # Residual imbalance: a force that grows with the square of the speed.
    amp = {
        "a1": p.a1 * (speed / p.shaft_hz) ** 2 * float(rng.lognormal(0.0, 0.12)),
        "a2": p.a2 * float(rng.lognormal(0.0, 0.15)),
        "a3": p.a3 * float(rng.lognormal(0.0, 0.2)),
        "mesh": p.mesh * float(rng.lognormal(0.0, 0.15)),
        "mod": float(rng.uniform(0.05, 0.2)),
    }
    noise = _shaped_noise(rng, p, p.noise * float(rng.lognormal(0.0, 0.15)))
    if rng.uniform() < _KNOCK_PROBABILITY:
        knock = np.zeros(CLIP_SAMPLES)
        knock[int(rng.integers(0, CLIP_SAMPLES - _RING_SAMPLES))] = rng.uniform(0.1, 0.5)
        noise = noise + np.convolve(knock, _ring_kernel(p))[:CLIP_SAMPLES]
    return speed, phase, amp, noise


def _rotating(
    rng: np.random.Generator, p: MachineProfile, phase: np.ndarray, amp: dict[str, float]
) -> np.ndarray:
    """Shaft lines and gear mesh for given amplitudes (random phases drawn from ``rng``)."""
    ph = rng.uniform(0.0, 2.0 * np.pi, size=5)
    x = amp["a1"] * np.sin(phase + ph[0])
    x += amp["a2"] * np.sin(2.0 * phase + ph[1])
    x += amp["a3"] * np.sin(3.0 * phase + ph[2])
    x += amp.get("a4", 0.0) * np.sin(4.0 * phase + ph[3])
    sidebands = 1.0 + amp["mod"] * np.sin(phase + ph[4])
    x += amp["mesh"] * sidebands * np.sin(p.gear_teeth * phase + ph[4] * 3.0)
    return x


def _looseness(
    rng: np.random.Generator, phase: np.ndarray, a1: float, s: float, x: np.ndarray
) -> np.ndarray:
    """Add harmonics 2x-10x and half orders, then truncate the waveform on one side."""
    for k in range(2, 11):
        x = x + a1 * s * 0.5 / np.sqrt(k) * np.sin(k * phase + rng.uniform(0.0, 2.0 * np.pi))
    for k in (0.5, 1.5, 2.5):
        x = x + a1 * s * 0.35 * np.sin(k * phase + rng.uniform(0.0, 2.0 * np.pi))
    ceiling = float(np.max(x)) * (1.0 - 0.45 * s)
    return np.minimum(x, ceiling)


def _bearing_impulses(
    rng: np.random.Generator, p: MachineProfile, speed: float, phase: np.ndarray, s: float
) -> np.ndarray:
    """Outer-race defect: impulses at BPFO (with slip) ringing the resonance, modulated."""
    period = SAMPLE_RATE / (p.bpfo_ratio * speed)
    n = int(CLIP_SAMPLES / period) + 2
    times = rng.uniform(0.0, period) + period * np.arange(n)
    times = times + rng.normal(0.0, 0.01 * period, size=n)
    idx = np.round(times).astype(np.int64)
    idx = idx[(idx >= 0) & (idx < CLIP_SAMPLES)]
    depth = float(rng.uniform(0.2, 0.6))
    train = np.zeros(CLIP_SAMPLES)
    train[idx] = 0.7 * s * (1.0 + depth * np.cos(phase[idx])) * rng.uniform(0.8, 1.2, idx.size)
    return np.convolve(train, _ring_kernel(p))[:CLIP_SAMPLES]


def to_int16(x_g: np.ndarray) -> np.ndarray:
    """Quantise acceleration in g as the 16-bit ADC does (rounding, saturation)."""
    counts = np.round(x_g * COUNTS_PER_G)
    return np.clip(counts, -32768, 32767).astype(np.int16)


def generate_clip(
    profile: MachineProfile, fault: str, severity: float, rng: np.random.Generator
) -> Clip:
    """One clip. The normal part is drawn first, so the same ``rng`` state gives the same
    machine state with and without the fault (the fault is what differs)."""
    if fault != NORMAL and fault not in FAULT_TYPES:
        raise ValueError(f"unknown fault {fault!r}; known: {NORMAL}, {', '.join(FAULT_TYPES)}")
    speed, phase, amp, noise = _normal_parts(rng, profile)
    s = float(severity)
    if fault == "imbalance":
        amp["a1"] *= 1.0 + 3.0 * s
        amp["mod"] += 0.4 * s  # the whirling rotor modulates the gear mesh at 1x
    elif fault == "misalignment":
        amp["a2"] *= 1.0 + 4.0 * s
        amp["a3"] *= 1.0 + 3.0 * s
        amp["a4"] = 0.4 * s * amp["a1"]
    x = _rotating(rng, profile, phase, amp)
    if fault == "looseness":
        x = _looseness(rng, phase, amp["a1"], s, x)
    elif fault == "bearing":
        x = x + _bearing_impulses(rng, profile, speed, phase, s)
    return Clip(to_int16(x + noise), profile.machine_id, fault, s, speed)


def _severity(rng: np.random.Generator) -> float:
    """Severity in [0.05, 1], skewed towards subtle faults."""
    return 0.05 + 0.95 * float(rng.uniform()) ** 1.5


def generate_set(
    n_normal: int, n_per_fault: int, seed: int, split: int, faults: tuple[str, ...] = FAULT_TYPES
) -> VibrationSet:
    """``n_normal`` normal clips then ``n_per_fault`` clips of each fault, machines taken
    in turn. Clip ``i`` uses ``default_rng([seed, split, i])``."""
    fleet = machine_profiles()
    plan = [NORMAL] * n_normal + [f for f in faults for _ in range(n_per_fault)]
    clips, sev, mids = [], [], []
    for i, fault in enumerate(plan):
        rng = np.random.default_rng([seed, split, i])
        s = 0.0 if fault == NORMAL else _severity(rng)
        c = generate_clip(fleet[i % len(fleet)], fault, s, rng)
        clips.append(c.samples)
        sev.append(c.severity)
        mids.append(c.machine_id)
    faults_arr = np.array(plan)
    return VibrationSet(
        clips=np.stack(clips),
        labels=(faults_arr != NORMAL).astype(np.int64),
        faults=faults_arr,
        severities=np.array(sev, dtype=np.float64),
        machine_ids=np.array(mids, dtype=np.int64),
    )
