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
    Mistake,
    NumberQuestion,
    Question,
    Wrong,
    as_number,
    expect_callable,
    expect_close,
    expect_tensor,
    randn,
)
from course_utils.optim import NO_WEIGHT_DECAY, weight_decay_groups
from course_utils.vit import TransformerEncoderBlock, ViT

LESSON = "06_training_from_scratch"
TITLE = "Training from scratch"
INTRO = """Four exercises on the training recipe: the warmup + cosine learning-rate schedule written as a
formula, label smoothing computed by hand, the number of optimizer steps in a run, and which parameters get
weight decay."""
SETUP = """\
import math

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import lesson06 as ex
from course_utils.vit import ViT
"""


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
    title = "Linear warmup, then cosine decay"
    answer_name = "lr_at"
    prompt = """\
Write the learning-rate schedule of the lesson as a formula: `lr_at(step, base_lr, warmup_steps, total_steps)`
returns the learning rate (a float) used at optimizer step `step`, counting from 0:

- **warmup**, for `step < warmup_steps`: the rate rises linearly from exactly 0 at step 0 towards `base_lr`;
- it reaches `base_lr` at `step == warmup_steps`, the peak;
- **cosine decay**, for `warmup_steps <= step <= total_steps`: half a cosine period, from `base_lr` at the peak
  down to 0 at `step == total_steps`:
  $$\\eta = \\eta_\\text{base} \\cdot \\tfrac{1}{2}\\left(1 + \\cos\\left(\\pi \\cdot
  \\frac{\\text{step} - \\text{warmup\\_steps}}{\\text{total\\_steps} - \\text{warmup\\_steps}}\\right)\\right).$$

(`engine.warmup_cosine_scheduler` has the same shape, except that its warmup starts at 0.1% of the peak instead
of 0, so that the very first step is not wasted; from the peak on the two agree.) The checker compares your
function with a reference at every step of a few short schedules; `warmup_steps` is at least 1."""
    stub = '''\
def lr_at(step: int, base_lr: float, warmup_steps: int, total_steps: int) -> float:
    """The learning rate at `step`: linear warmup from 0 to base_lr, then cosine decay to 0 at total_steps."""
    raise NotImplementedError  # replace this line with your code
'''
    _solution = '''\
def lr_at(step: int, base_lr: float, warmup_steps: int, total_steps: int) -> float:
    """The learning rate at `step`: linear warmup from 0 to base_lr, then cosine decay to 0 at total_steps."""
    if step < warmup_steps:
        return base_lr * step / warmup_steps  # 0 at step 0, rising by base_lr / warmup_steps per step
    progress = (step - warmup_steps) / (total_steps - warmup_steps)  # 0 at the peak, 1 at the end
    return base_lr * 0.5 * (1 + math.cos(math.pi * progress))  # base_lr at progress 0, 0 at progress 1
'''
    _hint = (
        "Two cases: before the peak (`step < warmup_steps`) and from the peak on. In the first, the rate is "
        "base_lr times the fraction of the warmup done; in the second, measure the progress from the peak "
        "(0) to the end (1) and put it in the cosine.",
        "Check the two ends of each piece: at step 0 the rate is 0; at step warmup_steps it is base_lr (that's "
        "where cos(0) = 1); at step total_steps it is 0 (cos(π) = −1).",
    )
    why = ("The peak sits exactly at the end of the warmup and the decay ends exactly at 0: the shape the lesson "
           "plotted, in two lines of arithmetic.")
    mistakes = (
        Mistake('''
def lr_at(step, base_lr, warmup_steps, total_steps):
    return base_lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))  # no warmup
''', expect="no warmup"),
        Mistake('''
def lr_at(step, base_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    return base_lr * (total_steps - step) / (total_steps - warmup_steps)  # linear decay
''', expect="linear decay"),
        Mistake('''
def lr_at(step, base_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps  # peaks one step early
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return base_lr * 0.5 * (1 + math.cos(math.pi * progress))
''', expect="one step early"),
        Mistake('''
def lr_at(step, base_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    return base_lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))  # the cosine's clock starts at 0
''', expect="clock"),
    )

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


