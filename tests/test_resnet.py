"""course_utils.resnet: the small ResNet (BiT) of the data-scale experiments."""

from __future__ import annotations

import pytest
import torch
from timm.layers import GroupNormAct, StdConv2d
from timm.models.resnetv2 import PreActBottleneck

from course_utils.flops import count_flops
from course_utils.resnet import micro_resnet
from course_utils.vit import ViT


def num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def bit_param_count(num_classes: int, layers: tuple[int, ...], width: int) -> int:
    """Parameters of a pre-activation bottleneck ResNet (BiT), counted from the architecture."""
    count = 3 * 7 * 7 * width  # stem: 7x7 weight-standardised conv, no bias (no norm: pre-activation)
    in_ch = width
    for stage, depth in enumerate(layers):
        mid = width * 2**stage
        out = 4 * mid
        for block in range(depth):
            count += 2 * in_ch + 2 * mid + 2 * mid  # GroupNorm before each of the three convs
            count += in_ch * mid + 9 * mid * mid + mid * out  # 1x1, 3x3, 1x1 convs, no biases
            if block == 0:
                count += in_ch * out  # projection shortcut (a 1x1 conv of the pre-activated input)
            in_ch = out
    return count + 2 * in_ch + in_ch * num_classes + num_classes  # final GroupNorm, 1x1-conv head


def test_output_shape_and_gradients():
    torch.manual_seed(0)
    model = micro_resnet(7).train()
    images = torch.randn(2, 3, 64, 64)
    logits = model(images)
    assert logits.shape == (2, 7)
    torch.nn.functional.cross_entropy(logits, torch.tensor([1, 6])).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
    assert model.stem.conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(("layers", "width"), [((3, 4, 6), 32), ((1, 1), 16)])
def test_parameter_count_follows_the_architecture(layers, width):
    with torch.device("meta"):
        model = micro_resnet(10, layers=layers, width=width, img_size=64)
    assert num_params(model) == bit_param_count(10, layers, width)


def test_bit_layers_group_norm_and_weight_standardisation():
    model = micro_resnet(10)
    convs = {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    # Every convolution is weight-standardised except the head, a 1x1 conv acting as the Linear classifier.
    assert {name for name, m in convs.items() if not isinstance(m, StdConv2d)} == {"head.fc"}
    assert all(m.bias is None for name, m in convs.items() if name != "head.fc")
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    norms = [m for m in model.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms and all(isinstance(m, GroupNormAct) and m.num_groups == 16 for m in norms)
    blocks = [m for m in model.modules() if isinstance(m, PreActBottleneck)]
    assert len(blocks) == 3 + 4 + 6
    # 64 px: the stem leaves 16x16, then 16, 8 and 4 px stages.
    features = model.forward_features(torch.zeros(1, 3, 64, 64))
    assert features.shape == (1, 512, 4, 4)


def test_forward_flops_are_those_of_the_vits_it_is_compared_with():
    """Sized between a ViT of D=96 and one of D=128 (6 layers, 8x8 tokens at 64 px)."""
    images = torch.zeros(1, 3, 64, 64)

    def vit_flops(dim: int) -> int:
        vit = ViT(img_size=64, patch_size=8, num_transformer_layers=6, embedding_dim=dim, mlp_size=4 * dim,
                  num_heads=4, num_classes=10).eval()
        return count_flops(vit, images)

    with torch.no_grad():
        flops = count_flops(micro_resnet(10).eval(), images)
        assert vit_flops(96) < flops < vit_flops(128)


def test_image_size_must_suit_the_stride():
    with pytest.raises(ValueError, match="img_size=72 must be a multiple of the output stride 16"):
        micro_resnet(10, img_size=72)
