"""Training and testing loops (the course's ``engine.train_step / test_step / train``).

Beyond the course's version: an optional learning-rate scheduler stepped every batch, gradient clipping,
mixed precision chosen by the hardware (``amp``, see ``course_utils.precision``), a check that stops on a
NaN/inf loss, and a per-epoch callback for checkpointing.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from course_utils.precision import Precision, choose_precision

Results = dict[str, list[float]]


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
    """
    results = results or {"train_loss": [], "train_acc": [], "test_loss": [], "test_acc": []}
    precision = choose_precision(device, amp)
    scaler = scaler if scaler is not None else precision.grad_scaler()
    if verbose:
        print(precision.describe(), flush=True)
    eval_model = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
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
