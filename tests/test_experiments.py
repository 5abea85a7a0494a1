"""course_utils.experiments: the points and their schedule, the position-embedding and pooling variants, the
shuffle probe, a point trained end to end on a tiny dots set, and the resumable command-line runner."""

import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from course_utils import engine, flops, last_block, optim, shapes
from course_utils import experiments as E
from course_utils.experiments import __main__ as cli
from course_utils.experiments import models, runner
from course_utils.experiments import position as P
from course_utils.pretrained import export_checkpoint
from course_utils.vit import MODEL_CONFIGS, ViT

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(img_size=32, patch_size=8, num_transformer_layers=2, embedding_dim=32, mlp_size=64, num_heads=2,
            mlp_dropout=0.0, embedding_dropout=0.0, num_classes=3)  # a 4x4 grid of patches
# a tiny point: 32 px, 12 training images, 3 steps of 4 images
SMALL = dict(img_size=32, train_size=12, batch_size=4, min_steps=3, min_epochs=1)


@pytest.fixture(scope="module")
def dots(tmp_path_factory):
    """A tiny dots set (the classes of the ``dots`` preset) at 32 px: 8 train and 4 test images per class."""
    spec = shapes.ShapesSpec(shapes.PRESETS["dots"].classes, train_per_class=8, test_per_class=4, img_size=32, kind="dots")
    return shapes.generate_shapes(tmp_path_factory.mktemp("data") / "dots", spec)


def variant(position, pooling="cls", seed=0):
    torch.manual_seed(seed)
    return P.VariantViT(position=position, pooling=pooling, **TINY).eval()


# ---------------------------------------------------------------------------------------- points, grids


def test_a_point_has_every_setting_in_one_order():
    point = E.make_point(lr=3e-4, model="resnet", seed=2)
    assert list(point) == list(E.DEFAULTS)
    assert point["lr"] == 3e-4 and point["seed"] == 2
    assert point["position"] is None and point["pooling"] is None  # nothing to choose in a ResNet
    assert E.make_point(**point) == point
    with pytest.raises(ValueError, match="unknown settings"):
        E.make_point(learning_rate=1e-3)
    with pytest.raises(ValueError, match="only the plain ViT"):
        E.make_point(model="hybrid", pooling="gap")


def test_the_schedule_rule():
    """At least min_steps steps and min_epochs whole epochs: (epochs, steps per epoch) for the data-scale sizes."""
    got = {size: E.schedule(E.make_point(train_size=size)) for size in (300, 900, 3000, 9000)}
    assert got == {300: (120, 5), 900: (40, 15), 3000: (13, 47), 9000: (6, 141)}
    for epochs, per_epoch in got.values():
        assert epochs * per_epoch >= E.DEFAULTS["min_steps"] and epochs >= E.DEFAULTS["min_epochs"]


def test_the_experiments_grids():
    data_scale = E.EXPERIMENTS["data_scale"].points
    assert len(data_scale) == 5 * 4 * 2 + 1  # 5 sizes, 4 models, 2 seeds each, and a third seed for...
    assert {p["model"] for p in data_scale} == set(E.MODELS)
    seeds = {(p["model"], p["train_size"]): set() for p in data_scale}
    for p in data_scale:
        seeds[p["model"], p["train_size"]].add(p["seed"])
    assert seeds.pop(("vit", 90_000)) == {0, 1, 2}  # ...the ViT on the largest set, whose models lesson 08 reads
    assert all(value == {0, 1} for value in seeds.values())
    sizes = sorted({p["train_size"] for p in data_scale})
    assert len(sizes) >= 5 and sizes[-1] / sizes[0] >= 100 and sizes[-1] >= 90_000  # issue: 5 sizes over 100x
    assert {p["lr"] for p in data_scale if p["model"] == "vit_pretrained"} == {E.FINE_TUNE_LR}
    assert {p["lr"] for p in data_scale if p["model"] == "vit"} == {5e-4}  # the take-off study's choice
    assert all((p["position_std"], p["position_lr_scale"]) == (0.2, 10.0) for p in data_scale if p["model"] == "vit")
    # the same budget of steps at every size (four passes over the largest), give or take whole epochs
    steps = {(p["model"], p["train_size"]): math.prod(E.schedule(p)) for p in data_scale}
    assert steps["vit", 90_000] == 4 * 1407
    assert all(5628 <= n <= 5640 for (model, _), n in steps.items() if model != "vit_pretrained")
    # the fine-tuned ViT on a quarter of it (one pass over the largest): it runs to the end on the larger sets
    assert all(1407 <= n <= 1410 for (model, _), n in steps.items() if model == "vit_pretrained")
    assert all(p["dataset"] == "dots_large" for p in data_scale)
    assert shapes.PRESETS["dots_large"].train_per_class * 3 >= sizes[-1]
    positions = E.EXPERIMENTS["position_embeddings"].points
    assert [p["position"] for p in positions[::3]] == list(P.POSITIONS) and len(positions) == 15
    assert all(p["position_std"] == 0.2 and p["position_lr_scale"] == 10 for p in positions)  # the recipe
    plateau = E.EXPERIMENTS["plateau"].points
    assert {(p["position_std"], p["position_lr_scale"]) for p in plateau} == {(0.02, 1.0), (0.2, 10.0)}
    assert len(plateau) == 6 and {p["seed"] for p in plateau} == {0, 1, 2}
    # the plateau's recipe runs are Table 8's learned 1-D runs on a schedule half as long
    table_8_1d = [{**p, "min_steps": 2000} for p in positions if p["position"] == "learned_1d"]
    assert [p for p in plateau if p["position_std"] == 0.2] == table_8_1d
    assert {p["min_steps"] for p in positions} == {4000} and {p["min_steps"] for p in plateau} == {2000}
    pooling = E.EXPERIMENTS["pooling_lr"].points
    assert {(p["pooling"], p["lr"]) for p in pooling} == {(k, lr) for k in ("cls", "gap")
                                                         for lr in (3e-4, 5e-4, 8e-4, 2e-3)}
    assert len(pooling) == 40 and {p["seed"] for p in pooling} == {0, 1, 2, 3, 4}
    # Figure 9 runs on Table 8's fixed sine-cosine table, on the plateau's schedule (half of Table 8's)
    table_8_sincos = next(p for p in positions if p["position"] == "sincos_2d")
    assert all(p == {**table_8_sincos, "pooling": p["pooling"], "lr": p["lr"], "seed": p["seed"], "min_steps": 2000,
                     "position_std": 0.02, "position_lr_scale": 1.0,  # a fixed table: nothing for RECIPE to do
                     "stop_train_acc": 0.98}  # 98%, to keep the grid under 4 h (grids.py)
               for p in pooling)
    assert E.schedule(pooling[0]) == (15, 141)  # 2,115 steps
    for experiment in E.EXPERIMENTS.values():
        keys = [json.dumps(p, sort_keys=True) for p in experiment.points]
        assert len(set(keys)) == len(keys)  # no point twice
        assert all(E.make_point(**p) == p for p in experiment.points)


