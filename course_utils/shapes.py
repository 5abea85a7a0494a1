"""The course's bundled, offline dataset: bright shapes on dark backgrounds, generated from a seed.

No download is needed: ``get_dataset("shapes")`` draws the images deterministically and writes them in
``ImageFolder`` layout (``train/<class>/*.png``, ``test/<class>/*.png``). Three presets serve the lessons:

- ``shapes``          circle / square / triangle, 4,000 train + 200 test images per class: the main job.
- ``shapes_small``    the same 3 classes at the size of the course's pizza_steak_sushi set
                      (75 train + 25 test per class = 225 / 75 images): too little data for a ViT.
- ``shapes_pretrain`` 5 *other* shapes, many images: the "larger dataset" we pretrain on (lesson 07).
- ``dots_pretrain``   64 px images of four identical dots whose *arrangement* is the class (a row, a column,
                      a diagonal, an anti-diagonal, a square): where layout matters (lessons 08-10).
- ``dots``            3 *other* arrangements of four dots (corner, tee, zigzag): the downstream task.
- ``dots_large``      the same task with 10x the training images (30,000 per class, 90,000 in all): lesson 09's
                      largest training sets. Its first 3,000 images per class and its test split are ``dots``'
                      own; the experiments draw it in memory (``draw_image``) instead of writing 90,000 files.

Why this design (measured, see ``benchmarks/dataset_learnability.py``): random colours on random
backgrounds did not train at all; a bright filled shape that covers a good part of a dark image does.

Why the dots: a shape's class can be read from its pieces (a corner here, a curve there), so a ViT can
classify shapes as a bag of patches and never learn where its patches are; shuffling the patches of a test
image then costs it nothing (we measured it on 64 px shapes). Four dots, each smaller than an 8 px
patch, with centres more than a patch apart, look the same in every class: only where they are tells the
classes apart, and shuffling the patches costs the pretrained checkpoint most of its accuracy (lesson 08).
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import tempfile
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from course_utils.processes import cpu_count, fork_context
from course_utils.progress import progress

SUPERSAMPLE = 4  # draw 4x larger, then downsample: smooth (anti-aliased) edges
FORMAT_VERSION = 1  # bump when the drawing code changes, so stale datasets are regenerated


def _regular_polygon(sides: int, cx: float, cy: float, radius: float, angle: float) -> list[tuple[float, float]]:
    return [(cx + radius * math.cos(angle + 2 * math.pi * i / sides),
             cy + radius * math.sin(angle + 2 * math.pi * i / sides)) for i in range(sides)]


def _star(points: int, cx: float, cy: float, radius: float, angle: float) -> list[tuple[float, float]]:
    vertices = []
    for i in range(2 * points):
        r = radius if i % 2 == 0 else radius * 0.45
        theta = angle + math.pi * i / points
        vertices.append((cx + r * math.cos(theta), cy + r * math.sin(theta)))
    return vertices


def _cross(cx: float, cy: float, radius: float, angle: float) -> list[tuple[float, float]]:
    w = radius * 0.38  # half the arm width
    outline = [(w, radius), (w, w), (radius, w), (radius, -w), (w, -w), (w, -radius),
               (-w, -radius), (-w, -w), (-radius, -w), (-radius, w), (-w, w), (-w, radius)]
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in outline]


SHAPES = {
    "circle": None,  # drawn as an ellipse
    "square": lambda cx, cy, r, a: _regular_polygon(4, cx, cy, r, a),
    "triangle": lambda cx, cy, r, a: _regular_polygon(3, cx, cy, r, a),
    "pentagon": lambda cx, cy, r, a: _regular_polygon(5, cx, cy, r, a),
    "hexagon": lambda cx, cy, r, a: _regular_polygon(6, cx, cy, r, a),
    "star": lambda cx, cy, r, a: _star(5, cx, cy, r, a),
    "cross": lambda cx, cy, r, a: _cross(cx, cy, r, a),
    "semicircle": None,  # drawn as a pie slice
}


def render_shape(shape: str, size: int, rng: np.random.Generator) -> Image.Image:
    """Draw one ``size`` x ``size`` RGB image of ``shape`` at a random colour, scale, angle and position."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose from {sorted(SHAPES)}")
    big = size * SUPERSAMPLE
    background = tuple(int(c) for c in rng.integers(0, 70, size=3))
    foreground = tuple(int(c) for c in rng.integers(150, 256, size=3))
    radius = rng.uniform(0.25, 0.42) * big
    cx, cy = rng.uniform(radius * 0.9, big - radius * 0.9, size=2)
    angle = rng.uniform(0, 2 * math.pi)

    image = Image.new("RGB", (big, big), background)
    draw = ImageDraw.Draw(image)
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    if shape == "circle":
        draw.ellipse(box, fill=foreground)
    elif shape == "semicircle":
        start = math.degrees(angle)
        draw.pieslice(box, start, start + 180, fill=foreground)
    else:
        draw.polygon(SHAPES[shape](cx, cy, radius, angle), fill=foreground)
    image = image.resize((size, size), Image.Resampling.LANCZOS)
    noise = rng.normal(0, 6, size=(size, size, 3))  # a little sensor noise, so no two pixels are identical
    return Image.fromarray(np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8))


