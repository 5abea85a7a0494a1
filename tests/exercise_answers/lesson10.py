"""Answers to lesson 10's exercises that tests/test_exercises.py feeds to the checkers (see __init__.py)."""
# ruff: noqa: F401, F811

# %% imports
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import lesson10 as ex
from course_utils.experiments import position


# %% q1 wrong: a batch dimension of 32
def make_position_embedding(num_tokens, dim):
    embedding = nn.Parameter(torch.zeros(32, num_tokens, dim))  # one table per slot of a batch of 32
    nn.init.trunc_normal_(embedding, std=0.02)
    return embedding


# %% q1 wrong: without the leading 1
def make_position_embedding(num_tokens, dim):
    embedding = nn.Parameter(torch.zeros(num_tokens, dim))
    nn.init.trunc_normal_(embedding, std=0.02)
    return embedding


# %% q1 wrong: The position signal swamps the content
def make_position_embedding(num_tokens, dim):
    return nn.Parameter(torch.randn(1, num_tokens, dim))  # std 1


# %% q1 wrong: centred on 0 with the standard deviation the prompt gives
def make_position_embedding(num_tokens, dim):
    return nn.Parameter(torch.randn(1, num_tokens, dim) / dim**0.5)  # std 1/sqrt(D), not 0.02


# %% q1 wrong: centred on 0 with the standard deviation the prompt gives
def make_position_embedding(num_tokens, dim):
    return nn.Parameter(torch.rand(1, num_tokens, dim) * 0.02)  # uniform on [0, 0.02): mean 0.01


# %% q1 wrong: starts as Table 8's bag of patches
def make_position_embedding(num_tokens, dim):
    return nn.Parameter(torch.zeros(1, num_tokens, dim))


# %% q1 wrong: plain tensor
def make_position_embedding(num_tokens, dim):
    return torch.randn(1, num_tokens, dim) * 0.02


# %% q1 wrong: requires grad but is not an `nn.Parameter`
def make_position_embedding(num_tokens, dim):
    return (torch.randn(1, num_tokens, dim) * 0.02).requires_grad_()


# %% q1 wrong: not a leaf and not a Parameter
def make_position_embedding(num_tokens, dim):
    return nn.Parameter(torch.randn(1, num_tokens, dim)) * 0.02  # scaled after wrapping


# %% q1 wrong: it is frozen
def make_position_embedding(num_tokens, dim):
    return nn.Parameter(torch.randn(1, num_tokens, dim) * 0.02, requires_grad=False)


# %% q1 wrong: re-seeds torch's global random number generator
def make_position_embedding(num_tokens, dim):
    torch.manual_seed(0)
    embedding = nn.Parameter(torch.zeros(1, num_tokens, dim))
    nn.init.trunc_normal_(embedding, std=0.02)
    return embedding


# %% q1 wrong: the very same Parameter
_tables = {}


def make_position_embedding(num_tokens, dim):
    if (num_tokens, dim) not in _tables:
        _tables[num_tokens, dim] = nn.Parameter(torch.randn(1, num_tokens, dim) * 0.02)
    return _tables[num_tokens, dim]


# %% q1 wrong: The `nn.init` functions do that for you
def make_position_embedding(num_tokens, dim):
    embedding = nn.Parameter(torch.empty(1, num_tokens, dim))
    embedding.normal_(0, 0.02)  # in place on a Parameter, outside torch.no_grad()
    return embedding


# %% q1 right: a plain normal at std 0.02 (trunc_normal_ cuts at ±2, 100 standard deviations away)
def make_position_embedding(num_tokens, dim):
    return nn.Parameter(torch.randn(1, num_tokens, dim) * 0.02)


# %% q1 right: truncated at two standard deviations, drawn before wrapping
def make_position_embedding(num_tokens, dim):
    values = torch.empty(1, num_tokens, dim)
    nn.init.trunc_normal_(values, std=0.02, a=-0.04, b=0.04)
    return nn.Parameter(values)


# %% q1 wrong: changes with the table's size
def make_position_embedding(num_tokens, dim):
    embedding = nn.Parameter(torch.empty(1, num_tokens, dim))
    nn.init.xavier_normal_(embedding)  # about 0.02 for 65 x 64, not for other sizes
    return embedding


# %% q1 wrong: changes with the table's size
def make_position_embedding(num_tokens, dim):
    embedding = nn.Parameter(torch.empty(1, num_tokens, dim))
    nn.init.kaiming_normal_(embedding)
    return embedding


# %% q1 wrong: gave different tables
def make_position_embedding(num_tokens, dim):
    import time

    generator = torch.Generator().manual_seed(time.perf_counter_ns())  # "a fresh seed every time"
    return nn.Parameter(0.02 * torch.randn(1, num_tokens, dim, generator=generator))


