"""Train a ViT without computing what Eq 4 never reads: the last block's outputs for the patch tokens.

Eq 4 classifies from z_L^0, the class token after the last block, and nothing else. In the last block a token's
output depends on every token's keys and values but only on its own query, and the MLP works on each token
alone; so the class token's output needs keys and values of all N + 1 tokens, and a query, an attention row, a
projection and an MLP for the class token only. ``ClassTokenLastBlock`` runs the model that way: the same
parameters, the same logits (to float rounding) and the same gradients, for fewer FLOPs: 16.1% fewer for the
training script's nano ViT on its 2 x 2 grid (the last of its 4 blocks, but for the keys and values; 18.5% on a
3 x 3 grid, where the class token is a smaller share of the tokens), 13.8% for the pico (6 blocks, 65 tokens).
The training script and the experiments' runner train plain ViTs through it (``course_utils.train``,
``course_utils.experiments.runner``); the lessons keep the readable ``vit.ViT``, which is also what saving,
loading, hooks and attention maps see. ``tests/test_last_block.py`` checks the logits and gradients against it.
"""

from __future__ import annotations

import torch
from torch import nn

from course_utils.vit import TransformerEncoderBlock, ViT


def class_token_through(block: TransformerEncoderBlock, z: torch.Tensor) -> torch.Tensor:
    """The class token's output of encoder ``block`` (Eq 2 and 3) for its input ``z``.

    Shapes: z (B, N + 1, D), class token first -> (B, 1, D): ``block(z)[:, :1]``, without the other tokens' rows.
    """
    attention = block.msa_block.multihead_attn
    batch, tokens, dim = z.shape
    heads, head_dim = attention.num_heads, attention.head_dim
    normed = block.msa_block.layer_norm(z)
    weight, bias = attention.qkv.weight, attention.qkv.bias  # rows: q, then k, then v (U_qkv)
    q = nn.functional.linear(normed[:, :1], weight[:dim], bias[:dim])  # the class token's query alone: (B, 1, D)
    kv = nn.functional.linear(normed, weight[dim:], bias[dim:])  # every token's key and value: (B, N + 1, 2D)
    q = q.reshape(batch, 1, heads, head_dim).transpose(1, 2)  # (B, heads, 1, D_h)
    k, v = kv.reshape(batch, tokens, 2, heads, head_dim).permute(2, 0, 3, 1, 4).unbind(0)  # (B, heads, N + 1, D_h)
    out = attention.attend(q, k, v).transpose(1, 2).reshape(batch, 1, dim)
    z0 = attention.proj_dropout(attention.proj(out)) + z[:, :1]  # Eq 2 for the class token
    return block.mlp_block(z0) + z0  # Eq 3


def fits(model: nn.Module) -> bool:
    """Whether ``ClassTokenLastBlock`` can run ``model``: exactly a ``vit.ViT``. A subclass may embed, attend or pool
    otherwise (lesson 10's variants pool the patch tokens or add relative positions in attention), and then the class
    token's row is not what it reads."""
    return type(model) is ViT


class ClassTokenLastBlock(nn.Module):
    """``model`` (a ``vit.ViT``, shared, not copied) with its last encoder block computing the class token only.

    With a block keeping its attention weights (``ViT.attention_maps``) it runs ``model`` as it is. With dropout
    the outputs are the same in distribution, not number for number: fewer random draws are made.

    Shapes: (B, C, H, W) images -> (B, num_classes) logits, as ``model``.
    """

    def __init__(self, model: ViT) -> None:
        super().__init__()
        if not fits(model):
            raise TypeError(f"ClassTokenLastBlock needs a course_utils.vit.ViT (not a subclass), got "
                            f"{type(model).__name__}")
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *first, last = self.model.transformer_encoder
        if last.msa_block.multihead_attn.keep_attention:
            return self.model(x)
        z = self.model.embed(x)
        for block in first:
            z = block(z)
        return self.model.classifier(class_token_through(last, z)[:, 0])
