"""What a trained ViT learned: the computations behind the paper's Figure 6, Figure 7 and Appendix D.7-D.8.

Pure tensor functions (no plotting, no model calls), so they are easy to test and reuse; ``course_utils.plots``
draws their results and lesson 08 applies them to the course's pretrained checkpoint.

- ``embedding_filter_components``   Figure 7 left: principal components of the patch-embedding filters E.
- ``position_embedding_similarity`` Figure 7 centre: cosine similarity between position embeddings.
- ``similarity_by_distance``        Figure 7 centre as numbers: mean similarity at each patch distance.
- ``rank_correlation``              Spearman's rho: does one quantity fall as another grows?
- ``mean_attention_distance``       Figure 7 right / Appendix D.7: how far, in pixels, each head looks.
- ``attention_rollout``             Appendix D.8 (Abnar & Zuidema, 2020): attention through all layers.
- ``rollout_heatmaps``              Figure 6: the class token's rollout row as a heatmap over the image.

Attention tensors are what ``ViT.attention_maps(x)`` returns: a list with one ``(B, heads, N + 1, N + 1)``
tensor per layer, token 0 being the class token and tokens 1..N the patches in raster order (row by row).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "attention_rollout",
    "embedding_filter_components",
    "mean_attention_distance",
    "patch_distances",
    "position_embedding_similarity",
    "rank_correlation",
    "rollout_heatmaps",
    "similarity_by_distance",
]


def embedding_filter_components(patch_conv_weight: torch.Tensor,
                                k: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    """Figure 7 (left): the first ``k`` principal components of the learned patch-embedding filters.

    The patch embedding E (a Conv2d with kernel = stride = P) holds D filters, one per embedding dimension,
    each a (C, P, P) "image". Treat them as D samples of a C*P*P-dim vector, centre them (subtract the mean
    filter) and take the principal directions from an SVD of the centred (D, C*P*P) matrix. Each direction
    is again a (C, P, P) image: the patterns the embedding is most sensitive to.

    The sign of a principal component is arbitrary; it is fixed here so that the entry of largest magnitude
    is positive, which makes the result repeatable.

    Args:
        patch_conv_weight: (D, C, P, P) weight of the patch-embedding Conv2d,
            e.g. ``model.patch_embedding.patcher.weight``.
        k: number of components to keep, at most min(D, C*P*P).

    Returns:
        components: (k, C, P, P), orthonormal when flattened, sorted by decreasing explained variance.
        explained_variance_ratio: (k,), the share of the filters' total variance along each component.
    """
    weight = torch.as_tensor(patch_conv_weight).detach().cpu()
    if weight.ndim != 4:
        raise ValueError(f"expected a Conv2d weight of shape (D, C, P, P), got shape {tuple(weight.shape)} "
                         "(use model.patch_embedding.patcher.weight)")
    dim, channels, height, width = weight.shape
    features = channels * height * width
    if not 1 <= k <= min(dim, features):
        raise ValueError(f"k must be between 1 and min(D, C*P*P) = min({dim}, {features}), got {k}")
    filters = weight.reshape(dim, features).double()  # float64: stable small singular values
    centred = filters - filters.mean(dim=0, keepdim=True)
    _, singular_values, vh = torch.linalg.svd(centred, full_matrices=False)  # rows of vh: principal directions
    variance = singular_values ** 2
    ratio = variance / variance.sum()
    components = vh[:k]
    largest = components.gather(1, components.abs().argmax(dim=1, keepdim=True))  # (k, 1)
    components = components * torch.where(largest < 0, -1.0, 1.0).to(components)
    return (components.reshape(k, channels, height, width).to(weight.dtype),
            ratio[:k].to(weight.dtype))


def position_embedding_similarity(pos_embed: torch.Tensor, grid: int) -> torch.Tensor:
    """Figure 7 (centre): cosine similarity between the position embedding of every pair of patches.

    Args:
        pos_embed: E_pos of shape (1, N + 1, D) or (N + 1, D) with the class token first (it is dropped),
            or (N, D) / (1, N, D) without it; N must equal grid * grid.
        grid: patches per side (image size // patch size).

    Returns:
        (grid, grid, grid, grid) tensor S with S[r, c, r2, c2] = cos(E_pos of patch (r, c),
        E_pos of patch (r2, c2)); S[r, c] is the tile the paper draws at row r, column c.
    """
    pos = torch.as_tensor(pos_embed).detach().cpu().float()
    if pos.ndim == 3 and pos.shape[0] == 1:
        pos = pos[0]
    if pos.ndim != 2:
        raise ValueError(f"expected a position embedding of shape (1, N + 1, D) or (N + 1, D), "
                         f"got shape {tuple(pos.shape)}")
    patches = grid * grid
    if pos.shape[0] == patches + 1:
        pos = pos[1:]  # drop the class token's embedding
    elif pos.shape[0] != patches:
        raise ValueError(f"position embedding has {pos.shape[0]} tokens, but a {grid}x{grid} grid needs "
                         f"{patches} patches (+1 for the class token)")
    unit = F.normalize(pos, dim=-1)  # (N, D), every row of length 1
    return (unit @ unit.T).reshape(grid, grid, grid, grid)


def patch_distances(grid: int, patch_size: int, p: float = 2.0) -> torch.Tensor:
    """(N, N) distances in pixels between the centres of the patches of a grid x grid image: Euclidean, or
    the p-norm distance for another ``p`` (1: Manhattan)."""
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    centres = torch.stack([rows.flatten(), cols.flatten()], dim=1).double() * patch_size  # raster order
    return torch.cdist(centres, centres, p=p)


def similarity_by_distance(similarity: torch.Tensor, patch_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Figure 7 (centre) as numbers: the mean similarity of all pairs of patches at each distance.

    Args:
        similarity: (grid, grid, grid, grid) from ``position_embedding_similarity``.
        patch_size: distances in pixels for a patch side in pixels; 1 gives distances in patches.

    Returns:
        (distances, means): the K distinct non-zero Euclidean distances between patch centres, ascending, and
        the mean similarity over the pairs at each, both of shape (K,).
    """
    grid = similarity.shape[0]
    if similarity.ndim != 4 or set(similarity.shape) != {grid}:
        raise ValueError(f"expected a (grid, grid, grid, grid) similarity, got {tuple(similarity.shape)}")
    pairs = similarity.reshape(grid * grid, grid * grid).double()
    steps = patch_distances(grid, patch_size).round(decimals=6)  # exact ties for equal distances
    distances = torch.unique(steps)[1:]  # skip 0: a patch and itself
    means = torch.stack([pairs[steps == d].mean() for d in distances])
    return distances.float(), means.float()


def _ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 0..n-1 of a 1-D tensor; tied values share the mean of their ranks."""
    order = values.argsort()
    ranks = torch.empty_like(values, dtype=torch.float64)
    ranks[order] = torch.arange(len(values), dtype=torch.float64)
    _, group, counts = torch.unique(values, return_inverse=True, return_counts=True)
    rank_sums = torch.zeros(len(counts), dtype=torch.float64).index_add_(0, group, ranks)
    return (rank_sums / counts)[group]


def rank_correlation(x: torch.Tensor, y: torch.Tensor) -> float:
    """Spearman's rank correlation of two 1-D tensors of equal length: +1 if y grows whenever x does, -1 if
    it always falls, about 0 if the order of one says nothing about the other (ties share their mean rank)."""
    x, y = torch.as_tensor(x).flatten().double(), torch.as_tensor(y).flatten().double()
    if x.shape != y.shape or len(x) < 2:
        raise ValueError(f"need two tensors of the same length >= 2, got {len(x)} and {len(y)} values")
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    norm = rx.norm() * ry.norm()
    if norm == 0:
        raise ValueError("rank correlation is undefined when one of the tensors is constant")
    return float(rx @ ry / norm)


def _stack_layers(attentions: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
    """Attention weights of every layer as one (L, B, heads, T, T) float64 tensor on the CPU."""
    if isinstance(attentions, torch.Tensor):
        stacked = attentions.detach().cpu()
        if stacked.ndim == 4:  # one layer
            stacked = stacked.unsqueeze(0)
    else:
        if len(attentions) == 0:
            raise ValueError("attentions is empty: pass ViT.attention_maps(x), one tensor per layer")
        shapes = {tuple(a.shape) for a in attentions}
        if len(shapes) != 1:
            raise ValueError(f"all layers' attention must have the same shape, got {sorted(shapes)}")
        stacked = torch.stack([torch.as_tensor(a).detach().cpu() for a in attentions])
    if stacked.ndim != 5 or stacked.shape[-1] != stacked.shape[-2]:
        raise ValueError(f"expected attention weights of shape (B, heads, T, T) per layer, got "
                         f"{tuple(stacked.shape[1:])} (from ViT.attention_maps(x))")
    return stacked.double()


def mean_attention_distance(attentions: Sequence[torch.Tensor] | torch.Tensor, grid: int, patch_size: int,
                            renormalize: bool = True) -> torch.Tensor:
    """Figure 7 (right) / Appendix D.7: the attention-weighted mean distance, in pixels, of every head.

    For a query patch q and key patch k at distance d(q, k) between their centres, a head with patch-to-patch
    weights a(q, k) integrates information over the distance sum_k a(q, k) d(q, k). This is averaged over
    the N query patches and over the images of the batch.

    The class token has no position in the image, so its row and column are left out. With ``renormalize``
    (the default) each query's weights over the N patches are rescaled to sum to 1, so the result is a true
    average distance of the patches a head looks at; without it, the share a query gives the class token
    counts as distance 0.

    Args:
        attentions: L tensors (B, heads, N + 1, N + 1), as from ``ViT.attention_maps(x)`` (or a stacked
            (L, B, heads, N + 1, N + 1) tensor).
        grid: patches per side; N must equal grid * grid.
        patch_size: side P of a patch in pixels (distances are P times the distance in patches).
        renormalize: rescale the patch-to-patch weights of each query to sum to 1.

    Returns:
        (L, heads) mean attention distances in pixels.
    """
    attn = _stack_layers(attentions)
    tokens = attn.shape[-1]
    if tokens != grid * grid + 1:
        raise ValueError(f"attention covers {tokens} tokens, but a {grid}x{grid} grid has {grid * grid} "
                         f"patches + 1 class token = {grid * grid + 1}")
    patch_attn = attn[..., 1:, 1:]  # (L, B, heads, N, N): queries and keys are patches
    if renormalize:
        patch_attn = patch_attn / patch_attn.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    distance = patch_distances(grid, patch_size)  # (N, N)
    per_query = (patch_attn * distance).sum(dim=-1)  # (L, B, heads, N)
    return per_query.mean(dim=(1, 3)).float()  # average over images and queries: (L, heads)


def attention_rollout(attentions: Sequence[torch.Tensor] | torch.Tensor,
                      discard_ratio: float = 0.0) -> torch.Tensor:
    """Appendix D.8: Attention Rollout (Abnar & Zuidema, 2020, arXiv 2005.00928).

    Per layer: average the heads, add the identity (the residual connection carries every token's own
    information past the attention), renormalise each row to sum to 1; then multiply the layers together,
    rollout = Â_L ... Â_2 Â_1. Row i of the result says how much of token i's final representation
    comes from each input token; row 0 (the class token) over the patches gives Figure 6's maps.

    Args:
        attentions: L tensors (B, heads, T, T), as from ``ViT.attention_maps(x)``.
        discard_ratio: before adding the identity, zero this fraction of the smallest weights in each row
            (never the class token's column): a denoising trick of popular rollout code
            (jacobgil/vit-explain), not part of the paper. 0 keeps every weight.

    Returns:
        (B, T, T) rollout matrices; every row sums to 1.
    """
    if not 0.0 <= discard_ratio < 1.0:
        raise ValueError(f"discard_ratio must be in [0, 1), got {discard_ratio}")
    attn = _stack_layers(attentions)  # (L, B, heads, T, T)
    tokens = attn.shape[-1]
    identity = torch.eye(tokens, dtype=attn.dtype)
    rollout = identity.expand(attn.shape[1], tokens, tokens)
    drop = int(discard_ratio * (tokens - 1))  # weakest links dropped per row (never the class token's)
    for layer in attn:
        fused = layer.mean(dim=1)  # average the heads: (B, T, T)
        if drop > 0:
            smallest = fused[..., 1:].topk(drop, dim=-1, largest=False).indices + 1  # skip column 0
            fused = fused.scatter(-1, smallest, 0.0)
        fused = fused + identity
        fused = fused / fused.sum(dim=-1, keepdim=True)
        rollout = fused @ rollout  # this layer acts after the ones already rolled out
    return rollout.float()


def rollout_heatmaps(rollout: torch.Tensor, grid: int, image_size: int | None = None) -> torch.Tensor:
    """Figure 6's maps: the class token's rollout over the patches, scaled to a maximum of 1 per image.

    Args:
        rollout: (B, N + 1, N + 1) from ``attention_rollout``.
        grid: patches per side; N must equal grid * grid.
        image_size: if given, the maps are upsampled (bilinear) from (grid, grid) to (image_size, image_size)
            so they can be laid over the image.

    Returns:
        (B, grid, grid), or (B, image_size, image_size), with values in [0, 1].
    """
    rollout = torch.as_tensor(rollout).detach().cpu().float()
    if rollout.ndim != 3 or rollout.shape[-1] != grid * grid + 1:
        raise ValueError(f"expected rollout of shape (B, {grid * grid + 1}, {grid * grid + 1}) for a "
                         f"{grid}x{grid} grid, got {tuple(rollout.shape)}")
    maps = rollout[:, 0, 1:].reshape(-1, grid, grid)  # class token row, patches only
    maps = maps / maps.amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
    if image_size is not None:
        maps = F.interpolate(maps.unsqueeze(1), size=(image_size, image_size), mode="bilinear",
                             align_corners=False).squeeze(1).clamp(0, 1)
    return maps
