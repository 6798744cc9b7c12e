"""tiny-vww: MLPerf Tiny's visual-wake-words task (vww01), person / no person, from the
user's disk.

As the MLPerf Tiny reference defines it (docs/tiny_tasks.md): the Silicon Labs build of
COCO 2014 at 96x96 (``vw_coco2014_96/``, folders ``non_person/`` = class 0 and
``person/`` = class 1, images with a person box over 2.5 % of the image, resized without
keeping the aspect ratio); RGB pixels / 255 in [0, 1], channels last (NHWC); top-1
accuracy, target 80 %. The reference model is MobileNetV1 with width 0.25
(``models/tiny_vww``).

Evaluation split: the reference trains on 90 % and validates on 10 % of the same folder,
split per class by sorted file name (the first 10 % of each class's sorted names,
``int(0.1 * n)`` of them, are validation; Keras's ``validation_split``). That validation
part is the evaluation split here; the other 90 % is the training split of the recipe.
(The closed division checks its 80 % on 1,000 images, vww01, whose origin the reference
does not document.)

Images are files with an image extension directly in the two class folders; each must
decode to 96x96 (the published archive holds nothing else). No checksum of the archive is
published, so every run of tiny-vww is non-reference data until one is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecoscore.benchmarks.base import ScenarioDefaults, Split, TensorSpec, Workload, WorkloadInfo
from ecoscore.benchmarks.errors import DataFormatError
from ecoscore.benchmarks.reference_data import DataCheck, check_files, combined_sha256

FOLDER_NAME = "vw_coco2014_96"
CLASS_NAMES = ("non_person", "person")
SIZE = 96
VALIDATION_FRACTION = 0.1
#: The extensions Keras's directory iterator reads (case-insensitive).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff")

INFO = WorkloadInfo(
    name="tiny-vww",
    version="1.0",
    family="vision",
    task="classification",
    description=(
        "MLPerf Tiny visual wake words (vww01): person / no person on the Silicon Labs "
        "vw_coco2014_96 build of COCO 2014; evaluation on the reference's validation part "
        "(the first 10 % of each class by sorted file name). Input float32 (N, 96, 96, 3) "
        "NHWC, RGB / 255 in [0, 1]; NCHW models get the same values transposed. Classes: "
        "0 non_person, 1 person."
    ),
    metric="accuracy",
    quality_gate=0.80,
    gate_rationale=(
        "80 % top-1 is MLPerf Tiny's closed-division target for visual wake words (benchmark "
        "README and submission checker of mlcommons/tiny), met by the reference MobileNetV1 "
        "0.25 (221,794 parameters)."
    ),
    input=TensorSpec("input", "float32", (None, SIZE, SIZE, 3), "NHWC"),
    num_classes=2,
    class_names=CLASS_NAMES,
    eval_sha256="",
    scenarios=ScenarioDefaults(),
)


def resolve_folder(path: Path) -> Path:
    """The folder holding ``non_person/`` and ``person/``: ``path`` or its vw_coco2014_96."""
    path = Path(path)
    if (path / FOLDER_NAME).is_dir():
        path = path / FOLDER_NAME
    if not path.is_dir():
        raise DataFormatError(f"{path}: not a folder (expected {FOLDER_NAME}/)")
    for name in CLASS_NAMES:
        if not (path / name).is_dir():
            raise DataFormatError(
                f"{path}: no {name}/ folder ({FOLDER_NAME} holds non_person/ and person/)"
            )
    extra = sorted(p.name for p in path.iterdir() if p.is_dir() and p.name not in CLASS_NAMES)
    if extra:
        raise DataFormatError(
            f"{path / extra[0]}: unexpected class folder (the task has two: non_person, person)"
        )
    return path


def class_files(folder: Path, name: str) -> list[Path]:
    """A class folder's images in sorted name order; a sub-folder is refused."""
    out = []
    for p in sorted((folder / name).iterdir(), key=lambda p: p.name):
        if p.is_dir():
            raise DataFormatError(f"{p}: a folder inside {name}/ (images only are expected)")
        if p.name.lower().endswith(IMAGE_EXTENSIONS):
            out.append(p)
    if not out:
        raise DataFormatError(f"{folder / name}: no images")
    return out


def split_files(folder: Path) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """(training, evaluation) files with labels: per class, the first
    ``int(0.1 * n)`` sorted names are evaluation, the rest training."""
    train, evaluation = [], []
    for label, name in enumerate(CLASS_NAMES):
        files = class_files(folder, name)
        cut = int(VALIDATION_FRACTION * len(files))
        evaluation += [(p, label) for p in files[:cut]]
        train += [(p, label) for p in files[cut:]]
    if not evaluation:
        raise DataFormatError(f"{folder}: too few images for a 10 % evaluation split")
    return train, evaluation


def read_image(path: Path) -> np.ndarray:
    """uint8 (96, 96, 3) RGB; any other size is refused (it is not the published data)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise DataFormatError(f"{path}: not a readable image: {e}") from None
    if rgb.shape != (SIZE, SIZE, 3):
        raise DataFormatError(
            f"{path}: {rgb.shape[1]}x{rgb.shape[0]} pixels; the published images are {SIZE}x{SIZE}"
        )
    return rgb


def preprocess(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 96, 96, 3) -> float32 / 255 in [0, 1]."""
    return np.ascontiguousarray(images, dtype=np.float32) / np.float32(255.0)


def load_split(files: list[tuple[Path, int]]) -> Split:
    x = preprocess(np.stack([read_image(p) for p, _ in files]))
    return Split(x=x, y=np.asarray([label for _, label in files], dtype=np.int64))


class TinyVww(Workload):
    info = INFO

    def __init__(self, data: Path) -> None:
        self.path = Path(data)
        self.folder = resolve_folder(self.path)
        self._train_files, self._eval_files = split_files(self.folder)
        self._eval: Split | None = None
        self._check: DataCheck | None = None

    @property
    def data_source(self) -> str:
        return f"user:{self.path}"

    def train_split(self) -> Split:
        return load_split(self._train_files)

    def _eval_split(self) -> Split:
        if self._eval is None:
            self._eval = load_split(self._eval_files)
        return self._eval

    def data_check(self) -> DataCheck:
        if self._check is None:
            self._eval_split()  # a wrong layout is refused before any checksum is computed
            given = {p.relative_to(self.folder).as_posix(): p for p, _ in self._eval_files}
            self._check = check_files(self.info.name, given)
        return self._check

    def eval_data_sha256(self) -> str:
        """One sha256 over the evaluation images (relative path and sha256 of each)."""
        return combined_sha256(self.data_check().files)
