"""Answers to lesson 00's exercises that tests/test_exercises.py feeds to the checkers (see __init__.py)."""
# ruff: noqa: F401, F811

# %% imports
import torch

from course_utils import vit
from course_utils.exercises import lesson00 as ex


# %% q1 wrong: one D-vector short
def count(D, M, L):
    block = 4 * D + 4 * D * D + 4 * D + 2 * D * M + M + D
    return 16 * 16 * 3 * D + D + D + 196 * D + L * block + 2 * D + D * 1000 + 1000  # E_pos: no class-token row

vit_params = {"ViT-Ti/16": count(192, 768, 12), "ViT-S/16": count(384, 1536, 12)}


# %% q1 wrong: bias too, one per class
def count(D, M, L):
    block = 4 * D + 4 * D * D + 4 * D + 2 * D * M + M + D
    return 16 * 16 * 3 * D + D + D + 197 * D + L * block + 2 * D + D * 1000  # a head without a bias

vit_params = {"ViT-Ti/16": count(192, 768, 12), "ViT-S/16": count(384, 1536, 12)}


# %% q1 wrong: three times
def count(D, M, L):
    block = 4 * D + (D * D + D) + (D * D + D) + 2 * D * M + M + D  # q, k and v counted as one D x D matrix
    return 16 * 16 * 3 * D + D + D + 197 * D + L * block + 2 * D + D * 1000 + 1000

vit_params = {"ViT-Ti/16": count(192, 768, 12), "ViT-S/16": count(384, 1536, 12)}


# %% q2 wrong: at 224 px
vit_b16_384_params = 86_567_656


# %% q2 wrong: alone
vit_b16_384_params = ((384 // 16) ** 2 + 1) * 768


# %% q2 wrong: kept the old one
vit_b16_384_params = 86_567_656 + ((384 // 16) ** 2 + 1) * 768


# %% q3 wrong: with biases
pretraining_head_params = 768 * 768 + 768 * 21_843


# %% q3 wrong: single linear layer
pretraining_head_params = 768 * 21_843 + 21_843


# %% q3 wrong: 21,843
pretraining_head_params = (768 * 768 + 768) + (768 * 1000 + 1000)


# %% q4 wrong: after the projection
B, C, H, W = 8, 3, 224, 224
P, D, L, M, heads, K = 32, 768, 12, 3072, 12, 1000
N = (H // P) * (W // P)
shapes = {"images": (B, C, H, W), "x_p": (B, N, D), "patch_embeddings": (B, N, D), "z_0": (B, N + 1, D),
          "attention": (B, heads, N + 1, N + 1), "mlp_hidden": (B, N + 1, M), "z_L": (B, N + 1, D), "y": (B, D),
          "logits": (B, K)}


# %% q4 wrong: prepends x_class
B, C, H, W = 8, 3, 224, 224
P, D, L, M, heads, K = 32, 768, 12, 3072, 12, 1000
N = (H // P) * (W // P)
shapes = {"images": (B, C, H, W), "x_p": (B, N, P * P * C), "patch_embeddings": (B, N, D), "z_0": (B, N, D),
          "attention": (B, heads, N, N), "mlp_hidden": (B, N, M), "z_L": (B, N, D), "y": (B, D), "logits": (B, K)}


# %% q4 wrong: every token with every token
B, C, H, W = 8, 3, 224, 224
P, D, L, M, heads, K = 32, 768, 12, 3072, 12, 1000
N = (H // P) * (W // P)
shapes = {"images": (B, C, H, W), "x_p": (B, N, P * P * C), "patch_embeddings": (B, N, D), "z_0": (B, N + 1, D),
          "attention": (B, heads, N + 1, D // heads), "mlp_hidden": (B, N + 1, M), "z_L": (B, N + 1, D),
          "y": (B, D), "logits": (B, K)}
