"""The project's own pretrained checkpoints: they load, they are small, and they are as good as they say.

- ``data/checkpoints/vit_micro_shapes_pretrain.pt`` (lesson 07): a micro ViT on 32 px shapes, a 4x4 grid.
- ``data/checkpoints/vit_pico_dots_pretrain.pt`` (lessons 08-10): a pico ViT on 64 px dot patterns, 8x8.

Each is written by ``python -m course_utils.train ... --export`` (data/README.md gives the commands). These
tests hold for any checkpoint of that format, so a better-trained replacement passes them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from course_utils import data_setup, engine, experiments, shapes
from course_utils.predict import load_trained_model
from course_utils.vit import MODEL_CONFIGS

FOLDER = Path(__file__).resolve().parent.parent / "data" / "checkpoints"
MAX_BYTES = 10_000_000  # every checkpoint in the repository stays under 10 MB


@dataclass(frozen=True)
class Expected:
    model: str  # a key of MODEL_CONFIGS
    img_size: int
    patch_size: int
    pretrain: str  # the shapes preset it was trained on
    downstream: str  # the preset the lessons fine-tune it on
    min_accuracy: float  # on the pretrain set's test split; chance is 0.2


CHECKPOINTS = {
    "vit_micro_shapes_pretrain": Expected("micro", 32, 8, "shapes_pretrain", "shapes_small", 0.6),
    "vit_pico_dots_pretrain": Expected("pico", 64, 8, "dots_pretrain", "dots", 0.6),
}


@pytest.fixture(scope="module", params=sorted(CHECKPOINTS))
def checkpoint(request) -> tuple[Path, Expected, dict]:
    path = FOLDER / f"{request.param}.pt"
    return path, CHECKPOINTS[request.param], torch.load(path, map_location="cpu", weights_only=True)


def test_checkpoint_is_small(checkpoint) -> None:
    path, _, _ = checkpoint
    assert path.stat().st_size < MAX_BYTES


def test_checkpoint_format(checkpoint) -> None:
    _, expected, raw = checkpoint
    assert set(raw) >= {"model", "config", "class_names", "test_acc"}
    config = raw["config"]
    wanted = MODEL_CONFIGS[expected.model]
    assert {k: config[k] for k in wanted} == wanted
    assert (config["img_size"], config["patch_size"]) == (expected.img_size, expected.patch_size)
    assert config["num_classes"] == len(raw["class_names"]) == 5
    floats = {k: v.dtype for k, v in raw["model"].items() if v.is_floating_point()}
    assert floats and set(floats.values()) == {torch.float16}, "the exported weights should be fp16"
    assert 0.0 <= raw["test_acc"] <= 1.0


def test_pretrain_classes_are_not_the_downstream_task(checkpoint) -> None:
    _, expected, raw = checkpoint
    pretrain = shapes.PRESETS[expected.pretrain].classes
    downstream = shapes.PRESETS[expected.downstream].classes
    assert sorted(raw["class_names"]) == sorted(pretrain)
    assert raw["class_names"] == sorted(raw["class_names"]), "ImageFolder orders classes alphabetically"
    assert not set(raw["class_names"]) & set(downstream)


@pytest.mark.slow  # generates the 1,000 test images of the pretrain set on first use, then evaluates them
def test_reaches_its_stated_accuracy(checkpoint) -> None:
    path, expected, raw = checkpoint
    model, class_names = load_trained_model(path)
    assert class_names == raw["class_names"]
    assert next(model.parameters()).dtype == torch.float32  # fp16 on disk, fp32 in memory
    assert not model.training

    test_dir = shapes.get_dataset(expected.pretrain) / "test"  # generated on first use
    # Only the test split is decoded (1,000 images), not the 20,000 training images.
    test_data = data_setup.image_folder(test_dir, data_setup.default_transform(model.img_size))
    assert test_data.classes == class_names
    test_dataloader = data_setup.make_dataloader(data_setup.cache_in_memory(test_data), batch_size=250,
                                                 shuffle=False)
    loss_fn = torch.nn.CrossEntropyLoss()
    loss, accuracy = engine.test_step(model, test_dataloader, loss_fn, "cpu")
    assert len(test_data) == 1000
    assert accuracy == pytest.approx(raw["test_acc"], abs=0.01)
    assert accuracy >= expected.min_accuracy  # chance is 0.2
    # bf16 autocast (what --amp auto picks on a CPU or GPU with native bf16) evaluates the trained model as
    # well as fp32 does. On a CPU without native bf16 it is emulated and ~10x slower, so one batch of 250.
    first_batch = [next(iter(test_dataloader))]
    fp32_loss, fp32_accuracy = engine.test_step(model, first_batch, loss_fn, "cpu", amp="off")
    bf16_loss, bf16_accuracy = engine.test_step(model, first_batch, loss_fn, "cpu", amp="bf16")
    assert bf16_accuracy == pytest.approx(fp32_accuracy, abs=0.008)  # at most 2 of the 250 predictions change
    assert bf16_loss == pytest.approx(fp32_loss, rel=0.02)


def test_every_committed_checkpoint_is_small_and_loads() -> None:
    """Also lesson 06's two runs of the plateau experiment (kept with --save-models): a pico ViT that never left
    ln 3 and one trained with the recipe; lesson 06 measures both. And Table 8's three learned 1-D runs and lesson 09's
    three 90,000-image ViTs, which lesson 08 measures."""
    paths = sorted(FOLDER.glob("*.pt"))
    assert {"vit_pico_dots_plateau_paper_seed0.pt", "vit_pico_dots_plateau_recipe_seed0.pt",
            *(f"vit_pico_dots_recipe_long_seed{seed}.pt" for seed in range(3)),
            *(f"vit_pico_dots_large_seed{seed}.pt" for seed in range(3))} <= {p.name for p in paths}
    for path in paths:
        assert path.stat().st_size < MAX_BYTES, path
        model, class_names = load_trained_model(path)
        assert not model.training and len(class_names) == model.classifier[1].out_features


def test_the_data_scale_checkpoints_are_the_committed_runs() -> None:
    """The three 90,000-image ViTs lesson 08 measures are the data-scale runs lesson 09 reports: the same point of
    the grid and the same test accuracy as the committed results."""
    runs = {(row["model"], row["train_size"], row["seed"]): row
            for row in experiments.load_results(experiments.results_path("data_scale"))}
    grid = [point for point in experiments.EXPERIMENTS["data_scale"].points
            if (point["model"], point["train_size"]) == ("vit", 90000)]
    for point in grid:
        stored = torch.load(FOLDER / f"vit_pico_dots_large_seed{point['seed']}.pt", map_location="cpu",
                            weights_only=True)
        assert stored["point"] == point
        assert stored["test_acc"] == pytest.approx(runs[("vit", 90000, point["seed"])]["test_acc"])
