"""Solutions of lesson 04's exercises: the code cells of notebooks/exercises/04_mlp_and_encoder_block_solutions.ipynb.

Each `# %%` line starts a cell: the imports, then one cell per exercise. Run top to bottom, this
file does what the solutions notebook does, without its check cells. The prompts and hints are in
text/lesson04.md; `python -m course_utils.exercises` builds the notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import math  # for a GELU by hand: x / 2 * (1 + torch.erf(x / math.sqrt(2)))

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import lesson04 as ex
from course_utils.vit import MLPBlock, TransformerEncoderBlock


# %% q1
def mlp_block(x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """MLP(LN(x)) of Eq 3 (no residual, no dropout), from the tensors of MLPBlock().state_dict()."""
    D = x.shape[-1]
    x = F.layer_norm(x, (D,), params["layer_norm.weight"], params["layer_norm.bias"], eps=1e-6)  # not 1e-5
    x = F.linear(x, params["mlp.0.weight"], params["mlp.0.bias"])  # x @ W1.T + b1: D -> MLP size
    x = F.gelu(x)  # the exact (erf) GELU
    return F.linear(x, params["mlp.3.weight"], params["mlp.3.bias"])  # back to D


# %% q2
def encoder_block(z: torch.Tensor, ln1: nn.Module, msa: nn.Module, ln2: nn.Module, mlp: nn.Module) -> torch.Tensor:
    """Eq 2 then Eq 3: one pre-norm encoder layer, (B, N, D) -> (B, N, D)."""
    z = msa(ln1(z)) + z  # Eq 2: z' = MSA(LN(z)) + z
    return mlp(ln2(z)) + z  # Eq 3: MLP(LN(z')) + z'


# %% q3
D, MLP_SIZE = 1024, 4096
vit_l_block_params = (
    2 * (D + D)  # two LayerNorms, each a scale and a shift
    + (D * 3 * D + 3 * D) + (D * D + D)  # U_qkv and U_msa, with their biases
    + (D * MLP_SIZE + MLP_SIZE) + (MLP_SIZE * D + D)  # the MLP's two layers
)  # = 12 D^2 + 13 D, since MLP_SIZE = 4 D


# %% q4
class PostNormBlock(TransformerEncoderBlock):
    """The same layers as TransformerEncoderBlock, arranged post-norm: LN(x + Sublayer(x))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.msa_block.layer_norm(x + self.msa_block.multihead_attn(x))  # LN after the residual add
        return self.mlp_block.layer_norm(x + self.mlp_block.mlp(x))


# %% q5
def vit_encoder_layer(embedding_dim: int, num_heads: int, mlp_size: int, dropout: float) -> nn.TransformerEncoderLayer:
    """ViT's encoder block (Eq 2 and 3) as PyTorch's nn.TransformerEncoderLayer."""
    layer = nn.TransformerEncoderLayer(
        d_model=embedding_dim,
        nhead=num_heads,
        dim_feedforward=mlp_size,  # the default is 2048
        dropout=dropout,
        activation="gelu",  # the default is ReLU
        layer_norm_eps=1e-6,  # the default is PyTorch's 1e-5
        batch_first=True,  # tokens come as (B, N, D); the default reads (N, B, D)
        norm_first=True,  # pre-norm, x + Sublayer(LN(x)); the default is post-norm
    )
    layer.self_attn.dropout = 0.0  # no dropout on the attention weights (Appendix B.1)
    return layer
