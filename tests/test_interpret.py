"""Tests for course_utils.interpret: the numbers behind Figure 6, Figure 7 and Appendix D.7-D.8."""

import math

import pytest
import torch

from course_utils.interpret import (
    attention_rollout,
    embedding_filter_components,
    mean_attention_distance,
    patch_distances,
    position_embedding_similarity,
    rank_correlation,
    rollout_heatmaps,
    similarity_by_distance,
)
from course_utils.vit import ViT


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_attention(layers: int, batch: int, heads: int, tokens: int) -> list[torch.Tensor]:
    scores = torch.randn(layers, batch, heads, tokens, tokens, generator=generator(1))
    return list(scores.softmax(dim=-1))


def identity_attention(layers: int, batch: int, heads: int, tokens: int) -> list[torch.Tensor]:
    return [torch.eye(tokens).expand(batch, heads, tokens, tokens).clone() for _ in range(layers)]


# embedding_filter_components ----------------------------------------------------------------------------

def test_filter_components_recover_a_known_dominant_direction():
    # 64 filters of shape (3, 4, 4): a large multiple of one known pattern plus small noise.
    direction = torch.randn(48, generator=generator(2))
    direction = direction / direction.norm()
    amounts = torch.linspace(-5, 5, 64)  # mean 0 after centring, large variance along `direction`
    noise = 0.01 * torch.randn(64, 48, generator=generator(3))
    weight = (amounts[:, None] * direction + noise + 3.0).reshape(64, 3, 4, 4)  # + 3: a mean filter to remove

    components, ratio = embedding_filter_components(weight, k=5)

    assert components.shape == (5, 3, 4, 4) and ratio.shape == (5,)
    first = components[0].flatten()
    assert abs(torch.dot(first, direction).item()) == pytest.approx(1.0, abs=1e-4)
    assert ratio[0] > 0.99  # nearly all the variance lies along it


def test_filter_components_are_orthonormal_and_sorted_by_variance():
    weight = torch.randn(192, 3, 8, 8, generator=generator(4)) * torch.linspace(0.1, 2, 192)[None, :].reshape(
        1, 3, 8, 8)  # unequal variance per pixel, so the components are well separated
    components, ratio = embedding_filter_components(weight, k=28)
    flat = components.reshape(28, -1).double()
    torch.testing.assert_close(flat @ flat.T, torch.eye(28, dtype=torch.float64), atol=1e-5, rtol=0)
    assert torch.all(ratio[:-1] >= ratio[1:])  # the first explains the most variance
    assert 0 < ratio.sum() <= 1


def test_filter_components_match_the_covariance_eigenvectors():
    weight = torch.randn(40, 1, 3, 3, generator=generator(5)).double()
    components, ratio = embedding_filter_components(weight, k=9)
    flat = weight.reshape(40, 9)
    centred = flat - flat.mean(0)
    covariance = centred.T @ centred
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending
    torch.testing.assert_close(ratio, (eigenvalues / eigenvalues.sum()).flip(0))
    for i in range(9):
        assert abs(torch.dot(components[i].flatten(), eigenvectors[:, -1 - i]).item()) == pytest.approx(1.0)


def test_filter_components_have_a_repeatable_sign():
    weight = torch.randn(32, 3, 2, 2, generator=generator(6))
    components, _ = embedding_filter_components(weight, k=4)
    flipped, _ = embedding_filter_components(-weight, k=4)  # same filters up to sign: same components
    torch.testing.assert_close(components, flipped)
    flat = components.reshape(4, -1)
    assert torch.all(flat.gather(1, flat.abs().argmax(1, keepdim=True)) > 0)


def test_filter_components_reject_bad_input():
    with pytest.raises(ValueError, match=r"\(D, C, P, P\)"):
        embedding_filter_components(torch.randn(192, 192))
    with pytest.raises(ValueError, match="k must be"):
        embedding_filter_components(torch.randn(10, 3, 2, 2), k=11)


