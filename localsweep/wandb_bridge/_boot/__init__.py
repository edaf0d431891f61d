"""The folder localsweep puts first on ``PYTHONPATH`` of a program-mode run's process: its
``sitecustomize`` keeps every ``wandb.init`` of that process (and of the Python processes it
starts) offline. See :mod:`localsweep.wandb_bridge._boot.sitecustomize`."""
