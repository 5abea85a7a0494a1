"""Exercises of lesson 10, the ablations of position embeddings and pooling (see ``course_utils.exercises``).

q1 a learned 1-D position embedding: shape and initialisation · q2 the learned 2-D table from its X and Y
embeddings · q3 the fixed 2-D sine-cosine table · q4 the global-average-pooling head's input · q5 how many
numbers the 2-D table learns
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import (
    NumberQuestion,
    Question,
    Unchanged,
    Wrong,
    call_for_gradients,
    expect_callable,
    expect_close,
    expect_gradients,
    expect_tensor,
    perturb_,
    randn,
    refusing,
)
from course_utils.exercises._probes import call_leaving_alone
from course_utils.experiments import position

LESSON = "10_ablations"

# The references, held here so that a learner's call to position.sincos_table can be refused during a check.
_SINCOS_TABLE = position.sincos_table

_EXPANDED_VIEW = ("`expand` returns a view in which many positions share one memory location (stride 0), so "
                  "nothing may be written into it in place (`+=`, `[...] =`, a method ending in `_`). Build a "
                  "new tensor instead (`torch.cat`, `x + y`), or copy first (`.repeat`, `.clone()`).")


def _explain_in_place(error: Exception) -> str | None:
    """Advice for an in-place write into an expanded view."""
    if "refers to a single memory location" in str(error) or "single memory location" in str(error):
        return _EXPANDED_VIEW
    return None


def _check_table_shape(out: torch.Tensor, name: str, tokens: int, dim: int, about: str) -> None:
    """The tables of q2 and q3 are (1, T, D), like E_pos: one set of rows shared by every image."""
    got = tuple(out.shape)
    if got == (1, tokens, dim):
        return
    if got == (tokens, dim):
        raise Wrong(f"`{name}` returned shape {got} {about}: the right rows, but without the leading 1. Like "
                    f"E_pos in exercise 1, the table the tokens are added to is (1, T, D), one table for every "
                    f"image of the batch: add the dimension (`[None]` or `.unsqueeze(0)`).")
    if got[:1] == (1,) and len(got) == 4 and got[1] * got[2] == tokens:
        raise Wrong(f"`{name}` returned shape {got} {about}: still a grid. The tokens are a sequence in raster "
                    f"order: flatten the grid into (1, T, D).")
    if len(got) == 3 and got[-1] == dim and got[1] != tokens:
        raise Wrong(f"`{name}` returned {got[1]} rows {about}: a grid of G × G patches has G² tokens, one row "
                    f"each.")
    raise Wrong(f"`{name}` returned shape {got} {about}; it should be (1, G², D) = {(1, tokens, dim)}.")


# ---------------------------------------------------------------------------------------------------------
# q1: a learned 1-D position embedding, its shape and its initialisation
# ---------------------------------------------------------------------------------------------------------

class MakePositionEmbedding(Question):
    name = "q1"
    answer_name = "make_position_embedding"

    def _explain_error(self, error: Exception) -> str | None:
        if "leaf Variable that requires grad" in str(error):
            return ("A Parameter requires grad, and autograd forbids writing into it in place outside "
                    "`torch.no_grad()`. The `nn.init` functions do that for you; or draw the values first and "
                    "wrap the finished tensor in `nn.Parameter`.")
        return None

    # (num_tokens, dim): the statistics are checked size by size, since an initialisation scaled by the fan-in
    # or fan-out (Kaiming's, Xavier's) gives about 0.02 at one size and not at the others.
    CASES = [(65, 64), (17, 32), (197, 48)]

    def _check(self, make_position_embedding: Any) -> None:
        expect_callable(make_position_embedding, self.answer_name)
        stats = []
        for index, (tokens, dim) in enumerate(self.CASES):
            about = f"for num_tokens={tokens}, dim={dim}"

            def make(seed: int, tokens: int = tokens, dim: int = dim) -> Any:
                return call_leaving_alone(make_position_embedding, "`make_position_embedding`", tokens, dim,
                                          draws=("torch",), seed=seed,
                                          advice="Draw from torch's global generator, as `nn.init` does.")

            first, again, second = make(100 + index), make(100 + index), make(200 + index)
            for value in (first, again, second):
                self._check_parameter(value)
                self._check_shape(value, tokens, dim, about)
            if first is second:
                raise Wrong("Two calls returned the very same Parameter: two models built with it would share "
                            "(and both train) one table. Make a new Parameter on every call.")
            if torch.equal(first.detach(), second.detach()) and bool(first.detach().abs().max() > 0):
                raise Wrong("Two calls drew exactly the same values, from different random states: your values "
                            "do not come from torch's global generator, which the caller seeds. Draw from it "
                            "(`nn.init` does), not from a generator of your own with a fixed seed.")
            if not torch.equal(first.detach(), again.detach()):
                raise Wrong(f"Two calls {about}, each right after the same `torch.manual_seed`, gave different "
                            f"tables: your values come from something that seed does not fix (a generator of "
                            f"your own seeded from the clock or by `torch.seed()`, or another library's). Then "
                            f"no run can be repeated. Draw from torch's global generator, as `nn.init` does.")
            self._check_it_adds(first, tokens, dim)
            values = torch.cat([first.detach().flatten(), second.detach().flatten()]).double()
            stats.append((tokens, dim, values))
        self._check_initialisation(stats)

    @staticmethod
    def _check_parameter(value: Any) -> None:
        value = expect_tensor(value, "`make_position_embedding` returned")
        if isinstance(value, nn.Parameter):
            if not value.requires_grad:
                raise Wrong("Your Parameter has `requires_grad=False`: it is frozen, so training would never move "
                            "it. A learned position embedding must be trained with the rest of the model.")
        elif value.requires_grad and not value.is_leaf:
            raise Wrong("You returned the result of an operation on a Parameter (it requires grad, but it is not "
                        "a leaf and not a Parameter): a module would not register it, and the optimiser would "
                        "never update it. Compute the values first, then wrap the finished tensor in "
                        "`nn.Parameter(...)`.")
        elif value.requires_grad:
            raise Wrong("Your tensor requires grad but is not an `nn.Parameter`: assigned to a module it is not "
                        "registered, so it is not in `model.parameters()` and the optimiser never updates it. "
                        "Wrap it in `nn.Parameter(...)`.")
        else:
            raise Wrong("You returned a plain tensor: it is not learned (no `requires_grad`, not in "
                        "`model.parameters()`). A learned position embedding is an `nn.Parameter`.")
        if value.dtype != torch.float32:
            raise Wrong(f"Your Parameter is {value.dtype}; the model's weights and tokens are float32.")

    @staticmethod
    def _check_shape(value: torch.Tensor, tokens: int, dim: int, about: str) -> None:
        got = tuple(value.shape)
        if got == (1, tokens, dim):
            return
        if len(got) == 3 and got[1:] == (tokens, dim):
            raise Wrong(f"Your embedding has shape {got} {about}: a batch dimension of {got[0]}. The position "
                        f"embedding is one set of T vectors shared by every image, so its first dimension is "
                        f"1: broadcasting stretches a size-1 dimension 0 over a batch of any size when it is "
                        f"added to the tokens (B, T, D). With {got[0]} there, it fails on any other batch size "
                        f"(the last batch of an epoch is often smaller), and each slot of the batch would learn "
                        f"its own positions.")
        if got == (tokens, dim):
            raise Wrong(f"Your embedding has shape {got} {about}, without the leading 1. Added to tokens "
                        f"(B, T, D) it would broadcast correctly, so the sum is not the problem; but the "
                        f"course's ViT, like the paper's code and timm, keeps E_pos as (1, T, D), and the code "
                        f"that reads it expects that: a checkpoint's E_pos does not load into a (T, D) "
                        f"parameter, and `interpolate_position_embedding` takes `[:, :1]` as the class token's "
                        f"row, which on (T, D) is the first column of every row. Keep the leading 1.")
        if got == (1, dim, tokens):
            raise Wrong(f"Your embedding has shape {got} {about}: the last two dimensions are swapped. One "
                        f"D-vector per token: (1, T, D).")
        raise Wrong(f"Your embedding has shape {got} {about}; it should be (1, T, D) = {(1, tokens, dim)}.")

    @staticmethod
    def _check_it_adds(table: torch.Tensor, tokens: int, dim: int) -> None:
        """Added to two batch sizes, the table must broadcast, and the gradient must reach it."""
        for batch in (2, 3):
            x = randn(batch, tokens, dim, seed=batch)
            out = call_for_gradients(lambda x: x + table, "The tokens plus your embedding", x)
            expect_gradients(out, x + table, {"the embedding": table}, "The tokens plus your embedding")

    @staticmethod
    def _check_initialisation(stats: list[tuple[int, int, torch.Tensor]]) -> None:
        """The values of each size on their own: mean about 0, standard deviation about 0.02 (0.0176 for a
        normal truncated at two standard deviations)."""
        if all(float(values.abs().max()) == 0 for _, _, values in stats):
            raise Wrong("Your embedding starts at zeros. It would still learn (every row gets its own gradient, "
                        "since the patches differ), but at step 0 every position is the same and the model "
                        "starts as Table 8's bag of patches. The course's ViT, like the paper's code and timm, "
                        "starts E_pos at small random values (the prompt says which), so that positions differ "
                        "from the first step.")
        measured = [(tokens, dim, float(values.std()), float(values.mean())) for tokens, dim, values in stats]
        wrong = [(t, d, std, mean) for t, d, std, mean in measured if not 0.015 <= std <= 0.025 or abs(mean) > 0.003]
        if not wrong:
            return
        tokens, dim, std, mean = wrong[0]
        if std > 0.5:
            raise Wrong(f"Your values have a standard deviation of about {std:.2f} (num_tokens={tokens}, "
                        f"dim={dim}): far too large. The patch embeddings they are added to are small at the "
                        f"start (about 0.1 per number on the course's dots images, a token's length under 1), "
                        f"while each of your position vectors has length about {std * dim ** 0.5:.0f}. The "
                        f"position signal swamps the content: at the start the encoder sees mostly where a patch "
                        f"is, not what it shows. Use the small scale the prompt gives.")
        stds = ", ".join(f"{s:.4f} at {t} × {d}" for t, d, s, _ in measured)
        if len(wrong) < len(measured) or max(s for *_, s, _ in measured) > 1.5 * min(s for *_, s, _ in measured):
            raise Wrong(f"The standard deviation of your values changes with the table's size ({stds}): an "
                        f"initialisation scaled by the fan-in or fan-out (Kaiming's, Xavier's, PyTorch's default "
                        f"for Linear layers) rather than the fixed standard deviation the prompt gives. The "
                        f"course's ViT draws E_pos at one scale, whatever T and D.")
        raise Wrong(f"Your values have mean {mean:.4f} and standard deviation {std:.4f} (num_tokens={tokens}, "
                    f"dim={dim}, measured over thousands of entries). The course's ViT draws E_pos from a "
                    f"(truncated) normal centred on 0 with the standard deviation the prompt gives.")


q1 = MakePositionEmbedding()


# ---------------------------------------------------------------------------------------------------------
# q2: the learned 2-D table from its X and Y embeddings
# ---------------------------------------------------------------------------------------------------------

def _table_2d(first: torch.Tensor, second: torch.Tensor, by: str = "column") -> torch.Tensor:
    """Reference (defaults) and variants: patch k gets [first[c]; second[r]] with (r, c) its (row, column),
    or [first[r]; second[c]] with ``by="row"``."""
    grid = first.shape[0]
    index = torch.arange(grid * grid)
    rows, cols = index // grid, index % grid
    a, b = (cols, rows) if by == "column" else (rows, cols)
    return torch.cat([first[a], second[b]], dim=-1)[None]


def _learned_2d_reference(x_embed: torch.Tensor, y_embed: torch.Tensor) -> torch.Tensor:
    """position.py's own table, with these X and Y embeddings."""
    grid, half = x_embed.shape
    module = position.LearnedPositionEmbedding2D(grid, 2 * half, class_token=False)
    module.x_embedding, module.y_embedding = nn.Parameter(x_embed.detach()), nn.Parameter(y_embed.detach())
    return module.table().detach()


