"""A partition function that kills its Dask worker's process the first time it runs (a marker file remembers),
for the test of a worker lost partway through a run. Sent to the workers by value (cloudpickle), as the tests
folder is not importable there."""

from __future__ import annotations

import os
from pathlib import Path

from engine.outputs.partition import screen_partition


class KillOnce:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __call__(self, *args):
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return screen_partition(*args)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os._exit(1)  # as a worker killed by the system: no clean-up, no reply


class Fails:
    """A partition function that raises, as a partition whose screen fails on every worker."""

    def __call__(self, *args):
        raise MemoryError("Unable to allocate 1.21 GiB for an array with shape (162000000,) and data type float64")


class KillAlways:
    """A partition function that kills its worker's process every time, as a partition too big for any worker."""

    def __call__(self, *args):
        os._exit(1)
