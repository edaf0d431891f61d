"""Logs a loss curve whose level is ``--quality`` (lower is better), one row per ``--pace`` s."""

import argparse
import time

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--quality", type=float, required=True)
parser.add_argument("--epochs", type=int, default=6)
parser.add_argument("--pace", type=float, default=0.0)
args = parser.parse_args()
run = wandb.init()
for epoch in range(args.epochs):
    wandb.log({"loss": args.quality / (epoch + 1)})
    time.sleep(args.pace)
wandb.finish()
