"""Ignores SIGINT and SIGTERM, starts a grandchild that ignores them too, and never ends.

The grandchild's pid goes to ``grandchild.pid`` in the working directory.
"""

import signal
import subprocess
import time

signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
# Ignored signals stay ignored across exec, so only SIGKILL can end the grandchild.
grandchild = subprocess.Popen(["sleep", "600"])
with open("grandchild.pid", "w") as f:
    f.write(str(grandchild.pid))

import wandb  # noqa: E402

wandb.init()
wandb.log({"loss": 1.0})
while True:
    time.sleep(1)
