"""Plotting helpers for the lessons: images cut into patches, feature maps and attention maps.

Every function takes tensors (or anything ``torch.as_tensor`` accepts), checks their shapes with a clear
error, draws with matplotlib and returns the ``Figure`` without calling ``plt.show()``: a notebook draws
it on its own, a script calls ``plt.show()`` or ``fig.savefig(...)``.

Images are channels-first, as PyTorch holds them: ``(C, H, W)`` with C = 1 (greyscale) or 3 (RGB) and
values in [0, 1] (un-normalise first if a transform normalised them).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

# Values this far outside [0, 1] mean the image is still normalised (mean/std), not rounding noise.
_RANGE_TOLERANCE = 1e-3


def _as_image(image: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Check an image tensor (C, H, W) in [0, 1] and return it as float32 on the CPU, clipped to [0, 1]."""
    image = torch.as_tensor(image).detach().cpu()
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected one image of shape (C, H, W) with C = 1 or 3, got shape {tuple(image.shape)}"
                         " (for a batch, pass images[0]; for an (H, W, C) array, use .permute(2, 0, 1))")
    image = image.float()
    low, high = image.min().item(), image.max().item()
    if low < -_RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:
        raise ValueError(f"expected pixel values in [0, 1], got [{low:.3g}, {high:.3g}]; "
                         "undo the normalisation (x * std + mean) before plotting")
    return image.clamp(0, 1)


def _grid_size(image: torch.Tensor, patch_size: int) -> tuple[int, int]:
    """(rows, cols) of the patch grid of a (C, H, W) image, with a clear error if P does not divide H or W."""
    if patch_size <= 0:
        raise ValueError(f"patch_size must be a positive number of pixels, got {patch_size}")
    height, width = image.shape[-2:]
    if height % patch_size or width % patch_size:
        raise ValueError(f"image size {height}x{width} is not divisible by patch_size={patch_size}: "
                         f"the image cannot be cut into whole {patch_size}x{patch_size} patches")
    return height // patch_size, width // patch_size


def _show(ax: Axes, image: torch.Tensor, **kwargs) -> None:
    """imshow a (C, H, W) image tensor: RGB as it is, one channel in grey."""
    if image.shape[0] == 1:
        ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=1, **kwargs)
    else:
        ax.imshow(image.permute(1, 2, 0).numpy(), **kwargs)


