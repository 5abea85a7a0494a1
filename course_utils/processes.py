"""Worker processes for the data's CPU-bound chores: drawing the bundled datasets and decoding them once.

Drawing a shapes image or decoding a PNG into a tensor is mostly Python (Pillow's plug-ins, numpy, torchvision's
transforms), so threads take turns holding Python's lock and barely beat one thread; processes run side by side.
How a process starts decides whether it pays:

- ``fork`` copies this process as it is: a worker is ready in milliseconds, with the modules already imported.
  It is the default on Linux up to Python 3.13, and PyTorch's ``DataLoader`` workers start this way there.
- ``spawn`` (the default on macOS and Windows) starts a fresh interpreter that imports the main module again:
  for ``python -m course_utils.train`` that is torch, seconds per worker, more than the ``shapes`` set's
  drawing saves.

So the data uses processes only where ``fork`` is safe to use, on Linux, and threads or this process elsewhere.
The workers only run numpy, Pillow and torch's CPU ops: none of them touches a GPU or what other threads of the
parent were doing when it forked.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from multiprocessing.context import BaseContext


def cpu_count() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def fork_context() -> BaseContext | None:
    """The ``fork`` start method where workers should use it (Linux), else None (use threads or no workers)."""
    if sys.platform != "linux" or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return multiprocessing.get_context("fork")
