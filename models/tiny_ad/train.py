"""Training recipe for tiny-ad: the FC autoencoder (the reference) and a PCA baseline.

    python -m ecoscore.models.tiny_ad.train --data PATH/dev_data/ToyCar --out DIR

The reference's recipe (mlcommons/tiny, anomaly_detection, baseline.yaml and
00_train.py, facts only): every stacked log-mel vector (640 values) of every clip of
``train/`` (normal clips only), Adam at learning rate 1e-3, mean squared error, 100
epochs, batch 512, shuffled. (The reference also holds out 10 % for validation, which only
monitors training.) The autoencoder outputs its reconstruction; tiny-ad scores each vector
by the reconstruction's mean squared error. The baseline: the reconstruction error from
the first 32 principal components of the same vectors, computed inside the model (output:
one score per vector). Both are exported to ONNX and ``.pt2`` in DIR, with summary.json.
"""

from __future__ import annotations

import numpy as np
import torch

from ecoscore.benchmarks.registry import get_workload
from ecoscore.models.tiny_nets import FcAutoencoder
from ecoscore.models.tiny_recipe import (
    Trained,
    base_parser,
    finish,
    fit_pca_baseline,
    recipe_args,
    seed_everything,
    timed,
    train_autoencoder,
)

EPOCHS, BATCH, LR = 100, 512, 1e-3
PCA_COMPONENTS = 32


def main(argv: list[str] | None = None) -> int:
    args = recipe_args(base_parser(__doc__.splitlines()[0], EPOCHS, BATCH).parse_args(argv))
    seed_everything(args.seed, args.threads)
    wl = get_workload("tiny-ad", args.data)
    x = wl.train_split().x
    if args.limit is not None and args.limit < len(x):
        rng = np.random.default_rng(args.seed)
        x = x[np.sort(rng.choice(len(x), size=args.limit, replace=False))]
    net = FcAutoencoder()
    seconds = train_autoencoder(net, x, args.epochs, args.batch, LR, args.seed)
    baseline, base_s = timed(lambda: fit_pca_baseline(x, PCA_COMPONENTS))
    models = [
        Trained("fc-autoencoder", "reference", net, seconds),
        Trained("ad-pca", "baseline", baseline, base_s),
    ]
    return finish(wl, args, models, torch.zeros(2, 640))


if __name__ == "__main__":
    raise SystemExit(main())
