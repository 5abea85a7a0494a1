"""Progress for long work: a tqdm bar in a terminal or notebook, a plain line every few seconds elsewhere.

Training, data generation and the experiment runner all report through ``progress``. Where it goes:

- an interactive terminal or a notebook: a tqdm bar, with a postfix (loss, accuracy) and the time left;
- output that is not a terminal (a log file, a pipe, CI): one line to stderr at most every ``LOG_EVERY`` seconds,
  such as ``train epoch 2/6: 140/188 batches (74%), 9 s, about 3 s left, loss=0.41``, and one at the end;
- ``TQDM_DISABLE=1`` (the test suite sets it) or ``enabled=False``: nothing.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from tqdm.auto import tqdm

LOG_EVERY = 5.0  # seconds between two lines when the output is not a terminal


def interactive() -> bool:
    """Whether a live bar can be drawn: stderr is a terminal, or this runs in a Jupyter kernel."""
    return sys.stderr.isatty() or "ipykernel" in sys.modules


def silenced() -> bool:
    """Whether the user turned progress off with TQDM_DISABLE=1 (tqdm's own switch)."""
    return os.environ.get("TQDM_DISABLE", "") not in ("", "0")


class LineProgress:
    """The non-terminal stand-in for a tqdm bar: ``update``, ``set_postfix`` and ``close``, printing a line to
    ``stream`` at most every ``every`` seconds (and one when it closes)."""

    def __init__(self, total: int | None, desc: str, every: float = LOG_EVERY, stream: Any = None) -> None:
        self.total, self.desc, self.every = total, desc, every
        self.stream = stream if stream is not None else sys.stderr
        self.n, self.postfix = 0, ""
        self.start = self.last = time.monotonic()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self.last >= self.every:
            self._print()

    def line(self) -> str:
        """The current state as one line."""
        elapsed = time.monotonic() - self.start
        if self.total:
            left = elapsed / self.n * (self.total - self.n) if self.n else float("nan")
            done = f"{self.n}/{self.total} ({self.n / self.total:.0%}), {elapsed:.0f} s, about {left:.0f} s left"
        else:
            done = f"{self.n}, {elapsed:.0f} s"
        return f"{self.desc}: {done}" + (f", {self.postfix}" if self.postfix else "")

    def _print(self) -> None:
        print(self.line(), file=self.stream, flush=True)
        self.last = time.monotonic()

    def close(self) -> None:
        if self.n:
            self._print()


class _Silent:
    def set_postfix(self, **values: Any) -> None: ...
    def update(self, n: int = 1) -> None: ...
    def close(self) -> None: ...


def progress(total: int | None, desc: str, enabled: bool | None = None, leave: bool = True,
             unit: str = "it") -> Any:
    """A progress reporter for ``total`` steps: a tqdm bar, a ``LineProgress`` or a silent one (see the
    module docstring). ``enabled`` None means: unless TQDM_DISABLE=1. Call ``update()``, ``set_postfix(...)``
    and ``close()`` on it."""
    if enabled is False or silenced():
        return _Silent()
    if interactive():
        return tqdm(total=total, desc=desc, leave=leave, unit=unit, disable=False)
    return LineProgress(total, desc)
