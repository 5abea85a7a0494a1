"""The paper's experiments at laptop scale (lessons 09 and 10): their definitions, a runner and their results.

An **experiment** is a name, a description and a list of **points**; a point is a dict of settings (the keys of
``DEFAULTS``, always all of them, always in that order). ``run_point(point)`` trains one model from scratch (or
fine-tunes the pretrained pico checkpoint) on a class-balanced, seeded subset of the ``dots`` train split and
returns its metrics. ``python -m course_utils.experiments NAME`` runs every point of an experiment, with a
progress bar, and writes ``results/NAME.json`` after every point, so that a killed run resumes where it stopped.
The lessons read that file with ``load_results`` and ``summarise``.

The experiments (``EXPERIMENTS``):

- ``data_scale`` (Figures 3, 4 and 5): the pico ViT, a small ResNet (BiT), the hybrid and the ViT fine-tuned
  from the ``dots_pretrain`` checkpoint, each on 300, 900, 3,000 and 9,000 training images (30x), 2 seeds.
- ``position_embeddings`` (Table 8, Appendix D.4): the ViT with no position embedding, 1-D learned, 2-D
  learned, relative and 2-D sine-cosine embeddings (``course_utils.experiments.position``), 3 seeds, with the
  patch-shuffle probe.
- ``pooling_lr`` (Figure 9): class token against global average pooling, each at three learning rates, 3 seeds,
  with 2-D sine-cosine position embeddings (with the learned 1-D ones the ViT stays at chance at this budget).

The ResNet and the hybrid's CNN are at a quarter of BiT-R50's width (``CNN_WIDTH`` 16 stem channels), so
that a CNN costs about what the ViT costs per image.

**The schedule rule.** A point trains for ``epochs = max(min_epochs, ceil(min_steps / steps_per_epoch))`` whole
epochs (``schedule``): at least ``min_steps`` optimizer steps (600 of 64 images) and at least ``min_epochs``
passes over the data (6). Below 3,840 images every model gets about the same number of steps, whatever the
size, so a small training set is seen many times over (120 epochs of 300 images) and the points differ only in
how many *distinct* images those steps show: the question of Figures 3 and 4. A fixed number of epochs would
not be fair: 6 epochs of 300 images are 30 steps, too few for any model to learn, and the smallest sizes would
measure too little training rather than too little data. From 3,840 images on, compute grows with the data (6
epochs of 9,000 images), as the paper trains its larger sets for more steps; that spreads the points of Figure
5 (accuracy against training FLOPs): the four sizes cost 600 + 600 + 611 + 846 steps per model and seed.

**What it costs** (``python -m course_utils.experiments --list``, training FLOPs, at the about 30 GFLOP/s the
baseline CPU sustains on small ViTs): ``data_scale`` about 190 TFLOP, 1.7 hours; ``position_embeddings`` about
120 TFLOP, 1.1 hours; ``pooling_lr`` about 140 TFLOP, 1.3 hours. The lessons print the times measured.

**The recipe** is the course's (``python -m course_utils.train``, lesson 06): AdamW (``course_utils.optim``'s
parameter groups, 0.05 weight decay on weight matrices), linear warmup over the first 5% of the steps then
cosine decay (``engine.warmup_cosine_scheduler``), label smoothing 0.1, gradient clipping at norm 1, no dropout,
no augmentation, fp32 unless a point's ``amp`` says otherwise (``course_utils.precision``). Learning rates:
1e-3 from scratch, 5e-4 to fine-tune (as in lesson 07).

**Metrics** of a point: ``test_acc`` and ``test_loss`` on the 600 ``dots`` test images; ``train_acc`` on the
training subset, clean (eval mode); ``shuffle_acc``, the test accuracy when the 8 px patches of every test image
are shuffled in one fixed random order (``shuffle_patches``: who cares where the patches are?); ``train_loss``
(the last epoch's mean, label-smoothed); ``train_flops`` (``course_utils.flops.training_flops``: forward and
backward of every training image seen); ``train_s`` (the training loop) and ``wall_s`` (the whole point,
data included); ``epochs``, ``steps``, ``params``, ``precision`` and ``device``.

**Fast runs.** ``reduced(point)`` is the same point with a tenth of the images, a twentieth of the minimum
steps and a quarter of the minimum epochs (30 steps, 1 epoch). ``python -m course_utils.experiments NAME --fast`` runs every point
reduced into ``results/NAME_fast.json``; under ``COURSE_FAST`` a lesson re-runs one reduced point
(``run_point(point, fast=True)``) and asserts that it lands within that file's spread for the point.

**The results file** is ``{"experiment", "description", "machine", "points": [{"settings", "metrics"}, ...]}``,
its points in the experiment's order (seeds last); they are run seed by seed, so a run stopped early already holds
every setting once. A second run skips the points already in the file (keyed by their settings) and adds any
new seeds (``--seeds``), but refuses a file holding a point that the experiment does not have (another
schedule, precision or version of the grid): delete it or pass another ``--out``.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torchvision.transforms import v2
from tqdm.auto import tqdm

from course_utils import data_setup, engine, flops, precision, shapes, utils
from course_utils.experiments.position import POOLINGS, POSITIONS, VariantViT
from course_utils.optim import init_position_embedding, make_optimizer
from course_utils.vit import MODEL_CONFIGS, ViT

__all__ = ["DEFAULTS", "EXPERIMENTS", "MODELS", "POOLINGS", "POSITIONS", "RESULTS_DIR", "Experiment",
           "IncompatibleResults", "VariantViT", "balanced_subset", "build_model", "estimate_flops",
           "load_machine", "load_results", "machine_line", "make_point",
           "probe_permutation", "reduced", "results_path", "run_experiment", "run_point", "schedule",
           "shuffle_patches", "summarise"]

MODELS = ("vit", "resnet", "hybrid", "vit_pretrained")
VIT_SIZE = "pico"  # the ViT of every experiment, and the encoder size of the hybrid (6 layers, D=64, 4 heads)
CNN_WIDTH = 16  # the ResNet's and the hybrid's CNN at a quarter of BiT-R50's width (64)

# Every point has every one of these settings, in this order (``make_point`` fills in the defaults).
DEFAULTS: dict[str, Any] = {
    "model": "vit",  # one of MODELS
    "dataset": "dots",  # a preset of course_utils.shapes (or the folder passed as data_root)
    "train_size": 9000,  # images in the training subset, class-balanced
    "seed": 0,  # the subset, the initialisation and the batch order
    "lr": 1e-3,  # peak learning rate
    "batch_size": 64,
    "min_steps": 600,  # the schedule rule: at least this many optimizer steps...
    "min_epochs": 6,  # ...and at least this many epochs (see ``schedule``)
    "img_size": 64,
    "patch_size": 8,  # the ViT's patch side; also the patch of the shuffle probe (for every model)
    "position": "learned_1d",  # the ViT's position embedding (POSITIONS); None for the ResNet
    "pooling": "cls",  # the ViT's head input (POOLINGS); None for the ResNet
    "position_std": 0.02,  # the learned position tables' initial std (the paper's code: 0.02); None for the ResNet
    "position_lr_scale": 1.0,  # their learning rate over ``lr`` (no weight decay); None for the ResNet
    "amp": "off",  # precision: "off" (fp32), "auto", "bf16" or "fp16" (course_utils.precision)
    "stop_train_acc": None,  # stop early once an epoch's training accuracy reaches this (converged); None: never
}
WEIGHT_DECAY = 0.05
LABEL_SMOOTHING = 0.1
GRAD_CLIP = 1.0
WARMUP_FRACTION = 0.05  # linear warmup over this share of the steps, then cosine decay
FINE_TUNE_LR = 5e-4  # the pretrained ViT's learning rate (lesson 07's)
POOLING_LRS = (3e-4, 1e-3, 3e-3)  # pooling_lr's sweep
SHUFFLE_SEED = 0  # the one fixed patch order of the shuffle probe
REDUCED_IMAGES, REDUCED_STEPS, REDUCED_EPOCHS = 10, 20, 4  # ``reduced`` divides by these
FLOPS_PER_SECOND = 30e9  # what the baseline CPU (2 cores, AVX2, fp32) sustains on small ViTs: for estimates


# ------------------------------------------------------------------------------------------------ points


def make_point(**settings: Any) -> dict[str, Any]:
    """A complete point: ``DEFAULTS`` overridden by ``settings``, keys in ``DEFAULTS``' order, checked.

    The ResNet has no position embedding or pooling to choose: its ``position`` and ``pooling`` are None.
    """
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown settings {unknown}; a point has {list(DEFAULTS)}")
    point = {key: settings.get(key, default) for key, default in DEFAULTS.items()}
    model = point["model"]
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if model == "resnet":
        point["position"] = point["pooling"] = point["position_std"] = point["position_lr_scale"] = None
    elif point["position"] not in POSITIONS or point["pooling"] not in POOLINGS:
        raise ValueError(f"position must be one of {POSITIONS} and pooling one of {POOLINGS}, "
                         f"got {point['position']!r} and {point['pooling']!r}")
    elif model != "vit" and (point["position"], point["pooling"]) != ("learned_1d", "cls"):
        raise ValueError(f"only the plain ViT takes other position embeddings or pooling; {model} has "
                         f"learned_1d and cls")
    if point["amp"] not in precision.MODES:
        raise ValueError(f"unknown amp {point['amp']!r}; choose one of {', '.join(precision.MODES)}")
    for key in ("train_size", "batch_size", "min_steps", "min_epochs", "img_size", "patch_size"):
        if not isinstance(point[key], int) or point[key] < 1:
            raise ValueError(f"{key} must be a positive integer, got {point[key]!r}")
    stop = point["stop_train_acc"]
    if stop is not None and not (isinstance(stop, float) and 0 < stop <= 1):
        raise ValueError(f"stop_train_acc must be None or a fraction in (0, 1], got {stop!r}")
    if point["img_size"] % point["patch_size"]:
        raise ValueError(f"img_size {point['img_size']} is not divisible by patch_size {point['patch_size']}")
    return point


def schedule(point: dict[str, Any]) -> tuple[int, int]:
    """(epochs, steps per epoch) of a point: at least ``min_steps`` steps and ``min_epochs`` whole epochs."""
    steps_per_epoch = math.ceil(point["train_size"] / point["batch_size"])
    return max(point["min_epochs"], math.ceil(point["min_steps"] / steps_per_epoch)), steps_per_epoch


def _num_classes(dataset: str) -> int:
    return len(shapes.PRESETS[dataset].classes) if dataset in shapes.PRESETS else 1


def reduced(point: dict[str, Any]) -> dict[str, Any]:
    """The same point, cheaper (for ``--fast`` and COURSE_FAST): a tenth of the training images (still a
    multiple of the number of classes, at least one per class), a twentieth of ``min_steps`` and a quarter of
    ``min_epochs``. Reduced points of different sizes stay different points."""
    point = make_point(**point)
    classes = _num_classes(point["dataset"])
    size = max(classes, point["train_size"] // REDUCED_IMAGES // classes * classes)
    return make_point(**{**point, "train_size": size,
                         "min_steps": max(1, point["min_steps"] // REDUCED_STEPS),
                         "min_epochs": max(1, point["min_epochs"] // REDUCED_EPOCHS)})


def _key(settings: dict[str, Any], ignore: Sequence[str] = ()) -> str:
    """A point's identity: its settings as canonical JSON (without the keys in ``ignore``)."""
    return json.dumps({k: v for k, v in settings.items() if k not in ignore}, sort_keys=True)


