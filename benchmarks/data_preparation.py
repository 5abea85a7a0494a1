"""How fast the main job's data gets ready: drawing a bundled dataset, then decoding it into the in-memory cache.

Both chores are mostly Python (Pillow's plug-ins, numpy, torchvision's transforms), so threads take turns holding
Python's lock while processes run side by side (``course_utils/processes.py``). Each way is timed in interleaved
rounds (A B C, C B A, ...), so slow drifts of the machine fall on all of them alike:

- drawing (``shapes.generate_shapes``): in one thread; in one thread per CPU (what a ``render`` of your own gets,
  and every set on macOS and Windows); in one process per CPU (the default on Linux);
- decoding the training split into tensors (``data_setup.cache_in_memory``, the main job's ``--cache``): in this
  process; in one ``DataLoader`` worker process per CPU (the default on Linux for large sets).

Printed: the median seconds of each way over the rounds, and how many times faster than one thread or this
process it ran (the median of the per-round ratios, with their range). Time it on a quiet machine.

    python benchmarks/data_preparation.py                         # the main job's shapes set: about 2 min on 2 cores
    python benchmarks/data_preparation.py --dataset dots --rounds 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from vit_throughput import interleaved, speedup

from course_utils import data_setup, shapes
from course_utils.processes import cpu_count, fork_context


def report(title: str, times: dict[str, list[float]], reference: str) -> None:
    print(title)
    for name, seconds in times.items():
        ratio = "" if name == reference else f"  {speedup(times, name, reference)} as fast as {reference}"
        print(f"  {name:<20} {statistics.median(seconds):6.2f} s{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="shapes", choices=sorted(shapes.PRESETS))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be positive")
    os.environ.setdefault("TQDM_DISABLE", "1")  # no progress lines between the timings
    spec = shapes.PRESETS[args.dataset]
    workers = cpu_count()
    images = len(spec.classes) * (spec.train_per_class + spec.test_per_class)
    print(f"CPU capability: {torch.backends.cpu.get_cpu_capability()}, {workers} CPUs, torch threads "
          f"{torch.get_num_threads()}; workers are processes by default here: {fork_context() is not None}")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / args.dataset

        def draw(**how: object) -> Callable[[], None]:
            def run() -> None:
                shutil.rmtree(folder, ignore_errors=True)
                shapes.generate_shapes(folder, spec, **how)
            return run

        # A render passed in is "of your own" to generate_shapes: it stays in threads.
        ways = {"one thread": draw(workers=1),
                f"{workers} threads": draw(workers=workers, render=shapes.renderer(spec))}
        if fork_context() is not None:
            ways[f"{workers} processes"] = draw(workers=workers)
        drawing = interleaved(ways, args.rounds, repeat=1, warm_up=False)  # the last set drawn stays, to decode

        transform = data_setup.default_transform(spec.img_size)
        train = data_setup.image_folder(folder / "train", transform)
        decoding = interleaved({
            "this process": lambda: data_setup.cache_in_memory(train, workers=0),
            f"{workers} worker processes": lambda: data_setup.cache_in_memory(train, workers=workers),
        }, args.rounds, repeat=1, warm_up=False)

    report(f"\ndrawing the {args.dataset!r} set ({images:,} images), median of {args.rounds} rounds:", drawing,
           "one thread")
    if images < shapes.PARALLEL_FROM:
        print(f"  (under shapes.PARALLEL_FROM = {shapes.PARALLEL_FROM} images every way drew in one thread)")
    report(f"decoding its {len(train):,} training images into tensors, median of {args.rounds} rounds:", decoding,
           "this process")


if __name__ == "__main__":
    main()
