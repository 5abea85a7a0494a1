"""Exercises of lesson 06, training from scratch: the paper's recipe, scaled down (see ``course_utils.exercises``).

q1 the warmup + cosine learning-rate schedule · q2 label smoothing by hand · q3 how many optimizer steps · q4
which parameters get weight decay
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import (
    NumberQuestion,
    Question,
    Unchanged,
    Wrong,
    as_number,
    call_for_gradients,
    expect_callable,
    expect_close,
    expect_gradients,
    expect_tensor,
    randn,
    refusing,
)
from course_utils.optim import NO_WEIGHT_DECAY, weight_decay_groups
from course_utils.vit import TransformerEncoderBlock, ViT

LESSON = "06_training_from_scratch"


# ---------------------------------------------------------------------------------------------------------
# q1: the learning-rate schedule
# ---------------------------------------------------------------------------------------------------------

def _schedule(step: int, base: float, warmup: int, total: int, *, warmup_shift: int = 0, start: float = 0.0,
              decay: str = "cosine", clock_from_zero: bool = False) -> float:
    """The reference schedule (defaults) and its typical variants, for the diagnoses."""
    if step < warmup:
        return base * (start + (1 - start) * (step + warmup_shift) / warmup)
    if clock_from_zero:
        return base * 0.5 * (1 + math.cos(math.pi * step / total))
    progress = (step - warmup) / (total - warmup)
    if decay == "linear":
        return base * (1 - progress)
    if decay == "no-half":
        return base * (1 + math.cos(math.pi * progress))
    if decay == "no-pi":
        return base * 0.5 * (1 + math.cos(progress))
    if decay == "up":
        return base * 0.5 * (1 - math.cos(math.pi * progress))
    return base * 0.5 * (1 + math.cos(math.pi * progress))


def _no_warmup(step: int, base: float, warmup: int, total: int) -> float:
    return base * 0.5 * (1 + math.cos(math.pi * step / total))


def _constant_warmup(step: int, base: float, warmup: int, total: int) -> float:
    return base if step < warmup else _schedule(step, base, warmup, total)


class WarmupCosine(Question):
    name = "q1"
    answer_name = "lr_at"

    def _check(self, lr_at: Any) -> None:
        expect_callable(lr_at, self.answer_name)
        for base, warmup, total in [(1e-3, 10, 50), (0.5, 4, 30), (3.0, 1, 7)]:
            values = []
            for step in range(total + 1):
                value = lr_at(step, base, warmup, total)
                if value is None:
                    raise Wrong("`lr_at` returned None: did you forget the `return`?")
                values.append(as_number(value, f"lr_at({step}, {base}, {warmup}, {total})"))
            self._compare(values, base, warmup, total)

    @staticmethod
    def _compare(values: list[float], base: float, warmup: int, total: int) -> None:
        steps = range(total + 1)

        def curve(fn: Any, **kw: Any) -> torch.Tensor:
            return torch.tensor([fn(s, base, warmup, total, **kw) for s in steps], dtype=torch.float64)

        got, expected = torch.tensor(values, dtype=torch.float64), curve(_schedule)
        about = f"(base_lr={base}, warmup_steps={warmup}, total_steps={total})"
        wrong = [s for s in steps if not math.isclose(values[s], expected[s].item(), rel_tol=1e-5,
                                                      abs_tol=1e-7 * base)]
        if wrong:
            part = "the warmup" if wrong[0] < warmup else "the decay"
            otherwise = (f"Your schedule first goes wrong at step {wrong[0]} {about}, in {part}: it gives "
                         f"{values[wrong[0]]:.6g} there. Check that piece against the formula, and its two "
                         f"ends.")
        else:
            otherwise = f"Your schedule is close to the reference {about}, but not close enough: check the formula."
        expect_close(
            got, expected, atol=1e-7 * base, rtol=1e-5, otherwise=otherwise,
            mistakes=[
                (curve(_no_warmup),
                 f"Your schedule has no warmup: it starts at base_lr at step 0 {about}. The rate should rise "
                 f"from 0 during the first warmup_steps steps, and only then decay."),
                (curve(_constant_warmup),
                 f"Your warmup holds the rate at base_lr {about}. It should rise linearly from 0 at step 0 "
                 f"to base_lr at step warmup_steps."),
                (curve(_schedule, decay="linear"),
                 "Your warmup is right, but you use a linear decay (the paper's choice for JFT-300M and "
                 "ImageNet-21k). The lesson's schedule decays along half a cosine period."),
                (curve(_schedule, warmup_shift=1),
                 f"Your warmup peaks one step early: your rate already reaches base_lr at step "
                 f"warmup_steps − 1 {about}. At step 0 it should be exactly 0, and it reaches base_lr at "
                 f"step warmup_steps."),
                (curve(_schedule, start=1e-3),
                 "Your warmup starts at 0.1% of the peak, like `engine.warmup_cosine_scheduler`. This "
                 "exercise's schedule starts at exactly 0 at step 0 (see the prompt)."),
                (curve(_schedule, clock_from_zero=True),
                 f"Your decay measures its progress from step 0 instead of from the end of the warmup, so "
                 f"the rate drops suddenly after the peak {about}. Start the cosine's clock at "
                 f"warmup_steps: progress = (step − warmup_steps) / (total_steps − warmup_steps)."),
                (curve(_schedule, decay="no-half"),
                 "Your cosine decay starts at twice base_lr: 1 + cos(·) runs from 2 to 0, so it needs the "
                 "factor ½."),
                (curve(_schedule, decay="no-pi"),
                 "Your cosine's argument runs from 0 to 1, so the rate doesn't reach 0 at the end. Half a "
                 "period is cos(π · progress), from cos(0) = 1 to cos(π) = −1."),
                (curve(_schedule, decay="up"),
                 "Your decay goes up instead of down: ½(1 − cos) rises from 0 to 1. Use ½(1 + cos)."),
            ],
        )


q1 = WarmupCosine()


# ---------------------------------------------------------------------------------------------------------
# q2: label smoothing by hand
# ---------------------------------------------------------------------------------------------------------

def _smoothed_loss(logits: torch.Tensor, targets: torch.Tensor, epsilon: float, *, others: float | None = None,
                   true_extra: float | None = None, reduction: str = "mean", log: bool = True) -> torch.Tensor:
    """-sum_k q_k log p_k with q = (1 - eps) on the true class + the `others` mass on every class (variants)."""
    num_classes = logits.shape[-1]
    others = epsilon / num_classes if others is None else others
    true_extra = others if true_extra is None else true_extra
    one_hot = F.one_hot(targets, num_classes).to(logits.dtype)
    q = one_hot * (1 - epsilon + true_extra) + (1 - one_hot) * others
    scores = logits.log_softmax(dim=-1) if log else logits.softmax(dim=-1)
    losses = -(q * scores).sum(dim=-1)
    return losses.mean() if reduction == "mean" else losses.sum() if reduction == "sum" else losses


_K_FROM_TARGETS = ("Your function takes the number of classes K from the targets, but a batch need not hold every "
                   "class, and this one misses some (with `F.one_hot(targets)` and no number "
                   "of classes, PyTorch guesses K = targets.max() + 1). K is the number of logits per image.")


def _close_to(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool(torch.allclose(a.detach().double(), b.double(), atol=1e-6, rtol=1e-5))


class LabelSmoothing(Question):
    name = "q2"
    answer_name = "smoothed_cross_entropy"

    def _check(self, smoothed_cross_entropy: Any) -> None:
        expect_callable(smoothed_cross_entropy, self.answer_name)
        refused = (f"`{self.answer_name}` should compute the loss itself; it called `F.cross_entropy` (which "
                   f"`nn.CrossEntropyLoss` calls too), the reference the checker compares it with.")
        # (batch, classes, epsilon, targets): random targets, then batches that miss some classes (the last one
        # among them), and a batch of one image.
        cases = [(6, 5, 0.1, None), (4, 3, 0.3, None), (5, 4, 0.0, None), (6, 5, 0.1, [0, 1, 1, 3, 0, 2]),
                 (1, 4, 0.2, [2])]
        for seed, (batch, classes, epsilon, labels) in enumerate(cases):
            logits = 2 * randn(batch, classes, seed=seed)
            targets = (torch.tensor(labels) if labels is not None else
                       torch.randint(classes, (batch,), generator=torch.Generator().manual_seed(seed)))
            missing = int(targets.max()) < classes - 1
            inputs = Unchanged(logits=logits, targets=targets)
            try:
                with refusing(F, "cross_entropy", refused):
                    out = smoothed_cross_entropy(logits, targets, epsilon)
            except RuntimeError as error:
                if missing and ("size of tensor" in str(error) or "must match" in str(error)):
                    raise Wrong(_K_FROM_TARGETS) from None
                raise
            inputs.expect(self.answer_name)
            if isinstance(out, float):
                raise Wrong("`smoothed_cross_entropy` returned a Python float. Keep the loss a tensor (no "
                            "`.item()`), so that `loss.backward()` can compute the gradients.")
            out = expect_tensor(out, "`smoothed_cross_entropy` returned")
            about = f"for logits of shape {tuple(logits.shape)} and epsilon={epsilon}"
            if out.numel() != 1:
                extra = (" That's one loss per image: average them over the batch."
                         if tuple(out.shape) == (batch,) else "")
                raise Wrong(f"`smoothed_cross_entropy` returned shape {tuple(out.shape)} {about}; the loss is "
                            f"one number, the mean over the batch.{extra}")
            out = out.reshape(())
            expected = F.cross_entropy(logits, targets, label_smoothing=epsilon)
            seen = len(targets.unique())
            if seen < classes and epsilon and _close_to(out, _smoothed_loss(logits, targets, epsilon,
                                                                            others=epsilon / seen)):
                raise Wrong(_K_FROM_TARGETS)
            expect_close(
                out, expected, atol=1e-6, rtol=1e-5,
                mistakes=[
                    (_smoothed_loss(logits, targets, epsilon, others=epsilon / max(classes - 1, 1), true_extra=0.0),
                     "You spread ε over the K − 1 other classes. Label smoothing spreads it over all K classes, "
                     "the true one included: every class gets ε/K, and the true class 1 − ε on top of that."),
                    (_smoothed_loss(logits, targets, epsilon, true_extra=0.0),
                     "Your target gives the true class only 1 − ε, so its row sums to less than 1. The uniform "
                     "ε/K goes to every class, the true one included."),
                    (_smoothed_loss(logits, targets, 0.0),
                     f"Your loss is the plain cross-entropy, with no smoothing {about}: mix ε of the uniform "
                     f"distribution into the target."),
                    (_smoothed_loss(logits, targets, epsilon, others=epsilon),
                     "Your target gives every class ε, so its rows sum to more than 1. Spread ε over the K "
                     "classes: ε/K each."),
                    (_smoothed_loss(logits, targets, epsilon, reduction="sum"),
                     "Your loss is the sum over the batch; nn.CrossEntropyLoss averages over it (mean), so "
                     "that the loss doesn't grow with the batch size."),
                    (-_smoothed_loss(logits, targets, epsilon),
                     "Your loss has the wrong sign: log-probabilities are negative, and the cross-entropy is "
                     "−Σ q_k log p_k, a positive number."),
                    (_smoothed_loss(logits, targets, epsilon, log=False),
                     "You used the probabilities p_k themselves. The cross-entropy uses their logarithms: "
                     "`F.log_softmax(logits, dim=-1)`."),
                ],
                otherwise=f"Your loss is one number, but not the smoothed cross-entropy {about}. Build q (each row "
                          f"sums to 1), then −Σ q_k log p_k for each image, then the batch mean.",
            )
            # The loss is what training differentiates: its gradient must reach the logits.
            leaf = logits.clone().requires_grad_()
            with refusing(F, "cross_entropy", refused):
                out = call_for_gradients(smoothed_cross_entropy, "Your loss", leaf, targets, epsilon)
            expect_gradients(out.reshape(()), F.cross_entropy(leaf, targets, label_smoothing=epsilon),
                             {"logits": leaf}, "Your loss")


q2 = LabelSmoothing()


# ---------------------------------------------------------------------------------------------------------
# q3: how many optimizer steps
# ---------------------------------------------------------------------------------------------------------

class OptimizerSteps(NumberQuestion):
    name = "q3"
    answer_name = "total_steps"
    expected = 470
    diagnoses = {
        460: "That drops the last, partial batch of every epoch (`drop_last=True`). The DataLoader keeps it by "
             "default, and it is an optimizer step too.",
        468: "You divided all 10 × 12,000 images by 256 at once. But each epoch is its own pass over the data and "
             "ends with its own partial batch: count the batches of one epoch first.",
        469: "You divided all 10 × 12,000 images by 256 at once. But each epoch is its own pass over the data and "
             "ends with its own partial batch: count the batches of one epoch first.",
        47: "That's the number of steps in one epoch; the run has 10.",
        46: "That's one epoch without its partial batch; the run has 10 epochs, and each keeps its last batch.",
        940: "That's the count at batch size 128. The batch size is now 256: fewer, larger steps.",
        930: "That's the count at batch size 128 without the partial batches. The batch size is now 256.",
        1_880: "That's the count at batch size 64, the lesson's. The batch size is now 256: fewer, larger steps.",
        752: "That's the lesson's own run (4 epochs at batch size 64). This run has 10 epochs at batch size 256.",
        120_000: "That's the number of images the run sees. One optimizer step processes a whole batch of 256.",
        4_700: "That's 100 epochs' worth; the run has 10.",
        4_690: "That's 100 epochs' worth; the run has 10.",
    }
    otherwise = "Count the batches of one 12,000-image epoch at batch size 256 (the last one is partial), then the epochs."


q3 = OptimizerSteps()


# ---------------------------------------------------------------------------------------------------------
# q4: which parameters get weight decay
# ---------------------------------------------------------------------------------------------------------

def _reference_groups(model: nn.Module) -> tuple[set[str], set[str]]:
    """The names in the training script's (decay, no decay) groups."""
    names = {id(parameter): name for name, parameter in model.named_parameters()}
    return tuple({names[id(parameter)] for parameter in group} for group in weight_decay_groups(model))


