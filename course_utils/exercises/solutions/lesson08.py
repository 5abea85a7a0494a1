"""Solutions of lesson 08's exercises: the code cells of notebooks/exercises/08_predictions_and_interpretation_solutions.ipynb.

Each `# %%` line starts a cell: the imports, then one cell per exercise. Run top to bottom, this
file does what the solutions notebook does, without its check cells. The prompts and hints are in
text/lesson08.md; `python -m course_utils.exercises` builds the notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import torch
import torch.nn.functional as F

from course_utils.exercises import lesson08 as ex


# %% q1
def pos_similarity(pos: torch.Tensor, grid: int) -> torch.Tensor:
    """Cosine similarity of the patches' position embeddings: (1, N + 1, D) -> (grid, grid, grid, grid)."""
    patches = pos[0, 1:]  # (N, D): drop the batch dimension and the class token's row
    unit = F.normalize(patches, dim=-1)  # every row divided by its length
    similarity = unit @ unit.T  # (N, N): dot products of unit vectors are cosines
    return similarity.reshape(grid, grid, grid, grid)  # raster order: patch index = row * grid + column


# %% q2
def attention_distance(attn: torch.Tensor, grid: int, patch_size: int) -> torch.Tensor:
    """Mean attention distance in pixels of every head: (B, heads, N + 1, N + 1) -> (heads,)."""
    weights = attn[..., 1:, 1:]  # patches attending to patches: (B, heads, N, N)
    weights = weights / weights.sum(dim=-1, keepdim=True)  # each query's weights sum to 1 again
    index = torch.arange(grid * grid)
    centres = torch.stack([index // grid, index % grid], dim=1).float() * patch_size  # (N, 2), in pixels
    distance = torch.cdist(centres, centres)  # (N, N) Euclidean distances between patch centres
    per_query = (weights * distance).sum(dim=-1)  # (B, heads, N)
    return per_query.mean(dim=(0, 2))  # average over the images and the queries: (heads,)


# %% q3
def rollout(attentions: list[torch.Tensor]) -> torch.Tensor:
    """Attention rollout: L tensors (B, heads, T, T), first layer first -> (B, T, T)."""
    tokens = attentions[0].shape[-1]
    identity = torch.eye(tokens)
    result = identity  # before any layer, every token is itself
    for attn in attentions:  # first layer first
        fused = attn.mean(dim=1) + identity  # average the heads, add the residual path: (B, T, T)
        fused = fused / fused.sum(dim=-1, keepdim=True)  # every row sums to 1 again
        result = fused @ result  # this layer acts after the ones already rolled out: on the left
    return result


# %% q4
tokens = (32 // 8) ** 2 + 1  # a 4 x 4 grid of patches, plus the class token
attention_numbers = 3 * tokens * tokens  # one (tokens x tokens) matrix per head