class Learned2DTable(Question):
    name = "q2"
    answer_name = "learned_2d_table"

    def _explain_error(self, error: Exception) -> str | None:
        return _explain_in_place(error)

    def _check(self, learned_2d_table: Any) -> None:
        expect_callable(learned_2d_table, self.answer_name)
        # grid != D/2 from case to case, so that a transposed table cannot pass by chance.
        for seed, (grid, half) in enumerate([(3, 4), (4, 2), (2, 5), (5, 3)]):
            x_embed, y_embed = randn(grid, half, seed=10 + seed), randn(grid, half, seed=20 + seed)
            about = f"for a {grid} × {grid} grid and X, Y tables of shape ({grid}, {half})"
            inputs = Unchanged(x_embed=x_embed, y_embed=y_embed)
            out = expect_tensor(call_leaving_alone(learned_2d_table, "`learned_2d_table`", x_embed, y_embed),
                                "`learned_2d_table` returned")
            inputs.expect(self.answer_name)
            self._check_shape(out, grid, half, about)
            self._compare(out, x_embed, y_embed)
            # The X and Y tables are parameters: the gradient must reach them, summed over the rows (columns)
            # that share them.
            x_leaf, y_leaf = x_embed.clone().requires_grad_(), y_embed.clone().requires_grad_()
            out = call_for_gradients(learned_2d_table, "The output of `learned_2d_table`", x_leaf, y_leaf)
            expect_gradients(out, _table_2d(x_leaf, y_leaf), {"x_embed": x_leaf, "y_embed": y_leaf},
                             "The output of `learned_2d_table`")

    @staticmethod
    def _check_shape(out: torch.Tensor, grid: int, half: int, about: str) -> None:
        tokens, dim = grid * grid, 2 * half
        if tuple(out.shape) in ((1, tokens, half), (tokens, half)):
            raise Wrong(f"Your table has shape {tuple(out.shape)} {about}: each position is D/2 wide. Did you add "
                        f"the X and Y embeddings? Appendix D.4 concatenates them: D/2 numbers for the column, "
                        f"D/2 for the row, D in all, so that neither axis overwrites the other.")
        _check_table_shape(out, "learned_2d_table", tokens, dim, about)

    @staticmethod
    def _compare(out: torch.Tensor, x_embed: torch.Tensor, y_embed: torch.Tensor) -> None:
        expect_close(
            out, _learned_2d_reference(x_embed, y_embed),
            mistakes=[
                (_table_2d(x_embed, y_embed, by="row"),
                 "Your rows and columns are swapped: X is the column's embedding and Y the row's, and the "
                 "tokens are in raster order (row by row), so patch k sits at row k // grid, column k % grid."),
                (_table_2d(y_embed, x_embed, by="row"),
                 "Your two halves are in the other order, [Y of the row; X of the column]. The model would "
                 "learn as well with either, but the paper (and `position.py`, which the lesson trains) "
                 "concatenates X, then Y: the first D/2 numbers encode the column."),
                (_table_2d(y_embed, x_embed),
                 "X and Y have swapped jobs in your table: you look up X by the row and Y by the column, and put "
                 "Y first. X is the column's embedding, Y the row's; the column's half comes first."),
                (x_embed.repeat(x_embed.shape[0], 2)[None],
                 "Your table only uses X: every position needs its column's X and its row's Y."),
            ],
            otherwise="Your table has the right shape, but not [X of the column; Y of the row] for every patch "
                      "in raster order. Print it for a 2 × 2 grid with X = [[0], [1]] and Y = [[10], [20]] and "
                      "check each row.",
        )