def _names(group: Any, which: str) -> list[str]:
    if isinstance(group, (str, torch.Tensor)) or not isinstance(group, Iterable):
        raise Wrong(f"The {which} group should be a list of parameter names (strings), got a value of "
                    f"type `{type(group).__name__}`.")
    names = list(group)
    if any(isinstance(n, torch.Tensor) for n in names):
        raise Wrong(f"Your {which} group holds tensors (the parameters themselves). Return their names, the "
                    f"strings that `model.named_parameters()` yields beside them.")
    if not all(isinstance(n, str) for n in names):
        kinds = sorted({type(n).__name__ for n in names if not isinstance(n, str)})
        raise Wrong(f"Your {which} group should hold parameter names (strings), but it holds {', '.join(kinds)}.")
    return names


class DecayGroups(Question):
    name = "q4"
    answer_name = "decay_groups"

    def _check(self, decay_groups: Any) -> None:
        expect_callable(decay_groups, self.answer_name)
        vit = ViT(img_size=16, patch_size=8, num_transformer_layers=2, embedding_dim=16, mlp_size=32, num_heads=2,
                  num_classes=3)
        for model, what in [(vit, "a small ViT"), (TransformerEncoderBlock(16, 2, 32), "a TransformerEncoderBlock")]:
            inputs = Unchanged(model=model)
            result = decay_groups(model)
            inputs.expect(self.answer_name)
            if result is None:
                raise Wrong("`decay_groups` returned None: did you forget the `return`?")
            if isinstance(result, (tuple, list)) and result and all(isinstance(n, str) for n in result):
                raise Wrong("`decay_groups` returned one list of names. Return two, `decay, no_decay`: every "
                            "parameter goes in one of them.")
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                got = (f"{len(result)} items" if isinstance(result, (tuple, list))
                       else f"a value of type `{type(result).__name__}`")
                raise Wrong(f"`decay_groups` should return a pair, `decay, no_decay` (two lists of names); it "
                            f"returned {got}.")
            decay, no_decay = _names(result[0], "decay"), _names(result[1], "no_decay")
            self._check_groups(model, what, decay, no_decay)

    @staticmethod
    def _check_groups(model: nn.Module, what: str, decay: list[str], no_decay: list[str]) -> None:
        parameters = dict(model.named_parameters())
        expected_decay, expected_no_decay = _reference_groups(model)
        if unknown := [n for n in decay + no_decay if n not in parameters]:
            raise Wrong(f"{unknown[0]!r} is not the name of a parameter of {what}. Use the names that "
                        f"`model.named_parameters()` yields.")
        if set(decay) == expected_no_decay and set(no_decay) == expected_decay:
            raise Wrong("Your two groups are swapped: return `(decay, no_decay)`, the decayed weights first.")
        if twice := sorted(set(decay) & set(no_decay)) or [n for n in set(decay + no_decay)
                                                            if (decay + no_decay).count(n) > 1]:
            raise Wrong(f"{twice[0]!r} is listed more than once: every parameter belongs to exactly one group.")
        if missing := sorted(set(parameters) - set(decay) - set(no_decay)):
            raise Wrong(f"{len(missing)} parameter(s) of {what} are in neither group, e.g. {missing[0]!r}: every "
                        f"parameter belongs to exactly one.")
        wrongly_decayed = set(decay) & expected_no_decay
        wrongly_spared = set(no_decay) & expected_decay
        if wrongly_decayed & set(NO_WEIGHT_DECAY):
            raise Wrong("Your decay group holds the class token and/or E_pos. They are 3-D tensors, (1, 1, D) and "
                        "(1, N + 1, D), so a rule on `ndim` alone lets them through: keep them out by name. They "
                        "are learned inputs, not weights that multiply anything.")
        if "patch_embedding.patcher.weight" in wrongly_spared:
            raise Wrong("Your no_decay group holds `patch_embedding.patcher.weight`, the patch projection E: a "
                        "weight (a 4-D convolution kernel) that should decay. A substring test such as "
                        "`\"embedding\" in name` catches it along with the class token and E_pos: compare the "
                        "names exactly.")
        one_d = {n for n in wrongly_decayed if parameters[n].ndim < 2}
        if one_d:
            biases = {n for n in one_d if n.endswith("bias")}
            if one_d == {"classifier.0.weight", "classifier.0.bias"} & one_d:
                raise Wrong("`classifier.0.weight` and `classifier.0.bias` are Eq 4's LayerNorm: its name doesn't "
                            "say so. A rule on names (\"norm\" in name) misses it; a rule on `ndim` doesn't.")
            if biases == one_d:
                raise Wrong("Your decay group holds biases. They are 1-D and should not decay: pulling a bias "
                            "towards 0 doesn't make the model simpler.")
            if not biases:
                raise Wrong("Your decay group holds LayerNorm scales (1-D tensors). They should not decay: "
                            "pulling a LayerNorm's scale towards 0 fights what the layer needs to do.")
            raise Wrong("Your decay group holds biases and LayerNorm parameters (1-D tensors). Only the weight "
                        "matrices should decay.")
        if wrongly_spared:
            example = sorted(wrongly_spared)[0]
            raise Wrong(f"Your no_decay group holds weight matrices, e.g. {example!r} "
                        f"({parameters[example].ndim}-D): the weights of the Linear layers are exactly what "
                        f"weight decay is for.")


q4 = DecayGroups()
