"""Exercises of lesson 08, predictions and what the ViT learned (see ``course_utils.exercises``).

q1 cosine similarity of the position embeddings (Figure 7, centre) · q2 mean attention distance (Figure 7,
right) · q3 attention rollout (Figure 6) · q4 how many numbers one layer's attention holds
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

from course_utils import interpret
from course_utils.exercises import (
    NumberQuestion,
    Question,
    Unchanged,
    Wrong,
    expect_callable,
    expect_close,
    expect_tensor,
    randn,
)

LESSON = "08_predictions_and_interpretation"

# The references, held here so that a learner's call to the interpret module can be refused during a check.
_REFERENCES = {
    "position_embedding_similarity": interpret.position_embedding_similarity,
    "mean_attention_distance": interpret.mean_attention_distance,
    "attention_rollout": interpret.attention_rollout,
}


@contextlib.contextmanager
def _no_shortcut(name: str, answer_name: str) -> Iterator[None]:
    """While the learner's function runs, ``interpret.<name>`` raises Wrong: it is the answer."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise Wrong(f"`{answer_name}` should compute the result itself; it called `interpret.{name}`, the "
                    f"lesson's version, which the checker compares yours with.")

    setattr(interpret, name, refuse)
    try:
        yield
    finally:
        setattr(interpret, name, _REFERENCES[name])


def _random_attention(batch: int, heads: int, tokens: int, seed: int) -> torch.Tensor:
    """Attention weights: every row a softmax, far from uniform, and not symmetric."""
    return (2.5 * randn(batch, heads, tokens, tokens, seed=seed)).softmax(dim=-1)


# ---------------------------------------------------------------------------------------------------------
# q1: cosine similarity of the position embeddings
# ---------------------------------------------------------------------------------------------------------

def _similarity(patches: torch.Tensor, grid: int, *, normalize: str = "rows") -> torch.Tensor:
    """Reference (defaults) and variants; ``patches`` is (N, D), float64."""
    if normalize == "rows":
        left = right = F.normalize(patches, dim=-1)
    elif normalize == "columns":
        left = right = F.normalize(patches, dim=0)
    elif normalize == "one side":
        left, right = F.normalize(patches, dim=-1), patches
    else:
        left = right = patches
    return (left @ right.T).reshape(grid, grid, grid, grid)


class PositionSimilarity(Question):
    name = "q1"
    answer_name = "pos_similarity"

    def _explain_error(self, error: Exception) -> str | None:
        if "is invalid for input of size" in str(error):
            return ("Count the rows you compare: the grid has grid × grid patches, and E_pos has one more row, "
                    "the class token's, which has no place in the grid.")
        return None

    def _check(self, pos_similarity: Any) -> None:
        expect_callable(pos_similarity, self.answer_name)
        for seed, (grid, dim) in enumerate([(3, 5), (4, 6)]):
            pos = randn(1, grid * grid + 1, dim, seed=10 + seed)
            pos[:, 0] = pos[:, 0] * 3 + 2  # a class token unlike the patches
            inputs = Unchanged(pos=pos)  # the caller's own E_pos: the function must leave it alone
            with _no_shortcut("position_embedding_similarity", self.answer_name):
                out = expect_tensor(pos_similarity(pos, grid), "`pos_similarity` returned")
            inputs.expect(self.answer_name)
            self._check_shape(out, grid)
            self._compare(out, pos, grid)

    @staticmethod
    def _check_shape(out: torch.Tensor, grid: int) -> None:
        got, n = tuple(out.shape), grid * grid
        about = f"for a {grid}×{grid} grid"
        if got == (grid,) * 4:
            return
        if got in ((n + 1, n + 1), (1, n + 1, n + 1)):
            raise Wrong(f"Your output has shape {got} {about}: {n + 1} rows means the class token is still "
                        f"there. Drop its row (row 0) before comparing: it has no place in the image.")
        if got in ((n, n), (1, n, n)):
            raise Wrong(f"Your output has shape {got} {about}: the similarities of all pairs, but not yet "
                        f"arranged as tiles. reshape it to (grid, grid, grid, grid).")
        raise Wrong(f"Your output has shape {got} {about}; it should be (grid, grid, grid, grid) = {(grid,) * 4}.")

    @staticmethod
    def _compare(out: torch.Tensor, pos: torch.Tensor, grid: int) -> None:
        patches = pos[0, 1:].double()
        expect_close(
            out, _REFERENCES["position_embedding_similarity"](pos, grid), atol=1e-5, rtol=1e-4,
            mistakes=[
                (_similarity(patches, grid, normalize="none"),
                 "Your values are dot products, not cosines: they still depend on the vectors' lengths. "
                 "Scale every patch's embedding to length 1 first (or divide by the product of the lengths)."),
                (_similarity(patches, grid, normalize="columns"),
                 "You normalised along the wrong dim: each of the D columns got length 1, not each patch's "
                 "row. Normalise along the last dimension, the embedding's."),
                (_similarity(patches, grid, normalize="one side"),
                 "Only one side of your product is normalised: a cosine divides by the lengths of both "
                 "vectors."),
                (_similarity(pos[0, :-1].double(), grid),
                 "You kept the class token's row and dropped the last patch instead. Row 0 is the class "
                 "token: drop the first row, not the last."),
                (_similarity(patches, grid).permute(0, 2, 1, 3),
                 "Your values are right, but the axes are in the wrong order: S[r, c, r2, c2] needs the first "
                 "patch's (row, column), then the second's. The plain reshape of the (N, N) matrix does it."),
                (_similarity(patches, grid).permute(1, 0, 3, 2),
                 "Your grid is transposed: the patches are numbered row by row (raster order), so patch k sits "
                 "at row k // grid and column k % grid."),
            ],
            otherwise="Your output has the right shape, but not the cosine similarities of the patches' "
                      "position embeddings. Check which rows you keep, how you normalise, and the reshape.",
        )


