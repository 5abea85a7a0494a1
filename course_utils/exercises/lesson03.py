"""Exercises of lesson 03, Equation 2: multi-head self-attention (see ``course_utils.exercises``).

q1 scaled dot-product attention · q2 attention with a mask · q3 splitting into heads · q4 parameters of the
MSA block
"""

from __future__ import annotations

import math
from typing import Any

import torch

from course_utils.exercises import (
    NumberQuestion,
    Question,
    Unchanged,
    Wrong,
    call_for_gradients,
    expect_callable,
    expect_close,
    expect_gradients,
    expect_tensor,
    randn,
    refusing,
)

LESSON = "03_multihead_self_attention"

_SCALE = ("Divide the scores q kᵀ by √D_h before the softmax (Eq 6), where D_h = q.shape[-1] is the width of a "
          "head.")


def _softmax_v(scores: torch.Tensor, v: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return scores.softmax(dim=dim) @ v


def _attention_diagnoses(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                         scores: torch.Tensor) -> list[tuple[Any, str]]:
    """Outputs of the typical slips in Eq 6-7 (``scores``: q kᵀ, unscaled, masked or not) and their messages."""
    d_h, tokens = q.shape[-1], q.shape[-2]
    return [
        (lambda: _softmax_v(scores, v),
         f"Your output matches attention without the 1/√D_h scale. {_SCALE}"),
        (lambda: _softmax_v(scores / d_h, v),
         "You divided the scores by D_h. Eq 6 divides them by its square root, √D_h."),
        (lambda: _softmax_v(scores * math.sqrt(d_h), v),
         "You multiplied the scores by √D_h. Eq 6 divides them by √D_h."),
        (lambda: _softmax_v(scores / math.sqrt(tokens), v),
         "You scaled by the square root of the number of tokens. The scale is 1/√D_h, where D_h = "
         "q.shape[-1] is the width of a head."),
        (lambda: (scores.softmax(dim=-1) / math.sqrt(d_h)) @ v,
         "You applied the scale after the softmax. It belongs inside: softmax(q kᵀ / √D_h)."),
        (lambda: _softmax_v(scores / math.sqrt(d_h), v, dim=-2),
         "Your softmax normalises over the queries (dim=-2). Each row of A, one query, must sum to 1 over "
         "the keys: the softmax goes over the last dimension."),
        (lambda: (scores / math.sqrt(d_h)) @ v,
         "You skipped the softmax: the scaled scores must become weights that are positive and sum to 1 "
         "(Eq 6)."),
    ]


def _explain_matmul_error(error: Exception) -> str | None:
    text = str(error)
    if any(words in text for words in ("cannot be multiplied", "must match the size", "size mismatch",
                                       "Expected size", "batch2")):
        return ("Check the shapes of each product: q kᵀ needs the keys transposed over their last two "
                "dimensions, `k.transpose(-2, -1)` (`k.T` also flips the batch dimensions).")
    return None


def _reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q kᵀ / √D_h) v, masked where ``mask`` is False: the checker's own, for any leading dimensions."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1) @ v


def _run(function: Any, name: str, tensors: dict[str, torch.Tensor], *extra: Any) -> torch.Tensor:
    """The learner's attention on the caller's own tensors (which it must leave alone), with the PyTorch kernel
    the prompt forbids refused; then the same on inputs that require grad, whose gradients must be right."""
    refused = (f"`{name}` should compute attention itself; it called `F.scaled_dot_product_attention`, the "
               f"PyTorch kernel the checker compares it with. Use `@` and `softmax`.")
    inputs = Unchanged(**tensors)
    with refusing(torch.nn.functional, "scaled_dot_product_attention", refused):
        out = expect_tensor(function(*tensors.values(), *extra), f"`{name}` returned")
    inputs.expect(name)
    return out


def _check_gradients(function: Any, name: str, tensors: dict[str, torch.Tensor], *extra: Any,
                     mask: torch.Tensor | None = None) -> None:
    leaves = {key: value.clone().requires_grad_() for key, value in tensors.items() if key != "mask"}
    refused = f"`{name}` should compute attention itself, not call `F.scaled_dot_product_attention`."
    with refusing(torch.nn.functional, "scaled_dot_product_attention", refused):
        args = [leaves.get(key, value) for key, value in tensors.items()]
        out = call_for_gradients(function, f"The output of `{name}`", *args, *extra)
    expect_gradients(out, _reference(*leaves.values(), mask=mask), leaves, f"The output of `{name}`")


# ---------------------------------------------------------------------------------------------------------
# q1: scaled dot-product attention
# ---------------------------------------------------------------------------------------------------------