# Arrangements of four dots, in steps of the dot spacing (x to the right, y down).
PATTERNS: dict[str, tuple[tuple[int, int], ...]] = {
    "row": ((0, 0), (1, 0), (2, 0), (3, 0)),
    "column": ((0, 0), (0, 1), (0, 2), (0, 3)),
    "diagonal": ((0, 0), (1, 1), (2, 2), (3, 3)),
    "antidiagonal": ((3, 0), (2, 1), (1, 2), (0, 3)),
    "square": ((0, 0), (1, 0), (0, 1), (1, 1)),
    "corner": ((0, 0), (0, 1), (0, 2), (1, 2)),
    "tee": ((0, 0), (1, 0), (2, 0), (1, 1)),
    "zigzag": ((0, 0), (1, 0), (1, 1), (2, 1)),
}
DOT_SPACING = 14 / 64  # centre to centre, as a share of the image side: more than one 8 px patch at 64 px
DOT_RADIUS = 2.5 / 64  # a dot (about 5 px across at 64 px) is smaller than a patch


def render_pattern(pattern: str, size: int, rng: np.random.Generator) -> Image.Image:
    """Draw one ``size`` x ``size`` RGB image of four dots in ``pattern``'s arrangement (see ``PATTERNS``),
    at a random position, spacing (+-10%) and dot colours, with a little jitter and pixel noise."""
    if pattern not in PATTERNS:
        raise ValueError(f"unknown pattern {pattern!r}; choose from {sorted(PATTERNS)}")
    big = size * SUPERSAMPLE
    background = tuple(int(c) for c in rng.integers(0, 70, size=3))
    image = Image.new("RGB", (big, big), background)
    draw = ImageDraw.Draw(image)
    steps = np.array(PATTERNS[pattern], dtype=np.float64)
    offsets = steps * DOT_SPACING * big * rng.uniform(0.9, 1.1)
    margin = 1.5 * DOT_RADIUS * big
    origin = rng.uniform(margin, big - margin - offsets.max(axis=0))  # the whole pattern stays inside
    for x, y in origin + offsets + rng.normal(0, 0.01 * big, size=offsets.shape):
        radius = DOT_RADIUS * big * rng.uniform(0.85, 1.15)
        foreground = tuple(int(c) for c in rng.integers(150, 256, size=3))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=foreground)
    image = image.resize((size, size), Image.Resampling.LANCZOS)
    noise = rng.normal(0, 6, size=(size, size, 3))
    return Image.fromarray(np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8))


@dataclass(frozen=True)
class ShapesSpec:
    """What to generate: the classes, how many images per class in each split, their size and the seed."""

    classes: tuple[str, ...]
    train_per_class: int
    test_per_class: int
    img_size: int = 32
    seed: int = 0
    format_version: int = FORMAT_VERSION
    kind: str = "shapes"  # "shapes": filled shapes (SHAPES); "dots": arrangements of dots (PATTERNS)


PRESETS: dict[str, ShapesSpec] = {
    "shapes": ShapesSpec(("circle", "square", "triangle"), 4000, 200, seed=0),
    "shapes_small": ShapesSpec(("circle", "square", "triangle"), 75, 25, seed=1),
    "shapes_pretrain": ShapesSpec(("pentagon", "hexagon", "star", "cross", "semicircle"), 4000, 200, seed=2),
    "dots_pretrain": ShapesSpec(("row", "column", "diagonal", "antidiagonal", "square"), 2000, 200,
                                img_size=64, seed=3, kind="dots"),
    "dots": ShapesSpec(("corner", "tee", "zigzag"), 3000, 200, img_size=64, seed=4, kind="dots"),
    "dots_large": ShapesSpec(("corner", "tee", "zigzag"), 30000, 200, img_size=64, seed=4, kind="dots"),
}
SPLITS = ("train", "test")  # in the order of their index in the random streams
MANIFEST = "dataset.json"


def default_data_dir() -> Path:
    """Where datasets live: the repository's ``data/`` folder for a clone, else ``./data``."""
    repo_data = Path(__file__).resolve().parent.parent / "data"
    return repo_data if (repo_data.parent / "pyproject.toml").is_file() else Path("data").resolve()


Renderer = Callable[[str, int, np.random.Generator], Image.Image]


def renderer(spec: ShapesSpec) -> Renderer:
    """The function that draws ``spec``'s images: ``render_shape`` or ``render_pattern`` (looked up at call
    time, so a test can patch them)."""
    kinds = {"shapes": render_shape, "dots": render_pattern}
    if spec.kind not in kinds:
        raise ValueError(f"unknown kind {spec.kind!r} of dataset; choose from {sorted(kinds)}")
    return kinds[spec.kind]


