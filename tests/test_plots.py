"""Tests for course_utils.plots: what each figure draws (axes, arrays) and the errors for bad shapes."""



import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from course_utils.plots import (
    plot_attention_heads,
    plot_embedding_filters,
    plot_feature_maps,
    plot_mean_attention_distance,
    plot_patch_grid,
    plot_position_similarity,
    plot_rollout_maps,
)


def drawn(ax) -> list[np.ndarray]:
    """The arrays of the images drawn on ``ax``, in drawing order."""
    return [np.asarray(im.get_array()) for im in ax.get_images()]


def random_image(channels: int = 3, height: int = 32, width: int = 32) -> torch.Tensor:
    return torch.rand(channels, height, width, generator=torch.Generator().manual_seed(0))


def random_attention(heads: int, tokens: int) -> torch.Tensor:
    scores = torch.randn(heads, tokens, tokens, generator=torch.Generator().manual_seed(1))
    return scores.softmax(dim=-1)


# plot_patch_grid ------------------------------------------------------------------------------------------

def test_patch_grid_draws_one_axes_per_patch_in_raster_order():
    image = random_image(3, 32, 48)  # 2 rows x 3 columns of 16 px patches
    fig = plot_patch_grid(image, 16)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6
    for index, ax in enumerate(fig.axes):
        r, c = divmod(index, 3)
        expected = image[:, 16 * r:16 * (r + 1), 16 * c:16 * (c + 1)].permute(1, 2, 0).numpy()
        (array,) = drawn(ax)
        assert array.shape == (16, 16, 3)
        np.testing.assert_allclose(array, expected)


def test_patch_grid_first_panel_is_the_top_left_patch_of_a_224px_image():
    image = random_image(3, 224, 224)
    fig = plot_patch_grid(image, 16)
    assert len(fig.axes) == 196
    np.testing.assert_allclose(drawn(fig.axes[0])[0], image[:, :16, :16].permute(1, 2, 0).numpy())
    np.testing.assert_allclose(drawn(fig.axes[-1])[0], image[:, -16:, -16:].permute(1, 2, 0).numpy())


def test_patch_grid_numbers_patches_on_the_outer_axes():
    fig = plot_patch_grid(random_image(3, 32, 48), 16)
    top_titles = [ax.get_title() for ax in fig.axes[:3]]
    left_labels = [fig.axes[0].get_ylabel(), fig.axes[3].get_ylabel()]
    assert top_titles == ["1", "2", "3"]
    assert left_labels == ["1", "4"]  # the first patch number of each row
    assert fig.axes[4].get_title() == "" and fig.axes[4].get_ylabel() == ""  # inner axes stay clean


def test_patch_grid_greyscale_image_is_drawn_in_grey():
    image = random_image(1, 32, 32)
    fig = plot_patch_grid(image, 16)
    (array,) = drawn(fig.axes[0])
    assert array.shape == (16, 16)
    np.testing.assert_allclose(array, image[0, :16, :16].numpy())
    assert fig.axes[0].get_images()[0].get_cmap().name == "gray"


def test_patch_grid_accepts_a_numpy_array_and_leaves_the_input_alone():
    image = random_image(3, 32, 32)
    before = image.clone()
    fig = plot_patch_grid(image.numpy(), 8)
    assert len(fig.axes) == 16
    assert torch.equal(image, before)


@pytest.mark.parametrize("patch_size", [5, 7, 30])
def test_patch_grid_rejects_a_patch_size_that_does_not_divide_the_image(patch_size):
    with pytest.raises(ValueError, match=f"not divisible by patch_size={patch_size}"):
        plot_patch_grid(random_image(3, 32, 32), patch_size)


def test_patch_grid_rejects_a_non_positive_patch_size():
    with pytest.raises(ValueError, match="positive"):
        plot_patch_grid(random_image(), 0)


@pytest.mark.parametrize("shape", [(1, 3, 32, 32), (32, 32, 3), (4, 32, 32), (32, 32)])
def test_patch_grid_rejects_anything_but_one_chw_image(shape):
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        plot_patch_grid(torch.rand(shape), 16)


def test_patch_grid_rejects_a_normalised_image():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plot_patch_grid(random_image() * 2 - 1, 16)


# plot_feature_maps ----------------------------------------------------------------------------------------

def test_feature_maps_draws_the_chosen_channels():
    maps = torch.randn(1, 768, 14, 14)  # a Conv2d output for one image
    fig = plot_feature_maps(maps, [0, 5, 767], ncols=2)
    assert len(fig.axes) == 3  # the unused fourth grid cell is removed
    for ax, index in zip(fig.axes, [0, 5, 767], strict=True):
        np.testing.assert_allclose(drawn(ax)[0], maps[0, index].numpy())
        assert ax.get_title() == f"map {index}"


