"""The bundled shapes dataset and create_dataloaders, including the errors on bad folders."""

import json
import os
import shutil
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from course_utils import data_setup, shapes
from course_utils.processes import fork_context
from course_utils.shapes import ShapesSpec

TINY = ShapesSpec(("circle", "square", "triangle"), train_per_class=6, test_per_class=2, seed=3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return shapes.generate_shapes(tmp_path_factory.mktemp("data") / "tiny", TINY)


def test_generation_layout_and_manifest(tiny):
    for split, count in (("train", 6), ("test", 2)):
        for name in TINY.classes:
            assert len(list((tiny / split / name).glob("*.png"))) == count
    assert json.loads((tiny / "dataset.json").read_text())["classes"] == list(TINY.classes)


def test_generation_is_deterministic(tiny, tmp_path):
    again = shapes.generate_shapes(tmp_path / "again", TINY)
    for path in (tiny / "train" / "square").glob("*.png"):
        assert path.read_bytes() == (again / "train" / "square" / path.name).read_bytes()


@pytest.mark.parametrize("workers_are", ["processes", "threads"])
def test_workers_draw_the_same_files(tmp_path, monkeypatch, workers_are):
    """From PARALLEL_FROM images on, workers draw the set in chunks: byte for byte the serial set."""
    if workers_are == "threads":
        monkeypatch.setattr(shapes, "fork_context", lambda: None)  # as on macOS and Windows
    spec = shapes.ShapesSpec(("corner", "tee"), 7, 3, img_size=32, seed=11, kind="dots")
    serial = shapes.generate_shapes(tmp_path / "serial", spec, workers=1)
    monkeypatch.setattr(shapes, "PARALLEL_FROM", 1)
    monkeypatch.setattr(shapes, "CHUNK", 3)  # several chunks per class, one of them short
    parallel = shapes.generate_shapes(tmp_path / "parallel", spec, workers=2)
    files = sorted(path.relative_to(serial) for path in serial.rglob("*") if path.is_file())
    assert files == sorted(path.relative_to(parallel) for path in parallel.rglob("*") if path.is_file())
    assert len(files) == 2 * (7 + 3) + 1  # the images and the manifest
    assert all((serial / name).read_bytes() == (parallel / name).read_bytes() for name in files)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["parallel", "serial"]  # no temp folder left


@pytest.mark.skipif(fork_context() is None, reason="workers are processes only where they can fork (Linux)")
def test_workers_are_other_processes(tmp_path, monkeypatch):
    """On Linux the workers that draw a large set, and decode it for the cache, are processes of their own:
    threads would take turns holding Python's lock."""
    drawn_by = tmp_path / "pids"
    drawn_by.mkdir()
    render_shape = shapes.render_shape

    def recording(shape, size, rng):
        (drawn_by / str(os.getpid())).touch()
        return render_shape(shape, size, rng)

    monkeypatch.setattr(shapes, "render_shape", recording)
    monkeypatch.setattr(shapes, "PARALLEL_FROM", 1)
    monkeypatch.setattr(shapes, "CHUNK", 3)
    shapes.generate_shapes(tmp_path / "data", TINY, workers=2)
    drawers = {int(path.name) for path in drawn_by.iterdir()}  # which of the 2 gets which chunk is up to them
    assert 1 <= len(drawers) <= 2 and os.getpid() not in drawers

    class Pids(torch.utils.data.Dataset):
        def __len__(self):
            return 40

        def __getitem__(self, index):
            return torch.full((1,), float(index)), os.getpid()

    monkeypatch.setattr(data_setup, "CACHE_PARALLEL_FROM", 1)
    monkeypatch.setattr(data_setup, "CACHE_BATCH", 4)
    monkeypatch.setattr(data_setup, "cpu_count", lambda: 2)
    cached = data_setup.cache_in_memory(Pids())
    assert cached.tensors[0].flatten().tolist() == list(range(40))  # in order
    decoders = set(cached.tensors[1].tolist())
    assert len(decoders) == 2 and os.getpid() not in decoders  # a DataLoader deals its batches out in turn


def test_the_cache_decoded_by_workers_is_the_serial_cache(tiny, monkeypatch):
    """Worker processes decode the same tensors, in the same order, as this process alone."""
    transform = data_setup.default_transform(16)
    serial = data_setup.cache_in_memory(data_setup.image_folder(tiny / "train", transform))  # 18: too few for workers
    monkeypatch.setattr(data_setup, "CACHE_BATCH", 4)  # 5 batches, the last one short
    torch.manual_seed(0)
    parallel = data_setup.cache_in_memory(data_setup.image_folder(tiny / "train", transform), workers=2)
    assert torch.equal(torch.get_rng_state(), torch.manual_seed(0).get_state())  # a seeded run stays the same
    assert all(torch.equal(a, b) for a, b in zip(serial.tensors, parallel.tensors, strict=True))
    assert serial.tensors[0].shape == (18, 3, 16, 16) and serial.tensors[1].dtype == parallel.tensors[1].dtype


def test_a_corrupt_image_decoded_by_a_worker_is_named(tiny, tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(tiny / "train", data)
    broken = data / "square" / "00002.png"
    broken.write_bytes(broken.read_bytes()[:40])  # truncated
    monkeypatch.setattr(data_setup, "CACHE_BATCH", 4)
    with pytest.raises(ValueError, match="could not read image .*00002.png"):
        data_setup.cache_in_memory(data_setup.image_folder(data, data_setup.default_transform(16)), workers=2)


def test_generation_draws_with_another_renderer(tmp_path, monkeypatch):
    calls = []

    def grey(shape, size, rng):
        calls.append(shape)
        return Image.new("RGB", (size, size), (128, 128, 128))

    root = shapes.generate_shapes(tmp_path / "grey", TINY, render=grey)
    assert len(calls) == len(TINY.classes) * (TINY.train_per_class + TINY.test_per_class)
    assert (np.asarray(Image.open(root / "test" / "square" / "00001.png")) == 128).all()
    monkeypatch.setattr(shapes, "PARALLEL_FROM", 1)  # and when threads draw
    root = shapes.generate_shapes(tmp_path / "grey_threads", TINY, render=grey, workers=2)
    assert len(calls) == 2 * len(TINY.classes) * (TINY.train_per_class + TINY.test_per_class)
    assert (np.asarray(Image.open(root / "train" / "circle" / "00000.png")) == 128).all()


def test_render_shape_is_high_contrast():
    image = np.asarray(shapes.render_shape("triangle", 64, np.random.default_rng(0)), dtype=float)
    assert image.shape == (64, 64, 3)
    brightness = image.mean(axis=2)
    assert brightness.max() - np.median(brightness) > 80  # a bright shape on a dark background


def dot_centres(image: Image.Image) -> np.ndarray:
    """(k, 2) x, y centres of the bright dots of a pattern image (4-connected bright pixels)."""
    bright = np.asarray(image, dtype=float).mean(axis=2) > 110
    labels, count = np.zeros(bright.shape, dtype=int), 0
    for start in zip(*np.nonzero(bright), strict=True):
        if labels[start]:
            continue
        count += 1
        stack = [start]
        while stack:
            y, x = stack.pop()
            if 0 <= y < bright.shape[0] and 0 <= x < bright.shape[1] and bright[y, x] and not labels[y, x]:
                labels[y, x] = count
                stack += [(y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)]
    return np.array([np.argwhere(labels == k)[:, ::-1].mean(axis=0) for k in range(1, count + 1)])


@pytest.mark.parametrize("seed", range(5))
def test_dot_patterns_are_four_separate_dots_in_their_arrangement(seed):
    for pattern, steps in shapes.PATTERNS.items():
        image = shapes.render_pattern(pattern, 64, np.random.default_rng([seed, len(pattern)]))
        centres = dot_centres(image)
        assert len(centres) == 4, pattern  # four dots, none touching another
        # the dots' positions, in units of the spacing, match the pattern up to the shift of its origin
        spacing = 64 * shapes.DOT_SPACING
        found = sorted(map(tuple, np.round((centres - centres.min(axis=0)) / spacing).astype(int).tolist()))
        expected = np.array(steps)
        assert found == sorted(map(tuple, (expected - expected.min(axis=0)).tolist())), pattern


def test_dots_are_smaller_than_a_patch_and_their_centres_more_than_a_patch_apart():
    # what makes the layout matter at 64 px with 8 px patches: no patch holds two whole dots
    for seed in range(20):
        for pattern in shapes.PATTERNS:
            centres = dot_centres(shapes.render_pattern(pattern, 64, np.random.default_rng([seed, 7])))
            gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1) + 100 * np.eye(4)
            assert gaps.min() > 8, (pattern, seed)
    assert 2 * 64 * shapes.DOT_RADIUS * 1.15 < 8  # the largest dot's diameter


def test_unknown_pattern_is_named():
    with pytest.raises(ValueError, match="hexagram"):
        shapes.render_pattern("hexagram", 64, np.random.default_rng(0))


def test_a_square_is_a_filled_shape_in_the_shapes_sets_and_four_dots_in_the_dots_sets(tmp_path):
    # "square" names a class of both kinds: the spec's kind, not the name, picks the drawing
    filled = shapes.generate_shapes(tmp_path / "filled", ShapesSpec(("square",), 2, 1, img_size=64, seed=5))
    dotted = shapes.generate_shapes(tmp_path / "dotted", ShapesSpec(("square",), 2, 1, img_size=64, seed=5,
                                                                     kind="dots"))
    for i in range(2):
        square = Image.open(filled / "train" / "square" / f"{i:05d}.png")
        bright = (np.asarray(square, dtype=float).mean(axis=2) > 110).mean()
        assert bright > 0.1, "a filled square covers a good part of the image"
        assert len(dot_centres(Image.open(dotted / "train" / "square" / f"{i:05d}.png"))) == 4
    assert json.loads((dotted / "dataset.json").read_text())["kind"] == "dots"


def test_an_unknown_kind_is_named(tmp_path):
    with pytest.raises(ValueError, match="sketches"):
        shapes.generate_shapes(tmp_path / "x", ShapesSpec(("square",), 1, 1, kind="sketches"))
    assert not (tmp_path / "x").exists()


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(shapes, "render_shape", broken)
    with pytest.raises(KeyboardInterrupt):
        shapes.generate_shapes(tmp_path / "x", TINY)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_while_workers_draw_leaves_nothing(tmp_path, monkeypatch):
    """Ctrl+C in the middle of a parallel draw: the workers stop and the half-drawn set is deleted."""

    class InterruptedBar:
        def update(self, n):
            raise KeyboardInterrupt

        def close(self):
            pass

    monkeypatch.setattr(shapes, "progress", lambda *args, **kwargs: InterruptedBar())
    monkeypatch.setattr(shapes, "PARALLEL_FROM", 1)
    monkeypatch.setattr(shapes, "CHUNK", 2)
    with pytest.raises(KeyboardInterrupt):
        shapes.generate_shapes(tmp_path / "x", TINY, workers=2)  # the first chunk drawn interrupts
    assert list(tmp_path.iterdir()) == []


def test_a_failing_worker_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(shapes, "PARALLEL_FROM", 1)
    spec = shapes.ShapesSpec(("corner", "hexagram"), 4, 1, img_size=32, kind="dots")  # no such pattern
    with pytest.raises(ValueError, match="hexagram"):
        shapes.generate_shapes(tmp_path / "x", spec, workers=2)
    assert list(tmp_path.iterdir()) == []


def test_get_dataset_reuses_and_refuses_foreign_folders(tmp_path, monkeypatch):
    monkeypatch.setitem(shapes.PRESETS, "tiny", TINY)
    root = shapes.get_dataset("tiny", tmp_path)
    stamp = (root / "dataset.json").stat().st_mtime_ns
    assert shapes.get_dataset("tiny", tmp_path) == root
    assert (root / "dataset.json").stat().st_mtime_ns == stamp  # not regenerated
    (tmp_path / "mine").mkdir()
    monkeypatch.setitem(shapes.PRESETS, "mine", TINY)
    with pytest.raises(FileExistsError, match="has no dataset.json"):
        shapes.get_dataset("mine", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        shapes.get_dataset("nope", tmp_path)


def test_presets_match_the_course():
    small = shapes.PRESETS["shapes_small"]
    assert len(small.classes) * small.train_per_class == 225
    assert len(small.classes) * small.test_per_class == 75
    assert not set(shapes.PRESETS["shapes_pretrain"].classes) & set(small.classes)


@pytest.mark.parametrize("cache", [False, True])
def test_create_dataloaders(tiny, cache):
    train_dl, test_dl, class_names = data_setup.create_dataloaders(
        tiny / "train", tiny / "test", data_setup.default_transform(32), batch_size=4, cache=cache)
    assert class_names == ["circle", "square", "triangle"]
    X, y = next(iter(train_dl))
    assert X.shape == (4, 3, 32, 32) and X.dtype == torch.float32 and y.shape == (4,)
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert len(train_dl.dataset) == 18 and len(test_dl.dataset) == 6


def test_memory_is_pinned_only_for_cuda(tiny, monkeypatch):
    data = data_setup.image_folder(tiny / "test", data_setup.default_transform(32))
    assert data_setup.make_dataloader(data, 2, shuffle=False).pin_memory is torch.cuda.is_available()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a machine with a GPU ...
    assert data_setup.make_dataloader(data, 2, shuffle=False).pin_memory is True
    assert data_setup.make_dataloader(data, 2, shuffle=False, device="cpu").pin_memory is False  # ... on its CPU
    assert data_setup.make_dataloader(data, 2, shuffle=False, device="cuda").pin_memory is True


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="data folder not found: .*nowhere"):
        data_setup.create_dataloaders(tmp_path / "nowhere", tmp_path, data_setup.default_transform(32), 2)


def test_empty_class_folder_is_named(tiny, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.png").write_bytes((tiny / "train" / "circle" / "00000.png").read_bytes())
    with pytest.raises(FileNotFoundError, match="class folder.* with no images.*: b"):
        data_setup.image_folder(tmp_path)


def test_corrupt_image_names_the_file(tmp_path, tiny):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    dataset = data_setup.image_folder(tmp_path, data_setup.default_transform(32))
    with pytest.raises(ValueError, match="could not read image .*broken.png"):
        dataset[0]


def test_non_image_files_are_skipped_with_a_warning(tmp_path, tiny):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes((tiny / "train" / "circle" / "00000.png").read_bytes())
    (tmp_path / "a" / "notes.txt").write_text("hello")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = data_setup.image_folder(tmp_path)
    assert len(dataset) == 1
    assert any("notes.txt" in str(w.message) for w in caught)
