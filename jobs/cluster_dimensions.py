"""A refresh's dimensions, held on every Dask worker of its cluster (a worker plugin).

Imported only once a refresh uses a cluster (jobs.cluster), and by the workers when the
plugin reaches them; it imports Dask, so nothing else imports it.

Why not `Client.scatter`: the scheduler runs a task only on the workers holding its
dependencies' data, so with the dimensions scattered (or computed) on one worker every
partition ran there (measured: 39 of 39 on one of two workers). A registered plugin
reaches every worker, also one that joins or restarts later, and leaves the partitions
free to run anywhere.
"""

from __future__ import annotations

from distributed import WorkerPlugin

from etl.transform.parts import Dimensions


class HeldDimensions(WorkerPlugin):
    """`dims` on each worker, under the run's own plugin name, until the run unregisters it."""

    def __init__(self, name: str, dims: Dimensions) -> None:
        self.name = name
        self.dims = dims
