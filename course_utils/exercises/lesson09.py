"""Exercises of lesson 09, data and inductive bias: Figures 3-5 at laptop scale (see ``course_utils.exercises``).

q1 a class-balanced, seeded training subset · q2 the training FLOPs of one image (Figure 5's x axis) · q3 the
schedule rule (epochs and steps for every training-set size) · q4 the accuracy gap between two models, seed by
seed
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils import experiments, flops
from course_utils.exercises import (
    Question,
    Unchanged,
    Wrong,
    as_number,
    expect_callable,
    expect_tensor,
    refusing,
)
from course_utils.exercises._probes import call_leaving_alone
from course_utils.resnet import micro_resnet
from course_utils.vit import ViT

LESSON = "09_data_and_inductive_bias"


@contextlib.contextmanager
def _no_shortcuts(owner: Any, names: Sequence[str], answer_name: str, module: str) -> Iterator[None]:
    """While the learner's function runs, ``owner.<name>`` raises Wrong for every name: they are the answer."""
    with contextlib.ExitStack() as stack:
        for name in names:
            stack.enter_context(refusing(
                owner, name, f"`{answer_name}` should do the work itself; it called `{module}.{name}`, the "
                             f"lesson's version, which the checker compares yours with."))
        yield


# ---------------------------------------------------------------------------------------------------------
# q1: a class-balanced, seeded subset
# ---------------------------------------------------------------------------------------------------------

def _shuffled_labels(counts: Sequence[int], seed: int) -> torch.Tensor:
    """Labels with ``counts[c]`` items of class c, in a random order (not grouped by class)."""
    labels = torch.cat([torch.full((n,), c, dtype=torch.long) for c, n in enumerate(counts)])
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))]