def test_feature_maps_rejects_indices_out_of_range():
    with pytest.raises(ValueError, match=r"\[768\].*range\(768\)"):
        plot_feature_maps(torch.randn(768, 14, 14), [3, 768])
    with pytest.raises(ValueError, match="empty"):
        plot_feature_maps(torch.randn(8, 4, 4), [])
    with pytest.raises(ValueError, match=r"\(D, h, w\)"):
        plot_feature_maps(torch.randn(8, 16), [0])


# plot_attention_heads -------------------------------------------------------------------------------------

def test_attention_heads_draws_one_panel_per_head_with_the_class_token_row():
    image = random_image(3, 64, 64)  # a 4 x 4 grid of 16 px patches: N = 16, 17 tokens
    attention = random_attention(heads=3, tokens=17)
    fig = plot_attention_heads(image, attention, 16)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3
    for head, ax in enumerate(fig.axes):
        background, heatmap = drawn(ax)
        np.testing.assert_allclose(background, image.permute(1, 2, 0).numpy())
        assert heatmap.shape == (4, 4)
        np.testing.assert_allclose(heatmap, attention[head, 0, 1:].reshape(4, 4).numpy())
        assert ax.get_images()[1].get_extent() == [0, 64, 64, 0]  # stretched over the whole image
        assert ax.get_title() == f"head {head}"


def test_attention_heads_of_a_vit_layer_at_224px():
    image = random_image(3, 224, 224)
    attention = random_attention(heads=12, tokens=197)
    fig = plot_attention_heads(image, attention, 16, ncols=4)
    assert len(fig.axes) == 12
    np.testing.assert_allclose(drawn(fig.axes[11])[1], attention[11, 0, 1:].reshape(14, 14).numpy())


def test_attention_heads_non_square_grid_and_other_query():
    image = random_image(3, 32, 64)  # 2 rows x 4 columns of patches
    attention = random_attention(heads=2, tokens=9)
    fig = plot_attention_heads(image, attention, 16, query=5)
    np.testing.assert_allclose(drawn(fig.axes[1])[1], attention[1, 5, 1:].reshape(2, 4).numpy())


def test_attention_heads_rejects_attention_for_another_grid():
    image = random_image(3, 64, 64)  # 16 patches at P = 16
    with pytest.raises(ValueError, match="16 patches"):
        plot_attention_heads(image, random_attention(heads=3, tokens=197), 16)
    with pytest.raises(ValueError, match="4x4 = 16 patches"):
        plot_attention_heads(image, random_attention(heads=3, tokens=65), 16)  # computed at P = 8


def test_attention_heads_rejects_bad_shapes_and_patch_sizes():
    image = random_image(3, 64, 64)
    with pytest.raises(ValueError, match=r"\(heads, N \+ 1, N \+ 1\)"):
        plot_attention_heads(image, random_attention(3, 17)[None], 16)  # a batch, not one image
    with pytest.raises(ValueError, match=r"\(heads, N \+ 1, N \+ 1\)"):
        plot_attention_heads(image, torch.rand(3, 17, 16), 16)
    with pytest.raises(ValueError, match="not divisible by patch_size=24"):
        plot_attention_heads(image, random_attention(3, 17), 24)
    with pytest.raises(ValueError, match="query"):
        plot_attention_heads(image, random_attention(3, 17), 16, query=17)


# plot_embedding_filters -----------------------------------------------------------------------------------

