"""Boolean options as bare flags (``${args_no_boolean_flags}``)."""

import argparse
import sys

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--augment", action="store_true")
parser.add_argument("--lr", type=float)
args = parser.parse_args()
run = wandb.init()
wandb.log({"loss": args.lr})
run.summary["argv"] = sys.argv[1:]
run.summary["augment"] = args.augment
wandb.finish()
