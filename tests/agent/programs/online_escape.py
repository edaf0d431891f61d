"""A program whose wandb run is started by a Python process that ignores ``PYTHONPATH``
(``python -I``) and asks for online mode: the one case localsweep cannot keep offline."""

import subprocess
import sys

CODE = "import wandb\nwith wandb.init(mode='online') as run:\n    run.log({'loss': 1.0})\n"

if __name__ == "__main__":
    sys.exit(subprocess.run([sys.executable, "-I", "-c", CODE], timeout=120).returncode)
