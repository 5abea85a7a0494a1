"""The position embeddings of the paper's Appendix D.4 (Table 8), and a ViT that takes any of them.

Appendix D.4 compares four ways of telling the encoder where each patch is (quoted from it); we add a fifth.

- ``none``: "Providing no positional information: Considering the inputs as a bag of patches."
- ``learned_1d``: "1-dimensional positional embedding: Considering the inputs as a sequence of
  patches in the raster order (default across all other experiments in this paper)." The course's ViT.
- ``learned_2d``: "2-dimensional positional embedding: Considering the inputs as a grid of
  patches in two dimensions. In this case, two sets of embeddings are learned, each for one of the axes,
  X-embedding, and Y-embedding, each with size D/2. Then, based on the coordinate on the path in the input,
  we concatenate the X and Y embedding to get the final positional embedding for that patch."
- ``relative``: "Relative positional embeddings: Considering the relative distance between patches to encode
  the spatial information as instead of their absolute position. To do so, we use 1-dimensional Relative
  Attention, in which we define the relative distance all possible pairs of patches. Thus, for every given
  pair (one as query, and the other as key/value in the attention mechanism), we have an offset p_q - p_k,
  where each offset is associated with an embedding. Then, we simply run extra attention, where we use the
  original query (the content of query), but use relative positional embeddings as keys. We then use the
  logits from the relative attention as a bias term and add it to the logits of the main attention
  (content-based attention) before applying the softmax."
- ``sincos_2d``: not in the paper: fixed 2-D sine-cosine embeddings (as in MAE and the later "simple ViT"
  baselines), the sinusoids of "Attention is all you need" over the row and the column, D/2 dimensions each.

By default the paper adds them once, to the inputs right after the stem and before the Transformer encoder
(D.4 also tried adding them at every layer), which is what ``VariantViT`` does; ``relative`` adds nothing to the input and
changes the attention of every layer instead (``RelativeMultiheadSelfAttention``).

``VariantViT`` is the course's ``ViT`` with two switches: the position embedding (above) and the pooling,
the class token (``cls``, Eq 4) or global average pooling of the patch tokens (``gap``, Appendix D.3 and
Figure 9). With ``learned_1d`` and ``cls`` it computes exactly what ``ViT`` computes (a test proves it).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.vit import INIT_STD, MultiheadSelfAttention, ViT

POSITIONS = ("none", "learned_1d", "learned_2d", "relative", "sincos_2d")
POOLINGS = ("cls", "gap")


class NoPositionEmbedding(nn.Module):
    """``none`` (and the input side of ``relative``): the tokens as they are, a bag of patches.

    Shapes: (B, T, D) -> (B, T, D).
    """

    def __init__(self, num_tokens: int, embedding_dim: int) -> None:
        super().__init__()
        self.num_tokens, self.embedding_dim = num_tokens, embedding_dim

    def table(self) -> torch.Tensor:
        """The embedding added to the tokens: zeros (1, T, D)."""
        return torch.zeros(1, self.num_tokens, self.embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class LearnedPositionEmbedding1D(nn.Module):
    """``learned_1d``: one learned D-dim vector per token in raster order (class token first if there is one),
    initialised as the course's ViT initialises its E_pos (truncated normal, std 0.02).

    Args:
        num_tokens: T, the patches plus the class token if the model has one.
        embedding_dim: D.

    Shapes: (B, T, D) -> (B, T, D).
    """

    def __init__(self, num_tokens: int, embedding_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Parameter(torch.zeros(1, num_tokens, embedding_dim))
        nn.init.trunc_normal_(self.embedding, std=INIT_STD)

    def table(self) -> torch.Tensor:
        """The embedding added to the tokens: (1, T, D)."""
        return self.embedding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.embedding


class LearnedPositionEmbedding2D(nn.Module):
    """``learned_2d``: an X-embedding and a Y-embedding of D/2 each; the patch in row r, column c gets the
    concatenation [X_c; Y_r]. A class token, if there is one, gets nothing (it is learned itself, so a
    learned offset would add nothing).

    Args:
        grid: patches per side (the token grid is grid x grid, in raster order).
        embedding_dim: D, even.
        class_token: whether the first token is a class token.

    Shapes: (B, T, D) -> (B, T, D) with T = grid**2 (+ 1 with a class token).
    """

    def __init__(self, grid: int, embedding_dim: int, class_token: bool = True) -> None:
        super().__init__()
        if embedding_dim % 2:
            raise ValueError(f"2-D embeddings need an even embedding_dim, got {embedding_dim}")
        self.grid, self.class_token = grid, class_token
        self.x_embedding = nn.Parameter(torch.zeros(grid, embedding_dim // 2))  # one per column
        self.y_embedding = nn.Parameter(torch.zeros(grid, embedding_dim // 2))  # one per row
        nn.init.trunc_normal_(self.x_embedding, std=INIT_STD)
        nn.init.trunc_normal_(self.y_embedding, std=INIT_STD)

    def table(self) -> torch.Tensor:
        """The embedding added to the tokens: (1, T, D), zeros for the class token."""
        g = self.grid
        x = self.x_embedding[None, :, :].expand(g, g, -1)  # [row, column] -> X_column
        y = self.y_embedding[:, None, :].expand(g, g, -1)  # [row, column] -> Y_row
        patches = torch.cat([x, y], dim=-1).reshape(1, g * g, -1)  # raster order: row by row
        if self.class_token:
            patches = torch.cat([patches.new_zeros(1, 1, patches.shape[-1]), patches], dim=1)
        return patches

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table()


def sincos_table(grid: int, embedding_dim: int, temperature: float = 10_000.0) -> torch.Tensor:
    """Fixed 2-D sine-cosine embeddings (grid * grid, D) in raster order: the first D/2 dimensions encode the
    column, the last D/2 the row, each as [sin(p w_1), ..., sin(p w_k), cos(p w_1), ..., cos(p w_k)] with
    k = D/4 frequencies w_i = temperature^(-i/k)."""
    if embedding_dim % 4:
        raise ValueError(f"2-D sine-cosine embeddings need embedding_dim divisible by 4, got {embedding_dim}")
    k = embedding_dim // 4
    omega = temperature ** -(torch.arange(k, dtype=torch.float64) / k)  # (k,)
    position = torch.arange(grid, dtype=torch.float64)
    angles = position[:, None] * omega[None, :]  # (grid, k)
    one_axis = torch.cat([angles.sin(), angles.cos()], dim=1)  # (grid, D/2)
    x = one_axis[None, :, :].expand(grid, grid, -1)  # [row, column] -> column's code
    y = one_axis[:, None, :].expand(grid, grid, -1)  # [row, column] -> row's code
    return torch.cat([x, y], dim=-1).reshape(grid * grid, embedding_dim).float()


class SinCosPositionEmbedding2D(nn.Module):
    """``sincos_2d``: the fixed table of ``sincos_table`` (a buffer, not a parameter: nothing is learned and
    nothing is saved). A class token, if there is one, gets zeros.

    Shapes: (B, T, D) -> (B, T, D) with T = grid**2 (+ 1 with a class token).
    """

    def __init__(self, grid: int, embedding_dim: int, class_token: bool = True) -> None:
        super().__init__()
        table = sincos_table(grid, embedding_dim)
        if class_token:
            table = torch.cat([table.new_zeros(1, embedding_dim), table])
        self.register_buffer("embedding", table[None], persistent=False)

    def table(self) -> torch.Tensor:
        """The embedding added to the tokens: (1, T, D)."""
        return self.embedding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.embedding


class RelativeMultiheadSelfAttention(MultiheadSelfAttention):
    """``relative``: the course's multi-head self-attention plus the paper's 1-D relative attention (D.4).

    Token i (the query) and token j (the key) have the offset i - j in the sequence (class token first,
    then the patches in raster order), one of 2T - 1 offsets. Each head learns a key vector of D_h for every
    offset, ``relative_keys`` (heads, 2T - 1, D_h). The "extra attention" scores the query against the key of
    its offset, q_i . r_(i-j) / sqrt(D_h), and that is added to the content logits q_i . k_j / sqrt(D_h)
    before the softmax. The table is per layer; its init is the ViT's for embeddings (std 0.02).

    Args:
        num_tokens: T, the length of the sequence the attention sees.
        embedding_dim: D, as in ``MultiheadSelfAttention``.
        num_heads: as in ``MultiheadSelfAttention``.
        attn_dropout: as in ``MultiheadSelfAttention``.
        proj_dropout: as in ``MultiheadSelfAttention``.

    Shapes: (B, T, D) -> (B, T, D).
    """

    def __init__(self, num_tokens: int, embedding_dim: int = 768, num_heads: int = 12, attn_dropout: float = 0.0,
                 proj_dropout: float = 0.0) -> None:
        super().__init__(embedding_dim, num_heads, attn_dropout, proj_dropout)
        self.num_tokens = num_tokens
        self.relative_keys = nn.Parameter(torch.zeros(num_heads, 2 * num_tokens - 1, self.head_dim))
        nn.init.trunc_normal_(self.relative_keys, std=INIT_STD)
        position = torch.arange(num_tokens)
        # offset p_q - p_k, shifted to 0 .. 2T - 2 to index relative_keys: (T, T)
        self.register_buffer("relative_index", position[:, None] - position[None, :] + num_tokens - 1,
                             persistent=False)

    def relative_logits(self, q: torch.Tensor) -> torch.Tensor:
        """The relative attention's logits, the bias: q (B, heads, T, D_h) -> (B, heads, T, T), whose entry
        (i, j) is q_i . relative_keys[i - j] / sqrt(D_h)."""
        batch, heads, tokens, head_dim = q.shape
        if tokens != self.num_tokens:
            raise ValueError(f"relative attention was built for {self.num_tokens} tokens, got {tokens}")
        every_offset = q @ self.relative_keys.transpose(-2, -1)  # (B, heads, T, 2T - 1): one matmul
        index = self.relative_index.expand(batch, heads, tokens, tokens)
        return every_offset.gather(-1, index) / math.sqrt(head_dim)  # pick each pair's offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        # Written out (not the fused kernel) so that the bias gets its gradient on every device and the FLOP
        # counter sees every matmul.
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim) + self.relative_logits(q)
        attention = scores.float().softmax(dim=-1).to(q.dtype)
        if self.keep_attention:
            self.last_attention = attention.detach()
        x = F.dropout(attention, self.attn_dropout, self.training) @ v
        x = x.transpose(1, 2).reshape(batch, tokens, dim)
        return self.proj_dropout(self.proj(x))


def position_embedding(kind: str, grid: int, embedding_dim: int, class_token: bool = True) -> nn.Module:
    """The input-side module of position embedding ``kind`` (one of ``POSITIONS``) for a grid x grid token
    grid, with or without a class token in front (``relative`` adds nothing at the input)."""
    num_tokens = grid * grid + int(class_token)
    if kind in ("none", "relative"):
        return NoPositionEmbedding(num_tokens, embedding_dim)
    if kind == "learned_1d":
        return LearnedPositionEmbedding1D(num_tokens, embedding_dim)
    if kind == "learned_2d":
        return LearnedPositionEmbedding2D(grid, embedding_dim, class_token)
    if kind == "sincos_2d":
        return SinCosPositionEmbedding2D(grid, embedding_dim, class_token)
    raise ValueError(f"unknown position embedding {kind!r}; choose one of {', '.join(POSITIONS)}")


class VariantViT(ViT):
    """The course's ``ViT`` with a choice of position embedding and of pooling (the ablations of lesson 10).

    Args:
        position: one of ``POSITIONS`` (see the module docstring).
        pooling: ``cls``, the class token's final state (Eq 4), or ``gap``: no class token; the head reads the
            mean of the patch tokens after the final LayerNorm (as the paper's code does for its GAP models).
        **vit_kwargs: ``ViT``'s arguments (``img_size``, ``patch_size``, ``embedding_dim``, ...).

    The position embedding lives in ``self.position`` (a module, see ``position_embedding``); ``ViT``'s
    ``position_embedding`` parameter is removed, and with ``gap`` so is ``class_embedding``.

    Shapes: (B, C, img_size, img_size) -> (B, num_classes) logits.
    """

    def __init__(self, position: str = "learned_1d", pooling: str = "cls", **vit_kwargs: Any) -> None:
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
        super().__init__(**vit_kwargs)
        self.position_kind, self.pooling = position, pooling
        grid, dim = self.img_size // self.patch_size, self.config["embedding_dim"]
        del self.position_embedding
        if pooling == "gap":
            del self.class_embedding
        self.position = position_embedding(position, grid, dim, class_token=pooling == "cls")
        if position == "relative":
            num_tokens = grid * grid + int(pooling == "cls")
            for block in self.transformer_encoder:
                old = block.msa_block.multihead_attn
                new = RelativeMultiheadSelfAttention(num_tokens, dim, old.num_heads, old.attn_dropout,
                                                     old.proj_dropout.p)
                new.load_state_dict(old.state_dict(), strict=False)  # keep the ViT's init of qkv and proj
                block.msa_block.multihead_attn = new

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters that, like the ViT's E_pos and class token, get no weight decay."""
        return {name for name, _ in self.named_parameters()
                if name.startswith("position.") or name.endswith("relative_keys") or name == "class_embedding"}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Eq 1 with this model's choices: image (B, C, H, W) -> z_0 (B, T, D), T = N (+ 1 with ``cls``)."""
        if x.ndim == 4 and x.shape[-2:] != (self.img_size, self.img_size):
            raise ValueError(f"VariantViT was built for {self.img_size}x{self.img_size} images but got "
                             f"{x.shape[-2]}x{x.shape[-1]}")
        x = self.patch_embedding(x)  # (B, N, D)
        if self.pooling == "cls":
            x = torch.cat((self.class_embedding.expand(x.shape[0], -1, -1), x), dim=1)  # (B, N + 1, D)
        return self.embedding_dropout(self.position(x))

    def pool(self, z: torch.Tensor) -> torch.Tensor:
        """The head's input from z_L (B, T, D): LN of the class token's state, or the mean of LN(patch tokens)."""
        norm = self.classifier[0]
        if self.pooling == "gap":
            return norm(z).mean(dim=1)  # no class token: every token is a patch
        return norm(z[:, 0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier[1](self.pool(self.forward_features(x)))

    def resize_position_embedding(self, img_size: int) -> None:
        """Not supported for the variants (only the plain ViT's 1-D table is interpolated)."""
        raise NotImplementedError("VariantViT does not resize its position embedding; use ViT for §3.2")
