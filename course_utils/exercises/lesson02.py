"""Exercises of lesson 02, Equation 1: the patch embedding (see ``course_utils.exercises`` for the framework).

q1 patchify without Conv2d · q2 tokens at 384 px · q3 parameters of the patch embedding · q4 all of Eq 1
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import (
    NumberQuestion,
    Question,
    Unchanged,
    Wrong,
    call_for_gradients,
    expect_callable,
    expect_class,
    expect_close,
    expect_gradients,
    expect_tensor,
    explain_class_token_cat,
    fixed_size,
    randn,
    seeded,
)
from course_utils.vit import PatchEmbedding

LESSON = "02_patch_embedding"


# ---------------------------------------------------------------------------------------------------------
# q1: patchify without Conv2d
# ---------------------------------------------------------------------------------------------------------

def _patch_grid(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H/P, W/P, P, P)."""
    return images.unfold(2, patch_size, patch_size).unfold(3, patch_size, patch_size)


class Patchify(Question):
    name = "q1"
    answer_name = "patchify"

    def _check(self, patchify: Any) -> None:
        expect_callable(patchify, "patchify")
        # Non-square images, several patch sizes and channel counts, a batch of one: hard-coded sizes and
        # swapped H/W show up.
        for (batch, channels, height, width, patch_size), seed in zip(
                [(2, 3, 16, 24, 8), (3, 1, 12, 8, 4), (1, 2, 8, 20, 4)], [0, 1, 2], strict=True):
            images = randn(batch, channels, height, width, seed=seed)
            inputs = Unchanged(images=images)
            out = expect_tensor(patchify(images, patch_size), "`patchify` returned")
            inputs.expect("patchify")
            self._check_shape(out, images, patch_size)
            grid = _patch_grid(images, patch_size)  # (B, C, H/P, W/P, P, P)
            shape = out.shape

            def flat(*order: int, grid: torch.Tensor = grid, shape: torch.Size = shape) -> torch.Tensor:
                return grid.permute(*order).reshape(shape)

            expect_close(
                out, flat(0, 2, 3, 4, 5, 1),
                mistakes=[
                    (flat(0, 2, 3, 1, 4, 5),
                     "Your patches are flattened channel by channel, in (C, P, P) order: PyTorch's layout. "
                     "This exercise follows the lesson and the paper's H×W×C images, with each pixel's C "
                     "colour values together: (P, P, C). Move the channel dimension last before flattening."),
                    (flat(0, 3, 2, 4, 5, 1),
                     "Your patches come column by column. The ViT reads them row by row, left to right: "
                     "the second patch is to the right of the first, not below it."),
                    (flat(0, 2, 3, 5, 4, 1),
                     "The patches are in the right order, but inside each patch your pixels go column by "
                     "column. Flatten each patch row by row, like reading a page."),
                    (images.reshape(shape),
                     "Each of your \"patches\" is a run of consecutive pixels along one row of the image, "
                     "not a P×P square: `reshape` keeps the numbers in memory order. Cut the image into "
                     "its grid of patches first (`unfold`, as in the lesson), `permute`, then flatten."),
                    (images.permute(0, 2, 3, 1).reshape(shape),
                     "Each of your \"patches\" is a run of consecutive pixels along one row of the image, "
                     "not a P×P square: `reshape` keeps the numbers in memory order. Cut the image into "
                     "its grid of patches first (`unfold`, as in the lesson), `permute`, then flatten."),
                ],
                otherwise="Your output has the right shape, but not the patches of x_p. A `reshape` (or "
                          "`view`) before the right `permute` mixes up the numbers; check the order of the "
                          "dimensions at each step with `.shape`.",
            )
            # x_p feeds the trainable projection E: the gradient must flow back through it.
            leaf = images.clone().requires_grad_()
            out = call_for_gradients(patchify, "The output of `patchify`", leaf, patch_size)
            expected = _patch_grid(leaf, patch_size).permute(0, 2, 3, 4, 5, 1).reshape(shape)
            expect_gradients(out, expected, {"images": leaf}, "The output of `patchify`")

    @staticmethod
    def _check_shape(out: torch.Tensor, images: torch.Tensor, patch_size: int) -> None:
        batch, channels, height, width = images.shape
        num_patches, features = (height // patch_size) * (width // patch_size), patch_size**2 * channels
        got = tuple(out.shape)
        about = f"for images of shape {tuple(images.shape)} and patch_size={patch_size}"
        if out.ndim != 3:
            extra = (" That looks like the grid of patches: flatten it into one sequence of patches per "
                     "image." if out.ndim > 3 else "")
            raise Wrong(f"`patchify` returned shape {got} {about}. It should have 3 dimensions, "
                        f"(B, N, P²·C): one sequence of flattened patches per image.{extra}")
        if got[0] != batch:
            raise Wrong(f"`patchify` returned shape {got} {about}: the first dimension should be the batch, "
                        f"B = {batch}.")
        if got[1:] == (features, num_patches) and features != num_patches:
            raise Wrong(f"`patchify` returned shape {got} {about}: the last two dimensions are swapped. "
                        f"The patches (the tokens) come first: (B, N, P²·C).")
        if got[1] != num_patches:
            patches = "patch" if got[1] == 1 else "patches"
            raise Wrong(f"Your output has {got[1]} {patches} per image {about}. An H×W image cut into P×P "
                        f"patches has N = HW/P² of them: use the `patch_size` argument and the image's own "
                        f"H and W.")
        if got[2] != features:
            raise Wrong(f"Each of your patches has {got[2]} numbers {about}; a P×P patch with C channels "
                        f"has P²·C.")


q1 = Patchify()


# ---------------------------------------------------------------------------------------------------------
# q2: how many tokens at 384 px?
# ---------------------------------------------------------------------------------------------------------

class TokensAt384(NumberQuestion):
    name = "q2"
    answer_name = "num_tokens"
    expected = 577
    diagnoses = {
        576: "That's N, the number of patches. Look at Eq 1 again: what else is in the sequence z_0?",
        196: "That's the number of patches of a 224×224 image. At 384×384 the grid of patches is larger.",
        197: "That's the sequence length for a 224×224 image. At 384×384 the grid of patches is larger.",
        24: "That's the number of patches along one side of the image; N counts the whole grid.",
        25: "That's one side of the grid (plus one); N counts the whole grid of patches.",
        9216: "Each patch covers P×P pixels, so divide the image's area by P², not by P.",
        9217: "Each patch covers P×P pixels, so divide the image's area by P², not by P.",
        768: "That's D, the width of every token. The question asks how many tokens there are.",
        147456: "That's the number of pixels (per channel). The encoder sees patches, not pixels.",
    }
    otherwise = "Count the patches of a 384×384 image with P = 16 (N = HW/P²), then check Eq 1 for what else z_0 holds."


q2 = TokensAt384()


# ---------------------------------------------------------------------------------------------------------
# q3: parameters of the patch embedding
# ---------------------------------------------------------------------------------------------------------

class PatchEmbeddingParams(NumberQuestion):
    name = "q3"
    answer_name = "patch_embedding_params"
    expected = 590_592
    diagnoses = {
        589_824: "You have the weights of E. nn.Conv2d (like nn.Linear) also has a bias: one per output feature.",
        591_360: "That includes the class token, a parameter of the ViT (`class_embedding`), not of PatchEmbedding.",
        741_888: "That includes E_pos, a parameter of the ViT (`position_embedding`), not of PatchEmbedding.",
        742_656: "That includes the class token and E_pos, parameters of the ViT, not of PatchEmbedding.",
        150_528: "That's the size of the output, N × D = 196 × 768 numbers, not the number of parameters.",
        115_605_504: "One E serves every patch (that's what the stride-P convolution shares), so don't multiply by N.",
        115_756_032: "One E serves every patch (that's what the stride-P convolution shares), so don't multiply by N.",
        196_608: "The weights connect all P²·C inputs of a patch to each of the D outputs; the C = 3 colour "
                 "channels count too.",
        197_376: "The weights connect all P²·C inputs of a patch to each of the D outputs; the C = 3 colour "
                 "channels count too.",
        768: "Each of the D outputs has a weight for every one of the P²·C inputs of a patch, plus a bias.",
    }
    otherwise = "Count the weights of E, a (P²·C) × D matrix, then its bias."


q3 = PatchEmbeddingParams()


# ---------------------------------------------------------------------------------------------------------
# q4: all of Eq 1 as a module
# ---------------------------------------------------------------------------------------------------------

class Eq1Module(Question):
    name = "q4"
    answer_name = "Eq1Embedding"

    def _explain_error(self, error: Exception) -> str | None:
        text = str(error)
        if isinstance(error, TypeError) and "argument" in text:
            return ("Keep the constructor's arguments as in the stub: "
                    "Eq1Embedding(img_size, in_channels, patch_size, embedding_dim).")
        return explain_class_token_cat(error)

    def _check(self, Eq1Embedding: Any) -> None:
        expect_class(Eq1Embedding, "Eq1Embedding")
        configs = [  # (batches, in_channels, img_size, patch_size, embedding_dim): ViT-B/16, then small
            ((2, 1), 3, 224, 16, 768),
            ((3, 5), 1, 12, 4, 8),
        ]
        for seed, (batches, channels, img_size, patch_size, dim) in enumerate(configs):
            module = Eq1Embedding(img_size=img_size, in_channels=channels, patch_size=patch_size,
                                  embedding_dim=dim)
            about = f"(for img_size={img_size}, patch_size={patch_size}, embedding_dim={dim})"
            class_embedding, position_embedding = self._check_attributes(module, img_size, patch_size, dim, about)
            # The checker's own values (every term visible), loaded into the learner's parameters; the expected
            # output is computed from these values, never from the learner's modules.
            weight = randn(dim, channels, patch_size, patch_size, seed=30 + seed) / patch_size / channels ** 0.5
            bias, cls, pos = (randn(*shape, seed=s) for shape, s in [((dim,), 40 + seed), ((1, 1, dim), 10 + seed),
                                                                      ((1, (img_size // patch_size) ** 2 + 1, dim), 20 + seed)])
            with torch.no_grad():
                module.patch_embedding.patcher.weight.copy_(weight)
                module.patch_embedding.patcher.bias.copy_(bias)
                class_embedding.copy_(cls)
                position_embedding.copy_(pos)
            module.train()  # training mode: Eq 1 has no dropout, and eval() must not hide one
            for batch in batches:  # two batch sizes through the same module
                images = randn(batch, channels, img_size, img_size, seed=seed + batch)
                patches = F.conv2d(images, weight, bias, stride=patch_size).flatten(2).transpose(1, 2)
                out, again = self._run(module, images, seed), self._run(module, images, seed + 1)
                if out.shape == again.shape and not torch.equal(out, again):
                    raise Wrong("Your module gives a different output for the same images in training mode: it "
                                "draws random numbers (a dropout?). Eq 1 itself has none, and the prompt asks for "
                                "none (the ViT applies `embedding_dropout` after Eq 1).")
                self._check_output(out, patches, cls, pos, about)
            # z_0 feeds the encoder: gradients must reach the images and every parameter of Eq 1.
            leaf = images.clone().requires_grad_()
            out = call_for_gradients(module, "Your module's output", leaf)
            conv = module.patch_embedding.patcher
            patches = F.conv2d(leaf, conv.weight, conv.bias, stride=patch_size).flatten(2).transpose(1, 2)
            expected = torch.cat([class_embedding.expand(batch, -1, -1), patches], dim=1) + position_embedding
            expect_gradients(out, expected, {"images": leaf, "self.class_embedding": class_embedding,
                                             "self.position_embedding": position_embedding,
                                             "the weights of self.patch_embedding": conv.weight},
                             "Your module's output")

    @staticmethod
    def _check_attributes(module: nn.Module, img_size: int, patch_size: int, dim: int,
                          about: str) -> tuple[nn.Parameter, nn.Parameter]:
        num_patches = (img_size // patch_size) ** 2
        for attribute in ("patch_embedding", "class_embedding", "position_embedding"):
            if not hasattr(module, attribute):
                what = {"patch_embedding": "the patch embedding (a PatchEmbedding)",
                        "class_embedding": "the learnable class token x_class (Eq 1 prepends it)",
                        "position_embedding": "the learnable position embedding E_pos"}[attribute]
                raise Wrong(f"Your module has no `self.{attribute}`: it should hold {what}.")
        if not isinstance(module.patch_embedding, PatchEmbedding):
            raise Wrong(f"`self.patch_embedding` is a {type(module.patch_embedding).__name__}. The prompt asks for "
                        f"the `PatchEmbedding` imported above, which cuts the images into patches, projects and "
                        f"flattens them; build it with the constructor's arguments.")
        class_embedding, position_embedding = module.class_embedding, module.position_embedding
        for attribute, value in [("class_embedding", class_embedding), ("position_embedding", position_embedding)]:
            if not isinstance(value, nn.Parameter):
                raise Wrong(f"`self.{attribute}` should be an `nn.Parameter`, so that it is learned "
                            f"(a plain tensor is not in `.parameters()`, and the optimiser never "
                            f"updates it).")
        cls_shape, pos_shape = tuple(class_embedding.shape), tuple(position_embedding.shape)
        if len(cls_shape) == 3 and cls_shape[1:] == (1, dim) and cls_shape[0] != 1:
            raise Wrong(f"`self.class_embedding` has shape {cls_shape}: a batch dimension of {cls_shape[0]}. The "
                        f"class token is one learned D-vector, the same for every image: (1, 1, D). Expand (or "
                        f"repeat) it to the batch in `forward`, where the batch size is known.")
        if cls_shape != (1, 1, dim):
            raise Wrong(f"`self.class_embedding` has shape {cls_shape} {about}; "
                        f"the class token is one D-vector, shape (1, 1, D).")
        if len(pos_shape) == 3 and pos_shape[1:] == (num_patches + 1, dim) and pos_shape[0] != 1:
            raise Wrong(f"`self.position_embedding` has shape {pos_shape}: a batch dimension of {pos_shape[0]}. "
                        f"E_pos is one set of N + 1 position vectors shared by every image: its first dimension "
                        f"is 1, and broadcasting adds it to each image of a batch of any size. Made for a batch of "
                        f"{pos_shape[0]}, it breaks on another batch size, and it would learn separate positions "
                        f"for each slot of the batch.")
        if pos_shape == (1, num_patches, dim):
            raise Wrong(f"`self.position_embedding` has {num_patches} rows, one per patch {about}. The "
                        f"class token needs its own position too: E_pos has N + 1 rows.")
        if pos_shape != (1, num_patches + 1, dim):
            raise Wrong(f"`self.position_embedding` has shape {pos_shape} {about}; "
                        f"E_pos has one D-vector per token: (1, N + 1, D).")
        return class_embedding, position_embedding

    @staticmethod
    def _run(module: nn.Module, images: torch.Tensor, seed: int) -> torch.Tensor:
        inputs = Unchanged(images=images)
        try:
            with seeded(seed):
                out = expect_tensor(module(images), "Your module returned")
        except RuntimeError as error:
            if (size := fixed_size(error, images.shape[0])) is not None:
                raise Wrong(f"Your module fails on a batch of {images.shape[0]} images: a size in it is fixed at "
                            f"{size}. The batch size comes with the input: expand (or repeat) the class token to "
                            f"the batch of the images it joins, and keep the batch dimension out of the "
                            f"parameters.") from None
            raise
        inputs.expect("Your module")
        return out

    @staticmethod
    def _check_output(out: torch.Tensor, patches: torch.Tensor, class_embedding: torch.Tensor,
                      position_embedding: torch.Tensor, about: str) -> None:
        batch, num_patches, dim = patches.shape
        got = tuple(out.shape)
        if out.ndim == 3 and got[0] == batch and got[2] == dim:
            if got[1] == num_patches:
                raise Wrong(f"Your output has {num_patches} tokens, one per patch {about}: did you forget to "
                            f"prepend the class token?")
            if got[1] != num_patches + 1:
                raise Wrong(f"Your output has {got[1]} tokens {about}; z_0 has N + 1: the patches and the "
                            f"class token.")
        if got != (batch, num_patches + 1, dim):
            raise Wrong(f"Your output has shape {got} {about}; z_0 should be (B, N + 1, D).")
        class_tokens = class_embedding.expand(batch, -1, -1)
        positions = position_embedding
        expect_close(
            out, torch.cat([class_tokens, patches], dim=1) + positions,
            mistakes=[
                (torch.cat([class_tokens, patches], dim=1),
                 "Your z_0 has the class token and the patch embeddings, but no position embedding: "
                 "Eq 1 adds E_pos."),
                (torch.cat([class_tokens, patches + positions[:, 1:]], dim=1),
                 "Your class token is there, but without its position embedding: E_pos was added to the "
                 "patches before the class token was prepended. Prepend first, then add E_pos to all N + 1 "
                 "tokens, so that the class token gets its own row, E_pos^0."),
                (torch.cat([class_tokens, patches + positions[:, :-1]], dim=1),
                 "Your class token is there, but without its position embedding: E_pos was added to the "
                 "patches before the class token was prepended. Prepend first, then add E_pos to all N + 1 "
                 "tokens, so that the class token gets its own row, E_pos^0."),
                (torch.cat([patches, class_tokens], dim=1) + positions,
                 "Your class token is the last token. Eq 1 prepends it (z_0^0 = x_class): it is token 0, "
                 "the one Eq 4 reads the image's class from."),
            ],
            otherwise="Your output has the right shape but not the values of Eq 1. Check that you use "
                      "`self.patch_embedding`, `self.class_embedding` and `self.position_embedding` in "
                      "forward, and that every image gets the same class token.",
        )


q4 = Eq1Module()
