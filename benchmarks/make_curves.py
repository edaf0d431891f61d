"""Regenerate ``benchmarks/data/curves_digits.json``: real learning curves for the hyperband
benchmark.

Each configuration is an ``MLPClassifier`` (one hidden layer, adam) trained one epoch at a
time with ``partial_fit`` on scikit-learn's ``load_digits`` and scored after every epoch by
its log-loss on a held-out validation split (accuracy saturates near 98%, so it separates
configurations poorly). Configurations are drawn from a fixed search space with a fixed
seed, so the file is reproducible up to scikit-learn's and the CPU's floating point.

    python benchmarks/make_curves.py [--configs 162] [--epochs 81] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parent / "data" / "curves_digits.json"

#: The search space, in wandb sweep-config words so the benchmark can show it as one.
SPACE: dict[str, Any] = {
    "hidden": {"values": [16, 32, 64, 128]},
    "learning_rate_init": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
    "alpha": {"distribution": "log_uniform_values", "min": 1e-6, "max": 1.0},
    "batch_size": {"values": [16, 32, 64, 128, 256]},
}

VALIDATION_FRACTION = 0.3


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def draw_configs(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` configurations from :data:`SPACE`, each with its own model seed."""
    rng = np.random.default_rng(seed)
    configs = []
    for index in range(n):
        configs.append(
            {
                "index": index,
                "hidden": int(rng.choice(SPACE["hidden"]["values"])),
                "learning_rate_init": round(_log_uniform(rng, 1e-4, 1e-1), 8),
                "alpha": round(_log_uniform(rng, 1e-6, 1.0), 10),
                "batch_size": int(rng.choice(SPACE["batch_size"]["values"])),
                "model_seed": int(rng.integers(0, 2**31 - 1)),
            }
        )
    return configs


def curve(config: dict[str, Any], epochs: int, data: tuple[Any, ...]) -> list[float]:
    """Validation log-loss after each of ``epochs`` epochs of ``partial_fit``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import log_loss
    from sklearn.neural_network import MLPClassifier

    x_train, x_val, y_train, y_val, classes = data
    model = MLPClassifier(
        hidden_layer_sizes=(config["hidden"],),
        learning_rate_init=config["learning_rate_init"],
        alpha=config["alpha"],
        batch_size=config["batch_size"],
        random_state=config["model_seed"],
    )
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(epochs):
            model.partial_fit(x_train, y_train, classes=classes)
            proba = model.predict_proba(x_val)
            losses.append(round(float(log_loss(y_val, proba, labels=classes)), 5))
    return losses


def load_data(seed: int) -> tuple[Any, ...]:
    """Digits scaled to [0, 1], split into a stratified train and validation part."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.data / 16.0
    x_train, x_val, y_train, y_val = train_test_split(
        x, digits.target, test_size=VALIDATION_FRACTION, stratify=digits.target, random_state=seed
    )
    return x_train, x_val, y_train, y_val, np.unique(digits.target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=162)
    parser.add_argument("--epochs", type=int, default=81)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    import sklearn

    data = load_data(args.seed)
    configs = draw_configs(args.configs, args.seed)
    curves = []
    start = time.perf_counter()
    for config in configs:
        curves.append(curve(config, args.epochs, data))
        if (config["index"] + 1) % 20 == 0:
            elapsed = time.perf_counter() - start
            print(f"{config['index'] + 1}/{len(configs)} configurations, {elapsed:.0f} s")
    table = {
        "about": (
            "Validation log-loss per epoch of MLPClassifier.partial_fit on sklearn's "
            "load_digits; written by benchmarks/make_curves.py"
        ),
        "dataset": "sklearn.datasets.load_digits",
        "validation_fraction": VALIDATION_FRACTION,
        "metric": "val_loss",
        "seed": args.seed,
        "epochs": args.epochs,
        "sklearn": sklearn.__version__,
        "space": SPACE,
        "configs": configs,
        "curves": curves,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, separators=(",", ":")) + "\n")
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size / 1024:.0f} KiB) in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
