"""WAV folders in the ToyADMOS, MIMII and DCASE task 2 layouts, for anomaly detection.

The folder is read by :func:`ecoscore.benchmarks.wav_folder.read_wav_folder`, which fixes
the layouts, the labels (``normal``/``anomaly`` in the file name, else the ``normal/`` or
``abnormal/`` folder), the split (``train/`` and ``test/`` as DCASE gives them; for the
MIMII layout its own seeded rule) and the clip length (the median; longer clips are cut,
shorter ones repeated from their start). The split of a workload file must be ``given``:
the layout decides it. The clips must be at the file's ``sample_rate`` (nothing is
resampled); they reach preprocessing as int16 (clips, samples).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from ecoscore.benchmarks.adapters import Context, RawData, RawSplit, _Config, files_sha256
from ecoscore.benchmarks.errors import DataFormatError
from ecoscore.benchmarks.preprocess import Stage

TASKS = ("anomaly",)


class WavFolderConfig(_Config):
    adapter: Literal["wav-folder"]
    sample_rate: Annotated[int, Field(gt=0, strict=True)]
    eval_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    def start_stage(self) -> Stage:
        return Stage("audio", (None,), sample_rate=self.sample_rate)


def read(config: WavFolderConfig, data: Path, ctx: Context) -> RawData:
    import numpy as np

    from ecoscore.benchmarks.wav_folder import read_wav_folder

    if ctx.split.rule != "given":
        raise DataFormatError(
            f'{ctx.where}: split.rule: a WAV folder\'s layout gives its split; use rule = "given"'
        )
    wav = read_wav_folder(data)
    if wav.sample_rate != config.sample_rate:
        raise DataFormatError(
            f"{data}: the clips are at {wav.sample_rate} Hz, the workload file says "
            f"data.sample_rate = {config.sample_rate}"
        )
    return RawData(
        stage=Stage("audio", (wav.clip_samples,), sample_rate=wav.sample_rate),
        train=RawSplit(wav.train, np.zeros(len(wav.train), dtype=np.int64)),
        eval=RawSplit(wav.test, wav.test_labels),
        eval_sha256=files_sha256(data, wav.test_files),
        data_sha256=files_sha256(data, (*wav.train_files, *wav.test_files)),
        description=(
            f"{len(wav.train)} training and {len(wav.test)} evaluation clips of "
            f"{wav.clip_samples} samples at {wav.sample_rate} Hz in {data}"
        ),
    )
