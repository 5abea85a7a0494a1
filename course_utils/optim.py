"""The optimizer recipe: AdamW with weight decay on weight matrices only (as in timm), fused where it can be,
and the one place where the course's from-scratch recipe departs from the paper: the position embedding.

Lesson 06 builds the same parameter groups by hand; ``python -m course_utils.train`` builds its optimizer
with ``make_optimizer``, and lesson 06's exercises check a learner's groups against ``weight_decay_groups``.

**The position-embedding boost** (lesson 06, "Is my ViT learning?"). A ViT initialised as the paper's code
initialises it (E_pos ~ N(0, 0.02²)) starts with position embeddings that are about 2.5% of the variance of
the tokens entering the first LayerNorm: on a task where only the *arrangement* of the patches tells the
classes apart, the small ViTs of this course then sit at the uniform guess (loss ln C) for thousands of steps.
``init_position_embedding(model, std=0.2)`` and ``make_optimizer(..., position_lr_scale=10)`` (ten times the
learning rate, no weight decay for those tables) get them moving; ``course_utils.experiments``' ``plateau``
experiment measures it over seeds. Neither is in the paper.
"""

from __future__ import annotations

import torch
from torch import nn

BOOST_STD = 0.2  # the position boost: the learned position tables drawn at this std (the paper's code: 0.02) ...
BOOST_LR_SCALE = 10.0  # ... and trained at this multiple of the learning rate, without weight decay
NO_WEIGHT_DECAY = ("class_embedding", "position_embedding")  # tensors of 2+ dims that do not decay
# The learned position tables, wherever they sit: the ViT's E_pos (also inside a wrapper, like the hybrid's
# vit.position_embedding), the 2-D X and Y tables and the 1-D table of the ablations' VariantViT
# (position.*), and the relative attention's per-layer keys.
POSITION_NAMES = ("position_embedding", "x_embedding", "y_embedding", "relative_keys")


def is_position_parameter(name: str) -> bool:
    """Whether the parameter called ``name`` (as ``named_parameters`` spells it) is a learned position table."""
    return name.rsplit(".", 1)[-1] in POSITION_NAMES or name.startswith("position.")


def weight_decay_groups(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(decayed, not decayed) parameters: weight matrices and conv kernels decay (as in timm); biases,
    LayerNorm scales, the class token and the learned position tables do not."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        # also inside a wrapper (the hybrid's vit.position_embedding) and the ablations' position tables
        skip = param.ndim < 2 or name.rsplit(".", 1)[-1] in NO_WEIGHT_DECAY or is_position_parameter(name)
        (no_decay if skip else decay).append(param)
    return decay, no_decay


@torch.no_grad()
def init_position_embedding(model: nn.Module, std: float) -> list[str]:
    """Re-draw every learned position table of ``model`` from a truncated normal of ``std`` (the paper's code
    and timm use 0.02); returns the names of the tables it drew. Uses the global torch generator."""
    names = []
    for name, param in model.named_parameters():
        if is_position_parameter(name):
            nn.init.trunc_normal_(param, std=std, a=-2 * std, b=2 * std)
            names.append(name)
    return names


def make_optimizer(model: nn.Module, lr: float, weight_decay: float, device: str | torch.device,
                   position_lr_scale: float = 1.0) -> torch.optim.AdamW:
    """AdamW (betas 0.9, 0.999) over ``weight_decay_groups(model)``: ``weight_decay`` on the first group,
    none on the second; the fused kernel on ``device`` if it is a CPU or CUDA device.

    With ``position_lr_scale`` other than 1, the learned position tables (``is_position_parameter``) get a
    third group of their own: ``lr * position_lr_scale``, no weight decay. A scheduler scales every group's
    learning rate by the same factor, so the ratio holds through warmup and decay.
    """
    decay, no_decay = weight_decay_groups(model)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if position_lr_scale != 1.0:
        position = {id(p) for name, p in model.named_parameters() if is_position_parameter(name)}
        for group in groups:
            group["params"] = [p for p in group["params"] if id(p) not in position]
        groups.append({"params": [p for p in model.parameters() if id(p) in position], "weight_decay": 0.0,
                       "lr": lr * position_lr_scale})
    # The fused AdamW kernel (CPU and CUDA) updates every tensor in one pass: ~3x faster than foreach on
    # this CPU (benchmarks/vit_throughput.py).
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999),
                             fused=torch.device(device).type in ("cpu", "cuda") or None)
