"""Exercises of lesson 07, why pretraining matters: transfer learning with a ViT (see ``course_utils.exercises``).

q1 freeze everything but the head · q2 how many parameters a frozen ViT-B/16 trains · q3 2D interpolation of
the position embedding · q4 a fresh, zero-initialised head for a new task
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import (
    NumberQuestion,
    Question,
    Wrong,
    expect_callable,
    expect_close,
    expect_tensor,
    perturb_,
    randn,
)
from course_utils.vit import HEAD, ViT, interpolate_position_embedding

LESSON = "07_why_pretraining_matters"

# Small ViTs: N = 16 patches of width D = 24, 2 layers, 5 classes; and N = 9 of width 16, 3 layers, 4 classes.
# Building them and running them takes milliseconds.
_SMALL = dict(img_size=16, in_channels=3, patch_size=4, num_transformer_layers=2, embedding_dim=24, mlp_size=48,
              num_heads=2, num_classes=5)
_OTHER = dict(img_size=24, in_channels=3, patch_size=8, num_transformer_layers=3, embedding_dim=16, mlp_size=32,
              num_heads=2, num_classes=4)
_HEAD = {f"{HEAD}.weight", f"{HEAD}.bias"}
_NORM = {"classifier.0.weight", "classifier.0.bias"}


def _perturbed_vit(seed: int, config: dict[str, int] = _SMALL) -> ViT:
    """A small ViT with every parameter random (LayerNorms far from the identity), in train mode."""
    return perturb_(ViT(**config), seed)


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


# ---------------------------------------------------------------------------------------------------------
# q1: freeze everything but the head
# ---------------------------------------------------------------------------------------------------------

class FreezeAllButHead(Question):
    name = "q1"
    answer_name = "freeze_all_but_head"

    def _check(self, freeze_all_but_head: Any) -> None:
        expect_callable(freeze_all_but_head, self.answer_name)
        for seed, config in enumerate([_SMALL, _OTHER]):
            self._check_model(freeze_all_but_head, _perturbed_vit(seed=seed, config=config), config)

    def _check_model(self, freeze_all_but_head: Any, model: ViT, config: dict[str, int]) -> None:
        before = _snapshot(model)
        grad_was_enabled = torch.is_grad_enabled()
        try:
            result = freeze_all_but_head(model)
            grad_enabled_after = torch.is_grad_enabled()
        finally:
            torch.set_grad_enabled(grad_was_enabled)
        if grad_was_enabled and not grad_enabled_after:
            raise Wrong("Your function switched autograd off for the whole notebook (`torch.set_grad_enabled(False)`"
                        "; the checker has switched it back on). That stops every gradient, the head's too, so "
                        "nothing could train. Freezing is per parameter: set each tensor's `requires_grad`.")
        if result is None:
            raise Wrong("`freeze_all_but_head` returned None: did you forget the `return`? Return the model you "
                        "were given, after freezing it in place.")
        if result is not model:
            raise Wrong(f"`freeze_all_but_head` returned a {type(result).__name__}. Return the model itself, the "
                        f"same object you were given, after changing its `requires_grad` flags in place.")
        after = _snapshot(model)
        if after.keys() != before.keys() or any(
                after[k].shape != before[k].shape or not torch.equal(after[k], before[k]) for k in before):
            raise Wrong("Your function changed the model's weights (or replaced a layer). This exercise only "
                        "freezes: the pretrained weights, and the head, stay exactly as they are. Only the "
                        "`requires_grad` flags change.")
        self._check_trainable(model)
        self._check_gradients(model, config)

    @staticmethod
    def _check_trainable(model: ViT) -> None:
        parameters = dict(model.named_parameters())
        trainable = {name for name, p in parameters.items() if p.requires_grad}
        if trainable == _HEAD:
            return
        if not trainable:
            raise Wrong("No parameter is trainable: the head is frozen too, so the optimizer would have nothing "
                        "to learn. Check how you pick out the head: in the course's ViT it is "
                        "`model.classifier[1]`.")
        if trainable == set(parameters):
            if not model.training:
                raise Wrong("Every parameter is still trainable. `model.eval()` switches dropout off (and is "
                            "undone by the next `model.train()`), but it freezes nothing: freezing is each "
                            "parameter's `requires_grad` flag.")
            raise Wrong("Every parameter is still trainable: that's full fine-tuning, not a frozen feature "
                        "extractor. Check that you *assign* `requires_grad` (with `=`) on each parameter.")
        if trainable == _HEAD | _NORM:
            raise Wrong("`classifier.0.weight` and `classifier.0.bias`, Eq 4's LayerNorm, are still trainable. "
                        "In the course's frozen feature extractor the LayerNorm belongs to the backbone and stays "
                        "frozen; only the head Linear, `model.classifier[1]`, learns.")
        if frozen_head := sorted(_HEAD - trainable):
            raise Wrong(f"{frozen_head[0]!r} is frozen, but it belongs to the head Linear, the one layer that "
                        f"should learn: keep both its weight and its bias trainable.")
        extra = sorted(trainable - _HEAD)
        raise Wrong(f"{len(extra)} parameter(s) of the backbone are still trainable, e.g. {extra[0]!r}. Freeze "
                    f"every parameter except the two of `model.classifier[1]`.")

    @staticmethod
    def _check_gradients(model: ViT, config: dict[str, int]) -> None:
        model.zero_grad(set_to_none=True)
        with torch.enable_grad():
            model(randn(2, 3, config["img_size"], config["img_size"], seed=5)).square().sum().backward()
        got_grad = {name for name, p in model.named_parameters() if p.grad is not None}
        model.zero_grad(set_to_none=True)
        if got_grad != _HEAD:
            raise Wrong("After a backward pass, the parameters that got a gradient are not exactly the head "
                        "Linear's weight and bias. Freeze with `requires_grad`, and leave autograd itself on.")


q1 = FreezeAllButHead()


# ---------------------------------------------------------------------------------------------------------
# q2: how many parameters does a frozen ViT-B/16 train?
# ---------------------------------------------------------------------------------------------------------

class FrozenTrainableParams(NumberQuestion):
    name = "q2"
    answer_name = "trainable_params"
    expected = 2_307
    diagnoses = {
        2_304: "That counts the head's weight matrix only. A Linear layer has a bias too, one per output.",
        3_843: "That counts Eq 4's LayerNorm (`classifier.0`, a scale and a shift of D numbers each) as trainable. "
               "In the course's feature extractor it is frozen with the backbone: only the head Linear trains.",
        3_840: "That counts Eq 4's LayerNorm as trainable (it is frozen) and leaves out the head's bias.",
        1_536: "That's Eq 4's LayerNorm: a scale and a shift of D numbers each. It is frozen; the head Linear "
               "is what trains.",
        771: "A Linear layer's weight is a matrix, not a vector: one weight per (input, output) pair, plus one bias "
             "per output.",
        769_000: "That's the ImageNet head, with 1000 outputs. The new task has 3 classes.",
        768_000: "That's the ImageNet head's weights, with 1000 outputs. The new task has 3 classes.",
        85_800_963: "That's every parameter of the 3-class model: full fine-tuning. Frozen parameters are not "
                    "updated, so they don't count.",
        85_798_656: "That's the frozen part, everything but the head. The question asks for what still trains.",
        85_797_120: "That's the frozen part without Eq 4's LayerNorm. The question asks for what still trains.",
        86_567_656: "That's all of ViT-B/16 with its 1000-class ImageNet head. The new model has a 3-class head, "
                    "and only that head trains.",
        3: "That's the head's biases alone; its weight matrix trains too.",
    }
    otherwise = "Count the parameters of the one layer that trains: its weight matrix, then its bias."


q2 = FrozenTrainableParams()


# ---------------------------------------------------------------------------------------------------------
# q3: 2D interpolation of the position embedding
# ---------------------------------------------------------------------------------------------------------

def _resize(pos: torch.Tensor, new_grid: int, *, mode: str = "bicubic", align_corners: bool | None = True,
            layout: str = "right") -> torch.Tensor:
    """The reference (defaults) and its typical variants, for the diagnoses."""
    class_pos, patch_pos = pos[:, :1], pos[:, 1:]
    old, dim = math.isqrt(patch_pos.shape[1]), patch_pos.shape[-1]
    kwargs = {} if mode == "nearest" else {"align_corners": align_corners}
    if layout == "1d":  # the flattened sequence of patches, resized as a 1-D signal
        seq = F.interpolate(patch_pos.transpose(1, 2), size=new_grid * new_grid, mode="linear", **kwargs)
        return torch.cat([class_pos, seq.transpose(1, 2)], dim=1)
    if layout == "1d-all":  # the whole sequence, class token included, resized as a 1-D signal
        seq = F.interpolate(pos.transpose(1, 2), size=new_grid * new_grid + 1, mode="linear", **kwargs)
        return seq.transpose(1, 2)
    if layout == "no-permute":  # (1, N, D) reshaped straight to (1, D, g, g): rows and channels mixed up
        grid = patch_pos.reshape(1, dim, old, old)
        grid = F.interpolate(grid, size=(new_grid, new_grid), mode=mode, **kwargs)
        return torch.cat([class_pos, grid.reshape(1, new_grid * new_grid, dim)], dim=1)
    grid = patch_pos.reshape(1, old, old, dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode=mode, **kwargs)
    back = (0, 3, 2, 1) if layout == "transposed" else (0, 2, 3, 1)  # transposed: patches column by column
    return torch.cat([class_pos, grid.permute(*back).reshape(1, new_grid * new_grid, dim)], dim=1)


class ResizePositionEmbedding(Question):
    name = "q3"
    answer_name = "resize_pos_embed"

    def _explain_error(self, error: Exception) -> str | None:
        text = str(error)
        if "is invalid for input of size" in text:
            return ("Check what you reshape into a grid: only the g × g patch rows, without the class token's "
                    "row 0 (1 + g² rows is not a square).")
        if "Expected 3D" in text or "Expected 4D" in text or "input and output sizes should be" in text \
                or "Got 3D input" in text or "Got 4D input" in text:
            return ("`F.interpolate` reads the size of its input: (1, D, g, g) with `size=(h, w)` for a 2D "
                    "resize, (1, D, L) with `size=L` for 1D.")
        return None

    def _check(self, resize_pos_embed: Any) -> None:
        expect_callable(resize_pos_embed, self.answer_name)
        # The last case is a step from -1 to +1 (times a scale per channel), whose bicubic resize overshoots the
        # old range of values: an answer that clamps the result to that range cuts the overshoot off.
        for seed, (old, new, dim) in enumerate([(4, 6, 6), (5, 3, 7), (3, 7, 5), (4, 7, 3)]):
            pos = randn(1, 1 + old * old, dim, seed=70 + seed)
            if seed == 3:
                step = (torch.arange(old) >= old // 2).float().expand(old, old) * 2 - 1  # -1 left, +1 right
                pos[:, 1:] = step.reshape(1, old * old, 1) * torch.tensor([1.0, 0.5, 2.0])
            pos[:, 0] += 5  # a class token far from the patches: mixing it in shows
            given = pos.clone()
            out = expect_tensor(resize_pos_embed(given, new), "`resize_pos_embed` returned")
            if not torch.equal(given, pos):
                raise Wrong("`resize_pos_embed` changed the tensor it was given. Build a new tensor and leave "
                            "the pretrained E_pos as it is.")
            self._check_shape(out, old, new, dim)
            self._compare(out, pos, new, old)

    @staticmethod
    def _check_shape(out: torch.Tensor, old: int, new: int, dim: int) -> None:
        got, about = tuple(out.shape), f"for a {old}×{old} grid resized to {new}×{new} (D = {dim})"
        if got == (1, 1 + new * new, dim):
            return
        if got == (1, new * new, dim):
            raise Wrong(f"Your output has shape {got} {about}: the class token's row is missing. Keep row 0 as "
                        f"it is and put it back in front of the resized patch rows.")
        if got == (1 + new * new, dim):
            raise Wrong(f"Your output has shape {got} {about}: keep the leading batch dimension of 1, like the "
                        f"E_pos you were given.")
        if got == (1, 1 + old * old, dim):
            raise Wrong(f"Your output still has the old grid's size {got} {about}: resize the patch grid to "
                        f"new_grid × new_grid.")
        raise Wrong(f"Your output has shape {got} {about}; it should be (1, 1 + new_grid², D) = "
                    f"(1, {1 + new * new}, {dim}).")

    @staticmethod
    def _compare(out: torch.Tensor, pos: torch.Tensor, new: int, old: int) -> None:
        if not torch.allclose(out[:, 0].detach().double(), pos[:, 0].double(), atol=1e-5):
            otherwise = ("The class token's row (row 0) changed. It has no place in the image: keep it exactly "
                         "as it is and resize only the patch rows.")
        else:
            otherwise = ("Your class token's row is right, and the shape too, but the patch rows differ from the "
                         "reference. Check the reshape to (1, D, g, g) (row by row), the mode and align_corners "
                         "of `F.interpolate`, and the way back.")
        expected = interpolate_position_embedding(pos, new)
        patches = pos[:, 1:]
        clamped = [torch.cat([expected[:, :1], expected[:, 1:].clamp(float(low), float(high))], dim=1)
                   for low, high in [(patches.min(), patches.max()), (pos.min(), pos.max())]]
        clamped.append(torch.cat([expected[:, :1], torch.maximum(torch.minimum(
            expected[:, 1:], patches.amax(dim=1, keepdim=True)), patches.amin(dim=1, keepdim=True))], dim=1))
        clamp = ("Your resized embeddings never leave the old range of values: they are clamped. Bicubic "
                 "interpolation overshoots a little next to sharp changes, and that is part of it: the reference "
                 "(like torchvision) keeps the values `F.interpolate` gives. Leave out the clamp.")
        expect_close(
            out, expected, atol=1e-5, rtol=1e-4, otherwise=otherwise,
            mistakes=[*[(values, clamp) for values in clamped],
                (_resize(pos, new, layout="1d"),
                 "You interpolate the flattened sequence of patches as a 1-D signal. Neighbours in that "
                 "sequence are not neighbours in the image at the end of every row: arrange the patch rows as "
                 "a g × g grid and resize it in 2D."),
                (_resize(pos, new, layout="1d-all"),
                 "You interpolate the whole sequence as a 1-D signal, the class token included: it gets mixed "
                 "with the patches. Keep the class token's row as it is, and resize the patches as a 2-D grid."),
                (_resize(pos, new, layout="no-permute"),
                 "Your grid mixes up rows and channels: reshaping (1, g², D) straight into (1, D, g, g) puts "
                 "the numbers in the wrong places. Reshape to (1, g, g, D) first, then permute the D channels "
                 "to position 1 (and undo both after the resize)."),
                (_resize(pos, new, layout="transposed"),
                 "Your patch rows come out transposed: column by column instead of row by row. After the "
                 "resize, move the channels back last so the layout is (1, new_grid, new_grid, D), in the "
                 "order (row, column), before you flatten."),
                (_resize(pos, new, mode="bilinear"),
                 "Close: your grid is resized in 2D, but bilinear. The exercise (like torchvision) uses "
                 "`mode=\"bicubic\"`."),
                (_resize(pos, new, mode="bicubic", align_corners=False),
                 "Close: bicubic 2D resizing, but with `align_corners=False`. The exercise (like torchvision) "
                 "uses `align_corners=True`, which keeps the corner patches' embeddings exactly."),
                (_resize(pos, new, mode="bilinear", align_corners=False),
                 "Close: your grid is resized in 2D, but bilinear with `align_corners=False`. The exercise "
                 "(like torchvision) uses bicubic with `align_corners=True`."),
                (_resize(pos, new, mode="nearest"),
                 "You resize with `mode=\"nearest\"`: each new patch copies one old embedding. The exercise "
                 "(like torchvision) interpolates smoothly, bicubic with `align_corners=True`."),
            ],
        )


q3 = ResizePositionEmbedding()


# ---------------------------------------------------------------------------------------------------------
# q4: a fresh head for a new task
# ---------------------------------------------------------------------------------------------------------

class NewHead(Question):
    name = "q4"
    answer_name = "new_head"

    def _check(self, new_head: Any) -> None:
        expect_callable(new_head, self.answer_name)
        for seed, (config, classes) in enumerate([(_SMALL, 3), (_OTHER, 10)]):
            model = _perturbed_vit(seed=100 * (seed + 1), config=config)
            before = _snapshot(model)
            result = new_head(model, classes)
            if result is None:
                raise Wrong("`new_head` returned None: did you forget the `return`? Return the model with its "
                            "new head.")
            if not isinstance(result, ViT):
                raise Wrong(f"`new_head` returned a {type(result).__name__}. Return the model (a `ViT`) with its "
                            f"new head, not the head alone.")
            self._check_classifier(result, classes, before, config)
            self._check_rest(result, classes, before, config)

    @staticmethod
    def _check_classifier(model: ViT, classes: int, before: dict[str, torch.Tensor], config: dict[str, int]) -> None:
        dim, old_classes = config["embedding_dim"], config["num_classes"]
        classifier = model.classifier
        if isinstance(classifier, nn.Linear) or not isinstance(classifier, nn.Sequential) or len(classifier) != 2:
            raise Wrong("`model.classifier` should still be `nn.Sequential(LayerNorm, Linear)`, but Eq 4's "
                        "LayerNorm is gone. Replace only the Linear, `model.classifier[1]`: the pretrained "
                        "LayerNorm is part of what the backbone learned.")
        norm, head = classifier
        if not isinstance(norm, nn.LayerNorm):
            raise Wrong("`model.classifier[0]` is no longer Eq 4's LayerNorm. Replace only `model.classifier[1]`.")
        if not (torch.equal(norm.weight.detach(), before["classifier.0.weight"])
                and torch.equal(norm.bias.detach(), before["classifier.0.bias"])):
            raise Wrong("Eq 4's LayerNorm, `model.classifier[0]`, lost its pretrained weights. Keep it as it is; "
                        "only the Linear is new.")
        if not isinstance(head, nn.Linear):
            raise Wrong(f"`model.classifier[1]` is a {type(head).__name__}; it should be an `nn.Linear`.")
        if head.in_features != dim:
            raise Wrong(f"Your head takes {head.in_features} inputs, but this model's tokens have D = {dim}: "
                        f"the head's input width must be the model's D, `model.classifier[1].in_features` "
                        f"(ViT-B's 768 is only one possible D).")
        if head.out_features != classes:
            if head.out_features == old_classes:
                raise Wrong(f"Your head still has {old_classes} outputs, the old task's classes, but "
                            f"`num_classes` was {classes}. Create a new `nn.Linear` with `num_classes` outputs.")
            raise Wrong(f"Your head has {head.out_features} outputs, but `num_classes` was {classes}.")
        if head.bias is None:
            raise Wrong("Your head has no bias. Keep the default `nn.Linear(..., bias=True)`, and set the bias to "
                        "zeros too.")
        if bool(head.weight.detach().abs().max() > 0):
            raise Wrong("Your head's weight is not zero: PyTorch initialises a new `nn.Linear` at random. The "
                        "paper attaches a *zero-initialized* layer; fill its weight (and its bias) with zeros.")
        if bool(head.bias.detach().abs().max() > 0):
            raise Wrong("Your head's weight is zero, but its bias isn't (a new `nn.Linear` starts with a random "
                        "bias). Zero the bias too.")
        if not (head.weight.requires_grad and head.bias.requires_grad):
            raise Wrong("Your new head is frozen (`requires_grad=False`): it is the one layer that must learn.")

    @staticmethod
    def _check_rest(model: ViT, classes: int, before: dict[str, torch.Tensor], config: dict[str, int]) -> None:
        if frozen := [name for name, p in model.named_parameters() if not p.requires_grad]:
            raise Wrong(f"Your function froze `{frozen[0]}` ({len(frozen)} parameter(s) in all): a new head is "
                        f"all the exercise changes. Whether the backbone trains is a separate choice (full "
                        f"fine-tuning, as the paper does, or a frozen feature extractor, exercise 1).")
        if not model.training:
            raise Wrong("Your function switched the model to eval mode (`model.eval()`): leave its mode as it was, "
                        "the training loop sets it.")
        after = model.state_dict()
        for name, value in before.items():
            if name in _HEAD:
                continue
            if name not in after or after[name].shape != value.shape or not torch.equal(after[name], value):
                raise Wrong(f"`{name}` changed. Keep every pretrained weight outside the head as it is: only "
                            f"`model.classifier[1]` is new.")
        with torch.no_grad():
            logits = model.eval()(randn(2, 3, config["img_size"], config["img_size"], seed=9))
        if tuple(logits.shape) != (2, classes) or bool(logits.abs().max() > 0):
            raise Wrong(f"The model's logits should be zeros of shape (B, {classes}) with the new head, but they "
                        f"are not. Check that the head you built is the one in `model.classifier[1]`.")


q4 = NewHead()