def test_grid_with_other_seeds_and_reduced():
    experiment = E.EXPERIMENTS["pooling_lr"]
    grid = experiment.grid(seeds=[5, 6, 7])
    assert len(grid) == 8 * 3 and [p["seed"] for p in grid[:4]] == [5, 6, 7, 5]
    fast = experiment.grid(fast=True)
    assert fast == [E.reduced(p) for p in experiment.points]
    sizes = [E.reduced(E.make_point(train_size=s))["train_size"] for s in (300, 900, 3000, 9000)]
    assert sizes == [30, 90, 300, 900]  # a tenth, still distinct and class-balanced
    small = E.reduced(E.make_point())
    assert small["min_steps"] == 30 and small["min_epochs"] == 1
    steps = [E.reduced(E.make_point(min_steps=s))["min_steps"] for s in (2000, 4000)]
    assert steps == [100, 100]  # a twentieth, at most REDUCED_MAX_STEPS: Table 8's reduced runs stay 105 steps
    assert {k: v for k, v in small.items() if k not in ("train_size", "min_steps", "min_epochs")} == \
           {k: v for k, v in E.make_point().items() if k not in ("train_size", "min_steps", "min_epochs")}


# ------------------------------------------------------------------------------------------------- data


def test_balanced_subsets_are_seeded_and_nested():
    labels = torch.arange(3).repeat_interleave(10)[torch.randperm(30, generator=torch.Generator().manual_seed(0))]
    small, large = E.balanced_subset(labels, 6, seed=1), E.balanced_subset(labels, 15, seed=1)
    assert torch.bincount(labels[small]).tolist() == [2, 2, 2]
    assert torch.bincount(labels[large]).tolist() == [5, 5, 5]
    assert set(small.tolist()) <= set(large.tolist())
    assert torch.equal(small, E.balanced_subset(labels, 6, seed=1))
    assert not torch.equal(small, E.balanced_subset(labels, 6, seed=2))
    with pytest.raises(ValueError, match="multiple"):
        E.balanced_subset(labels, 7, seed=0)


def test_shuffle_patches_moves_whole_patches():
    grid, size = 4, 8
    # patch i (raster order) is filled with the value i
    images = torch.arange(grid * grid).float().reshape(1, 1, grid, grid)
    images = images.repeat_interleave(size, dim=2).repeat_interleave(size, dim=3).expand(2, 3, -1, -1)
    order = E.probe_permutation(grid * grid)
    assert not torch.equal(order, torch.arange(grid * grid)) and torch.equal(order, E.probe_permutation(16))
    shuffled = E.shuffle_patches(images, size, order)
    assert shuffled.shape == images.shape
    values = shuffled[0, 0, ::size, ::size].flatten()  # one pixel per patch
    assert torch.equal(values, order.float())  # place i holds patch order[i]
    assert torch.equal(E.shuffle_patches(shuffled, size, torch.argsort(order)), images)


# ---------------------------------------------------------------------------------- position embeddings


@pytest.mark.parametrize("pooling", P.POOLINGS)
@pytest.mark.parametrize("position", P.POSITIONS)
def test_every_variant_gives_logits_and_gradients(position, pooling):
    model = variant(position, pooling).train()
    logits = model(torch.rand(2, 3, 32, 32))
    assert logits.shape == (2, 3)
    logits.square().sum().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_no_position_embedding_with_gap_cannot_see_where_patches_are():
    images = torch.rand(2, 3, 32, 32)
    order = E.probe_permutation(16)
    model = variant("none", "gap")
    with torch.no_grad():
        assert torch.allclose(model(images), model(E.shuffle_patches(images, 8, order)), atol=1e-5)
        learned = variant("learned_1d", "gap")
        assert not torch.allclose(learned(images), learned(E.shuffle_patches(images, 8, order)), atol=1e-4)
    assert sum(p.numel() for p in model.position.parameters()) == 0


def test_sincos_is_fixed():
    a, b = variant("sincos_2d", seed=0), variant("sincos_2d", seed=1)
    assert list(a.position.parameters()) == []
    assert not any(k.startswith("position.") for k in a.state_dict())  # nothing learned, nothing saved
    assert torch.equal(a.position.table(), b.position.table())
    table = a.position.table()[0, 1:].reshape(4, 4, 32)  # [row, column, D]; the class token gets zeros
    assert torch.equal(a.position.table()[0, 0], torch.zeros(32))
    assert torch.equal(table[0, :, :16], table[3, :, :16])  # first half: the column's code
    assert torch.equal(table[:, 0, 16:], table[:, 3, 16:])  # second half: the row's code
    assert torch.allclose(table[0, 0], torch.tensor([0.0] * 8 + [1.0] * 8 + [0.0] * 8 + [1.0] * 8))


def test_learned_2d_concatenates_an_x_and_a_y_embedding():
    model = variant("learned_2d")
    assert model.position.x_embedding.shape == model.position.y_embedding.shape == (4, 16)  # D/2 each
    table = model.position.table()[0, 1:].reshape(4, 4, 32)
    assert torch.equal(table[2, 1], torch.cat([model.position.x_embedding[1], model.position.y_embedding[2]]))
    assert torch.equal(table[0, 1, :16], table[3, 1, :16]) and torch.equal(table[2, 0, 16:], table[2, 3, 16:])


