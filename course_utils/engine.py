"""Training and testing loops (the course's ``engine.train_step / test_step / train``).

Beyond the course's version: an optional learning-rate scheduler stepped every batch, gradient clipping,
mixed precision chosen by the hardware (``amp``, see ``course_utils.precision``), a check that stops on a
NaN/inf loss, a warning when the model has not started learning (``plateau_warning``), and a per-epoch
callback for checkpointing.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from course_utils.precision import Precision, choose_precision
from course_utils.progress import progress as progress_bar

Results = dict[str, list[float]]

# "Is my ViT learning?" (lesson 06): a model that predicts every class with the same probability has loss
# ln C, whatever the labels (label smoothing included). A run whose training loss is still within
# PLATEAU_TOLERANCE of ln C after PLATEAU_SHARE of its epochs has not started learning.
PLATEAU_TOLERANCE = 0.02
PLATEAU_SHARE = 0.25
LESSON = "notebooks/06_training_from_scratch.ipynb, section 'Is my ViT learning?'"
GUARD_EVERY = 25  # batches between two host reads of the loss on an accelerator (see train_step)


class PlateauWarning(UserWarning):
    """The training loss is still at ln C, the loss of a uniform guess: the model has not started learning."""


def at_uniform_guess(loss: float, num_classes: int, tolerance: float = PLATEAU_TOLERANCE) -> bool:
    """Whether a mean cross-entropy ``loss`` is within ``tolerance`` (relative) of ln ``num_classes``, the loss of
    predicting every class equally: a model at that loss has not started learning."""
    uniform = math.log(num_classes)
    return abs(loss - uniform) <= tolerance * uniform


def plateau_warning(train_losses: list[float], num_classes: int, epochs: int,
                    share: float = PLATEAU_SHARE, tolerance: float = PLATEAU_TOLERANCE) -> str | None:
    """The warning to give after the epochs of ``train_losses`` (one mean loss each) out of ``epochs``, or None.

    It fires once the run is past ``share`` of its epochs and the last epoch's loss is still within
    ``tolerance`` (relative) of ln ``num_classes``.
    """
    if num_classes < 2 or not train_losses or len(train_losses) < share * epochs:
        return None
    uniform = math.log(num_classes)
    loss = train_losses[-1]
    if not at_uniform_guess(loss, num_classes, tolerance):
        return None
    return (f"the training loss after epoch {len(train_losses)} of {epochs} is {loss:.4f}, within "
            f"{tolerance:.0%} of ln {num_classes} = {uniform:.4f}, the loss of predicting every class "
            f"equally: the model has not started learning. Likely causes: a learning rate too high or too low, "
            f"too short a warmup or schedule, position embeddings too small to be seen (a ViT on a task where "
            f"the layout matters), or too little data. See {LESSON}.")


def guard_interval(device: str | torch.device) -> int:
    """Batches between two reads of the loss by the NaN guard: 1 on the CPU, ``GUARD_EVERY`` elsewhere."""
    return 1 if torch.device(device).type == "cpu" else GUARD_EVERY


def output_classes(model: nn.Module) -> int | None:
    """The number of classes ``model`` predicts: the output width of its last Linear layer (None if none)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else None




def train_step(model: nn.Module, dataloader: DataLoader, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
               device: str | torch.device, scheduler: Any = None, grad_clip: float | None = None,
               amp: str | bool | Precision = False, scaler: torch.amp.GradScaler | None = None,
               epoch: int = 0, bar: Any = None) -> tuple[float, float]:
    """Train ``model`` for one epoch. Batches are (B, C, H, W) images and (B,) labels.

    ``amp`` is the precision: False / "off" (fp32), True / "auto" (chosen by the hardware), "bf16", "fp16"
    or a ``Precision``. Returns (mean loss, accuracy as a fraction in [0, 1]). Raises FloatingPointError
    naming the epoch and batch if the loss becomes NaN or inf. ``bar`` (from ``course_utils.progress``) is
    advanced every batch, with the running loss and accuracy.
    """
    model.train()
    precision = choose_precision(device, amp)
    scaler = scaler if scaler is not None else precision.grad_scaler()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    guard_every = guard_interval(device)
    for batch, (X, y) in enumerate(dataloader):
        X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with precision.autocast():
            logits = model(X)
            loss = loss_fn(logits, y)
        # The NaN guard reads the loss on the host: every batch on the CPU, where that is free, and every
        # GUARD_EVERY batches on an accelerator, where .item() waits for the device to finish its queue.
        if batch % guard_every == 0:
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise FloatingPointError(f"loss is {loss_value} at epoch {epoch}, batch {batch}; "
                                         f"try a lower learning rate, gradient clipping or --amp off")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if grad_clip is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
        if scheduler is not None:
            scheduler.step()
        total_loss += loss.detach() * len(y)
        correct += (logits.argmax(dim=1) == y).sum()
        seen += len(y)
        if bar is not None:
            bar.update()
            if batch % GUARD_EVERY == 0:  # reading the running means waits for the device too
                bar.set_postfix(loss=f"{total_loss.item() / seen:.3f}", acc=f"{correct.item() / seen:.3f}")
    if not math.isfinite(total_loss.item()):  # a NaN between two guarded batches
        raise FloatingPointError(f"loss became {total_loss.item()} during epoch {epoch}; "
                                 f"try a lower learning rate, gradient clipping or --amp off")
    return _mean_metrics(total_loss, correct, seen, device)


