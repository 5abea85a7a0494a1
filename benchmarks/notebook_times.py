"""Wall time of every notebook run top to bottom, as a learner runs it and as the test suite runs it.

Budgets on the baseline CPU (2 cores, AVX2, no native bf16): each lesson at most 5 minutes as a learner runs it,
at most 60 s with ``COURSE_FAST=1`` (what ``pytest`` sets). Each notebook runs in a fresh kernel in its own
folder, as Jupyter and nbval run it; nothing is written back to the notebook. Cells tagged ``skip-execution``
(internet only) are skipped, as the test suite skips them.

    python benchmarks/notebook_times.py                       # every lesson, full and fast
    python benchmarks/notebook_times.py --mode fast notebooks/06_training_from_scratch.ipynb
    ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=2 \\
        python benchmarks/notebook_times.py                   # as on an AVX2-only CPU, 2 threads
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
BUDGETS = {"full": 300.0, "fast": 60.0}


def run_notebook(path: Path, fast: bool, timeout: int = 1200) -> float:
    """Execute ``path`` in a fresh kernel (COURSE_FAST=1 if ``fast``) and return its wall time in seconds."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells = [cell for cell in notebook.cells
                      if "skip-execution" not in cell.get("metadata", {}).get("tags", [])]
    saved = os.environ.get("COURSE_FAST")
    os.environ["COURSE_FAST"] = "1" if fast else "0"
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        start = time.perf_counter()
        NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        return time.perf_counter() - start
    finally:
        if saved is None:
            os.environ.pop("COURSE_FAST")
        else:
            os.environ["COURSE_FAST"] = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every lesson in notebooks/")
    parser.add_argument("--mode", choices=("full", "fast", "both"), default="both")
    args = parser.parse_args()
    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    modes = ["full", "fast"] if args.mode == "both" else [args.mode]
    print(f"{'notebook':45s}" + "".join(f"{mode:>12s}" for mode in modes))
    over = []
    for path in paths:
        row = f"{path.name:45s}"
        for mode in modes:
            seconds = run_notebook(path.resolve(), fast=mode == "fast")
            row += f"{seconds:11.0f}s"
            if seconds > BUDGETS[mode]:
                over.append(f"{path.name} ({mode}: {seconds:.0f} s > {BUDGETS[mode]:.0f} s)")
        print(row, flush=True)
    print("over budget: " + (", ".join(over) if over else "none"))


if __name__ == "__main__":
    main()
