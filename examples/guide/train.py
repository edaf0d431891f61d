"""The training code of the user's guide this project was built from, as the guide writes it.

Steps 2, 4.1 and 6 of the guide: defaults for ``wandb.init(config=...)``, a training loop
that reads ``wandb.config`` and ``wandb.log``s ``train_loss``, ``val_loss`` and
``val_accuracy`` every epoch, and step 6's ``wandb.init`` with ``early_stopping_metric`` and
``early_stopping_threshold``. wandb itself has no such arguments (it raises a
``TypeError``); in a run localsweep starts they stop the run once ``val_loss`` improves by
0.01 or less in an epoch.

The guide leaves ``train_one_epoch`` and ``validate_model`` to the reader; here they train
a softmax regression by mini-batch gradient descent on synthetic data (numpy only, no
downloads), so the example runs anywhere in seconds.
"""

from __future__ import annotations

import numpy as np
import wandb

# Step 2: the defaults wandb.init(config=...) starts from; the sweep overrides them.
config = {
    "batch_size": 32,
    "learning_rate": 0.001,
    "epochs": 10,
}

CLASSES = 4
FEATURES = 8


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=1.5, size=(CLASSES, FEATURES))
    labels = rng.integers(CLASSES, size=1200)
    x = centers[labels] + rng.normal(size=(len(labels), FEATURES))
    return x[:1000], labels[:1000], x[1000:], labels[1000:]


X_TRAIN, Y_TRAIN, X_VAL, Y_VAL = _data()
_model: dict[str, np.ndarray] = {}


def _loss_and_accuracy(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    logits = x @ _model["w"]
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    loss = float(-log_p[np.arange(len(y)), y].mean())
    return loss, float((log_p.argmax(axis=1) == y).mean())


def train_one_epoch(batch_size: int, learning_rate: float) -> float:
    """One pass over the training set in mini-batches; returns the training loss."""
    order = np.random.default_rng(len(_model["seen"])).permutation(len(Y_TRAIN))
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        x, y = X_TRAIN[batch], Y_TRAIN[batch]
        logits = x @ _model["w"]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(y)), y] -= 1.0
        _model["w"] -= learning_rate * x.T @ p / len(y)
    _model["seen"] = np.append(_model["seen"], 1)
    return _loss_and_accuracy(X_TRAIN, Y_TRAIN)[0]


def validate_model() -> tuple[float, float]:
    """The validation loss and accuracy."""
    return _loss_and_accuracy(X_VAL, Y_VAL)


def train() -> None:
    """Steps 6 and 4.1 of the guide: early stopping in wandb.init, then the training loop."""
    _model["w"] = np.zeros((FEATURES, CLASSES))
    _model["seen"] = np.zeros(0)
    wandb.init(
        config=config,
        project="your_project_name",
        early_stopping_metric="val_loss",
        early_stopping_threshold=0.01,
    )

    # 从wandb获取超参数配置 (the hyperparameters, from wandb)
    batch_size = wandb.config.batch_size
    learning_rate = wandb.config.learning_rate

    for epoch in range(wandb.config.epochs):
        train_loss = train_one_epoch(batch_size, learning_rate)
        val_loss, val_acc = validate_model()
        wandb.log(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_accuracy": val_acc,
            }
        )
