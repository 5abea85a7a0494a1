"""Answers to lesson 07's exercises that tests/test_exercises.py feeds to the checkers (see __init__.py)."""
# ruff: noqa: F401, F811

# %% imports
import math

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import lesson07 as ex
from course_utils.vit import ViT, interpolate_position_embedding, vit_b_16


# %% q1 wrong: LayerNorm
def freeze_all_but_head(model):
    for name, param in model.named_parameters():
        param.requires_grad = name.startswith("classifier")  # the LayerNorm too
    return model


# %% q1 wrong: No parameter is trainable
def freeze_all_but_head(model):
    for name, param in model.named_parameters():
        param.requires_grad = name in ("head.weight", "head.bias")  # timm's names, not the course's
    return model


# %% q1 wrong: eval()
def freeze_all_but_head(model):
    model.eval()  # "freezes" dropout, not the weights
    return model


# %% q1 wrong: still trainable
def freeze_all_but_head(model):
    for param in model.parameters():
        param.requires_grad == False  # noqa: B015, E712 (a comparison, not an assignment)
    return model


# %% q1 wrong: autograd
def freeze_all_but_head(model):
    torch.set_grad_enabled(False)  # switches autograd off everywhere
    model.classifier[1].requires_grad_(True)
    return model


# %% q1 wrong: changed the model's weights
def freeze_all_but_head(model):
    for param in model.parameters():
        param.requires_grad = False
    model.classifier[1] = nn.Linear(24, 5)  # a new head: the exercise only freezes
    return model


# %% q1 wrong: return
def freeze_all_but_head(model):
    for param in model.parameters():
        param.requires_grad = False
    for param in model.classifier[1].parameters():
        param.requires_grad = True


# %% q2 wrong: bias
trainable_params = 768 * 3


# %% q2 wrong: LayerNorm
trainable_params = 768 * 3 + 3 + 2 * 768


# %% q2 wrong: full fine-tuning
trainable_params = 86_567_656 - 769_000 + 768 * 3 + 3


# %% q2 wrong: 3 classes
trainable_params = 768 * 1000 + 1000


# %% q3 wrong: 1-D
def resize_pos_embed(pos, new_grid):
    class_pos, patch_pos = pos[:, :1], pos[:, 1:]
    seq = F.interpolate(patch_pos.transpose(1, 2), size=new_grid * new_grid, mode="linear", align_corners=True)
    return torch.cat([class_pos, seq.transpose(1, 2)], dim=1)  # 1-D: the rows of the grid are lost


# %% q3 wrong: class token
def resize_pos_embed(pos, new_grid):
    seq = F.interpolate(pos.transpose(1, 2), size=new_grid * new_grid + 1, mode="linear", align_corners=True)
    return seq.transpose(1, 2)  # the class token is part of the interpolated sequence


# %% q3 wrong: permute
def resize_pos_embed(pos, new_grid):
    class_pos, patch_pos = pos[:, :1], pos[:, 1:]
    g, D = math.isqrt(patch_pos.shape[1]), patch_pos.shape[-1]
    grid = patch_pos.reshape(1, D, g, g)  # reshape, not permute: the numbers land in the wrong places
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bicubic", align_corners=True)
    return torch.cat([class_pos, grid.reshape(1, new_grid * new_grid, D)], dim=1)


# %% q3 wrong: transposed
def resize_pos_embed(pos, new_grid):
    class_pos, patch_pos = pos[:, :1], pos[:, 1:]
    g, D = math.isqrt(patch_pos.shape[1]), patch_pos.shape[-1]
    grid = patch_pos.reshape(1, g, g, D).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bicubic", align_corners=True)
    return torch.cat([class_pos, grid.permute(0, 3, 2, 1).reshape(1, -1, D)], dim=1)  # column by column


# %% q3 wrong: bilinear
def resize_pos_embed(pos, new_grid):
    class_pos, patch_pos = pos[:, :1], pos[:, 1:]
    g, D = math.isqrt(patch_pos.shape[1]), patch_pos.shape[-1]
    grid = patch_pos.reshape(1, g, g, D).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bilinear", align_corners=True)
    return torch.cat([class_pos, grid.permute(0, 2, 3, 1).reshape(1, -1, D)], dim=1)


