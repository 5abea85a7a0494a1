"""Stubs of lesson 09's exercises: the code cells the learner starts from in notebooks/exercises/09_data_and_inductive_bias_exercises.ipynb.

Each `# %%` line starts a cell: the imports (the same as in solutions/lesson09.py), then one cell per
exercise. The prompts and hints are in text/lesson09.md; `python -m course_utils.exercises` builds the
notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import copy
import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils import flops
from course_utils.exercises import lesson09 as ex


# %% q1
def balanced_subset(labels: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """Indices of `size` distinct items, size / K of each of the K classes, drawn by `seed` alone."""
    raise NotImplementedError  # replace this line with your code


# %% q2
def training_flops_per_image(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """FLOPs of one training step (forward, loss, backward) on the batch, per image."""
    raise NotImplementedError  # replace this line with your code


# %% q3
def schedule(train_size: int, batch_size: int, min_steps: int, min_epochs: int) -> tuple[int, int]:
    """(epochs, steps per epoch): at least `min_steps` steps and at least `min_epochs` whole epochs."""
    raise NotImplementedError  # replace this line with your code


# %% q4
def accuracy_gap(rows: list[dict], model_a: str, model_b: str) -> dict[int, float]:
    """{train_size: mean over the shared seeds of (a's test_acc - b's test_acc)}, sizes ascending."""
    raise NotImplementedError  # replace this line with your code
