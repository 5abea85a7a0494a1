"""The paper's experiments at laptop scale (lessons 06, 09 and 10): their definitions, a runner and their results.

An **experiment** is a name, a description and a list of **points**; a point is a dict of settings (the keys of
``DEFAULTS``, always all of them, always in that order). ``run_point(point)`` trains one model from scratch (or
fine-tunes the pretrained pico checkpoint) on a class-balanced, seeded subset of its dataset's train split and
returns its metrics. ``python -m course_utils.experiments NAME`` runs every point of an experiment, with a
progress bar, and writes ``results/NAME.json`` after every point, so that a killed run resumes where it stopped.
The lessons read that file with ``load_results`` and ``summarise``.

The package, one file per concern:

- ``points``: ``DEFAULTS``, ``make_point``, the schedule rule (``schedule``), ``reduced`` and ``Experiment``;
- ``grids``: the experiments (``EXPERIMENTS``) and the from-scratch recipe they share (``RECIPE``);
- ``position``: the position embeddings of Table 8 and ``VariantViT``;
- ``data``: the splits held in memory (a preset's drawn, ``open_split``), ``balanced_subset``, ``TensorBatches``,
  the rounds of a run (``in_rounds``) and the shuffle probe;
- ``models``: ``build_model``;
- ``runner``: ``run_point``, ``set_up_training``, ``run_experiment``, ``estimate_flops``;
- ``results``: the committed results files and ``load_results`` / ``summarise``.

The experiments (``EXPERIMENTS``):

- ``plateau`` (lesson 06, "Is my ViT learning?"): the pico ViT with the paper's learned 1-D position embedding,
  initialised as the paper's code does, against the course's recipe (``RECIPE``), 3 seeds.
- ``data_scale`` (Figures 3, 4 and 5): the pico ViT (on the recipe, at lr 5e-4), a small ResNet (BiT), the hybrid
  and the ViT fine-tuned from the ``dots_pretrain`` checkpoint, each on 900, 3,000, 9,000, 30,000 and 90,000
  training images (100x) of ``dots_large`` (``dots`` with 30,000 training images per class, drawn in memory), 2
  seeds each and a third for the from-scratch ViT on 90,000 images (lesson 08 reads those three models).
- ``position_embeddings`` (Table 8, Appendix D.4): the ViT with no position embedding, 1-D learned, 2-D
  learned, relative and 2-D sine-cosine embeddings (``position``), the learned ones on the recipe, 3 seeds,
  with the patch-shuffle probe.
- ``pooling_lr`` (Figure 9): class token against global average pooling, each at four learning rates (3e-4 to
  2e-3), 5 seeds, with the fixed 2-D sine-cosine position embedding, up to 2,115 steps.

The ResNet and the hybrid's CNN are at a quarter of BiT-R50's width (``CNN_WIDTH`` 16 stem channels), so
that a CNN costs about what the ViT costs per image.

**The schedule rule.** A point trains for ``epochs = max(min_epochs, ceil(min_steps / steps_per_epoch))`` whole
epochs (``schedule``): at least ``min_steps`` optimizer steps (of 64 images) and at least ``min_epochs`` passes
over the data. In ``data_scale`` (5,628 steps, 4 epochs) every size gets 5,628 to 5,640 steps (four passes over
the largest set; the fine-tuned ViT 1,407 to 1,410, one pass), so a small training set is seen many times over (376 epochs of 900 images) and the points differ
mainly in how many *distinct* images those steps show: the question of Figures 3 and 4. A fixed number of epochs
would not be fair: 4 epochs of 900 images are 60 steps, too few for any model to learn. ``plateau`` runs up to
2,000 steps (15 epochs of 9,000 images, 2,115 steps) and ``position_embeddings`` up to 4,000 (29 epochs, 4,089
steps); ``pooling_lr`` runs the plateau's schedule. The first three stop once the
training accuracy of a round (an epoch, or 9,000 images on a larger set: ``ROUND_IMAGES``) reaches 99%
(``stop_train_acc``), ``pooling_lr`` once it reaches 98%, which keeps that grid under 4 hours (``grids``). A learned table needs about a thousand steps to take off: on the shorter schedule the
learned 1-D tables' epoch loss first fell 2% below ln 3 after 1,128 to 1,551 steps, when the cosine had brought
the learning rate down to 49% to 18% of its peak, and they ended unsolved.

**What it costs**: ``python -m course_utils.experiments --list`` prints each grid's training FLOPs (an upper
bound where runs stop early) and the hours at the about 30 GFLOP/s the baseline CPU sustains on small ViTs;
the lessons print the times measured.

**The recipe** is the course's (``python -m course_utils.train``, lesson 06): AdamW (``course_utils.optim``'s
parameter groups, 0.05 weight decay on weight matrices), linear warmup over the first 5% of the steps then
cosine decay (``engine.warmup_cosine_scheduler``), label smoothing 0.1, gradient clipping at norm 1, no dropout,
no augmentation, fp32 unless a point's ``amp`` says otherwise (``course_utils.precision``). A plain ViT trains
and is evaluated with its last block computing the class token only (``course_utils.last_block``, as the training
script does): the same logits to float rounding, 13.8% fewer FLOPs for the pico. Learning rates:
1e-3 from scratch, 5e-4 to fine-tune (as in lesson 07). A point's ``position_std`` and ``position_lr_scale``
re-draw the learned position tables and give them their own learning rate (``RECIPE``: 0.2 and 10x; the
paper's code: 0.02 and 1x).

**Metrics** of a point: ``test_acc`` and ``test_loss`` on the 600 ``dots`` test images; ``train_acc`` on the
training subset, clean (eval mode); ``shuffle_acc``, the test accuracy when the 8 px patches of every test image
are shuffled in one fixed random order (``shuffle_patches``: who cares where the patches are?); ``train_loss``
(the last epoch's mean, label-smoothed) and, in the newer files, ``train_losses`` and ``train_accs`` (every
epoch's means); ``train_flops`` (``course_utils.flops.training_flops``: forward and backward of every training
image seen, every token through every block, as the paper counts a model's compute: one count for every model
the lessons compare, whether or not it takes the last-block shortcut); ``train_s`` (the training loop) and
``wall_s`` (the whole point, data included); ``epochs`` and ``steps`` (as run), ``params``, ``precision`` and
``device``; in the newer files ``machine``, the ``machine_line`` of the machine it ran on (a grid resumed on
another machine holds runs of both: ``load_machine`` lists each with its number of runs).

**Fast runs.** ``reduced(point)`` is the same point with a tenth of the images, a twentieth of the minimum
steps and a quarter of the minimum epochs. ``python -m course_utils.experiments NAME --fast`` runs every point
reduced into ``results/NAME_fast.json``; under ``COURSE_FAST`` a lesson re-runs one reduced point
(``run_point(point, fast=True)``) and asserts that it lands within that file's spread for the point.

**The results file** is ``{"experiment", "description", "machine", "points": [{"settings", "metrics"}, ...]}``,
its points in the experiment's order (seeds last); they are run seed by seed, so a run stopped early already holds
every setting once. A second run skips the points already in the file (keyed by their settings) and adds any
new seeds (``--seeds``), but refuses a file holding a point that the experiment does not have (another
schedule, precision or version of the grid): delete it or pass another ``--out``. A point whose settings (seed
included) are already in another results file of the same folder is copied from it, not trained again.
"""

