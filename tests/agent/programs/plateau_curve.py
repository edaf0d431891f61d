"""Logs ``val_loss``: falling by 0.1 a row for ``--improve`` rows, then flat, one row per
``--pace`` s, ``--epochs`` rows in all (wandb's own init: no early_stopping arguments)."""

import argparse
import time

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--improve", type=int, required=True)
parser.add_argument("--epochs", type=int, default=40)
parser.add_argument("--pace", type=float, default=0.05)
args = parser.parse_args()
run = wandb.init()
for epoch in range(args.epochs):
    wandb.log({"val_loss": 5.0 - 0.1 * min(epoch, args.improve), "epoch": epoch})
    time.sleep(args.pace)
wandb.finish()
