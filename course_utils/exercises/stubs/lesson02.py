"""Stubs of lesson 02's exercises: the code cells the learner starts from in notebooks/exercises/02_patch_embedding_exercises.ipynb.

Each `# %%` line starts a cell: the imports (the same as in solutions/lesson02.py), then one cell per
exercise. The prompts and hints are in text/lesson02.md; `python -m course_utils.exercises` builds the
notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import torch
from torch import nn

from course_utils.exercises import lesson02 as ex
from course_utils.vit import PatchEmbedding


# %% q1
def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> x_p of shape (B, N, P*P*C): patches row by row, each flattened in (P, P, C) order."""
    raise NotImplementedError  # replace this line with your code


# %% q2
num_tokens = ...  # a number


# %% q3
patch_embedding_params = ...  # a number


# %% q4
class Eq1Embedding(nn.Module):
    """Eq 1: images (B, C, H, W) -> z_0 = [x_class; x_p E] + E_pos, shape (B, N + 1, D)."""

    def __init__(self, img_size: int = 224, in_channels: int = 3, patch_size: int = 16,
                 embedding_dim: int = 768) -> None:
        super().__init__()
        # self.patch_embedding = ...
        # self.class_embedding = ...
        # self.position_embedding = ...
        raise NotImplementedError  # replace this line with your code

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError  # replace this line with your code
