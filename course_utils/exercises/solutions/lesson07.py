"""Solutions of lesson 07's exercises: the code cells of notebooks/exercises/07_why_pretraining_matters_solutions.ipynb.

Each `# %%` line starts a cell: the imports, then one cell per exercise. Run top to bottom, this
file does what the solutions notebook does, without its check cells. The prompts and hints are in
text/lesson07.md; `python -m course_utils.exercises` builds the notebooks (see __init__.py).
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
    for param in model.parameters():
        param.requires_grad = False  # frozen: no gradient, so the optimizer leaves it alone
    for param in model.classifier[1].parameters():
        param.requires_grad = True  # the head's weight and bias still learn
    return model


# %% q2
D, K = 768, 3
trainable_params = D * K + K  # the head Linear: a D x K weight matrix and K biases; all the rest is frozen


# %% q3
def resize_pos_embed(pos: torch.Tensor, new_grid: int) -> torch.Tensor:
    """E_pos (1, 1 + g*g, D) -> (1, 1 + new_grid**2, D): class token kept, patch grid resized in 2D."""
    class_pos, patch_pos = pos[:, :1], pos[:, 1:]  # (1, 1, D) and (1, g*g, D)
    g, D = math.isqrt(patch_pos.shape[1]), patch_pos.shape[-1]
    grid = patch_pos.reshape(1, g, g, D).permute(0, 3, 1, 2)  # an image with D channels: (1, D, g, g)
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bicubic", align_corners=True)
    patch_pos = grid.permute(0, 2, 3, 1).reshape(1, new_grid * new_grid, D)  # back to rows, row by row
    return torch.cat([class_pos, patch_pos], dim=1)


# %% q4
def new_head(model: ViT, num_classes: int) -> ViT:
    """Replace model.classifier[1] by a zero-initialised Linear(D, num_classes); return the model."""
    head = nn.Linear(model.classifier[1].in_features, num_classes)  # D -> K
    nn.init.zeros_(head.weight)  # "a zero-initialized D x K feedforward layer"
    nn.init.zeros_(head.bias)
    model.classifier[1] = head  # classifier[0], Eq 4's LayerNorm, stays
    return model
