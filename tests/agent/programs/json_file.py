"""Reads its parameters from the JSON file named by ``${args_json_file}``."""

import json
import sys

import wandb

with open(sys.argv[1], encoding="utf-8") as f:
    params = json.load(f)
run = wandb.init()
wandb.log({"loss": params["opt"]["lr"]})
run.summary["params"] = params
wandb.finish()
