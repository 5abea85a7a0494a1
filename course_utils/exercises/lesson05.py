"""Exercises of lesson 05, Equation 4: the full Vision Transformer (see ``course_utils.exercises``).

q1 the ViT's forward pass from its pieces · q2 a mean-pooling head · q3 parameters of ViT-B/16 with 10 classes
· q4 the shape of E_pos at 384 px
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from course_utils.exercises import (
    NumberQuestion,
    Question,
    Unchanged,
    Wrong,
    as_number,
    call_for_gradients,
    expect_callable,
    expect_close,
    expect_gradients,
    expect_tensor,
    explain_class_token_cat,
    fixed_size,
    perturb_,
    randn,
    recorded_inputs,
    seeded,
)
from course_utils.vit import ViT

LESSON = "05_vision_transformer"

# Small ViTs whose checks are instant: N = 16 patches of width D = 24 (N != D, so averaging over the wrong
# dimension shows), and another image size, patch count, width, depth and number of classes.
_SMALL = dict(img_size=16, in_channels=3, patch_size=4, num_transformer_layers=2, embedding_dim=24, mlp_size=48,
              num_heads=2, num_classes=5)
_OTHER = dict(img_size=24, in_channels=3, patch_size=8, num_transformer_layers=1, embedding_dim=16, mlp_size=40,
              num_heads=4, num_classes=3)
_CASES = [(_SMALL, 3), (_OTHER, 2), (_SMALL, 1)]  # (config, batch size)
_DROPOUT = dict(mlp_dropout=0.1, embedding_dropout=0.1)  # the paper's; checked in training mode
_ATOL, _RTOL = 1e-5, 1e-5


def _perturbed_vit(config: dict[str, int], seed: int, cls: type[ViT] = ViT) -> ViT:
    """A small ViT with dropout, every parameter random: a class token and LayerNorms that are far from 0 and
    the identity, so that leaving any step out changes the logits."""
    return perturb_(cls(**config, **_DROPOUT), seed, unscaled=("class_embedding", "position_embedding"))


def _quiet_(model: ViT) -> ViT:
    """Scale the class token, E_pos, the patch embedding and every block's output layers down by 1000, in place:
    the tokens, z_L⁰ included, are then about 0.001 in size, where the eps of a LayerNorm shows (eps 1e-5 instead
    of 1e-6 changes the normalised values by a few percent)."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith(("class_embedding", "position_embedding", "patch_embedding")) or \
                    ".proj." in name or ".mlp.3." in name:
                parameter.mul_(1e-3)
    return model


def _twin(model: ViT, config: dict[str, int]) -> ViT:
    """The checker's own copy of ``model``: the same weights, a ViT whose forward is the reference."""
    twin = ViT(**config, **_DROPOUT)
    twin.load_state_dict(model.state_dict())
    return twin


def _inputs(config: dict[str, int], batch: int, seed: int) -> torch.Tensor:
    return randn(batch, config["in_channels"], config["img_size"], config["img_size"], seed=seed)


