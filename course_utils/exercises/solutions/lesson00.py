"""Solutions of lesson 00's exercises: the code cells of notebooks/exercises/00_the_paper_solutions.ipynb.

Each `# %%` line starts a cell: the imports, then one cell per exercise. Run top to bottom, this
file does what the solutions notebook does, without its check cells. The prompts and hints are in
text/lesson00.md; `python -m course_utils.exercises` builds the notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import torch

from course_utils import vit
from course_utils.exercises import lesson00 as ex


# %% q1
def count_parameters(D: int, M: int, L: int, P: int = 16, img_size: int = 224, C: int = 3, K: int = 1000) -> int:
    N = (img_size // P) ** 2  # 196 patches
    block = 2 * D + (3 * D * D + 3 * D) + (D * D + D) + 2 * D + (D * M + M) + (M * D + D)  # LN, qkv, U_msa, LN, MLP
    return (P * P * C * D + D) + D + (N + 1) * D + L * block + 2 * D + (D * K + K)  # E, x_class, E_pos, ..., head


vit_params = {
    "ViT-Ti/16": count_parameters(D=192, M=768, L=12),
    "ViT-S/16": count_parameters(D=384, M=1536, L=12),
}


# %% q2
D = 768
tokens_224 = (224 // 16) ** 2 + 1  # 197 rows of E_pos at 224 px
tokens_384 = (384 // 16) ** 2 + 1  # 577 rows at 384 px: a 24 x 24 grid of patches, plus the class token
vit_b16_384_params = 86_567_656 + (tokens_384 - tokens_224) * D  # only E_pos grows; every weight matrix stays


# %% q3
D, K = 768, 21_843
pretraining_head_params = (D * D + D) + (D * K + K)  # hidden Linear(D, D) and output Linear(D, K), biases included


# %% q4
B, C, H, W = 8, 3, 224, 224  # a batch of 8 RGB images of 224 x 224 pixels
P, D, L, M, heads, K = 32, 768, 12, 3072, 12, 1000  # ViT-B/32 with ImageNet's 1000 classes

N = (H // P) * (W // P)  # a 7 x 7 grid: 49 patches
shapes = {
    "images": (B, C, H, W),  # given
    "x_p": (B, N, P * P * C),  # Eq 1: N flattened patches of P^2 * C numbers (3072 here, as many as M!)
    "patch_embeddings": (B, N, D),  # x_p E: each patch projected to D numbers
    "z_0": (B, N + 1, D),  # the class token prepended, E_pos added
    "attention": (B, heads, N + 1, N + 1),  # A: every token against every token, in each head
    "mlp_hidden": (B, N + 1, M),  # the MLP's hidden layer, M = 4D wide, for every token
    "z_L": (B, N + 1, D),  # the L blocks keep the shape of z_0
    "y": (B, D),  # Eq 4: LN of token 0
    "logits": (B, K),  # the head: one score per class
}
