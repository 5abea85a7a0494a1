"""Answers to lesson 08's exercises that tests/test_exercises.py feeds to the checkers (see __init__.py)."""
# ruff: noqa: F401, F811

# %% imports
import torch
import torch.nn.functional as F

from course_utils.exercises import lesson08 as ex


# %% q1 wrong: class token
def pos_similarity(pos, grid):
    unit = F.normalize(pos[0], dim=-1)  # the class token's row is still there
    return (unit @ unit.T).reshape(grid, grid, grid, grid)


# %% q1 wrong: lengths
def pos_similarity(pos, grid):
    patches = pos[0, 1:]
    return (patches @ patches.T).reshape(grid, grid, grid, grid)  # dot products, not cosines


# %% q1 wrong: dim
def pos_similarity(pos, grid):
    unit = F.normalize(pos[0, 1:], dim=0)  # normalises each column, not each row
    return (unit @ unit.T).reshape(grid, grid, grid, grid)


# %% q1 wrong: last patch
def pos_similarity(pos, grid):
    unit = F.normalize(pos[0, :-1], dim=-1)  # drops the last patch instead of the class token
    return (unit @ unit.T).reshape(grid, grid, grid, grid)


# %% q1 wrong: order
def pos_similarity(pos, grid):
    unit = F.normalize(pos[0, 1:], dim=-1)
    return (unit @ unit.T).reshape(grid, grid, grid, grid).permute(0, 2, 1, 3)  # (r, r2, c, c2)


# %% q1 wrong: reshape
def pos_similarity(pos, grid):
    unit = F.normalize(pos[0, 1:], dim=-1)
    return unit @ unit.T  # not reshaped


