"""Stubs of lesson 01's exercises: the code cells the learner starts from in notebooks/exercises/01_data_exercises.ipynb.

Each `# %%` line starts a cell: the imports (the same as in solutions/lesson01.py), then one cell per
exercise. The prompts and hints are in text/lesson01.md; `python -m course_utils.exercises` builds the
notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import os
from pathlib import Path

import torch
from torchvision import datasets
from torchvision.transforms import v2

from course_utils import data_setup, shapes
from course_utils.exercises import lesson01 as ex
from course_utils.helper_functions import walk_through_dir

# %% q1
small_root = shapes.get_dataset("shapes_small")  # 75 train + 25 test images per class, 32 x 32 px
train_dataloader, test_dataloader, class_names = data_setup.create_dataloaders(
    small_root / "train", small_root / "test", transform=data_setup.default_transform(64), batch_size=32)

batch_facts = {
    "num_batches": ...,  # len(train_dataloader)
    "images": ...,  # the shape of the first batch's images, a tuple
    "labels": ...,  # the shape of its labels
    "last_images": ...,  # the shape of the last batch's images
    "patches_p8": ...,  # N for one 64-px image with P = 8
    "patches_p16": ...,  # N with P = 16
}


# %% q2
def count_per_class(root: str | Path) -> dict[str, int]:
    """{class name: number of images} for an ImageFolder-style folder root/<class>/<images>."""
    raise NotImplementedError  # replace this line with your code


# %% q3
def make_transforms(img_size: int) -> tuple[v2.Compose, v2.Compose]:
    """(train_transform, test_transform): both give float (3, img_size, img_size) tensors in [0, 1];
    only the training one augments at random."""
    raise NotImplementedError  # replace this line with your code


# %% q4
class_to_idx = ...  # a dict: {class name: label}