def test_relative_bias_depends_only_on_the_offset():
    model = variant("relative")
    attention = model.transformer_encoder[0].msa_block.multihead_attn
    assert isinstance(attention, P.RelativeMultiheadSelfAttention)
    tokens = 17  # 16 patches and the class token
    assert attention.relative_keys.shape == (2, 2 * tokens - 1, 16)
    q = torch.randn(16).expand(1, 2, tokens, 16)  # the same query at every position
    bias = attention.relative_logits(q)[0, 0]
    for offset in range(-tokens + 1, tokens):
        diagonal = torch.diagonal(bias, offset=-offset)  # the entries (i, j) with i - j = offset
        assert torch.allclose(diagonal, diagonal[0].expand_as(diagonal))
    q = torch.randn(1, 2, tokens, 16)  # any query: q_i . r_(i-j) / sqrt(D_h)
    i, j, h = 5, 12, 1
    expected = q[0, h, i] @ attention.relative_keys[h, i - j + tokens - 1] / 4
    assert torch.allclose(attention.relative_logits(q)[0, h, i, j], expected, atol=1e-6)
    maps = model.attention_maps(torch.rand(2, 3, 32, 32))  # lesson 08's tools work on the variant
    assert len(maps) == 2 and maps[0].shape == (2, 2, tokens, tokens)
    assert torch.allclose(maps[0].sum(dim=-1), torch.ones(2, 2, tokens))


def test_learned_1d_with_a_class_token_is_the_course_vit():
    vit = ViT(**TINY).eval()
    model = variant("learned_1d")
    state = {("position.embedding" if k == "position_embedding" else k): v for k, v in vit.state_dict().items()}
    model.load_state_dict(state)
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(images), vit(images), atol=1e-6)


def test_gap_against_class_token_pooling():
    images = torch.rand(2, 3, 32, 32)
    gap, cls = variant("learned_1d", "gap"), variant("learned_1d", "cls")
    assert not hasattr(gap, "class_embedding") and gap.position.table().shape == (1, 16, 32)
    assert cls.position.table().shape == (1, 17, 32)
    with torch.no_grad():
        z = gap.forward_features(images)
        assert z.shape == (2, 16, 32)  # patches only
        assert torch.allclose(gap(images), gap.classifier[1](gap.classifier[0](z).mean(dim=1)), atol=1e-6)
        z = cls.forward_features(images)
        assert z.shape == (2, 17, 32)
        assert torch.allclose(cls(images), cls.classifier(z[:, 0]), atol=1e-6)


def test_embeddings_are_not_weight_decayed():
    def no_decay_names(model):
        optimizer = optim.make_optimizer(model, 1e-3, 0.05, "cpu")
        ids = {id(p) for p in optimizer.param_groups[1]["params"]}
        assert optimizer.param_groups[1]["weight_decay"] == 0.0
        return {name for name, p in model.named_parameters() if id(p) in ids}

    assert {"position.x_embedding", "position.y_embedding"} <= no_decay_names(variant("learned_2d"))
    assert "transformer_encoder.0.msa_block.multihead_attn.relative_keys" in no_decay_names(variant("relative"))
    assert "position.embedding" in no_decay_names(variant("learned_1d", "gap"))
    hybrid = E.build_model(E.make_point(model="hybrid", img_size=32), 3)
    assert {"vit.position_embedding", "vit.class_embedding"} <= no_decay_names(hybrid)


@pytest.mark.parametrize("position", ["learned_1d", "learned_2d", "relative"])
def test_the_recipe_draws_and_speeds_up_every_learned_table(position):
    model = variant(position)
    torch.manual_seed(1)
    names = optim.init_position_embedding(model, std=0.2)
    tables = [p for name, p in model.named_parameters() if name in names]
    assert tables and all(0.1 < float(t.detach().std()) < 0.25 for t in tables)  # truncated at 2 std: a little below 0.2
    optimizer = optim.make_optimizer(model, 1e-3, 0.05, "cpu", position_lr_scale=10)
    fast = optimizer.param_groups[2]
    assert fast["lr"] == pytest.approx(1e-2) and fast["weight_decay"] == 0.0
    assert {id(p) for p in fast["params"]} == {id(p) for p in tables}
    grouped = [id(p) for group in optimizer.param_groups for p in group["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())  # every parameter exactly once


def test_set_up_training_seeds_the_model_and_applies_the_recipe():
    recipe = E.make_point(img_size=32, seed=3, **E.RECIPE)
    model, optimizer, scheduler, loss_fn = E.set_up_training(recipe, 3, steps=100)
    again, *_ = E.set_up_training(recipe, 3, steps=100)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values(),
                                                     strict=True))
    assert 0.1 < float(model.position_embedding.detach().std()) < 0.25  # redrawn at the recipe's 0.2
    peaks = [group["initial_lr"] for group in optimizer.param_groups]  # before the warmup scales them
    assert peaks[0] == recipe["lr"] and peaks[2] == pytest.approx(10 * recipe["lr"])
    assert scheduler.last_epoch == 0
    assert loss_fn.label_smoothing == E.LABEL_SMOOTHING
    paper, *_ = E.set_up_training(E.make_point(img_size=32, seed=3), 3, steps=100)
    assert float(paper.position_embedding.detach().std()) < 0.03  # the paper's 0.02, untouched


def test_sincos_and_none_have_nothing_to_draw():
    assert optim.init_position_embedding(variant("sincos_2d"), std=0.2) == []
    assert optim.init_position_embedding(variant("none"), std=0.2) == []


# ----------------------------------------------------------------------------------------- run a point


