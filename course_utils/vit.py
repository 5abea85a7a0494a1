"""The Vision Transformer of Dosovitskiy et al. (arXiv 2010.11929), written to read like the paper.

Each class is one piece of the paper's Figure 1 and equations 1-4:

    Eq 1  z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos        -> PatchEmbedding + class/position embedding
    Eq 2  z'_l = MSA(LN(z_{l-1})) + z_{l-1}                       -> MultiheadSelfAttentionBlock (+ residual)
    Eq 3  z_l = MLP(LN(z'_l)) + z'_l                              -> MLPBlock (+ residual)
    Eq 4  y = LN(z_L^0)                                           -> ViT.classifier

The argument names are the course's (``embedding_dim``, ``mlp_size``, ``num_transformer_layers``...). The
numerics follow torchvision and timm exactly (LayerNorm eps 1e-6, exact GELU, q/k/v packed in that order),
so their weights load into this model and give the same logits (see ``course_utils.convert``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

LAYER_NORM_EPS = 1e-6  # torchvision and timm use 1e-6, not PyTorch's default 1e-5.
HEAD = "classifier.1"  # the state-dict prefix of the head Linear, ViT.classifier[1] (D -> num_classes)


class PatchEmbedding(nn.Module):
    """Eq 1's x_p E: cut an image into P x P patches and project each one to a D-dim vector.

    A Conv2d with kernel = stride = P is exactly a Linear layer applied to every flattened patch
    (lesson 02 proves it), and it is the fast way to compute it.

    Args:
        in_channels: colour channels C of the input image.
        patch_size: side P of each square patch.
        embedding_dim: D, the width of every token.

    Shapes: (B, C, H, W) -> (B, N, D) with N = H*W / P^2.
    """

    def __init__(self, in_channels: int = 3, patch_size: int = 16, embedding_dim: int = 768) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.patch_size = patch_size
        self.patcher = nn.Conv2d(in_channels, embedding_dim, kernel_size=patch_size, stride=patch_size)
        self.flatten = nn.Flatten(start_dim=2, end_dim=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"PatchEmbedding expects a batch of images (B, C, H, W), got shape {tuple(x.shape)}")
        _, channels, height, width = x.shape
        if channels != self.in_channels:
            raise ValueError(f"PatchEmbedding expects {self.in_channels} channels, got {channels} "
                             f"(input shape {tuple(x.shape)}); convert greyscale/RGBA images to RGB.")
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(f"image size {height}x{width} is not divisible by patch_size={self.patch_size}")
        x = self.patcher(x)  # (B, D, H/P, W/P): one D-dim vector per patch
        return self.flatten(x).transpose(1, 2)  # (B, N, D): a sequence of N patch tokens


def attention_weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Appendix A, Eq 6: A = softmax(q k^T / sqrt(D_h)), written out, with the softmax taken in fp32.

    Shapes: q, k (B, heads, N, D_h) -> A (B, heads, N, N), in q's dtype.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, heads, N, N)
    return scores.float().softmax(dim=-1).to(q.dtype)  # softmax in fp32: bf16 scores are coarse


INIT_STD = 0.02  # the truncated normal of timm's and the paper's code for Linear weights and position embeddings

# Heads of at most this many dimensions are written out on the CPU in fp32 too. None are: at every head size the
# course uses, the fused kernel measured faster, forward and backward (benchmarks/attention_kernels.py, 2-core AVX2).
WRITTEN_OUT_MAX_HEAD_DIM = 0


def writes_attention_out(q: torch.Tensor) -> bool:
    """Whether ``MultiheadSelfAttention`` writes softmax(q k^T / sqrt(D_h)) v out rather than calling the fused
    kernel for queries ``q`` (B, heads, N, D_h): on the CPU under bf16, or with heads of at most
    ``WRITTEN_OUT_MAX_HEAD_DIM`` dimensions. Both compute the same formula (tests/test_vit.py)."""
    return q.device.type == "cpu" and (q.dtype == torch.bfloat16 or q.shape[-1] <= WRITTEN_OUT_MAX_HEAD_DIM)


class MultiheadSelfAttention(nn.Module):
    """Appendix A, Eq 5-8: [q, k, v] = z U_qkv; A = softmax(q k^T / sqrt(D_h)); MSA(z) = [A_1 v_1; ...] U_msa.

    q, k and v come out of one packed Linear (``qkv``), in that order, as in torchvision's
    ``in_proj_weight`` and timm's ``attn.qkv``. The softmax(q k^T / sqrt(D_h)) v product runs through
    ``F.scaled_dot_product_attention``, PyTorch's fused kernel for exactly that formula, or written out
    (``attention_weights``, then ``@ v``) where that is faster (``writes_attention_out``).

    Shapes: (B, N, D) -> (B, N, D).
    """

    def __init__(self, embedding_dim: int = 768, num_heads: int = 12, attn_dropout: float = 0.0,
                 proj_dropout: float = 0.0) -> None:
        super().__init__()
        if embedding_dim % num_heads:
            raise ValueError(f"embedding_dim={embedding_dim} must be divisible by num_heads={num_heads} "
                             f"(each head gets embedding_dim / num_heads dimensions)")
        self.num_heads = num_heads
        self.head_dim = embedding_dim // num_heads  # D_h in the paper
        self.attn_dropout = attn_dropout
        self.qkv = nn.Linear(embedding_dim, 3 * embedding_dim)  # U_qkv
        self.proj = nn.Linear(embedding_dim, embedding_dim)  # U_msa
        self.proj_dropout = nn.Dropout(proj_dropout)
        self.keep_attention = False  # set True to keep the attention weights A in `last_attention`
        self.last_attention: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        # (B, N, 3D) -> (3, B, heads, N, D_h): split into q, k, v, then into heads.
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = self.attend(q, k, v).transpose(1, 2).reshape(batch, tokens, dim)  # concatenate the heads: (B, N, D)
        return self.proj_dropout(self.proj(x))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """softmax(q k^T / sqrt(D_h)) v, with dropout on the weights in training, per head.

        Shapes: q (B, heads, M, D_h), k and v (B, heads, N, D_h) -> (B, heads, M, D_h).
        """
        if self.keep_attention or writes_attention_out(q):
            attention = attention_weights(q, k)
            if self.keep_attention:
                self.last_attention = attention.detach()
            return F.dropout(attention, self.attn_dropout, self.training) @ v
        return F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_dropout if self.training else 0.0)


class MultiheadSelfAttentionBlock(nn.Module):
    """Eq 2 without its residual: MSA(LN(z)). The residual ``+ z`` is added in TransformerEncoderBlock.

    Shapes: (B, N, D) -> (B, N, D).
    """

    def __init__(self, embedding_dim: int = 768, num_heads: int = 12, attn_dropout: float = 0.0,
                 proj_dropout: float = 0.0) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(embedding_dim, eps=LAYER_NORM_EPS)
        self.multihead_attn = MultiheadSelfAttention(embedding_dim, num_heads, attn_dropout, proj_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.multihead_attn(self.layer_norm(x))


class MLPBlock(nn.Module):
    """Eq 3 without its residual: MLP(LN(z)), where the MLP is Linear -> GELU -> Linear ("two layers with a
    GELU non-linearity"), with dropout after each dense layer as in the paper's Appendix B.1.

    Shapes: (B, N, D) -> (B, N, D).
    """

    def __init__(self, embedding_dim: int = 768, mlp_size: int = 3072, dropout: float = 0.1) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(embedding_dim, eps=LAYER_NORM_EPS)
        self.mlp = nn.Sequential(
            nn.Linear(embedding_dim, mlp_size),
            nn.GELU(),  # exact (erf) GELU, as in the reference implementations
            nn.Dropout(dropout),
            nn.Linear(mlp_size, embedding_dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.layer_norm(x))


class TransformerEncoderBlock(nn.Module):
    """One layer of the encoder: Eq 2 then Eq 3, each a pre-norm sub-block wrapped in a residual connection.

    Shapes: (B, N, D) -> (B, N, D).
    """

    def __init__(self, embedding_dim: int = 768, num_heads: int = 12, mlp_size: int = 3072,
                 mlp_dropout: float = 0.1, attn_dropout: float = 0.0) -> None:
        super().__init__()
        self.msa_block = MultiheadSelfAttentionBlock(embedding_dim, num_heads, attn_dropout,
                                                     proj_dropout=mlp_dropout)
        self.mlp_block = MLPBlock(embedding_dim, mlp_size, mlp_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.msa_block(x) + x  # Eq 2
        x = self.mlp_block(x) + x  # Eq 3
        return x


class ViT(nn.Module):
    """The Vision Transformer (paper Figure 1, Eq 1-4), with the course's argument names.

    Args:
        img_size: side of the (square) input image in pixels.
        in_channels: colour channels of the input.
        patch_size: side P of each patch; img_size must be divisible by it.
        num_transformer_layers: L, the number of encoder blocks (Table 1 "Layers").
        embedding_dim: D, the token width (Table 1 "Hidden size D").
        mlp_size: hidden width of each MLP block (Table 1 "MLP size").
        num_heads: attention heads per block (Table 1 "Heads").
        attn_dropout: dropout on the attention weights (0 in the paper).
        mlp_dropout: the paper's dropout after every dense layer except qkv.
        embedding_dropout: the paper's dropout right after the position embedding is added.
        num_classes: K, outputs of the classification head.

    Shapes: (B, C, img_size, img_size) -> (B, num_classes) logits.
    """

    def __init__(self, img_size: int = 224, in_channels: int = 3, patch_size: int = 16,
                 num_transformer_layers: int = 12, embedding_dim: int = 768, mlp_size: int = 3072,
                 num_heads: int = 12, attn_dropout: float = 0.0, mlp_dropout: float = 0.1,
                 embedding_dropout: float = 0.1, num_classes: int = 1000) -> None:
        super().__init__()
        if img_size % patch_size:
            raise ValueError(f"img_size={img_size} must be divisible by patch_size={patch_size}")
        if embedding_dim % num_heads:
            raise ValueError(f"embedding_dim={embedding_dim} must be divisible by num_heads={num_heads}")
        self.config = dict(img_size=img_size, in_channels=in_channels, patch_size=patch_size,
                           num_transformer_layers=num_transformer_layers, embedding_dim=embedding_dim,
                           mlp_size=mlp_size, num_heads=num_heads, attn_dropout=attn_dropout,
                           mlp_dropout=mlp_dropout, embedding_dropout=embedding_dropout,
                           num_classes=num_classes)
        self.img_size = img_size
        self.patch_size = patch_size
        self.num_patches = (img_size // patch_size) ** 2  # N = HW / P^2

        self.patch_embedding = PatchEmbedding(in_channels, patch_size, embedding_dim)
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, embedding_dim))  # x_class, learnable
        self.position_embedding = nn.Parameter(torch.zeros(1, self.num_patches + 1, embedding_dim))  # E_pos
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.transformer_encoder = nn.Sequential(*[
            TransformerEncoderBlock(embedding_dim, num_heads, mlp_size, mlp_dropout, attn_dropout)
            for _ in range(num_transformer_layers)
        ])
        self.classifier = nn.Sequential(
            nn.LayerNorm(embedding_dim, eps=LAYER_NORM_EPS),  # Eq 4's LN
            nn.Linear(embedding_dim, num_classes),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise as timm does: truncated normal (std ``INIT_STD``) for Linear weights and embeddings."""
        nn.init.trunc_normal_(self.position_embedding, std=INIT_STD)
        nn.init.normal_(self.class_embedding, std=1e-6)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=INIT_STD)
                nn.init.zeros_(module.bias)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Eq 1: image (B, C, H, W) -> z_0 (B, N + 1, D), class token first, position embedding added."""
        if x.ndim == 4 and x.shape[-2:] != (self.img_size, self.img_size):
            raise ValueError(
                f"ViT was built for {self.img_size}x{self.img_size} images but got "
                f"{x.shape[-2]}x{x.shape[-1]}; resize the input (e.g. transforms.Resize({self.img_size})) "
                f"or interpolate the position embedding (ViT.resize_position_embedding).")
        x = self.patch_embedding(x)  # (B, N, D)
        class_token = self.class_embedding.expand(x.shape[0], -1, -1)  # (B, 1, D)
        x = torch.cat((class_token, x), dim=1)  # prepend *before* adding E_pos: (B, N + 1, D)
        return self.embedding_dropout(x + self.position_embedding)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Eq 1-3: image (B, C, H, W) -> z_L (B, N + 1, D), before the final LayerNorm."""
        return self.transformer_encoder(self.embed(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x)[:, 0])  # Eq 4: y = LN(z_L^0), then the head

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The attention weights A of every layer, in eval mode: a list of L tensors (B, heads, N+1, N+1)."""
        attentions = [block.msa_block.multihead_attn for block in self.transformer_encoder]
        was_training = self.training
        self.eval()  # no dropout: the maps of the model as it predicts
        for attn in attentions:
            attn.keep_attention = True
        try:
            self(x)
            return [attn.last_attention for attn in attentions]
        finally:
            self.train(was_training)
            for attn in attentions:
                attn.keep_attention, attn.last_attention = False, None

    def resize_position_embedding(self, img_size: int) -> None:
        """Adapt the model to a new image size in place by 2D interpolation of E_pos (paper §3.2)."""
        new = interpolate_position_embedding(self.position_embedding.data, img_size // self.patch_size)
        self.position_embedding = nn.Parameter(new)
        self.img_size = img_size
        self.num_patches = (img_size // self.patch_size) ** 2
        self.config["img_size"] = img_size

    @classmethod
    def from_torchvision(cls, model_or_state_dict: Any, **overrides: Any) -> ViT:
        """An equivalent ViT from a torchvision VisionTransformer (or its state dict)."""
        from course_utils.convert import vit_from_torchvision

        return vit_from_torchvision(model_or_state_dict, **overrides)

    @classmethod
    def from_timm(cls, model_or_state_dict: Any, **overrides: Any) -> ViT:
        """An equivalent ViT from a timm VisionTransformer (or its state dict)."""
        from course_utils.convert import vit_from_timm

        return vit_from_timm(model_or_state_dict, **overrides)


def interpolate_position_embedding(position_embedding: torch.Tensor, new_grid: int) -> torch.Tensor:
    """Resize E_pos (1, 1 + g*g, D) to (1, 1 + new_grid**2, D) by 2D bicubic interpolation (paper §3.2).

    The class token's embedding is kept as it is; the g x g grid of patch embeddings is treated as an image
    and resized. The paper asks for "2D interpolation of the pre-trained position embeddings" but does not say
    which kind. The authors' JAX code (``vit_jax/checkpoint.py``) uses linear ``scipy.ndimage.zoom(order=1)``,
    timm's ``resample_abs_pos_embed`` bicubic with ``antialias=True``; this imitates torchvision's
    ``interpolate_embeddings`` (bicubic, ``align_corners=True``).
    """
    class_pos, patch_pos = position_embedding[:, :1], position_embedding[:, 1:]
    old_grid = math.isqrt(patch_pos.shape[1])
    if old_grid * old_grid != patch_pos.shape[1]:
        raise ValueError(f"position embedding has {patch_pos.shape[1]} patch tokens, not a square grid")
    if new_grid == old_grid:
        return position_embedding.clone()
    dim = patch_pos.shape[-1]
    grid = patch_pos.reshape(1, old_grid, old_grid, dim).permute(0, 3, 1, 2)  # (1, D, g, g)
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bicubic", align_corners=True)
    patch_pos = grid.permute(0, 2, 3, 1).reshape(1, new_grid * new_grid, dim)
    return torch.cat([class_pos, patch_pos], dim=1)


# Table 1 of the paper, plus the Ti and S widths of DeiT/timm (head width 64), and three small models of our
# own: nano, the default of the training script (on 24 px shapes in a 2 x 2 grid of patches it learns them in
# about 1.0 TFLOP, about a minute on a laptop CPU in fp32), micro, the model of the shapes checkpoint (lesson 07),
# and pico, the model of the dots checkpoint (64 px, an 8x8 grid of patches: lesson 08 and the experiments).
MODEL_CONFIGS: dict[str, dict[str, int]] = {
    "pico": dict(num_transformer_layers=6, embedding_dim=64, mlp_size=256, num_heads=4),
    "nano": dict(num_transformer_layers=4, embedding_dim=128, mlp_size=512, num_heads=4),
    "micro": dict(num_transformer_layers=6, embedding_dim=192, mlp_size=768, num_heads=3),
    "ti": dict(num_transformer_layers=12, embedding_dim=192, mlp_size=768, num_heads=3),
    "s": dict(num_transformer_layers=12, embedding_dim=384, mlp_size=1536, num_heads=6),
    "b": dict(num_transformer_layers=12, embedding_dim=768, mlp_size=3072, num_heads=12),
    "l": dict(num_transformer_layers=24, embedding_dim=1024, mlp_size=4096, num_heads=16),
    "h": dict(num_transformer_layers=32, embedding_dim=1280, mlp_size=5120, num_heads=16),
}


def create_vit(size: str, patch_size: int, **kwargs: Any) -> ViT:
    """A ViT of a named size ("pico", "nano", "micro", "ti", "s", "b", "l", "h") and patch size; kwargs go to ViT."""
    if size not in MODEL_CONFIGS:
        raise ValueError(f"unknown model size {size!r}; choose one of {sorted(MODEL_CONFIGS)}")
    return ViT(patch_size=patch_size, **{**MODEL_CONFIGS[size], **kwargs})


def vit_ti_16(**kwargs: Any) -> ViT:
    """ViT-Ti/16 (DeiT-tiny width): D=192, 12 layers, 3 heads."""
    return create_vit("ti", 16, **kwargs)


def vit_s_16(**kwargs: Any) -> ViT:
    """ViT-S/16 (DeiT-small width): D=384, 12 layers, 6 heads."""
    return create_vit("s", 16, **kwargs)


def vit_b_16(**kwargs: Any) -> ViT:
    """ViT-B/16 (Table 1 "ViT-Base", patch 16): 86,567,656 parameters with 1000 classes."""
    return create_vit("b", 16, **kwargs)


def vit_b_32(**kwargs: Any) -> ViT:
    """ViT-B/32 (Table 1 "ViT-Base", patch 32): 88,224,232 parameters with 1000 classes."""
    return create_vit("b", 32, **kwargs)


def vit_l_16(**kwargs: Any) -> ViT:
    """ViT-L/16 (Table 1 "ViT-Large", patch 16): 304,326,632 parameters with 1000 classes."""
    return create_vit("l", 16, **kwargs)


def vit_h_14(**kwargs: Any) -> ViT:
    """ViT-H/14 (Table 1 "ViT-Huge", patch 14): 632,045,800 parameters with 1000 classes at 224 px."""
    return create_vit("h", 14, **kwargs)
