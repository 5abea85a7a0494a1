"""Counting the floating-point operations of training, a cost that holds on any machine.

Wall time depends on the CPU; FLOPs do not. ``torch.utils.flop_counter.FlopCounterMode`` counts the
matrix multiplies and convolutions of whatever runs inside it (the ops that dominate a ViT). Its table has
no entry for the CPU's fused attention kernel, so attention would count as free on the CPU; we pass it the
same formula it uses for the CUDA kernels.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn
from torch.utils import flop_counter

_aten = torch.ops.aten


def _cpu_attention_flops(query_shape: torch.Size, key_shape: torch.Size, value_shape: torch.Size,
                         *args: object, **kwargs: object) -> int:
    return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_attention_backward_flops(grad_out_shape: torch.Size, query_shape: torch.Size, key_shape: torch.Size,
                                  value_shape: torch.Size, *args: object, **kwargs: object) -> int:
    return flop_counter.sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


# FlopCounterMode hands these the shapes of the op's tensor arguments.
CPU_ATTENTION_FLOPS = {
    _aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
    _aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward_flops,
}


def count_flops(fn: Callable[..., object], *args: object, **kwargs: object) -> int:
    """FLOPs of ``fn(*args, **kwargs)`` (matmuls, convolutions and attention, on any device)."""
    with flop_counter.FlopCounterMode(display=False, custom_mapping=CPU_ATTENTION_FLOPS) as counter:
        fn(*args, **kwargs)
    return counter.get_total_flops()


def train_step_flops(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                     loss_fn: nn.Module | None = None) -> int:
    """FLOPs of one training step (forward and backward) of ``model`` on a batch: images (B, C, H, W),
    labels (B,). Runs on a copy, so the model's gradients and state are left alone. The optimizer's
    element-wise update is not counted (a few FLOPs per parameter, against thousands per image).
    """
    model = copy.deepcopy(model).train()
    loss_fn = loss_fn or nn.CrossEntropyLoss()

    def step() -> None:
        loss_fn(model(images), labels).backward()

    return count_flops(step)


def training_flops(model: nn.Module, image_shape: tuple[int, int, int], num_images: int,
                   epochs: float = 1) -> int:
    """FLOPs of training ``model`` for ``epochs`` passes over ``num_images`` images of ``image_shape``
    (C, H, W): the FLOPs of one image's training step (counted on a batch of 2, which are exactly linear
    in the batch size) times the number of images seen.
    """
    device = next(model.parameters()).device
    images = torch.zeros(2, *image_shape, device=device)
    labels = torch.zeros(2, dtype=torch.long, device=device)
    per_image = train_step_flops(model, images, labels) / 2
    return round(per_image * num_images * epochs)
