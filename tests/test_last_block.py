"""ClassTokenLastBlock: the same logits and gradients as the ViT it wraps, for fewer FLOPs."""

import json
import warnings

import pytest
import torch
from torch import nn

from course_utils import engine, flops, shapes, train, vit
from course_utils.experiments.position import VariantViT
from course_utils.last_block import ClassTokenLastBlock, class_token_through, fits

# (size, image side, patch): the training script's nano (its 2 x 2 grid, and the 3 x 3 grid it trained on until
# December 2026), the experiments' pico, lesson 07's micro
MODELS = [("nano", 24, 12), ("nano", 24, 8), ("pico", 64, 8), ("micro", 32, 8)]


def make(size: str, img_size: int, patch: int, dropout: float = 0.0) -> vit.ViT:
    torch.manual_seed(0)
    return vit.create_vit(size, patch, img_size=img_size, num_classes=3, mlp_dropout=dropout,
                          embedding_dropout=dropout)


@pytest.mark.parametrize(("size", "img_size", "patch"), MODELS)
def test_same_logits_and_gradients(size, img_size, patch):
    model = make(size, img_size, patch).train()
    fast = ClassTokenLastBlock(model)
    x, y = torch.randn(6, 3, img_size, img_size), torch.tensor([0, 1, 2, 0, 1, 2])
    expected = model(x)
    nn.functional.cross_entropy(expected, y).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    logits = fast(x)
    nn.functional.cross_entropy(logits, y).backward()
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-5)
    assert set(grads) == {name for name, p in model.named_parameters() if p.grad is not None}  # every one trains
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_the_class_token_row_of_the_block():
    block = make("nano", 24, 8).transformer_encoder[-1]
    z = torch.randn(5, 10, 128)
    torch.testing.assert_close(class_token_through(block, z), block(z)[:, :1], rtol=0, atol=1e-5)


def test_the_written_out_attention_path_too(monkeypatch):
    monkeypatch.setattr(vit, "WRITTEN_OUT_MAX_HEAD_DIM", 1 << 30)  # every head size written out, as under bf16
    model = make("nano", 24, 8).eval()
    x = torch.randn(4, 3, 24, 24)
    torch.testing.assert_close(ClassTokenLastBlock(model)(x), model(x), rtol=0, atol=1e-5)


def test_attention_maps_see_the_whole_last_block():
    model = make("nano", 24, 8)
    x = torch.randn(2, 3, 24, 24)
    maps = ClassTokenLastBlock(model).model.attention_maps(x)
    assert [tuple(m.shape) for m in maps] == [(2, 4, 10, 10)] * 4
    last = model.transformer_encoder[-1].msa_block.multihead_attn
    last.keep_attention = True  # kept weights need every token's row: the wrapper runs the model as it is
    torch.testing.assert_close(ClassTokenLastBlock(model)(x), model(x), rtol=0, atol=0)
    assert last.last_attention.shape == (2, 4, 10, 10)


def test_with_dropout_the_same_in_eval_mode():
    model = make("nano", 24, 8, dropout=0.1)
    fast = ClassTokenLastBlock(model)
    x = torch.randn(4, 3, 24, 24)
    torch.testing.assert_close(fast.eval()(x), model.eval()(x), rtol=0, atol=1e-5)
    assert fast.train()(x).shape == (4, 3)


@pytest.mark.parametrize(("patch", "saved"), [(12, 0.161), (8, 0.185)])  # the 2 x 2 and the 3 x 3 grid
def test_fewer_flops(patch, saved):
    model = make("nano", 24, patch)
    full = flops.training_flops(model, (3, 24, 24), 1)
    fast = flops.training_flops(ClassTokenLastBlock(model), (3, 24, 24), 1)
    assert round(1 - fast / full, 3) == saved  # the figures course_utils.last_block and the training script state


def test_only_a_vit():
    with pytest.raises(TypeError, match=r"needs a course_utils.vit.ViT \(not a subclass\), got Linear"):
        ClassTokenLastBlock(nn.Linear(2, 2))


@pytest.mark.parametrize("pooling", ["cls", "gap"])
def test_not_a_subclass(pooling):
    """Lesson 10's variants subclass ViT: with ``gap`` there is no class token, so its row would be a patch's."""
    variant = VariantViT(pooling=pooling, position="sincos_2d", img_size=24, patch_size=8, num_classes=3,
                         **vit.MODEL_CONFIGS["pico"])
    assert not fits(variant) and fits(make("pico", 24, 8))
    with pytest.raises(TypeError, match="got VariantViT"):
        ClassTokenLastBlock(variant)


def test_the_training_script_counts_what_it_runs(tmp_path):
    data = shapes.generate_shapes(tmp_path / "data", shapes.ShapesSpec(("circle", "square"), 4, 2, img_size=16))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", engine.PlateauWarning)  # 8 images, 2 steps: not a run meant to learn
        train.main(["--data", str(data), "--img-size", "16", "--patch-size", "8", "--epochs", "1",
                    "--batch-size", "4", "--device", "cpu", "--quiet", "--output-dir", str(tmp_path / "run")])
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    model = vit.ViT(**results["config"])
    assert results["train_flops"] == flops.training_flops(ClassTokenLastBlock(model), (3, 16, 16), 8)
    assert results["train_flops"] < flops.training_flops(model, (3, 16, 16), 8)
