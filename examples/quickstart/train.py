"""A small training function written for wandb, unchanged: it only uses wandb.init,
wandb.config and wandb.log. It fits a logistic regression by gradient descent on
synthetic data (no downloads) and logs the validation loss each epoch."""

from __future__ import annotations

import numpy as np
import wandb


def make_data(seed: int = 0, n: int = 600, d: int = 10) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    w_true = rng.normal(size=d)
    y = (x @ w_true + 0.5 * rng.normal(size=n) > 0).astype(float)
    return x[:400], y[:400], x[400:], y[400:]


def log_loss(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    p = 1.0 / (1.0 + np.exp(-(x @ w)))
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def train() -> None:
    defaults = {"lr": 0.1, "epochs": 20, "optimizer": {"momentum": 0.0, "weight_decay": 0.0}}
    with wandb.init(config=defaults) as run:
        cfg = run.config
        x, y, x_val, y_val = make_data()
        w = np.zeros(x.shape[1])
        velocity = np.zeros_like(w)
        for epoch in range(cfg.epochs):
            p = 1.0 / (1.0 + np.exp(-(x @ w)))
            grad = x.T @ (p - y) / len(y) + cfg.optimizer["weight_decay"] * w
            velocity = cfg.optimizer["momentum"] * velocity - cfg.lr * grad
            w = w + velocity
            wandb.log(
                {
                    "epoch": epoch,
                    "train_loss": log_loss(w, x, y),
                    "val_loss": log_loss(w, x_val, y_val),
                }
            )


if __name__ == "__main__":  # program mode: `localsweep agent` / `wandb agent` start this file
    train()