class ScaledDotProductAttention(Question):
    name = "q1"
    answer_name = "scaled_dot_product_attention"

    def _explain_error(self, error: Exception) -> str | None:
        return _explain_matmul_error(error)

    def _check(self, attention: Any) -> None:
        expect_callable(attention, self.answer_name)
        # (B, heads, T, D_h), (B, T, D_h) and (T, D_h); T != D_h, so returning A (T x T) and scaling by √T show up.
        for seed, shape in enumerate([(2, 3, 5, 8), (4, 7, 16), (6, 4)]):
            q, k, v = (randn(*shape, seed=3 * seed + i) for i in range(3))
            tensors = {"q": q, "k": k, "v": v}
            out = _run(attention, self.answer_name, tensors)
            _check_attention_shape(out, q, "`scaled_dot_product_attention`")
            scores = q @ k.transpose(-2, -1)
            expect_close(out, _reference(q, k, v),
                         mistakes=_attention_diagnoses(q, k, v, scores),
                         otherwise="Your output has the right shape, but not the values of softmax(q kᵀ / √D_h) v. "
                                   "Build it up one step at a time and check each step's shape.")
            _check_gradients(attention, self.answer_name, tensors)


def _check_attention_shape(out: torch.Tensor, q: torch.Tensor, name: str) -> None:
    tokens, d_h = q.shape[-2:]
    about = f"for q, k, v of shape {tuple(q.shape)}"
    if out.shape == q.shape:
        return
    if out.shape == (*q.shape[:-1], tokens):
        raise Wrong(f"{name} returned shape {tuple(out.shape)} {about}: (…, T, T). That's the attention "
                    f"weights A. Eq 7 goes one step further and uses them to average the values.")
    raise Wrong(f"{name} returned shape {tuple(out.shape)} {about}; the output has the shape of q, "
                f"(…, T, D_h) = {tuple(q.shape)}.")


q1 = ScaledDotProductAttention()


# ---------------------------------------------------------------------------------------------------------
# q2: attention with a mask
# ---------------------------------------------------------------------------------------------------------

def _test_mask(batch: int, tokens: int, seed: int) -> torch.Tensor:
    """A random boolean mask (batch, T, T): every row and column has a True (the diagonal) and every row a
    False, so that neither the mask nor its inverse nor its transpose masks out a whole row."""
    mask = torch.rand(batch, tokens, tokens, generator=torch.Generator().manual_seed(seed)) < 0.5
    index = torch.arange(tokens)
    mask[:, index, index] = True
    mask[:, index, (index + 1) % tokens] = False
    return mask


class MaskedAttention(Question):
    name = "q2"
    answer_name = "masked_attention"

    def _explain_error(self, error: Exception) -> str | None:
        return _explain_matmul_error(error)

    def _check(self, masked_attention: Any) -> None:
        expect_callable(masked_attention, self.answer_name)
        causal = torch.ones(6, 6, dtype=torch.bool).tril()  # a (T, T) mask broadcast over (B, heads)
        per_image = _test_mask(2, 5, seed=11)[:, None]  # a (B, 1, T, T) mask broadcast over the heads
        cases = [((2, 2, 6, 8), causal), ((3, 5, 4), _test_mask(3, 5, seed=7)), ((2, 3, 5, 4), per_image)]
        for seed, (shape, mask) in enumerate(cases):
            q, k, v = (randn(*shape, seed=10 + 3 * seed + i) for i in range(3))
            tensors = {"q": q, "k": k, "v": v, "mask": mask}
            out = _run(masked_attention, self.answer_name, tensors)
            _check_attention_shape(out, q, "`masked_attention`")
            reference = _reference(q, k, v, mask)
            scores = q @ k.transpose(-2, -1)
            scaled = scores / math.sqrt(q.shape[-1])
            inf = float("-inf")
            masked = scores.masked_fill(~mask, inf)
            expect_close(
                out, reference,
                nan=("A row of scores that is all -inf gives NaN after the softmax: that query may attend "
                     "to no key. Is your mask inverted? Here True means \"may attend\"."),
                mistakes=[
                    (_softmax_v(scaled.masked_fill(mask, inf), v),
                     "Your mask is inverted: you hid the keys where the mask is True. Here, as in "
                     "F.scaled_dot_product_attention, True means \"may attend\"."),
                    (_softmax_v(scaled.masked_fill(~mask, 0.0), v),
                     "You set the masked scores to 0, but exp(0) = 1, so the masked keys still get weight. "
                     "Give them a score whose exponential is 0."),
                    ((scaled.softmax(dim=-1) * mask) @ v,
                     "You zeroed the weights after the softmax, so each row of weights no longer sums to 1. "
                     "Mask the scores before the softmax instead."),
                    (_softmax_v(scaled.masked_fill(~mask.transpose(-2, -1), inf), v),
                     "Your mask is transposed: mask[..., i, j] says whether query i (a row of the scores) "
                     "may attend to key j (a column)."),
                    (_softmax_v(scaled, v),
                     "Your output equals attention with no mask at all: the mask must hide the keys where "
                     "it is False."),
                    *_attention_diagnoses(q, k, v, masked)[:1],  # the 1/√D_h scale, with the mask applied
                ],
                otherwise="Your output has the right shape, but not the values of masked attention. Compute "
                          "the scaled scores, hide the masked ones, then softmax and multiply by v.",
            )
            _check_gradients(masked_attention, self.answer_name, tensors, mask=mask)


