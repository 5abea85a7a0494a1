"""Answers to lesson 04's exercises that tests/test_exercises.py feeds to the checkers (see __init__.py)."""
# ruff: noqa: F401, F811

# %% imports
import math  # for a GELU by hand: x / 2 * (1 + torch.erf(x / math.sqrt(2)))

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import lesson04 as ex
from course_utils.vit import MLPBlock, TransformerEncoderBlock


# %% q1 wrong: ReLU
def mlp_block(x, params):
    x = F.layer_norm(x, x.shape[-1:], params["layer_norm.weight"], params["layer_norm.bias"], eps=1e-6)
    x = F.relu(F.linear(x, params["mlp.0.weight"], params["mlp.0.bias"]))  # ReLU
    return F.linear(x, params["mlp.3.weight"], params["mlp.3.bias"])


# %% q1 wrong: tanh approximation
def mlp_block(x, params):
    x = F.layer_norm(x, x.shape[-1:], params["layer_norm.weight"], params["layer_norm.bias"], eps=1e-6)
    x = F.gelu(F.linear(x, params["mlp.0.weight"], params["mlp.0.bias"]), approximate="tanh")
    return F.linear(x, params["mlp.3.weight"], params["mlp.3.bias"])


# %% q1 wrong: eps
def mlp_block(x, params):
    x = F.layer_norm(x, x.shape[-1:], params["layer_norm.weight"], params["layer_norm.bias"])  # eps 1e-5
    x = F.gelu(F.linear(x, params["mlp.0.weight"], params["mlp.0.bias"]))
    return F.linear(x, params["mlp.3.weight"], params["mlp.3.bias"])


# %% q1 wrong: without its LayerNorm
def mlp_block(x, params):
    x = F.gelu(F.linear(x, params["mlp.0.weight"], params["mlp.0.bias"]))  # no LayerNorm
    return F.linear(x, params["mlp.3.weight"], params["mlp.3.bias"])


# %% q1 wrong: scale and shift
def mlp_block(x, params):
    x = F.layer_norm(x, x.shape[-1:], eps=1e-6)  # gamma and beta left out
    x = F.gelu(F.linear(x, params["mlp.0.weight"], params["mlp.0.bias"]))
    return F.linear(x, params["mlp.3.weight"], params["mlp.3.bias"])


# %% q1 wrong: (out_features, in_features)
def mlp_block(x, params):
    x = F.layer_norm(x, x.shape[-1:], params["layer_norm.weight"], params["layer_norm.bias"], eps=1e-6)
    x = x @ params["mlp.0.weight"] + params["mlp.0.bias"]  # weight not transposed
    return F.gelu(x) @ params["mlp.3.weight"] + params["mlp.3.bias"]


# %% q2 wrong: post-norm
def encoder_block(z, ln1, msa, ln2, mlp):
    z = ln1(z + msa(z))  # post-norm: LayerNorm after the residual add
    return ln2(z + mlp(z))


# %% q2 wrong: residual
def encoder_block(z, ln1, msa, ln2, mlp):
    z = msa(ln1(z))  # no residual
    return mlp(ln2(z))


# %% q2 wrong: normalised
def encoder_block(z, ln1, msa, ln2, mlp):
    z = ln1(z)
    z = msa(z) + z  # the residual adds the normalised tokens
    z = ln2(z)
    return mlp(z) + z


# %% q2 wrong: z'
def encoder_block(z, ln1, msa, ln2, mlp):
    return z + msa(ln1(z)) + mlp(ln2(z))  # both sub-layers read z


# %% q3 wrong: weight matrices only
vit_l_block_params = 12 * 1024**2


# %% q3 wrong: two LayerNorms
vit_l_block_params = 12 * 1024**2 + 9 * 1024


# %% q3 wrong: ViT-Base
vit_l_block_params = 12 * 768**2 + 13 * 768


# %% q3 wrong: two layers
vit_l_block_params = 4 * 1024**2 + 6 * 1024 + 2 * 1024 + 1024 * 4096 + 4096


# %% q4 wrong: pre-norm
class PostNormBlock(TransformerEncoderBlock):
    def forward(self, x):
        x = self.msa_block(x) + x  # still pre-norm
        return self.mlp_block(x) + x


# %% q4 wrong: normalises the sum
class PostNormBlock(TransformerEncoderBlock):
    def forward(self, x):
        x = x + self.msa_block.layer_norm(self.msa_block.multihead_attn(x))  # normalises the branch only
        return x + self.mlp_block.layer_norm(self.mlp_block.mlp(x))


# %% q4 wrong: twice
class PostNormBlock(TransformerEncoderBlock):
    def forward(self, x):
        x = self.msa_block.layer_norm(x + self.msa_block(x))  # LN before the sub-layer too
        return self.mlp_block.layer_norm(x + self.mlp_block(x))


# %% q4 wrong: subclass of `TransformerEncoderBlock`
class PostNormBlock(nn.Module):
    def __init__(self, embedding_dim=768, num_heads=12, mlp_size=3072, mlp_dropout=0.1, attn_dropout=0.0):
        super().__init__()
        self.block = TransformerEncoderBlock(embedding_dim, num_heads, mlp_size, mlp_dropout, attn_dropout)

    def forward(self, x):
        return self.block(x)
