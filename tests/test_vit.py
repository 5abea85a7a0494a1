"""The ViT: shapes, the paper's parameter counts, clear errors, attention maps, resizing."""

import pytest
import torch

from course_utils import vit
from course_utils.vit import ViT


def small_vit(**kwargs) -> ViT:
    config = dict(img_size=32, patch_size=8, num_transformer_layers=2, embedding_dim=64, mlp_size=128,
                  num_heads=4, num_classes=3)
    return ViT(**{**config, **kwargs})


@pytest.mark.parametrize(("factory", "expected"), [
    (vit.vit_b_16, 86_567_656), (vit.vit_b_32, 88_224_232),
    (vit.vit_l_16, 304_326_632), (vit.vit_h_14, 632_045_800),
])
def test_table1_parameter_counts_match_torchvision(factory, expected):
    with torch.device("meta"):
        model = factory(num_classes=1000)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_small_variants_match_timm_counts():
    timm = pytest.importorskip("timm")
    for ours, theirs in [(vit.vit_ti_16, "vit_tiny_patch16_224"), (vit.vit_s_16, "vit_small_patch16_224")]:
        with torch.device("meta"):
            a, b = ours(), timm.create_model(theirs)
        assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())


def test_forward_shapes_and_token_count():
    model = small_vit().eval()
    x = torch.rand(2, 3, 32, 32)
    assert model.embed(x).shape == (2, 16 + 1, 64)  # N = 32*32/8^2 = 16 patches + the class token
    assert model.forward_features(x).shape == (2, 17, 64)
    assert model(x).shape == (2, 3)


def test_class_token_is_prepended_before_position_embedding():
    model = small_vit().eval()
    x = torch.rand(1, 3, 32, 32)
    z0 = model.embed(x)
    expected_first = model.class_embedding[0, 0] + model.position_embedding[0, 0]
    torch.testing.assert_close(z0[0, 0], expected_first)


@pytest.mark.parametrize(("shape", "message"), [
    ((1, 3, 64, 64), "built for 32x32 images but got 64x64"),
    ((1, 1, 32, 32), "expects 3 channels, got 1"),
])
def test_bad_input_names_the_problem(shape, message):
    with pytest.raises(ValueError, match=message):
        small_vit()(torch.rand(shape))


def test_embedding_dim_not_divisible_by_heads():
    with pytest.raises(ValueError, match="embedding_dim=100 must be divisible by num_heads=12"):
        small_vit(embedding_dim=100, num_heads=12)


def test_unknown_size_is_rejected():
    with pytest.raises(ValueError, match="unknown model size 'xl'"):
        vit.create_vit("xl", 16)


def test_attention_maps_are_distributions_and_match_the_fused_path():
    model = small_vit().eval()
    x = torch.rand(2, 3, 32, 32)
    maps = model.attention_maps(x)
    assert len(maps) == 2 and maps[0].shape == (2, 4, 17, 17)
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(2, 4, 17))
    # The explicit path that keeps A gives the same logits as the fused kernel.
    for block in model.transformer_encoder:
        block.msa_block.multihead_attn.keep_attention = True
    explicit = model(x)
    for block in model.transformer_encoder:
        block.msa_block.multihead_attn.keep_attention = False
    torch.testing.assert_close(explicit, model(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("heads", [4, 1])  # heads of 16 and of 64 dimensions
def test_the_written_out_attention_trains_as_the_fused_kernel_does(heads, monkeypatch):
    """Either path of MultiheadSelfAttention (vit.writes_attention_out) gives the same logits and gradients, to
    1e-5, in training mode with dropout off, as the lessons train: the rule that picks one may change freely."""
    torch.manual_seed(0)
    model = small_vit(num_heads=heads, mlp_dropout=0.0, embedding_dropout=0.0).train()
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 0])
    fused_calls = []
    fused_kernel = vit.F.scaled_dot_product_attention
    monkeypatch.setattr(vit.F, "scaled_dot_product_attention",
                        lambda *args, **kwargs: fused_calls.append(1) or fused_kernel(*args, **kwargs))

    def logits_and_gradients(max_head_dim: int) -> list[torch.Tensor]:
        monkeypatch.setattr(vit, "WRITTEN_OUT_MAX_HEAD_DIM", max_head_dim)
        fused_calls.clear()
        model.zero_grad()
        logits = model(x)
        torch.nn.functional.cross_entropy(logits, y).backward()
        return [logits.detach()] + [p.grad.clone() for p in model.parameters()]

    written = logits_and_gradients(1 << 30)
    assert fused_calls == []  # written out in both layers
    fused = logits_and_gradients(0)
    assert len(fused_calls) == 2  # the fused kernel, once per layer
    for ours, theirs in zip(written, fused, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_attention_maps_cleanup():
    model = small_vit().eval()
    model.attention_maps(torch.rand(1, 3, 32, 32))
    attn = model.transformer_encoder[0].msa_block.multihead_attn
    assert attn.keep_attention is False and attn.last_attention is None


def test_bf16_autocast_logits_close_to_fp32():
    torch.manual_seed(0)
    model = small_vit().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        fp32 = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = model(x).float()
    assert fp32.std() > 0.1  # the comparison means something
    # bf16 keeps 8 significant bits (~0.4% per rounding); measured here: 0.4% relative error, 0.004 max.
    assert (bf16 - fp32).norm() / fp32.norm() < 0.02
    assert (bf16 - fp32).abs().max() < 0.02


def test_resize_position_embedding_keeps_class_token_and_runs():
    model = small_vit().eval()
    cls_pos = model.position_embedding[0, 0].clone()
    model.resize_position_embedding(64)
    assert model.position_embedding.shape == (1, 64 + 1, 64)
    torch.testing.assert_close(model.position_embedding[0, 0], cls_pos)
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, 3)
    assert model.config["img_size"] == 64


def test_dropout_arguments_reach_the_blocks():
    model = small_vit(attn_dropout=0.2, mlp_dropout=0.3, embedding_dropout=0.4)
    attn = model.transformer_encoder[0].msa_block.multihead_attn
    assert attn.attn_dropout == 0.2 and attn.proj_dropout.p == 0.3
    assert model.transformer_encoder[1].mlp_block.mlp[2].p == 0.3
    assert model.embedding_dropout.p == 0.4
