"""Is the bundled dataset learnable by a small ViT on a CPU, and would a naive one have been?

Trains the default ``python -m course_utils.train`` recipe on two generated datasets of the same size:

- ``contrast``: the bundled ``shapes`` preset (bright filled shapes, 25-42% of the image, dark background);
- ``naive``: random foreground *and* background colours, smaller shapes and clutter lines, which a
  ViT of this size did not learn at all in our first measurements.

and prints the test accuracy after every epoch with the wall time so far (data generation included).

    python benchmarks/dataset_learnability.py              # both, ~5 min on 2 cores
    python benchmarks/dataset_learnability.py --only contrast
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from course_utils import shapes, train


def render_naive(shape: str, size: int, rng: np.random.Generator) -> Image.Image:
    """Random colours everywhere, small shapes, clutter: the design that did not train."""
    image = Image.new("RGB", (size, size), tuple(int(c) for c in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(3):  # clutter lines
        draw.line([tuple(rng.uniform(0, size, 2)), tuple(rng.uniform(0, size, 2))],
                  fill=tuple(int(c) for c in rng.integers(0, 256, 3)), width=1)
    radius = rng.uniform(0.12, 0.35) * size
    cx, cy = rng.uniform(radius, size - radius, 2)
    angle = rng.uniform(0, 2 * math.pi)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    if shape == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    else:
        draw.polygon(shapes.SHAPES[shape](cx, cy, radius, angle), fill=colour)
    return image


def run(name: str, workdir: Path) -> None:
    start = time.perf_counter()
    data = shapes.generate_shapes(workdir / name, shapes.PRESETS["shapes"],
                                  render=render_naive if name == "naive" else None)
    generated = time.perf_counter() - start
    results = train.main(["--data", str(data), "--output-dir", str(workdir / f"run_{name}"), "--quiet"])
    total = time.perf_counter() - start
    print(f"\n{name}: generation {generated:.1f} s, total {total:.1f} s")
    per_epoch = (total - generated) / len(results["test_acc"])
    for epoch, acc in enumerate(results["test_acc"], start=1):
        print(f"  epoch {epoch:2d}  ~{generated + epoch * per_epoch:6.1f} s  test_acc {acc:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["contrast", "naive"], default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name in [args.only] if args.only else ["contrast", "naive"]:
            run(name, Path(tmp))


if __name__ == "__main__":
    main()
