"""Never calls wandb: exits with the code given as ``--code=N``."""

import sys

print("no wandb here", file=sys.stderr)
sys.exit(int(sys.argv[1].split("=", 1)[1]))
