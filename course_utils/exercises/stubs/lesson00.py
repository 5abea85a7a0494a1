"""Stubs of lesson 00's exercises: the code cells the learner starts from in notebooks/exercises/00_the_paper_exercises.ipynb.

Each `# %%` line starts a cell: the imports (the same as in solutions/lesson00.py), then one cell per
exercise. The prompts and hints are in text/lesson00.md; `python -m course_utils.exercises` builds the
notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import torch

from course_utils import vit
from course_utils.exercises import lesson00 as ex

# %% q1
vit_params = {
    "ViT-Ti/16": ...,  # D = 192, MLP size 768, 12 layers; 224 px images, P = 16, 1000 classes
    "ViT-S/16": ...,  # D = 384, MLP size 1536, 12 layers; 224 px images, P = 16, 1000 classes
}


# %% q2
vit_b16_384_params = ...  # a number


# %% q3
pretraining_head_params = ...  # a number


# %% q4
B, C, H, W = 8, 3, 224, 224  # a batch of 8 RGB images of 224 x 224 pixels
P, D, L, M, heads, K = 32, 768, 12, 3072, 12, 1000  # ViT-B/32 with ImageNet's 1000 classes

shapes = {
    "images": (B, C, H, W),  # given
    "x_p": ...,
    "patch_embeddings": ...,
    "z_0": ...,
    "attention": ...,
    "mlp_hidden": ...,
    "z_L": ...,
    "y": ...,
    "logits": ...,
}
