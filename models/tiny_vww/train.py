"""Training recipe for tiny-vww: MobileNetV1 0.25 (the reference) and a logistic-regression
baseline.

    python -m ecoscore.models.tiny_vww.train --data PATH/vw_coco2014_96 --out DIR

The reference's recipe (mlcommons/tiny, visual_wake_words/train_vww.py, facts only): Adam,
categorical cross-entropy, batch 32; 20 epochs at learning rate 1e-3, 10 at 5e-4, 20 at
2.5e-4 (50 in all); augmentation by rotation up to 10 degrees, shifts up to 5 %, zoom up to
10 % and horizontal flips; training on the 90 % of each class that is not the validation
part (tiny-vww's evaluation split). The baseline: scikit-learn logistic regression on the
standardised 8x8-pooled pixels (12x12x3 = 432 features). Both are exported to ONNX and
``.pt2`` (NCHW input (batch, 3, 96, 96)) in DIR, with summary.json.
"""

from __future__ import annotations

import torch

from ecoscore.benchmarks.registry import get_workload
from ecoscore.models.tiny_nets import MobileNetV1
from ecoscore.models.tiny_recipe import (
    Augment,
    Trained,
    base_parser,
    finish,
    fit_logistic_baseline,
    limited,
    recipe_args,
    seed_everything,
    timed,
    train_classifier,
)

EPOCHS, BATCH = 50, 32
AUGMENT = Augment(rotation=10, shift=0.05, zoom=0.1, flip=True)
BASELINE_POOL = 8


def learning_rate(epoch: int) -> float:
    return 1e-3 if epoch < 20 else 5e-4 if epoch < 30 else 2.5e-4


def main(argv: list[str] | None = None) -> int:
    args = recipe_args(base_parser(__doc__.splitlines()[0], EPOCHS, BATCH).parse_args(argv))
    seed_everything(args.seed, args.threads)
    wl = get_workload("tiny-vww", args.data)
    train = limited(wl.train_split(), args.limit, args.seed)
    net = MobileNetV1()
    seconds = train_classifier(
        net, train, args.epochs, args.batch, learning_rate, AUGMENT, args.seed
    )
    baseline, base_s = timed(lambda: fit_logistic_baseline(train, BASELINE_POOL))
    models = [
        Trained("mobilenet-v1-0.25", "reference", net, seconds),
        Trained("vww-logreg", "baseline", baseline, base_s),
    ]
    return finish(wl, args, models, torch.zeros(2, 3, 96, 96))


if __name__ == "__main__":
    raise SystemExit(main())
