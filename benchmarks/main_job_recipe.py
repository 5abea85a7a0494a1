"""Which recipe should the main job run? ``python -m course_utils.train`` on the bundled ``shapes`` set under
variants of its recipe (patch grid, learning rate, position embedding, epochs), over several seeds, with the test
accuracy after every epoch.

Each run is the training script itself (``course_utils.train.main``: nano ViT, 24 px, batch 64, AdamW,
warmup then cosine decay, label smoothing 0.1, clipping at 1) with the variant's flags and a seed. Every flag that
tells the variants apart is spelled out, so the file keeps its meaning when the script's defaults change; lesson 06
checks that the defaults are one of the variants.

    python benchmarks/main_job_recipe.py                       # every variant, seeds 0-4 and 42, two workers
    python benchmarks/main_job_recipe.py --variants boost_4 --seeds 42
    python benchmarks/main_job_recipe.py --out course_utils/experiments/results/main_job_recipe.json  # lesson 06's

With ``--out`` the runs are added to that JSON file (a run of the same variant and seed replaces the stored one).
Timings are not the point (accuracy is counted per epoch), so two one-thread workers share the CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from course_utils import shapes, train
from course_utils.experiments import add_runs, describe_machine, stored_runs, worker_pool

PAPER_INIT = ["--position-std", "0.02", "--position-lr-scale", "1"]  # E_pos as the paper's code draws it
BOOST = ["--position-std", "0.2", "--position-lr-scale", "10"]  # lesson 06's position boost (course_utils.optim)
GRID_3X3 = ["--patch-size", "8"]  # 24 px in a 3 x 3 grid of 8 px patches: 10 tokens (the main job until December 2026)
GRID_2X2 = ["--patch-size", "12"]  # 24 px in a 2 x 2 grid of 12 px patches: 5 tokens, about half the FLOPs
VARIANTS: dict[str, list[str]] = {
    "3x3_boost_lr1e-3_4": [*GRID_3X3, "--epochs", "4", "--lr", "1e-3", *BOOST],
    "boost_lr2e-3_4": [*GRID_2X2, "--epochs", "4", "--lr", "2e-3", *BOOST],
    "boost_lr1e-3_4": [*GRID_2X2, "--epochs", "4", "--lr", "1e-3", *BOOST],
    "boost_4": [*GRID_2X2, "--epochs", "4", "--lr", "7e-4", *BOOST],  # the main job's recipe since December 2026
    "boost_lr5e-4_4": [*GRID_2X2, "--epochs", "4", "--lr", "5e-4", *BOOST],
    "lr7e-4_4": [*GRID_2X2, "--epochs", "4", "--lr", "7e-4", *PAPER_INIT],
    "boost_3": [*GRID_2X2, "--epochs", "3", "--lr", "7e-4", *BOOST],
    "boost_lr1e-3_5": [*GRID_2X2, "--epochs", "5", "--lr", "1e-3", *BOOST],
}
WIDTH = max(map(len, VARIANTS)) + 1  # the variant column of the printed table
SCRIPT = "python -m course_utils.train with its defaults but the variant's flags"


def run(variant: str, seed: int, data: str) -> dict[str, Any]:
    """Train the main job with ``variant``'s flags and ``seed`` on the dataset folder ``data``; the per-epoch
    metrics and the training FLOPs."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        result = train.main(["--data", data, "--output-dir", tmp, "--quiet", "--seed", str(seed),
                             *VARIANTS[variant]])
    return {"variant": variant, "seed": seed, "flags": VARIANTS[variant],
            **{key: [round(value, 4) for value in result[key]]
               for key in ("train_loss", "train_acc", "test_loss", "test_acc")},
            "train_flops": result["train_flops"], "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="shapes", choices=("shapes", "shapes_small"),
                        help="the bundled set to train on (default: shapes, the main job's; shapes_small for a smoke run)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4, 42])
    parser.add_argument("--workers", type=int, default=2, help="processes, one thread each")
    parser.add_argument("--out", type=Path, help="add the runs to this JSON file")
    args = parser.parse_args()
    settings = {"data": args.data, "script": SCRIPT}
    if args.out:
        stored_runs(args.out, settings)  # refuse a file of other settings before training, not after
    machine = {**describe_machine("cpu"), "threads": 1, "workers": args.workers}
    data = str(shapes.get_dataset(args.data))  # drawn once here, before the workers read it

    jobs = [(variant, seed, data) for variant in args.variants for seed in args.seeds]
    print(f"the main job on {args.data}, {len(jobs)} runs, {args.workers} one-thread workers")
    results = []
    with worker_pool(args.workers, threads=1) as pool:
        for result in pool.map(run, *zip(*jobs, strict=True)):  # in the jobs' order, each printed when known
            results.append(result)
            print(f"  {result['variant']:<{WIDTH}} seed {result['seed']:>2}: test accuracy by epoch "
                  + " ".join(f"{a:.3f}" for a in result["test_acc"]) + f", {result['seconds']:.0f} s", flush=True)
    ln_c = math.log(3)
    print(f"\n{'variant':<{WIDTH}}{'TFLOP':>6}  final test accuracy: worst  mean   best   train loss (ln 3 = {ln_c:.3f})")
    for variant in args.variants:
        runs = [r for r in results if r["variant"] == variant]
        final = [r["test_acc"][-1] for r in runs]
        print(f"{variant:<{WIDTH}}{runs[0]['train_flops'] / 1e12:>6.2f}  {'':<21}{min(final):.3f}  "
              f"{statistics.mean(final):.3f}  {max(final):.3f}  {max(r['train_loss'][-1] for r in runs):.3f} (worst)")
    if args.out:
        add_runs(args.out, settings, results, list(VARIANTS), machine=machine)
        print(f"runs added to {args.out}")


if __name__ == "__main__":
    main()