def test_filter_components_of_a_vit_patch_embedding():
    model = ViT(img_size=32, patch_size=8, num_transformer_layers=1, embedding_dim=192, mlp_size=64,
                num_heads=3, num_classes=5)
    components, ratio = embedding_filter_components(model.patch_embedding.patcher.weight)
    assert components.shape == (28, 3, 8, 8) and ratio.shape == (28,)
    assert not components.requires_grad


# position_embedding_similarity --------------------------------------------------------------------------

def test_position_similarity_diagonal_is_one_and_symmetric():
    pos = torch.randn(1, 17, 32, generator=generator(7))
    sim = position_embedding_similarity(pos, 4)
    assert sim.shape == (4, 4, 4, 4)
    flat = sim.reshape(16, 16)
    torch.testing.assert_close(flat.diagonal(), torch.ones(16))
    torch.testing.assert_close(flat, flat.T)
    assert flat.abs().max() <= 1 + 1e-6


def test_position_similarity_drops_the_class_token_and_keeps_raster_order():
    patches = torch.randn(9, 8, generator=generator(8))
    with_class = torch.cat([torch.randn(1, 8, generator=generator(9)), patches])
    sim = position_embedding_similarity(with_class, 3)
    torch.testing.assert_close(sim, position_embedding_similarity(patches, 3))  # without a class token too
    # patch (1, 2) is raster index 5; (2, 0) is index 6
    expected = torch.nn.functional.cosine_similarity(patches[5], patches[6], dim=0)
    torch.testing.assert_close(sim[1, 2, 2, 0], expected)


def test_position_similarity_is_scale_invariant():
    pos = torch.randn(17, 16, generator=generator(10))
    scaled = pos * torch.linspace(0.5, 3, 17)[:, None]  # every embedding rescaled on its own
    torch.testing.assert_close(position_embedding_similarity(pos, 4), position_embedding_similarity(scaled, 4))


def test_position_similarity_rejects_a_wrong_grid():
    with pytest.raises(ValueError, match="5x5 grid"):
        position_embedding_similarity(torch.randn(1, 17, 8), 5)


# mean_attention_distance --------------------------------------------------------------------------------

def test_patch_distances_in_pixels():
    dist = patch_distances(2, 8)
    expected = torch.tensor([[0, 8, 8, 8 * math.sqrt(2)],
                             [8, 0, 8 * math.sqrt(2), 8],
                             [8, 8 * math.sqrt(2), 0, 8],
                             [8 * math.sqrt(2), 8, 8, 0]], dtype=torch.float64)
    torch.testing.assert_close(dist, expected)


def test_mean_attention_distance_is_zero_when_every_patch_attends_to_itself():
    distances = mean_attention_distance(identity_attention(layers=3, batch=2, heads=4, tokens=17), 4, 8)
    assert distances.shape == (3, 4)
    torch.testing.assert_close(distances, torch.zeros(3, 4))


def test_mean_attention_distance_of_uniform_attention_on_a_2x2_grid():
    # Each of the 4 patches sees itself at 0 px, two neighbours at P px and the diagonal one at P*sqrt(2) px.
    patch_size = 10
    uniform = [torch.full((2, 3, 5, 5), 1 / 5)]  # 1 layer, 2 images, 3 heads, class token + 4 patches
    by_hand = (0 + patch_size + patch_size + patch_size * math.sqrt(2)) / 4
    distances = mean_attention_distance(uniform, grid=2, patch_size=patch_size)
    torch.testing.assert_close(distances, torch.full((1, 3), by_hand))
    # Without renormalising, the class token's fifth of the weight counts as distance 0.
    raw = mean_attention_distance(uniform, grid=2, patch_size=patch_size, renormalize=False)
    torch.testing.assert_close(raw, torch.full((1, 3), by_hand * 4 / 5))


