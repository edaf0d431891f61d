"""Logs a row, then dies by SIGKILL (as the out-of-memory killer would end it)."""

import os
import signal
import time

import wandb

wandb.init()
wandb.log({"loss": 1.0})
time.sleep(1.5)  # let the row reach the file
os.kill(os.getpid(), signal.SIGKILL)
