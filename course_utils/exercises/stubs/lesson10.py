"""Stubs of lesson 10's exercises: the code cells the learner starts from in notebooks/exercises/10_ablations_exercises.ipynb.

Each `# %%` line starts a cell: the imports (the same as in solutions/lesson10.py), then one cell per
exercise. The prompts and hints are in text/lesson10.md; `python -m course_utils.exercises` builds the
notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import lesson10 as ex
from course_utils.experiments import position


# %% q1
def make_position_embedding(num_tokens: int, dim: int) -> nn.Parameter:
    """A learned 1-D position embedding E_pos: a new Parameter (1, T, D), truncated normal with std 0.02."""
    raise NotImplementedError  # replace this line with your code


# %% q2
def learned_2d_table(x_embed: torch.Tensor, y_embed: torch.Tensor) -> torch.Tensor:
    """Appendix D.4's 2-D table: X (G, D/2) per column, Y (G, D/2) per row -> (1, G*G, D), raster order."""
    raise NotImplementedError  # replace this line with your code


# %% q3
def sincos_2d(grid: int, dim: int) -> torch.Tensor:
    """The fixed 2-D sine-cosine table (1, G*G, D), float32: [code of the column; code of the row]."""
    raise NotImplementedError  # replace this line with your code


# %% q4
def gap_pool(z: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    """The GAP head's input: z_L (B, N, D) of a model without a class token -> (B, D)."""
    raise NotImplementedError  # replace this line with your code


# %% q5
learned_2d_numbers = ...  # a number
