"""Exercises of lesson 05, Equation 4: the full Vision Transformer (see ``course_utils.exercises``).

q1 the ViT's forward pass from its pieces · q2 a mean-pooling head · q3 parameters of ViT-B/16 with 10 classes
· q4 the shape of E_pos at 384 px
"""

from __future__ import annotations

from typing import Any

import torch

from course_utils.exercises import (
    NumberQuestion,
    Question,
    Wrong,
    as_number,
    expect_callable,
    expect_close,
    expect_tensor,
    explain_class_token_cat,
    perturb_,
    randn,
)
from course_utils.vit import ViT

LESSON = "05_vision_transformer"

# N = 16 patches of width D = 24 (N != D, so averaging over the wrong dimension shows): every check is instant
_SMALL = dict(img_size=16, in_channels=3, patch_size=4, num_transformer_layers=2, embedding_dim=24, mlp_size=48,
              num_heads=2, num_classes=5)
_ATOL, _RTOL = 1e-5, 1e-5


def _perturbed_vit(seed: int, cls: type[ViT] = ViT) -> ViT:
    """A small ViT in eval mode with every parameter random: a class token and LayerNorms that are far from
    0 and the identity, so that leaving any step out changes the logits."""
    return perturb_(cls(**_SMALL).eval(), seed, unscaled=("class_embedding", "position_embedding"))


def _inputs(seed: int, batch: int = 3) -> torch.Tensor:
    return randn(batch, _SMALL["in_channels"], _SMALL["img_size"], _SMALL["img_size"], seed=seed)


