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


# %% q1 wrong: changed `x` in place
def mlp_block(x, params):
    x -= x.mean(dim=-1, keepdim=True)  # centre the tokens (of the caller!) before the LayerNorm
    x = F.layer_norm(x, x.shape[-1:], params["layer_norm.weight"], params["layer_norm.bias"], eps=1e-6)
    x = F.gelu(F.linear(x, params["mlp.0.weight"], params["mlp.0.bias"]))
    return F.linear(x, params["mlp.3.weight"], params["mlp.3.bias"])


# %% q1 wrong: No gradient reaches `params['layer_norm.weight']`
def mlp_block(x, params):
    gamma, beta = params["layer_norm.weight"].detach(), params["layer_norm.bias"].detach()  # frozen by mistake
    x = F.layer_norm(x, x.shape[-1:], gamma, beta, eps=1e-6)
    x = F.gelu(F.linear(x, params["mlp.0.weight"], params["mlp.0.bias"]))
    return F.linear(x, params["mlp.3.weight"], params["mlp.3.bias"])


# %% q1 right: LayerNorm and GELU written out by hand
def mlp_block(x, params):
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    x = (x - mean) / torch.sqrt(var + 1e-6) * params["layer_norm.weight"] + params["layer_norm.bias"]
    h = x @ params["mlp.0.weight"].T + params["mlp.0.bias"]
    h = h / 2 * (1 + torch.erf(h / math.sqrt(2)))
    return h @ params["mlp.3.weight"].T + params["mlp.3.bias"]


# %% q2 wrong: changed `z` in place
def encoder_block(z, ln1, msa, ln2, mlp):
    z += msa(ln1(z))  # Eq 2, written into the caller's tokens
    return z + mlp(ln2(z))


# %% q2 wrong: adds randomness (a dropout?)
def encoder_block(z, ln1, msa, ln2, mlp):
    z = F.dropout(msa(ln1(z)), 0.1) + z  # one more dropout, on in training and at inference alike
    return mlp(ln2(z)) + z


# %% q2 wrong: changed `msa`: it switched `msa` to eval mode
def encoder_block(z, ln1, msa, ln2, mlp):
    msa.eval()  # "no dropout in attention"
    z = msa(ln1(z)) + z
    return mlp(ln2(z)) + z


# %% q2 wrong: carries no gradient
def encoder_block(z, ln1, msa, ln2, mlp):
    with torch.no_grad():
        z = msa(ln1(z)) + z
        return mlp(ln2(z)) + z


# %% q2 right: the residual first, in one expression each
def encoder_block(z, ln1, msa, ln2, mlp):
    z_prime = z + msa(ln1(z))
    return z_prime + mlp(ln2(z_prime))


# %% q4 wrong: a LayerNorm hides a factor
class PostNormBlock(TransformerEncoderBlock):
    def forward(self, x):
        x = self.msa_block.layer_norm(x + self.msa_block.multihead_attn(x))
        return self.mlp_block.layer_norm(2 * (x + self.mlp_block.mlp(x)))  # doubled, then normalised


# %% q4 wrong: not in training mode with the same random
class PostNormBlock(TransformerEncoderBlock):
    def forward(self, x):
        x = self.msa_block.layer_norm(x + self.msa_block.multihead_attn(x))
        x = F.dropout(x, 0.1, self.training)  # dropout after the LayerNorm: not where the paper puts it
        return self.mlp_block.layer_norm(x + self.mlp_block.mlp(x))


# %% q4 wrong: changed `x` in place
class PostNormBlock(TransformerEncoderBlock):
    def forward(self, x):
        x += self.msa_block.multihead_attn(x)  # the residual add, in place
        x = self.msa_block.layer_norm(x)
        return self.mlp_block.layer_norm(x + self.mlp_block.mlp(x))


# %% q4 right: the sub-layers' outputs named first
class PostNormBlock(TransformerEncoderBlock):
    def forward(self, x):
        attended = self.msa_block.multihead_attn(x)
        x = self.msa_block.layer_norm(attended + x)
        transformed = self.mlp_block.mlp(x)
        return self.mlp_block.layer_norm(transformed + x)


# %% q5 wrong: (N, B, D), sequence first
def vit_encoder_layer(embedding_dim, num_heads, mlp_size, dropout):
    layer = nn.TransformerEncoderLayer(embedding_dim, num_heads, mlp_size, dropout, activation="gelu",
                                       layer_norm_eps=1e-6, norm_first=True)
    layer.self_attn.dropout = 0.0
    return layer


# %% q5 wrong: Your layer is post-norm
def vit_encoder_layer(embedding_dim, num_heads, mlp_size, dropout):
    layer = nn.TransformerEncoderLayer(embedding_dim, num_heads, mlp_size, dropout, activation="gelu",
                                       layer_norm_eps=1e-6, batch_first=True)
    layer.self_attn.dropout = 0.0
    return layer


