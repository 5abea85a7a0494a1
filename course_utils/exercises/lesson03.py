"""Exercises of lesson 03, Equation 2: multi-head self-attention (see ``course_utils.exercises``).

q1 scaled dot-product attention · q2 attention with a mask · q3 splitting into heads · q4 parameters of the
MSA block
"""

from __future__ import annotations

import math
from typing import Any

import torch

from course_utils.exercises import (
    Mistake,
    NumberQuestion,
    Question,
    Wrong,
    expect_callable,
    expect_close,
    expect_tensor,
    randn,
)

LESSON = "03_multihead_self_attention"
TITLE = "Equation 2, multi-head self-attention"
INTRO = """Four exercises on Appendix A's Eq 5–8 and the MSA block of Eq 2: attention from scratch, attention
with a mask, splitting the tokens into heads, and counting the block's parameters."""
SETUP = """\
import math

import torch
import torch.nn.functional as F

from course_utils import vit
from course_utils.exercises import lesson03 as ex
"""

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


# ---------------------------------------------------------------------------------------------------------
# q1: scaled dot-product attention
# ---------------------------------------------------------------------------------------------------------

class ScaledDotProductAttention(Question):
    name = "q1"
    title = "Scaled dot-product attention from scratch"
    answer_name = "scaled_dot_product_attention"
    prompt = """\
Write Eq 6–7, $\\mathrm{SA} = A\\mathbf{v}$ with $A = \\mathrm{softmax}(\\mathbf{q}\\mathbf{k}^\\top / \\sqrt{D_h})$,
as a function `scaled_dot_product_attention(q, k, v)`:

- `q`, `k`, `v` have shape $(\\dots, T, D_h)$: any number of leading dimensions (batch, heads), then $T$
  tokens of width $D_h$;
- it returns **one tensor**, the output $A\\mathbf{v}$, of shape $(\\dots, T, D_h)$.

Use `@` (or `torch.matmul`) and `softmax`; not `F.scaled_dot_product_attention`, which the checker uses as
the reference."""
    stub = '''\
def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Eq 6-7 over the last two dimensions: softmax(q k^T / sqrt(D_h)) v."""
    raise NotImplementedError  # replace this line with your code
'''
    _solution = '''\
def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Eq 6-7 over the last two dimensions: softmax(q k^T / sqrt(D_h)) v."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, T): every query against every key
    A = scores.softmax(dim=-1)  # each row (one query) sums to 1 over the keys
    return A @ v  # (..., T, D_h): a weighted average of the values
'''
    _hint = (
        "Three steps: the scores q kᵀ (transpose the last two dimensions of k), scaled by 1/√D_h; a softmax "
        "that makes each query's row of weights sum to 1; then the weighted sum of the values.",
        "D_h is the last dimension of q, `q.shape[-1]`. `k.transpose(-2, -1)` works for any number of "
        "leading dimensions.",
    )
    why = "This is the formula that F.scaled_dot_product_attention fuses into one fast kernel."
    mistakes = (
        Mistake('''
def scaled_dot_product_attention(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v  # no scale
''', expect="without the 1/√D_h scale"),
        Mistake('''
def scaled_dot_product_attention(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-2) @ v
''', expect="dim=-2"),
        Mistake('''
def scaled_dot_product_attention(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)  # A, not A v
''', expect="attention weights A"),
        Mistake('''
def scaled_dot_product_attention(q, k, v):
    A = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return A @ v, A  # as in the lesson, but the exercise asks for one tensor
''', expect="single tensor"),
        Mistake('''
def scaled_dot_product_attention(q, k, v):
    return torch.softmax(q @ k / math.sqrt(q.shape[-1]), dim=-1) @ v  # k not transposed
''', expect="transpose"),
    )

    def _explain_error(self, error: Exception) -> str | None:
        return _explain_matmul_error(error)

    def _check(self, attention: Any) -> None:
        expect_callable(attention, self.answer_name)
        # (B, heads, T, D_h) and (B, T, D_h); T != D_h, so returning A (T x T) and scaling by √T show up.
        for seed, shape in enumerate([(2, 3, 5, 8), (4, 7, 16)]):
            q, k, v = (randn(*shape, seed=3 * seed + i) for i in range(3))
            with torch.no_grad():
                out = expect_tensor(attention(q.clone(), k.clone(), v.clone()),
                                    "`scaled_dot_product_attention` returned")
            _check_attention_shape(out, q, "`scaled_dot_product_attention`")
            scores = q @ k.transpose(-2, -1)
            expect_close(out, torch.nn.functional.scaled_dot_product_attention(q, k, v),
                         mistakes=_attention_diagnoses(q, k, v, scores),
                         otherwise="Your output has the right shape, but not the values of softmax(q kᵀ / √D_h) v. "
                                   "Build it up one step at a time and check each step's shape.")


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
    title = "Attention with a mask"
    answer_name = "masked_attention"
    prompt = """\
The ViT's encoder lets every token attend to every token, but Transformers often need to hide some keys: a
language model must not look at future words, and padded tokens must be ignored. Write
`masked_attention(q, k, v, mask)`, scaled dot-product attention with a **boolean mask**:

- `mask[..., i, j]` is `True` where query $i$ **may** attend to key $j$ and `False` where it must not. It
  has shape $(T, T)$, or any shape that broadcasts to the scores $(\\dots, T, T)$.
- This is the convention of `attn_mask` in `F.scaled_dot_product_attention` (True = takes part in
  attention). Careful: `nn.MultiheadAttention` uses the opposite one (True = not allowed).
- A masked-out key must get a weight of exactly 0, and each query's weights must still sum to 1. Every query
  may attend to at least one key.

Write it with `@`, `masked_fill` and `softmax`; the checker compares it with `F.scaled_dot_product_attention`."""
    stub = '''\
def masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(D_h)) v, where query i attends to key j only where mask[..., i, j] is True."""
    raise NotImplementedError  # replace this line with your code
'''
    _solution = '''\
def masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(D_h)) v, where query i attends to key j only where mask[..., i, j] is True."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, T)
    scores = scores.masked_fill(~mask, float("-inf"))  # exp(-inf) = 0: no weight for masked keys
    return scores.softmax(dim=-1) @ v
'''
    _hint = (
        "Mask the scores before the softmax, not the weights after it: give the masked-out scores a value "
        "whose exponential is 0.",
        "`scores.masked_fill(~mask, float('-inf'))` sets the scores where the mask is False to -inf; the "
        "softmax then gives them a weight of 0 and renormalises the rest.",
    )
    why = ("Causal masks let a decoder learn to predict the next token; the ViT's encoder needs no mask: every "
           "patch sees every patch.")
    mistakes = (
        Mistake('''
def masked_attention(q, k, v, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.masked_fill(mask, float("-inf")).softmax(dim=-1) @ v  # True masks out: inverted
''', expect="inverted"),
        Mistake('''
def masked_attention(q, k, v, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.masked_fill(~mask, 0.0).softmax(dim=-1) @ v  # 0 is not "no weight"
''', expect="exp(0) = 1"),
        Mistake('''
def masked_attention(q, k, v, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return (scores.softmax(dim=-1) * mask) @ v  # masked after the softmax
''', expect="no longer sums to 1"),
        Mistake('''
def masked_attention(q, k, v, mask):
    scores = q @ k.transpose(-2, -1)  # no scale
    return scores.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v
''', expect="1/√D_h"),
    )

    def _explain_error(self, error: Exception) -> str | None:
        return _explain_matmul_error(error)

    def _check(self, masked_attention: Any) -> None:
        expect_callable(masked_attention, self.answer_name)
        causal = torch.ones(6, 6, dtype=torch.bool).tril()  # a (T, T) mask broadcast over (B, heads)
        cases = [((2, 2, 6, 8), causal), ((3, 5, 4), _test_mask(3, 5, seed=7))]  # and a (B, T, T) one
        for seed, (shape, mask) in enumerate(cases):
            q, k, v = (randn(*shape, seed=10 + 3 * seed + i) for i in range(3))
            with torch.no_grad():
                out = expect_tensor(masked_attention(q.clone(), k.clone(), v.clone(), mask.clone()),
                                    "`masked_attention` returned")
            _check_attention_shape(out, q, "`masked_attention`")
            reference = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
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


