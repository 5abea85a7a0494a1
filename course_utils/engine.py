"""Training and testing loops (the course's ``engine.train_step / test_step / train``).

Beyond the course's version: an optional learning-rate scheduler stepped every batch, gradient clipping,
mixed precision chosen by the hardware (``amp``, see ``course_utils.precision``), a check that stops on a
NaN/inf loss, a warning when the model has not started learning (``plateau_warning``), and a per-epoch
callback for checkpointing.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from course_utils.precision import Precision, choose_precision

Results = dict[str, list[float]]

# "Is my ViT learning?" (lesson 06): a model that predicts every class with the same probability has loss
# ln C, whatever the labels (label smoothing included). A run whose training loss is still within
# PLATEAU_TOLERANCE of ln C after PLATEAU_SHARE of its epochs has not started learning.
PLATEAU_TOLERANCE = 0.02
PLATEAU_SHARE = 0.25
LESSON = "notebooks/06_training_from_scratch.ipynb, section 'Is my ViT learning?'"


class PlateauWarning(UserWarning):
    """The training loss is still at ln C, the loss of a uniform guess: the model has not started learning."""


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
    if abs(loss - uniform) > tolerance * uniform:
        return None
    return (f"the training loss after epoch {len(train_losses)} of {epochs} is {loss:.4f}, within "
            f"{tolerance:.0%} of ln {num_classes} = {uniform:.4f}, the loss of predicting every class "
            f"equally: the model has not started learning. Likely causes: a learning rate too high or too low, "
            f"too short a warmup or schedule, position embeddings too small to be seen (a ViT on a task where "
            f"the layout matters), or too little data. See {LESSON}.")


def output_classes(model: nn.Module) -> int | None:
    """The number of classes ``model`` predicts: the output width of its last Linear layer (None if none)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1].out_features if linears else None


def progress_disabled() -> bool:
    """True when progress bars should stay quiet: TQDM_DISABLE=1, or not an interactive terminal/notebook."""
    if os.environ.get("TQDM_DISABLE", "") not in ("", "0"):
        return True
    return not (sys.stderr.isatty() or "ipykernel" in sys.modules)


def train_step(model: nn.Module, dataloader: DataLoader, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
               device: str | torch.device, scheduler: Any = None, grad_clip: float | None = None,
               amp: str | bool | Precision = False, scaler: torch.amp.GradScaler | None = None,
               epoch: int = 0) -> tuple[float, float]:
    """Train ``model`` for one epoch. Batches are (B, C, H, W) images and (B,) labels.

    ``amp`` is the precision: False / "off" (fp32), True / "auto" (chosen by the hardware), "bf16", "fp16"
    or a ``Precision``. Returns (mean loss, accuracy as a fraction in [0, 1]). Raises FloatingPointError
    naming the epoch and batch if the loss becomes NaN or inf.
    """
    model.train()
    precision = choose_precision(device, amp)
    scaler = scaler if scaler is not None else precision.grad_scaler()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for batch, (X, y) in enumerate(dataloader):
        X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with precision.autocast():
            logits = model(X)
            loss = loss_fn(logits, y)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"loss is {loss.item()} at epoch {epoch}, batch {batch}; "
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
    return _mean_metrics(total_loss, correct, seen, device)


@torch.inference_mode()
def test_step(model: nn.Module, dataloader: DataLoader, loss_fn: nn.Module, device: str | torch.device,
              amp: str | bool | Precision = False) -> tuple[float, float]:
    """Evaluate ``model`` on ``dataloader`` in precision ``amp`` (as in ``train_step``).

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
    ``on_epoch_end(epoch, results)`` runs after each epoch (e.g. to save a checkpoint). ``start_epoch``
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
    disable = progress_disabled() if progress is None else not progress
    for epoch in tqdm(range(start_epoch, epochs), initial=start_epoch, total=epochs, disable=disable,
                      desc="epochs"):
        sampler = getattr(train_dataloader, "sampler", None)
        if hasattr(sampler, "set_epoch"):  # DistributedSampler: a new, seeded shuffle every epoch
            sampler.set_epoch(epoch)
        train_loss, train_acc = train_step(model, train_dataloader, loss_fn, optimizer, device, scheduler,
                                           grad_clip, precision, scaler, epoch)
        test_loss, test_acc = test_step(eval_model, test_dataloader, loss_fn, device, precision)
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
