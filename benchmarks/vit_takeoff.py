"""When does the from-scratch ViT leave the uniform guess? The take-off of the pico ViT's learned 1-D position
table on the dots task, per seed, under changes to the course's recipe.

A run trains the experiments' pico ViT (``course_utils.experiments``: AdamW, weight decay 0.05, label smoothing
0.1, gradient clipping 1, linear warmup over 5% of the schedule, then cosine decay) and stops at its *take-off*:
the first round of ``--round`` images whose mean training loss is 2% below ln 3, the loss of the uniform guess
(``engine.at_uniform_guess``'s band). A run that does not take off within ``--cap`` images is reported as
``>cap``. The schedule is as long as a real run's (``--schedule`` images), so the learning rate at every step is
the one the grid would use; only the cap stops it.

    python benchmarks/vit_takeoff.py                      # five variants, seeds 0-2, two worker processes
    python benchmarks/vit_takeoff.py --variants recipe lr_2e-3 --seeds 0 1 2 3 4
    python benchmarks/vit_takeoff.py --out course_utils/experiments/results/vit_takeoff.json   # what lesson 06 reads

With ``--out`` the runs are added to that JSON file (a run of the same variant and seed replaces the stored one); a
file made with other ``--train-size``, ``--schedule``, ``--cap`` or ``--round`` is refused.

Timings are not the point (take-off is counted in images and steps), so two one-thread workers share the CPU.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path
from typing import Any

from course_utils import engine
from course_utils.experiments import (
    GRAD_CLIP,
    RECIPE,
    TensorBatches,
    add_runs,
    balanced_subset,
    describe_machine,
    in_rounds,
    make_point,
    open_split,
    set_up_training,
    stored_runs,
    worker_pool,
)

VARIANTS: dict[str, dict[str, Any]] = {
    "paper_init": {},  # the paper's code: std 0.02, the optimizer's learning rate
    "recipe": RECIPE,
    "std_0.5": {**RECIPE, "position_std": 0.5},
    "lr_x30": {**RECIPE, "position_lr_scale": 30.0},
    "lr_2e-3": {**RECIPE, "lr": 2e-3},
    "lr_5e-4": {**RECIPE, "lr": 5e-4},
    "lr_3e-4": {**RECIPE, "lr": 3e-4},
    "batch_32": {**RECIPE, "batch_size": 32},
    "batch_128": {**RECIPE, "batch_size": 128},
    "sincos_2d": {"position": "sincos_2d"},  # a fixed table: the reference for how soon the task can be found
}
UNIFORM_BAND = 0.98  # a round's mean loss below 0.98 ln C has left the uniform guess


def take_off(variant: str, seed: int, train_size: int, schedule_images: int, cap_images: int,
             round_images: int, band: float = UNIFORM_BAND) -> dict[str, Any]:
    """Train one run of ``variant`` until a round's mean loss is below ``band`` ln C, or ``cap_images``; returns
    what it measured: ``images`` and ``steps`` at take-off (None if it did not), the loss of that round, and the
    seconds spent."""
    point = make_point(**{"train_size": train_size, "seed": seed, **VARIANTS[variant]})
    batch = point["batch_size"]
    train = open_split(point["dataset"], "train", point["img_size"])
    x, y = train.take(balanced_subset(train.labels, train_size, seed))
    model, optimizer, scheduler, loss_fn = set_up_training(point, len(train.classes), math.ceil(schedule_images / batch))
    per_round = math.ceil(round_images / batch)
    batches = TensorBatches(x, y, batch, shuffle=True, seed=seed)
    start, done, result, cap_steps = time.perf_counter(), 0, None, math.ceil(cap_images / batch)
    for number, round_batches in enumerate(in_rounds(batches, cap_steps, per_round)):
        loss, _ = engine.train_step(model, round_batches, loss_fn, optimizer, "cpu", scheduler, GRAD_CLIP,
                                    epoch=number)
        done = min(done + per_round, cap_steps)
        if loss < band * math.log(len(train.classes)):
            result = {"images": done * batch, "steps": done, "loss": loss}
            break
    return {"variant": variant, "seed": seed, "batch_size": batch,
            **(result or {"images": None, "steps": None, "loss": loss}),
            "seconds": time.perf_counter() - start}


def save(path: Path, settings: dict[str, Any], runs: list[dict[str, Any]],
         machine: dict[str, Any]) -> dict[str, Any]:
    """Add ``runs`` to the JSON file at ``path`` (made with ``settings`` on ``machine``), replacing stored runs of
    the same variant and seed; returns the file's content. Raises ValueError if the file holds other settings."""
    return add_runs(path, settings, runs, list(VARIANTS), machine=machine)