q1 = PositionSimilarity()


# ---------------------------------------------------------------------------------------------------------
# q2: mean attention distance
# ---------------------------------------------------------------------------------------------------------

def _distance(attn: torch.Tensor, grid: int, patch_size: int, *, keep: str = "patches", renormalize: str = "keys",
              p: float = 2.0, power: int = 1) -> torch.Tensor:
    """Reference (defaults) and variants: (B, heads, N + 1, N + 1) -> (heads,), float64."""
    attn = attn.double()
    weights = attn[..., 1:, 1:] if keep == "patches" else attn[..., :-1, :-1]
    if renormalize == "keys":
        weights = weights / weights.sum(dim=-1, keepdim=True)
    elif renormalize == "queries":
        weights = weights / weights.sum(dim=-2, keepdim=True)
    distance = interpret.patch_distances(grid, patch_size, p=p) ** power
    return (weights * distance).sum(dim=-1).mean(dim=(0, 2))


class AttentionDistance(Question):
    name = "q2"
    answer_name = "attention_distance"

    def _check(self, attention_distance: Any) -> None:
        expect_callable(attention_distance, self.answer_name)
        for seed, (batch, heads, grid, patch_size) in enumerate([(2, 3, 3, 8), (3, 2, 4, 16), (1, 4, 2, 4)]):
            attn = _random_attention(batch, heads, grid * grid + 1, seed=20 + seed)
            inputs = Unchanged(attn=attn)  # the caller's own attention maps: the function must leave them alone
            with _no_shortcut("mean_attention_distance", self.answer_name):
                out = expect_tensor(attention_distance(attn, grid, patch_size), "`attention_distance` returned")
            inputs.expect(self.answer_name)
            self._check_shape(out, batch, heads, grid)
            self._compare(out, attn, grid, patch_size)

    @staticmethod
    def _check_shape(out: torch.Tensor, batch: int, heads: int, grid: int) -> None:
        got, n = tuple(out.shape), grid * grid
        about = f"for {batch} images, {heads} heads and {n} patches"
        if got == (heads,):
            return
        if got == (batch, heads):
            raise Wrong(f"Your output has shape {got} {about}: one value per image and head. Average over the "
                        f"images too.")
        if got in ((batch, heads, n), (heads, n)):
            raise Wrong(f"Your output has shape {got} {about}: one value per query patch. Average over the "
                        f"queries (and the images) too.")
        if got in ((), (1,)):
            raise Wrong(f"Your output is a single number {about}. Keep one value per head: average over the "
                        f"images and the queries, not over the heads.")
        raise Wrong(f"Your output has shape {got} {about}; it should be (heads,) = ({heads},).")

    @staticmethod
    def _compare(out: torch.Tensor, attn: torch.Tensor, grid: int, patch_size: int) -> None:
        expect_close(
            out, _REFERENCES["mean_attention_distance"]([attn], grid, patch_size)[0], atol=1e-4, rtol=1e-4,
            mistakes=[
                (_distance(attn, grid, patch_size) / patch_size,
                 "Your distances are in patches. The paper measures them in pixels: neighbouring patch "
                 "centres are `patch_size` pixels apart."),
                (_distance(attn, grid, patch_size, renormalize="none"),
                 "Your patch-to-patch weights are not renormalised: each query also gives some weight to the "
                 "class token, so its weights over the patches sum to less than 1. Rescale each query's row "
                 "to sum to 1."),
                (_distance(attn, grid, patch_size, renormalize="queries"),
                 "You renormalised along the wrong axis: a query's weights run along the last axis (the keys), "
                 "and each query's row should sum to 1."),
                (_distance(attn, grid, patch_size, keep="first"),
                 "You dropped the last token instead of the class token. The class token is token 0: keep "
                 "queries and keys 1..N."),
                (_distance(attn, grid, patch_size, keep="first", renormalize="none"),
                 "You dropped the last token instead of the class token (token 0), and the weights are not "
                 "renormalised."),
                (_distance(attn, grid, patch_size, p=1),
                 "Your distances are city-block (|Δrow| + |Δcolumn|). The convention is the Euclidean "
                 "distance between the patch centres."),
                (_distance(attn, grid, patch_size, power=2),
                 "Your distances are squared. Use the Euclidean distance itself."),
            ],
            otherwise="Your output has the right shape, but not the mean attention distances. Check the four "
                      "steps: which weights you keep, the renormalisation, the distances in pixels, the "
                      "weighted sum over the keys and the average.",
        )


