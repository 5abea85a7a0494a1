"""The experiments of lessons 06, 09 and 10 as lists of points (``EXPERIMENTS``), and the recipe they share."""

from __future__ import annotations

import math

from course_utils.experiments.points import DEFAULTS, FINE_TUNE_LR, POOLING_LRS, Experiment, make_point
from course_utils.experiments.position import POOLINGS, POSITIONS
from course_utils.optim import BOOST_LR_SCALE, BOOST_STD

# The course's from-scratch recipe for the ViT's learned position tables (course_utils.optim; lesson 06, "Is my
# ViT learning?"): drawn at std 0.2 instead of 0.02, trained at 10x the learning rate without weight decay.
RECIPE = {"position_std": BOOST_STD, "position_lr_scale": BOOST_LR_SCALE}


def _experiments() -> dict[str, Experiment]:
    seeds = (0, 1)
    ablation_seeds = (0, 1, 2)  # the ViT's take-off step varies with the seed: one more for the ablations
    # The from-scratch ViT at half the others' learning rate: on 9,000 dots images its learned table left ln 3
    # after 611-752 steps at 5e-4 on 3 seeds, 470-1,410 at 1e-3, and not in 1,600 steps at 2e-3
    # (benchmarks/vit_takeoff.py; CONTRIBUTING.md has the table). The paper, too, tunes each model's learning rate.
    models = {"vit": 5e-4, "resnet": 1e-3, "hybrid": 1e-3, "vit_pretrained": FINE_TUNE_LR}
    # Every size gets the same budget of optimizer steps, 5,628 of 64 (four passes over the largest set), so that
    # the sizes differ in how many distinct images those steps show, not in compute. A run stops once a round's
    # training accuracy reaches 99% (a small set is memorised long before). The ViT trains on the recipe. Two seeds
    # each, and a third for the ViT on the largest set: lesson 08 reads Figure 7 off those three models.
    sizes, largest = (900, 3000, 9000, 30000, 90000), 90000
    one_pass = math.ceil(largest / DEFAULTS["batch_size"])  # steps of one pass over the largest set
    scale = {"dataset": "dots_large", "min_steps": 4 * one_pass, "min_epochs": 4, "stop_train_acc": 0.99}
    # The fine-tuned ViT gets a quarter of the steps (one pass over the largest set): it does not reach 99% training
    # accuracy on the larger sets, so it runs its whole budget there (two passes left it at 93-94% on 30,000 and
    # 90,000 images, the runs in the git history), and a full budget would put the grid over the 4 h cap. Its curve
    # is therefore read at 1,407-1,410 steps, the others' at up to 5,628.
    budgets = {"vit_pretrained": {"min_steps": one_pass, "min_epochs": 1}}
    data_scale = Experiment(
        "data_scale",
        "Figures 3-5 at laptop scale: the pico ViT (on the course's recipe, at lr 5e-4), a small ResNet (BiT), the "
        "hybrid (its CNN and the pico encoder) and the pico ViT fine-tuned from the dots_pretrain checkpoint, trained "
        "on 900 to 90,000 images of dots (100x), 2 seeds each (3 for the ViT on 90,000), each for at least 5,628 "
        "steps (1,407 for the fine-tuned ViT) or until 99% training accuracy; test accuracy against training-set "
        "size and against training FLOPs.",
        tuple(make_point(model=model, lr=lr, train_size=size, seed=seed,
                         **{**scale, **budgets.get(model, {})}, **(RECIPE if model == "vit" else {}))
              for model, lr in models.items() for size in sizes
              for seed in (ablation_seeds if (model, size) == ("vit", largest) else seeds)))
    # The plateau: long enough for a learned table to take off (about 1,000 steps on the seeds tried), stopped
    # once the training accuracy reaches 99%. Table 8 runs a schedule twice as long: on the short one the
    # learning rate has decayed by the time the learned 1-D tables take off, and they end unsolved.
    long = {"min_steps": 2000, "stop_train_acc": 0.99}
    longer = {"min_steps": 4000, "stop_train_acc": 0.99}
    position_embeddings = Experiment(
        "position_embeddings",
        "Table 8 (Appendix D.4) at laptop scale: the pico ViT with no position embedding, 1-D learned, "
        "2-D learned, relative and 2-D sine-cosine embeddings on the 9,000 dots training images, 3 seeds, "
        "with the patch-shuffle probe (shuffle_acc). The learned tables follow the course's recipe (RECIPE: "
        "drawn at std 0.2, 10x the learning rate); a cosine schedule over 4,089 steps, stopped at 99% training "
        "accuracy.",
        tuple(make_point(position=position, seed=seed, **longer, **RECIPE)
              for position in POSITIONS for seed in ablation_seeds))
    plateau = Experiment(
        "plateau",
        "Is my ViT learning? The pico ViT with the paper's learned 1-D position embedding on the 9,000 dots "
        "training images, 3 seeds: initialised as the paper's code does (std 0.02, the optimizer's learning "
        "rate) against the course's recipe (RECIPE: std 0.2, 10x the learning rate, no weight decay); up to "
        "2,115 steps, stopped at 99% training accuracy (Table 8 runs a schedule twice as long).",
        tuple(make_point(seed=seed, **long, **recipe)
              for recipe in ({}, RECIPE) for seed in ablation_seeds))
    # Figure 9 on the fixed 2-D sine-cosine table, with nothing about the position embedding to learn, so that the
    # sweep is about the head alone. On the relative embedding (the recipe, 1,128 steps) GAP stayed at ln 3 on six
    # of eight runs while the class token trained on all eleven (those results are in the git history); on this
    # table both heads solved the task at the paper's two rates in a pilot. A cosine schedule over 2,115 steps, at
    # most 754 TFLOP (40 runs x 2,115 steps x 8.9 GFLOP). Two choices keep what the committed runs cost under the
    # 4 h cap (lesson 10 says why the grid needs more than 2 h). The fourth rate is 5e-4, between the paper's two:
    # a grid with 5e-3 above 2e-3 instead cost 537 TFLOP (5.0 h), because at 5e-3 no run of either head solved the
    # task and all ten ran their whole schedule. And a run stops at 98% training accuracy, not 99%: at 99% the
    # runs cost 435 TFLOP (4.03 h). Runs that stopped at 99% in the round they first reached 98%, or never
    # reached 98%, are the same runs under the 98% rule (the rule reads nothing else), so their records were kept;
    # the others were re-run (the git history has both files).
    sweep_seeds = (0, 1, 2, 3, 4)
    sweep = {**long, "stop_train_acc": 0.98}
    pooling_lr = Experiment(
        "pooling_lr",
        "Figure 9 at laptop scale: the pico ViT's head on the class token against global average pooling of "
        "the patch tokens, each at four peak learning rates (3e-4, 5e-4, 8e-4, 2e-3), on the 9,000 dots "
        "training images, 5 seeds. With the fixed 2-D sine-cosine position embedding, so that only the head "
        "differs; a cosine schedule over 2,115 steps, stopped at 98% training accuracy.",
        tuple(make_point(pooling=pooling, lr=lr, position="sincos_2d", seed=seed, **sweep)
              for pooling in POOLINGS for lr in POOLING_LRS for seed in sweep_seeds))
    return {e.name: e for e in (plateau, data_scale, position_embeddings, pooling_lr)}


EXPERIMENTS: dict[str, Experiment] = _experiments()