q2 = Learned2DTable()


# ---------------------------------------------------------------------------------------------------------
# q3: the fixed 2-D sine-cosine table
# ---------------------------------------------------------------------------------------------------------

def _one_axis(positions: torch.Tensor, dim: int, *, temperature: float = 10_000.0, denominator: str = "k",
              layout: str = "sin first") -> torch.Tensor:
    """Reference (defaults) and variants of one axis's code: positions (n,) -> (n, dim), float64."""
    k = dim // 2
    steps = torch.arange(k, dtype=torch.float64)
    scale = {"k": k, "k - 1": max(k - 1, 1), "dim": dim}[denominator]
    omega = temperature ** -(steps / scale)
    angles = positions.double()[:, None] * omega[None, :]
    if layout == "sin first":
        return torch.cat([angles.sin(), angles.cos()], dim=1)
    if layout == "cos first":
        return torch.cat([angles.cos(), angles.sin()], dim=1)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(len(positions), dim)  # interleaved


def _sincos_2d(grid: int, dim: int, *, order: str = "column", start: int = 0, **variant: Any) -> torch.Tensor:
    """Variants of the reference table (1, grid², dim), float64."""
    code = _one_axis(torch.arange(start, start + grid), dim // 2, **variant)
    index = torch.arange(grid * grid)
    rows, cols = index // grid, index % grid
    first, second = (cols, rows) if order == "column" else (rows, cols)
    return torch.cat([code[first], code[second]], dim=-1)[None]


class SinCos2D(Question):
    name = "q3"
    answer_name = "sincos_2d"

    def _check(self, sincos_2d: Any) -> None:
        expect_callable(sincos_2d, self.answer_name)
        shortcut = ("`sincos_2d` should compute the table itself; it called `position.sincos_table`, the "
                    "lesson's version, which the checker compares yours with.")
        for grid, dim in [(3, 8), (4, 12), (8, 64), (2, 4)]:
            about = f"for grid={grid}, dim={dim}"
            with refusing(position, "sincos_table", shortcut):
                out = expect_tensor(call_leaving_alone(sincos_2d, "`sincos_2d`", grid, dim), "`sincos_2d` returned")
            _check_table_shape(out, "sincos_2d", grid * grid, dim, about)
            if out.requires_grad:
                raise Wrong("Your table requires grad (is it an `nn.Parameter`?). The sine-cosine table is fixed: "
                            "nothing in it is learned, which is the point of comparing it with the learned ones. "
                            "Return a plain tensor (`position.py` keeps it as a buffer).")
            if out.dtype != torch.float32:
                raise Wrong(f"Your table is {out.dtype}. The tokens it is added to are float32, and adding a "
                            f"{out.dtype} table would promote them (float64 tokens then fail in the next float32 "
                            f"layer). Compute in float64 if you like, then return float32 (`.float()`).")
            self._compare(out, grid, dim)

    @staticmethod
    def _compare(out: torch.Tensor, grid: int, dim: int) -> None:
        expect_close(
            out, _SINCOS_TABLE(grid, dim)[None], atol=1e-5, rtol=1e-4,
            mistakes=[
                (lambda: _one_axis(torch.arange(grid * grid), dim)[None],
                 "Your table is 1-D sine-cosine over the raster index k = 0 .. G² - 1: one number per patch. "
                 "Then the last patch of a row and the first of the next, neighbours in the list but at "
                 "opposite edges of the image, get nearby codes. The 2-D table codes the column and the row "
                 "separately, D/2 numbers each."),
                (lambda: _sincos_2d(grid, dim, order="row"),
                 "Your rows and columns are swapped: the first D/2 numbers should encode the column "
                 "(k % grid), the last D/2 the row (k // grid)."),
                (lambda: _sincos_2d(grid, dim, layout="cos first"),
                 "Within each axis your sines and cosines are swapped: the sines come first, then the "
                 "cosines."),
                (lambda: _sincos_2d(grid, dim, layout="interleaved"),
                 "Your sines and cosines alternate (sin, cos, sin, cos, ...), the layout of \"Attention is all "
                 "you need\". The model would not care, but the lesson's table (as in MAE and the simple ViT) "
                 "puts all the sines of an axis first, then all its cosines."),
                (lambda: _sincos_2d(grid, dim, denominator="dim"),
                 "Your frequencies fall too slowly: the exponent divides by the width of one axis's code, D/2, "
                 "where it should divide by the number of frequencies, k = D/4 (each frequency gives a sine and "
                 "a cosine)."),
                (lambda: _sincos_2d(grid, dim, denominator="k - 1"),
                 "Your frequencies run all the way down to exactly 1/temperature (i / (k - 1), the convention of "
                 "big_vision's and the simple ViT's code). The lesson's table (MAE's) stops one step short: the "
                 "exponent is i / k for i = 0 .. k - 1."),
                (lambda: _sincos_2d(grid, dim, start=1),
                 "Your positions start at 1. Rows and columns are numbered from 0, as in the raster order."),
            ] + [
                (lambda t=t: _sincos_2d(grid, dim, temperature=t),
                 "Your frequencies come from another temperature (the base of the powers). The lesson's table "
                 "uses the Transformer's, 10,000, as the prompt says.")
                for t in (100.0, 1_000.0, 100_000.0, 10.0)
            ],
            otherwise="Your table has the right shape and dtype, but not the lesson's values. Check the "
                      "frequencies, the order of the sines and cosines, and which half codes the column.",
        )


q3 = SinCos2D()


# ---------------------------------------------------------------------------------------------------------
# q4: global average pooling, the head's input of a ViT without a class token
# ---------------------------------------------------------------------------------------------------------

class GapPool(Question):
    name = "q4"
    answer_name = "gap_pool"

    def _check(self, gap_pool: Any) -> None:
        expect_callable(gap_pool, self.answer_name)
        # B, N and D all differ, so that a mean over the wrong dimension shows in the shape.
        for seed, (batch, tokens, dim) in enumerate([(2, 9, 6), (3, 16, 4), (1, 4, 8), (5, 4, 3)]):
            z = randn(batch, tokens, dim, seed=40 + seed)
            norm = perturb_(nn.LayerNorm(dim, eps=1e-6), seed=50 + seed)  # scale and shift far from 1 and 0
            about = f"for z of shape {(batch, tokens, dim)}"
            inputs = Unchanged(z=z, norm=norm)
            out = expect_tensor(call_leaving_alone(gap_pool, "`gap_pool`", z, norm), "`gap_pool` returned")
            inputs.expect(self.answer_name)
            self._check_shape(out, batch, tokens, dim, about)
            self._compare(out, z, norm)
            leaf = z.clone().requires_grad_()
            out = call_for_gradients(gap_pool, "The output of `gap_pool`", leaf, norm)
            expect_gradients(out, norm(leaf).mean(dim=1), {"z": leaf, "norm.weight": norm.weight},
                             "The output of `gap_pool`")

    @staticmethod
    def _check_shape(out: torch.Tensor, batch: int, tokens: int, dim: int, about: str) -> None:
        got = tuple(out.shape)
        if got == (batch, dim):
            return
        if got == (batch, tokens):
            raise Wrong(f"`gap_pool` returned shape {got} {about}: you averaged over the D features of every "
                        f"token. Average over the tokens instead: one D-vector per image.")
        if got == (tokens, dim):
            raise Wrong(f"`gap_pool` returned shape {got} {about}: you averaged over the batch, mixing the "
                        f"images. Each image gets its own average of its own tokens.")
        if got in ((dim,), (), (1,)):
            raise Wrong(f"`gap_pool` returned shape {got} {about}: you averaged over more than the tokens. Keep "
                        f"one D-vector per image: (B, D).")
        if got == (batch, tokens, dim):
            raise Wrong(f"`gap_pool` returned shape {got} {about}: every token, not yet pooled. Average over "
                        f"the tokens: one D-vector per image.")
        if got == (batch, 1, dim):
            raise Wrong(f"`gap_pool` returned shape {got} {about}: the token dimension is still there. Pool it "
                        f"away (no `keepdim`): (B, D).")
        raise Wrong(f"`gap_pool` returned shape {got} {about}; it should be (B, D) = {(batch, dim)}.")

    @staticmethod
    def _compare(out: torch.Tensor, z: torch.Tensor, norm: nn.LayerNorm) -> None:
        with torch.no_grad():
            normed = norm(z)
            expect_close(
                out, normed.mean(dim=1),
                mistakes=[
                    (normed[:, 1:].mean(dim=1),
                     "You left token 0 out of the average, as if it were a class token. This model has none: "
                     "with GAP, `VariantViT` drops the class token altogether, so token 0 is the top-left "
                     "patch and belongs in the average."),
                    (normed[:, 0],
                     "You read token 0, as the class-token head does. This model has no class token: token 0 is "
                     "the top-left patch. Average all the tokens."),
                    (norm(z.mean(dim=1)),
                     "You averaged first and normalised the average: lesson 05's order (timm's). It is a fine "
                     "GAP head too, but not the same numbers (LayerNorm is not linear), and the model of this "
                     "lesson, like the paper's code, normalises every token first, then averages."),
                    (z.mean(dim=1),
                     "Your average skips the final LayerNorm: normalise the tokens with `norm` first."),
                    (F.layer_norm(z, z.shape[-1:], eps=norm.eps).mean(dim=1),
                     "You normalised without `norm`'s learned scale and shift (its `weight` and `bias`): "
                     "call `norm` itself on the tokens, so that the head reads what the trained LayerNorm "
                     "gives."),
                    (normed.amax(dim=1),
                     "That's max pooling: the largest value of each feature. Global *average* pooling takes the "
                     "mean over the tokens."),
                    (normed.sum(dim=1),
                     "You summed the tokens. Average them: a sum grows with the number of patches, so the head "
                     "would see other scales at another image size."),
                ],
                otherwise="Your output has the right shape, but not the mean of the normalised tokens. Apply "
                          "`norm` to every token, then average over the tokens.",
            )


q4 = GapPool()


# ---------------------------------------------------------------------------------------------------------
# q5: how many numbers does the learned 2-D table learn?
# ---------------------------------------------------------------------------------------------------------

class Learned2DCount(NumberQuestion):
    name = "q5"
    answer_name = "learned_2d_numbers"
    expected = 2 * 8 * 32
    diagnoses = {
        4_160: "That's the 1-D table of the class-token model: one D-vector per token, 64 patches and the class "
               "token. The 2-D table learns one vector per row and one per column, not one per patch.",
        4_096: "That's one D-vector per patch, the 1-D table. The 2-D table learns one vector per row and one "
               "per column, not one per patch.",
        1_024: "Either each of your X and Y embeddings is D wide (each is D/2: concatenated, they make one "
               "D-vector), or you counted one D-vector per patch of a coarser grid. The lesson's ViT cuts its 64 px "
               "images into 8 px patches.",
        256: "Two ways lead to that number: one of the two tables alone (X, say: count the Y-embedding too), or "
             "both tables for 16 px patches. The lesson's ViT cuts its 64 px images into 8 px patches.",
        2_048: "That counts an X and a Y half for every patch: 64 × 32. But a table is shared along its axis: X "
               "has one row per column of the grid, Y one per row.",
        544: "The 2-D table gives the class token nothing (it is learned itself): leave it out.",
        576: "The 2-D table gives the class token nothing (it is learned itself): leave it out.",
        16: "That's the number of vectors (8 columns and 8 rows); count the numbers in them.",
    }
    otherwise = ("Count the vectors first (one per column in X, one per row in Y), then how wide each is (the "
                 "two are concatenated into one D-vector).")


q5 = Learned2DCount()