# %% q3 wrong: class token's row
def resize_pos_embed(pos, new_grid):
    patch_pos = pos[:, 1:]
    g, D = math.isqrt(patch_pos.shape[1]), patch_pos.shape[-1]
    grid = patch_pos.reshape(1, g, g, D).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bicubic", align_corners=True)
    return grid.permute(0, 2, 3, 1).reshape(1, -1, D)  # the class token's row is gone


# %% q3 wrong: clamped
def resize_pos_embed(pos, new_grid):
    class_pos, patch_pos = pos[:, :1], pos[:, 1:]
    g, D = math.isqrt(patch_pos.shape[1]), patch_pos.shape[-1]
    grid = patch_pos.reshape(1, g, g, D).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bicubic", align_corners=True)
    grid = grid.clamp(patch_pos.min(), patch_pos.max())  # "no values the pretrained model never saw"
    return torch.cat([class_pos, grid.permute(0, 2, 3, 1).reshape(1, new_grid * new_grid, D)], dim=1)


# %% q3 right: computed in float64, one channel at a time, with einops-free reshapes
def resize_pos_embed(pos, new_grid):
    g = math.isqrt(pos.shape[1] - 1)
    channels = []
    for d in range(pos.shape[-1]):
        plane = pos[0, 1:, d].double().view(1, 1, g, g)
        channels.append(F.interpolate(plane, size=(new_grid, new_grid), mode="bicubic", align_corners=True).flatten())
    patches = torch.stack(channels, dim=-1).to(pos.dtype)[None]
    return torch.cat([pos[:, :1], patches], dim=1)


# %% q4 wrong: zero
def new_head(model, num_classes):
    model.classifier[1] = nn.Linear(model.classifier[1].in_features, num_classes)  # PyTorch's random init
    return model


# %% q4 wrong: old task
def new_head(model, num_classes):
    nn.init.zeros_(model.classifier[1].weight)  # the old head, zeroed: still the old number of classes
    nn.init.zeros_(model.classifier[1].bias)
    return model


# %% q4 wrong: LayerNorm
def new_head(model, num_classes):
    head = nn.Linear(model.classifier[1].in_features, num_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    model.classifier = head  # the LayerNorm is gone
    return model


# %% q4 wrong: bias
def new_head(model, num_classes):
    head = nn.Linear(model.classifier[1].in_features, num_classes)
    nn.init.zeros_(head.weight)  # the bias keeps its random init
    model.classifier[1] = head
    return model


# %% q4 wrong: input width
def new_head(model, num_classes):
    head = nn.Linear(768, num_classes)  # ViT-B's D, not this model's
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    model.classifier[1] = head
    return model


# %% q1 wrong: still trainable
def freeze_all_but_head(model):
    for block in model.transformer_encoder[:2]:  # the two blocks of the first model tried
        block.requires_grad_(False)
    for part in (model.patch_embedding, model.classifier[0]):
        part.requires_grad_(False)
    model.class_embedding.requires_grad = False
    model.position_embedding.requires_grad = False
    return model


# %% q1 right: requires_grad_ on whole modules
def freeze_all_but_head(model):
    model.requires_grad_(False)
    model.classifier[1].requires_grad_(True)
    return model


# %% q4 wrong: input width
def new_head(model, num_classes):
    head = nn.Linear(24, num_classes)  # the D of the first model tried
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    model.classifier[1] = head
    return model


# %% q4 wrong: Your function froze
def new_head(model, num_classes):
    for param in model.parameters():
        param.requires_grad = False  # "the backbone is pretrained"
    head = nn.Linear(model.classifier[1].in_features, num_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    model.classifier[1] = head
    return model


# %% q4 wrong: switched the model to eval mode
def new_head(model, num_classes):
    head = nn.Linear(model.classifier[1].in_features, num_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    model.classifier[1] = head
    return model.eval()


# %% q4 right: zeros written with torch.no_grad and fill_
def new_head(model, num_classes):
    head = nn.Linear(model.classifier[-1].in_features, num_classes)
    with torch.no_grad():
        head.weight.fill_(0.0)
        head.bias.fill_(0.0)
    model.classifier[-1] = head
    return model
