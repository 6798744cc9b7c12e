"""The preprocessing vocabulary of workload files: each step a pydantic model that says where
it applies, what shape it gives, and how it transforms a batch.

Steps run in the order the file lists them, on what the data adapter gives:

- ``images``: a list of uint8 pixel arrays (height, width, channels), one per image;
- ``audio``: int16 clips (clips, samples) of one length, with their sample rate;
- ``features``: a table (rows, features);

and then on the arrays the steps make (``spectrogram``: (clips, time, values); ``tensor``:
an array already laid out for the model).

Rules enforced here (a file that breaks one is refused, the message naming the step):

- ``resize`` and ``centre-crop`` apply to images, before any other step;
- ``framing``, ``log-mel`` and ``mfcc`` apply to audio clips, as its first step, at most one;
- ``normalise`` with one value per channel applies before ``layout`` (channels last);
- ``layout`` comes at most once: images to NCHW, NHWC or flat; a spectrogram to NCHW
  (a channel axis first), NHWC (last) or flat;
- ``dtype`` comes last; a cast to an integer type rounds and refuses values out of range.

Until ``layout``, images are handled channels-last (height, width, channels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["images", "audio", "features", "spectrogram", "tensor"]
PositiveInt = Annotated[int, Field(gt=0, strict=True)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class StepError(ValueError):
    """A step cannot apply where the file puts it (the caller adds which step)."""


@dataclass(frozen=True)
class Stage:
    """What the data is before a step: its kind, the shape of one sample (None where only the
    data tells), and the audio sample rate."""

    kind: Kind
    shape: tuple[int | None, ...]
    sample_rate: int | None = None
    laid_out: bool = False  # a layout step has run
    cast: bool = False  # a dtype step has run
    rank_known: bool = True  # False: even the number of axes is known only from the data


@dataclass
class Batch:
    """Data between steps: ``x`` is a list of images, or one array."""

    stage: Stage
    x: list[np.ndarray] | np.ndarray


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def check(self, stage: Stage) -> Stage:
        """The stage after this step, or StepError when the step does not apply."""
        raise StepError("unknown step")

    def apply(self, batch: Batch) -> Batch:
        raise StepError("unknown step")

    def describe(self) -> str:
        raise StepError("unknown step")


def _no_cast_before(stage: Stage, op: str) -> None:
    if stage.cast:
        raise StepError(f"'{op}' comes after 'dtype'; 'dtype' must be the last step")


def _stacked(batch: Batch) -> np.ndarray:
    """Images stacked into one array (they must all have one size by now)."""
    if isinstance(batch.x, np.ndarray):
        return batch.x
    sizes = {img.shape for img in batch.x}
    if len(sizes) > 1:
        shown = ", ".join(str(s) for s in sorted(sizes)[:3])
        raise StepError(
            f"the images have {len(sizes)} different sizes ({shown}...); add a 'resize' "
            "(or 'centre-crop') step first"
        )
    if not batch.x:
        return np.zeros((0, *batch.stage.shape), dtype=np.uint8)  # type: ignore[misc]
    return np.stack(batch.x)


class Resize(_Step):
    """Resize every image to ``size`` = [height, width] (Pillow, bilinear or nearest)."""

    op: Literal["resize"]
    size: tuple[PositiveInt, PositiveInt]
    method: Literal["bilinear", "nearest"] = "bilinear"

    def check(self, stage: Stage) -> Stage:
        if stage.kind != "images":
            raise StepError(f"'resize' applies to images, and the data here is {stage.kind}")
        return replace(stage, shape=(*self.size, stage.shape[2]))

    def apply(self, batch: Batch) -> Batch:
        from PIL import Image

        resample = Image.Resampling.BILINEAR if self.method == "bilinear" else Image.NEAREST
        h, w = self.size
        out = []
        for img in _image_list(batch):
            if img.shape[:2] == (h, w):
                out.append(img)
                continue
            channels = [
                np.asarray(Image.fromarray(img[:, :, c]).resize((w, h), resample))
                for c in range(img.shape[2])
            ]
            out.append(np.stack(channels, axis=2))
        return Batch(self.check(batch.stage), out)

    def describe(self) -> str:
        return f"resize to {self.size[0]}x{self.size[1]} pixels ({self.method})"


class CentreCrop(_Step):
    """Cut the centre ``size`` = [height, width] out of every image."""

    op: Literal["centre-crop"]
    size: tuple[PositiveInt, PositiveInt]

    def check(self, stage: Stage) -> Stage:
        if stage.kind != "images":
            raise StepError(f"'centre-crop' applies to images, and the data here is {stage.kind}")
        h, w = self.size
        if (stage.shape[0] is not None and stage.shape[0] < h) or (
            stage.shape[1] is not None and stage.shape[1] < w
        ):
            raise StepError(
                f"'centre-crop' to {h}x{w} is larger than the images ({stage.shape[0]}x"
                f"{stage.shape[1]})"
            )
        return replace(stage, shape=(h, w, stage.shape[2]))

    def apply(self, batch: Batch) -> Batch:
        h, w = self.size
        out = []
        for img in _image_list(batch):
            if img.shape[0] < h or img.shape[1] < w:
                raise StepError(
                    f"'centre-crop' to {h}x{w}: an image is {img.shape[0]}x{img.shape[1]}"
                )
            top, left = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
            out.append(img[top : top + h, left : left + w])
        return Batch(self.check(batch.stage), out)

    def describe(self) -> str:
        return f"centre-crop to {self.size[0]}x{self.size[1]} pixels"


def _image_list(batch: Batch) -> list[np.ndarray]:
    if isinstance(batch.x, np.ndarray):
        return list(batch.x)
    return batch.x


class Scale(_Step):
    """Multiply by ``factor`` (e.g. 1/255 for pixels), in float32."""

    op: Literal["scale"]
    factor: PositiveFloat

    def check(self, stage: Stage) -> Stage:
        _no_cast_before(stage, "scale")
        return stage

    def apply(self, batch: Batch) -> Batch:
        x = _stacked(batch).astype(np.float32) * np.float32(self.factor)
        return Batch(self.check(batch.stage), x)

    def describe(self) -> str:
        return f"multiply by {self.factor:.10g} (float32)"


class Normalise(_Step):
    """``(x - mean) / std``, one value for all, or one per channel (images) or per feature
    (tables), on the last axis, before ``layout``."""

    op: Literal["normalise"]
    mean: list[Finite] = Field(min_length=1)
    std: list[PositiveFloat] = Field(min_length=1)

    def check(self, stage: Stage) -> Stage:
        _no_cast_before(stage, "normalise")
        if len(self.mean) != len(self.std):
            raise StepError(
                f"'normalise' has {len(self.mean)} mean(s) and {len(self.std)} std(s); give "
                "as many of each"
            )
        n = len(self.mean)
        if n > 1:
            if stage.laid_out:
                raise StepError(
                    "'normalise' with one value per channel comes before 'layout' (channels "
                    "are last until then)"
                )
            last = stage.shape[-1] if stage.shape else None
            if stage.kind not in ("images", "features", "spectrogram"):
                raise StepError(f"'normalise' per channel does not apply to {stage.kind}")
            if last is not None and last != n:
                raise StepError(
                    f"'normalise' gives {n} values, and the data has {last} on its last axis "
                    "(channels or features)"
                )
        return stage

    def apply(self, batch: Batch) -> Batch:
        x = _stacked(batch).astype(np.float32)
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        if len(self.mean) > 1 and x.shape[-1] != len(self.mean):
            raise StepError(
                f"'normalise' gives {len(self.mean)} values, and the data has {x.shape[-1]} "
                "on its last axis"
            )
        return Batch(self.check(batch.stage), (x - mean) / std)

    def describe(self) -> str:
        def fmt(v: list[float]) -> str:
            return ", ".join(f"{a:.6g}" for a in v)

        return f"subtract mean [{fmt(self.mean)}], divide by std [{fmt(self.std)}]"


class Layout(_Step):
    """Lay the data out for the model: NCHW, NHWC or flat (batch, values)."""

    op: Literal["layout"]
    to: Literal["NCHW", "NHWC", "flat"]

    def check(self, stage: Stage) -> Stage:
        _no_cast_before(stage, "layout")
        if stage.laid_out:
            raise StepError("'layout' is given twice")
        if stage.kind not in ("images", "spectrogram", "features"):
            raise StepError(f"'layout' applies to images or spectrograms, not to {stage.kind}")
        if stage.kind == "features" and self.to != "flat":
            raise StepError(
                "a table's rows are already (batch, features); 'layout' can only be flat"
            )
        s = stage.shape
        if self.to == "flat":
            size = None if any(d is None for d in s) else int(np.prod(s))
            shape: tuple[int | None, ...] = (size,)
        elif stage.kind == "images":
            shape = (s[2], s[0], s[1]) if self.to == "NCHW" else s
        else:
            shape = (1, *s) if self.to == "NCHW" else (*s, 1)
        return replace(stage, kind="tensor", shape=shape, laid_out=True)

    def apply(self, batch: Batch) -> Batch:
        x = _stacked(batch)
        kind = batch.stage.kind
        if self.to == "flat":
            x = x.reshape(len(x), -1)
        elif kind == "images":
            x = x.transpose(0, 3, 1, 2) if self.to == "NCHW" else x
        else:
            x = x[:, None] if self.to == "NCHW" else x[..., None]
        return Batch(self.check(batch.stage), np.ascontiguousarray(x))

    def describe(self) -> str:
        return {
            "NCHW": "layout NCHW (batch, channels, height, width)",
            "NHWC": "layout NHWC (batch, height, width, channels)",
            "flat": "flatten to (batch, values)",
        }[self.to]


_INT_RANGES = {"uint8": (0, 255), "int8": (-128, 127), "int64": (-(2**62), 2**62)}


class Dtype(_Step):
    """Cast to the model's input type; the last step. Integer types round to the nearest and
    refuse values outside their range (nothing is clipped silently)."""

    op: Literal["dtype"]
    to: Literal["float32", "float16", "uint8", "int8", "int64"]

    def check(self, stage: Stage) -> Stage:
        _no_cast_before(stage, "dtype")
        return replace(stage, cast=True)

    def apply(self, batch: Batch) -> Batch:
        x = _stacked(batch)
        if self.to in _INT_RANGES:
            lo, hi = _INT_RANGES[self.to]
            r = np.rint(x.astype(np.float64))
            if r.size and (r.min() < lo or r.max() > hi):
                raise StepError(
                    f"'dtype' {self.to}: values run from {r.min():g} to {r.max():g}, outside "
                    f"[{lo}, {hi}]; scale them first"
                )
            x = r.astype(self.to)
        else:
            x = x.astype(self.to)
        return Batch(self.check(batch.stage), np.ascontiguousarray(x))

    def describe(self) -> str:
        return f"cast to {self.to}" + (" (rounded)" if self.to in _INT_RANGES else "")


def _audio_first(stage: Stage, op: str) -> int:
    if stage.kind != "audio":
        raise StepError(f"'{op}' applies to audio clips, and the data here is {stage.kind}")
    if stage.sample_rate is None:
        raise StepError(f"'{op}' needs the clips' sample rate")
    return stage.sample_rate


def _per_clip(batch: Batch, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    clips = np.asarray(batch.x)
    out = [fn(c.astype(np.float64) / 32768.0) for c in clips]
    return np.stack(out).astype(np.float32) if out else np.zeros((0, 0, 0), np.float32)


class Framing(_Step):
    """Cut each clip into frames of ``length`` samples every ``hop`` samples, scaled to
    [-1, 1]: (clips, frames, length)."""

    op: Literal["framing"]
    length: PositiveInt
    hop: PositiveInt

    def check(self, stage: Stage) -> Stage:
        _audio_first(stage, "framing")
        n = stage.shape[0]
        if n is not None and n < self.length:
            raise StepError(f"'framing': clips of {n} samples are shorter than one frame")
        frames = None if n is None else 1 + (n - self.length) // self.hop
        return replace(stage, kind="spectrogram", shape=(frames, self.length))

    def apply(self, batch: Batch) -> Batch:
        stage = self.check(replace(batch.stage, shape=(np.asarray(batch.x).shape[1],)))

        def cut(c: np.ndarray) -> np.ndarray:
            n = 1 + (c.size - self.length) // self.hop
            idx = np.arange(self.length)[None, :] + self.hop * np.arange(n)[:, None]
            return c[idx]

        return Batch(stage, _per_clip(batch, cut))

    def describe(self) -> str:
        return f"frames of {self.length} samples every {self.hop} (int16 / 32768)"


class LogMel(_Step):
    """Stacked log-mel frames per clip (MLPerf Tiny anomaly detection style):
    (clips, vectors, n_mels * frames)."""

    op: Literal["log-mel"]
    n_fft: PositiveInt
    hop_length: PositiveInt
    n_mels: PositiveInt
    frames: PositiveInt = 1
    power: PositiveFloat = 2.0

    def check(self, stage: Stage) -> Stage:
        _audio_first(stage, "log-mel")
        n = stage.shape[0]
        vectors = None
        if n is not None:
            count = 1 + (n - self.n_fft) // self.hop_length if n >= self.n_fft else 0
            vectors = count - self.frames + 1
            if vectors < 1:
                raise StepError(f"'log-mel': clips of {n} samples give no vector")
        return replace(stage, kind="spectrogram", shape=(vectors, self.n_mels * self.frames))

    def apply(self, batch: Batch) -> Batch:
        from ecoscore.benchmarks.audio_features import log_mel_frames

        stage = self.check(replace(batch.stage, shape=(np.asarray(batch.x).shape[1],)))
        rate = stage.sample_rate or 0
        x = _per_clip(
            batch,
            lambda c: log_mel_frames(
                c, rate, self.n_fft, self.hop_length, self.n_mels, self.frames, self.power
            ),
        )
        return Batch(stage, x)

    def describe(self) -> str:
        return (
            f"log-mel: n_fft {self.n_fft}, hop {self.hop_length}, {self.n_mels} mel bands, "
            f"power {self.power:g}, {self.frames} frame(s) per vector"
        )


class Mfcc(_Step):
    """MFCC per clip (MLPerf Tiny keyword spotting style): (clips, frames, coefficients)."""

    op: Literal["mfcc"]
    frame_length_s: PositiveFloat
    frame_step_s: PositiveFloat
    fft_length: PositiveInt
    num_mel_bins: PositiveInt
    lower_hz: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 20.0
    upper_hz: PositiveFloat = 4000.0
    num_coefficients: PositiveInt = 10
    log_offset: PositiveFloat = 1e-6

    def check(self, stage: Stage) -> Stage:
        rate = _audio_first(stage, "mfcc")
        if self.num_coefficients > self.num_mel_bins:
            raise StepError("'mfcc': num_coefficients is larger than num_mel_bins")
        if not self.lower_hz < self.upper_hz <= rate / 2:
            raise StepError(
                f"'mfcc': need lower_hz < upper_hz <= {rate / 2:g} (half the sample rate)"
            )
        length = int(round(self.frame_length_s * rate))
        if self.fft_length < length:
            raise StepError(f"'mfcc': fft_length is shorter than a frame ({length} samples)")
        n = stage.shape[0]
        frames = None
        if n is not None:
            if n < length:
                raise StepError(f"'mfcc': clips of {n} samples are shorter than one frame")
            frames = 1 + (n - length) // int(round(self.frame_step_s * rate))
        return replace(stage, kind="spectrogram", shape=(frames, self.num_coefficients))

    def apply(self, batch: Batch) -> Batch:
        from ecoscore.benchmarks.audio_features import mfcc

        stage = self.check(replace(batch.stage, shape=(np.asarray(batch.x).shape[1],)))
        rate = stage.sample_rate or 0
        x = _per_clip(
            batch,
            lambda c: mfcc(
                c,
                rate,
                self.frame_length_s,
                self.frame_step_s,
                self.fft_length,
                self.num_mel_bins,
                self.lower_hz,
                self.upper_hz,
                self.num_coefficients,
                self.log_offset,
            ),
        )
        return Batch(stage, x)

    def describe(self) -> str:
        return (
            f"MFCC: frames of {self.frame_length_s:g} s every {self.frame_step_s:g} s, FFT "
            f"{self.fft_length}, {self.num_mel_bins} mel bands {self.lower_hz:g}-"
            f"{self.upper_hz:g} Hz, {self.num_coefficients} coefficients, log offset "
            f"{self.log_offset:g}"
        )


Step = Annotated[
    Resize | CentreCrop | Scale | Normalise | Layout | Dtype | Framing | LogMel | Mfcc,
    Field(discriminator="op"),
]
#: The vocabulary, by the ``op`` a file writes.
OPS: tuple[str, ...] = (
    "resize", "centre-crop", "scale", "normalise", "layout", "dtype", "framing", "log-mel", "mfcc",
)  # fmt: skip
_GEOMETRY = ("resize", "centre-crop")
_AUDIO = ("framing", "log-mel", "mfcc")


def check_steps(steps: list[_Step], start: Stage) -> tuple[Stage, list[str]]:
    """The stage after every step, and one problem per step that cannot apply
    (``preprocess[2]: ...``)."""
    problems: list[str] = []
    stage = start
    for i, step in enumerate(steps):
        op = getattr(step, "op", "")
        if op in _GEOMETRY and any(getattr(s, "op", "") not in _GEOMETRY for s in steps[:i]):
            problems.append(f"preprocess[{i}]: '{op}' must come before the other steps")
            continue
        if op in _AUDIO and i != 0:
            problems.append(f"preprocess[{i}]: '{op}' must be the first step (one audio feature)")
            continue
        try:
            stage = step.check(stage)
        except StepError as e:
            problems.append(f"preprocess[{i}]: {e}")
    return stage, problems


def run_steps(steps: list[_Step], batch: Batch) -> np.ndarray:
    """Apply the steps in order; the result is one array (batch first)."""
    for i, step in enumerate(steps):
        try:
            batch = step.apply(batch)
        except StepError as e:
            raise StepError(f"preprocess[{i}]: {e}") from None
    return _stacked(batch)