q2 = AttentionDistance()


# ---------------------------------------------------------------------------------------------------------
# q3: attention rollout
# ---------------------------------------------------------------------------------------------------------

def _rollout(attentions: list[torch.Tensor], *, fuse: str = "mean", identity: bool = True, renorm: str = "rows",
             order: str = "left", last_only: bool = False) -> torch.Tensor:
    """Reference (defaults) and variants: L tensors (B, heads, T, T) -> (B, T, T), float64."""
    layers = [a.double() for a in attentions]
    if last_only:
        layers = layers[-1:]
    tokens = layers[0].shape[-1]
    eye = torch.eye(tokens, dtype=torch.float64)
    rollout = eye.expand(layers[0].shape[0], tokens, tokens)
    for layer in layers:
        fused = {"mean": layer.mean(dim=1), "max": layer.amax(dim=1), "sum": layer.sum(dim=1)}[fuse]
        if identity:
            fused = fused + eye
        if renorm == "rows":
            fused = fused / fused.sum(dim=-1, keepdim=True)
        elif renorm == "columns":
            fused = fused / fused.sum(dim=-2, keepdim=True)
        rollout = fused @ rollout if order == "left" else rollout @ fused
    return rollout


class AttentionRollout(Question):
    name = "q3"
    answer_name = "rollout"

    def _check(self, rollout: Any) -> None:
        expect_callable(rollout, self.answer_name)
        for seed, (layers, batch, heads, tokens) in enumerate([(3, 2, 3, 5), (4, 1, 2, 10)]):
            attentions = [_random_attention(batch, heads, tokens, seed=30 + 10 * seed + i) for i in range(layers)]
            given = list(attentions)  # the caller's own list of maps: the function must leave it alone
            inputs = Unchanged(attentions=given)
            with _no_shortcut("attention_rollout", self.answer_name):
                out = rollout(given)
            inputs.expect(self.answer_name)
            if isinstance(out, (list, tuple)):
                raise Wrong(f"`rollout` returned a {type(out).__name__}. Return one tensor (B, T, T): the product "
                            f"of all the layers.")
            out = expect_tensor(out, "`rollout` returned")
            self._check_shape(out, layers, batch, heads, tokens)
            self._compare(out, attentions)

    @staticmethod
    def _check_shape(out: torch.Tensor, layers: int, batch: int, heads: int, tokens: int) -> None:
        got = tuple(out.shape)
        about = f"for {layers} layers of {batch} image(s), {heads} heads and T = {tokens} tokens"
        if got == (batch, tokens, tokens):
            return
        if got == (batch, heads, tokens, tokens):
            raise Wrong(f"Your output has shape {got} {about}: one matrix per head. Average the heads of every "
                        f"layer first.")
        if got in ((layers, batch, tokens, tokens), (layers, batch, heads, tokens, tokens)):
            raise Wrong(f"Your output has shape {got} {about}: one matrix per layer. Multiply the layers "
                        f"together into one matrix per image.")
        raise Wrong(f"Your output has shape {got} {about}; it should be (B, T, T) = {(batch, tokens, tokens)}.")

    @staticmethod
    def _compare(out: torch.Tensor, attentions: list[torch.Tensor]) -> None:
        expect_close(
            out, _REFERENCES["attention_rollout"](attentions), atol=1e-5, rtol=1e-4,
            mistakes=[
                (lambda: _rollout(attentions, identity=False),
                 "Your rollout has no identity: Eq 2 adds each block's input back to its output, so every token "
                 "also keeps its own information. Add the identity to each layer's averaged attention."),
                (lambda: _rollout(attentions, renorm="none"),
                 "Your rows don't sum to 1: after adding the identity, each row sums to 2. Renormalise every "
                 "row of each layer's matrix before multiplying."),
                (lambda: _rollout(attentions, renorm="columns"),
                 "You renormalised the columns. Each *row* (one token's weights over the tokens it reads "
                 "from) should sum to 1."),
                (lambda: _rollout(attentions, order="right"),
                 "Your layers are multiplied in the reverse order: you put each new layer on the right of the "
                 "running product. A later layer acts on what the earlier ones produced, so it belongs on the "
                 "left: R = Â_L ⋯ Â_2 Â_1."),
                (lambda: _rollout(attentions, fuse="max"),
                 "You take the maximum over the heads. The paper (Appendix D.8) averages the attention "
                 "weights across all heads."),
                (lambda: _rollout(attentions, fuse="sum"),
                 "You sum the heads. Average them instead: with the sum, the identity weighs less and less "
                 "as the number of heads grows."),
                (lambda: _rollout(attentions, last_only=True),
                 "That's the last layer alone. Rollout multiplies the matrices of all the layers, first layer "
                 "first (rightmost)."),
            ],
            otherwise="Your output has the right shape, but not the rollout. Check the three steps per layer "
                      "(average the heads, add the identity, renormalise the rows) and the order of the "
                      "products.",
        )


