"""Stubs of lesson 03's exercises: the code cells the learner starts from in notebooks/exercises/03_multihead_self_attention_exercises.ipynb.

Each `# %%` line starts a cell: the imports (the same as in solutions/lesson03.py), then one cell per
exercise. The prompts and hints are in text/lesson03.md; `python -m course_utils.exercises` builds the
notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import math

import torch
import torch.nn.functional as F

from course_utils import vit
from course_utils.exercises import lesson03 as ex


# %% q1
def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Eq 6-7 over the last two dimensions: softmax(q k^T / sqrt(D_h)) v."""
    raise NotImplementedError  # replace this line with your code


# %% q2
def masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(D_h)) v, where query i attends to key j only where mask[..., i, j] is True."""
    raise NotImplementedError  # replace this line with your code


# %% q3
def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, N, D) -> (B, heads, N, D_h): head h gets features h*D_h ... (h+1)*D_h - 1 of every token."""
    raise NotImplementedError  # replace this line with your code


# %% q4
msa_block_params = ...  # a number