@torch.inference_mode()
def test_step(model: nn.Module, dataloader: DataLoader, loss_fn: nn.Module, device: str | torch.device,
              amp: str | bool | Precision = False, bar: Any = None) -> tuple[float, float]:
    """Evaluate ``model`` on ``dataloader`` in precision ``amp`` (as in ``train_step``); ``bar`` is advanced
    every batch.

    Returns (mean loss, accuracy as a fraction in [0, 1]).
    """
    model.eval()
    precision = choose_precision(device, amp)
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for X, y in dataloader:
        X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with precision.autocast():
            logits = model(X)
        total_loss += loss_fn(logits.float(), y) * len(y)
        correct += (logits.argmax(dim=1) == y).sum()
        seen += len(y)
        if bar is not None:
            bar.update()
    return _mean_metrics(total_loss, correct, seen, device)


def _mean_metrics(total_loss: torch.Tensor, correct: torch.Tensor, seen: int,
                  device: str | torch.device) -> tuple[float, float]:
    """Mean loss and accuracy over every process (all-reduced when torch.distributed is running)."""
    stats = torch.stack([total_loss.float(), correct.float(), torch.tensor(float(seen), device=device)])
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(stats)
    total, right, count = stats.tolist()
    return total / max(count, 1), right / max(count, 1)


def train(model: nn.Module, train_dataloader: DataLoader, test_dataloader: DataLoader,
          optimizer: torch.optim.Optimizer, loss_fn: nn.Module, epochs: int, device: str | torch.device,
          scheduler: Any = None, grad_clip: float | None = None, amp: str | bool | Precision = False,
          start_epoch: int = 0, results: Results | None = None,
          on_epoch_end: Callable[[int, Results], None] | None = None,
          progress: bool | None = None, verbose: bool = True,
          scaler: torch.amp.GradScaler | None = None) -> Results:
    """Train and test ``model`` for ``epochs`` epochs and return the per-epoch metrics.

    Returns ``{"train_loss": [...], "train_acc": [...], "test_loss": [...], "test_acc": [...]}`` with one
    value per epoch (accuracies are fractions in [0, 1]). ``scheduler`` is stepped after every batch.
    ``on_epoch_end(epoch, results)`` runs after each epoch (e.g. to save a checkpoint). ``progress``: a bar over
    the batches of every epoch (``course_utils.progress``: lines every few seconds when the output is not a
    terminal); None means unless TQDM_DISABLE=1, False never. ``start_epoch``
    and ``results`` continue an interrupted run; pass ``scaler`` (see ``Precision.grad_scaler``) to
    checkpoint and restore its state too. ``amp`` is the precision, resolved once by
    ``course_utils.precision.choose_precision`` and printed when ``verbose``. A DistributedDataParallel
    model is evaluated through its plain module, so test shards of unequal size never wait on each other.
    When ``verbose``, a ``PlateauWarning`` is given once if the training loss is still at ln C (the uniform
    guess) past a quarter of the epochs (``plateau_warning``).
    """
    results = results or {"train_loss": [], "train_acc": [], "test_loss": [], "test_acc": []}
    precision = choose_precision(device, amp)
    scaler = scaler if scaler is not None else precision.grad_scaler()
    if verbose:
        print(precision.describe(), flush=True)
    eval_model = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    num_classes = output_classes(eval_model)
    warned = False
    for epoch in range(start_epoch, epochs):
        sampler = getattr(train_dataloader, "sampler", None)
        if hasattr(sampler, "set_epoch"):  # DistributedSampler: a new, seeded shuffle every epoch
            sampler.set_epoch(epoch)
        bar = progress_bar(len(train_dataloader), f"epoch {epoch + 1}/{epochs} train", progress, leave=False)
        try:
            train_loss, train_acc = train_step(model, train_dataloader, loss_fn, optimizer, device, scheduler,
                                               grad_clip, precision, scaler, epoch, bar=bar)
        finally:
            bar.close()
        bar = progress_bar(len(test_dataloader), f"epoch {epoch + 1}/{epochs} test", progress, leave=False)
        try:
            test_loss, test_acc = test_step(eval_model, test_dataloader, loss_fn, device, precision, bar=bar)
        finally:
            bar.close()
        for key, value in zip(results, (train_loss, train_acc, test_loss, test_acc), strict=True):
            results[key].append(value)
        if verbose:
            print(f"Epoch: {epoch + 1} | train_loss: {train_loss:.4f} | train_acc: {train_acc:.4f} | "
                  f"test_loss: {test_loss:.4f} | test_acc: {test_acc:.4f}", flush=True)
        message = None if warned or num_classes is None else plateau_warning(results["train_loss"], num_classes, epochs)
        if message is not None and verbose:
            warnings.warn(message, PlateauWarning, stacklevel=2)
            warned = True
        if on_epoch_end is not None:
            on_epoch_end(epoch, results)
    return results


def warmup_cosine_scheduler(optimizer: torch.optim.Optimizer, warmup_steps: int,
                            total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Linear warmup from ~0 to the base lr over ``warmup_steps``, then cosine decay to 0 (paper App. B.1)."""
    warmup_steps = max(0, min(warmup_steps, total_steps - 1))
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warmup_steps))
    if warmup_steps == 0:
        return cosine
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1e-3, total_iters=warmup_steps)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_steps])