@dataclass(frozen=True)
class Experiment:
    """A named list of points (complete settings dicts, see ``make_point``)."""

    name: str
    description: str
    points: tuple[dict[str, Any], ...]

    def grid(self, seeds: Sequence[int] | None = None, fast: bool = False) -> list[dict[str, Any]]:
        """The points to run: with ``seeds``, every distinct setting once per seed (in the order given);
        with ``fast``, each point ``reduced``."""
        points = [dict(p) for p in self.points]
        if seeds is not None:
            firsts: dict[str, dict[str, Any]] = {}  # the first point of each setting, seeds aside
            for p in points:
                firsts.setdefault(_key(p, ["seed"]), p)
            points = [make_point(**{**p, "seed": seed}) for p in firsts.values() for seed in seeds]
        return [reduced(p) for p in points] if fast else points


# The course's from-scratch recipe for the ViT's learned position tables (course_utils.optim; lesson 06, "Is my
# ViT learning?"): drawn at std 0.2 instead of 0.02, trained at 10x the learning rate without weight decay.
RECIPE = {"position_std": 0.2, "position_lr_scale": 10.0}


def _experiments() -> dict[str, Experiment]:
    seeds = (0, 1)
    ablation_seeds = (0, 1, 2)  # the ViT's take-off step varies with the seed: one more for the ablations
    models = {"vit": 1e-3, "resnet": 1e-3, "hybrid": 1e-3, "vit_pretrained": FINE_TUNE_LR}
    data_scale = Experiment(
        "data_scale",
        "Figures 3-5 at laptop scale: the pico ViT, a small ResNet (BiT), the hybrid (its CNN and the pico "
        "encoder) and the pico ViT fine-tuned from the dots_pretrain checkpoint, trained on 300 to 9,000 "
        "images of dots (30x), 2 seeds; test accuracy against training-set size and against training FLOPs.",
        tuple(make_point(model=model, lr=lr, train_size=size, seed=seed)
              for model, lr in models.items() for size in (300, 900, 3000, 9000) for seed in seeds))
    # Table 8 and the plateau: long enough for a learned table to take off (about 1,000 steps on the seeds
    # tried), stopped once the training accuracy reaches 99%
    long = {"min_steps": 2000, "stop_train_acc": 0.99}
    position_embeddings = Experiment(
        "position_embeddings",
        "Table 8 (Appendix D.4) at laptop scale: the pico ViT with no position embedding, 1-D learned, "
        "2-D learned, relative and 2-D sine-cosine embeddings on the 9,000 dots training images, 3 seeds, "
        "with the patch-shuffle probe (shuffle_acc). The learned tables follow the course's recipe (RECIPE: "
        "drawn at std 0.2, 10x the learning rate); up to 2,115 steps, stopped at 99% training accuracy.",
        tuple(make_point(position=position, seed=seed, **long, **RECIPE)
              for position in POSITIONS for seed in ablation_seeds))
    plateau = Experiment(
        "plateau",
        "Is my ViT learning? The pico ViT with the paper's learned 1-D position embedding on the 9,000 dots "
        "training images, 3 seeds: initialised as the paper's code does (std 0.02, the optimizer's learning "
        "rate) against the course's recipe (RECIPE: std 0.2, 10x the learning rate, no weight decay); up to "
        "2,115 steps, stopped at 99% training accuracy. The recipe's runs are position_embeddings' learned_1d "
        "runs.",
        tuple(make_point(seed=seed, **long, **recipe)
              for recipe in ({}, RECIPE) for seed in ablation_seeds))
    pooling_lr = Experiment(
        "pooling_lr",
        "Figure 9 at laptop scale: the pico ViT's head on the class token against global average pooling of "
        "the patch tokens, each at three learning rates, on the 9,000 dots training images, 3 seeds. With 2-D "
        "sine-cosine position embeddings: with the learned 1-D ones the ViT does not leave chance at this "
        "budget (position_embeddings), and a sweep at chance would compare nothing.",
        tuple(make_point(pooling=pooling, lr=lr, position="sincos_2d", seed=seed)
              for pooling in POOLINGS for lr in POOLING_LRS for seed in ablation_seeds))
    return {e.name: e for e in (plateau, data_scale, position_embeddings, pooling_lr)}


