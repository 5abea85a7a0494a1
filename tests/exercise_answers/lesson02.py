"""Answers to lesson 02's exercises that tests/test_exercises.py feeds to the checkers (see __init__.py)."""
# ruff: noqa: F401, F811

# %% imports
import torch
from torch import nn

from course_utils.exercises import lesson02 as ex
from course_utils.vit import PatchEmbedding


# %% q1 wrong: (C, P, P)
def patchify(images, patch_size):
    B, C, H, W = images.shape
    P = patch_size
    patches = images.unfold(2, P, P).unfold(3, P, P)  # (B, C, H/P, W/P, P, P)
    return patches.permute(0, 2, 3, 1, 4, 5).reshape(B, -1, C * P * P)  # channels first


# %% q1 wrong: not a P×P square
def patchify(images, patch_size):
    B, C, H, W = images.shape
    return images.reshape(B, H * W // patch_size**2, patch_size**2 * C)  # no cutting into patches


# %% q1 wrong: use the `patch_size` argument
def patchify(images, patch_size):
    B, C, H, W = images.shape
    patches = images.unfold(2, 16, 16).unfold(3, 16, 16)  # a hard-coded patch size
    return patches.permute(0, 2, 3, 4, 5, 1).reshape(B, -1, 16 * 16 * C)


# %% q1 wrong: column by column
def patchify(images, patch_size):
    B, C, H, W = images.shape
    P = patch_size
    patches = images.unfold(2, P, P).unfold(3, P, P)
    return patches.permute(0, 3, 2, 4, 5, 1).reshape(B, -1, P * P * C)  # the grid column by column


# %% q2 wrong: what else is in the sequence
num_tokens = (384 // 16) ** 2


# %% q2 wrong: 224×224
num_tokens = 197


# %% q2 wrong: give a number
num_tokens = 'lots'


# %% q3 wrong: bias
patch_embedding_params = 16 * 16 * 3 * 768


# %% q3 wrong: E_pos
patch_embedding_params = 16 * 16 * 3 * 768 + 768 + 768 + 197 * 768


# %% q4 wrong: did you forget to prepend the class token
class Eq1Embedding(nn.Module):
    def __init__(self, img_size=224, in_channels=3, patch_size=16, embedding_dim=768):
        super().__init__()
        self.patch_embedding = PatchEmbedding(in_channels, patch_size, embedding_dim)
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, embedding_dim))
        self.position_embedding = nn.Parameter(torch.zeros(1, (img_size // patch_size) ** 2 + 1, embedding_dim))

    def forward(self, images):
        return self.patch_embedding(images) + self.position_embedding[:, 1:]  # no class token


# %% q4 wrong: without its position embedding
class Eq1Embedding(nn.Module):
    def __init__(self, img_size=224, in_channels=3, patch_size=16, embedding_dim=768):
        super().__init__()
        self.patch_embedding = PatchEmbedding(in_channels, patch_size, embedding_dim)
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, embedding_dim))
        self.position_embedding = nn.Parameter(torch.zeros(1, (img_size // patch_size) ** 2 + 1, embedding_dim))

    def forward(self, images):
        patches = self.patch_embedding(images) + self.position_embedding[:, 1:]  # E_pos first ...
        class_token = self.class_embedding.expand(images.shape[0], -1, -1)
        return torch.cat([class_token, patches], dim=1)  # ... then the class token: it has no position


# %% q4 wrong: N + 1 rows
class Eq1Embedding(nn.Module):
    def __init__(self, img_size=224, in_channels=3, patch_size=16, embedding_dim=768):
        super().__init__()
        self.patch_embedding = PatchEmbedding(in_channels, patch_size, embedding_dim)
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, embedding_dim))
        self.position_embedding = nn.Parameter(torch.zeros(1, (img_size // patch_size) ** 2, embedding_dim))

    def forward(self, images):
        patches = self.patch_embedding(images) + self.position_embedding
        class_token = self.class_embedding.expand(images.shape[0], -1, -1)
        return torch.cat([class_token, patches], dim=1)


# %% q4 wrong: prepends it
class Eq1Embedding(nn.Module):
    def __init__(self, img_size=224, in_channels=3, patch_size=16, embedding_dim=768):
        super().__init__()
        self.patch_embedding = PatchEmbedding(in_channels, patch_size, embedding_dim)
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, embedding_dim))
        self.position_embedding = nn.Parameter(torch.zeros(1, (img_size // patch_size) ** 2 + 1, embedding_dim))

    def forward(self, images):
        class_token = self.class_embedding.expand(images.shape[0], -1, -1)
        return torch.cat([self.patch_embedding(images), class_token], dim=1) + self.position_embedding


# %% q4 wrong: expand
class Eq1Embedding(nn.Module):
    def __init__(self, img_size=224, in_channels=3, patch_size=16, embedding_dim=768):
        super().__init__()
        self.patch_embedding = PatchEmbedding(in_channels, patch_size, embedding_dim)
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, embedding_dim))
        self.position_embedding = nn.Parameter(torch.zeros(1, (img_size // patch_size) ** 2 + 1, embedding_dim))

    def forward(self, images):
        return torch.cat([self.class_embedding, self.patch_embedding(images)], dim=1) + self.position_embedding
