"""Solutions of lesson 06's exercises: the code cells of notebooks/exercises/06_training_from_scratch_solutions.ipynb.

Each `# %%` line starts a cell: the imports, then one cell per exercise. Run top to bottom, this
file does what the solutions notebook does, without its check cells. The prompts and hints are in
text/lesson06.md; `python -m course_utils.exercises` builds the notebooks (see __init__.py).
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
    if step < warmup_steps:
        return base_lr * step / warmup_steps  # 0 at step 0, rising by base_lr / warmup_steps per step
    progress = (step - warmup_steps) / (total_steps - warmup_steps)  # 0 at the peak, 1 at the end
    return base_lr * 0.5 * (1 + math.cos(math.pi * progress))  # base_lr at progress 0, 0 at progress 1


# %% q2
def smoothed_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Cross-entropy against the smoothed target (1 - eps) * one_hot + eps / K, averaged over the batch."""
    K = logits.shape[-1]
    log_p = F.log_softmax(logits, dim=-1)  # (B, K)
    q = (1 - epsilon) * F.one_hot(targets, K).to(logits.dtype) + epsilon / K  # (B, K): each row sums to 1
    return -(q * log_p).sum(dim=-1).mean()  # cross-entropy per image, then the batch mean


# %% q3
steps_per_epoch = math.ceil(12_000 / 256)  # 46 full batches and a last one of 224 images
total_steps = 10 * steps_per_epoch


# %% q4
def decay_groups(model: nn.Module) -> tuple[list[str], list[str]]:
    """(decay, no_decay): the names of the parameters that get weight decay and of those that don't."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.ndim < 2 or name in ("class_embedding", "position_embedding"):
            no_decay.append(name)  # biases, LayerNorm scales and shifts, the class token, E_pos
        else:
            decay.append(name)  # weight matrices, and the patch projection's kernel
    return decay, no_decay