class LabelSmoothing(Question):
    name = "q2"
    title = "Label smoothing by hand"
    answer_name = "smoothed_cross_entropy"
    prompt = """\
`nn.CrossEntropyLoss(label_smoothing=ε)` trains against a softened target. For an image of class $y$ among
$K$ classes, the target distribution $q$ spreads the mass $\\varepsilon$ **evenly over all $K$ classes**, the
true one included:

$$q_k = (1 - \\varepsilon)\\,\\mathbb{1}[k = y] + \\frac{\\varepsilon}{K}, \\qquad
\\mathcal{L} = -\\sum_{k=1}^{K} q_k \\log p_k, \\qquad p = \\mathrm{softmax}(\\text{logits}).$$

So the true class gets $1 - \\varepsilon + \\varepsilon/K$ and every other class $\\varepsilon/K$ (the lesson's
§5). Write `smoothed_cross_entropy(logits, targets, epsilon)`:

- `logits`: shape $(B, K)$; `targets`: the class indices, shape $(B,)$, integers; `epsilon`: a float;
- it returns **one number**, a 0-d tensor: $\\mathcal{L}$ averaged over the batch.

Use `F.log_softmax` (it is exact where `softmax(...).log()` can underflow) and `F.one_hot` or indexing; not
`F.cross_entropy` or `nn.CrossEntropyLoss`, which the checker uses as the reference."""
    stub = '''\
def smoothed_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Cross-entropy against the smoothed target (1 - eps) * one_hot + eps / K, averaged over the batch."""
    raise NotImplementedError  # replace this line with your code
'''
    _solution = '''\
def smoothed_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Cross-entropy against the smoothed target (1 - eps) * one_hot + eps / K, averaged over the batch."""
    K = logits.shape[-1]
    log_p = F.log_softmax(logits, dim=-1)  # (B, K)
    q = (1 - epsilon) * F.one_hot(targets, K).to(logits.dtype) + epsilon / K  # (B, K): each row sums to 1
    return -(q * log_p).sum(dim=-1).mean()  # cross-entropy per image, then the batch mean
'''
    _hint = (
        "Build the target q as a (B, K) tensor: (1 − ε) times the one-hot of the targets, plus ε/K everywhere. "
        "Each of its rows sums to 1. Then the cross-entropy of each row with log p, and the batch mean.",
        "`F.one_hot(targets, K)` gives integers: convert it with `.to(logits.dtype)` (or `.float()`). The loss "
        "of one image is `-(q * log_p).sum(dim=-1)`.",
    )
    why = ("Written out, 𝓛 = (1 − ε)·CE(y) + ε·(mean over the classes of −log p_k): a bit of the loss always "
           "asks for every class, so no logit is pushed to infinity.")
    mistakes = (
        Mistake('''
def smoothed_cross_entropy(logits, targets, epsilon):
    K = logits.shape[-1]
    one_hot = F.one_hot(targets, K).float()
    q = (1 - epsilon) * one_hot + epsilon / (K - 1) * (1 - one_hot)  # eps over the K - 1 other classes
    return -(q * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()
''', expect="K − 1"),
        Mistake('''
def smoothed_cross_entropy(logits, targets, epsilon):
    return -F.log_softmax(logits, dim=-1).gather(1, targets[:, None]).mean()  # no smoothing
''', expect="no smoothing"),
        Mistake('''
def smoothed_cross_entropy(logits, targets, epsilon):
    K = logits.shape[-1]
    q = (1 - epsilon) * F.one_hot(targets, K).float() + epsilon / K
    return -(q * F.log_softmax(logits, dim=-1)).sum()  # summed over the batch
''', expect="sum"),
        Mistake('''
def smoothed_cross_entropy(logits, targets, epsilon):
    K = logits.shape[-1]
    q = (1 - epsilon) * F.one_hot(targets, K).float() + epsilon / K
    return -(q * F.log_softmax(logits, dim=-1)).sum(dim=-1)  # one loss per image
''', expect="one number"),
    )

    def _check(self, smoothed_cross_entropy: Any) -> None:
        expect_callable(smoothed_cross_entropy, self.answer_name)
        for seed, (batch, classes, epsilon) in enumerate([(6, 5, 0.1), (4, 3, 0.3), (5, 4, 0.0)]):
            logits = 2 * randn(batch, classes, seed=seed)
            targets = torch.randint(classes, (batch,), generator=torch.Generator().manual_seed(seed))
            with torch.no_grad():
                out = smoothed_cross_entropy(logits.clone(), targets.clone(), epsilon)
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


q2 = LabelSmoothing()


# ---------------------------------------------------------------------------------------------------------
# q3: how many optimizer steps
# ---------------------------------------------------------------------------------------------------------