def test_mean_attention_distance_tells_heads_and_layers_apart():
    tokens = 5
    local = torch.eye(tokens).expand(1, 1, tokens, tokens)
    spread = torch.full((1, 1, tokens, tokens), 1 / tokens)
    layer = torch.cat([local, spread], dim=1)  # head 0 looks at itself, head 1 everywhere
    distances = mean_attention_distance([layer, layer.flip(1)], grid=2, patch_size=4)
    assert distances[0, 0] == 0 and distances[1, 1] == 0
    assert distances[0, 1] > 0 and distances[1, 0] == distances[0, 1]


def test_mean_attention_distance_averages_over_images_and_queries():
    attn = random_attention(layers=2, batch=3, heads=2, tokens=10)  # 3x3 grid
    distances = mean_attention_distance(attn, grid=3, patch_size=8)
    dist = patch_distances(3, 8)
    per_image = []  # layer 1, head 0
    for image in range(3):
        a = attn[1][image, 0, 1:, 1:].double()
        per_image.append(((a / a.sum(-1, keepdim=True)) * dist).sum(-1).mean())
    assert distances[1, 0].item() == pytest.approx(torch.stack(per_image).mean().item(), rel=1e-5)


def test_mean_attention_distance_rejects_a_wrong_grid():
    with pytest.raises(ValueError, match="3x3 grid"):
        mean_attention_distance(random_attention(1, 1, 1, 17), grid=3, patch_size=8)


def test_mean_attention_distance_of_a_vit():
    model = ViT(img_size=32, patch_size=8, num_transformer_layers=2, embedding_dim=24, mlp_size=32,
                num_heads=3, num_classes=5)
    attentions = model.attention_maps(torch.rand(4, 3, 32, 32, generator=generator(11)))
    distances = mean_attention_distance(attentions, grid=4, patch_size=8)
    assert distances.shape == (2, 3)
    max_distance = 8 * math.sqrt(2) * 3  # opposite corners of the 4x4 grid
    assert torch.all((distances > 0) & (distances < max_distance))


# attention_rollout --------------------------------------------------------------------------------------

def test_rollout_of_identity_attention_is_identity():
    rollout = attention_rollout(identity_attention(layers=4, batch=2, heads=3, tokens=17))
    assert rollout.shape == (2, 17, 17)
    torch.testing.assert_close(rollout, torch.eye(17).expand(2, 17, 17))


def test_rollout_rows_sum_to_one():
    rollout = attention_rollout(random_attention(layers=6, batch=3, heads=4, tokens=17))
    torch.testing.assert_close(rollout.sum(dim=-1), torch.ones(3, 17))
    assert torch.all(rollout >= 0)


def test_rollout_of_one_layer_by_hand():
    attn = random_attention(layers=1, batch=1, heads=2, tokens=5)
    fused = attn[0][0].mean(0) + torch.eye(5)
    expected = fused / fused.sum(-1, keepdim=True)
    torch.testing.assert_close(attention_rollout(attn)[0], expected)


def test_rollout_multiplies_later_layers_on_the_left():
    attn = random_attention(layers=2, batch=1, heads=1, tokens=4)
    a1 = (attn[0][0, 0] + torch.eye(4)) / 2  # rows of attention sum to 1, so + I then renormalise = halve
    a2 = (attn[1][0, 0] + torch.eye(4)) / 2
    torch.testing.assert_close(attention_rollout(attn)[0], a2 @ a1)
    assert not torch.allclose(a2 @ a1, a1 @ a2)  # the order matters


def test_rollout_discard_ratio_zeroes_the_smallest_patch_weights_but_never_the_class_token():
    attn = random_attention(layers=1, batch=1, heads=1, tokens=9)
    rollout = attention_rollout(attn, discard_ratio=0.5)[0]  # drop 4 of the 8 patch weights per row
    zeros = (rollout.clone().fill_diagonal_(0)[:, 1:] == 0).sum(-1)  # the identity refills the diagonal
    assert zeros[0] == 4 and torch.all(zeros >= 4)
    assert torch.all(rollout[:, 0] > 0)
    torch.testing.assert_close(rollout.sum(-1), torch.ones(9))
    with pytest.raises(ValueError, match="discard_ratio"):
        attention_rollout(attn, discard_ratio=1.0)


