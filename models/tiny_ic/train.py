"""Training recipe for tiny-ic: ResNet-8 (the reference) and a logistic-regression baseline.

    python -m ecoscore.models.tiny_ic.train --data PATH/cifar-10-batches-py --out DIR

The reference's recipe (mlcommons/tiny, image_classification/train.py, facts only): Adam,
learning rate 0.001 x 0.99^epoch, 500 epochs, batch 32, cross-entropy, augmentation by
rotation up to 15 degrees, shifts up to 10 % and horizontal flips; training on the five
data batches; unscaled pixels (0..255). The baseline: scikit-learn logistic regression on
the standardised 4x4-pooled pixels (8x8x3 = 192 features). Both are exported to ONNX and
``.pt2`` (NCHW input, dynamic batch) in DIR, with ``summary.json``.
"""

from __future__ import annotations

import torch

from ecoscore.benchmarks.registry import get_workload
from ecoscore.models.tiny_nets import ResNet8
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

EPOCHS, BATCH, LR, DECAY = 500, 32, 1e-3, 0.99
AUGMENT = Augment(rotation=15, shift=0.1, flip=True)
BASELINE_POOL = 4


def main(argv: list[str] | None = None) -> int:
    args = recipe_args(base_parser(__doc__.splitlines()[0], EPOCHS, BATCH).parse_args(argv))
    seed_everything(args.seed, args.threads)
    wl = get_workload("tiny-ic", args.data)
    train = limited(wl.train_split(), args.limit, args.seed)
    net = ResNet8()
    seconds = train_classifier(
        net, train, args.epochs, args.batch, lambda e: LR * DECAY**e, AUGMENT, args.seed
    )
    baseline, base_s = timed(lambda: fit_logistic_baseline(train, BASELINE_POOL))
    models = [
        Trained("resnet8", "reference", net, seconds),
        Trained("ic-logreg", "baseline", baseline, base_s),
    ]
    return finish(wl, args, models, torch.zeros(2, 3, 32, 32))


if __name__ == "__main__":
    raise SystemExit(main())
