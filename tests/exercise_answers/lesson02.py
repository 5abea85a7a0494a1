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


# %% q1 wrong: carries no gradient
def patchify(images, patch_size):  # a NumPy round trip: the values are right, the graph is gone
    B, C, H, W = images.shape
    P = patch_size
    x = images.numpy().reshape(B, C, H // P, P, W // P, P).transpose(0, 2, 4, 3, 5, 1)
    return torch.from_numpy(x.reshape(B, -1, P * P * C).copy())


# %% q1 wrong: changed `images` in place
def patchify(images, patch_size):
    B, C, H, W = images.shape
    P = patch_size
    patches = images.unfold(2, P, P).unfold(3, P, P).permute(0, 2, 3, 4, 5, 1).reshape(B, -1, P * P * C)
    images.zero_()  # "free" the images once they are cut up
    return patches


# %% q1 right: reshape into the grid instead of unfold
def patchify(images, patch_size):
    B, C, H, W = images.shape
    P = patch_size
    x = images.reshape(B, C, H // P, P, W // P, P).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(B, -1, P * P * C)


# %% q1 right: F.unfold, then reorder each patch to (P, P, C)
def patchify(images, patch_size):
    B, C, H, W = images.shape
    P = patch_size
    cols = torch.nn.functional.unfold(images, kernel_size=P, stride=P)  # (B, C*P*P, N), (C, P, P) order
    return cols.transpose(1, 2).reshape(B, -1, C, P * P).transpose(2, 3).reshape(B, -1, P * P * C)


# %% q4 wrong: a batch dimension of 32
class Eq1Embedding(nn.Module):
    def __init__(self, img_size=224, in_channels=3, patch_size=16, embedding_dim=768):
        super().__init__()
        self.patch_embedding = PatchEmbedding(in_channels, patch_size, embedding_dim)
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, embedding_dim))
        self.position_embedding = nn.Parameter(torch.zeros(32, (img_size // patch_size) ** 2 + 1, embedding_dim))

    def forward(self, images):
        class_token = self.class_embedding.expand(images.shape[0], -1, -1)
        return torch.cat([class_token, self.patch_embedding(images)], dim=1) + self.position_embedding


# %% q4 wrong: class token is one learned D-vector
class Eq1Embedding(nn.Module):
    def __init__(self, img_size=224, in_channels=3, patch_size=16, embedding_dim=768):
        super().__init__()
        self.patch_embedding = PatchEmbedding(in_channels, patch_size, embedding_dim)
        self.class_embedding = nn.Parameter(torch.zeros(32, 1, embedding_dim))  # one per image of a batch
        self.position_embedding = nn.Parameter(torch.zeros(1, (img_size // patch_size) ** 2 + 1, embedding_dim))

    def forward(self, images):
        class_token = self.class_embedding[: images.shape[0]]
        return torch.cat([class_token, self.patch_embedding(images)], dim=1) + self.position_embedding


# %% q4 wrong: a size in it is fixed at 32
class Eq1Embedding(nn.Module):
    def __init__(self, img_size=224, in_channels=3, patch_size=16, embedding_dim=768):
        super().__init__()
        self.patch_embedding = PatchEmbedding(in_channels, patch_size, embedding_dim)
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, embedding_dim))
        self.position_embedding = nn.Parameter(torch.zeros(1, (img_size // patch_size) ** 2 + 1, embedding_dim))

    def forward(self, images):
        class_token = self.class_embedding.repeat(32, 1, 1)  # the course's batch size
        return torch.cat([class_token, self.patch_embedding(images)], dim=1) + self.position_embedding


# %% q4 wrong: a size in it is fixed at 2
class Eq1Embedding(nn.Module):
    def __init__(self, img_size=224, in_channels=3, patch_size=16, embedding_dim=768):
        super().__init__()
        self.patch_embedding = PatchEmbedding(in_channels, patch_size, embedding_dim)
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, embedding_dim))
        self.position_embedding = nn.Parameter(torch.zeros(1, (img_size // patch_size) ** 2 + 1, embedding_dim))

    def forward(self, images):
        class_token = self.class_embedding.expand(2, -1, -1)  # the batch size of the first test
        return torch.cat([class_token, self.patch_embedding(images)], dim=1) + self.position_embedding


# %% q4 wrong: draws random numbers (a dropout?)
class Eq1Embedding(nn.Module):
    def __init__(self, img_size=224, in_channels=3, patch_size=16, embedding_dim=768):
        super().__init__()
        self.patch_embedding = PatchEmbedding(in_channels, patch_size, embedding_dim)
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, embedding_dim))
        self.position_embedding = nn.Parameter(torch.zeros(1, (img_size // patch_size) ** 2 + 1, embedding_dim))
        self.dropout = nn.Dropout(0.1)  # the ViT's embedding dropout, inside Eq 1

    def forward(self, images):
        class_token = self.class_embedding.expand(images.shape[0], -1, -1)
        return self.dropout(torch.cat([class_token, self.patch_embedding(images)], dim=1) + self.position_embedding)


# %% q4 wrong: No gradient reaches `self.class_embedding`
class Eq1Embedding(nn.Module):
    def __init__(self, img_size=224, in_channels=3, patch_size=16, embedding_dim=768):
        super().__init__()
        self.patch_embedding = PatchEmbedding(in_channels, patch_size, embedding_dim)
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, embedding_dim))
        self.position_embedding = nn.Parameter(torch.zeros(1, (img_size // patch_size) ** 2 + 1, embedding_dim))

    def forward(self, images):
        class_token = self.class_embedding.data.expand(images.shape[0], -1, -1)  # .data: no gradient
        return torch.cat([class_token, self.patch_embedding(images)], dim=1) + self.position_embedding


# %% q4 wrong: the `PatchEmbedding` imported above
class Eq1Embedding(nn.Module):
    def __init__(self, img_size=224, in_channels=3, patch_size=16, embedding_dim=768):
        super().__init__()
        self.patch_embedding = nn.Sequential(
            nn.Conv2d(in_channels, embedding_dim, patch_size, stride=patch_size), nn.Flatten(2))
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, embedding_dim))
        self.position_embedding = nn.Parameter(torch.zeros(1, (img_size // patch_size) ** 2 + 1, embedding_dim))

    def forward(self, images):
        class_token = self.class_embedding.expand(images.shape[0], -1, -1)
        patches = self.patch_embedding(images).transpose(1, 2)
        return torch.cat([class_token, patches], dim=1) + self.position_embedding


# %% q4 right: repeat instead of expand
class Eq1Embedding(nn.Module):
    def __init__(self, img_size=224, in_channels=3, patch_size=16, embedding_dim=768):
        super().__init__()
        self.patch_embedding = PatchEmbedding(in_channels, patch_size, embedding_dim)
        self.class_embedding = nn.Parameter(torch.randn(1, 1, embedding_dim))
        self.position_embedding = nn.Parameter(torch.randn(1, (img_size // patch_size) ** 2 + 1, embedding_dim))

    def forward(self, images):
        class_token = self.class_embedding.repeat(images.shape[0], 1, 1)  # a copy per image
        return torch.cat((class_token, self.patch_embedding(images)), dim=1) + self.position_embedding


# %% q4 right: the class token and its position added before the concatenation
class Eq1Embedding(nn.Module):
    def __init__(self, img_size=224, in_channels=3, patch_size=16, embedding_dim=768):
        super().__init__()
        self.patch_embedding = PatchEmbedding(in_channels, patch_size, embedding_dim)
        self.class_embedding = nn.Parameter(torch.randn(1, 1, embedding_dim))
        self.position_embedding = nn.Parameter(torch.randn(1, (img_size // patch_size) ** 2 + 1, embedding_dim))

    def forward(self, images):
        patches = self.patch_embedding(images) + self.position_embedding[:, 1:]
        class_token = (self.class_embedding + self.position_embedding[:, :1]).expand(len(images), -1, -1)
        return torch.cat([class_token, patches], dim=1)
