"""course_utils.convert: torchvision/timm ViT weights load into our ViT and give the same logits."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import timm
import torch
from timm.models.vision_transformer import VisionTransformer as TimmViT
from torchvision.models import vit_b_16, vit_b_32
from torchvision.models.vision_transformer import ConvStemConfig, interpolate_embeddings
from torchvision.models.vision_transformer import VisionTransformer as TorchvisionViT

from course_utils.vit import ViT, interpolate_position_embedding

# name -> (source, builder, expected num_heads); all random init, no downloads.
REFERENCES = {
    "torchvision_vit_b_16": ("torchvision", lambda: vit_b_16(weights=None, num_classes=10), 12),
    "torchvision_vit_b_32": ("torchvision", lambda: vit_b_32(weights=None, num_classes=7), 12),
    "timm_vit_base_patch16_224": (
        "timm", lambda: timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=10), 12),
    "timm_vit_small_patch16_224": (
        "timm", lambda: timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=5), 6),
}


def perturbed(model: torch.nn.Module) -> torch.nn.Module:
    """Add noise to every parameter (head, LayerNorms and biases included) so no tensor is left at its
    init value (torchvision's head starts at zero, LayerNorms at 1/0): a wrong mapping must show up."""
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.02 * torch.randn_like(param))
    return model.eval()


def convert(source: str, model_or_state_dict, **kwargs) -> ViT:
    return (ViT.from_torchvision if source == "torchvision" else ViT.from_timm)(model_or_state_dict, **kwargs)


def small_torchvision(**kwargs) -> TorchvisionViT:
    return TorchvisionViT(**{**dict(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64,
                                    mlp_dim=128, num_classes=3), **kwargs})


def small_timm(**kwargs) -> TimmViT:
    return TimmViT(**{**dict(img_size=32, patch_size=8, depth=2, num_heads=4, embed_dim=64, mlp_ratio=2.0,
                             num_classes=3), **kwargs})


@pytest.fixture(scope="module", params=list(REFERENCES))
def reference(request):
    """(name, source, model, images, logits), built once per reference model."""
    source, build, _ = REFERENCES[request.param]
    torch.manual_seed(0)
    model = perturbed(build())
    images = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        logits = model(images)
    return request.param, source, model, images, logits


@pytest.mark.parametrize("given", ["model", "state_dict"])
def test_converted_model_gives_the_same_logits(reference, given):
    name, source, model, images, expected = reference
    ours = convert(source, model if given == "model" else model.state_dict())
    assert not ours.training
    with torch.inference_mode():
        logits = ours(images)
    assert expected.std() > 0.1, "reference logits are ~0: the comparison would prove nothing"
    assert logits.shape == expected.shape
    assert (logits - expected).abs().max().item() <= 1e-4
    assert ours.config["num_heads"] == REFERENCES[name][2]
    assert ours.config["img_size"] == 224
    assert ours.config["num_classes"] == expected.shape[1]


@pytest.mark.parametrize("source", ["torchvision", "timm"])
def test_small_models_config_and_logits(source):
    torch.manual_seed(0)
    model = perturbed(small_torchvision() if source == "torchvision" else small_timm())
    images = torch.randn(2, 3, 32, 32)
    for ours in (convert(source, model), convert(source, model.state_dict(), num_heads=4)):
        assert ours.config["num_heads"] == 4
        assert ours.config["img_size"] == 32
        assert ours.config["patch_size"] == 8
        assert ours.config["num_transformer_layers"] == 2
        assert ours.config["mlp_size"] == 128
        with torch.inference_mode():
            assert torch.allclose(ours(images), model(images), atol=1e-5)
    # A trainable, independent copy: real CPU parameters that share no memory with the source.
    sources = {p.data_ptr() for p in model.parameters()}
    for param in ours.parameters():
        assert param.requires_grad and param.device.type == "cpu" and param.data_ptr() not in sources


def test_dropouts_come_from_the_model_and_overrides_win():
    model = small_torchvision(dropout=0.1, attention_dropout=0.2)
    config = ViT.from_torchvision(model).config
    assert (config["mlp_dropout"], config["embedding_dropout"], config["attn_dropout"]) == (0.1, 0.1, 0.2)
    config = ViT.from_torchvision(model.state_dict(), num_heads=4, mlp_dropout=0.3).config
    assert (config["mlp_dropout"], config["embedding_dropout"], config["attn_dropout"]) == (0.3, 0.0, 0.0)
    config = ViT.from_timm(small_timm(proj_drop_rate=0.1, attn_drop_rate=0.2, pos_drop_rate=0.3)).config
    assert (config["mlp_dropout"], config["attn_dropout"], config["embedding_dropout"]) == (0.1, 0.2, 0.3)


