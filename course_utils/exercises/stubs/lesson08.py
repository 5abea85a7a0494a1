"""Stubs of lesson 08's exercises: the code cells the learner starts from in notebooks/exercises/08_predictions_and_interpretation_exercises.ipynb.

Each `# %%` line starts a cell: the imports (the same as in solutions/lesson08.py), then one cell per
exercise. The prompts and hints are in text/lesson08.md; `python -m course_utils.exercises` builds the
notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import torch
import torch.nn.functional as F

from course_utils.exercises import lesson08 as ex


# %% q1
def pos_similarity(pos: torch.Tensor, grid: int) -> torch.Tensor:
    """Cosine similarity of the patches' position embeddings: (1, N + 1, D) -> (grid, grid, grid, grid)."""
    raise NotImplementedError  # replace this line with your code


# %% q2
def attention_distance(attn: torch.Tensor, grid: int, patch_size: int) -> torch.Tensor:
    """Mean attention distance in pixels of every head: (B, heads, N + 1, N + 1) -> (heads,)."""
    raise NotImplementedError  # replace this line with your code


# %% q3
def rollout(attentions: list[torch.Tensor]) -> torch.Tensor:
    """Attention rollout: L tensors (B, heads, T, T), first layer first -> (B, T, T)."""
    raise NotImplementedError  # replace this line with your code


# %% q4
attention_numbers = ...  # a number