EXPERIMENTS: dict[str, Experiment] = _experiments()


# -------------------------------------------------------------------------------------------------- data


class _LazySplit:
    """An ImageFolder split whose images are decoded on first use and kept as uint8 tensors (N, 3, H, W)."""

    def __init__(self, folder: Path, img_size: int) -> None:
        transform = v2.Compose([v2.Resize((img_size, img_size), antialias=True), v2.ToImage()])  # uint8
        self.folder = data_setup.image_folder(folder, transform=transform)
        self.classes = list(self.folder.classes)
        self.labels = torch.tensor(self.folder.targets, dtype=torch.long)
        self.images = torch.zeros(len(self.labels), 3, img_size, img_size, dtype=torch.uint8)
        self.decoded = torch.zeros(len(self.labels), dtype=torch.bool)

    def take(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 images, labels) of ``indices``, decoding the ones not seen yet."""
        for i in indices[~self.decoded[indices]].tolist():
            self.images[i] = self.folder[i][0]
            self.decoded[i] = True
        return self.images[indices], self.labels[indices]


_SPLITS: dict[tuple[str, int], _LazySplit] = {}  # decoded once per process


def _split(folder: Path, img_size: int) -> _LazySplit:
    key = (str(folder.resolve()), img_size)
    if key not in _SPLITS:
        _SPLITS[key] = _LazySplit(folder, img_size)
    return _SPLITS[key]


def balanced_subset(labels: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """Indices of ``size`` items, ``size / classes`` of each class, drawn by ``seed``: sorted by class, and
    nested (the subset of 300 is part of the subset of 900 with the same seed)."""
    classes = int(labels.max()) + 1
    if size % classes:
        raise ValueError(f"train_size {size} is not a multiple of the {classes} classes")
    per_class, chosen = size // classes, []
    for c in range(classes):
        members = torch.nonzero(labels == c).flatten()
        if per_class > len(members):
            raise ValueError(f"train_size {size} needs {per_class} images of class {c}; there are {len(members)}")
        order = np.random.default_rng([seed, c]).permutation(len(members))[:per_class]
        chosen.append(members[torch.from_numpy(order)])
    return torch.cat(chosen)


def probe_permutation(num_patches: int, seed: int = SHUFFLE_SEED) -> torch.Tensor:
    """The shuffle probe's one fixed random order of ``num_patches`` patches (never the identity): the first
    ``torch.randperm`` of a generator seeded with ``seed``, the order lesson 08's probe uses."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(num_patches, generator=generator)
        if num_patches < 2 or not torch.equal(order, torch.arange(num_patches)):
            return order


