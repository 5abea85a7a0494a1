"""Stubs of lesson 04's exercises: the code cells the learner starts from in notebooks/exercises/04_mlp_and_encoder_block_exercises.ipynb.

Each `# %%` line starts a cell: the imports (the same as in solutions/lesson04.py), then one cell per
exercise. The prompts and hints are in text/lesson04.md; `python -m course_utils.exercises` builds the
notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import math  # for a GELU by hand: x / 2 * (1 + torch.erf(x / math.sqrt(2)))

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import lesson04 as ex
from course_utils.vit import MLPBlock, TransformerEncoderBlock


# %% q1
def mlp_block(x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """MLP(LN(x)) of Eq 3 (no residual, no dropout), from the tensors of MLPBlock().state_dict()."""
    raise NotImplementedError  # replace this line with your code


# %% q2
def encoder_block(z: torch.Tensor, ln1: nn.Module, msa: nn.Module, ln2: nn.Module, mlp: nn.Module) -> torch.Tensor:
    """Eq 2 then Eq 3: one pre-norm encoder layer, (B, N, D) -> (B, N, D)."""
    raise NotImplementedError  # replace this line with your code


# %% q3
vit_l_block_params = ...  # a number


# %% q4
class PostNormBlock(TransformerEncoderBlock):
    """The same layers as TransformerEncoderBlock, arranged post-norm: LN(x + Sublayer(x))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError  # replace this line with your code


# %% q5
def vit_encoder_layer(embedding_dim: int, num_heads: int, mlp_size: int, dropout: float) -> nn.TransformerEncoderLayer:
    """ViT's encoder block (Eq 2 and 3) as PyTorch's nn.TransformerEncoderLayer."""
    raise NotImplementedError  # replace this line with your code
