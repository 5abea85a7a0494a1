"""Solutions of lesson 02's exercises: the code cells of notebooks/exercises/02_patch_embedding_solutions.ipynb.

Each `# %%` line starts a cell: the imports, then one cell per exercise. Run top to bottom, this
file does what the solutions notebook does, without its check cells. The prompts and hints are in
text/lesson02.md; `python -m course_utils.exercises` builds the notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import torch
from torch import nn

from course_utils.exercises import lesson02 as ex
from course_utils.vit import PatchEmbedding


# %% q1
def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> x_p of shape (B, N, P*P*C): patches row by row, each flattened in (P, P, C) order."""
    B, C, H, W = images.shape
    P = patch_size
    patches = images.unfold(2, P, P).unfold(3, P, P)  # (B, C, H/P, W/P, P, P): the grid of patches
    patches = patches.permute(0, 2, 3, 4, 5, 1)  # (B, H/P, W/P, P, P, C): channels last
    return patches.reshape(B, (H // P) * (W // P), P * P * C)  # (B, N, P^2 * C), row by row


# %% q2
num_tokens = (384 // 16) ** 2 + 1  # N = HW / P^2 = 24 * 24 = 576 patches, plus the class token


# %% q3
patch_embedding_params = (16 * 16 * 3) * 768 + 768  # E: (P^2 * C) x D weights, plus one bias per output


# %% q4
class Eq1Embedding(nn.Module):
    """Eq 1: images (B, C, H, W) -> z_0 = [x_class; x_p E] + E_pos, shape (B, N + 1, D)."""

    def __init__(self, img_size: int = 224, in_channels: int = 3, patch_size: int = 16,
                 embedding_dim: int = 768) -> None:
        super().__init__()
        num_patches = (img_size // patch_size) ** 2  # N = HW / P^2
        self.patch_embedding = PatchEmbedding(in_channels, patch_size, embedding_dim)  # x_p E
        self.class_embedding = nn.Parameter(torch.randn(1, 1, embedding_dim) * 0.02)  # x_class
        self.position_embedding = nn.Parameter(torch.randn(1, num_patches + 1, embedding_dim) * 0.02)  # E_pos

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embedding(images)  # (B, N, D)
        class_token = self.class_embedding.expand(images.shape[0], -1, -1)  # (B, 1, D), one per image
        tokens = torch.cat([class_token, patches], dim=1)  # prepend the class token: (B, N + 1, D)
        return tokens + self.position_embedding  # then add E_pos to every token, the class token's too
