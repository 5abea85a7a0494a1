"""Solutions of lesson 09's exercises: the code cells of notebooks/exercises/09_data_and_inductive_bias_solutions.ipynb.

Each `# %%` line starts a cell: the imports, then one cell per exercise. Run top to bottom, this
file does what the solutions notebook does, without its check cells. The prompts and hints are in
text/lesson09.md; `python -m course_utils.exercises` builds the notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import copy
import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils import flops
from course_utils.exercises import lesson09 as ex


# %% q1
def balanced_subset(labels: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """Indices of `size` distinct items, size / K of each of the K classes, drawn by `seed` alone."""
    classes = int(labels.max()) + 1
    if size % classes:
        raise ValueError(f"size {size} is not a multiple of the {classes} classes")
    per_class = size // classes
    generator = torch.Generator().manual_seed(seed)  # our own: the global RNG is neither used nor changed
    chosen = []
    for c in range(classes):
        members = torch.nonzero(labels == c).flatten()  # positions of class c's items
        if len(members) < per_class:
            raise ValueError(f"size {size} needs {per_class} items of class {c}; there are {len(members)}")
        order = torch.randperm(len(members), generator=generator)  # depends on the seed, not on the size
        chosen.append(members[order[:per_class]])  # its first items: a smaller size keeps a prefix (nested)
    return torch.cat(chosen)


# %% q2
def training_flops_per_image(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """FLOPs of one training step (forward, loss, backward) on the batch, per image."""
    model = copy.deepcopy(model)  # our own copy: the caller's weights, mode and .grad stay as they were
    loss_fn = nn.CrossEntropyLoss()
    with FlopCounterMode(display=False, custom_mapping=flops.CPU_ATTENTION_FLOPS) as counter:
        loss = loss_fn(model(images), labels)  # the forward pass, with autograd on
        loss.backward()  # the backward pass: about twice the forward's FLOPs
    return counter.get_total_flops() / len(images)


# %% q3
def schedule(train_size: int, batch_size: int, min_steps: int, min_epochs: int) -> tuple[int, int]:
    """(epochs, steps per epoch): at least `min_steps` steps and at least `min_epochs` whole epochs."""
    steps_per_epoch = math.ceil(train_size / batch_size)  # the last, partial batch is a step too
    epochs = max(min_epochs, math.ceil(min_steps / steps_per_epoch))  # rounded up: never short of min_steps
    return epochs, steps_per_epoch


# %% q4
def accuracy_gap(rows: list[dict], model_a: str, model_b: str) -> dict[int, float]:
    """{train_size: mean over the shared seeds of (a's test_acc - b's test_acc)}, sizes ascending."""
    accuracy = {model_a: {}, model_b: {}}  # model -> {(train_size, seed): test_acc}
    for row in rows:
        if row["model"] in accuracy:
            accuracy[row["model"]][row["train_size"], row["seed"]] = row["test_acc"]
    gaps = {}
    for size in sorted({size for size, _ in accuracy[model_a]}):
        seeds = {s for n, s in accuracy[model_a] if n == size} & {s for n, s in accuracy[model_b] if n == size}
        if seeds:  # a size where the two models share no seed has no gap
            differences = [accuracy[model_a][size, s] - accuracy[model_b][size, s] for s in seeds]
            gaps[size] = sum(differences) / len(differences)
    return gaps