def test_a_point_trains_and_returns_every_metric(dots):
    point = E.make_point(position="none", pooling="gap", **SMALL)
    metrics = E.run_point(point, data_root=dots, device="cpu")
    assert list(metrics) == ["test_acc", "train_acc", "shuffle_acc", "test_loss", "train_loss", "train_losses",
                             "train_accs", "train_flops", "train_s", "wall_s", "epochs", "steps",
                             "steps_per_round", "scheduled_steps", "params", "precision", "device"]
    assert metrics["train_losses"][-1] == metrics["train_loss"] and len(metrics["train_accs"]) == 1
    for key in ("test_acc", "train_acc", "shuffle_acc"):
        assert 0.0 <= metrics[key] <= 1.0
    # the probe: with no position embedding and GAP, shuffling the patches changes nothing
    assert metrics["shuffle_acc"] == metrics["test_acc"]
    assert (metrics["epochs"], metrics["steps"]) == (1, 3) and metrics["precision"] == "fp32"
    assert math.isfinite(metrics["train_loss"]) and metrics["test_loss"] > 0
    assert 0 < metrics["train_s"] <= metrics["wall_s"]
    model = E.build_model(point, 3)
    assert metrics["params"] == sum(p.numel() for p in model.parameters())
    assert metrics["train_flops"] == flops.training_flops(model, (3, 32, 32), 12, 1) == E.estimate_flops([point])


@pytest.mark.parametrize(("position", "shortcut"), [("learned_1d", True), ("sincos_2d", False)])
def test_a_plain_vit_trains_through_the_class_token_shortcut(dots, monkeypatch, position, shortcut):
    """A plain ViT trains and is evaluated with its last block on the class token alone (the same logits, fewer
    FLOPs); a variant does not take it. Either way ``train_flops`` counts every token through every block."""
    calls = []
    real = last_block.class_token_through

    def counted(block, z):
        calls.append(z.shape)
        return real(block, z)

    monkeypatch.setattr(last_block, "class_token_through", counted)
    point = E.make_point(position=position, **SMALL)
    metrics = E.run_point(point, data_root=dots, device="cpu")
    # 3 training steps, then the test, train and shuffled sets in one batch of 256 each
    assert len(calls) == (3 + 3 if shortcut else 0)
    assert metrics["train_flops"] == flops.training_flops(E.build_model(point, 3), (3, 32, 32), 12, 1)


@pytest.mark.parametrize("model", ["resnet", "hybrid", "vit_pretrained"])
def test_the_other_models_train(model, dots, tmp_path, monkeypatch):
    torch.manual_seed(0)
    pretrained = ViT(img_size=32, patch_size=8, num_classes=5, **MODEL_CONFIGS["pico"])
    path = export_checkpoint(pretrained, pretrained.config, list("abcde"), 0.5, tmp_path / "pico.pt")
    monkeypatch.setattr(models, "pretrained_path", lambda: path)
    point = E.make_point(model=model, **SMALL)
    metrics = E.run_point(point, data_root=dots, device="cpu")
    assert 0.0 <= metrics["test_acc"] <= 1.0 and metrics["train_flops"] > 0 and metrics["steps"] == 3
    if model == "vit_pretrained":  # the pretrained weights, a new head of 3 classes
        built = E.build_model(point, 3)
        assert torch.equal(built.patch_embedding.patcher.weight, pretrained.patch_embedding.patcher.weight.half().float())
        assert built.classifier[1].out_features == 3


def test_fast_runs_the_reduced_point(dots):
    point = E.make_point(train_size=120, min_steps=40, min_epochs=4, img_size=32, batch_size=4)
    small = E.reduced(point)
    assert (small["train_size"], small["min_steps"], small["min_epochs"]) == (12, 2, 1)
    metrics = E.run_point(point, data_root=dots, device="cpu", fast=True)
    assert (metrics["epochs"], metrics["steps"]) == (1, 3)  # 12 images in batches of 4, one epoch


# ---------------------------------------------------------------------------------------- the runner


def tiny_experiment(seeds=(0, 1)):
    points = tuple(E.make_point(lr=lr, seed=seed, **SMALL) for lr in (1e-3, 3e-3) for seed in seeds)
    return E.Experiment("tiny", "two learning rates, two seeds", points)


def fake_run_point(calls, fail_at=None):
    """A stand-in for run_point: metrics computed from the settings; raises KeyboardInterrupt at call fail_at."""

    def run(point, **kwargs):
        calls.append(point)
        if len(calls) == fail_at:
            raise KeyboardInterrupt
        return {"test_acc": point["lr"] * 100 + point["seed"] / 10, "wall_s": 1.0}

    return run


