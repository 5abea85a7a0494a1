"""The paper's CNN baseline, "ResNet (BiT)", at the size of the course's experiments (lesson 09).

The paper, §4.1, "Model Variants":

    "For the baseline CNNs, we use ResNet (He et al., 2016), but replace the Batch Normalization layers
    (Ioffe & Szegedy, 2015) with Group Normalization (Wu & He, 2018), and used standardized convolutions
    (Qiao et al., 2019). These modifications improve transfer (Kolesnikov et al., 2020), and we denote the
    modified model "ResNet (BiT)"."

BiT (Kolesnikov et al., "Big Transfer", arXiv 1912.11370) is a pre-activation ResNet-v2 with bottleneck
blocks, GroupNorm (32 groups) and weight-standardised convolutions. timm implements it as ``ResNetV2`` with
``StdConv2d`` and ``GroupNormAct`` (its ``resnetv2_50x1_bit``); the course builds on that, as it writes by
hand only the ViT pieces. ``micro_resnet`` scales BiT down to 64 px images and a laptop CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from timm.models.resnetv2 import ResNetV2

# BiT-R50x1's first three stages (3, 4 and 6 blocks) at half its width: 32 stem channels, bottlenecks of
# 32, 64 and 128 channels widening to 128, 256 and 512. See micro_resnet.
MICRO_RESNET_LAYERS = (3, 4, 6)
MICRO_RESNET_WIDTH = 32


def micro_resnet(num_classes: int, img_size: int = 64, layers: Sequence[int] = MICRO_RESNET_LAYERS,
                 width: int = MICRO_RESNET_WIDTH) -> ResNetV2:
    """A small ResNet (BiT) for the data-scale experiments: the CNN against which ViT and the hybrid are
    measured as the training set grows (lesson 09, the paper's Figures 3-5).

    What it keeps from BiT: pre-activation bottleneck blocks (norm and ReLU before each convolution, the
    stride on the 3x3 convolution), GroupNorm instead of BatchNorm and weight-standardised convolutions
    (timm's ``GroupNormAct`` and ``StdConv2d``, eps 1e-8 as in timm's BiT models), BiT's 7x7 stride-2
    stem with its padded max pool, a final GroupNorm + ReLU, global average pooling and a 1x1-conv head.

    Where it departs from BiT, and why:
    - Three stages, not four. At 64 px the stem leaves a 16x16 map and stages 2 and 3 halve it to 4x4; a
      fourth stage would work on 2x2. (The paper's hybrid option (ii) also stops at stage 3.)
    - Smaller: by default the first three stages of BiT-R50x1 (3, 4 and 6 blocks) at half its width
      (``width`` = 32 stem channels and first-stage bottleneck channels, against BiT's 64). That costs
      about 139 MFLOP per 64 px image forward, between a ViT of D=96 and one of D=128 with 6 layers on an
      8x8 token grid (98 and 169 MFLOP), so the three models are compared at about equal compute per image.
      It has 2,149,162 parameters for 10 classes.
    - GroupNorm uses ``width // 2`` groups (16), not 32, so that every group holds as many channels as in
      BiT-R50x1 (2 in the narrowest layers); 32 groups on 32 channels would be instance normalisation.

    Args:
        num_classes: outputs of the head.
        img_size: the image side the model is for; the network pools globally, so this only checks that
            it is a multiple of the output stride (16 with three stages), so each stage halves a whole map.
        layers: blocks per stage; stage i has ``width * 2**i`` bottleneck and ``4 * width * 2**i`` output
            channels.
        width: stem channels and bottleneck channels of the first stage (64 in BiT-R50x1), even.

    Shapes: (B, 3, img_size, img_size) -> (B, num_classes).
    """
    stride = 4 * 2 ** (len(layers) - 1)  # the stem's 4, then every stage after the first halves the map
    if img_size % stride:
        raise ValueError(f"img_size={img_size} must be a multiple of the output stride {stride} (stem stride "
                         f"4, then {len(layers) - 1} stride-2 stages)")
    if width % 2:
        raise ValueError(f"width={width} must be even (GroupNorm has width // 2 groups)")
    from timm.layers import GroupNormAct, StdConv2d  # timm is imported only to build the model
    from timm.models.resnetv2 import ResNetV2

    channels = tuple(4 * width * 2**i for i in range(len(layers)))
    return ResNetV2(layers=list(layers), channels=channels, stem_chs=width, num_classes=num_classes,
                    preact=True, stem_type="fixed", conv_layer=partial(StdConv2d, eps=1e-8),
                    norm_layer=partial(GroupNormAct, num_groups=width // 2))