q2 = MaskedAttention()


# ---------------------------------------------------------------------------------------------------------
# q3: split into heads
# ---------------------------------------------------------------------------------------------------------

class SplitHeads(Question):
    name = "q3"
    title = "Split the tokens into heads"
    answer_name = "split_heads"
    prompt = """\
Multi-head attention runs $k$ heads of width $D_h = D/k$ side by side. Head $h$ owns the $D_h$ consecutive
features $h D_h, \\dots, (h + 1) D_h - 1$ of every token (the order in which Eq 8's concatenation
$[\\mathrm{SA}_1; \\dots; \\mathrm{SA}_k]$ glues them back). Write `split_heads(x, num_heads)`, which turns
$(B, N, D)$ into $(B, k, N, D_h)$, so that `[:, h]` is head $h$'s own sequence of $N$ tokens and one batched
`@` runs every head at once (as the lesson did for q, k and v)."""
    stub = '''\
def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, N, D) -> (B, heads, N, D_h): head h gets features h*D_h ... (h+1)*D_h - 1 of every token."""
    raise NotImplementedError  # replace this line with your code
'''
    _solution = '''\
def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, N, D) -> (B, heads, N, D_h): head h gets features h*D_h ... (h+1)*D_h - 1 of every token."""
    B, N, D = x.shape
    x = x.reshape(B, N, num_heads, D // num_heads)  # split D into (heads, D_h): contiguous blocks
    return x.transpose(1, 2)  # (B, heads, N, D_h): move the heads in front of the tokens
'''
    _hint = (
        "Two steps: first split the last dimension D into (heads, D_h), then move the heads dimension in "
        "front of the tokens.",
        "`reshape(B, N, num_heads, D_h)` then `transpose(1, 2)`. A single reshape to (B, heads, N, D_h) "
        "cannot do it: reshape never changes the order of the numbers in memory.",
    )
    why = "Merging the heads after attention is the reverse: transpose(1, 2), then reshape to (B, N, D)."
    mistakes = (
        Mistake('''
def split_heads(x, num_heads):
    B, N, D = x.shape
    return x.reshape(B, num_heads, N, D // num_heads)  # reshape only
''', expect="reshape alone"),
        Mistake('''
def split_heads(x, num_heads):
    B, N, D = x.shape
    return x.reshape(B, N, D // num_heads, num_heads).permute(0, 3, 1, 2)  # D split as (D_h, heads)
''', expect="(D_h, heads)"),
        Mistake('''
def split_heads(x, num_heads):
    B, N, D = x.shape
    return x.reshape(B, N, num_heads, D // num_heads)  # heads not moved
''', expect="in front of the tokens"),
        Mistake('''
def split_heads(x, num_heads):
    B, N, D = x.shape
    return x.reshape(B, N, 12, D // 12).transpose(1, 2)  # 12 heads, whatever num_heads says
''', expect="num_heads"),
    )

    def _check(self, split_heads: Any) -> None:
        expect_callable(split_heads, self.answer_name)
        for seed, (batch, tokens, dim, heads) in enumerate([(2, 5, 24, 3), (1, 3, 32, 4)]):
            x = randn(batch, tokens, dim, seed=seed)
            d_h = dim // heads
            with torch.no_grad():
                out = expect_tensor(split_heads(x.clone(), heads), "`split_heads` returned")
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