def _take_off(job: tuple) -> dict[str, Any]:
    return take_off(*job)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS),
                        default=["recipe", "std_0.5", "lr_x30", "lr_2e-3", "batch_32"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--train-size", type=int, default=9000, help="images of dots (default 9000)")
    parser.add_argument("--schedule", type=int, default=5628 * 64,
                        help="images the cosine schedule spans (default 5,628 steps of 64)")
    parser.add_argument("--cap", type=int, default=1600 * 64, help="stop a run here (default 1,600 steps of 64)")
    parser.add_argument("--round", type=int, default=47 * 64, help="images per averaged round (default 3,008)")
    parser.add_argument("--workers", type=int, default=2, help="processes, one thread each")
    parser.add_argument("--out", type=Path, help="add the runs to this JSON file")
    args = parser.parse_args()
    settings = {"train_size": args.train_size, "schedule_images": args.schedule, "cap_images": args.cap,
                "round_images": args.round, "band": UNIFORM_BAND}
    machine = {**describe_machine("cpu"), "threads": 1, "workers": args.workers}
    if args.out:
        stored_runs(args.out, settings)  # refuse a file of other settings before training, not after

    jobs = [(v, s, args.train_size, args.schedule, args.cap, args.round) for v in args.variants for s in args.seeds]
    print(f"pico ViT on {args.train_size:,} dots images; cosine schedule over {args.schedule:,} images, "
          f"stopped at take-off (round mean loss < {UNIFORM_BAND} ln 3) or {args.cap:,} images; "
          f"{args.workers} one-thread workers")
    with worker_pool(args.workers, threads=1) as pool:
        results = []
        for result in pool.map(_take_off, jobs):  # in the jobs' order, each printed as soon as it is known
            results.append(result)
            print(f"  {result['variant']:<11} seed {result['seed']}: "
                  + (f"took off at step {result['steps']}" if result["steps"] else "did not take off")
                  + f", round loss {result['loss']:.3f}, {result['seconds']:.0f} s", flush=True)
    print(f"\n{'variant':<11} " + " ".join(f"{'seed ' + str(s):>14}" for s in args.seeds) + "   median  worst")
    for variant in args.variants:
        runs = [r for r in results if r["variant"] == variant]
        cells = [f"{r['steps']:>5} ({r['loss']:.2f})" if r["steps"] else f">{args.cap // r['batch_size']:>4} ({r['loss']:.2f})"
                 for r in runs]
        # in steps of 64 images, so batch sizes compare; a run that did not take off counts as the cap
        at = [(r["images"] or args.cap + 1) / 64 for r in runs]
        worst = max(at)
        print(f"{variant:<11} " + " ".join(f"{c:>14}" for c in cells) +
              f"   {statistics.median(at):>6.0f}  {'>' if worst > args.cap / 64 else ''}{min(worst, args.cap / 64):.0f}")
    if args.out:
        save(args.out, settings, results, machine)
        print(f"runs added to {args.out}")
    print("\ncells: take-off step (that round's mean training loss); steps of the variant's own batch size; "
          "median and worst in steps of 64 images")


if __name__ == "__main__":
    main()