# %% q2 wrong: pixels
def attention_distance(attn, grid, patch_size):
    weights = attn[..., 1:, 1:]
    weights = weights / weights.sum(dim=-1, keepdim=True)
    index = torch.arange(grid * grid)
    centres = torch.stack([index // grid, index % grid], dim=1).float()  # in patches, not pixels
    return (weights * torch.cdist(centres, centres)).sum(dim=-1).mean(dim=(0, 2))


# %% q2 wrong: renormalise
def attention_distance(attn, grid, patch_size):
    weights = attn[..., 1:, 1:]  # not renormalised
    index = torch.arange(grid * grid)
    centres = torch.stack([index // grid, index % grid], dim=1).float() * patch_size
    return (weights * torch.cdist(centres, centres)).sum(dim=-1).mean(dim=(0, 2))


# %% q2 wrong: class token
def attention_distance(attn, grid, patch_size):
    weights = attn[..., :-1, :-1]  # drops the last token instead of the class token
    weights = weights / weights.sum(dim=-1, keepdim=True)
    index = torch.arange(grid * grid)
    centres = torch.stack([index // grid, index % grid], dim=1).float() * patch_size
    return (weights * torch.cdist(centres, centres)).sum(dim=-1).mean(dim=(0, 2))


# %% q2 wrong: Euclidean
def attention_distance(attn, grid, patch_size):
    weights = attn[..., 1:, 1:]
    weights = weights / weights.sum(dim=-1, keepdim=True)
    index = torch.arange(grid * grid)
    centres = torch.stack([index // grid, index % grid], dim=1).float() * patch_size
    return (weights * torch.cdist(centres, centres, p=1)).sum(dim=-1).mean(dim=(0, 2))  # city-block distance


# %% q2 wrong: images
def attention_distance(attn, grid, patch_size):
    weights = attn[..., 1:, 1:]
    weights = weights / weights.sum(dim=-1, keepdim=True)
    index = torch.arange(grid * grid)
    centres = torch.stack([index // grid, index % grid], dim=1).float() * patch_size
    return (weights * torch.cdist(centres, centres)).sum(dim=-1).mean(dim=-1)  # still one value per image


# %% q3 wrong: identity
def rollout(attentions):
    result = torch.eye(attentions[0].shape[-1])
    for attn in attentions:
        result = attn.mean(dim=1) @ result  # no identity for the residual connection
    return result


# %% q3 wrong: Renormalise
def rollout(attentions):
    identity = torch.eye(attentions[0].shape[-1])
    result = identity
    for attn in attentions:
        result = (attn.mean(dim=1) + identity) @ result  # rows sum to 2, not 1
    return result


# %% q3 wrong: order
def rollout(attentions):
    identity = torch.eye(attentions[0].shape[-1])
    result = identity
    for attn in attentions:
        fused = attn.mean(dim=1) + identity
        result = result @ (fused / fused.sum(dim=-1, keepdim=True))  # the new layer on the right
    return result


# %% q3 wrong: maximum
def rollout(attentions):
    identity = torch.eye(attentions[0].shape[-1])
    result = identity
    for attn in attentions:
        fused = attn.max(dim=1).values + identity  # the strongest head, not the average
        result = fused / fused.sum(dim=-1, keepdim=True) @ result
    return result


# %% q3 wrong: last layer
def rollout(attentions):
    identity = torch.eye(attentions[0].shape[-1])
    fused = attentions[-1].mean(dim=1) + identity  # the last layer only
    return fused / fused.sum(dim=-1, keepdim=True)


# %% q4 wrong: class token
attention_numbers = 3 * 16 * 16


# %% q4 wrong: 3 heads
attention_numbers = 17 * 17


# %% q4 wrong: one layer
attention_numbers = 6 * 3 * 17 * 17


# %% q4 wrong: whole image
attention_numbers = 3 * 5 * 5


# %% q1 wrong: changed `pos` in place
def pos_similarity(pos, grid):
    patches = pos[0, 1:]
    patches /= patches.norm(dim=-1, keepdim=True)  # normalises the caller's E_pos, through a view
    return (patches @ patches.T).reshape(grid, grid, grid, grid)


# %% q1 right: cosine_similarity with broadcasting
def pos_similarity(pos, grid):
    patches = pos.squeeze(0)[1:]
    similarity = F.cosine_similarity(patches[:, None, :], patches[None, :, :], dim=-1)
    return similarity.view(grid, grid, grid, grid)


# %% q2 wrong: changed `attn` in place
def attention_distance(attn, grid, patch_size):
    weights = attn[..., 1:, 1:]
    weights /= weights.sum(dim=-1, keepdim=True)  # renormalises the caller's attention maps, through a view
    index = torch.arange(grid * grid)
    centres = torch.stack([index // grid, index % grid], dim=1).float() * patch_size
    return (weights * torch.cdist(centres, centres)).sum(dim=-1).mean(dim=(0, 2))


# %% q2 right: the distances from a meshgrid, without cdist
def attention_distance(attn, grid, patch_size):
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    centres = torch.stack([rows.flatten(), cols.flatten()], dim=-1).float() * patch_size
    distance = (centres[:, None] - centres[None]).pow(2).sum(-1).sqrt()
    weights = attn[:, :, 1:, 1:]
    weights = weights / weights.sum(-1, keepdim=True)
    return (weights * distance).sum(-1).mean(-1).mean(0)


# %% q3 wrong: reordered or changed the list itself
def rollout(attentions):
    identity = torch.eye(attentions[0].shape[-1])
    attentions.reverse()  # "last layer first", in the caller's list
    result = identity
    for attn in attentions:
        fused = attn.mean(dim=1) + identity
        result = result @ (fused / fused.sum(dim=-1, keepdim=True))
    return result


# %% q3 wrong: changed `attentions[0]` in place
def rollout(attentions):
    identity = torch.eye(attentions[0].shape[-1])
    result = identity
    for attn in attentions:
        attn += identity  # the residual, added to the caller's maps (to every head)
        fused = attn.mean(dim=1)
        result = fused / fused.sum(dim=-1, keepdim=True) @ result
    return result


# %% q3 right: the product taken from the last layer down
def rollout(attentions):
    identity = torch.eye(attentions[0].shape[-1])
    fused = [(a.mean(dim=1) + identity) / (a.mean(dim=1) + identity).sum(dim=-1, keepdim=True) for a in attentions]
    result = fused[-1]
    for layer in reversed(fused[:-1]):
        result = result @ layer
    return result