def _check_logits_shape(out: torch.Tensor, x: torch.Tensor, name: str) -> None:
    batch, classes, dim = x.shape[0], _SMALL["num_classes"], _SMALL["embedding_dim"]
    tokens = (_SMALL["img_size"] // _SMALL["patch_size"]) ** 2 + 1
    got = tuple(out.shape)
    about = f"for a batch of {batch} images and a model with {classes} classes"
    if got == (batch, classes):
        return
    if got == (batch, tokens, classes):
        raise Wrong(f"{name} returned shape {got} {about}: logits for every token. The head reads one vector "
                    f"per image: reduce the tokens to one before the classifier.")
    if got == (batch, dim):
        raise Wrong(f"{name} returned shape {got} {about}: one D-vector per image. Apply `model.classifier` "
                    f"(Eq 4's LayerNorm, then the Linear head) to get the logits.")
    if got in ((batch, tokens, dim), (batch, tokens - 1, dim)):
        raise Wrong(f"{name} returned shape {got} {about}: still a sequence of tokens. The head reads one "
                    f"vector per image.")
    raise Wrong(f"{name} returned shape {got} {about}; the logits have shape (B, num_classes).")


def _explain_shape_error(error: Exception) -> str | None:
    text = str(error)
    if advice := explain_class_token_cat(error):
        return advice
    if "cannot be multiplied" in text or "normalized_shape" in text:
        return ("Check the shape of what you pass to `model.classifier`: one D-vector per image, (B, D).")
    return None


# ---------------------------------------------------------------------------------------------------------
# q1: the forward pass from the pieces
# ---------------------------------------------------------------------------------------------------------

_SHORTCUT = ("`vit_forward` should assemble Eq 1–4 from the model's pieces; it called `{}`, which does "
             "the whole job (or half of it) for you. Use `model.patch_embedding`, `model.class_embedding`, "
             "`model.position_embedding`, `model.transformer_encoder` and `model.classifier`.")


class _NoShortcuts(ViT):
    """The model the checker passes to vit_forward: its ready-made forward passes are off limits."""

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        raise Wrong(_SHORTCUT.format("model.embed"))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise Wrong(_SHORTCUT.format("model.forward_features"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise Wrong(_SHORTCUT.format("model(x)"))


class ViTForward(Question):
    name = "q1"
    answer_name = "vit_forward"

    def _explain_error(self, error: Exception) -> str | None:
        return _explain_shape_error(error)

    def _check(self, vit_forward: Any) -> None:
        expect_callable(vit_forward, self.answer_name)
        for seed in (0, 1):
            model = _perturbed_vit(seed=50 * seed, cls=_NoShortcuts)
            reference = ViT(**_SMALL).eval()
            reference.load_state_dict(model.state_dict())
            x = _inputs(seed)
            with torch.no_grad():
                out = expect_tensor(vit_forward(model, x.clone()), "`vit_forward` returned")
                _check_logits_shape(out, x, "`vit_forward`")
                self._compare(out, model, x, expected=reference(x))

    @staticmethod
    def _compare(out: torch.Tensor, model: ViT, x: torch.Tensor, expected: torch.Tensor) -> None:
        cls = model.class_embedding.expand(x.shape[0], -1, -1)
        patches, pos = model.patch_embedding(x), model.position_embedding
        encoder, head = model.transformer_encoder, model.classifier
        z_l = encoder(torch.cat([cls, patches], dim=1) + pos)
        expect_close(
            out, expected, atol=_ATOL, rtol=_RTOL,
            mistakes=[
                (lambda: head(encoder(torch.cat([cls, patches + pos[:, 1:]], dim=1))[:, 0]),
                 "Your class token enters the encoder without its position embedding: E_pos was added "
                 "to the patches before the class token was prepended. Prepend first, then add E_pos "
                 "to all N + 1 tokens."),
                (lambda: head(encoder(torch.cat([cls, patches + pos[:, :-1]], dim=1))[:, 0]),
                 "Your class token enters the encoder without its position embedding: E_pos was added "
                 "to the patches before the class token was prepended. Prepend first, then add E_pos "
                 "to all N + 1 tokens."),
                (lambda: head[1](z_l[:, 0]),
                 "Your logits skip Eq 4's final LayerNorm, y = LN(z_L^0): `model.classifier[1]` is the "
                 "head alone, while `model.classifier` is the LayerNorm and then the head."),
                (lambda: head(z_l[:, -1]),
                 "You read the last token. Eq 4 reads token 0, z_L^0: the state of the class token, "
                 "which Eq 1 prepends."),
                (lambda: head(encoder(torch.cat([patches, cls], dim=1) + pos)[:, -1]),
                 "Your class token is appended at the end of the sequence. Eq 1 prepends it "
                 "(z_0^0 = x_class), so that it gets E_pos's row 0 and Eq 4 reads token 0."),
                (lambda: head(z_l[:, 1]),
                 "You read token 1, the first patch. Eq 4 reads token 0, the class token's state."),
                (lambda: head(z_l.mean(dim=1)),
                 "You average all the tokens. Eq 4 reads one token, the class token's state z_L^0. "
                 "(Averaging the patch tokens is another head, exercise 2.)"),
                (lambda: head(z_l[:, 1:].mean(dim=1)),
                 "You average the patch tokens. Eq 4 reads one token, the class token's state z_L^0. "
                 "(That average is another head, exercise 2.)"),
                (lambda: head(encoder(torch.cat([cls, patches], dim=1))[:, 0]),
                 "Your tokens have no position embedding: Eq 1 adds E_pos to z_0, or the encoder cannot "
                 "tell where each patch came from."),
                (lambda: head(encoder(patches + pos[:, 1:])[:, 0]),
                 "Your sequence has no class token: Eq 1 prepends x_class, and Eq 4 reads its state."),
            ],
            otherwise="Your logits have the right shape, but not the model's values. Check the order: "
                      "patch embeddings, prepend the class token, add E_pos, the encoder, then "
                      "`model.classifier` on token 0.",
        )


q1 = ViTForward()


# ---------------------------------------------------------------------------------------------------------
# q2: a mean-pooling head
# ---------------------------------------------------------------------------------------------------------

class MeanPoolHead(Question):
    name = "q2"
    answer_name = "mean_pool_logits"

    def _explain_error(self, error: Exception) -> str | None:
        if "cannot be multiplied" in str(error) or "normalized_shape" in str(error):
            return ("Check which dimension you average over: z_L is (B, N + 1, D). Averaging over the last "
                    "dimension leaves one number per token, not D numbers per image; the classifier needs one "
                    "D-vector per image, (B, D).")
        return _explain_shape_error(error)

    def _check(self, mean_pool_logits: Any) -> None:
        expect_callable(mean_pool_logits, self.answer_name)
        for seed in (0, 1):
            model = _perturbed_vit(seed=300 + 50 * seed)
            x = _inputs(10 + seed)
            with torch.no_grad():
                out = expect_tensor(mean_pool_logits(model, x.clone()), "`mean_pool_logits` returned")
                _check_logits_shape(out, x, "`mean_pool_logits`")
                self._compare(out, model, x)

    @staticmethod
    def _compare(out: torch.Tensor, model: ViT, x: torch.Tensor) -> None:
        z_l = model.forward_features(x)
        head = model.classifier
        expect_close(
            out, head(z_l[:, 1:].mean(dim=1)), atol=_ATOL, rtol=_RTOL,
            mistakes=[
                (lambda: head(z_l.mean(dim=1)),
                 "Your average includes the class token (token 0). Average the N patch tokens only: "
                 "with a GAP head the class token plays no part in the prediction."),
                (lambda: head(z_l[:, 0]),
                 "That's the class-token head of Eq 4, the model's own forward. Average the patch "
                 "tokens instead."),
                (lambda: head[1](head[0](z_l)[:, 1:].mean(dim=1)),
                 "You apply the LayerNorm to every token and then average. The exercise asks to average "
                 "first, then apply `model.classifier` (LayerNorm and head) to the average."),
                (lambda: head[1](z_l[:, 1:].mean(dim=1)),
                 "Your logits skip the final LayerNorm: `model.classifier[1]` is the head alone. Apply "
                 "all of `model.classifier` to the average."),
                (lambda: head(z_l[:, :-1].mean(dim=1)),
                 "Your average leaves out the last patch and includes the class token. Token 0 is the "
                 "class token: skip the first token, not the last."),
            ],
            otherwise="Your logits have the right shape, but not those of the average of the N patch "
                      "tokens of z_L. Check which tokens you average, and that `model.classifier` comes "
                      "after the average.",
        )


q2 = MeanPoolHead()


# ---------------------------------------------------------------------------------------------------------
# q3: parameters of ViT-B/16 with 10 classes
# ---------------------------------------------------------------------------------------------------------

class TenClassParams(NumberQuestion):
    name = "q3"
    answer_name = "vit_b16_10_classes_params"
    expected = 85_806_346
    diagnoses = {
        86_567_656: "That's ViT-B/16 with ImageNet's 1000 classes. The head is a Linear layer D → K: it shrinks "
                    "with K = 10.",
        85_798_656: "That's the model without any head. The 10-class head has weights and biases too.",
        85_797_120: "That's the model without its head and without Eq 4's final LayerNorm. Both belong to the "
                    "10-class model.",
        85_806_336: "The Linear head has a bias too: one per class.",
        85_804_810: "Eq 4's final LayerNorm is still there, with its learnable scale and shift.",
        85_805_578: "You are one D-vector short: check the class token, E_pos's row for it (N + 1 rows), and the "
                    "bias of the patch embedding.",
        85_054_464: "That's the 12 encoder blocks alone. Add the patch embedding, the class token, E_pos, the final "
                    "LayerNorm and the head.",
        85_655_050: "Don't forget E_pos: one learnable D-vector per token, N + 1 rows.",
        85_215_754: "Don't forget the patch embedding E: a (P²·C) × D projection with a bias.",
        7_690: "That's the new head alone; the question asks for the whole model.",
        7_680: "That's the new head's weights alone; the question asks for the whole model.",
    }
    otherwise = ("Start from the lesson's 1000-class count and change only what depends on the number of classes, "
                 "or count every part from Eq 1–4.")


q3 = TenClassParams()


# ---------------------------------------------------------------------------------------------------------
# q4: the shape of E_pos at 384 px
# ---------------------------------------------------------------------------------------------------------

class ResizedPositionEmbedding(Question):
    name = "q4"
    answer_name = "new_shape"

    def _check(self, new_shape: Any) -> None:
        if isinstance(new_shape, torch.Tensor):
            raise Wrong("`new_shape` is a tensor. Give its shape as a tuple of numbers, e.g. `tuple(t.shape)`.")
        if isinstance(new_shape, (int, float)) and not isinstance(new_shape, bool):
            raise Wrong(f"`new_shape` is the single number {new_shape}. Give the whole shape, a tuple with "
                        f"one entry per dimension of E_pos, e.g. (1, 2, 3).")
        if isinstance(new_shape, str) or not isinstance(new_shape, (tuple, list, torch.Size)):
            raise Wrong(f"`new_shape` is a {type(new_shape).__name__}; give a tuple of numbers, e.g. (1, 2, 3).")
        shape = tuple(as_number(v, "each entry of `new_shape`") for v in new_shape)
        if any(v != int(v) or v < 0 for v in shape):
            raise Wrong("Each entry of a shape is a whole number: the size of one dimension.")
        shape = tuple(int(v) for v in shape)
        d, grid = 1024, 384 // 16
        if shape == (1, grid * grid + 1, d):
            return
        if len(shape) == 4 and sorted(shape) == sorted((1, d, grid, grid)):
            raise Wrong(f"{shape} is the grid of patch rows while it is being interpolated. Afterwards it is "
                        f"flattened back into a sequence and the class token's row is put back in front: E_pos "
                        f"is (1, tokens, D).")
        if len(shape) == 2:
            raise Wrong(f"{shape} has two dimensions; E_pos has three, (1, N + 1, D): it keeps its leading "
                        f"dimension of 1, which broadcasts over the batch.")
        if len(shape) != 3:
            raise Wrong(f"{shape} has {len(shape)} dimensions; E_pos has three, (1, N + 1, D).")
        ones, rows, width = shape
        if ones != 1:
            raise Wrong(f"{shape}: E_pos's first dimension is 1, shared by every image of a batch.")
        if (rows, width) == (d, grid * grid + 1):
            raise Wrong(f"{shape}: the last two dimensions are swapped. E_pos has one row (a D-vector) per "
                        f"token: (1, tokens, D).")
        messages = {
            grid * grid: "You have one row per patch. The class token keeps its own row: "
                         "`interpolate_position_embedding` resizes only the patch rows and puts the class "
                         "token's row back in front.",
            197: "That's the shape at 224 px. At 384 px the grid of patches is larger, so E_pos has more rows.",
            196: "That's the number of patches at 224 px. At 384 px the grid of patches is larger.",
            (384 // 32) ** 2 + 1: "Check the patch size: ViT-L/16 has P = 16.",
            (384 // 8) ** 2 + 1: "Check the patch size: ViT-L/16 has P = 16.",
            384 + 1: "Count the patches of the whole grid: a 384 × 384 image has (384/P)² of them.",
            grid + 1: "That's one side of the grid (plus one). E_pos has a row for every patch of the grid.",
        }
        if width != d:
            extra = " That's ViT-Base's width; ViT-Large is wider." if width == 768 else ""
            raise Wrong(f"{shape}: interpolation changes the number of rows, not their width. Each row is still "
                        f"a D-vector, with ViT-L's D.{extra}")
        raise Wrong(f"{shape} is not it. {messages.get(rows, 'Count the tokens of a 384 × 384 image with P = 16.')}")


q4 = ResizedPositionEmbedding()
