"""A PyTorch Lightning training as W&B's integration docs write it: ``WandbLogger`` opens the
wandb run, the hyperparameters come from its config, ``self.log`` logs ``val_loss``.
``LIGHTNING_WAIT`` set (a file's path): the run of ``lr`` 0.01 creates that file as its second
epoch starts, then waits there (up to a minute) for the Ctrl-C the test sends."""

from __future__ import annotations

import os
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Model(L.LightningModule):
    def __init__(self, lr: float, hidden: int) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def training_step(self, batch: list[torch.Tensor], index: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: list[torch.Tensor], index: int) -> None:
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

    def on_train_epoch_start(self) -> None:
        marker = os.environ.get("LIGHTNING_WAIT")
        if marker and self.hparams.lr == 0.01 and self.current_epoch == 1:
            Path(marker).touch()
            for _ in range(600):
                time.sleep(0.1)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def _data() -> tuple[DataLoader, DataLoader]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=generator)
    y = x.sum(1, keepdim=True)
    return DataLoader(TensorDataset(x, y), batch_size=16), DataLoader(
        TensorDataset(x, y), batch_size=32
    )


def train() -> None:
    logger = WandbLogger(project="lightning")
    config = logger.experiment.config
    model = Model(lr=config.lr, hidden=config.hidden)
    trainer = L.Trainer(
        max_epochs=config.epochs,
        logger=logger,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(model, *_data())