class BalancedSubset(Question):
    name = "q1"
    answer_name = "balanced_subset"

    # (items per class, the sizes to draw, smallest first, a size that is no multiple of the classes, a size
    # that needs more items of some class than there are). Every class has more than 21 items, and the sizes
    # ask for at most 5 and for more than 5 of each: `random.sample` draws those two ways with two different
    # algorithms (a set of picks, a shrinking pool), so an answer built on it is not nested.
    CASES = [((45, 30, 26), (6, 15, 30), 31, 81),
             ((50, 24, 33, 28), (8, 20, 96), 30, 100)]

    def _call(self, balanced_subset: Callable, labels: torch.Tensor, size: int, seed: int,
              rng_seed: int = 0) -> Any:
        """The learner's function on the caller's own labels, under seeded global RNGs it must not touch."""
        inputs = Unchanged(labels=labels)
        with _no_shortcuts(experiments, ["balanced_subset"], self.answer_name, "experiments"):
            out = call_leaving_alone(balanced_subset, "`balanced_subset`", labels, size, seed, seed=rng_seed,
                                     advice="Draw from a generator of its own, seeded with `seed`: "
                                            "`torch.Generator().manual_seed(seed)`.")
        inputs.expect(self.answer_name)
        return out

    def _indices(self, out: Any, labels: torch.Tensor, size: int, classes: int) -> list[int]:
        """Check one subset and return its indices."""
        about = f"For {len(labels)} labels of {classes} classes and size={size}"
        if isinstance(out, (list, tuple)) and all(isinstance(i, int) for i in out):
            raise Wrong(f"`balanced_subset` returned a {type(out).__name__}; return a 1-D tensor of indices "
                        f"(`torch.long`), which indexes the images directly: `images[indices]`.")
        out = expect_tensor(out, "`balanced_subset` returned")
        if out.is_floating_point() or out.is_complex() or out.dtype == torch.bool:
            raise Wrong(f"`balanced_subset` returned a tensor of {out.dtype}: a mask or values, not indices. "
                        f"Return the positions of the chosen items, a 1-D tensor of integers (`torch.long`).")
        if out.ndim != 1:
            raise Wrong(f"{about}, `balanced_subset` returned a tensor of shape {tuple(out.shape)}; return a "
                        f"1-D tensor of indices (flatten what `torch.nonzero` returns, and `torch.cat` the "
                        f"classes' indices into one tensor).")
        indices = out.tolist()
        if len(indices) != size:
            raise Wrong(f"{about}, `balanced_subset` returned {len(indices)} indices instead of {size}.")
        if any(i < 0 or i >= len(labels) for i in indices):
            raise Wrong(f"{about}, some of your indices are outside 0..{len(labels) - 1}: return positions in "
                        f"`labels`, not positions within one class's items.")
        if len(set(indices)) < len(indices):
            raise Wrong(f"{about}, your subset holds the same item more than once ({len(indices) - len(set(indices))} "
                        f"repeats): it was drawn with replacement (`torch.randint`, `replacement=True`). A "
                        f"repeated image is no new data. Draw without replacement: a random permutation of each "
                        f"class's items, then its first ones.")
        counts = torch.bincount(labels[out], minlength=classes).tolist()
        if counts != [size // classes] * classes:
            held = f"{', '.join(map(str, counts[:-1]))} and {counts[-1]} items of classes 0..{classes - 1}"
            if sorted(indices) == list(range(size)):
                raise Wrong(f"{about}, your subset is the first {size} items: it holds whatever classes come "
                            f"first ({held}), and it is the same for every seed. Draw size / classes items of "
                            f"each class, at random.")
            raise Wrong(f"{about}, your subset holds {held}; it should hold {size} / {classes} = "
                        f"{size // classes} of every class.")
        return indices

    def _check(self, balanced_subset: Any) -> None:
        expect_callable(balanced_subset, self.answer_name)
        for case, (counts, sizes, not_multiple, too_many) in enumerate(self.CASES):
            labels = _shuffled_labels(counts, seed=90 + case)
            classes, size, seed = len(counts), sizes[-1], 3 + case
            about = f"For {len(labels)} labels of {classes} classes and size={size}"
            first = set(self._indices(self._call(balanced_subset, labels, size, seed), labels, size, classes))
            again = set(self._indices(self._call(balanced_subset, labels, size, seed, rng_seed=1), labels, size,
                                      classes))
            if again != first:
                raise Wrong(f"{about}, two calls with the same seed gave different subsets, because the global "
                            f"random number generator was in another state: your draw depends on it, not on "
                            f"`seed` alone. Draw from a generator of its own: "
                            f"`torch.Generator().manual_seed(seed)`, passed as `generator=` to `torch.randperm`.")
            other = set(self._indices(self._call(balanced_subset, labels, size, seed + 1), labels, size, classes))
            if other == first:
                raise Wrong(f"{about}, seeds {seed} and {seed + 1} gave the same subset: your draw ignores "
                            f"`seed`. Seed the generator you draw from with it.")
            for smaller in sizes[:-1]:
                part = set(self._indices(self._call(balanced_subset, labels, smaller, seed), labels, smaller,
                                         classes))
                if not part <= first:
                    raise Wrong(f"With the same seed, your subset of {smaller} is not part of your subset of "
                                f"{size} ({len(part - first)} of its items are not in it): the subsets are not "
                                f"nested. Draw one random order of each class's items from the seed alone, and "
                                f"take its first size / classes items, whatever the size.")
            self._expect_value_error(balanced_subset, labels, not_multiple, seed,
                                     f"size={not_multiple} is not a multiple of the {classes} classes")
            self._expect_value_error(balanced_subset, labels, too_many, seed,
                                     f"size={too_many} needs {too_many // classes} items of every class, and "
                                     f"class {counts.index(min(counts))} has only {min(counts)}")

    def _expect_value_error(self, balanced_subset: Callable, labels: torch.Tensor, size: int, seed: int,
                            problem: str) -> None:
        try:
            self._call(balanced_subset, labels, size, seed)
        except Wrong:
            raise
        except ValueError as error:
            if not str(error).strip():
                raise Wrong(f"When {problem}, your ValueError has no message. Say what is wrong (the size, the "
                            f"classes, the items missing): the learner who passed the size reads it.") from None
            return
        except Exception as error:
            raise Wrong(f"When {problem}, your function raised {type(error).__name__} ({error}). Raise a "
                        f"`ValueError` that says so: `raise ValueError(f\"...\")`.") from None
        raise Wrong(f"When {problem}, your function returned a subset instead of raising a `ValueError`: no "
                    f"subset of that size can be balanced, and a subset of another size would silently make "
                    f"that point of the figure a different experiment. Check the size first and raise "
                    f"`ValueError` with a message that says what is wrong.")


q1 = BalancedSubset()


# ---------------------------------------------------------------------------------------------------------
# q2: the training FLOPs of one image
# ---------------------------------------------------------------------------------------------------------

def _counted(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, forward: bool = True,
             backward: bool = True, attention: bool = True) -> float:
    """FLOPs of (parts of) one training step of a copy of ``model``, for the whole batch."""
    model = copy.deepcopy(model)
    mapping = flops.CPU_ATTENTION_FLOPS if attention else {}
    loss = None
    if not forward:
        loss = nn.CrossEntropyLoss()(model(images), labels)
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        if forward:
            loss = nn.CrossEntropyLoss()(model(images), labels)
        if backward:
            loss.backward()
    return float(counter.get_total_flops())


def _grads(model: nn.Module) -> dict[str, torch.Tensor | None]:
    return {name: None if p.grad is None else p.grad.detach().clone() for name, p in model.named_parameters()}


class TrainingFlops(Question):
    name = "q2"
    answer_name = "training_flops_per_image"

    def _explain_error(self, error: Exception) -> str | None:
        if "does not require grad" in str(error):
            return ("`backward()` found no graph to go back through: was the forward pass run under "
                    "`torch.no_grad()` (or on detached outputs)? Training runs the forward with autograd on, "
                    "and so must the count.")
        return None

    @staticmethod
    def _cases() -> Iterator[tuple[str, nn.Module, torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(9)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(9)
            vit = ViT(img_size=16, patch_size=4, num_classes=3, num_transformer_layers=2, embedding_dim=16,
                      mlp_size=32, num_heads=2, mlp_dropout=0.0, embedding_dropout=0.0).eval()
            resnet = micro_resnet(4, img_size=16, layers=(1, 1), width=4).train()
        # Batches of 4 and 5, not 3: with 3 images, three forward passes per image would equal one forward pass
        # of the whole batch, and the diagnoses could not tell the two apart.
        yield ("a small ViT in eval mode", vit, torch.rand(4, 3, 16, 16, generator=generator),
               torch.tensor([0, 2, 1, 1]))
        for p in resnet.parameters():  # a model in the middle of training: its gradients belong to the caller
            p.grad = torch.randn(p.shape, generator=generator)
        yield ("a small ResNet in training mode, holding gradients", resnet,
               torch.rand(5, 3, 16, 16, generator=generator), torch.tensor([3, 0, 1, 2, 0]))

    def _check(self, training_flops_per_image: Any) -> None:
        expect_callable(training_flops_per_image, self.answer_name)
        for what, model, images, labels in self._cases():
            batch = len(images)
            expected = flops.train_step_flops(model, images, labels) / batch
            grads = _grads(model)
            inputs = Unchanged(model=model, images=images, labels=labels)
            with _no_shortcuts(flops, ["train_step_flops", "training_flops", "count_flops"], self.answer_name,
                               "flops"):
                out = call_leaving_alone(training_flops_per_image, "`training_flops_per_image`", model, images,
                                         labels, draws=("torch",))
            self._expect_grads_left_alone(model, grads, what)
            inputs.expect(self.answer_name)
            if out is None:
                raise Wrong("`training_flops_per_image` returned None: did you forget the `return`?")
            value = as_number(out, "the value `training_flops_per_image` returned")
            if math.isclose(value, expected, rel_tol=1e-6):
                continue
            self._diagnose(value, model, images, labels, what)

    @staticmethod
    def _expect_grads_left_alone(model: nn.Module, before: dict[str, torch.Tensor | None], what: str) -> None:
        for name, p in model.named_parameters():
            old = before[name]
            if old is None and p.grad is not None:
                raise Wrong(f"On {what}, `training_flops_per_image` left gradients in the caller's model "
                            f"(`{name}.grad` is no longer None): the next `optimizer.step()` of the caller "
                            f"would apply them. Run the step on a copy of the model (`copy.deepcopy(model)`).")
            if old is not None and (p.grad is None or not torch.equal(p.grad, old)):
                change = "wiped" if p.grad is None or not bool(p.grad.abs().max() > 0) else "changed"
                raise Wrong(f"On {what}, `training_flops_per_image` {change} the gradients the caller's model "
                            f"already held (`{name}.grad`): a model in the middle of training would lose or "
                            f"mix up its step. Run the step on a copy of the model (`copy.deepcopy(model)`) "
                            f"and leave the caller's alone.")

    @staticmethod
    def _diagnose(value: float, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, what: str) -> None:
        batch = len(images)
        full = _counted(model, images, labels)
        forward = _counted(model, images, labels, backward=False)
        backward = _counted(model, images, labels, forward=False)
        no_attention = _counted(model, images, labels, attention=False)
        forward_only = "that's about a third of it: only the forward pass was counted"
        mistakes = [
            (full, f"On {what}, that's the FLOPs of the whole batch of {batch} images. Divide by the number of "
                   f"images in the batch: Figure 5's x axis multiplies a cost per image by the images seen."),
            (forward / batch, f"On {what}, {forward_only}. Training also runs the backward pass (`loss.backward()`), "
                              f"which costs about twice the forward; count both inside the counter, with "
                              f"autograd on (no `torch.no_grad()`)."),
            (forward, f"On {what}, {forward_only}, and for the whole batch of {batch}. Count forward and backward "
                      f"(`loss.backward()`) inside the counter, then divide by the number of images."),
            (backward / batch, f"On {what}, that's about two thirds of it: only the backward pass was counted. Run "
                               f"the forward pass (and the loss) inside the counter too."),
            (3 * forward / batch, f"On {what}, you counted the forward pass and tripled it, the rule of thumb "
                                  f"that the backward pass costs twice the forward. Close, but not exact (the "
                                  f"first layer needs no gradient for the images, for one): count the backward "
                                  f"itself, `loss.backward()` inside the counter."),
            (3 * forward, f"On {what}, you tripled the forward pass of the whole batch of {batch} images. Count "
                          f"the backward itself (`loss.backward()` inside the counter), then divide by the number "
                          f"of images."),
            (no_attention / batch, f"On {what}, the attention itself was counted as free: on the CPU, "
                                   f"`FlopCounterMode` does not know PyTorch's fused attention kernel. Pass "
                                   f"`custom_mapping=flops.CPU_ATTENTION_FLOPS` to the counter, as the lesson "
                                   f"does."),
            (no_attention, f"On {what}, that's the whole batch of {batch} images, and the attention was counted "
                           f"as free. Divide by the number of images, and pass "
                           f"`custom_mapping=flops.CPU_ATTENTION_FLOPS` to the counter."),
        ]
        if value == 0:
            raise Wrong(f"On {what}, your count is 0: the counter saw no matrix product. Run the forward and the "
                        f"backward *inside* the `with FlopCounterMode(...) as counter:` block, and read "
                        f"`counter.get_total_flops()` after it.")
        for wrong, message in mistakes:
            if math.isclose(value, wrong, rel_tol=1e-6):
                raise Wrong(message)
        raise Wrong(f"On {what}, {value:,.0f} is not the FLOPs of one training step per image. Count the forward "
                    f"pass, the loss and `loss.backward()` of the batch inside the counter, then divide by the "
                    f"number of images.")


q2 = TrainingFlops()


# ---------------------------------------------------------------------------------------------------------
# q3: the schedule rule
# ---------------------------------------------------------------------------------------------------------

def _schedule(train_size: int, batch_size: int, min_steps: int, min_epochs: int) -> tuple[int, int]:
    point = dict(train_size=train_size, batch_size=batch_size, min_steps=min_steps, min_epochs=min_epochs)
    return experiments.schedule(point)


def _floor_batches(n: int, b: int, s: int, e: int) -> tuple[int, int]:
    steps = n // b
    return max(e, math.ceil(s / steps)), steps


def _extra_batch(n: int, b: int, s: int, e: int) -> tuple[int, int]:
    steps = n // b + 1
    return max(e, math.ceil(s / steps)), steps


def _epochs_rounded(rounding: Callable[[float], int]) -> Callable[[int, int, int, int], tuple[int, int]]:
    def variant(n: int, b: int, s: int, e: int) -> tuple[int, int]:
        steps = math.ceil(n / b)
        return max(e, rounding(s / steps)), steps
    return variant


def _steps_as_images(n: int, b: int, s: int, e: int) -> tuple[int, int]:
    return max(e, math.ceil(s * b / n)), math.ceil(n / b)


def _ceil_by_round(n: int, b: int, s: int, e: int) -> tuple[int, int]:
    steps = round(n / b + 0.5)
    return max(e, round(s / steps + 0.5)), steps


_SCHEDULE_MISTAKES: list[tuple[Callable[[int, int, int, int], tuple[int, int]], str]] = [
    (lambda n, b, s, e: (e, math.ceil(n / b)),
     "Your epochs are always `min_epochs`: a fixed number of epochs. At 900 images that's 4 epochs of 15 steps, "
     "60 steps in all, too few for any model to learn: the smallest sizes would measure too little training, not "
     "too little data. Train for at least `min_steps` steps too."),
    (lambda n, b, s, e: (math.ceil(s / math.ceil(n / b)), math.ceil(n / b)),
     "Your epochs ignore `min_epochs`: a large training set gets fewer passes than the minimum (10,000 images in "
     "batches of 128 reach 200 steps in 3 epochs, but the rule asks for at least 5). Take the larger of the two "
     "counts."),
    (lambda n, b, s, e: (min(e, math.ceil(s / math.ceil(n / b))), math.ceil(n / b)),
     "Your epochs are the smaller of the two counts; the rule asks for *at least* `min_steps` steps and *at "
     "least* `min_epochs` epochs, so take the larger."),
    (_floor_batches,
     "Your steps per epoch drop the last, partial batch (floor division, `//`). The training loop keeps it "
     "(`TensorBatches` and a `DataLoader` with `drop_last=False`, the default): it is a step too. Round the "
     "number of batches up."),
    (_extra_batch,
     "Your steps per epoch add one batch even when the batch size divides the training set exactly (640 images "
     "of 64 are 10 batches, not 11). Round up instead: `math.ceil`."),
    (_epochs_rounded(math.floor),
     "Your epochs are rounded down, so some runs take fewer than `min_steps` steps (2,200 images of 64 are 35 "
     "batches per epoch; 17 epochs are 595 steps, short of 600). Round the epochs up."),
    (_epochs_rounded(round),
     "Your epochs are rounded to the nearest whole number, so some runs take fewer than `min_steps` steps (2,200 "
     "images of 64 are 35 batches per epoch; 17 epochs are 595 steps, short of 600). Round the epochs up."),
    (_ceil_by_round,
     "Your rounding up is off by one where a division comes out exact and odd (704 images of 64 are exactly 11 "
     "batches, not 12): `round(x + 0.5)` rounds a half to the even neighbour (banker's rounding), so it is no "
     "ceiling. Round up with `math.ceil`, or in whole numbers with `-(-a // b)`."),
    (_steps_as_images,
     "Your epochs divide `min_steps` batches' worth of images by the training-set size, as if every batch were "
     "full: the last batch of an epoch is partial, so an epoch has fewer images per step. Count whole steps per "
     "epoch first, then the epochs that reach `min_steps` of them."),
    (lambda n, b, s, e: (math.ceil(n / b), experiments.schedule(
        dict(train_size=n, batch_size=b, min_steps=s, min_epochs=e))[0]),
     "Your pair is the other way round: return `(epochs, steps_per_epoch)`, the epochs first."),
    (lambda n, b, s, e: (lambda ep, st: (ep, ep * st))(*experiments.schedule(
        dict(train_size=n, batch_size=b, min_steps=s, min_epochs=e))),
     "Your second number is the total number of steps of the run. Return the steps of *one* epoch: "
     "`(epochs, steps_per_epoch)`."),
]


class Schedule(Question):
    name = "q3"
    answer_name = "schedule"

    # (train_size, batch_size, min_steps, min_epochs): the lesson's five sizes, then sizes where the rounding
    # shows: 640 / 64 is exact, 2,200 / 64 needs 17.14 epochs of 35 steps, 10,000 / 128 needs only 3 epochs,
    # 704 / 64 = 11 and 99 / 11 = 9 are exact and odd (where `round(x + 0.5)` is no ceiling)
    CASES = [(900, 64, 5628, 4), (3000, 64, 5628, 4), (9000, 64, 5628, 4), (30_000, 64, 5628, 4), (90_000, 64, 5628, 4),
             (640, 64, 100, 3), (2200, 64, 600, 6), (100, 32, 50, 2), (10_000, 128, 200, 5), (704, 64, 99, 3)]

    def _check(self, schedule: Any) -> None:
        expect_callable(schedule, self.answer_name)
        results = []
        for case in self.CASES:
            with _no_shortcuts(experiments, ["schedule"], self.answer_name, "experiments"):
                result = call_leaving_alone(schedule, "`schedule`", *case)
            results.append(self._pair(result, case))
        expected = [_schedule(*case) for case in self.CASES]
        if results == expected:
            return
        for variant, message in _SCHEDULE_MISTAKES:
            if results == [variant(*case) for case in self.CASES]:
                raise Wrong(message)
        index = next(i for i, (got, want) in enumerate(zip(results, expected, strict=True)) if got != want)
        n, b, s, e = self.CASES[index]
        epochs, steps = results[index]
        raise Wrong(f"For train_size={n:,}, batch_size={b}, min_steps={s}, min_epochs={e}, your schedule is "
                    f"{epochs} epochs of {steps} steps. Count the steps of one epoch first (the last batch may "
                    f"be partial), then the whole epochs that give at least `min_steps` steps, and at least "
                    f"`min_epochs`.")

    @staticmethod
    def _pair(result: Any, case: tuple[int, int, int, int]) -> tuple[int, int]:
        if result is None:
            raise Wrong("`schedule` returned None: did you forget the `return`?")
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise Wrong(f"`schedule` should return a pair, `(epochs, steps_per_epoch)`; for {case} it returned "
                        f"{result!r}.")
        pair = []
        for value in result:
            if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
                value = int(value.item())
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise Wrong(f"`schedule` returned {result!r} for {case}: return whole numbers (`int`), the "
                            f"training loop runs `range(epochs)`. `math.ceil` returns an int; `/` and "
                            f"`np.ceil` return floats.")
            pair.append(int(value))
        return pair[0], pair[1]


q3 = Schedule()


# ---------------------------------------------------------------------------------------------------------
# q4: the accuracy gap between two models, seed by seed
# ---------------------------------------------------------------------------------------------------------

def _rows() -> list[dict[str, Any]]:
    """Flattened results as ``experiments.load_results`` returns them, in no particular order: three models, four
    sizes, seeds 0-2; the run stopped early, so the ResNet lacks seed 2 at 900 images and has no 9,000-image row,
    and a seed in the middle is missing too: the hybrid has no seed 1 at 3,000 images."""
    generator = torch.Generator().manual_seed(7)
    base = {"vit": (0.45, 0.58, 0.74, 0.86), "resnet": (0.55, 0.66, 0.75, 0.81), "hybrid": (0.52, 0.65, 0.78, 0.88)}
    rows = []
    for model, accuracies in base.items():
        for size, accuracy in zip((300, 900, 3000, 9000), accuracies, strict=True):
            for seed in (0, 1, 2):
                if model == "resnet" and (size == 9000 or (size, seed) == (900, 2)):
                    continue
                if (model, size, seed) == ("hybrid", 3000, 1):
                    continue
                test_acc = round(accuracy + 0.04 * float(torch.randn(1, generator=generator)), 4)
                rows.append({**experiments.make_point(model=model, train_size=size, seed=seed),
                             "test_acc": test_acc, "train_acc": min(1.0, test_acc + 0.1), "test_loss": 1 - test_acc,
                             "epochs": 6, "steps": 600})
    order = torch.randperm(len(rows), generator=generator).tolist()
    return [rows[i] for i in order]


def _by(rows: Sequence[dict[str, Any]], model: str) -> dict[int, dict[int, float]]:
    """{size: {seed: test_acc}} of one model's rows (a repeated (size, seed) keeps its last row)."""
    found: dict[int, dict[int, float]] = {}
    for row in rows:
        if row["model"] == model:
            found.setdefault(row["train_size"], {})[row["seed"]] = row["test_acc"]
    return found


def _gap(rows: Sequence[dict[str, Any]], a: str, b: str, *, pairing: str = "seed") -> dict[int, float]:
    """The reference (seed by seed), and variants: "mean" (unpaired means), "last" and "first" (one row per size),
    "zip" (the i-th seed of one model with the i-th of the other)."""
    ours, theirs = _by(rows, a), _by(rows, b)
    gaps = {}
    for size in sorted(set(ours) & set(theirs)):
        if pairing == "seed":
            seeds = sorted(set(ours[size]) & set(theirs[size]))
            if seeds:
                gaps[size] = sum(ours[size][s] - theirs[size][s] for s in seeds) / len(seeds)
        elif pairing == "zip":
            pairs = list(zip(sorted(ours[size].items()), sorted(theirs[size].items()), strict=False))
            gaps[size] = sum(x[1] - y[1] for x, y in pairs) / len(pairs)
        elif pairing == "mean":
            gaps[size] = (sum(ours[size].values()) / len(ours[size])
                          - sum(theirs[size].values()) / len(theirs[size]))
        else:
            firsts: dict[str, float] = {}
            for row in rows:
                if row["train_size"] == size and row["model"] in (a, b):
                    if pairing == "last" or row["model"] not in firsts:
                        firsts[row["model"]] = row["test_acc"]
            gaps[size] = firsts[a] - firsts[b]
    return gaps


class AccuracyGap(Question):
    name = "q4"
    answer_name = "accuracy_gap"

    def _explain_error(self, error: Exception) -> str | None:
        stopped_early = ("The run stopped early: some sizes and seeds have rows of one model only (the ResNet "
                         "has no 9,000-image row, and no seed 2 at 900). Use only the seeds both models have at a "
                         "size, and leave out a size where they share none.")
        if isinstance(error, KeyError):
            return stopped_early
        if isinstance(error, ZeroDivisionError):
            return f"If that's an average over no seeds: {stopped_early[0].lower()}{stopped_early[1:]}"
        return None

    def _check(self, accuracy_gap: Any) -> None:
        expect_callable(accuracy_gap, self.answer_name)
        rows = _rows()
        for a, b in [("vit", "resnet"), ("hybrid", "vit")]:
            inputs = Unchanged(rows=rows)  # the caller's own rows: the function must leave them alone
            out = call_leaving_alone(accuracy_gap, "`accuracy_gap`", rows, a, b)
            inputs.expect(self.answer_name)
            self._compare(out, rows, a, b)

    @staticmethod
    def _compare(out: Any, rows: list[dict[str, Any]], a: str, b: str) -> None:
        call = f"`accuracy_gap(rows, {a!r}, {b!r})`"
        expected = _gap(rows, a, b)
        if out is None:
            raise Wrong("`accuracy_gap` returned None: did you forget the `return`?")
        if not isinstance(out, dict):
            raise Wrong(f"{call} returned a value of type `{type(out).__name__}`; return a dict "
                        f"{{train_size: gap}}.")
        if any(isinstance(k, str) for k in out):
            raise Wrong(f"The keys of {call} are strings; use the `train_size` values of the rows (ints).")
        if any(isinstance(k, tuple) for k in out):
            raise Wrong(f"The keys of {call} are tuples; key the gaps by `train_size` alone (one gap per size, "
                        f"the seeds averaged).")
        values = {}
        for key, value in out.items():
            values[key] = as_number(value, f"the gap at train_size={key}")
        if set(values) - set(expected):
            extra = sorted(set(values) - set(expected), key=str)
            raise Wrong(f"{call} has a gap at train_size={extra[0]}, where the two models share no seed (a run "
                        f"stopped early: only one of them has rows there). Leave such a size out.")
        if set(expected) - set(values):
            missing = sorted(set(expected) - set(values))
            raise Wrong(f"{call} has no gap at train_size={missing[0]}, where both models have rows of the same "
                        f"seeds.")
        if list(values) != sorted(values):
            raise Wrong(f"The sizes of {call} come in the order {list(values)}: return them ascending, the order "
                        f"of the figure's x axis (a dict keeps the order its keys were added in).")

        def close(gaps: dict[int, float], scale: float = 1.0) -> bool:
            return all(math.isclose(values[k], scale * gaps[k], rel_tol=1e-9, abs_tol=1e-9) for k in gaps)

        if close(expected):
            return
        mistakes = [
            (_gap(rows, b, a), 1.0, f"Your gaps have the wrong sign: {call} is {a}'s accuracy minus {b}'s."),
            (expected, 100.0, "Your gaps are in percentage points; keep the rows' unit, fractions of 1."),
            (_gap(rows, a, b, pairing="last"), 1.0,
             "Your gaps use one row per model and size, the last one: every seed's row overwrote the one before "
             "(`gap[size] = ...` or a dict `{size: acc}` written in a loop). Collect every seed's difference and "
             "average them."),
            (_gap(rows, a, b, pairing="first"), 1.0,
             "Your gaps use one row per model and size, the first one found. Collect every seed's difference and "
             "average them."),
            (_gap(rows, a, b, pairing="zip"), 1.0,
             "Your gaps pair the models' rows by their position in the list of seeds (the first with the first, "
             "...), not by the seed itself. Where a seed is missing in the middle (the hybrid has no seed 1 at "
             "3,000 images), that pairs one model's seed 2 with the other's seed 1. Match the rows by their "
             "`seed`."),
            (_gap(rows, a, b, pairing="mean"), 1.0,
             "Your gaps subtract the two models' means over all their seeds. Where one model has a seed the other "
             "lacks (the run stopped early: the ResNet has no seed 2 at 900 images), that mixes in a seed with "
             "no partner. Pair the rows seed by seed, a's and b's of the same seed, and average only those "
             "differences."),
        ]
        for gaps, scale, message in mistakes:
            if close(gaps, scale):
                raise Wrong(message)
        raise Wrong(f"The gaps of {call} are not the mean over seeds of ({a}'s test_acc - {b}'s test_acc). For each "
                    f"size, pair the two models' rows of the same seed, take the differences, and average them.")


q4 = AccuracyGap()
