"""Solutions of lesson 03's exercises: the code cells of notebooks/exercises/03_multihead_self_attention_solutions.ipynb.

Each `# %%` line starts a cell: the imports, then one cell per exercise. Run top to bottom, this
file does what the solutions notebook does, without its check cells. The prompts and hints are in
text/lesson03.md; `python -m course_utils.exercises` builds the notebooks (see __init__.py).
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
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, T): every query against every key
    A = scores.softmax(dim=-1)  # each row (one query) sums to 1 over the keys
    return A @ v  # (..., T, D_h): a weighted average of the values


# %% q2
def masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(D_h)) v, where query i attends to key j only where mask[..., i, j] is True."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, T)
    scores = scores.masked_fill(~mask, float("-inf"))  # exp(-inf) = 0: no weight for masked keys
    return scores.softmax(dim=-1) @ v


# %% q3
def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, N, D) -> (B, heads, N, D_h): head h gets features h*D_h ... (h+1)*D_h - 1 of every token."""
    B, N, D = x.shape
    x = x.reshape(B, N, num_heads, D // num_heads)  # split D into (heads, D_h): contiguous blocks
    return x.transpose(1, 2)  # (B, heads, N, D_h): move the heads in front of the tokens


# %% q4
D = 768
msa_block_params = (
    2 * D  # LayerNorm: a scale and a shift of D each
    + D * 3 * D + 3 * D  # U_qkv: D -> 3D, plus its bias
    + D * D + D  # U_msa: D -> D, plus its bias
)  # = 4D^2 + 6D, whatever the number of heads