# %% q5 wrong: also drops attention weights
def vit_encoder_layer(embedding_dim, num_heads, mlp_size, dropout):
    return nn.TransformerEncoderLayer(embedding_dim, num_heads, mlp_size, dropout, activation="gelu",
                                      layer_norm_eps=1e-6, batch_first=True, norm_first=True)


# %% q5 wrong: the `dropout` argument was 0.2
def vit_encoder_layer(embedding_dim, num_heads, mlp_size, dropout):
    return nn.TransformerEncoderLayer(embedding_dim, num_heads, mlp_size, dropout=0.0, activation="gelu",
                                      layer_norm_eps=1e-6, batch_first=True, norm_first=True)


# %% q5 wrong: uses ReLU
def vit_encoder_layer(embedding_dim, num_heads, mlp_size, dropout):
    layer = nn.TransformerEncoderLayer(embedding_dim, num_heads, mlp_size, dropout, layer_norm_eps=1e-6,
                                       batch_first=True, norm_first=True)
    layer.self_attn.dropout = 0.0
    return layer


# %% q5 wrong: eps = 1e-5
def vit_encoder_layer(embedding_dim, num_heads, mlp_size, dropout):
    layer = nn.TransformerEncoderLayer(embedding_dim, num_heads, mlp_size, dropout, activation="gelu",
                                       batch_first=True, norm_first=True)
    layer.self_attn.dropout = 0.0
    return layer


# %% q5 wrong: defaults to 2048
def vit_encoder_layer(embedding_dim, num_heads, mlp_size, dropout):
    layer = nn.TransformerEncoderLayer(embedding_dim, num_heads, dropout=dropout, activation="gelu",
                                       layer_norm_eps=1e-6, batch_first=True, norm_first=True)
    layer.self_attn.dropout = 0.0
    return layer


# %% q5 wrong: not a module around it
class ViTLayer(nn.Module):
    def __init__(self, embedding_dim, num_heads, mlp_size, dropout):
        super().__init__()
        self.block = TransformerEncoderBlock(embedding_dim, num_heads, mlp_size, dropout)

    def forward(self, x):
        return self.block(x)


def vit_encoder_layer(embedding_dim, num_heads, mlp_size, dropout):
    return ViTLayer(embedding_dim, num_heads, mlp_size, dropout)


# %% q5 right: the activation as a function, the attention's dropout set through its module
def vit_encoder_layer(embedding_dim, num_heads, mlp_size, dropout):
    layer = nn.TransformerEncoderLayer(d_model=embedding_dim, nhead=num_heads, dim_feedforward=mlp_size,
                                       dropout=dropout, activation=F.gelu, layer_norm_eps=1e-6,
                                       batch_first=True, norm_first=True)
    for module in layer.modules():
        if isinstance(module, nn.MultiheadAttention):
            module.dropout = 0.0
    return layer


# %% q5 wrong: re-seeds torch's global random number generator
def vit_encoder_layer(embedding_dim, num_heads, mlp_size, dropout):
    torch.manual_seed(0)  # "the same initial weights every time"
    layer = nn.TransformerEncoderLayer(embedding_dim, num_heads, mlp_size, dropout, activation="gelu",
                                       layer_norm_eps=1e-6, batch_first=True, norm_first=True)
    layer.self_attn.dropout = 0.0
    return layer


# %% q5 wrong: eps = 1e-12
def vit_encoder_layer(embedding_dim, num_heads, mlp_size, dropout):
    layer = nn.TransformerEncoderLayer(embedding_dim, num_heads, mlp_size, dropout, activation="gelu",
                                       layer_norm_eps=1e-12, batch_first=True, norm_first=True)  # BERT's eps
    layer.self_attn.dropout = 0.0
    return layer


# %% q5 wrong: does not compute ViT's block
def vit_encoder_layer(embedding_dim, num_heads, mlp_size, dropout):
    layer = nn.TransformerEncoderLayer(embedding_dim, num_heads, mlp_size, dropout,
                                       activation=nn.GELU(approximate="tanh"),  # GPT-2's GELU, not ViT's
                                       layer_norm_eps=1e-6, batch_first=True, norm_first=True)
    layer.self_attn.dropout = 0.0
    return layer


# %% q5 right: built inside a forked RNG with a seed of its own, which leaves the caller's RNG as it was
def vit_encoder_layer(embedding_dim, num_heads, mlp_size, dropout):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        layer = nn.TransformerEncoderLayer(embedding_dim, num_heads, mlp_size, dropout, "gelu", 1e-6,
                                           batch_first=True, norm_first=True)
    layer.self_attn.dropout = 0
    return layer