def draw_image(spec: ShapesSpec, split: str, class_id: int, index: int,
               render: Renderer | None = None) -> Image.Image:
    """Image ``index`` of class ``spec.classes[class_id]`` in ``split`` ("train" or "test"): the one
    ``generate_shapes`` writes to ``<split>/<class>/<index>.png``, drawn from the random stream seeded with
    ``(spec.seed, split's index in SPLITS, class_id, index)``. Any index can be drawn, past the spec's count too."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {SPLITS}")
    rng = np.random.default_rng([spec.seed, SPLITS.index(split), class_id, index])
    return (render or renderer(spec))(spec.classes[class_id], spec.img_size, rng)


def _draw_files(spec: ShapesSpec, split: str, class_id: int, indices: range, folder: Path,
                render: Renderer | None = None) -> int:
    """Draw images ``indices`` of one class and split into ``folder`` as ``<index>.png``; return how many."""
    render = render or renderer(spec)
    for i in indices:
        draw_image(spec, split, class_id, i, render).save(folder / f"{i:05d}.png", compress_level=1)
    return len(indices)


PARALLEL_FROM = 500  # images: a smaller set is drawn in this process, in one thread
CHUNK = 100  # images a worker draws per task


def _worker_pool(workers: int, render: Renderer | None) -> Executor:
    """``workers`` processes where they can fork (see ``course_utils.processes``), else threads. A ``render`` of
    the caller's own stays in threads: it may not be picklable, as a task sent to a process must be."""
    context = fork_context() if render is None else None
    if context is None:
        return ThreadPoolExecutor(workers)
    # Ctrl+C reaches every process of the terminal's group: the workers ignore it, and this process, which gets it
    # too, stops them and deletes the half-drawn set.
    return ProcessPoolExecutor(workers, mp_context=context, initializer=signal.signal,
                               initargs=(signal.SIGINT, signal.SIG_IGN))


def generate_shapes(root: str | Path, spec: ShapesSpec, render: Renderer | None = None,
                    workers: int | None = None) -> Path:
    """Write ``spec``'s images to ``root/{train,test}/<class>/<index>.png`` and return ``root``.

    Image ``i`` of class ``c`` in split ``s`` is drawn from the random stream seeded with
    ``(seed, s, c, i)``, so the dataset is the same on every machine, and the same whichever worker draws it.
    The files are written into a temp folder beside ``root`` that is renamed into place at the end: an
    interrupted run leaves nothing behind. ``render(name, size, rng)`` draws each image (default:
    ``render_shape`` for ``spec.kind == "shapes"``, ``render_pattern`` for ``"dots"``; a class name such as
    "square" exists in both). From ``PARALLEL_FROM`` images on, ``workers`` (default: one per CPU) draw them, a
    ``CHUNK`` at a time: processes on Linux, threads elsewhere or for a ``render`` of your own (see
    ``course_utils.processes``). On 2 cores two processes draw the ``shapes`` set about twice as fast as one
    thread, two threads 1.4 to 1.7 times: drawing is mostly Python, and threads take turns holding its lock
    (``benchmarks/data_preparation.py``).
    """
    root = Path(root)
    if root.exists():
        raise FileExistsError(f"{root} already exists; delete it or pick another folder")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    total = len(spec.classes) * (spec.train_per_class + spec.test_per_class)
    workers = cpu_count() if workers is None else workers
    parallel = workers > 1 and total >= PARALLEL_FROM
    bar = progress(total, f"drawing {root.name}", unit="image")
    pool = _worker_pool(workers, render) if parallel else None
    try:
        tasks = []
        for split, per_class in zip(SPLITS, (spec.train_per_class, spec.test_per_class), strict=True):
            for class_id, shape in enumerate(spec.classes):
                folder = tmp / split / shape
                folder.mkdir(parents=True)
                step = CHUNK if pool else 1  # one image at a time in this process, so the bar moves
                for start in range(0, per_class, step):
                    job = (spec, split, class_id, range(start, min(start + step, per_class)), folder, render)
                    if pool:
                        tasks.append(pool.submit(_draw_files, *job))
                    else:
                        bar.update(_draw_files(*job))
        for task in as_completed(tasks):
            bar.update(task.result())
        (tmp / MANIFEST).write_text(json.dumps(asdict(spec), indent=2))
        tmp.rename(root)
    except BaseException:
        if pool:
            pool.shutdown(cancel_futures=True)  # no worker still writing into tmp
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if pool:
            pool.shutdown()
        bar.close()
    return root


def get_dataset(name: str = "shapes", data_dir: str | Path | None = None) -> Path:
    """Return the folder of preset ``name`` (see ``PRESETS``), generating it first if needed.

    A folder generated by an older version of this code (its manifest differs) is regenerated; a folder
    without a manifest is not ours, so it is left alone and reported.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {sorted(PRESETS)}")
    spec = PRESETS[name]
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    root = root / name
    manifest = root / MANIFEST
    if root.exists():
        if not manifest.is_file():
            raise FileExistsError(f"{root} exists but has no {MANIFEST}; it was not generated by "
                                  f"course_utils. Move it away or pass another data_dir.")
        if json.loads(manifest.read_text()) == json.loads(json.dumps(asdict(spec))):
            return root
        shutil.rmtree(root)  # an older version of this preset
    print(f"[INFO] Generating the {name!r} dataset into {root} ...")
    return generate_shapes(root, spec)
