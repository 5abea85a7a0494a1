"""The committed results (``results/*.json``, shipped with the package) and how the lessons read them."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from course_utils import utils
from course_utils.engine import at_uniform_guess
from course_utils.experiments.grids import EXPERIMENTS

RESULTS_DIR = Path(__file__).parent / "results"  # the committed results, shipped with the package


def stored_runs(path: str | Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The content of a study's runs file at ``path`` (``{"settings": ..., "runs": [...]}``, as the take-off and
    local-heads benchmarks write it), or an empty one if there is none. ValueError if it holds other ``settings``."""
    path = Path(path)
    stored = json.loads(path.read_text()) if path.exists() else {"settings": settings, "runs": []}
    if stored.get("settings") != settings:
        raise ValueError(f"{path} holds runs made with {stored.get('settings')}, not {settings}; pass another --out")
    return stored


def add_runs(path: str | Path, settings: dict[str, Any], runs: list[dict[str, Any]], variants: Sequence[str],
             **fields: Any) -> dict[str, Any]:
    """Add ``runs`` (each with a ``variant`` and a ``seed``) to the runs file at ``path`` made with ``settings``,
    replacing stored runs of the same variant and seed, in the order of ``variants``, then by seed; ``fields`` (a
    machine, say) are stored beside them. Written atomically; returns the content. ValueError as ``stored_runs``."""
    stored = stored_runs(path, settings)
    new = {(r["variant"], r["seed"]) for r in runs}
    kept = [r for r in stored["runs"] if (r["variant"], r["seed"]) not in new]
    content = {"settings": settings, **fields,
               "runs": sorted(kept + runs, key=lambda r: (list(variants).index(r["variant"]), r["seed"]))}
    utils.atomic_write(path, lambda tmp: tmp.write_text(json.dumps(content, indent=1) + "\n"))
    return content


def results_path(name: str, fast: bool = False) -> Path:
    """The committed results of experiment ``name`` (``--fast``'s with ``fast``), which the lessons plot."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return RESULTS_DIR / f"{name}{'_fast' if fast else ''}.json"


def machine_line(machine: dict[str, Any]) -> str:
    """One line from ``describe_machine``'s dict: the device, the CPU's vector extensions, torch's threads."""
    gpu = f" ({machine['gpu']})" if "gpu" in machine else ""
    workers = machine.get("workers", 1)
    threads = f"{machine['threads']} thread{'s' if machine['threads'] > 1 else ''}"
    threads = f"{workers} worker processes of {threads}" if workers > 1 else threads
    return f"{machine['device']}{gpu}, CPU capability {machine['cpu_capability']}, {threads}, torch {machine['torch']}"


def points_with_machines(content: dict[str, Any]) -> list[dict[str, Any]]:
    """A results file's points, each run's metrics holding the ``machine_line`` it was made on: its own, or, for a
    run that records none, the file's ``machine`` (unchanged where the file has none either)."""
    made_on = machine_line(content["machine"]) if "machine" in content else None
    return [{**entry, "metrics": {**entry["metrics"], "machine": entry["metrics"].get("machine", made_on)}}
            if made_on else entry for entry in content.get("points", [])]


def load_machine(path: str | Path) -> str:
    """Where a results file's runs were made, as ``machine_line`` writes it: one line, or, for a grid resumed on
    another machine, each machine's line with its number of runs (a run records its machine in its metrics; one
    that does not was made on the file's ``machine``)."""
    content = json.loads(Path(path).read_text())
    runs = Counter(entry["metrics"]["machine"] for entry in points_with_machines(content))
    if len(runs) <= 1:
        return next(iter(runs), machine_line(content["machine"]))
    return "; ".join(f"{line} ({count} runs)" for line, count in runs.items())


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


def take_off_step(row: dict[str, Any], band: float = 0.02) -> int | None:
    """The step at which a committed run left ln C: the end of its first round (``steps_per_round`` steps) whose
    mean training loss was more than ``band`` (relative) below ln 3, the loss of a uniform guess over the dots'
    3 classes; None if no round was. The older files, without ``steps_per_round``, averaged by epoch."""
    per_round = row.get("steps_per_round") or math.ceil(row["train_size"] / row["batch_size"])
    for number, loss in enumerate(row["train_losses"], start=1):
        if loss < (1 - band) * math.log(3):
            return min(number * per_round, row["steps"])
    return None


