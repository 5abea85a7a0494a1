"""Stubs of lesson 05's exercises: the code cells the learner starts from in notebooks/exercises/05_vision_transformer_exercises.ipynb.

Each `# %%` line starts a cell: the imports (the same as in solutions/lesson05.py), then one cell per
exercise. The prompts and hints are in text/lesson05.md; `python -m course_utils.exercises` builds the
notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import torch

from course_utils.exercises import lesson05 as ex
from course_utils.vit import ViT, interpolate_position_embedding, vit_b_16, vit_l_16


# %% q1
def vit_forward(model: ViT, x: torch.Tensor) -> torch.Tensor:
    """Eq 1-4 from the model's pieces: images (B, C, H, W) -> logits (B, num_classes)."""
    raise NotImplementedError  # replace this line with your code


# %% q2
def mean_pool_logits(model: ViT, x: torch.Tensor) -> torch.Tensor:
    """Logits from the average of the N patch tokens of z_L (not the class token): (B, num_classes)."""
    raise NotImplementedError  # replace this line with your code


# %% q3
vit_b16_10_classes_params = ...  # a number


# %% q4
new_shape = ...  # a tuple of numbers
