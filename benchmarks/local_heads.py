"""Does the pico ViT grow local attention heads on a bed whose objects span several patches, with and without
CutMix? Figure 7 (right) of the paper shows heads in the lowest layers that attend locally; the course's dots
checkpoints have none (lesson 08). This script tries the simplest candidates and writes what it measured.

A run trains the experiments' pico ViT on the course's recipe (``course_utils.experiments``: learned 1-D position
table drawn at std 0.2 and trained at 10x the learning rate; AdamW at peak 5e-4, weight decay 0.05, label smoothing
0.1, gradient clipping 1, warmup then cosine decay) on 9,000 ``shapes`` images (circle, square, triangle) drawn at
32 px and upsampled to 64 px, so that a shape covers many of the 8 x 8 patches of 8 px. Variants:

- ``plain``: the batches as they are;
- ``cutmix``: every batch through ``torchvision.transforms.v2.CutMix`` (alpha 1): a random box of each image is
  replaced by the same box of another image of the batch, and the label mixed by area (Yun et al., 2019), so a
  prediction must be assembled from where each class's pixels are;
- ``sincos`` and ``sincos_cutmix``: the same two with the fixed 2-D sine-cosine position table in place of the
  learned one, whose position signal is strong from the first step (lesson 10).

After training it measures test accuracy, clean training accuracy (all 9,000 training images), the patch-shuffle probe
and every head's mean attention distance on 128 test images (``interpret.mean_attention_distance``), against the
distance of uniform attention over the 8 x 8 grid.

    python benchmarks/local_heads.py                                   # every variant, seeds 0 and 1, two workers
    python benchmarks/local_heads.py --steps 300 --seeds 0 --variants plain    # a smoke run
    python benchmarks/local_heads.py --out course_utils/experiments/results/local_heads.json   # what lesson 08 reads

With ``--out`` the runs are added to that JSON file (a run of the same variant and seed replaces the stored one,
each run keeps the machine it ran on); a file made with another ``--steps`` is refused.

Timings are not the point, so two one-thread workers share the CPU.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.transforms import v2

from course_utils import engine, interpret
from course_utils.experiments import (
    GRAD_CLIP,
    RECIPE,
    TensorBatches,
    add_runs,
    balanced_subset,
    describe_machine,
    machine_line,
    make_point,
    open_split,
    probe_permutation,
    set_up_training,
    shuffle_patches,
    stored_runs,
    worker_pool,
)

VARIANTS: dict[str, dict[str, Any]] = {  # the position table, and whether the batches go through CutMix
    "plain": {"position": "learned_1d", "cutmix": False},
    "cutmix": {"position": "learned_1d", "cutmix": True},
    "sincos": {"position": "sincos_2d", "cutmix": False},
    "sincos_cutmix": {"position": "sincos_2d", "cutmix": True},
}
DATASET, IMG_SIZE, PATCH, TRAIN_SIZE, LR = "shapes", 64, 8, 9000, 5e-4
ROUND_STEPS = 150  # the training loss is averaged over rounds of this many steps
PROBE_IMAGES = 128  # test images the attention distances are measured on


def train_and_measure(variant: str, seed: int, steps: int, train_size: int = TRAIN_SIZE) -> dict[str, Any]:
    """Train one run of ``variant`` with ``seed`` for ``steps`` steps of 64 images on ``train_size`` images; return
    its measurements."""
    start = time.perf_counter()
    position, cutmix = VARIANTS[variant]["position"], VARIANTS[variant]["cutmix"]
    learned = RECIPE if position == "learned_1d" else {}  # a fixed table has nothing to initialise or learn
    point = make_point(dataset=DATASET, img_size=IMG_SIZE, patch_size=PATCH, train_size=train_size, lr=LR,
                       seed=seed, position=position, **learned)
    train, test = (open_split(DATASET, split, IMG_SIZE) for split in ("train", "test"))
    train_x, train_y = train.take(balanced_subset(train.labels, train_size, seed))
    test_x, test_y = test.take(torch.arange(len(test.labels)))
    classes = len(train.classes)
    model, optimizer, scheduler, loss_fn = set_up_training(point, classes, steps)
    mix = v2.CutMix(alpha=1.0, num_classes=classes) if cutmix else None
    batches = TensorBatches(train_x, train_y, point["batch_size"], shuffle=True, seed=seed)
    losses: list[float] = []
    done, round_sum = 0, 0.0
    model.train()
    while done < steps:
        for x, y in batches:
            if mix is not None:
                x, y = mix(x, y)  # y: (B, classes) probabilities, mixed by area
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
            optimizer.step()
            scheduler.step()
            done += 1
            round_sum += loss.item()
            if done % ROUND_STEPS == 0 or done == steps:
                losses.append(round_sum / (done - ROUND_STEPS * len(losses)))
                round_sum = 0.0
            if done == steps:
                break
    model.eval()

    def accuracy(images: torch.Tensor, labels: torch.Tensor) -> float:
        return engine.test_step(model, TensorBatches(images, labels, 256), nn.CrossEntropyLoss(), "cpu")[1]

    grid = IMG_SIZE // PATCH
    probe = test_x[torch.randperm(len(test_x), generator=torch.Generator().manual_seed(0))[:PROBE_IMAGES]]
    with torch.inference_mode():
        maps = model.attention_maps(probe.float().div(255))
    distances = interpret.mean_attention_distance(maps, grid, PATCH)  # (layers, heads), px
    uniform = torch.full((1, 1, grid * grid + 1, grid * grid + 1), 1 / (grid * grid + 1))
    return {"variant": variant, "seed": seed, "steps": steps, "train_losses": losses,
            "test_acc": accuracy(test_x, test_y), "train_acc": accuracy(train_x, train_y),
            "shuffle_acc": accuracy(shuffle_patches(test_x, PATCH, probe_permutation(grid * grid)), test_y),
            "head_distances": distances.tolist(),
            "uniform_distance": interpret.mean_attention_distance([uniform], grid, PATCH).item(),
            "seconds": time.perf_counter() - start}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--steps", type=int, default=1500, help="optimizer steps of 64 images per run")
    parser.add_argument("--train-size", type=int, default=TRAIN_SIZE, help="training images (default 9,000)")
    parser.add_argument("--workers", type=int, default=2, help="runs at once, each on one thread")
    parser.add_argument("--out", type=Path, default=None, help="write the runs to this JSON file")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.workers < 1 or args.train_size < 3:
        parser.error("--steps and --workers must be positive, --train-size at least 3 (one image per class)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = {"dataset": DATASET, "img_size": IMG_SIZE, "patch_size": PATCH, "train_size": args.train_size, "lr": LR,
                "learned_table": RECIPE, "steps": args.steps}
    if args.out is not None:
        stored_runs(args.out, settings)  # refuse a file of other settings before training, not after
    jobs = [(variant, seed, args.steps, args.train_size) for variant in args.variants for seed in args.seeds]
    with worker_pool(args.workers, threads=1) as pool:
        runs = list(pool.map(train_and_measure, *zip(*jobs, strict=True)))
    machine = {**describe_machine("cpu"), "threads": 1, "workers": args.workers}
    runs = [{**run, "machine": machine_line(machine)} for run in runs]
    print(f"pico ViT, {args.train_size:,} {DATASET} images at {IMG_SIZE} px, {args.steps:,} steps; head distances in px "
          f"(uniform {runs[0]['uniform_distance']:.1f})")
    print(f"{'variant':<14}{'seed':>5}{'loss':>8}{'test':>7}{'train':>7}{'shuffled':>9}{'lowest head':>13}"
          f"{'layer 1 lowest':>16}")
    for run in runs:
        heads = torch.tensor(run["head_distances"])
        print(f"{run['variant']:<14}{run['seed']:>5}{run['train_losses'][-1]:>8.3f}{run['test_acc']:>7.3f}"
              f"{run['train_acc']:>7.3f}{run['shuffle_acc']:>9.3f}{heads.min():>8.1f} (L{heads.argmin() // heads.shape[1] + 1})"
              f"{heads[0].min():>16.1f}")
    if args.out is not None:
        add_runs(args.out, settings, runs, list(VARIANTS))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
