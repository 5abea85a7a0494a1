"""Stubs of lesson 07's exercises: the code cells the learner starts from in notebooks/exercises/07_why_pretraining_matters_exercises.ipynb.

Each `# %%` line starts a cell: the imports (the same as in solutions/lesson07.py), then one cell per
exercise. The prompts and hints are in text/lesson07.md; `python -m course_utils.exercises` builds the
notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import math

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import lesson07 as ex
from course_utils.vit import ViT, interpolate_position_embedding, vit_b_16


# %% q1
def freeze_all_but_head(model: ViT) -> ViT:
    """Freeze every parameter except the head Linear, model.classifier[1]; return the model."""
    raise NotImplementedError  # replace this line with your code


# %% q2
trainable_params = ...  # a number


# %% q3
def resize_pos_embed(pos: torch.Tensor, new_grid: int) -> torch.Tensor:
    """E_pos (1, 1 + g*g, D) -> (1, 1 + new_grid**2, D): class token kept, patch grid resized in 2D."""
    raise NotImplementedError  # replace this line with your code


# %% q4
def new_head(model: ViT, num_classes: int) -> ViT:
    """Replace model.classifier[1] by a zero-initialised Linear(D, num_classes); return the model."""
    raise NotImplementedError  # replace this line with your code