def _check_logits_shape(out: torch.Tensor, x: torch.Tensor, name: str, config: dict[str, int]) -> None:
    batch, classes, dim = x.shape[0], config["num_classes"], config["embedding_dim"]
    tokens = (config["img_size"] // config["patch_size"]) ** 2 + 1
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


def _run(function: Any, name: str, model: ViT, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The learner's function on the caller's own model and images (which it must leave as they were), with
    the RNG seeded; returns its output and what Eq 4's LayerNorm was called on."""
    inputs = Unchanged(x=x, model=model)
    try:
        with recorded_inputs(model.classifier[0]) as normalised, seeded(seed):
            out = expect_tensor(function(model, x), f"`{name}` returned")
    except RuntimeError as error:
        if (size := fixed_size(error, x.shape[0])) is not None:
            raise Wrong(f"`{name}` fails on a batch of {x.shape[0]} images: a size in it is fixed at {size}. "
                        f"The batch size comes with the input: expand (or repeat) the class token to "
                        f"`x.shape[0]` images.") from None
        raise
    inputs.expect(name)
    return out, normalised


def _hidden_by_layer_norm(normalised: list[torch.Tensor], expected: torch.Tensor, what: str) -> None:
    """Eq 4's LayerNorm hides a scale error in its input (LN(c·v) = LN(v)): compare what it was called on."""
    if len(normalised) != 1 or normalised[0].shape != expected.shape:
        return
    got = normalised[0]
    if not torch.allclose(got.double(), expected.double(), atol=1e-4, rtol=1e-4):
        ratio = float((got * expected).sum() / (expected * expected).sum())
        raise Wrong(f"Your logits are right only because Eq 4's LayerNorm hides a factor: what it normalises is "
                    f"about {ratio:.3g} × {what}. LayerNorm(c·v) = LayerNorm(v), so the factor vanishes from the "
                    f"logits, but it is an error all the same. Pass {what} itself to `model.classifier`.")


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


_LN_PER_TOKEN = ("You apply Eq 4's LayerNorm to every token, then take token 0: that is equivalent, because "
                 "LayerNorm normalises each token on its own (over its D features), so LN(z_L)⁰ = LN(z_L⁰). "
                 "The model's forward takes token 0 first and spares normalising the N other tokens.")


def _embedded(model: ViT, x: torch.Tensor, dropout: str) -> torch.Tensor:
    """z_0 with the embedding dropout where answers put it: "after" adding E_pos (the paper's place), "before"
    adding it, on the "patches" only, "twice" after, or "none" (for the diagnoses, in training mode)."""
    cls = model.class_embedding.expand(x.shape[0], -1, -1)
    patches, pos, drop = model.patch_embedding(x), model.position_embedding, model.embedding_dropout
    if dropout == "patches":
        patches = drop(patches)
    tokens = torch.cat([cls, patches], dim=1)
    if dropout == "before":
        return drop(tokens) + pos
    z = tokens + pos
    return {"after": drop, "twice": lambda t: drop(drop(t))}.get(dropout, lambda t: t)(z)


class ViTForward(Question):
    name = "q1"
    answer_name = "vit_forward"

    def _explain_error(self, error: Exception) -> str | None:
        return _explain_shape_error(error)

    def _check(self, vit_forward: Any) -> str | None:
        expect_callable(vit_forward, self.answer_name)
        note = None
        # The last case again, with tokens of about 0.001, where the eps of Eq 4's LayerNorm shows.
        for seed, (config, batch) in enumerate([*_CASES, _CASES[-1]]):
            model = _perturbed_vit(config, seed=50 * seed, cls=_NoShortcuts)
            if seed == len(_CASES):
                _quiet_(model)
            reference = _twin(model, config)
            x = _inputs(config, batch, seed)
            # Eval mode first: the arrangement of Eq 1-4, without dropout.
            out, normalised = _run(vit_forward, self.answer_name, model.eval(), x, seed)
            _check_logits_shape(out, x, "`vit_forward`", config)
            with torch.no_grad():
                self._compare(out, model, x, expected=reference.eval()(x))
                z_l = reference.forward_features(x)
            if normalised and normalised[0].ndim == 3:
                _hidden_by_layer_norm([normalised[0][:, 0]], z_l[:, 0], "z_L⁰, the class token's final state")
                note = _LN_PER_TOKEN
            else:
                _hidden_by_layer_norm(normalised, z_l[:, 0], "z_L⁰, the class token's final state")
            # Training mode: the same seed gives the same dropout masks, where the dropout is in the same place.
            self._check_training(vit_forward, model.train(), reference.train(), x, seed)
        return note

    def _check_training(self, vit_forward: Any, model: ViT, reference: ViT, x: torch.Tensor, seed: int) -> None:
        out, _ = _run(vit_forward, self.answer_name, model, x, seed)
        with torch.no_grad(), seeded(seed):
            expected = reference(x)

        def variant(dropout: str) -> torch.Tensor:
            with torch.no_grad(), seeded(seed):
                return model.classifier(model.transformer_encoder(_embedded(model, x, dropout))[:, 0])

        appendix = ("Appendix B.1 applies dropout \"directly after adding positional- to patch embeddings\" "
                    "(`model.embedding_dropout`), besides the dense layers inside the blocks.")
        expect_close(
            out, expected, atol=_ATOL, rtol=_RTOL,
            mistakes=[
                (lambda: variant("none"),
                 f"Your logits are right in eval mode, but in training mode there is no dropout on z_0. {appendix}"),
                (lambda: variant("before"),
                 f"Your embedding dropout comes before the position embedding is added, so E_pos is never "
                 f"dropped. {appendix}"),
                (lambda: variant("patches"),
                 f"Your embedding dropout drops the patch embeddings only, before the class token and E_pos "
                 f"join them. {appendix}"),
                (lambda: variant("twice"),
                 f"Your embedding dropout is applied twice. {appendix}"),
            ],
            otherwise="Your logits are right in eval mode, but not in training mode with the same random seed: "
                      "the dropout is not where the model's is. Apply `model.embedding_dropout` once, directly "
                      "after adding E_pos (Appendix B.1), and add no dropout of your own.",
        )
        # The logits feed the loss: gradients must reach the images and every parameter of the model.
        leaf = x.clone().requires_grad_()
        with seeded(seed):
            out = call_for_gradients(vit_forward, "The output of `vit_forward`", model, leaf)
        with seeded(seed):
            expected = reference(leaf)
        expect_gradients(out, expected, {"x": leaf}, "The output of `vit_forward`",
                         reached={f"model.{name}": p for name, p in model.named_parameters()})

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
                (lambda: head[1](F.layer_norm(z_l[:, 0], z_l.shape[-1:], head[0].weight, head[0].bias, eps=1e-5)),
                 "Your final LayerNorm uses eps = 1e-5, PyTorch's default (`F.layer_norm` or a new "
                 "`nn.LayerNorm` without `eps=`). ViT's LayerNorms use a smaller one, "
                 "`course_utils.vit.LAYER_NORM_EPS`; on tokens of small magnitude, like those of the checker's "
                 "last model, the difference shows. Use the model's own, `model.classifier[0]`."),
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
        for seed, (config, batch) in enumerate(_CASES):
            model = _perturbed_vit(config, seed=300 + 50 * seed)
            reference = _twin(model, config)
            x = _inputs(config, batch, 10 + seed)
            out, normalised = _run(mean_pool_logits, self.answer_name, model.eval(), x, seed)
            _check_logits_shape(out, x, "`mean_pool_logits`", config)
            with torch.no_grad():
                self._compare(out, reference.eval(), x)
                pooled = reference.forward_features(x)[:, 1:].mean(dim=1)
            if len(normalised) == 1 and normalised[0].shape == pooled.shape:
                tokens = reference.num_patches
                if torch.allclose(normalised[0], tokens * pooled, atol=1e-4, rtol=1e-4):
                    raise Wrong(f"Your pooled vector is the sum of the {tokens} patch tokens, {tokens} times their "
                                f"average. Eq 4's LayerNorm hides the factor (LayerNorm(c·v) = LayerNorm(v)), so "
                                f"the logits come out right, but global average pooling averages: divide by N, "
                                f"or use `.mean`.")
                _hidden_by_layer_norm(normalised, pooled, "the average of the patch tokens")
            # Training mode, with the same seed as the reference: no dropout of its own, none taken away.
            out, _ = _run(mean_pool_logits, self.answer_name, model.train(), x, seed)
            with torch.no_grad(), seeded(seed):
                expected = reference.train().classifier(reference.forward_features(x)[:, 1:].mean(dim=1))
            expect_close(out, expected, atol=_ATOL, rtol=_RTOL,
                         otherwise="Your logits are right in eval mode, but not in training mode with the same "
                                   "random seed: call `model.forward_features` once, and add no dropout (nor "
                                   "switch the model's mode).")
            leaf = x.clone().requires_grad_()
            with seeded(seed):
                out = call_for_gradients(mean_pool_logits, "The output of `mean_pool_logits`", model, leaf)
            with seeded(seed):
                expected = reference.classifier(reference.forward_features(leaf)[:, 1:].mean(dim=1))
            expect_gradients(out, expected, {"x": leaf}, "The output of `mean_pool_logits`",
                             reached={f"model.{name}": p for name, p in model.named_parameters()})

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
                 "You apply the LayerNorm to every token and then average. For one token the order would not "
                 "matter (LayerNorm normalises each token on its own, so normalising every token and then "
                 "taking token 0 gives Eq 4's y), but an average mixes tokens, and LayerNorm is not linear: "
                 "the average of normalised tokens is not the normalised average. The exercise asks to "
                 "average first, then apply `model.classifier` (LayerNorm and head) to the average."),
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
