"""A point of an experiment: its settings (``DEFAULTS``, ``make_point``), its schedule and its reduced form;
an ``Experiment`` is a named list of points. The settings' meaning is in ``course_utils.experiments``."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from course_utils import precision, shapes
from course_utils.experiments.position import POOLINGS, POSITIONS
from course_utils.vit import INIT_STD

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
    "position_std": INIT_STD,  # the learned position tables' initial std (the paper's code: 0.02); None for the ResNet
    "position_lr_scale": 1.0,  # their learning rate over ``lr`` (no weight decay); None for the ResNet
    "amp": "off",  # precision: "off" (fp32), "auto", "bf16" or "fp16" (course_utils.precision)
    "stop_train_acc": None,  # stop early once an epoch's training accuracy reaches this (converged); None: never
}
WEIGHT_DECAY = 0.05
LABEL_SMOOTHING = 0.1
GRAD_CLIP = 1.0
WARMUP_FRACTION = 0.05  # linear warmup over this share of the steps, then cosine decay
FINE_TUNE_LR = 5e-4  # the pretrained ViT's learning rate (lesson 07's)
POOLING_LRS = (3e-4, 5e-4, 8e-4, 2e-3)  # pooling_lr's sweep: Figure 9's two rates (3e-4, 8e-4), one between, one above
SHUFFLE_SEED = 0  # the one fixed patch order of the shuffle probe
ROUND_IMAGES = 9000  # training loss and accuracy are averaged, and the stop rule checked, once per epoch,
# or every round of this many images (141 steps of 64) on a larger training set
REDUCED_IMAGES, REDUCED_STEPS, REDUCED_EPOCHS = 10, 20, 4  # ``reduced`` divides by these...
REDUCED_MAX_STEPS = 100  # ...and keeps min_steps at most this: a lesson re-runs a reduced point within its fast budget
FLOPS_PER_SECOND = 30e9  # what the baseline CPU (2 cores, AVX2, fp32) sustains on small ViTs: for estimates


def hours_at_baseline(flops: float) -> float:
    """Hours that ``flops`` of training take on the baseline CPU, at the rate it sustains (``FLOPS_PER_SECOND``)."""
    return flops / FLOPS_PER_SECOND / 3600


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
    multiple of the number of classes, at least one per class), a twentieth of ``min_steps`` (at most
    ``REDUCED_MAX_STEPS``) and a quarter of ``min_epochs``. Reduced points of different sizes stay different
    points."""
    point = make_point(**point)
    classes = _num_classes(point["dataset"])
    size = max(classes, point["train_size"] // REDUCED_IMAGES // classes * classes)
    return make_point(**{**point, "train_size": size,
                         "min_steps": max(1, min(point["min_steps"] // REDUCED_STEPS, REDUCED_MAX_STEPS)),
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