def shuffle_patches(images: torch.Tensor, patch_size: int, permutation: torch.Tensor) -> torch.Tensor:
    """Images (B, C, H, W) with their P x P patches moved: patch ``permutation[i]`` (in raster order) goes to
    place i. Every patch stays whole; only where it is changes."""
    batch, channels, height, width = images.shape
    rows, cols = height // patch_size, width // patch_size
    patches = images.reshape(batch, channels, rows, patch_size, cols, patch_size).permute(0, 2, 4, 1, 3, 5)
    patches = patches.reshape(batch, rows * cols, channels, patch_size, patch_size)[:, permutation]
    patches = patches.reshape(batch, rows, cols, channels, patch_size, patch_size).permute(0, 3, 1, 4, 2, 5)
    return patches.reshape(batch, channels, height, width)


class TensorBatches:
    """Batches (float images in [0, 1], labels) of uint8 images held in memory, in a new order every pass
    (drawn from a generator seeded once) when ``shuffle``. A cheap stand-in for a DataLoader."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, shuffle: bool = False,
                 seed: int = 0) -> None:
        self.images, self.labels, self.batch_size, self.shuffle = images, labels, batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.images.device)
        for start in range(0, n, self.batch_size):
            index = order[start:start + self.batch_size]
            yield self.images[index].float().div_(255), self.labels[index]


# ------------------------------------------------------------------------------------------------ models


def pretrained_path() -> Path:
    """The pico checkpoint pretrained on ``dots_pretrain`` (fetched if missing): ``vit_pretrained``'s start."""
    from course_utils.pretrained import DOTS_PRETRAINED, pretrained_checkpoint

    return pretrained_checkpoint(DOTS_PRETRAINED)


