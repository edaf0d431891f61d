"""A plain argparse training script, as users write them for ``wandb agent``."""

import argparse
import sys

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args()

run = wandb.init(config={"batch_size": 16})
for epoch in range(args.epochs):
    wandb.log({"loss": args.lr * (args.epochs - epoch), "epoch": epoch})
run.summary["argv"] = sys.argv[1:]
run.summary["config_lr"] = wandb.config.lr
run.summary["config_batch_size"] = wandb.config.batch_size
print("trained with", args)
wandb.finish()
