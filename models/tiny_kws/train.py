"""Training recipe for tiny-kws: DS-CNN (the reference) and a logistic-regression baseline.

    python -m ecoscore.models.tiny_kws.train --train-data PATH/speech_commands_v0.02 \\
        --data PATH/speech_commands_test_set_v0.02.tar.gz --out DIR

The reference's recipe (mlcommons/tiny, keyword_spotting/train.py and kws_util.py, facts
only): Adam, cross-entropy, batch 100, 36 epochs (the reference build script uses 30),
learning rate 5e-4 for epochs 0-11, 1e-4 for 12-23, 2e-5 from 24; training split built by
TensorFlow Datasets from the main archive (``load_training_folder``). Not reproduced: the
reference mixes background noise into training clips; this recipe trains on clean clips.
The baseline: scikit-learn logistic regression on the 490 standardised MFCCs. Both are
exported to ONNX and ``.pt2`` (NCHW input (batch, 1, 49, 10)) in DIR, with summary.json;
quality is reported on the test archive given with --data.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ecoscore.benchmarks.registry import get_workload
from ecoscore.benchmarks.tiny_kws import load_training_folder
from ecoscore.models.tiny_nets import DsCnn
from ecoscore.models.tiny_recipe import (
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

EPOCHS, BATCH = 36, 100


def learning_rate(epoch: int) -> float:
    return 5e-4 if epoch < 12 else 1e-4 if epoch < 24 else 2e-5


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0], EPOCHS, BATCH)
    parser.add_argument(
        "--train-data", type=Path, required=True, help="the speech_commands_v0.02 folder"
    )
    ns = parser.parse_args(argv)
    args = recipe_args(ns)
    seed_everything(args.seed, args.threads)
    wl = get_workload("tiny-kws", args.data)
    train, _validation = load_training_folder(ns.train_data)
    train = limited(train, args.limit, args.seed)
    net = DsCnn()
    seconds = train_classifier(net, train, args.epochs, args.batch, learning_rate, None, args.seed)
    baseline, base_s = timed(lambda: fit_logistic_baseline(train, 1))
    models = [
        Trained("ds-cnn", "reference", net, seconds),
        Trained("kws-logreg", "baseline", baseline, base_s),
    ]
    return finish(wl, args, models, torch.zeros(2, 1, 49, 10))


if __name__ == "__main__":
    raise SystemExit(main())