from course_utils.experiments.data import (
    TensorBatches,
    balanced_subset,
    images_seen,
    in_rounds,
    open_split,
    probe_permutation,
    shuffle_patches,
)
from course_utils.experiments.grids import EXPERIMENTS, RECIPE
from course_utils.experiments.models import build_model, pretrained_path
from course_utils.experiments.points import (
    CNN_WIDTH,
    DEFAULTS,
    FINE_TUNE_LR,
    FLOPS_PER_SECOND,
    GRAD_CLIP,
    LABEL_SMOOTHING,
    MODELS,
    POOLING_LRS,
    ROUND_IMAGES,
    SHUFFLE_SEED,
    VIT_SIZE,
    WARMUP_FRACTION,
    WEIGHT_DECAY,
    Experiment,
    hours_at_baseline,
    make_point,
    reduced,
    schedule,
)
from course_utils.experiments.position import POOLINGS, POSITIONS, VariantViT
from course_utils.experiments.results import (
    RESULTS_DIR,
    add_runs,
    load_machine,
    load_results,
    machine_line,
    results_path,
    results_table,
    stored_runs,
    summarise,
    take_off_step,
)
from course_utils.experiments.runner import (
    IncompatibleResults,
    describe_machine,
    estimate_flops,
    run_experiment,
    run_point,
    set_up_training,
    worker_pool,
)

__all__ = ["CNN_WIDTH", "DEFAULTS", "EXPERIMENTS", "FINE_TUNE_LR", "FLOPS_PER_SECOND", "GRAD_CLIP", "LABEL_SMOOTHING",
           "MODELS", "POOLINGS", "POOLING_LRS", "POSITIONS", "RECIPE", "RESULTS_DIR", "ROUND_IMAGES", "SHUFFLE_SEED", "VIT_SIZE",
           "WARMUP_FRACTION", "WEIGHT_DECAY", "Experiment", "IncompatibleResults", "TensorBatches", "VariantViT",
           "add_runs", "balanced_subset", "build_model", "describe_machine", "estimate_flops", "hours_at_baseline", "images_seen", "in_rounds",
           "load_machine", "load_results", "machine_line", "make_point", "open_split", "pretrained_path", "probe_permutation", "reduced", "results_path",
           "results_table", "run_experiment", "run_point", "schedule", "set_up_training", "shuffle_patches", "stored_runs",
           "summarise",
           "take_off_step", "worker_pool"]