def build_model(point: dict[str, Any], num_classes: int, load_weights: bool = True) -> nn.Module:
    """The model of a point, freshly initialised (from the current torch seed). ``vit_pretrained`` starts from
    ``pretrained_path()``'s weights with a new head unless ``load_weights`` is False."""
    model, img_size, patch_size = point["model"], point["img_size"], point["patch_size"]
    encoder = MODEL_CONFIGS[VIT_SIZE]
    if model == "resnet":
        from course_utils.resnet import micro_resnet

        return micro_resnet(num_classes, img_size=img_size, width=CNN_WIDTH)
    if model == "hybrid":
        from course_utils.hybrid import micro_hybrid

        return micro_hybrid(num_classes, img_size=img_size, embedding_dim=encoder["embedding_dim"],
                            num_layers=encoder["num_transformer_layers"], num_heads=encoder["num_heads"],
                            mlp_size=encoder["mlp_size"], width=CNN_WIDTH, mlp_dropout=0.0,
                            embedding_dropout=0.0)
    config = dict(img_size=img_size, patch_size=patch_size, num_classes=num_classes, mlp_dropout=0.0,
                  embedding_dropout=0.0, **encoder)
    if (point["position"], point["pooling"]) != ("learned_1d", "cls"):
        return VariantViT(position=point["position"], pooling=point["pooling"], **config)
    vit = ViT(**config)  # the course's model, exactly
    if model == "vit_pretrained" and load_weights:
        from course_utils.pretrained import load_pretrained

        load_pretrained(vit, pretrained_path())
    return vit