@pytest.mark.parametrize("source", ["torchvision", "timm"])
def test_state_dict_of_non_standard_width_needs_num_heads(source):
    model = small_torchvision() if source == "torchvision" else small_timm()
    with pytest.raises(ValueError, match="pass num_heads"):
        convert(source, model.state_dict())


def test_num_heads_contradicting_the_model_is_an_error():
    with pytest.raises(ValueError, match="num_heads=8 disagrees"):
        ViT.from_torchvision(small_torchvision(), num_heads=8)


def test_shape_arguments_cannot_be_overridden():
    with pytest.raises(ValueError, match="img_size=64 contradicts the checkpoint"):
        ViT.from_torchvision(small_torchvision(), img_size=64)


@pytest.mark.parametrize(("kwargs", "given", "message"), [
    (dict(reg_tokens=4), "model", r"reg_token \[register tokens"),
    (dict(global_pool="avg"), "model", "global_pool='avg'"),
    (dict(global_pool="avg"), "state_dict", r"fc_norm\.bias, fc_norm\.weight"),
    (dict(class_token=False, global_pool="avg"), "state_dict", "no class token"),
    (dict(init_values=1e-5), "state_dict", r"blocks\.\{i\}\.ls1\.gamma.*layer scale"),
    (dict(qk_norm=True), "state_dict", "qk normalisation"),
    (dict(pre_norm=True), "state_dict", r"norm_pre\.bias.*patch_embed\.proj\.bias"),
    (dict(num_classes=0), "model", "no classification head"),
    (dict(no_embed_class=True), "model", "no_embed_class=True"),
    (dict(act_layer="gelu_tanh"), "model", "exact GELU"),
])
def test_unsupported_timm_models_are_rejected_naming_the_problem(kwargs, given, message):
    model = small_timm(**kwargs)
    with pytest.raises(ValueError, match=message):
        ViT.from_timm(model if given == "model" else model.state_dict(), num_heads=4)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(representation_size=16), r"heads\.pre_logits.*representation"),
    (dict(conv_stem_configs=[ConvStemConfig(out_channels=16, kernel_size=3, stride=8)]), "convolutional stem"),
])
def test_unsupported_torchvision_models_are_rejected_naming_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ViT.from_torchvision(small_torchvision(**kwargs))


def test_checkpoint_of_the_other_library_is_recognised():
    with pytest.raises(ValueError, match="looks like a timm checkpoint"):
        ViT.from_torchvision(small_timm().state_dict(), num_heads=4)
    with pytest.raises(ValueError, match="looks like a torchvision checkpoint"):
        ViT.from_timm(small_torchvision().state_dict(), num_heads=4)
    with pytest.raises(TypeError, match="timm VisionTransformer"):
        ViT.from_timm(small_torchvision())


def test_interpolate_position_embedding_matches_torchvision():
    torch.manual_seed(0)
    position_embedding = torch.randn(1, 1 + 14 * 14, 32)
    ours = interpolate_position_embedding(position_embedding, 24)
    state = OrderedDict({"encoder.pos_embedding": position_embedding.clone()})
    theirs = interpolate_embeddings(image_size=24 * 16, patch_size=16, model_state=state)["encoder.pos_embedding"]
    assert ours.shape == theirs.shape == (1, 1 + 24 * 24, 32)
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert torch.equal(ours[:, 0], position_embedding[:, 0])  # the class token's row is not interpolated


def test_resized_converted_model_matches_torchvision_at_the_new_size():
    torch.manual_seed(0)
    model = perturbed(small_torchvision())
    ours = ViT.from_torchvision(model)
    ours.resize_position_embedding(48)
    bigger = small_torchvision(image_size=48).eval()
    bigger.load_state_dict(interpolate_embeddings(48, 8, model.state_dict()))
    images = torch.randn(2, 3, 48, 48)
    with torch.inference_mode():
        assert torch.allclose(ours(images), bigger(images), atol=1e-5)