# %% q1 wrong: changed NumPy's global random number generator
def make_position_embedding(num_tokens, dim):
    import numpy as np

    values = np.random.normal(0.0, 0.02, size=(1, num_tokens, dim))
    return nn.Parameter(torch.from_numpy(values).float())


# %% q1 right: normal_ on a fresh tensor, the leading 1 added by unsqueeze
def make_position_embedding(num_tokens, dim):
    return nn.Parameter(torch.empty(num_tokens, dim).normal_(mean=0.0, std=0.02).unsqueeze(0))


# %% q2 wrong: rows and columns are swapped
def learned_2d_table(x_embed, y_embed):
    grid = x_embed.shape[0]
    x = x_embed[:, None, :].expand(-1, grid, -1)  # X varies along the rows
    y = y_embed[None, :, :].expand(grid, -1, -1)
    return torch.cat([x, y], dim=-1).reshape(1, grid * grid, -1)


# %% q2 wrong: Your two halves are in the other order
def learned_2d_table(x_embed, y_embed):
    grid = x_embed.shape[0]
    x = x_embed[None, :, :].expand(grid, -1, -1)
    y = y_embed[:, None, :].expand(-1, grid, -1)
    return torch.cat([y, x], dim=-1).reshape(1, grid * grid, -1)


# %% q2 wrong: Did you add the X and Y embeddings?
def learned_2d_table(x_embed, y_embed):
    grid = x_embed.shape[0]
    return (x_embed[None, :, :] + y_embed[:, None, :]).reshape(1, grid * grid, -1)


# %% q2 wrong: without the leading 1
def learned_2d_table(x_embed, y_embed):
    grid = x_embed.shape[0]
    x = x_embed[None, :, :].expand(grid, -1, -1)
    y = y_embed[:, None, :].expand(-1, grid, -1)
    return torch.cat([x, y], dim=-1).reshape(grid * grid, -1)


# %% q2 wrong: still a grid
def learned_2d_table(x_embed, y_embed):
    grid = x_embed.shape[0]
    x = x_embed[None, :, :].expand(grid, -1, -1)
    y = y_embed[:, None, :].expand(-1, grid, -1)
    return torch.cat([x, y], dim=-1)[None]  # (1, G, G, D): not flattened


# %% q2 wrong: Your table only uses X
def learned_2d_table(x_embed, y_embed):
    grid = x_embed.shape[0]
    x = x_embed[None, :, :].expand(grid, -1, -1)
    return torch.cat([x, x], dim=-1).reshape(1, grid * grid, -1)  # a typo: x twice


# %% q2 wrong: carries no gradient
def learned_2d_table(x_embed, y_embed):
    grid = x_embed.shape[0]
    x = x_embed.detach()[None, :, :].expand(grid, -1, -1)
    y = y_embed.detach()[:, None, :].expand(-1, grid, -1)
    return torch.cat([x, y], dim=-1).reshape(1, grid * grid, -1)


# %% q2 wrong: `expand` returns a view in which many positions share one memory location
def learned_2d_table(x_embed, y_embed):
    grid, half = x_embed.shape
    table = F.pad(x_embed, (0, half))[None].expand(grid, -1, -1)  # [X_c; 0] at every [row, column]
    table[..., half:] = y_embed[:, None, :]  # writes Y into the expanded view
    return table.reshape(1, grid * grid, -1)


# %% q2 wrong: changed `y_embed` in place
def learned_2d_table(x_embed, y_embed):
    grid = x_embed.shape[0]
    x = x_embed[None, :, :].expand(grid, -1, -1)
    y = y_embed.unsqueeze_(1).expand(-1, grid, -1)  # unsqueeze_ reshapes the caller's tensor
    return torch.cat([x, y], dim=-1).reshape(1, grid * grid, -1)


# %% q2 right: repeat instead of expand
def learned_2d_table(x_embed, y_embed):
    grid = x_embed.shape[0]
    x = x_embed.repeat(grid, 1, 1)  # (G, G, D/2), copied
    y = y_embed.repeat_interleave(grid, dim=0).reshape(grid, grid, -1)
    return torch.cat([x, y], dim=-1).reshape(1, grid * grid, -1)


