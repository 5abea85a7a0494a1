"""flops: training cost counted by torch's FlopCounterMode, attention on the CPU included."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils import flops
from course_utils.vit import ViT


def test_a_linear_layer_costs_two_flops_per_multiply_add():
    layer = nn.Linear(16, 8)
    x = torch.randn(5, 16)
    assert flops.count_flops(layer, x) == 2 * 5 * 16 * 8


def test_cpu_attention_is_counted_where_torch_alone_counts_nothing():
    q, k, v = (torch.randn(2, 3, 17, 8) for _ in range(3))
    with FlopCounterMode(display=False) as plain:
        F.scaled_dot_product_attention(q, k, v)
    assert plain.get_total_flops() == 0  # the CPU kernel is missing from torch's table
    # q k^T and (softmax) v: two batched matmuls of 17 x 8 x 17 multiply-adds per head
    assert flops.count_flops(F.scaled_dot_product_attention, q, k, v) == 2 * (2 * 2 * 3 * 17 * 8 * 17)


def test_a_training_step_costs_three_forward_passes_for_a_plain_mlp():
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    x, y = torch.randn(6, 16), torch.zeros(6, dtype=torch.long)
    forward = 2 * 6 * (16 * 32 + 32 * 4)
    # backward: gradients of both weights, and of the hidden activations (not of the input)
    assert flops.train_step_flops(model, x, y) == forward + forward + 2 * 6 * 32 * 4
    assert all(p.grad is None for p in model.parameters())  # counted on a copy


def test_training_flops_scale_with_images_and_epochs():
    model = ViT(img_size=16, patch_size=8, num_transformer_layers=1, embedding_dim=16, mlp_size=32,
                num_heads=2, num_classes=3)
    per_image = flops.training_flops(model, (3, 16, 16), num_images=1)
    x, y = torch.randn(4, 3, 16, 16), torch.zeros(4, dtype=torch.long)
    assert flops.train_step_flops(model, x, y) == 4 * per_image
    assert flops.training_flops(model, (3, 16, 16), num_images=100, epochs=3) == 300 * per_image