def test_embedding_filters_draws_each_component_stretched_to_0_1():
    components = torch.randn(28, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    fig = plot_embedding_filters(components)
    assert len(fig.axes) == 28  # 4 rows of 7, as in the paper
    for index in (0, 13, 27):
        (array,) = drawn(fig.axes[index])
        c = components[index]
        expected = ((c - c.min()) / (c.max() - c.min())).permute(1, 2, 0).numpy()
        assert array.shape == (8, 8, 3)
        np.testing.assert_allclose(array, expected, rtol=1e-6, atol=1e-6)
        assert array.min() == 0 and array.max() == pytest.approx(1)
        assert fig.axes[index].get_title() == str(index + 1)


def test_embedding_filters_single_channel_in_grey_and_bad_shapes():
    fig = plot_embedding_filters(torch.randn(5, 1, 4, 4), ncols=3)
    assert len(fig.axes) == 5
    assert drawn(fig.axes[4])[0].shape == (4, 4)
    assert fig.axes[0].get_images()[0].get_cmap().name == "gray"
    with pytest.raises(ValueError, match=r"\(k, C, P, P\)"):
        plot_embedding_filters(torch.randn(28, 192))


# plot_position_similarity ---------------------------------------------------------------------------------

def test_position_similarity_draws_one_tile_per_patch_and_a_colour_bar():
    similarity = torch.rand(4, 4, 4, 4, generator=torch.Generator().manual_seed(3)) * 2 - 1
    fig = plot_position_similarity(similarity)
    assert len(fig.axes) == 4 * 4 + 1  # 16 tiles + the colour bar
    for r, c in [(0, 0), (1, 2), (3, 3)]:
        ax = fig.axes[r * 4 + c]
        (array,) = drawn(ax)
        np.testing.assert_allclose(array, similarity[r, c].numpy())
        assert ax.get_images()[0].get_clim() == (-1, 1)  # one shared scale
    assert fig.axes[-1].get_ylabel() == "Cosine similarity"
    assert [ax.get_title() for ax in fig.axes[:4]] == ["1", "2", "3", "4"]
    assert fig.axes[4].get_ylabel() == "2"


def test_position_similarity_rejects_a_flat_matrix():
    with pytest.raises(ValueError, match=r"\(grid, grid, grid, grid\)"):
        plot_position_similarity(torch.rand(16, 16))


# plot_mean_attention_distance -----------------------------------------------------------------------------

def test_mean_attention_distance_draws_one_dot_per_head_and_layer():
    distances = torch.tensor([[1.0, 5.0, 9.0], [2.0, 6.0, 10.0]])  # 2 layers, 3 heads
    fig = plot_mean_attention_distance(distances, reference=7.5)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.collections) == 3  # one scatter per head
    for head, collection in enumerate(ax.collections):
        np.testing.assert_allclose(collection.get_offsets(), [[1, distances[0, head]], [2, distances[1, head]]])
    (line,) = ax.get_lines()
    assert list(line.get_ydata()) == [7.5, 7.5]
    assert ax.get_xlabel() == "Network depth (layer)"
    assert ax.get_ylim()[0] == 0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["head 1", "head 2", "head 3",
                                                                   "uniform attention"]


def test_mean_attention_distance_without_reference_and_bad_shape():
    fig = plot_mean_attention_distance(torch.rand(6, 3))
    assert fig.axes[0].get_lines() == []
    with pytest.raises(ValueError, match=r"\(layers, heads\)"):
        plot_mean_attention_distance(torch.rand(6))


# plot_rollout_maps ----------------------------------------------------------------------------------------

def test_rollout_maps_draws_image_heatmap_and_overlay_per_image():
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    heatmaps = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(5))
    fig = plot_rollout_maps(images, heatmaps, titles=["a", "b", "c"])
    assert len(fig.axes) == 9  # 3 rows (input, rollout, overlay) x 3 images
    for i in range(3):
        picture = images[i].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(drawn(fig.axes[i])[0], picture)
        np.testing.assert_allclose(drawn(fig.axes[3 + i])[0], heatmaps[i].numpy())
        background, overlay = drawn(fig.axes[6 + i])
        np.testing.assert_allclose(background, picture)
        np.testing.assert_allclose(overlay, heatmaps[i].numpy())
        assert fig.axes[6 + i].get_images()[1].get_alpha() == 0.6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    assert [fig.axes[k].get_ylabel() for k in (0, 3, 6)] == ["input", "rollout", "overlay"]


def test_rollout_maps_stretches_a_patch_grid_over_the_image():
    images = torch.rand(2, 3, 32, 32)
    fig = plot_rollout_maps(images, torch.rand(2, 4, 4))
    assert fig.axes[2].get_images()[0].get_extent() == [0, 32, 32, 0]
    assert fig.axes[4].get_images()[1].get_extent() == [0, 32, 32, 0]


def test_rollout_maps_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match=r"one \(h, w\) heatmap per image"):
        plot_rollout_maps(torch.rand(2, 3, 32, 32), torch.rand(3, 4, 4))
    with pytest.raises(ValueError, match="titles"):
        plot_rollout_maps(torch.rand(2, 3, 32, 32), torch.rand(2, 4, 4), titles=["only one"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plot_rollout_maps(torch.rand(1, 3, 8, 8) * 3, torch.rand(1, 2, 2))


def test_plot_result_curves_draws_a_line_and_a_band_per_curve():
    from course_utils.plots import plot_result_curves

    curves = {"vit": [(3000, 0.5, 0.4, 0.6), (300, 0.3, 0.3, 0.35)], "cnn": [(300, 0.8, 0.7, 0.9)]}
    fig = plot_result_curves(curves, "training images", chance=1 / 3)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["vit", "cnn", "chance"]
    assert list(ax.lines[0].get_xdata()) == [300, 3000]  # sorted by x
    assert list(ax.lines[0].get_ydata()) == [0.3, 0.5]
    assert ax.get_xscale() == "log" and len(ax.collections) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="curve 'bad'"):
        plot_result_curves({"bad": [(1, 0.9, 0.95, 1.0)]}, "x")