q3 = SplitHeads()


# ---------------------------------------------------------------------------------------------------------
# q4: parameters of the MSA block
# ---------------------------------------------------------------------------------------------------------

class MSABlockParams(NumberQuestion):
    name = "q4"
    title = "Parameters of the MSA block"
    answer_name = "msa_block_params"
    prompt = """\
How many learnable parameters does one `MultiheadSelfAttentionBlock` of ViT-B have, $D = 768$ and 12 heads?
That is Eq 2's $\\mathrm{MSA}(\\mathrm{LN}(\\cdot))$: the LayerNorm, $\\mathbf{U}_{qkv}$ (`qkv`, an
`nn.Linear(D, 3D)`) and $\\mathbf{U}_{msa}$ (`proj`, an `nn.Linear(D, D)`), with their biases.

Work it out by hand (a Python expression is fine) and store it in `msa_block_params`. You can verify it
afterwards with `sum(p.numel() for p in vit.MultiheadSelfAttentionBlock(768, 12).parameters())`."""
    stub = "msa_block_params = ...  # a number\n"
    _solution = '''\
D = 768
msa_block_params = (
    2 * D  # LayerNorm: a scale and a shift of D each
    + D * 3 * D + 3 * D  # U_qkv: D -> 3D, plus its bias
    + D * D + D  # U_msa: D -> D, plus its bias
)  # = 4D^2 + 6D, whatever the number of heads
'''
    _hint = ("List the layers: a LayerNorm over D features, a Linear D → 3D, a Linear D → D. Count each "
             "one's weights and biases. Does the number of heads change anything?")
    why = ("The count does not depend on the number of heads: with D_h = D/k, splitting into heads only "
           "re-slices the same matrices.")
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
    mistakes = (
        Mistake("msa_block_params = 4 * 768**2 + 4 * 768", expect="LayerNorm"),
        Mistake("msa_block_params = 4 * 768**2", expect="bias"),
        Mistake("msa_block_params = 12 * (4 * 768**2 + 6 * 768)", expect="number of heads"),
    )


q4 = MSABlockParams()
