"""Stubs of lesson 06's exercises: the code cells the learner starts from in notebooks/exercises/06_training_from_scratch_exercises.ipynb.

Each `# %%` line starts a cell: the imports (the same as in solutions/lesson06.py), then one cell per
exercise. The prompts and hints are in text/lesson06.md; `python -m course_utils.exercises` builds the
notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import math

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import lesson06 as ex
from course_utils.vit import ViT


# %% q1
def lr_at(step: int, base_lr: float, warmup_steps: int, total_steps: int) -> float:
    """The learning rate at `step`: linear warmup from 0 to base_lr, then cosine decay to 0 at total_steps."""
    raise NotImplementedError  # replace this line with your code


# %% q2
def smoothed_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Cross-entropy against the smoothed target (1 - eps) * one_hot + eps / K, averaged over the batch."""
    raise NotImplementedError  # replace this line with your code


# %% q3
total_steps = ...  # a number


# %% q4
def decay_groups(model: nn.Module) -> tuple[list[str], list[str]]:
    """(decay, no_decay): the names of the parameters that get weight decay and of those that don't."""
    raise NotImplementedError  # replace this line with your code
