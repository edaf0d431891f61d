"""A program whose wandb run is started, with ``dir=elsewhere``, by a Python process that
ignores ``PYTHONPATH`` (``python -I``): localsweep is not told where its folder is."""

import subprocess
import sys

CODE = "import wandb\nwith wandb.init(dir='elsewhere') as run:\n    run.log({'loss': 1.0})\n"

if __name__ == "__main__":
    subprocess.run(["mkdir", "-p", "elsewhere"], check=True)
    sys.exit(subprocess.run([sys.executable, "-I", "-c", CODE], timeout=120).returncode)
