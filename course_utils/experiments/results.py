"""The committed results (``results/*.json``, shipped with the package) and how the lessons read them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from course_utils.experiments.grids import EXPERIMENTS

RESULTS_DIR = Path(__file__).parent / "results"  # the committed results, shipped with the package


def results_path(name: str, fast: bool = False) -> Path:
    """The committed results of experiment ``name`` (``--fast``'s with ``fast``), which the lessons plot."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return RESULTS_DIR / f"{name}{'_fast' if fast else ''}.json"


def machine_line(machine: dict[str, Any]) -> str:
    """One line from ``describe_machine``'s dict: the device, the CPU's vector extensions, torch's threads."""
    gpu = f" ({machine['gpu']})" if "gpu" in machine else ""
    return (f"{machine['device']}{gpu}, CPU capability {machine['cpu_capability']}, {machine['threads']} "
            f"threads, torch {machine['torch']}")


def load_machine(path: str | Path) -> str:
    """Where a results file was made, as ``machine_line`` writes it."""
    return machine_line(json.loads(Path(path).read_text())["machine"])


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """The points of a results file, each flattened to one dict: its settings and its metrics."""
    content = json.loads(Path(path).read_text())
    return [{**entry["settings"], **entry["metrics"]} for entry in content["points"]]


def summarise(results: Sequence[dict[str, Any]], by: Sequence[str],
              metric: str = "test_acc") -> dict[Any, tuple[float, float, float, int]]:
    """``metric``'s (mean, min, max, count) over the points of each group of equal ``by`` settings.

    ``results`` are ``load_results``' dicts. Groups are keyed by the tuple of their ``by`` values, or by the
    bare value when ``by`` names one setting; they come in the order they first appear.
    """
    groups: dict[Any, list[float]] = {}
    for row in results:
        key = tuple(row[k] for k in by)
        groups.setdefault(key[0] if len(by) == 1 else key, []).append(float(row[metric]))
    return {key: (sum(values) / len(values), min(values), max(values), len(values))
            for key, values in groups.items()}