def test_the_cli_writes_json_and_resumes_after_a_kill(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(E.EXPERIMENTS, "tiny", tiny_experiment())
    calls = []
    monkeypatch.setattr(runner, "run_point", fake_run_point(calls, fail_at=3))
    out = tmp_path / "tiny.json"
    with pytest.raises(KeyboardInterrupt):  # killed during the third point
        cli.main(["tiny", "--out", str(out), "--quiet"])
    assert len(json.loads(out.read_text())["points"]) == 2
    assert [p["seed"] for p in calls[:2]] == [0, 0]  # seed by seed: every setting once first

    calls.clear()
    monkeypatch.setattr(runner, "run_point", fake_run_point(calls))
    assert cli.main(["tiny", "--out", str(out), "--quiet"]) == 0
    assert len(calls) == 2  # only the two points not in the file
    printed = capsys.readouterr().out
    assert "ran 2 points, 2 already in" in printed and "total time" in printed
    assert re.search(r"\[INFO\] machine: cpu, CPU capability \w+, \d+ threads?, torch", printed), printed

    once = tmp_path / "once.json"
    assert cli.main(["tiny", "--out", str(once), "--quiet"]) == 0
    assert out.read_text() == once.read_text()  # the same file as a run that was never killed
    content = json.loads(out.read_text())
    assert set(content) == {"experiment", "description", "machine", "points"}
    assert content["machine"]["threads"] == torch.get_num_threads() and "cpu_capability" in content["machine"]
    settings = [p["settings"] for p in content["points"]]
    assert all(list(s) == list(E.DEFAULTS) for s in settings)
    assert [(s["lr"], s["seed"]) for s in settings] == [(1e-3, 0), (1e-3, 1), (3e-3, 0), (3e-3, 1)]

    calls.clear()
    assert cli.main(["tiny", "--out", str(out), "--quiet"]) == 0 and calls == []  # nothing left to do


def test_the_cli_adds_seeds_and_refuses_other_settings(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(E.EXPERIMENTS, "tiny", tiny_experiment())
    calls = []
    monkeypatch.setattr(runner, "run_point", fake_run_point(calls))
    out = tmp_path / "tiny.json"
    assert cli.main(["tiny", "--out", str(out), "--seeds", "0", "--quiet"]) == 0
    assert cli.main(["tiny", "--out", str(out), "--seeds", "0", "1", "2", "--quiet"]) == 0
    assert len(calls) == 2 + 4
    assert [(p["lr"], p["seed"]) for p in E.load_results(out)] == [(lr, s) for lr in (1e-3, 3e-3) for s in (0, 1, 2)]

    assert cli.main(["tiny", "--out", str(out), "--fast", "--quiet"]) == 2  # reduced points are other points
    assert "other settings" in capsys.readouterr().err
    content = json.loads(out.read_text())
    content["points"][0]["settings"]["min_steps"] = 999  # made with another schedule
    out.write_text(json.dumps(content))
    assert cli.main(["tiny", "--out", str(out), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "other settings" in error and "min_steps=999 (now 3)" in error
    assert len(calls) == 2 + 4  # nothing ran

    monkeypatch.setitem(E.EXPERIMENTS, "other", E.Experiment("other", "", tiny_experiment().points))
    assert cli.main(["other", "--out", str(tmp_path / "once.json"), "--quiet"]) == 0
    assert cli.main(["tiny", "--out", str(tmp_path / "once.json"), "--quiet"]) == 2
    assert "experiment 'other'" in capsys.readouterr().err


def test_a_grid_resumed_on_another_machine_keeps_each_runs_machine(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(runner, "run_point", fake_run_point(calls))
    avx2 = {"device": "cpu", "cpu_capability": "AVX2", "threads": 2, "torch": "2.x", "platform": "p"}
    out = tmp_path / "tiny.json"
    monkeypatch.setattr(runner, "describe_machine", lambda device=None: dict(avx2))
    E.run_experiment(tiny_experiment(seeds=(0,)), out)
    assert E.load_machine(out) == "cpu, CPU capability AVX2, 2 threads, torch 2.x"
    content = json.loads(out.read_text())
    for entry in content["points"]:  # a file written before runs recorded their machine
        del entry["metrics"]["machine"]
    out.write_text(json.dumps(content))
    monkeypatch.setattr(runner, "describe_machine", lambda device=None: {**avx2, "cpu_capability": "AVX512"})
    E.run_experiment(tiny_experiment(seeds=(0, 1)), out)  # seed 1 on the other machine
    made_on = {(row["seed"], row["machine"].split(",")[1].strip()) for row in E.load_results(out)}
    assert made_on == {(0, "CPU capability AVX2"), (1, "CPU capability AVX512")}
    assert E.load_machine(out) == ("cpu, CPU capability AVX2, 2 threads, torch 2.x (2 runs); "
                                   "cpu, CPU capability AVX512, 2 threads, torch 2.x (2 runs)")


def test_a_point_trained_for_another_experiment_is_reused(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(runner, "run_point", fake_run_point(calls))
    first = E.run_experiment(tiny_experiment(), tmp_path / "tiny.json")
    assert first["ran"] == 4 and len(calls) == 4
    same_points = E.Experiment("other", "the same points", tiny_experiment().points)
    second = E.run_experiment(same_points, tmp_path / "other.json")  # beside tiny.json: copied, not trained
    assert len(calls) == 4 and [p["metrics"] for p in second["points"]] == [p["metrics"] for p in first["points"]]
    (tmp_path / "elsewhere").mkdir()
    E.run_experiment(same_points, tmp_path / "elsewhere" / "other.json")  # nothing beside it: trained
    assert len(calls) == 8


def test_workers_train_the_same_runs_in_parallel(dots, tmp_path):
    """Two worker processes (one thread each, as this test runs) record the runs one process records."""
    tiny = E.Experiment("tiny", "", tuple(E.make_point(seed=seed, **SMALL) for seed in (0, 1)))
    alone = E.run_experiment(tiny, tmp_path / "alone" / "tiny.json", data_root=dots, device="cpu", progress=False)
    pair = E.run_experiment(tiny, tmp_path / "pair" / "tiny.json", data_root=dots, device="cpu", progress=False,
                            workers=2, save_models=tmp_path / "models")
    assert pair["ran"] == 2 and [p["settings"] for p in pair["points"]] == [p["settings"] for p in alone["points"]]
    for ours, theirs in zip(pair["points"], alone["points"], strict=True):
        for metric in ("test_acc", "train_acc", "shuffle_acc", "train_losses", "steps"):
            assert ours["metrics"][metric] == pytest.approx(theirs["metrics"][metric], abs=1e-6), metric
    assert len(list((tmp_path / "models").glob("tiny_*.pt"))) == 2
    assert (pair["machine"]["workers"], pair["machine"]["threads"]) == (2, 1) and "workers" not in alone["machine"]
    with pytest.raises(ValueError, match="workers"):
        E.run_experiment(tiny, tmp_path / "none.json", data_root=dots, workers=0)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie awaiting its parent has)."""
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from Linux's /proc")
def test_workers_end_when_the_runner_is_killed(tmp_path):
    """A runner killed outright runs no clean-up: the workers of its ``worker_pool`` must notice and end, not train
    on for nobody (the experiments' runner and the benchmarks that train runs side by side use that pool)."""
    runner_code = ("import os, time\n"
                   "from course_utils.experiments import worker_pool\n"
                   "if __name__ == '__main__':\n"
                   "    pool = worker_pool(1, threads=1)\n"
                   "    print(pool.submit(os.getpid).result(), flush=True)\n"
                   "    pool.submit(time.sleep, 120)\n"
                   "    time.sleep(120)\n")
    script = tmp_path / "runner.py"
    script.write_text(runner_code)
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(process.stdout.readline())
        assert _running(worker)
        process.kill()  # SIGKILL: no handler, no finally, no pool shutdown
        process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _running(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(worker), "the worker outlived its runner"
    finally:
        process.kill()


def test_a_preset_drawn_in_memory_is_its_folder(tmp_path, monkeypatch):
    """The experiments draw a preset's images in memory: the same images, labels and order as its PNG files
    (classes sorted as ImageFolder sorts them, whatever the spec's order)."""
    spec = shapes.ShapesSpec(("row", "column", "square"), train_per_class=5, test_per_class=2, img_size=32,
                             seed=7, kind="dots")  # "column" sorts first: the labels are not the spec's order
    monkeypatch.setitem(shapes.PRESETS, "tiny_dots", spec)
    folder = shapes.generate_shapes(tmp_path / "tiny_dots", spec)
    for split in shapes.SPLITS:
        drawn = E.open_split("tiny_dots", split, 32)
        decoded = E.open_split("ignored", split, 32, data_root=folder)
        assert drawn.classes == decoded.classes == ["column", "row", "square"]
        assert torch.equal(drawn.labels, decoded.labels)
        everything = torch.arange(len(drawn.labels))
        assert torch.equal(drawn.take(everything)[0], decoded.take(everything)[0])
        assert E.open_split("tiny_dots", split, 32) is drawn  # made once per process
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        E.open_split("nope", "train", 32)
    with pytest.raises(ValueError, match="unknown split"):
        shapes.draw_image(spec, "val", 0, 0)


def test_dots_large_extends_dots():
    """dots_large is dots with more training images: its first ones per class and its test split are dots'."""
    small, large = shapes.PRESETS["dots"], shapes.PRESETS["dots_large"]
    assert large.train_per_class >= 10 * small.train_per_class and large.test_per_class == small.test_per_class
    for split, class_id, index in [("train", 0, 0), ("train", 2, small.train_per_class - 1), ("test", 1, 5)]:
        assert (shapes.draw_image(small, split, class_id, index).tobytes()
                == shapes.draw_image(large, split, class_id, index).tobytes())


def test_rounds_cut_the_same_stream_of_batches():
    """A round of one pass is an epoch (the same batches as iterating the batches once per epoch); shorter rounds
    cut the same stream, the last one shorter; images_seen counts the partial batch that ends each pass."""
    images, labels = torch.arange(10 * 3 * 2 * 2, dtype=torch.uint8).reshape(10, 3, 2, 2), torch.arange(10)

    def stream(batches_of_rounds):
        return [y.tolist() for batches in batches_of_rounds for _, y in batches]

    per_epoch = [E.TensorBatches(images, labels, 4, shuffle=True, seed=3) for _ in range(2)]
    epochs = stream(per_epoch[0] for _ in range(3))  # 3 epochs of 3 batches (4, 4, 2 images)
    assert stream(E.in_rounds(per_epoch[1], 9, 3)) == epochs
    rounds = list(E.in_rounds(E.TensorBatches(images, labels, 4, shuffle=True, seed=3), 8, 5))
    lengths = [len(list(r)) for r in rounds]
    assert lengths == [5, 3]
    assert stream(E.in_rounds(E.TensorBatches(images, labels, 4, shuffle=True, seed=3), 8, 5)) == epochs[:8]
    assert [E.images_seen(steps, 10, 4) for steps in (0, 2, 3, 4, 8)] == [0, 8, 10, 14, 28]


def test_a_large_set_trains_in_rounds(dots, monkeypatch):
    """On a set larger than a round, the losses and the stop rule come every ROUND_IMAGES images."""
    monkeypatch.setattr(runner, "ROUND_IMAGES", 8)  # rounds of 2 steps of 4 images; an epoch is 3 steps
    point = E.make_point(**{**SMALL, "min_steps": 7})  # 3 epochs: 9 steps, in rounds of 2, 2, 2, 2, 1
    metrics = E.run_point(point, data_root=dots, device="cpu")
    assert (metrics["steps"], metrics["scheduled_steps"], metrics["steps_per_round"]) == (9, 9, 2)
    assert len(metrics["train_losses"]) == 5 and metrics["epochs"] == 3
    model = E.build_model(point, 3)
    assert metrics["train_flops"] == flops.training_flops(model, (3, 32, 32), 12, 3)
    seen = []

    def converged(model, batches, *args, **kwargs):
        seen.append(len(list(batches)))
        return 0.5, 0.6

    monkeypatch.setattr(engine, "train_step", converged)
    stopped = E.run_point({**point, "stop_train_acc": 0.5}, data_root=dots, device="cpu")
    assert seen == [2] and stopped["steps"] == 2 and stopped["epochs"] == pytest.approx(8 / 12)
    assert stopped["train_flops"] == round(flops.training_flops(model, (3, 32, 32), 12) * 8 / 12)


def test_a_converged_run_stops_early_and_saves_its_model(dots, tmp_path, monkeypatch):
    epochs = []

    def converged(model, batches, loss_fn, optimizer, device, scheduler, clip, chosen, scaler, epoch, bar=None):
        epochs.append(epoch)  # every epoch reports 60% training accuracy
        return 0.5, 0.6

    monkeypatch.setattr(engine, "train_step", converged)
    point = E.make_point(**{**SMALL, "min_epochs": 4, "stop_train_acc": 0.5})
    metrics = E.run_point(point, data_root=dots, device="cpu", save_model=tmp_path / "m.pt")
    assert epochs == [0] and metrics["epochs"] == 1 and metrics["scheduled_steps"] == 12 and metrics["steps"] == 3
    saved = torch.load(tmp_path / "m.pt", weights_only=True)
    assert saved["point"] == point and saved["model"]["position_embedding"].dtype == torch.float16
    with pytest.raises(ValueError, match="stop_train_acc"):
        E.make_point(stop_train_acc=2.0)


def test_the_cli_runs_real_points(dots, tmp_path, monkeypatch):
    monkeypatch.setitem(E.EXPERIMENTS, "tiny", E.Experiment("tiny", "", (E.make_point(**SMALL),)))
    out = tmp_path / "tiny.json"
    assert cli.main(["tiny", "--out", str(out), "--data", str(dots), "--device", "cpu", "--quiet"]) == 0
    (row,) = E.load_results(out)
    assert row["model"] == "vit" and row["steps"] == 3 and 0 <= row["test_acc"] <= 1


def test_list_prints_points_and_flops(capsys, monkeypatch):
    monkeypatch.setattr(E, "estimate_flops", lambda points: len(points) * 3e12)
    assert cli.main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("hours at 30 GFLOP/s") and lines[1].startswith("experiment")
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:] if line and not line.startswith(" ")}
    assert rows["data_scale"][:3] == ["41", "123.0", "1.14"]  # at most: 41 x 3 TFLOP at 30 GFLOP/s
    assert rows["position_embeddings"][0] == "15" and rows["pooling_lr"][0] == "40"
    for name, row in rows.items():  # committed: what the runs in the results file cost
        committed = E.load_results(E.results_path(name))
        spent = sum(r["train_flops"] for r in committed)
        assert row[3:] == [str(len(committed)), f"{spent / 1e12:.1f}", f"{E.hours_at_baseline(spent):.2f}"], name


def test_every_committed_grid_costs_at_most_four_hours_at_the_baseline_rate():
    """The course's cap on an experiment's grid (2 h aimed at; up to 4 h where the lesson says why): what its
    committed runs cost in counted training FLOPs at the pico ViT's sustained rate on the baseline CPU."""
    for name in E.EXPERIMENTS:
        spent = sum(row["train_flops"] for row in E.load_results(E.results_path(name)))
        assert 0 < E.hours_at_baseline(spent) <= 4.0, (name, E.hours_at_baseline(spent))


def test_hours_at_baseline_is_flops_at_the_sustained_rate():
    assert E.hours_at_baseline(E.FLOPS_PER_SECOND * 3600) == pytest.approx(1.0)
    assert E.hours_at_baseline(108e12) == pytest.approx(1.0)  # 108 TFLOP at 30 GFLOP/s


def test_the_cli_needs_a_known_name():
    for argv in ([], ["nope"]):
        with pytest.raises(SystemExit):
            cli.main(argv)


# -------------------------------------------------------------------------------------------- results


def test_summarise_by_hand():
    results = [{"model": "vit", "size": 300, "test_acc": 0.5}, {"model": "vit", "size": 300, "test_acc": 0.7},
               {"model": "vit", "size": 900, "test_acc": 0.9}, {"model": "cnn", "size": 300, "test_acc": 0.6}]
    by_both = E.summarise(results, by=["model", "size"])
    assert list(by_both) == [("vit", 300), ("vit", 900), ("cnn", 300)]
    mean, low, high, n = by_both[("vit", 300)]
    assert (low, high, n) == (0.5, 0.7, 2) and mean == pytest.approx(0.6)
    assert by_both[("vit", 900)] == (0.9, 0.9, 0.9, 1)
    by_model = E.summarise(results, by=["model"])
    assert by_model["vit"][0] == pytest.approx((0.5 + 0.7 + 0.9) / 3) and by_model["vit"][1:] == (0.5, 0.9, 3)
    assert E.summarise(results, by=["size"], metric="test_acc")[300][3] == 3



def test_take_off_step_is_the_end_of_the_first_round_below_the_band():
    row = {"train_losses": [1.0986, 1.09, 1.07, 0.5], "steps_per_round": 141, "steps": 500}
    assert E.take_off_step(row) == 3 * 141  # 1.07 is the first loss more than 2% below ln 3 = 1.0986
    assert E.take_off_step({**row, "train_losses": [1.0986, 1.09, 0.6]}, band=0.5) is None  # 0.6 > 0.5 ln 3
    assert E.take_off_step({**row, "train_losses": [1.0986, 1.09, 1.09, 0.3]}) == 500  # its last round ended early
    assert E.take_off_step({**row, "train_losses": [1.0986, 1.09]}) is None
    older = {"train_losses": [1.0986, 1.07], "train_size": 900, "batch_size": 64, "steps": 30}  # rounds are epochs
    assert E.take_off_step(older) == 2 * 15


def test_committed_results_paths_and_machine_line(tmp_path):
    assert E.results_path("data_scale") == E.RESULTS_DIR / "data_scale.json"
    assert E.results_path("pooling_lr", fast=True).name == "pooling_lr_fast.json"
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        E.results_path("nope")
    machine = {"device": "cpu", "cpu_capability": "AVX2", "threads": 2, "torch": "2.x"}
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"experiment": "x", "machine": machine, "points": []}))
    assert E.load_machine(path) == "cpu, CPU capability AVX2, 2 threads, torch 2.x"
    assert E.machine_line({**machine, "device": "cuda", "gpu": "H200"}).startswith("cuda (H200), CPU")
    assert E.machine_line({**machine, "threads": 1, "workers": 2}) == \
        "cpu, CPU capability AVX2, 2 worker processes of 1 thread, torch 2.x"
    assert E.machine_line({**machine, "threads": 1}) == "cpu, CPU capability AVX2, 1 thread, torch 2.x"


@pytest.mark.parametrize("name", list(E.EXPERIMENTS))
@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
def test_committed_results_hold_every_point_of_the_experiment(name, fast):
    """The lessons plot these files: each holds points of the experiment's current grid only (a changed grid or
    schedule makes them stale: re-run the experiment with --out experiments.results_path(NAME)), and every
    setting of the grid with at least two seeds. A grid may be committed before its last seeds have run: the
    runner resumes it (``python -m course_utils.experiments NAME --out ...``), and the lessons count the seeds
    they read."""
    path = E.results_path(name, fast)
    content = json.loads(path.read_text())
    assert content["experiment"] == name and content["description"] == E.EXPERIMENTS[name].description
    stored = [json.dumps(p["settings"], sort_keys=True) for p in content["points"]]
    grid = E.EXPERIMENTS[name].grid(fast=fast)
    assert len(set(stored)) == len(stored) and set(stored) <= {json.dumps(p, sort_keys=True) for p in grid}
    seeds: dict[str, int] = {}
    for entry in content["points"]:
        setting = json.dumps({k: v for k, v in entry["settings"].items() if k != "seed"}, sort_keys=True)
        seeds[setting] = seeds.get(setting, 0) + 1
    assert len(seeds) == len({json.dumps({k: v for k, v in p.items() if k != "seed"}, sort_keys=True) for p in grid})
    assert min(seeds.values()) >= 2
    for entry in content["points"]:
        metrics = entry["metrics"]
        assert 0 <= metrics["shuffle_acc"] <= 1 and 0 <= metrics["test_acc"] <= 1 and metrics["train_flops"] > 0
        epochs, per_epoch = E.schedule(entry["settings"])
        settings = entry["settings"]  # a run stopped in a round may end mid-epoch: epochs counts the images
        seen = E.images_seen(metrics["steps"], settings["train_size"], settings["batch_size"])
        assert metrics["epochs"] == pytest.approx(seen / settings["train_size"]) and metrics["steps"] <= epochs * per_epoch
        if entry["settings"]["stop_train_acc"] is None:
            assert metrics["epochs"] == epochs
        else:  # stopped in the first round that reached the threshold, or ran its schedule without one
            stop, accuracies = entry["settings"]["stop_train_acc"], metrics["train_accs"]
            assert metrics["epochs"] == epochs or accuracies[-1] >= stop
            assert all(accuracy < stop for accuracy in accuracies[:-1])


def test_committed_reruns_are_points_of_their_experiment_with_their_machine():
    """results/reruns/ holds single runs re-made elsewhere (lesson 10 reads one): each is a point of its experiment's
    current grid, so a changed grid makes it stale here, and says which machine made it."""
    paths = sorted((E.RESULTS_DIR / "reruns").glob("*.json"))
    assert paths
    for path in paths:
        content = json.loads(path.read_text())
        grid = {json.dumps(p, sort_keys=True) for p in E.EXPERIMENTS[content["experiment"]].points}
        assert all(json.dumps(entry["settings"], sort_keys=True) in grid for entry in content["points"]), path
        assert all(entry["metrics"]["machine"] == E.load_machine(path) for entry in content["points"]), path


def test_every_committed_recipe_run_of_the_plateau_trained():
    """Lesson 06's claim: with the recipe, the ViT with the paper's learned 1-D embedding leaves ln C on every
    seed (a training loss below 0.9 ln 3 at the end), and with the paper's initialisation on none. Table 8's
    runs are read run by run in lesson 10, which says which of them trained."""
    rows = E.load_results(E.results_path("plateau"))
    assert {row["seed"] for row in rows} >= {0, 1}
    for row in rows:
        if row["position_std"] == 0.02:
            assert abs(row["train_loss"] - math.log(3)) < 0.02 * math.log(3), row
            continue
        assert row["train_loss"] < 0.9 * math.log(3), row


def test_the_short_schedule_had_decayed_when_the_recipe_runs_took_off():
    """The experiments docstring's reason for Table 8's longer schedule, read from the plateau's recipe runs: their
    epoch loss first fell 2% below ln 3 after 1,128 to 1,551 steps, at 49% to 18% of the peak learning rate."""
    (point,) = {json.dumps(p, sort_keys=True) for p in E.EXPERIMENTS["plateau"].grid([0]) if p["position_std"] == 0.2}
    point = json.loads(point)
    epochs, per_epoch = E.schedule(point)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = engine.warmup_cosine_scheduler(optimizer, round(E.WARMUP_FRACTION * epochs * per_epoch),
                                               epochs * per_epoch)
    rates = []
    for _ in range(epochs * per_epoch):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    took_off = []
    for row in E.load_results(E.results_path("plateau")):
        if row["position_std"] == 0.2:
            epoch = next(i for i, loss in enumerate(row["train_losses"]) if loss < 0.98 * math.log(3))
            took_off.append(((epoch + 1) * per_epoch, round(rates[(epoch + 1) * per_epoch - 1], 2)))
    assert min(took_off) == (1128, 0.49) and max(took_off) == (1551, 0.18), took_off


def test_the_results_table_in_contributing_is_the_committed_results():
    """CONTRIBUTING.md's experiment rows are generated from the committed JSON (python -m course_utils.experiments
    --table): a re-run that changes a result cannot leave the table behind."""
    text = (Path(__file__).resolve().parent.parent / "CONTRIBUTING.md").read_text()
    start, end = "<!-- experiments-table:start -->", "<!-- experiments-table:end -->"
    assert start in text and end in text
    block = text[text.index(start) + len(start):text.index(end)]
    table = [line for line in block.splitlines() if line.startswith("|")]
    assert table[1].startswith("|---") and table[2:] == E.results_table()  # after the header and its rule


def test_the_readme_states_the_committed_data_scale_results():
    """The README's sentence on lesson 09 is read from the committed runs: a re-run that changes them fails here."""
    text = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    assert ("left the uniform guess in every run: it memorises 900 images and solves the task from 3,000 on, "
            "within 3 points of a small BiT ResNet that is at 98.5% or more from 900 images on") in text
    rows = E.load_results(E.results_path("data_scale"))
    sizes = sorted({row["train_size"] for row in rows})
    vit = [row for row in rows if row["model"] == "vit"]
    assert sizes[0] == 900 and sizes[-1] == 90000
    assert all(row["train_loss"] < 0.9 * math.log(3) for row in vit)  # left the uniform guess
    assert all(row["train_acc"] > 0.95 > 0.7 > row["test_acc"] for row in vit if row["train_size"] == 900)  # memorised
    assert all(row["test_acc"] >= 0.95 for row in vit if row["train_size"] >= 3000)  # solved
    assert all(row["test_acc"] >= 0.985 for row in rows if row["model"] == "resnet")
    accuracy = E.summarise(rows, ["model", "train_size"])  # (mean, lowest, highest) over the seeds
    for size in sizes[1:]:
        gap = accuracy[("resnet", size)][0] - accuracy[("vit", size)][0]
        assert 0 <= gap <= 0.03, size  # within 3 points (means over the seeds), never ahead on the mean