# -------------------------------------------------------------------------------------------------- runs


def run_point(point: dict[str, Any], data_root: str | Path | None = None, fast: bool = False,
              device: str | None = None, progress: bool = False,
              save_model: str | Path | None = None) -> dict[str, Any]:
    """Train and evaluate one point; return its metrics (see the module docstring).

    Args:
        point: settings (missing ones take ``DEFAULTS``).
        data_root: a folder with ``train/`` and ``test/`` in ImageFolder layout; default: the point's
            ``dataset`` preset, generated if absent. Images are decoded once per process and kept.
        fast: run ``reduced(point)`` instead.
        device: default ``utils.get_device()``.
        progress: a progress bar over the epochs.
        save_model: write the trained model's weights (fp16) and its point to this file.
    """
    start = time.perf_counter()
    point = reduced(point) if fast else make_point(**point)
    device = device or utils.get_device()
    root = Path(data_root) if data_root is not None else shapes.get_dataset(point["dataset"])
    train_split = _split(root / "train", point["img_size"])
    test_split = _split(root / "test", point["img_size"])
    if train_split.classes != test_split.classes:
        raise ValueError(f"train classes {train_split.classes} differ from test classes {test_split.classes}")
    indices = balanced_subset(train_split.labels, point["train_size"], point["seed"])
    train_x, train_y = (t.to(device) for t in train_split.take(indices))
    test_x, test_y = (t.to(device) for t in test_split.take(torch.arange(len(test_split.labels))))
    shuffled_x = shuffle_patches(test_x, point["patch_size"],
                                 probe_permutation((point["img_size"] // point["patch_size"]) ** 2))

    utils.set_seeds(point["seed"])
    model = build_model(point, len(train_split.classes)).to(device)
    if point["model"] == "vit" and point["position_std"] != DEFAULTS["position_std"]:
        init_position_embedding(model, point["position_std"])
    chosen = precision.choose_precision(device, point["amp"])
    epochs, steps_per_epoch = schedule(point)
    steps = epochs * steps_per_epoch
    image_shape = tuple(train_x.shape[1:])
    flops_per_epoch = flops.training_flops(model, image_shape, point["train_size"], 1)
    optimizer = make_optimizer(model, point["lr"], WEIGHT_DECAY, device, point["position_lr_scale"] or 1.0)
    scheduler = engine.warmup_cosine_scheduler(optimizer, round(WARMUP_FRACTION * steps), steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING)
    scaler = chosen.grad_scaler()
    batches = TensorBatches(train_x, train_y, point["batch_size"], shuffle=True, seed=point["seed"])

    train_start = time.perf_counter()
    train_losses, train_accs = [], []  # each epoch's means: a run stuck at the uniform guess stays at ln C
    for epoch in tqdm(range(epochs), desc="epochs", leave=False, disable=not progress):
        loss, accuracy = engine.train_step(model, batches, loss_fn, optimizer, device, scheduler, GRAD_CLIP,
                                           chosen, scaler, epoch)
        train_losses.append(loss)
        train_accs.append(accuracy)
        if point["stop_train_acc"] is not None and accuracy >= point["stop_train_acc"]:
            break  # converged: the rest of the schedule would add little but time
    train_s = time.perf_counter() - train_start

    plain_loss = nn.CrossEntropyLoss()
    evaluate = {name: TensorBatches(x, y, 256) for name, x, y in
                [("test", test_x, test_y), ("train", train_x, train_y), ("shuffled", shuffled_x, test_y)]}
    results = {name: engine.test_step(model, data, plain_loss, device, chosen) for name, data in evaluate.items()}
    if save_model is not None:
        state = {k: v.detach().to("cpu", torch.float16) for k, v in model.state_dict().items()}
        utils.save_checkpoint({"model": state, "point": point, "class_names": train_split.classes}, save_model)
    return {"test_acc": results["test"][1], "train_acc": results["train"][1], "shuffle_acc": results["shuffled"][1],
            "test_loss": results["test"][0], "train_loss": train_losses[-1], "train_losses": train_losses, "train_accs": train_accs, "train_flops": flops_per_epoch * len(train_losses),
            "train_s": train_s, "wall_s": time.perf_counter() - start, "epochs": len(train_losses),
            "steps": len(train_losses) * steps_per_epoch, "scheduled_steps": steps,
            "params": sum(p.numel() for p in model.parameters()), "precision": chosen.name,
            "device": str(device)}


def estimate_flops(points: Sequence[dict[str, Any]]) -> int:
    """Training FLOPs of ``points``, as ``run_point`` will count them, without training anything."""
    per_image: dict[str, float] = {}
    total = 0.0
    for point in points:
        arch = make_point(**{**point, "model": "vit" if point["model"] == "vit_pretrained" else point["model"],
                             "seed": 0, "lr": 0.0, "train_size": 1, "min_steps": 1, "min_epochs": 1})
        key = _key(arch)
        if key not in per_image:
            model = build_model(arch, _num_classes(point["dataset"]), load_weights=False)
            size = point["img_size"]
            images, labels = torch.zeros(2, 3, size, size), torch.zeros(2, dtype=torch.long)
            per_image[key] = flops.train_step_flops(model, images, labels) / 2  # as training_flops counts
        epochs, _ = schedule(point)
        total += per_image[key] * point["train_size"] * epochs
    return round(total)


def describe_machine(device: str | None = None) -> dict[str, Any]:
    """Where a run happened: device (and GPU name), the CPU's vector extensions as torch uses them, threads."""
    device = device or utils.get_device()
    machine = {"device": device, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
               "threads": torch.get_num_threads(), "torch": torch.__version__, "platform": platform.platform()}
    if torch.device(device).type == "cuda":
        machine["gpu"] = torch.cuda.get_device_name(device)
    return machine


def _order(points: list[dict[str, Any]], grid: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored points in the grid's order of settings, then by seed."""
    rank: dict[str, int] = {}
    for p in grid:
        rank.setdefault(_key(p, ["seed"]), len(rank))
    return sorted(points, key=lambda p: (rank[_key(p["settings"], ["seed"])], p["settings"]["seed"]))


class IncompatibleResults(ValueError):
    """A results file that holds another experiment, or points the experiment does not have."""


def _check_compatible(stored: dict[str, Any], experiment: Experiment, grid: list[dict[str, Any]],
                      path: Path) -> None:
    """Refuse a results file of another experiment, or holding a point the experiment does not have."""
    if stored.get("experiment") != experiment.name:
        raise IncompatibleResults(f"{path} holds results of experiment {stored.get('experiment')!r}, not "
                         f"{experiment.name!r}; pass another --out")
    allowed = {_key(p, ["seed"]) for p in grid}
    for entry in stored.get("points", []):
        settings = entry["settings"]
        if _key(settings, ["seed"]) in allowed:
            continue
        nearest = min(grid, key=lambda p: sum(settings.get(k) != v for k, v in p.items() if k != "seed"))
        keys = [k for k in sorted(set(settings) | set(nearest)) if k != "seed"]
        differences = ", ".join(f"{k}={settings.get(k)!r} (now {nearest.get(k)!r})"
                                for k in keys if settings.get(k) != nearest.get(k))
        raise IncompatibleResults(f"{path} was made with other settings than {experiment.name!r} has now: {differences}. "
                         f"Delete the file to start again, or pass another --out.")


def _slug(point: dict[str, Any]) -> str:
    """A file name for a point: its model, position, pooling, size, learning rate and seed."""
    return (f"{point['model']}_{point['position']}_{point['pooling']}_{point['train_size']}_lr{point['lr']:g}"
            f"_std{point['position_std']}_seed{point['seed']}")


def _runs_beside(out: Path) -> dict[str, dict[str, Any]]:
    """The metrics of every point in the other results files of ``out``'s folder, keyed by their settings."""
    runs: dict[str, dict[str, Any]] = {}
    for path in sorted(out.parent.glob("*.json")) if out.parent.is_dir() else []:
        if path.resolve() == out.resolve():
            continue
        try:
            for entry in json.loads(path.read_text()).get("points", []):
                runs.setdefault(_key(entry["settings"]), entry["metrics"])
        except (ValueError, KeyError, AttributeError):
            continue  # not a results file
    return runs


def run_experiment(experiment: Experiment, out: str | Path, seeds: Sequence[int] | None = None,
                   fast: bool = False, data_root: str | Path | None = None, device: str | None = None,
                   amp: str | None = None, progress: bool | None = None,
                   save_models: str | Path | None = None) -> dict[str, Any]:
    """Run the points of ``experiment`` not yet in ``out``, writing ``out`` atomically after each one.

    Args:
        experiment: what to run.
        out: the results file (JSON, see the module docstring); its points are skipped, and it is refused if it
            holds a point that is not one of the experiment's (seeds aside). A point with the same settings
            (seed included) in another results file of ``out``'s folder is copied from there, not trained again.
        seeds: run every setting with these seeds instead of the experiment's.
        fast: run every point ``reduced``.
        amp: every point's precision, instead of its own.
        data_root: as in ``run_point``.
        device: as in ``run_point``.
        progress: progress bars (default: when interactive, and not TQDM_DISABLE=1).
        save_models: a folder to keep every trained model in (``run_point``'s ``save_model``), named by
            ``_slug``.

    Returns the file's content, with ``"ran"``: the number of points run by this call.
    """
    out = Path(out)
    grid = experiment.grid(seeds, fast)
    if amp is not None:
        grid = [make_point(**{**p, "amp": amp}) for p in grid]
    stored = json.loads(out.read_text()) if out.exists() else {"experiment": experiment.name, "points": []}
    _check_compatible(stored, experiment, grid, out)  # seeds aside, so a file with other seeds is extended
    points = list(stored["points"])
    done = {_key(entry["settings"]) for entry in points}
    # seed by seed (stable): a run stopped early already holds every setting once
    todo = sorted((p for p in grid if _key(p) not in done), key=lambda p: p["seed"])
    elsewhere = _runs_beside(out)
    machine = describe_machine(device)
    disable = engine.progress_disabled() if progress is None else not progress
    content: dict[str, Any] = {}

    def write() -> None:
        content.update(experiment=experiment.name, description=experiment.description, machine=machine,
                       points=_order(points, grid))
        utils.atomic_write(out, lambda tmp: tmp.write_text(json.dumps(content, indent=1) + "\n"))

    with tqdm(total=len(grid), initial=len(grid) - len(todo), desc=experiment.name, disable=disable) as bar:
        for point in todo:
            # the same settings and seed were already trained for another experiment: the same run, reused
            metrics = elsewhere.get(_key(point)) if data_root is None else None
            if metrics is None:
                saved = None if save_models is None else Path(save_models) / f"{experiment.name}_{_slug(point)}.pt"
                metrics = run_point(point, data_root=data_root, device=device, progress=not disable,
                                    save_model=saved)
            points.append({"settings": point, "metrics": metrics})
            write()
            bar.set_postfix(test_acc=f"{metrics['test_acc']:.3f}")
            bar.update()
    return {**(content or stored), "ran": len(todo)}


# ----------------------------------------------------------------------------------------------- results


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
