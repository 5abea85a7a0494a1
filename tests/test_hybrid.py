"""course_utils.hybrid: the paper's hybrid (§3.1) equals timm's, and the micro hybrid for the experiments."""

from __future__ import annotations

import pytest
import timm
import torch
from timm.layers import GroupNormAct, StdConv2d

from course_utils.convert import hybrid_from_timm
from course_utils.hybrid import HybridViT, micro_hybrid, vit_b_r50_s16, vit_s_r26_s32
from course_utils.vit import ViT


def num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def perturbed(model: torch.nn.Module) -> torch.nn.Module:
    """Noise on every parameter (GroupNorms, LayerNorms and biases included), so that no tensor keeps its
    init value and a wrong mapping shows up in the logits."""
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.02 * torch.randn_like(param))
    return model.eval()


@pytest.fixture(scope="module")
def r26():
    """timm's R26+ViT-S/32 with random weights (no download), two 224 px images and its logits."""
    torch.manual_seed(0)
    model = perturbed(timm.create_model("vit_small_r26_s32_224", pretrained=False, num_classes=10))
    images = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        logits = model(images)
    return model, images, logits


def test_converted_timm_hybrid_gives_the_same_logits(r26):
    model, images, expected = r26
    ours = hybrid_from_timm(model)
    assert isinstance(ours, HybridViT) and not ours.training
    with torch.inference_mode():
        logits = ours(images)
        tokens = ours.embed(images)
    assert expected.std() > 0.1, "reference logits are ~0: the comparison would prove nothing"
    assert logits.shape == expected.shape == (2, 10)
    assert (logits - expected).abs().max().item() <= 1e-4
    assert num_params(ours) == num_params(model)
    # 224 px / stride 32 = a 7x7 feature map, one token per position (1x1 patches), plus the class token.
    assert tokens.shape == (2, 7 * 7 + 1, 384)
    config = ours.vit.config
    assert (config["patch_size"], config["in_channels"], config["num_heads"]) == (1, 2048, 6)
    # An independent, trainable CPU copy that shares no memory with the source.
    sources = {p.data_ptr() for p in model.parameters()}
    assert all(p.requires_grad and p.data_ptr() not in sources for p in ours.parameters())


def test_factory_builds_timms_architecture(r26):
    """vit_s_r26_s32 is built by our code, not copied: timm's weights load into it by name and shape, and
    the logits agree, which also checks the backbone's padding and normalisation."""
    model, images, expected = r26
    ours = vit_s_r26_s32(num_classes=10)
    assert num_params(ours) == num_params(model)
    ours.load_state_dict(hybrid_from_timm(model).state_dict(), strict=True)
    with torch.inference_mode():
        assert (ours.eval()(images) - expected).abs().max().item() <= 1e-4


def test_r50_hybrid_parameter_count_equals_timm():
    with torch.device("meta"):
        theirs = timm.create_model("vit_base_r50_s16_224", pretrained=False, num_classes=1000)
        ours = vit_b_r50_s16(num_classes=1000)
    assert num_params(ours) == num_params(theirs)
    assert ours.num_patches == 14 * 14  # option (ii): stride 16, four times the tokens of stride 32


def test_r50_hybrid_converts_and_matches_our_factory():
    """The paper's option (ii) backbone (3, 4, 9 blocks) at 64 px with a 2-layer encoder, to stay fast."""
    torch.manual_seed(1)
    model = perturbed(timm.create_model("vit_base_r50_s16_224", pretrained=False, num_classes=5, img_size=64,
                                        depth=2))
    images = torch.randn(2, 3, 64, 64)
    ours = hybrid_from_timm(model)
    factory = vit_b_r50_s16(num_classes=5, img_size=64, num_transformer_layers=2)
    factory.load_state_dict(ours.state_dict(), strict=True)
    with torch.inference_mode():
        expected = model(images)
        assert expected.std() > 0.1
        assert (ours(images) - expected).abs().max().item() <= 1e-4
        assert (factory.eval()(images) - expected).abs().max().item() <= 1e-4
    assert ours.num_patches == 4 * 4


def test_dropouts_come_from_the_model_and_overrides_win():
    model = timm.create_model("vit_small_r26_s32_224", pretrained=False, img_size=64, depth=1,
                              proj_drop_rate=0.1, attn_drop_rate=0.2, pos_drop_rate=0.3)
    config = HybridViT.from_timm(model).vit.config
    assert (config["mlp_dropout"], config["attn_dropout"], config["embedding_dropout"]) == (0.1, 0.2, 0.3)
    config = HybridViT.from_timm(model, mlp_dropout=0.0).vit.config
    assert config["mlp_dropout"] == 0.0