q2 = MaskedAttention()


# ---------------------------------------------------------------------------------------------------------
# q3: split into heads
# ---------------------------------------------------------------------------------------------------------

class SplitHeads(Question):
    name = "q3"
    answer_name = "split_heads"

    def _check(self, split_heads: Any) -> None:
        expect_callable(split_heads, self.answer_name)
        for seed, (batch, tokens, dim, heads) in enumerate([(2, 5, 24, 3), (1, 3, 32, 4), (3, 4, 12, 6)]):
            x = randn(batch, tokens, dim, seed=seed)
            d_h = dim // heads
            inputs = Unchanged(x=x)
            out = expect_tensor(split_heads(x, heads), "`split_heads` returned")
            inputs.expect(self.answer_name)
            about = f"for x of shape {tuple(x.shape)} and num_heads={heads}"
            got, expected = tuple(out.shape), (batch, heads, tokens, d_h)
            if got == (batch, tokens, heads, d_h):
                raise Wrong(f"`split_heads` returned shape {got} {about}: (B, N, heads, D_h). The heads must "
                            f"come in front of the tokens, (B, heads, N, D_h), so that each head is its own "
                            f"sequence for the batched matrix product.")
            if got != expected:
                raise Wrong(f"`split_heads` returned shape {got} {about}; expected (B, heads, N, D_h) = "
                            f"{expected}, with D_h = D / num_heads. Use the `num_heads` argument, not a fixed "
                            f"number.")
            expect_close(
                out, x.reshape(batch, tokens, heads, d_h).transpose(1, 2),
                mistakes=[
                    (x.reshape(expected),
                     "You used reshape alone. It keeps the numbers in memory order, so a \"head\" gets a "
                     "jumble of several tokens' features. Split D into (heads, D_h) first, then move the "
                     "heads dimension in front of the tokens."),
                    (x.reshape(batch, tokens, d_h, heads).permute(0, 3, 1, 2),
                     "Your heads take every k-th feature: you split D as (D_h, heads). Head h should get the "
                     "consecutive block of features h·D_h … (h+1)·D_h − 1, so split D as (heads, D_h)."),
                ],
                otherwise="Your output has the right shape, but head h does not hold features h·D_h … "
                          "(h+1)·D_h − 1 of every token. Check with `out[0, 0, 0]` against `x[0, 0, :D_h]`.",
            )
            leaf = x.clone().requires_grad_()
            out = call_for_gradients(split_heads, "The output of `split_heads`", leaf, heads)
            expect_gradients(out, leaf.reshape(batch, tokens, heads, d_h).transpose(1, 2), {"x": leaf},
                             "The output of `split_heads`")


q3 = SplitHeads()


# ---------------------------------------------------------------------------------------------------------
# q4: parameters of the MSA block
# ---------------------------------------------------------------------------------------------------------

class MSABlockParams(NumberQuestion):
    name = "q4"
    answer_name = "msa_block_params"
    expected = 2_363_904
    diagnoses = {
        2_362_368: "That's the attention alone, with its biases. The block also has its LayerNorm, with "
                   "learnable parameters of its own.",
        2_359_296: "You counted the weight matrices. Each nn.Linear also has a bias, and the block has a "
                   "LayerNorm with learnable parameters.",
        2_360_832: "Each nn.Linear also has a bias: one per output feature.",
        2_363_136: "nn.LayerNorm has two learnable vectors of D: a scale and a shift.",
        1_771_776: "That's U_qkv (and its bias) only. The heads' outputs are concatenated and projected by "
                   "U_msa, another D × D matrix with a bias. And don't forget the LayerNorm.",
        1_773_312: "That's U_qkv and the LayerNorm. The heads' outputs are concatenated and projected by U_msa, "
                   "another D × D matrix with a bias.",
        196_992: "The heads share the D → 3D projection (each head uses D_h = D/k of its columns): don't "
                 "divide by the number of heads.",
        28_366_848: "The heads share the D → 3D projection (each head uses D_h = D/k of its columns): don't "
                    "multiply by the number of heads.",
        7_087_872: "That's a whole encoder block, with its MLP (lesson 04). The question asks for the MSA "
                   "block only.",
    }
    otherwise = ("List the block's layers (`print(vit.MultiheadSelfAttentionBlock())` shows them) and count "
                 "each one's weights and biases.")


q4 = MSABlockParams()