def _spread(summary: tuple[float, float, float, int]) -> str:
    """``summarise``'s (mean, lowest, highest, count) of a group as "mean [lowest, highest]"."""
    mean, low, high, _ = summary
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def results_table() -> list[str]:
    """The committed results as rows of a Markdown table (experiment | result | command), computed from the
    results files: the rows CONTRIBUTING.md shows between its ``experiments-table`` markers, which a test keeps
    equal to what this returns. Accuracies are on the 600 ``dots`` test images (chance 0.333): the mean over the
    seeds and [lowest, highest]."""
    ln3 = math.log(3)
    rows = []

    plateau = load_results(results_path("plateau"))
    loss, accuracy = summarise(plateau, ["position_std"], "train_loss"), summarise(plateau, ["position_std"])
    cells = []
    for std, name in ((0.02, "paper's initialisation (std 0.02)"), (0.2, "recipe (std 0.2, 10x lr)")):
        stuck = sum(at_uniform_guess(r["train_loss"], 3) for r in plateau if r["position_std"] == std)
        cells.append(f"{name}: train loss {_spread(loss[std])}, {stuck} of {loss[std][3]} seeds within 2% of "
                     f"ln 3; test accuracy {_spread(accuracy[std])}")
    rows.append("| Is my ViT learning? pico ViT, learned 1-D embedding, 9,000 `dots`, up to 2,115 steps | "
                + "; ".join(cells) + " | lesson 06, `python -m course_utils.experiments plateau` |")

    table_8 = load_results(results_path("position_embeddings"))
    accuracy = summarise(table_8, ["position"])
    shuffled = summarise(table_8, ["position"], "shuffle_acc")
    cells = []
    for kind in ("none", "learned_1d", "learned_2d", "relative", "sincos_2d"):
        trained = sum(r["train_loss"] < 0.9 * ln3 for r in table_8 if r["position"] == kind)
        cells.append(f"{kind} {_spread(accuracy[kind])} ({trained} of {accuracy[kind][3]} left ln 3, "
                     f"shuffled {shuffled[kind][0]:.3f})")
    rows.append("| Table 8: position embeddings on the recipe, 9,000 `dots`, up to 4,089 steps (paper: none 0.614, "
                "1-D 0.642, 2-D 0.640, relative 0.640) | " + "; ".join(cells)
                + " | lesson 10, `python -m course_utils.experiments position_embeddings` |")

    scale = load_results(results_path("data_scale"))
    accuracy = summarise(scale, ["model", "train_size"])
    fitted = summarise(scale, ["model", "train_size"], "train_acc")
    sizes = sorted({r["train_size"] for r in scale})
    cells = [f"{model} " + " / ".join(f"{accuracy[(model, size)][0]:.2f} ({fitted[(model, size)][0]:.2f})"
                                      for size in sizes)
             for model in ("vit", "resnet", "hybrid", "vit_pretrained")]
    vit = [r for r in scale if r["model"] == "vit"]
    left = sum(r["train_loss"] < 0.9 * ln3 for r in vit)
    rows.append("| Figures 3-4 analogue: test accuracy (clean training accuracy) at " + " / ".join(f"{size:,}" for size in sizes)
                + " `dots` images, mean of the seeds; every run 5,628 steps (the fine-tuned ViT 1,407) or until 99% "
                  "training accuracy, the ViT on the recipe at lr 5e-4 | " + "; ".join(cells)
                + f". The from-scratch ViT ended below 0.9 ln 3 in {left} of {len(vit)} runs | lesson 09, "
                  "`python -m course_utils.experiments data_scale` |")

    pooling = load_results(results_path("pooling_lr"))
    accuracy = summarise(pooling, ["pooling", "lr"])
    lrs = sorted({r["lr"] for r in pooling})
    cells = []
    for head in ("cls", "gap"):
        parts = []
        for lr in lrs:  # counted as Table 8's row counts them
            left = sum(r["train_loss"] < 0.9 * ln3 for r in pooling if (r["pooling"], r["lr"]) == (head, lr))
            parts.append(f"{_spread(accuracy[(head, lr)])} ({left} of {accuracy[(head, lr)][3]} left ln 3)")
        cells.append(f"{head} " + " / ".join(parts))
    rows.append("| Figure 9: class token / GAP at lr " + ", ".join(f"{lr:g}" for lr in lrs)
                + ", 2-D sine-cosine embedding, 9,000 `dots`, up to 2,115 steps, stopped at 98% training accuracy | " + "; ".join(cells)
                + " | lesson 10, `python -m course_utils.experiments pooling_lr` |")
    return rows