def test_plain_vit_converter_points_to_the_hybrid_one():
    model = timm.create_model("vit_small_r26_s32_224", pretrained=False, img_size=64, depth=1)
    with pytest.raises(ValueError, match=r"a CNN backbone \(a hybrid ViT\): use hybrid_from_timm"):
        ViT.from_timm(model)
    with pytest.raises(TypeError, match="HybridEmbed"):
        hybrid_from_timm(timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, depth=1))


# The micro hybrid: a half-width R26 stem and first two stages (stride 8), then a small ViT on 8x8.
def micro_hybrid_param_count(num_classes: int, dim: int, layers: int, mlp: int, width: int = 32) -> int:
    """Parameters of micro_hybrid, counted from the architecture (not read off a model)."""
    stem, widths, blocks = width, (4 * width, 8 * width), (2, 2)
    count = 3 * 7 * 7 * stem + 2 * stem  # stem conv (no bias) and its GroupNorm
    in_ch = stem
    for out, depth in zip(widths, blocks, strict=True):
        mid = out // 4
        for i in range(depth):
            count += in_ch * mid + 9 * mid * mid + mid * out  # 1x1, 3x3, 1x1 weight-standardised convs
            count += 2 * mid + 2 * mid + 2 * out  # a GroupNorm after each
            if i == 0:
                count += in_ch * out + 2 * out  # projection shortcut: 1x1 conv and GroupNorm
            in_ch = out
    tokens = 8 * 8 + 1
    count += in_ch * dim + dim  # E: the 1x1 patch projection of the 8-width-channel map
    count += dim + tokens * dim  # class token and position embedding
    per_layer = 4 * dim + (3 * dim * dim + 3 * dim) + (dim * dim + dim) + (dim * mlp + mlp) + (mlp * dim + dim)
    return count + layers * per_layer + 2 * dim + dim * num_classes + num_classes


@pytest.mark.parametrize(("dim", "layers", "heads", "mlp"), [(128, 6, 4, None), (96, 4, 3, 192)])
def test_micro_hybrid_shapes_tokens_and_parameter_count(dim, layers, heads, mlp):
    torch.manual_seed(0)
    model = micro_hybrid(7, embedding_dim=dim, num_layers=layers, num_heads=heads, mlp_size=mlp)
    images = torch.randn(3, 3, 64, 64)
    assert model.feature_map(images).shape == (3, 256, 8, 8)
    assert model.embed(images).shape == (3, 8 * 8 + 1, dim)
    assert model(images).shape == (3, 7)
    assert num_params(model) == micro_hybrid_param_count(7, dim, layers, 4 * dim if mlp is None else mlp)
    assert len(model.attention_maps(images)) == layers


def test_micro_hybrid_defaults_and_backbone_layers():
    model = micro_hybrid(10)
    config = model.vit.config
    assert (config["embedding_dim"], config["num_transformer_layers"], config["num_heads"],
            config["mlp_size"]) == (128, 6, 4, 512)
    assert num_params(model) == micro_hybrid_param_count(10, 128, 6, 512)
    convs = [m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in model.backbone.modules() if isinstance(m, torch.nn.modules.batchnorm._NormBase)
             or isinstance(m, torch.nn.GroupNorm)]
    assert convs and all(isinstance(m, StdConv2d) for m in convs)
    assert norms and all(isinstance(m, GroupNormAct) and m.num_groups == 16 for m in norms)


def test_micro_hybrid_cnn_width():
    """The experiments' quarter-width CNN: stem 16, stages of 64 and 128 channels, 8 groups per GroupNorm."""
    model = micro_hybrid(3, embedding_dim=64, num_layers=2, num_heads=2, width=16)
    assert model.feature_map(torch.randn(2, 3, 64, 64)).shape == (2, 128, 8, 8)
    assert num_params(model) == micro_hybrid_param_count(3, 64, 2, 256, width=16)
    assert {m.num_groups for m in model.backbone.modules() if isinstance(m, GroupNormAct)} == {8}
    with pytest.raises(ValueError, match="width=15 must be an even number"):
        micro_hybrid(3, width=15)


def test_micro_hybrid_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = micro_hybrid(4, embedding_dim=64, num_layers=2, num_heads=2).train()
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 3, 64, 64)), torch.tensor([0, 3]))
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
    assert model.backbone.stem.conv.weight.grad.abs().sum() > 0  # the CNN learns through the encoder


def test_wrong_image_size_names_the_problem():
    model = micro_hybrid(3, embedding_dim=32, num_layers=1, num_heads=2)
    with pytest.raises(ValueError, match=r"built for images \(B, C, 64, 64\), got shape \(1, 3, 32, 32\)"):
        model(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="must be divisible by the backbone's stride 8"):
        micro_hybrid(3, img_size=60)
