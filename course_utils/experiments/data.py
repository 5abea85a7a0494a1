"""The experiments' data: the ``dots`` splits decoded once and held as uint8 tensors, class-balanced nested
subsets, batches drawn from memory, and the patch-shuffle probe."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms import v2

from course_utils import data_setup
from course_utils.experiments.points import SHUFFLE_SEED


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