def test_rollout_heatmaps_are_the_class_token_row_scaled_to_one():
    rollout = attention_rollout(random_attention(layers=3, batch=2, heads=2, tokens=17))
    maps = rollout_heatmaps(rollout, grid=4)
    assert maps.shape == (2, 4, 4)
    row = rollout[:, 0, 1:].reshape(2, 4, 4)
    torch.testing.assert_close(maps, row / row.amax(dim=(1, 2), keepdim=True))
    big = rollout_heatmaps(rollout, grid=4, image_size=32)
    assert big.shape == (2, 32, 32)
    assert big.min() >= 0 and big.max() <= 1
    assert big[:, :4, :4].mean() == pytest.approx(maps[:, 0, 0].mean().item(), abs=0.2)  # top-left stays
    with pytest.raises(ValueError, match="5x5 grid"):
        rollout_heatmaps(rollout, grid=5)


def test_rank_correlation_of_monotonic_and_reversed_orders():
    x = torch.tensor([0.1, 0.5, 2.0, 7.0])
    assert rank_correlation(x, x ** 3) == pytest.approx(1.0)  # any increasing function: +1
    assert rank_correlation(x, -x.exp()) == pytest.approx(-1.0)


def test_rank_correlation_matches_the_textbook_formula():
    # no ties: rho = 1 - 6 sum d^2 / (n (n^2 - 1)); ranks of x 0,1,2,3,4 and of y 1,0,4,2,3: sum d^2 = 8
    x = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    y = torch.tensor([20.0, 10.0, 50.0, 30.0, 40.0])
    assert rank_correlation(x, y) == pytest.approx(1 - 6 * 8 / (5 * 24))


def test_rank_correlation_gives_ties_their_mean_rank():
    # y ties its first two values: ranks 0.5, 0.5, 2 -> Pearson of (0, 1, 2) and (0.5, 0.5, 2)
    rho = rank_correlation(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([5.0, 5.0, 9.0]))
    assert rho == pytest.approx(torch.corrcoef(torch.tensor([[0.0, 1.0, 2.0], [0.5, 0.5, 2.0]]))[0, 1].item())


def test_rank_correlation_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        rank_correlation(torch.ones(3), torch.ones(4))
    with pytest.raises(ValueError, match="constant"):
        rank_correlation(torch.arange(3.0), torch.ones(3))


def test_similarity_by_distance_averages_the_pairs_at_each_distance():
    # a 2x2 grid: 4 neighbour pairs at distance 1 (8 ordered), 2 diagonal pairs at sqrt(2) (4 ordered)
    pos = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0]])  # raster order: (0,0) (0,1) (1,0) (1,1)
    similarity = position_embedding_similarity(pos, grid=2)
    distances, means = similarity_by_distance(similarity)
    assert torch.allclose(distances, torch.tensor([1.0, 2 ** 0.5]))
    neighbours = (0.0 + 0.6 + 0.0 + (-0.6)) / 4  # (0,0)-(0,1), (0,0)-(1,0), (0,1)-(1,1), (1,0)-(1,1)
    diagonals = (-1.0 + 0.8) / 2  # (0,0)-(1,1), (0,1)-(1,0)
    assert torch.allclose(means, torch.tensor([neighbours, diagonals]))
    pixels, _ = similarity_by_distance(similarity, patch_size=8)
    assert torch.allclose(pixels, distances * 8)


def test_similarity_by_distance_counts_an_8x8_grids_distances():
    similarity = position_embedding_similarity(torch.randn(64, 16), grid=8)
    distances, means = similarity_by_distance(similarity)
    # 35 offsets 0 <= a <= b <= 7 other than (0, 0), but two pairs of them tie: 5^2 = 3^2 + 4^2 and
    # 1^2 + 7^2 = 5^2 + 5^2, so 33 distinct distances
    expected = {round((a * a + b * b) ** 0.5, 6) for a in range(8) for b in range(a, 8)} - {0.0}
    assert len(distances) == len(expected) == 33 and means.shape == (33,)
