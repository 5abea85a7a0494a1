"""The experiments' data: a preset's splits drawn in memory and a folder's decoded, either held as uint8
tensors; class-balanced nested subsets, batches drawn from memory, and the patch-shuffle probe."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

from course_utils import data_setup, shapes
from course_utils.experiments.points import SHUFFLE_SEED


class _CachedSplit:
    """A split's labels, and its images (N, 3, H, W) as uint8 tensors made on first use (``_load``) and kept."""

    def __init__(self, classes: list[str], labels: torch.Tensor, img_size: int) -> None:
        self.classes, self.labels = classes, labels
        self.resize = v2.Compose([v2.Resize((img_size, img_size), antialias=True), v2.ToImage()])  # uint8
        self.images = torch.empty(len(labels), 3, img_size, img_size, dtype=torch.uint8)  # filled as used
        self.made = torch.zeros(len(labels), dtype=torch.bool)

    def _load(self, index: int) -> Image.Image:
        raise NotImplementedError

    def take(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 images, labels) of ``indices``, making the ones not seen yet."""
        for i in indices[~self.made[indices]].tolist():
            self.images[i] = self.resize(self._load(i))
            self.made[i] = True
        return self.images[indices], self.labels[indices]


class _FolderSplit(_CachedSplit):
    """An ImageFolder split (``folder/<class>/*``), each image decoded on first use."""

    def __init__(self, folder: Path, img_size: int) -> None:
        self.folder = data_setup.image_folder(folder)
        super().__init__(list(self.folder.classes), torch.tensor(self.folder.targets, dtype=torch.long), img_size)

    def _load(self, index: int) -> Image.Image:
        return self.folder[index][0]


class _DrawnSplit(_CachedSplit):
    """A ``shapes`` preset's split, each image drawn on first use (``shapes.draw_image``): the same images, labels
    and order as ``_FolderSplit`` of the preset's folder (classes sorted by name, as ImageFolder sorts them),
    without writing a file. How a 90,000-image training set costs memory, not 90,000 PNGs."""

    def __init__(self, preset: str, split: str, img_size: int) -> None:
        if preset not in shapes.PRESETS:
            raise ValueError(f"unknown dataset {preset!r}; choose from {sorted(shapes.PRESETS)}")
        self.spec, self.split = shapes.PRESETS[preset], split
        self.per_class = self.spec.train_per_class if split == "train" else self.spec.test_per_class
        classes = sorted(self.spec.classes)
        labels = torch.arange(len(classes)).repeat_interleave(self.per_class)
        super().__init__(classes, labels, img_size)

    def _load(self, index: int) -> Image.Image:
        label, i = divmod(index, self.per_class)
        return shapes.draw_image(self.spec, self.split, self.spec.classes.index(self.classes[label]), i)


_SPLITS: dict[tuple[str, str, int], _CachedSplit] = {}  # made once per process


def open_split(dataset: str, split: str, img_size: int, data_root: str | Path | None = None) -> _CachedSplit:
    """``split`` ("train" or "test") of the ``shapes`` preset ``dataset``, drawn in memory, or of the folder
    ``data_root`` (ImageFolder layout, ``dataset`` ignored), at ``img_size``; one object per process."""
    source = dataset if data_root is None else str((Path(data_root) / split).resolve())
    key = (source, split, img_size)
    if key not in _SPLITS:
        _SPLITS[key] = (_DrawnSplit(dataset, split, img_size) if data_root is None
                        else _FolderSplit(Path(source), img_size))
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


def in_rounds(batches: Iterable[Any], steps: int, per_round: int) -> Iterator[Iterator[Any]]:
    """``steps`` batches of ``batches``, passed over again and again (a new order each pass when it shuffles),
    in rounds of ``per_round`` (the last may be shorter). With ``per_round`` = one pass, a round is an epoch."""
    stream = itertools.chain.from_iterable(itertools.repeat(batches))
    for start in range(0, steps, per_round):
        yield itertools.islice(stream, min(per_round, steps - start))


def images_seen(steps: int, train_size: int, batch_size: int) -> int:
    """Training images in ``steps`` batches of ``batch_size`` passing over ``train_size`` images again and
    again, each pass ending with one partial batch."""
    per_pass = math.ceil(train_size / batch_size)
    passes, rest = divmod(steps, per_pass)
    return passes * train_size + rest * batch_size
