"""Answers to lesson 06's exercises that tests/test_exercises.py feeds to the checkers (see __init__.py)."""
# ruff: noqa: F401, F811

# %% imports
import math

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import lesson06 as ex
from course_utils.vit import ViT


# %% q1 wrong: no warmup
def lr_at(step, base_lr, warmup_steps, total_steps):
    return base_lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))  # no warmup


# %% q1 wrong: linear decay
def lr_at(step, base_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    return base_lr * (total_steps - step) / (total_steps - warmup_steps)  # linear decay


# %% q1 wrong: one step early
def lr_at(step, base_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps  # peaks one step early
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return base_lr * 0.5 * (1 + math.cos(math.pi * progress))


# %% q1 wrong: clock
def lr_at(step, base_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    return base_lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))  # the cosine's clock starts at 0


# %% q2 wrong: K − 1
def smoothed_cross_entropy(logits, targets, epsilon):
    K = logits.shape[-1]
    one_hot = F.one_hot(targets, K).float()
    q = (1 - epsilon) * one_hot + epsilon / (K - 1) * (1 - one_hot)  # eps over the K - 1 other classes
    return -(q * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


# %% q2 wrong: no smoothing
def smoothed_cross_entropy(logits, targets, epsilon):
    return -F.log_softmax(logits, dim=-1).gather(1, targets[:, None]).mean()  # no smoothing


# %% q2 wrong: sum
def smoothed_cross_entropy(logits, targets, epsilon):
    K = logits.shape[-1]
    q = (1 - epsilon) * F.one_hot(targets, K).float() + epsilon / K
    return -(q * F.log_softmax(logits, dim=-1)).sum()  # summed over the batch


# %% q2 wrong: one number
def smoothed_cross_entropy(logits, targets, epsilon):
    K = logits.shape[-1]
    q = (1 - epsilon) * F.one_hot(targets, K).float() + epsilon / K
    return -(q * F.log_softmax(logits, dim=-1)).sum(dim=-1)  # one loss per image


# %% q3 wrong: drop_last=True
total_steps = 10 * (12_000 // 256)


# %% q3 wrong: at once
total_steps = 10 * 12_000 // 256


# %% q3 wrong: batch size 128
total_steps = 940


# %% q3 wrong: whole number
total_steps = 12_000 / 256 * 10


# %% q4 wrong: biases
def decay_groups(model):
    names = [name for name, _ in model.named_parameters()]
    decay = [n for n in names if n not in ("class_embedding", "position_embedding")]  # biases and LN too
    return decay, [n for n in names if n not in decay]


# %% q4 wrong: 3-D
def decay_groups(model):
    decay = [n for n, p in model.named_parameters() if p.ndim >= 2]  # the embeddings are 3-D
    return decay, [n for n, p in model.named_parameters() if p.ndim < 2]


# %% q4 wrong: substring
def decay_groups(model):
    decay = [n for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    return decay, [n for n, p in model.named_parameters() if n not in decay]


# %% q4 wrong: classifier.0
def decay_groups(model):
    names = [n for n, _ in model.named_parameters()]
    no_decay = [n for n in names if "bias" in n or "norm" in n or n in ("class_embedding", "position_embedding")]
    return [n for n in names if n not in no_decay], no_decay


# %% q4 wrong: swapped
def decay_groups(model):
    decay = [n for n, p in model.named_parameters() if p.ndim >= 2 and n not in ("class_embedding", "position_embedding")]
    return [n for n, _ in model.named_parameters() if n not in decay], decay  # swapped


# %% q4 wrong: names
def decay_groups(model):
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and n not in ("class_embedding", "position_embedding")]
    return decay, [p for n, p in model.named_parameters() if p.ndim < 2 or n in ("class_embedding", "position_embedding")]


# %% q2 wrong: takes the number of classes K from the targets
def smoothed_cross_entropy(logits, targets, epsilon):
    q = (1 - epsilon) * F.one_hot(targets).float()  # K guessed from the largest target in the batch
    q = q + epsilon / q.shape[-1]
    return -(q * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


# %% q2 wrong: takes the number of classes K from the targets
def smoothed_cross_entropy(logits, targets, epsilon):
    K = len(torch.unique(targets))  # the classes in this batch
    log_p = F.log_softmax(logits, dim=-1)
    q = (1 - epsilon) * F.one_hot(targets, logits.shape[-1]).float() + epsilon / K
    return -(q * log_p).sum(dim=-1).mean()


# %% q2 wrong: changed `logits` in place
def smoothed_cross_entropy(logits, targets, epsilon):
    logits -= logits.max(dim=-1, keepdim=True).values  # the "stable softmax" trick, on the caller's logits
    K = logits.shape[-1]
    q = (1 - epsilon) * F.one_hot(targets, K).float() + epsilon / K
    return -(q * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


# %% q2 wrong: Your loss carries no gradient
def smoothed_cross_entropy(logits, targets, epsilon):
    K = logits.shape[-1]
    q = (1 - epsilon) * F.one_hot(targets, K).float() + epsilon / K
    return torch.tensor(-(q * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean().item())  # a fresh tensor


# %% q2 wrong: it called `F.cross_entropy`
def smoothed_cross_entropy(logits, targets, epsilon):
    return nn.CrossEntropyLoss(label_smoothing=epsilon)(logits, targets)


# %% q2 right: the smoothed loss as a mix of the plain loss and the uniform one
def smoothed_cross_entropy(logits, targets, epsilon):
    log_p = logits.log_softmax(dim=-1)
    nll = -log_p.gather(1, targets.unsqueeze(1)).squeeze(1)
    uniform = -log_p.mean(dim=-1)
    return ((1 - epsilon) * nll + epsilon * uniform).mean()


# %% q4 wrong: changed `model`: it changed `requires_grad`
def decay_groups(model):
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.ndim < 2 or name in ("class_embedding", "position_embedding"):
            param.requires_grad_(False)  # "no decay" taken for "no training"
            no_decay.append(name)
        else:
            decay.append(name)
    return decay, no_decay
