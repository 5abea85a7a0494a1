"""The hybrid architecture of the ViT paper (§3.1): a CNN's feature map, not the image, is cut into patches.

The paper, §3.1, "Hybrid Architecture":

    "As an alternative to raw image patches, the input sequence can be formed from feature maps of a CNN
    (LeCun et al., 1989). In this hybrid model, the patch embedding projection E (Eq. 1) is applied to
    patches extracted from a CNN feature map. As a special case, the patches can have spatial size 1x1,
    which means that the input sequence is obtained by simply flattening the spatial dimensions of the
    feature map and projecting to the Transformer dimension. The classification input embedding and
    position embeddings are added as described above."

So a hybrid is a CNN followed by the course's ``ViT`` unchanged, whose "image" is the feature map: a
(C, h, w) feature map goes into ``ViT(img_size=h, in_channels=C, patch_size=1)``, whose ``PatchEmbedding``
(a Conv2d with kernel = stride = 1) is exactly "flattening the spatial dimensions of the feature map and
projecting to the Transformer dimension". Class token, position embedding, encoder and head are the ViT's.

The CNN is the paper's "ResNet (BiT)" (§4.1): a ResNet with Group Normalization and weight-standardised
convolutions, built from timm's ``ResNetV2`` (the course writes by hand only the ViT pieces). §4.1 again:

    "For the hybrids, we feed the intermediate feature maps into ViT with patch size of one "pixel". To
    experiment with different sequence lengths, we either (i) take the output of stage 4 of a regular
    ResNet50 or (ii) remove stage 4, place the same number of layers in stage 3 (keeping the total number
    of layers), and take the output of this extended stage 3."

Option (ii) is ``vit_b_r50_s16`` (stages of 3, 4 and 9 blocks, stride 16). ``vit_s_r26_s32`` is timm's
R26+ViT-S/32 of Steiner et al. (2106.10270). Both build exactly timm's ``vit_base_r50_s16_224`` and
``vit_small_r26_s32_224`` (the tests load timm's weights into them and compare logits), and
``HybridViT.from_timm`` converts those models. ``micro_hybrid`` is the same design scaled down to 64 px
images and a laptop CPU, for the data-scale experiments.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from course_utils.vit import ViT

if TYPE_CHECKING:
    from timm.models.resnetv2 import ResNetV2


class HybridViT(nn.Module):
    """A CNN backbone whose feature map is the ViT's input (paper §3.1, "Hybrid Architecture").

    Args:
        backbone: any module mapping images (B, C_in, img_size, img_size) to a feature map (B, C, h, w)
            (or to a list/tuple of maps, of which the last is used, as timm's ``HybridEmbed`` does).
        vit: the course's ``ViT`` built for that feature map: ``img_size=h`` (= w), ``in_channels=C`` and,
            for the paper's hybrids, ``patch_size=1``.
        img_size: side of the square input images in pixels.

    Shapes: (B, C_in, img_size, img_size) -> (B, num_classes) logits; the encoder sees
    ``vit.num_patches + 1`` tokens (one per feature-map position, plus the class token).
    """

    def __init__(self, backbone: nn.Module, vit: ViT, img_size: int) -> None:
        super().__init__()
        if not isinstance(vit, ViT):
            raise TypeError(f"vit must be a course_utils.vit.ViT, got {type(vit).__name__}")
        self.backbone = backbone
        self.vit = vit
        self.img_size = img_size

    @property
    def num_patches(self) -> int:
        """N, the number of patch tokens: positions of the feature map divided by the patch area."""
        return self.vit.num_patches

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The CNN's output: images (B, C_in, img_size, img_size) -> feature map (B, C, h, w)."""
        if x.ndim != 4 or x.shape[-2:] != (self.img_size, self.img_size):
            raise ValueError(f"HybridViT was built for images (B, C, {self.img_size}, {self.img_size}), "
                             f"got shape {tuple(x.shape)}; resize the input "
                             f"(e.g. transforms.Resize({self.img_size})).")
        features = self.backbone(x)
        if isinstance(features, (list, tuple)):
            features = features[-1]
        grid = self.vit.img_size
        if features.shape[-2:] != (grid, grid):
            raise ValueError(f"the backbone turned {self.img_size}x{self.img_size} images into a "
                             f"{features.shape[-2]}x{features.shape[-1]} feature map, but the ViT was built "
                             f"for a {grid}x{grid} one")
        return features

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Eq 1 on the feature map: images (B, C_in, H, W) -> z_0 (B, N + 1, D), class token first."""
        return self.vit.embed(self.feature_map(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Eq 1-3: images (B, C_in, H, W) -> z_L (B, N + 1, D), before the final LayerNorm."""
        return self.vit.forward_features(self.feature_map(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.vit(self.feature_map(x))  # Eq 4 and the head, on the class token

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The attention weights of every layer, in eval mode: a list of L tensors (B, heads, N+1, N+1)."""
        was_training = self.training
        self.eval()
        try:
            return self.vit.attention_maps(self.feature_map(x))
        finally:
            self.train(was_training)

    @classmethod
    def from_timm(cls, model: nn.Module, **overrides: Any) -> HybridViT:
        """An equivalent HybridViT from a timm hybrid VisionTransformer (e.g. ``vit_small_r26_s32_224``)."""
        from course_utils.convert import hybrid_from_timm

        return hybrid_from_timm(model, **overrides)


def resnet_backbone(layers: Sequence[int], channels: Sequence[int], stem_channels: int = 64,
                    num_groups: int = 32, padding_same: bool = False, in_channels: int = 3) -> ResNetV2:
    """The hybrids' CNN: a ResNet (BiT) without pooling or head, as in the paper's and timm's hybrids.

    Bottleneck blocks with the activation after the residual sum (the authors' hybrid ResNet,
    ``vit_jax/models_resnet.py``, is not pre-activation, unlike BiT's ResNet-v2 classifiers),
    weight-standardised convolutions (timm's ``StdConv2d``, eps 1e-8 as in timm's hybrids) and GroupNorm
    with ``num_groups`` groups. The last GroupNorm of each residual branch starts at zero, as in the
    authors' code, so every block starts as the identity. The stem is a 7x7 stride-2 convolution and a
    stride-2 max pool, the first stage keeps the resolution and every later stage halves it: the output
    stride is 4 * 2 ** (len(layers) - 1). ``padding_same`` pads like TensorFlow's "SAME" (timm's
    ``StdConv2dSame``), which the converted JAX/timm weights need.

    Shapes: (B, in_channels, H, W) -> (B, channels[-1], H / stride, W / stride).
    """
    from timm.layers import GroupNormAct, StdConv2d, StdConv2dSame  # timm is needed only to build one
    from timm.models.resnetv2 import ResNetV2

    conv_layer = partial(StdConv2dSame if padding_same else StdConv2d, eps=1e-8)
    return ResNetV2(layers=list(layers), channels=tuple(channels), stem_chs=stem_channels, num_classes=0,
                    global_pool="", in_chans=in_channels, preact=False,
                    stem_type="same" if padding_same else "", conv_layer=conv_layer,
                    norm_layer=partial(GroupNormAct, num_groups=num_groups), zero_init_last=True)


def hybrid_vit(backbone: nn.Module, feature_channels: int, feature_stride: int, img_size: int,
               **vit_kwargs: Any) -> HybridViT:
    """A HybridViT of ``backbone`` (``feature_channels`` maps at ``feature_stride``) and a ViT with 1x1
    patches on its ``img_size / feature_stride`` grid; ``vit_kwargs`` (encoder size, classes, dropouts)
    go to ``ViT``.

    Shapes: (B, 3, img_size, img_size) -> (B, num_classes).
    """
    if img_size % feature_stride:
        raise ValueError(f"img_size={img_size} must be divisible by the backbone's stride {feature_stride}")
    vit = ViT(img_size=img_size // feature_stride, in_channels=feature_channels, patch_size=1, **vit_kwargs)
    return HybridViT(backbone, vit, img_size)


def vit_s_r26_s32(num_classes: int = 1000, img_size: int = 224, **vit_kwargs: Any) -> HybridViT:
    """R26+ViT-S/32 (timm's ``vit_small_r26_s32_224``): a ResNet-26 of four stages (2, 2, 2, 2 blocks,
    stride 32) and ViT-S (D=384, 12 layers, 6 heads) on its 7x7 map at 224 px: 49 + 1 tokens.
    ``vit_kwargs`` go to ``ViT`` and may change the encoder (e.g. ``num_transformer_layers``).

    Shapes: (B, 3, img_size, img_size) -> (B, num_classes).
    """
    backbone = resnet_backbone((2, 2, 2, 2), (256, 512, 1024, 2048), padding_same=True)
    vit_s = dict(num_transformer_layers=12, embedding_dim=384, mlp_size=1536, num_heads=6)
    return hybrid_vit(backbone, 2048, 32, img_size, num_classes=num_classes, **{**vit_s, **vit_kwargs})


def vit_b_r50_s16(num_classes: int = 1000, img_size: int = 224, **vit_kwargs: Any) -> HybridViT:
    """R50+ViT-B/16 (timm's ``vit_base_r50_s16_224``), the paper's option (ii): a ResNet-50 whose stage 4
    is folded into stage 3 (3, 4, 9 blocks, stride 16) and ViT-B on its 14x14 map at 224 px: 196 + 1
    tokens. ``vit_kwargs`` go to ``ViT`` and may change the encoder (e.g. ``num_transformer_layers``).

    Shapes: (B, 3, img_size, img_size) -> (B, num_classes).
    """
    backbone = resnet_backbone((3, 4, 9), (256, 512, 1024), padding_same=True)
    vit_b = dict(num_transformer_layers=12, embedding_dim=768, mlp_size=3072, num_heads=12)
    return hybrid_vit(backbone, 1024, 16, img_size, num_classes=num_classes, **{**vit_b, **vit_kwargs})


# The micro hybrid's CNN: the first two stages of R26 at half width (stem 32, stages of 128 and 256
# channels) with half the groups, so every GroupNorm group holds as many channels as in R26.
MICRO_BACKBONE_WIDTH = 32  # stem channels; stage i has 4 * width * 2**i channels (R26: 64)
MICRO_BACKBONE_STRIDE = 8  # stem 4, then the second stage halves the map


def micro_backbone_config(width: int = MICRO_BACKBONE_WIDTH) -> dict[str, Any]:
    """``resnet_backbone``'s arguments for the micro hybrid's CNN with ``width`` stem channels (even)."""
    if width < 2 or width % 2:
        raise ValueError(f"width={width} must be an even number >= 2 (GroupNorm has width // 2 groups)")
    return dict(layers=(2, 2), channels=(4 * width, 8 * width), stem_channels=width, num_groups=width // 2)


def micro_hybrid(num_classes: int, img_size: int = 64, embedding_dim: int = 128, num_layers: int = 6,
                 num_heads: int = 4, mlp_size: int | None = None, width: int = MICRO_BACKBONE_WIDTH,
                 **vit_kwargs: Any) -> HybridViT:
    """A hybrid for 64 px images on a laptop CPU: a small ResNet (BiT) with stride 8, then a ViT on its
    8x8 map with 1x1 patches (64 + 1 tokens, the token grid of a plain ViT with 8 px patches).

    The CNN (``micro_backbone_config(width)``) is R26's stem and first two stages at half width by default
    (``width`` 32 against R26's 64): a 7x7 stride-2 conv to ``width`` channels, a max pool, two bottleneck
    blocks of 4 ``width`` channels at stride 4 and two of 8 ``width`` at stride 8, GroupNorm (``width // 2``
    groups) and weight-standardised convolutions as in ``vit_s_r26_s32``, but with the usual symmetric
    padding (the "SAME" padding is only needed to load JAX weights). The encoder is a parameter:
    ``embedding_dim`` D, ``num_layers``, ``num_heads`` and ``mlp_size`` (default 4 D, as in Table 1);
    ``vit_kwargs`` (dropouts) go to ``ViT``. With the defaults it has 1,440,042 parameters for 10 classes
    and costs about 223 MFLOP per 64 px image forward: 52 in the CNN, 171 in the projection and encoder
    (a plain ViT of the same encoder with 8 px patches costs 169); with D=96 and 6 layers, 151.

    Shapes: (B, 3, img_size, img_size) -> (B, num_classes); img_size must be divisible by 8.
    """
    config = micro_backbone_config(width)
    backbone = resnet_backbone(**config)
    return hybrid_vit(backbone, config["channels"][-1], MICRO_BACKBONE_STRIDE, img_size,
                      num_classes=num_classes, num_transformer_layers=num_layers, embedding_dim=embedding_dim,
                      num_heads=num_heads, mlp_size=4 * embedding_dim if mlp_size is None else mlp_size,
                      **vit_kwargs)
