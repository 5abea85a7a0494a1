"""The optimizer recipe: AdamW with weight decay on weight matrices only (as in timm), fused where it can be.

Lesson 06 builds the same two parameter groups by hand; ``python -m course_utils.train`` builds its optimizer
with ``make_optimizer``, and lesson 06's exercises check a learner's groups against ``weight_decay_groups``.
"""

from __future__ import annotations

import torch
from torch import nn

NO_WEIGHT_DECAY = ("class_embedding", "position_embedding")  # tensors of 2+ dims that do not decay


def weight_decay_groups(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(decayed, not decayed) parameters: weight matrices and conv kernels decay (as in timm); biases,
    LayerNorm scales and the class/position embeddings do not."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        skip = param.ndim < 2 or name.rsplit(".", 1)[-1] in NO_WEIGHT_DECAY  # also inside a wrapper (hybrid)
        (no_decay if skip else decay).append(param)
    return decay, no_decay


def make_optimizer(model: nn.Module, lr: float, weight_decay: float,
                   device: str | torch.device) -> torch.optim.AdamW:
    """AdamW (betas 0.9, 0.999) over ``weight_decay_groups(model)``: ``weight_decay`` on the first group,
    none on the second; the fused kernel on ``device`` if it is a CPU or CUDA device."""
    decay, no_decay = weight_decay_groups(model)
    # The fused AdamW kernel (CPU and CUDA) updates every tensor in one pass: ~3x faster than foreach on
    # this CPU (benchmarks/vit_throughput.py).
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.999),
                             fused=torch.device(device).type in ("cpu", "cuda") or None)