# %% q2 right: a loop over the patches in raster order
def learned_2d_table(x_embed, y_embed):
    grid = x_embed.shape[0]
    rows = [torch.cat([x_embed[k % grid], y_embed[k // grid]]) for k in range(grid * grid)]
    return torch.stack(rows)[None]


# %% q2 right: meshgrid indices
def learned_2d_table(x_embed, y_embed):
    grid = x_embed.shape[0]
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    return torch.cat([x_embed[cols.flatten()], y_embed[rows.flatten()]], dim=-1).unsqueeze(0)


# %% q3 wrong: 1-D sine-cosine over the raster index
def sincos_2d(grid, dim):
    k = dim // 2
    omega = 10_000 ** -(torch.arange(k, dtype=torch.float64) / k)
    angles = torch.arange(grid * grid, dtype=torch.float64)[:, None] * omega[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)[None].float()


# %% q3 wrong: Your rows and columns are swapped
def sincos_2d(grid, dim):
    k = dim // 4
    omega = 10_000 ** -(torch.arange(k, dtype=torch.float64) / k)
    angles = torch.arange(grid, dtype=torch.float64)[:, None] * omega[None, :]
    code = torch.cat([angles.sin(), angles.cos()], dim=1)
    rows = code[:, None, :].expand(-1, grid, -1)
    columns = code[None, :, :].expand(grid, -1, -1)
    return torch.cat([rows, columns], dim=-1).reshape(1, grid * grid, dim).float()


# %% q3 wrong: sines and cosines are swapped
def sincos_2d(grid, dim):
    k = dim // 4
    omega = 10_000 ** -(torch.arange(k, dtype=torch.float64) / k)
    angles = torch.arange(grid, dtype=torch.float64)[:, None] * omega[None, :]
    code = torch.cat([angles.cos(), angles.sin()], dim=1)
    columns = code[None, :, :].expand(grid, -1, -1)
    rows = code[:, None, :].expand(-1, grid, -1)
    return torch.cat([columns, rows], dim=-1).reshape(1, grid * grid, dim).float()


# %% q3 wrong: Your sines and cosines alternate
def sincos_2d(grid, dim):
    k = dim // 4
    omega = 10_000 ** -(torch.arange(k, dtype=torch.float64) / k)
    angles = torch.arange(grid, dtype=torch.float64)[:, None] * omega[None, :]
    code = torch.zeros(grid, dim // 2, dtype=torch.float64)
    code[:, 0::2], code[:, 1::2] = angles.sin(), angles.cos()  # "Attention is all you need"'s layout
    columns = code[None, :, :].expand(grid, -1, -1)
    rows = code[:, None, :].expand(-1, grid, -1)
    return torch.cat([columns, rows], dim=-1).reshape(1, grid * grid, dim).float()


# %% q3 wrong: Your frequencies fall too slowly
def sincos_2d(grid, dim):
    k = dim // 4
    omega = 10_000 ** -(2 * torch.arange(k, dtype=torch.float64) / dim)  # 2i / D: the width of the whole token
    angles = torch.arange(grid, dtype=torch.float64)[:, None] * omega[None, :]
    code = torch.cat([angles.sin(), angles.cos()], dim=1)
    columns = code[None, :, :].expand(grid, -1, -1)
    rows = code[:, None, :].expand(-1, grid, -1)
    return torch.cat([columns, rows], dim=-1).reshape(1, grid * grid, dim).float()


# %% q3 wrong: i / (k - 1), the convention of big_vision's
def sincos_2d(grid, dim):
    k = dim // 4
    omega = 10_000 ** -torch.linspace(0, 1, k, dtype=torch.float64)  # i / (k - 1)
    angles = torch.arange(grid, dtype=torch.float64)[:, None] * omega[None, :]
    code = torch.cat([angles.sin(), angles.cos()], dim=1)
    columns = code[None, :, :].expand(grid, -1, -1)
    rows = code[:, None, :].expand(-1, grid, -1)
    return torch.cat([columns, rows], dim=-1).reshape(1, grid * grid, dim).float()


# %% q3 wrong: another temperature
def sincos_2d(grid, dim):
    k = dim // 4
    omega = 1_000 ** -(torch.arange(k, dtype=torch.float64) / k)
    angles = torch.arange(grid, dtype=torch.float64)[:, None] * omega[None, :]
    code = torch.cat([angles.sin(), angles.cos()], dim=1)
    columns = code[None, :, :].expand(grid, -1, -1)
    rows = code[:, None, :].expand(-1, grid, -1)
    return torch.cat([columns, rows], dim=-1).reshape(1, grid * grid, dim).float()


# %% q3 wrong: Your positions start at 1
def sincos_2d(grid, dim):
    k = dim // 4
    omega = 10_000 ** -(torch.arange(k, dtype=torch.float64) / k)
    angles = torch.arange(1, grid + 1, dtype=torch.float64)[:, None] * omega[None, :]
    code = torch.cat([angles.sin(), angles.cos()], dim=1)
    columns = code[None, :, :].expand(grid, -1, -1)
    rows = code[:, None, :].expand(-1, grid, -1)
    return torch.cat([columns, rows], dim=-1).reshape(1, grid * grid, dim).float()


# %% q3 wrong: Your table is torch.float64
def sincos_2d(grid, dim):
    k = dim // 4
    omega = 10_000 ** -(torch.arange(k, dtype=torch.float64) / k)
    angles = torch.arange(grid, dtype=torch.float64)[:, None] * omega[None, :]
    code = torch.cat([angles.sin(), angles.cos()], dim=1)
    columns = code[None, :, :].expand(grid, -1, -1)
    rows = code[:, None, :].expand(-1, grid, -1)
    return torch.cat([columns, rows], dim=-1).reshape(1, grid * grid, dim)  # float64


# %% q3 wrong: Your table requires grad
def sincos_2d(grid, dim):
    k = dim // 4
    omega = 10_000 ** -(torch.arange(k, dtype=torch.float64) / k)
    angles = torch.arange(grid, dtype=torch.float64)[:, None] * omega[None, :]
    code = torch.cat([angles.sin(), angles.cos()], dim=1)
    columns = code[None, :, :].expand(grid, -1, -1)
    rows = code[:, None, :].expand(-1, grid, -1)
    return nn.Parameter(torch.cat([columns, rows], dim=-1).reshape(1, grid * grid, dim).float())


# %% q3 wrong: it called `position.sincos_table`
def sincos_2d(grid, dim):
    return position.sincos_table(grid, dim)[None]


# %% q3 wrong: without the leading 1
def sincos_2d(grid, dim):
    k = dim // 4
    omega = 10_000 ** -(torch.arange(k, dtype=torch.float64) / k)
    angles = torch.arange(grid, dtype=torch.float64)[:, None] * omega[None, :]
    code = torch.cat([angles.sin(), angles.cos()], dim=1)
    columns = code[None, :, :].expand(grid, -1, -1)
    rows = code[:, None, :].expand(-1, grid, -1)
    return torch.cat([columns, rows], dim=-1).reshape(grid * grid, dim).float()


# %% q3 right: NumPy, as MAE writes it, converted at the end
import numpy as np


def sincos_2d(grid, dim):
    k = dim // 4
    omega = 1.0 / 10_000 ** (np.arange(k) / k)
    angles = np.outer(np.arange(grid), omega)  # (G, k)
    code = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)  # (G, D/2)
    rows, cols = np.divmod(np.arange(grid * grid), grid)
    table = np.concatenate([code[cols], code[rows]], axis=1)
    return torch.from_numpy(table).float()[None]


# %% q3 right: float32 throughout
def sincos_2d(grid, dim):
    k = dim // 4
    omega = torch.pow(10_000.0, -torch.arange(k) / k)
    angles = torch.outer(torch.arange(grid).float(), omega)
    code = torch.cat([angles.sin(), angles.cos()], dim=1)
    index = torch.arange(grid * grid)
    return torch.cat([code[index % grid], code[index // grid]], dim=1)[None]


# %% q4 wrong: as if it were a class token
def gap_pool(z, norm):
    return norm(z[:, 1:]).mean(dim=1)  # token 0 is a patch here


# %% q4 wrong: as the class-token head does
def gap_pool(z, norm):
    return norm(z[:, 0])


# %% q4 wrong: lesson 05's order
def gap_pool(z, norm):
    return norm(z.mean(dim=1))


# %% q4 wrong: skips the final LayerNorm
def gap_pool(z, norm):
    return z.mean(dim=1)


# %% q4 wrong: without `norm`'s learned scale and shift
def gap_pool(z, norm):
    return F.layer_norm(z, z.shape[-1:], eps=norm.eps).mean(dim=1)


# %% q4 wrong: That's max pooling
def gap_pool(z, norm):
    return norm(z).max(dim=1).values


# %% q4 wrong: You summed the tokens
def gap_pool(z, norm):
    return norm(z).sum(dim=1)


# %% q4 wrong: you averaged over the D features
def gap_pool(z, norm):
    return norm(z).mean(dim=-1)


# %% q4 wrong: you averaged over the batch
def gap_pool(z, norm):
    return norm(z).mean(dim=0)


# %% q4 wrong: (no `keepdim`)
def gap_pool(z, norm):
    return norm(z).mean(dim=1, keepdim=True)


# %% q4 wrong: carries no gradient
def gap_pool(z, norm):
    with torch.no_grad():
        return norm(z).mean(dim=1)


# %% q4 right: the LayerNorm written out, then a sum divided by N
def gap_pool(z, norm):
    mean = z.mean(dim=-1, keepdim=True)
    var = z.var(dim=-1, unbiased=False, keepdim=True)
    normed = (z - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias
    return normed.sum(dim=1) / z.shape[1]


# %% q5 wrong: 1-D table of the class-token model
learned_2d_numbers = (64 + 1) * 64


# %% q5 wrong: each is D/2
learned_2d_numbers = 2 * 8 * 64


# %% q5 wrong: count the Y-embedding too
learned_2d_numbers = 8 * 32


# %% q5 wrong: both tables for 16 px patches
learned_2d_numbers = 2 * (64 // 16) * (64 // 2)