q3 = AttentionRollout()


# ---------------------------------------------------------------------------------------------------------
# q4: how many numbers one layer's attention holds
# ---------------------------------------------------------------------------------------------------------

class AttentionSize(NumberQuestion):
    name = "q4"
    answer_name = "attention_numbers"
    expected = 867
    diagnoses = {
        768: "That leaves out the class token: it is a token too, a query and a key like the patches.",
        289: "That's one head's matrix; every layer has 3 heads, each with its own weights.",
        256: "That's one head's matrix without the class token. Count the class token, and all 3 heads.",
        51: "That's one row per head. Each head has a full matrix: one row per query token, one column per key "
            "token.",
        48: "Count the patches of the whole image, not of one side: 32 px holds 4 patches of 8 px along each "
            "side, and the image is a grid of them. Don't forget the class token.",
        75: "Count the patches of the whole image, not of one side: 32 px holds 4 patches of 8 px along each side, "
            "and the image is a grid of them.",
        5_202: "That's all 6 layers; the question asks about one layer.",
        4_608: "That's all 6 layers, without the class token; the question asks about one layer.",
        110_976: "That's for a batch of 128 images, as in the lesson; the question asks about one image.",
        3_264: "That's the size of one head's queries (tokens × D/heads). The attention weights compare tokens "
               "with tokens.",
        9_792: "That's the size of q (or k, or v) for all heads: tokens × D. The attention weights compare tokens "
               "with tokens.",
        3_148_803: "Tokens are patches (plus the class token), not pixels.",
        3_145_728: "Tokens are patches (plus the class token), not pixels.",
    }
    otherwise = "Count the tokens first (patches plus the class token), then the weights of one head, then the heads."


q4 = AttentionSize()
