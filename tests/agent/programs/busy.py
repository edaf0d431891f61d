"""Keeps one CPU busy for ``--seconds`` and logs how much work it did."""

import argparse
import time

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--seconds", type=float, default=1.0)
parser.add_argument("--x", type=int, default=0)
args = parser.parse_args()
run = wandb.init()
deadline = time.monotonic() + args.seconds
spins = 0
while time.monotonic() < deadline:
    spins += 1
wandb.log({"loss": float(args.x), "spins": spins})
wandb.finish()