class OptimizerSteps(NumberQuestion):
    name = "q3"
    title = "How many optimizer steps?"
    answer_name = "total_steps"
    prompt = """\
The scheduler needs the total number of optimizer steps of the run in advance (`total_steps`): one step per
batch. The lesson trains on the 12,000 training images of `shapes` for 6 epochs at batch size 64. You move to a
GPU, train for **10** epochs and raise the batch size to **256**: a `DataLoader(..., batch_size=256,
shuffle=True)`, which keeps each epoch's last, partial batch (`drop_last=False`, the default).

**How many optimizer steps does the 10-epoch run take?** Work it out by hand and store it in `total_steps`. You
can verify it afterwards with `len(DataLoader(range(12_000), batch_size=256))`, the number of batches in one
epoch."""
    stub = "total_steps = ...  # a number\n"
    _solution = '''\
steps_per_epoch = math.ceil(12_000 / 256)  # 46 full batches and a last one of 224 images
total_steps = 10 * steps_per_epoch
'''
    _hint = ("Count the batches of one epoch first: 12,000 / 256 is not a whole number, and the last, partial "
             "batch is a step too. Each epoch is a new pass that ends with its own partial batch.")
    why = "`len(train_dataloader) * epochs` is what the lesson passes to `engine.warmup_cosine_scheduler`."
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
        1_128: "That's the lesson's own run (6 epochs at batch size 64). This run has 10 epochs at batch size 256.",
        120_000: "That's the number of images the run sees. One optimizer step processes a whole batch of 256.",
        4_700: "That's 100 epochs' worth; the run has 10.",
        4_690: "That's 100 epochs' worth; the run has 10.",
    }
    otherwise = "Count the batches of one 12,000-image epoch at batch size 256 (the last one is partial), then the epochs."
    mistakes = (
        Mistake("total_steps = 10 * (12_000 // 256)", expect="drop_last=True"),
        Mistake("total_steps = 10 * 12_000 // 256", expect="at once"),
        Mistake("total_steps = 940", expect="batch size 128"),
        Mistake("total_steps = 12_000 / 256 * 10", expect="whole number"),
    )


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
    title = "Which parameters get weight decay?"
    answer_name = "decay_groups"
    prompt = """\
AdamW's weight decay pulls parameters towards 0 at every step. The lesson decays only the **weight matrices**
and leaves the rest alone. Write `decay_groups(model)`, which returns a pair of lists of parameter names (as
`model.named_parameters()` gives them), `(decay, no_decay)`:

- `decay`: every parameter with 2 or more dimensions, the weights of the Linear layers and of the patch
  projection $\\mathbf{E}$ (a 4-D convolution kernel), **except** the two below;
- `no_decay`: every parameter with fewer than 2 dimensions (the biases, and the LayerNorms' scales and
  shifts) and the learned inputs `class_embedding` and `position_embedding` (3-D tensors, but not weights that
  multiply anything).

Every parameter in exactly one of the two lists. The checker tries it on a small `ViT` and on a lone
`TransformerEncoderBlock`."""
    stub = '''\
def decay_groups(model: nn.Module) -> tuple[list[str], list[str]]:
    """(decay, no_decay): the names of the parameters that get weight decay and of those that don't."""
    raise NotImplementedError  # replace this line with your code
'''
    _solution = '''\
def decay_groups(model: nn.Module) -> tuple[list[str], list[str]]:
    """(decay, no_decay): the names of the parameters that get weight decay and of those that don't."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.ndim < 2 or name in ("class_embedding", "position_embedding"):
            no_decay.append(name)  # biases, LayerNorm scales and shifts, the class token, E_pos
        else:
            decay.append(name)  # weight matrices, and the patch projection's kernel
    return decay, no_decay
'''
    _hint = (
        "Loop over `model.named_parameters()`: each item is a (name, tensor) pair. Decide by the tensor's "
        "number of dimensions, `param.ndim`, and by two exact names.",
        "A 1-D tensor never decays. Of the tensors with 2 or more dimensions, only `class_embedding` and "
        "`position_embedding` are kept out. Compare names exactly (`name in (...)`): a substring test catches "
        "more than you want.",
    )
    why = ("These are the two parameter groups the lesson gives AdamW; timm skips the same ones (1-D tensors, "
           "plus `no_weight_decay()`: the class token and E_pos).")
    mistakes = (
        Mistake('''
def decay_groups(model):
    names = [name for name, _ in model.named_parameters()]
    decay = [n for n in names if n not in ("class_embedding", "position_embedding")]  # biases and LN too
    return decay, [n for n in names if n not in decay]
''', expect="biases"),
        Mistake('''
def decay_groups(model):
    decay = [n for n, p in model.named_parameters() if p.ndim >= 2]  # the embeddings are 3-D
    return decay, [n for n, p in model.named_parameters() if p.ndim < 2]
''', expect="3-D"),
        Mistake('''
def decay_groups(model):
    decay = [n for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    return decay, [n for n, p in model.named_parameters() if n not in decay]
''', expect="substring"),
        Mistake('''
def decay_groups(model):
    names = [n for n, _ in model.named_parameters()]
    no_decay = [n for n in names if "bias" in n or "norm" in n or n in ("class_embedding", "position_embedding")]
    return [n for n in names if n not in no_decay], no_decay
''', expect="classifier.0"),
        Mistake('''
def decay_groups(model):
    decay = [n for n, p in model.named_parameters() if p.ndim >= 2 and n not in ("class_embedding", "position_embedding")]
    return [n for n, _ in model.named_parameters() if n not in decay], decay  # swapped
''', expect="swapped"),
        Mistake('''
def decay_groups(model):
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and n not in ("class_embedding", "position_embedding")]
    return decay, [p for n, p in model.named_parameters() if p.ndim < 2 or n in ("class_embedding", "position_embedding")]
''', expect="names"),
    )

    def _check(self, decay_groups: Any) -> None:
        expect_callable(decay_groups, self.answer_name)
        vit = ViT(img_size=16, patch_size=8, num_transformer_layers=2, embedding_dim=16, mlp_size=32, num_heads=2,
                  num_classes=3)
        for model, what in [(vit, "a small ViT"), (TransformerEncoderBlock(16, 2, 32), "a TransformerEncoderBlock")]:
            result = decay_groups(model)
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
