"""Answers to lesson 03's exercises that tests/test_exercises.py feeds to the checkers (see __init__.py)."""
# ruff: noqa: F401, F811

# %% imports
import math

import torch
import torch.nn.functional as F

from course_utils import vit
from course_utils.exercises import lesson03 as ex


# %% q1 wrong: without the 1/√D_h scale
def scaled_dot_product_attention(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v  # no scale


# %% q1 wrong: dim=-2
def scaled_dot_product_attention(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-2) @ v


# %% q1 wrong: attention weights A
def scaled_dot_product_attention(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)  # A, not A v


# %% q1 wrong: single tensor
def scaled_dot_product_attention(q, k, v):
    A = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    return A @ v, A  # as in the lesson, but the exercise asks for one tensor


# %% q1 wrong: transpose
def scaled_dot_product_attention(q, k, v):
    return torch.softmax(q @ k / math.sqrt(q.shape[-1]), dim=-1) @ v  # k not transposed


# %% q2 wrong: inverted
def masked_attention(q, k, v, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.masked_fill(mask, float("-inf")).softmax(dim=-1) @ v  # True masks out: inverted


# %% q2 wrong: exp(0) = 1
def masked_attention(q, k, v, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.masked_fill(~mask, 0.0).softmax(dim=-1) @ v  # 0 is not "no weight"


# %% q2 wrong: no longer sums to 1
def masked_attention(q, k, v, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return (scores.softmax(dim=-1) * mask) @ v  # masked after the softmax


# %% q2 wrong: 1/√D_h
def masked_attention(q, k, v, mask):
    scores = q @ k.transpose(-2, -1)  # no scale
    return scores.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v


# %% q3 wrong: reshape alone
def split_heads(x, num_heads):
    B, N, D = x.shape
    return x.reshape(B, num_heads, N, D // num_heads)  # reshape only


# %% q3 wrong: (D_h, heads)
def split_heads(x, num_heads):
    B, N, D = x.shape
    return x.reshape(B, N, D // num_heads, num_heads).permute(0, 3, 1, 2)  # D split as (D_h, heads)


# %% q3 wrong: in front of the tokens
def split_heads(x, num_heads):
    B, N, D = x.shape
    return x.reshape(B, N, num_heads, D // num_heads)  # heads not moved


# %% q3 wrong: num_heads
def split_heads(x, num_heads):
    B, N, D = x.shape
    return x.reshape(B, N, 12, D // 12).transpose(1, 2)  # 12 heads, whatever num_heads says


# %% q4 wrong: LayerNorm
msa_block_params = 4 * 768**2 + 4 * 768


# %% q4 wrong: bias
msa_block_params = 4 * 768**2


# %% q4 wrong: number of heads
msa_block_params = 12 * (4 * 768**2 + 6 * 768)


# %% q1 wrong: changed `q` in place
def scaled_dot_product_attention(q, k, v):
    q /= math.sqrt(q.shape[-1])  # scales the caller's queries
    return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v


# %% q1 wrong: carries no gradient
def scaled_dot_product_attention(q, k, v):
    with torch.no_grad():  # "attention is just a lookup"
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        return torch.softmax(scores, dim=-1) @ v


# %% q1 wrong: No gradient reaches `k`
def scaled_dot_product_attention(q, k, v):
    scores = q @ k.detach().transpose(-2, -1) / math.sqrt(q.shape[-1])  # the keys detached
    return torch.softmax(scores, dim=-1) @ v


# %% q1 wrong: called `F.scaled_dot_product_attention`
def scaled_dot_product_attention(q, k, v):
    return F.scaled_dot_product_attention(q, k, v)


# %% q1 wrong: Your code raised
def scaled_dot_product_attention(q, k, v):
    scores = q @ k.transpose(2, 3) / math.sqrt(q.shape[3])  # (B, heads, T, D_h) only
    return torch.softmax(scores, dim=-1) @ v


# %% q1 right: einsum, and the scale applied to q first
def scaled_dot_product_attention(q, k, v):
    q = q * q.shape[-1] ** -0.5
    weights = torch.einsum("...id,...jd->...ij", q, k).softmax(dim=-1)
    return torch.einsum("...ij,...jd->...id", weights, v)


# %% q1 right: torch.matmul, k.mT and F.softmax
def scaled_dot_product_attention(q, k, v):
    return torch.matmul(F.softmax(torch.matmul(q, k.mT) / math.sqrt(k.size(-1)), dim=-1), v)


# %% q2 wrong: changed `mask` in place
def masked_attention(q, k, v, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.masked_fill(mask.logical_not_(), float("-inf")).softmax(dim=-1) @ v  # flips the caller's mask


# %% q2 wrong: No gradient reaches `q`
def masked_attention(q, k, v, mask):
    scores = q.detach() @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v


# %% q2 wrong: `masked_attention` returned shape (1, 1, 3, 5, 4)
def masked_attention(q, k, v, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.masked_fill(~mask[None, None], float("-inf")).softmax(dim=-1) @ v  # a (T, T) mask only


# %% q2 right: a large negative score instead of -inf
def masked_attention(q, k, v, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return torch.softmax(scores.masked_fill(mask == 0, -1e9), dim=-1) @ v


# %% q2 right: torch.where
def masked_attention(q, k, v, mask):
    scores = torch.where(mask, q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), float("-inf"))
    return scores.softmax(dim=-1) @ v


# %% q3 wrong: changed `x` in place
def split_heads(x, num_heads):
    B, N, D = x.shape
    heads = x.view(B, N, num_heads, D // num_heads).transpose(1, 2)
    x.mul_(1 / num_heads)  # "averages" the heads in the caller's tensor
    return heads * num_heads


# %% q3 right: unflatten and permute
def split_heads(x, num_heads):
    return x.unflatten(-1, (num_heads, -1)).permute(0, 2, 1, 3)
