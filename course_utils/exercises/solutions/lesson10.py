"""Solutions of lesson 10's exercises: the code cells of notebooks/exercises/10_ablations_solutions.ipynb.

Each `# %%` line starts a cell: the imports, then one cell per exercise. Run top to bottom, this
file does what the solutions notebook does, without its check cells. The prompts and hints are in
text/lesson10.md; `python -m course_utils.exercises` builds the notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import lesson10 as ex
from course_utils.experiments import position


# %% q1
def make_position_embedding(num_tokens: int, dim: int) -> nn.Parameter:
    """A learned 1-D position embedding E_pos: a new Parameter (1, T, D), truncated normal with std 0.02."""
    embedding = nn.Parameter(torch.zeros(1, num_tokens, dim))  # leading 1: one table for every image
    nn.init.trunc_normal_(embedding, std=0.02)  # in place, under torch.no_grad()
    return embedding


# %% q2
def learned_2d_table(x_embed: torch.Tensor, y_embed: torch.Tensor) -> torch.Tensor:
    """Appendix D.4's 2-D table: X (G, D/2) per column, Y (G, D/2) per row -> (1, G*G, D), raster order."""
    grid = x_embed.shape[0]
    x = x_embed[None, :, :].expand(grid, -1, -1)  # [row, column] -> X of the column (a view, no copy)
    y = y_embed[:, None, :].expand(-1, grid, -1)  # [row, column] -> Y of the row
    return torch.cat([x, y], dim=-1).reshape(1, grid * grid, -1)  # row by row: patch k at (k // G, k % G)


# %% q3
def sincos_2d(grid: int, dim: int) -> torch.Tensor:
    """The fixed 2-D sine-cosine table (1, G*G, D), float32: [code of the column; code of the row]."""
    k = dim // 4  # frequencies per axis: a sine and a cosine each, D/2 numbers per axis
    omega = 10_000 ** -(torch.arange(k, dtype=torch.float64) / k)  # (k,)
    angles = torch.arange(grid, dtype=torch.float64)[:, None] * omega[None, :]  # (G, k)
    code = torch.cat([angles.sin(), angles.cos()], dim=1)  # (G, D/2): one axis's code of every position
    columns = code[None, :, :].expand(grid, -1, -1)  # [row, column] -> the column's code
    rows = code[:, None, :].expand(-1, grid, -1)  # [row, column] -> the row's code
    table = torch.cat([columns, rows], dim=-1).reshape(1, grid * grid, dim)  # exercise 2's grid, raster order
    return table.float()  # float32, like the tokens it is added to


# %% q4
def gap_pool(z: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    """The GAP head's input: z_L (B, N, D) of a model without a class token -> (B, D)."""
    return norm(z).mean(dim=1)  # normalise every token, then average all N (token 0 is a patch here)


# %% q5
grid = 64 // 8  # an 8 x 8 grid of patches
learned_2d_numbers = grid * (64 // 2) + grid * (64 // 2)  # X: one D/2-vector per column; Y: one per row