def _panel_grid(count: int, ncols: int, panel_size: float) -> tuple[Figure, list[Axes]]:
    """A figure with ``count`` panels laid out in rows of ``ncols``; unused grid cells are removed."""
    ncols = max(1, min(ncols, count))
    nrows = -(-count // ncols)  # ceil
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, panel_size * nrows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[count:]:
        fig.delaxes(ax)
    for ax in flat[:count]:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, flat[:count]


def plot_patch_grid(image: torch.Tensor, patch_size: int, figsize: tuple[float, float] = (5, 5)) -> Figure:
    """Draw an image cut into ``patch_size`` x ``patch_size`` patches, one subplot per patch, with gaps.

    Patches are numbered 1..N in the order the ViT reads them (row by row, Eq 1's x_p^1 ... x_p^N): the
    top row is titled with its patch numbers and each row is labelled, on the left, with its first one.

    Args:
        image: (C, H, W) tensor in [0, 1], C = 1 or 3.
        patch_size: side P of each square patch; it must divide H and W.
        figsize: size of the whole figure in inches.

    Returns:
        A Figure with (H/P) * (W/P) axes; axes[i] shows patch i + 1, an array of shape (P, P, C)
        (or (P, P) for greyscale).
    """
    image = _as_image(image)
    rows, cols = _grid_size(image, patch_size)
    fig, axes = plt.subplots(rows, cols, figsize=figsize, squeeze=False,
                             gridspec_kw=dict(wspace=0.08, hspace=0.08))
    fontsize = 9 if cols <= 8 else 6
    for r in range(rows):
        for c in range(cols):
            ax = axes[r, c]
            patch = image[:, r * patch_size:(r + 1) * patch_size, c * patch_size:(c + 1) * patch_size]
            _show(ax, patch)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if r == 0:
                ax.set_title(str(c + 1), fontsize=fontsize, pad=2)
            if c == 0:
                ax.set_ylabel(str(r * cols + 1), fontsize=fontsize, rotation=0, ha="right", va="center")
    fig.suptitle(f"{rows * cols} patches of {patch_size}x{patch_size} pixels ({rows} rows x {cols} columns)",
                 fontsize=10)
    return fig


def plot_feature_maps(feature_maps: torch.Tensor, indices: Sequence[int], ncols: int = 5,
                      panel_size: float = 2.0, cmap: str = "viridis") -> Figure:
    """Draw selected channels of a stack of 2D maps, one panel each, titled with the channel index.

    Useful for the D feature maps of the patch-embedding Conv2d (one value per patch), or any other
    (channels, h, w) stack such as embedding filters.

    Args:
        feature_maps: (D, h, w) tensor (a (1, D, h, w) batch of one is accepted too).
        indices: channels to draw, each in range(D).
        ncols: panels per row.
        panel_size: side of each panel in inches.
        cmap: matplotlib colormap.

    Returns:
        A Figure with len(indices) axes; axes[j] shows feature_maps[indices[j]] as an (h, w) array.
    """
    maps = torch.as_tensor(feature_maps).detach().cpu().float()
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(f"expected feature maps of shape (D, h, w), got shape {tuple(maps.shape)}")
    indices = [int(i) for i in indices]
    if not indices:
        raise ValueError("indices is empty: pick at least one channel to draw")
    bad = [i for i in indices if not 0 <= i < maps.shape[0]]
    if bad:
        raise ValueError(f"channel indices {bad} are out of range(D) = range({maps.shape[0]})")
    fig, axes = _panel_grid(len(indices), ncols, panel_size)
    for ax, index in zip(axes, indices, strict=True):
        ax.imshow(maps[index].numpy(), cmap=cmap)
        ax.set_title(f"map {index}", fontsize=9)
    return fig


def plot_attention_heads(image: torch.Tensor, attention: torch.Tensor, patch_size: int, query: int = 0,
                         ncols: int = 4, panel_size: float = 2.5, alpha: float = 0.6,
                         cmap: str = "inferno") -> Figure:
    """Draw, for every head of one layer, how much one token attends to each patch, over the image.

    With the default ``query=0`` (the class token) panel h shows attention[h, 0, 1:], the weights the class
    token gives to the N patch tokens, reshaped to the (H/P, W/P) patch grid and stretched over the image.
    Each head's colours span its own smallest to largest weight, so compare patches within a panel.

    Args:
        image: (C, H, W) tensor in [0, 1], the image the attention was computed for.
        attention: (heads, N + 1, N + 1) attention weights A of one layer for this image (token 0 is the
            class token), e.g. ``ViT.attention_maps(x)[layer][0]``.
        patch_size: side P of the patches; N must equal (H/P) * (W/P).
        query: the token whose attention is drawn (0: the class token; i >= 1: patch i).
        ncols: panels per row.
        panel_size: side of each panel in inches.
        alpha: opacity of the heatmap over the image.
        cmap: matplotlib colormap of the heatmap.

    Returns:
        A Figure with one axes per head; in axes[h], images[0] is the image and images[1] the
        (H/P, W/P) heatmap attention[h, query, 1:].reshape(H/P, W/P).
    """
    image = _as_image(image)
    rows, cols = _grid_size(image, patch_size)
    attention = torch.as_tensor(attention).detach().cpu().float()
    if attention.ndim != 3 or attention.shape[1] != attention.shape[2]:
        raise ValueError(f"expected attention weights of one image and one layer, shape (heads, N + 1, N + 1), "
                         f"got shape {tuple(attention.shape)} (for a batch, pass attention[0])")
    tokens = attention.shape[-1]
    if tokens != rows * cols + 1:
        raise ValueError(f"attention covers {tokens} tokens (N = {tokens - 1} patches + class token), but a "
                         f"{image.shape[1]}x{image.shape[2]} image with patch_size={patch_size} has "
                         f"{rows}x{cols} = {rows * cols} patches; were they computed for another image size "
                         f"or patch size?")
    if not 0 <= query < tokens:
        raise ValueError(f"query must be a token index in range({tokens}), got {query}")
    heads = attention.shape[0]
    height, width = image.shape[1:]
    fig, axes = _panel_grid(heads, ncols, panel_size)
    who = "class token" if query == 0 else f"patch {query}"
    for head, ax in enumerate(axes):
        _show(ax, image, extent=(0, width, height, 0))
        heatmap = attention[head, query, 1:].reshape(rows, cols)
        ax.imshow(heatmap.numpy(), cmap=cmap, alpha=alpha, extent=(0, width, height, 0),
                  interpolation="nearest")
        ax.set_title(f"head {head}", fontsize=9)
    fig.suptitle(f"attention of the {who} to each patch", fontsize=10)
    return fig


# Figure 6 and Figure 7 of the paper (lesson 08); the numbers come from course_utils.interpret. -----------

def plot_embedding_filters(components: torch.Tensor, ncols: int = 7, panel_size: float = 0.9) -> Figure:
    """Figure 7 (left): principal components of the patch-embedding filters, one small image each.

    A component has no natural range (its values are signed and it has unit length), so each one is
    stretched on its own to [0, 1]: its smallest entry becomes 0 (black) and its largest 1. RGB components
    are drawn in colour, single-channel ones in grey. Panels are numbered 1..k in order of explained variance.

    Args:
        components: (k, C, P, P) with C = 1 or 3, e.g. from ``interpret.embedding_filter_components``.
        ncols: panels per row (the paper draws 28 components in 4 rows of 7).
        panel_size: side of each panel in inches.

    Returns:
        A Figure with k axes; axes[i] shows component i rescaled to [0, 1], a (P, P, C) array ((P, P) for
        C = 1).
    """
    comps = torch.as_tensor(components).detach().cpu().float()
    if comps.ndim != 4 or comps.shape[1] not in (1, 3):
        raise ValueError(f"expected components of shape (k, C, P, P) with C = 1 or 3, got shape "
                         f"{tuple(comps.shape)}")
    low = comps.amin(dim=(1, 2, 3), keepdim=True)
    high = comps.amax(dim=(1, 2, 3), keepdim=True)
    scaled = (comps - low) / (high - low).clamp_min(1e-12)
    fig, axes = _panel_grid(len(scaled), ncols, panel_size)
    for index, (ax, component) in enumerate(zip(axes, scaled, strict=True)):
        _show(ax, component, interpolation="nearest")
        ax.set_title(str(index + 1), fontsize=7, pad=1)
    fig.suptitle(f"RGB embedding filters (first {len(scaled)} principal components)", fontsize=10)
    return fig


def plot_position_similarity(similarity: torch.Tensor, panel_size: float = 0.8,
                             cmap: str = "viridis") -> Figure:
    """Figure 7 (centre): for every patch, the cosine similarity of its position embedding to all others.

    The figure is a grid x grid arrangement of tiles: the tile at row r, column c is a small grid x grid map
    of how similar patch (r, c)'s position embedding is to each patch's. All tiles share one colour scale,
    from -1 to 1, shown by the colour bar.

    Args:
        similarity: (grid, grid, grid, grid), e.g. from ``interpret.position_embedding_similarity``.
        panel_size: side of each tile in inches.
        cmap: matplotlib colormap.

    Returns:
        A Figure with grid * grid tile axes (row by row) plus one colour-bar axes, last; tile axes[r * grid + c]
        shows similarity[r, c], a (grid, grid) array.
    """
    sim = torch.as_tensor(similarity).detach().cpu().float()
    if sim.ndim != 4 or len(set(sim.shape)) != 1:
        raise ValueError(f"expected a similarity tensor of shape (grid, grid, grid, grid), got shape "
                         f"{tuple(sim.shape)} (from interpret.position_embedding_similarity)")
    grid = sim.shape[0]
    fig, axes = plt.subplots(grid, grid, figsize=(panel_size * grid + 1.0, panel_size * grid + 0.4),
                             squeeze=False, gridspec_kw=dict(wspace=0.08, hspace=0.08))
    for r in range(grid):
        for c in range(grid):
            ax = axes[r, c]
            image = ax.imshow(sim[r, c].numpy(), cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(str(c + 1), fontsize=8, pad=2)
            if c == 0:
                ax.set_ylabel(str(r + 1), fontsize=8, rotation=0, ha="right", va="center")
    colorbar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8)
    colorbar.set_label("Cosine similarity")
    fig.supxlabel("Input patch column", fontsize=9)
    fig.supylabel("Input patch row", fontsize=9)
    fig.suptitle("Position embedding similarity", fontsize=10)
    return fig


def plot_mean_attention_distance(distances: torch.Tensor, reference: float | None = None,
                                 figsize: tuple[float, float] = (5, 3.5)) -> Figure:
    """Figure 7 (right): mean attention distance against depth, one dot per head and layer.

    Args:
        distances: (layers, heads) in pixels, e.g. from ``interpret.mean_attention_distance``.
        reference: optional distance drawn as a dashed line, e.g. that of uniform attention (every patch
            attended to equally), to compare the heads with.
        figsize: size of the figure in inches.

    Returns:
        A Figure with one axes; its collections[h] holds head h's dots, at (layer, distance) with layers
        numbered 1..L.
    """
    dist = torch.as_tensor(distances).detach().cpu().float()
    if dist.ndim != 2:
        raise ValueError(f"expected distances of shape (layers, heads), got shape {tuple(dist.shape)}")
    layers, heads = dist.shape
    fig, ax = plt.subplots(figsize=figsize)
    depth = np.arange(1, layers + 1)
    for head in range(heads):
        ax.scatter(depth, dist[:, head].numpy(), s=18, label=f"head {head + 1}")
    if reference is not None:
        ax.axhline(reference, color="grey", linestyle="--", linewidth=1, label="uniform attention")
    ax.set_xticks(depth)
    ax.set_ylim(bottom=0)
    ax.set(xlabel="Network depth (layer)", ylabel="Mean attention distance (pixels)")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def plot_rollout_maps(images: torch.Tensor, heatmaps: torch.Tensor, titles: Sequence[str] | None = None,
                      panel_size: float = 1.6, alpha: float = 0.6, cmap: str = "inferno") -> Figure:
    """Figure 6: each image, its attention-rollout heatmap, and the heatmap laid over the image.

    One column per image and three rows: the input, the heatmap alone, the overlay. A heatmap smaller than
    the image (one value per patch) is stretched over the whole image.

    Args:
        images: (B, C, H, W) in [0, 1], C = 1 or 3.
        heatmaps: (B, h, w), e.g. ``interpret.rollout_heatmaps(rollout, grid, image_size)``.
        titles: optional B column titles (e.g. the predicted classes).
        panel_size: side of each panel in inches.
        alpha: opacity of the heatmap in the overlay.
        cmap: matplotlib colormap of the heatmap.

    Returns:
        A Figure with 3 * B axes, row by row: axes[i] shows image i, axes[B + i] heatmap i (an (h, w) array),
        axes[2B + i] image i (images[0]) under heatmap i (images[1]).
    """
    images = torch.as_tensor(images).detach().cpu()
    maps = torch.as_tensor(heatmaps).detach().cpu().float()
    if images.ndim != 4:
        raise ValueError(f"expected a batch of images (B, C, H, W), got shape {tuple(images.shape)}")
    if maps.ndim != 3 or maps.shape[0] != images.shape[0]:
        raise ValueError(f"expected one (h, w) heatmap per image, shape ({images.shape[0]}, h, w), got "
                         f"shape {tuple(maps.shape)}")
    count = images.shape[0]
    if titles is not None and len(titles) != count:
        raise ValueError(f"got {len(titles)} titles for {count} images")
    height, width = images.shape[-2:]
    extent = (0, width, height, 0)
    fig, axes = plt.subplots(3, count, figsize=(panel_size * count, panel_size * 3 + 0.3), squeeze=False)
    for i in range(count):
        image = _as_image(images[i])
        _show(axes[0, i], image)
        axes[1, i].imshow(maps[i].numpy(), cmap=cmap, vmin=0, vmax=1, extent=extent)
        _show(axes[2, i], image, extent=extent)
        axes[2, i].imshow(maps[i].numpy(), cmap=cmap, vmin=0, vmax=1, alpha=alpha, extent=extent)
        if titles is not None:
            axes[0, i].set_title(titles[i], fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for row, label in enumerate(["input", "rollout", "overlay"]):
        axes[row, 0].set_ylabel(label, fontsize=9)
    return fig


def plot_result_curves(curves: dict[str, Sequence[tuple[float, float, float, float]]], xlabel: str,
                       ylabel: str = "Test accuracy", log_x: bool = True, chance: float | None = None,
                       ax: Axes | None = None, figsize: tuple[float, float] = (5, 3.5)) -> Figure:
    """Figures 3-5 and 9: one line per model through its mean, with a band over the seeds' spread.

    Args:
        curves: label -> points (x, mean, lowest, highest), e.g. train size and the test accuracy's mean, min
            and max over seeds (``course_utils.experiments.summarise`` gives mean, min, max and count).
        xlabel: the x axis's label.
        ylabel: the y axis's label.
        log_x: a logarithmic x axis (training-set sizes, FLOPs, learning rates).
        chance: optional accuracy of guessing, drawn as a dashed line.
        ax: draw into these axes instead of a new figure.
        figsize: size of a new figure in inches.

    Returns:
        The Figure; its axes' lines[i] is curve i (in ``curves``' order), collections[i] its band.
    """
    for label, points in curves.items():
        if not points or any(len(p) != 4 or not p[2] <= p[1] <= p[3] for p in points):
            raise ValueError(f"curve {label!r}: expected points (x, mean, lowest, highest) with lowest <= mean "
                             f"<= highest, got {list(points)}")
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    for label, points in curves.items():
        x, mean, low, high = (np.array(v, dtype=float) for v in zip(*sorted(points), strict=True))
        (line,) = ax.plot(x, mean, marker="o", markersize=4, label=label)
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
    if log_x:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.legend(fontsize=7)
    return fig
