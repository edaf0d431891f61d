"""A script that names its run, as users do to find it in the W&B UI: by wandb.init's name
and, with ``--rename``, again once the run is going (``run.name = ...``)."""

import argparse

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--rename", type=int, default=0)
args = parser.parse_args()

run = wandb.init(name=f"lr-{args.lr}")
wandb.log({"loss": args.lr})
if args.rename:
    run.name = f"renamed-{args.lr}"
wandb.finish()
