"""Agents on a cluster: a SLURM job array of ``localsweep agent`` processes.

>>> from localsweep.cluster import SlurmJob, render_script
>>> job = SlurmJob("ls-k3j9x2ab", agents=4, db_url="postgresql+psycopg://db/sweeps",
...                workdir="/home/me/proj", log_dir="/home/me/proj/logs")
>>> print(render_script(job))  # doctest: +SKIP

The command line is ``localsweep slurm SWEEP_ID --agents N ...`` (docs/cluster.md).
"""

from __future__ import annotations

from localsweep.cluster._cli import slurm_command
from localsweep.cluster._slurm import (
    SlurmError,
    SlurmJob,
    UnknownPartitionError,
    expand_hostlist,
    partition_nodes,
    partitions,
    render_script,
    submit_script,
    time_limit_seconds,
)

__all__ = [
    "SlurmError",
    "SlurmJob",
    "UnknownPartitionError",
    "expand_hostlist",
    "partition_nodes",
    "partitions",
    "render_script",
    "slurm_command",
    "submit_script",
    "time_limit_seconds",
]
