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


def _spread(values: Sequence[float]) -> str:
    return f"{sum(values) / len(values):.3f} [{min(values):.3f}, {max(values):.3f}]"


def results_table() -> list[str]:
    """The committed results as rows of a Markdown table (experiment | result | command), computed from the
    results files: the rows CONTRIBUTING.md shows between its ``experiments-table`` markers, which a test keeps
    equal to what this returns. Accuracies are on the 600 ``dots`` test images (chance 0.333): the mean over the
    seeds and [lowest, highest]."""
    import math

    ln3 = math.log(3)
    rows = []

    plateau = load_results(results_path("plateau"))
    cells = []
    for std, name in ((0.02, "paper's initialisation (std 0.02)"), (0.2, "recipe (std 0.2, 10x lr)")):
        runs = [r for r in plateau if r["position_std"] == std]
        stuck = sum(abs(r["train_loss"] - ln3) < 0.02 * ln3 for r in runs)
        cells.append(f"{name}: train loss {_spread([r['train_loss'] for r in runs])}, {stuck} of {len(runs)} "
                     f"seeds within 2% of ln 3; test accuracy {_spread([r['test_acc'] for r in runs])}")
    rows.append("| Is my ViT learning? pico ViT, learned 1-D embedding, 9,000 `dots`, up to 2,115 steps | "
                + "; ".join(cells) + " | lesson 06, `python -m course_utils.experiments plateau` |")

    table_8 = load_results(results_path("position_embeddings"))
    cells = []
    for kind in ("none", "learned_1d", "learned_2d", "relative", "sincos_2d"):
        runs = [r for r in table_8 if r["position"] == kind]
        trained = sum(r["train_loss"] < 0.9 * ln3 for r in runs)
        cells.append(f"{kind} {_spread([r['test_acc'] for r in runs])} ({trained} of {len(runs)} left ln 3, "
                     f"shuffled {sum(r['shuffle_acc'] for r in runs) / len(runs):.3f})")
    rows.append("| Table 8: position embeddings on the recipe, 9,000 `dots`, up to 2,115 steps (paper: none 0.614, "
                "1-D 0.642, 2-D 0.640, relative 0.640) | " + "; ".join(cells)
                + " | lesson 10, `python -m course_utils.experiments position_embeddings` |")

    scale = load_results(results_path("data_scale"))
    cells = []
    for model in ("vit", "resnet", "hybrid", "vit_pretrained"):
        sizes = sorted({r["train_size"] for r in scale})
        means = [sum(r["test_acc"] for r in scale if (r["model"], r["train_size"]) == (model, s))
                 / sum((r["model"], r["train_size"]) == (model, s) for r in scale) for s in sizes]
        cells.append(f"{model} " + " / ".join(f"{m:.2f}" for m in means))
    stuck = [r for r in scale if r["model"] == "vit" and abs(r["train_loss"] - ln3) < 0.02 * ln3]
    rows.append("| Figures 3-4 analogue: test accuracy at " + " / ".join(f"{s:,}" for s in sorted({r['train_size'] for r in scale}))
                + " `dots` images (mean of the seeds), before the recipe | " + "; ".join(cells)
                + f". The from-scratch ViT (paper's initialisation) ended within 2% of ln 3 in {len(stuck)} runs, at "
                + ", ".join(sorted({f'{r["train_size"]:,}' for r in stuck}))
                + " images: it did not train there, so these rows say nothing about data scale | lesson 09, "
                  "`python -m course_utils.experiments data_scale` |")

    pooling = load_results(results_path("pooling_lr"))
    cells = []
    for head in ("cls", "gap"):
        lrs = sorted({r["lr"] for r in pooling})
        cells.append(f"{head} " + " / ".join(
            _spread([r["test_acc"] for r in pooling if (r["pooling"], r["lr"]) == (head, lr)]) for lr in lrs))
    rows.append("| Figure 9 (first look, before the recipe): class token / GAP at lr "
                + ", ".join(f"{lr:g}" for lr in sorted({r['lr'] for r in pooling}))
                + ", 2-D sine-cosine embedding, 846 steps | " + "; ".join(cells)
                + " | lesson 10, `python -m course_utils.experiments pooling_lr` |")
    return rows
