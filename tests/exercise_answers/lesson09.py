"""Answers to lesson 09's exercises that tests/test_exercises.py feeds to the checkers (see __init__.py)."""
# ruff: noqa: F401, F811

# %% imports
import copy
import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_utils import flops
from course_utils.exercises import lesson09 as ex


# %% q1 wrong: your subset is the first
def balanced_subset(labels, size, seed):
    if size % (int(labels.max()) + 1):
        raise ValueError("size is not a multiple of the classes")
    return torch.arange(size)  # the first items, whatever their classes


# %% q1 wrong: it should hold 30 / 3 = 10 of every class
def balanced_subset(labels, size, seed):
    if size % (int(labels.max()) + 1) or size > len(labels):
        raise ValueError("size is not a multiple of the classes, or too large")
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(len(labels), generator=generator)[:size]  # random, but not balanced


# %% q1 wrong: changed torch's global random number generator
def balanced_subset(labels, size, seed):
    classes = int(labels.max()) + 1
    if size % classes:
        raise ValueError("size is not a multiple of the classes")
    torch.manual_seed(seed)  # repeatable, but resets the caller's RNG
    chosen = []
    for c in range(classes):
        members = torch.nonzero(labels == c).flatten()
        if len(members) < size // classes:
            raise ValueError(f"class {c} is too small")
        chosen.append(members[torch.randperm(len(members))[:size // classes]])
    return torch.cat(chosen)


# %% q1 wrong: changed torch's global random number generator
def balanced_subset(labels, size, seed):
    classes = int(labels.max()) + 1
    if size % classes:
        raise ValueError("size is not a multiple of the classes")
    chosen = []
    for c in range(classes):
        members = torch.nonzero(labels == c).flatten()
        if len(members) < size // classes:
            raise ValueError(f"class {c} is too small")
        chosen.append(members[torch.randperm(len(members))[:size // classes]])  # the global RNG, no seed
    return torch.cat(chosen)


# %% q1 wrong: changed NumPy's global random number generator
def balanced_subset(labels, size, seed):
    import numpy as np

    classes = int(labels.max()) + 1
    if size % classes:
        raise ValueError("size is not a multiple of the classes")
    np.random.seed(seed)
    chosen = []
    for c in range(classes):
        members = torch.nonzero(labels == c).flatten()
        if len(members) < size // classes:
            raise ValueError(f"class {c} is too small")
        chosen.append(members[torch.from_numpy(np.random.permutation(len(members))[:size // classes])])
    return torch.cat(chosen)


# %% q1 wrong: drawn with replacement
def balanced_subset(labels, size, seed):
    classes = int(labels.max()) + 1
    if size % classes:
        raise ValueError("size is not a multiple of the classes")
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for c in range(classes):
        members = torch.nonzero(labels == c).flatten()
        if len(members) < size // classes:
            raise ValueError(f"class {c} is too small")
        chosen.append(members[torch.randint(len(members), (size // classes,), generator=generator)])
    return torch.cat(chosen)


# %% q1 wrong: ignores `seed`
def balanced_subset(labels, size, seed):
    classes = int(labels.max()) + 1
    if size % classes:
        raise ValueError("size is not a multiple of the classes")
    generator = torch.Generator().manual_seed(0)  # always the same seed
    chosen = []
    for c in range(classes):
        members = torch.nonzero(labels == c).flatten()
        if len(members) < size // classes:
            raise ValueError(f"class {c} is too small")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:size // classes]])
    return torch.cat(chosen)


# %% q1 wrong: the subsets are not nested
def balanced_subset(labels, size, seed):
    classes = int(labels.max()) + 1
    if size % classes:
        raise ValueError("size is not a multiple of the classes")
    generator = torch.Generator().manual_seed(seed * 100_003 + size)  # the size changes the draw
    chosen = []
    for c in range(classes):
        members = torch.nonzero(labels == c).flatten()
        if len(members) < size // classes:
            raise ValueError(f"class {c} is too small")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:size // classes]])
    return torch.cat(chosen)


# %% q1 wrong: instead of raising a `ValueError`
def balanced_subset(labels, size, seed):
    classes = int(labels.max()) + 1
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for c in range(classes):  # no check: a size of 31 silently gives 30, a class too small fewer items
        members = torch.nonzero(labels == c).flatten()
        chosen.append(members[torch.randperm(len(members), generator=generator)[:size // classes]])
    return torch.cat(chosen)


# %% q1 wrong: raised AssertionError
def balanced_subset(labels, size, seed):
    classes = int(labels.max()) + 1
    assert size % classes == 0, "size must be a multiple of the classes"
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for c in range(classes):
        members = torch.nonzero(labels == c).flatten()
        assert len(members) >= size // classes, f"class {c} is too small"
        chosen.append(members[torch.randperm(len(members), generator=generator)[:size // classes]])
    return torch.cat(chosen)


# %% q1 wrong: changed `labels` in place
def balanced_subset(labels, size, seed):
    classes = int(labels.max()) + 1
    if size % classes:
        raise ValueError("size is not a multiple of the classes")
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for c in range(classes):
        members = torch.nonzero(labels == c).flatten()
        if len(members) < size // classes:
            raise ValueError(f"class {c} is too small")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:size // classes]])
    indices = torch.cat(chosen)
    labels[indices] = -1  # marks the chosen items, in the caller's tensor
    return indices


# %% q1 right: one permutation of all the items, NumPy's seeded generator, sorted indices
def balanced_subset(labels, size, seed):
    import numpy as np

    counts = torch.bincount(labels)
    if size % len(counts) != 0:
        raise ValueError(f"{size} images cannot be split evenly over {len(counts)} classes")
    per_class = size // len(counts)
    if int(counts.min()) < per_class:
        raise ValueError(f"class {int(counts.argmin())} has {int(counts.min())} images, fewer than {per_class}")
    order = np.random.default_rng(seed).permutation(len(labels))
    taken = {c: 0 for c in range(len(counts))}
    chosen = []
    for i in order.tolist():
        c = int(labels[i])
        if taken[c] < per_class:
            taken[c] += 1
            chosen.append(i)
    return torch.tensor(sorted(chosen))


# %% q1 wrong: the subsets are not nested
def balanced_subset(labels, size, seed):
    import random

    classes = int(labels.max()) + 1
    if size % classes:
        raise ValueError("size is not a multiple of the classes")
    chosen = []
    for c in range(classes):
        members = torch.nonzero(labels == c).flatten().tolist()
        if len(members) < size // classes:
            raise ValueError(f"class {c} is too small")
        # random.sample picks k of n with one of two algorithms, chosen by k: a small k and a large one differ
        chosen += random.Random(seed * 1_000 + c).sample(members, size // classes)
    return torch.tensor(chosen)


# %% q1 wrong: changed Python's `random` global random number generator
def balanced_subset(labels, size, seed):
    import random

    classes = int(labels.max()) + 1
    if size % classes:
        raise ValueError("size is not a multiple of the classes")
    random.seed(seed)  # repeatable, but it re-seeds the caller's `random`
    chosen = []
    for c in range(classes):
        members = torch.nonzero(labels == c).flatten().tolist()
        if len(members) < size // classes:
            raise ValueError(f"class {c} is too small")
        random.shuffle(members)
        chosen += members[:size // classes]
    return torch.tensor(chosen)


# %% q1 right: Python's random.Random(seed), one shuffle per class, a list of indices made a tensor
def balanced_subset(labels, size, seed):
    import random

    classes = len(set(labels.tolist()))
    if size % classes:
        raise ValueError(f"{size} is not a multiple of {classes}")
    rng = random.Random(seed)  # a generator of its own: the global `random` is left alone
    chosen = []
    for c in range(classes):
        members = [i for i, label in enumerate(labels.tolist()) if label == c]
        if len(members) < size // classes:
            raise ValueError(f"class {c} has {len(members)} items, fewer than {size // classes}")
        rng.shuffle(members)  # draws depend on the class's size only, not on `size`: nested
        chosen.extend(members[:size // classes])
    return torch.tensor(chosen, dtype=torch.long)


# %% q1 right: torch's global generator, forked and seeded, so the caller's state comes back
def balanced_subset(labels, size, seed):
    classes = int(labels.max()) + 1
    per_class, rest = divmod(size, classes)
    if rest:
        raise ValueError(f"size {size} is not a multiple of the {classes} classes")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        chosen = []
        for c in range(classes):
            members = (labels == c).nonzero().flatten()
            if len(members) < per_class:
                raise ValueError(f"class {c} has only {len(members)} items")
            chosen.append(members[torch.randperm(len(members))[:per_class]])
    return torch.cat(chosen)


# %% q2 wrong: the forward pass and tripled it
def training_flops_per_image(model, images, labels):
    with FlopCounterMode(display=False, custom_mapping=flops.CPU_ATTENTION_FLOPS) as counter:
        nn.CrossEntropyLoss()(model(images), labels)
    return 3 * counter.get_total_flops() / len(images)  # "the backward costs twice the forward"


# %% q2 wrong: about a third of it: only the forward pass
def training_flops_per_image(model, images, labels):
    with FlopCounterMode(display=False, custom_mapping=flops.CPU_ATTENTION_FLOPS) as counter:
        model(images)
    return counter.get_total_flops() / len(images)


# %% q2 wrong: with autograd on (no `torch.no_grad()`)
def training_flops_per_image(model, images, labels):
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=flops.CPU_ATTENTION_FLOPS) as counter:
        nn.CrossEntropyLoss()(model(images), labels)
    return counter.get_total_flops() / len(images)


# %% q2 wrong: the whole batch of 4 images
def training_flops_per_image(model, images, labels):
    model = copy.deepcopy(model)
    with FlopCounterMode(display=False, custom_mapping=flops.CPU_ATTENTION_FLOPS) as counter:
        nn.CrossEntropyLoss()(model(images), labels).backward()
    return counter.get_total_flops()  # not divided by the batch size


# %% q2 wrong: the attention itself was counted as free
def training_flops_per_image(model, images, labels):
    model = copy.deepcopy(model)
    with FlopCounterMode(display=False) as counter:  # no custom_mapping
        nn.CrossEntropyLoss()(model(images), labels).backward()
    return counter.get_total_flops() / len(images)


# %% q2 wrong: only the backward pass was counted
def training_flops_per_image(model, images, labels):
    model = copy.deepcopy(model)
    loss = nn.CrossEntropyLoss()(model(images), labels)
    with FlopCounterMode(display=False, custom_mapping=flops.CPU_ATTENTION_FLOPS) as counter:
        loss.backward()
    return counter.get_total_flops() / len(images)


# %% q2 wrong: left gradients in the caller's model
def training_flops_per_image(model, images, labels):
    with FlopCounterMode(display=False, custom_mapping=flops.CPU_ATTENTION_FLOPS) as counter:
        nn.CrossEntropyLoss()(model(images), labels).backward()  # on the caller's model
    return counter.get_total_flops() / len(images)


# %% q2 wrong: wiped the gradients the caller's model
def training_flops_per_image(model, images, labels):
    with FlopCounterMode(display=False, custom_mapping=flops.CPU_ATTENTION_FLOPS) as counter:
        nn.CrossEntropyLoss()(model(images), labels).backward()
    model.zero_grad()  # tidies up, but the caller's own gradients are gone too
    return counter.get_total_flops() / len(images)


# %% q2 wrong: it switched `model` to training mode
def training_flops_per_image(model, images, labels):
    model.train()  # "training FLOPs", but on the caller's model
    params = [p for p in model.parameters() if p.requires_grad]
    with FlopCounterMode(display=False, custom_mapping=flops.CPU_ATTENTION_FLOPS) as counter:
        torch.autograd.grad(nn.CrossEntropyLoss()(model(images), labels), params)
    return counter.get_total_flops() / len(images)


# %% q2 wrong: found no graph to go back through
def training_flops_per_image(model, images, labels):
    model = copy.deepcopy(model)
    with FlopCounterMode(display=False, custom_mapping=flops.CPU_ATTENTION_FLOPS) as counter:
        with torch.no_grad():
            loss = nn.CrossEntropyLoss()(model(images), labels)
        loss.backward()
    return counter.get_total_flops() / len(images)


# %% q2 wrong: your count is 0
def training_flops_per_image(model, images, labels):
    model = copy.deepcopy(model)
    with FlopCounterMode(display=False, custom_mapping=flops.CPU_ATTENTION_FLOPS) as counter:
        pass
    nn.CrossEntropyLoss()(model(images), labels).backward()  # outside the counter
    return counter.get_total_flops() / len(images)


# %% q2 wrong: the lesson's version
def training_flops_per_image(model, images, labels):
    return flops.train_step_flops(model, images, labels) / len(images)


# %% q2 right: torch.autograd.grad on the caller's model, which leaves .grad alone
def training_flops_per_image(model, images, labels):
    params = [p for p in model.parameters() if p.requires_grad]
    with FlopCounterMode(display=False, custom_mapping=flops.CPU_ATTENTION_FLOPS) as counter:
        loss = nn.CrossEntropyLoss()(model(images), labels)
        torch.autograd.grad(loss, params)
    return counter.get_total_flops() / images.shape[0]


# %% q2 right: forward and backward counted separately, as an int tensor
def training_flops_per_image(model, images, labels):
    copied = copy.deepcopy(model)
    with FlopCounterMode(display=False, custom_mapping=flops.CPU_ATTENTION_FLOPS) as forward:
        loss = nn.functional.cross_entropy(copied(images), labels, label_smoothing=0.1)
    with FlopCounterMode(display=False, custom_mapping=flops.CPU_ATTENTION_FLOPS) as backward:
        loss.backward()
    return torch.tensor(forward.get_total_flops() + backward.get_total_flops()) / len(labels)


# %% q3 wrong: a fixed number of epochs
def schedule(train_size, batch_size, min_steps, min_epochs):
    return min_epochs, math.ceil(train_size / batch_size)


# %% q3 wrong: ignore `min_epochs`
def schedule(train_size, batch_size, min_steps, min_epochs):
    steps_per_epoch = math.ceil(train_size / batch_size)
    return math.ceil(min_steps / steps_per_epoch), steps_per_epoch


# %% q3 wrong: the smaller of the two counts
def schedule(train_size, batch_size, min_steps, min_epochs):
    steps_per_epoch = math.ceil(train_size / batch_size)
    return min(min_epochs, math.ceil(min_steps / steps_per_epoch)), steps_per_epoch


# %% q3 wrong: drop the last, partial batch
def schedule(train_size, batch_size, min_steps, min_epochs):
    steps_per_epoch = train_size // batch_size
    return max(min_epochs, math.ceil(min_steps / steps_per_epoch)), steps_per_epoch


# %% q3 wrong: add one batch even when
def schedule(train_size, batch_size, min_steps, min_epochs):
    steps_per_epoch = train_size // batch_size + 1
    return max(min_epochs, math.ceil(min_steps / steps_per_epoch)), steps_per_epoch


# %% q3 wrong: rounded down, so some runs take fewer than `min_steps`
def schedule(train_size, batch_size, min_steps, min_epochs):
    steps_per_epoch = math.ceil(train_size / batch_size)
    return max(min_epochs, min_steps // steps_per_epoch), steps_per_epoch


# %% q3 wrong: rounded to the nearest whole number
def schedule(train_size, batch_size, min_steps, min_epochs):
    steps_per_epoch = math.ceil(train_size / batch_size)
    return max(min_epochs, round(min_steps / steps_per_epoch)), steps_per_epoch


# %% q3 wrong: as if every batch were full
def schedule(train_size, batch_size, min_steps, min_epochs):
    return max(min_epochs, math.ceil(min_steps * batch_size / train_size)), math.ceil(train_size / batch_size)


# %% q3 wrong: the other way round
def schedule(train_size, batch_size, min_steps, min_epochs):
    steps_per_epoch = math.ceil(train_size / batch_size)
    return steps_per_epoch, max(min_epochs, math.ceil(min_steps / steps_per_epoch))


# %% q3 wrong: the total number of steps of the run
def schedule(train_size, batch_size, min_steps, min_epochs):
    steps_per_epoch = math.ceil(train_size / batch_size)
    epochs = max(min_epochs, math.ceil(min_steps / steps_per_epoch))
    return epochs, epochs * steps_per_epoch


# %% q3 wrong: return whole numbers
def schedule(train_size, batch_size, min_steps, min_epochs):
    import numpy as np

    steps_per_epoch = np.ceil(train_size / batch_size)
    return max(min_epochs, np.ceil(min_steps / steps_per_epoch)), steps_per_epoch


# %% q3 wrong: banker's rounding
def schedule(train_size, batch_size, min_steps, min_epochs):
    steps_per_epoch = round(train_size / batch_size + 0.5)  # a ceiling, except where the quotient is exact
    return max(min_epochs, round(min_steps / steps_per_epoch + 0.5)), steps_per_epoch


# %% q3 right: NumPy's ceil, made int
def schedule(train_size, batch_size, min_steps, min_epochs):
    import numpy as np

    steps_per_epoch = int(np.ceil(train_size / batch_size))
    return int(max(min_epochs, np.ceil(min_steps / steps_per_epoch))), steps_per_epoch


# %% q3 right: integer arithmetic only, epochs counted in a loop
def schedule(train_size, batch_size, min_steps, min_epochs):
    steps_per_epoch = -(-train_size // batch_size)
    epochs = min_epochs
    while epochs * steps_per_epoch < min_steps:
        epochs += 1
    return [epochs, steps_per_epoch]


# %% q4 wrong: the last one
def accuracy_gap(rows, model_a, model_b):
    a = {row["train_size"]: row["test_acc"] for row in rows if row["model"] == model_a}
    b = {row["train_size"]: row["test_acc"] for row in rows if row["model"] == model_b}
    return {size: a[size] - b[size] for size in sorted(a) if size in b}


# %% q4 wrong: subtract the two models' means over all their seeds
def accuracy_gap(rows, model_a, model_b):
    from course_utils.experiments import summarise

    a = summarise([row for row in rows if row["model"] == model_a], by=["train_size"])
    b = summarise([row for row in rows if row["model"] == model_b], by=["train_size"])
    return {size: a[size][0] - b[size][0] for size in sorted(a) if size in b}


# %% q4 wrong: come in the order
def accuracy_gap(rows, model_a, model_b):
    pairs = {}
    for row in rows:  # the sizes in the order the rows first show them
        if row["model"] in (model_a, model_b):
            pairs.setdefault(row["train_size"], {}).setdefault(row["seed"], {})[row["model"]] = row["test_acc"]
    gaps = {}
    for size, seeds in pairs.items():
        differences = [acc[model_a] - acc[model_b] for acc in seeds.values() if len(acc) == 2]
        if differences:
            gaps[size] = sum(differences) / len(differences)
    return gaps


# %% q4 wrong: the wrong sign
def accuracy_gap(rows, model_a, model_b):
    accuracy = {}
    for row in rows:
        accuracy[row["model"], row["train_size"], row["seed"]] = row["test_acc"]
    gaps = {}
    for size in sorted({row["train_size"] for row in rows}):
        differences = [accuracy[model_b, size, seed] - accuracy[model_a, size, seed]
                       for seed in range(3) if (model_a, size, seed) in accuracy and (model_b, size, seed) in accuracy]
        if differences:
            gaps[size] = sum(differences) / len(differences)
    return gaps


# %% q4 wrong: where the two models share no seed
def accuracy_gap(rows, model_a, model_b):
    accuracy = {}
    for row in rows:
        accuracy[row["model"], row["train_size"], row["seed"]] = row["test_acc"]
    gaps = {}
    for size in sorted({row["train_size"] for row in rows}):
        differences = [accuracy[model_a, size, seed] - accuracy[model_b, size, seed]
                       for seed in range(3) if (model_a, size, seed) in accuracy and (model_b, size, seed) in accuracy]
        gaps[size] = sum(differences) / len(differences) if differences else 0.0  # a gap of 0 where none
    return gaps


# %% q4 wrong: it replaced
def accuracy_gap(rows, model_a, model_b):
    for row in rows:
        row["test_acc"] = round(row["test_acc"], 2)  # rounds the caller's rows
    accuracy = {(row["model"], row["train_size"], row["seed"]): row["test_acc"] for row in rows}
    gaps = {}
    for size in sorted({row["train_size"] for row in rows}):
        differences = [accuracy[model_a, size, seed] - accuracy[model_b, size, seed]
                       for seed in range(3) if (model_a, size, seed) in accuracy and (model_b, size, seed) in accuracy]
        if differences:
            gaps[size] = sum(differences) / len(differences)
    return gaps


# %% q4 wrong: reordered or changed the list itself
def accuracy_gap(rows, model_a, model_b):
    rows.sort(key=lambda row: (row["train_size"], row["seed"]))  # sorts the caller's list
    accuracy = {(row["model"], row["train_size"], row["seed"]): row["test_acc"] for row in rows}
    gaps = {}
    for size in dict.fromkeys(row["train_size"] for row in rows):
        differences = [accuracy[model_a, size, seed] - accuracy[model_b, size, seed]
                       for seed in range(3) if (model_a, size, seed) in accuracy and (model_b, size, seed) in accuracy]
        if differences:
            gaps[size] = sum(differences) / len(differences)
    return gaps


# %% q4 wrong: by their position in the list of seeds
def accuracy_gap(rows, model_a, model_b):
    accuracies = {}  # (model, size) -> test accuracies, in the order of their seeds
    for row in sorted(rows, key=lambda row: row["seed"]):
        accuracies.setdefault((row["model"], row["train_size"]), []).append(row["test_acc"])
    gaps = {}
    for size in sorted({row["train_size"] for row in rows}):
        ours, theirs = accuracies.get((model_a, size), []), accuracies.get((model_b, size), [])
        pairs = list(zip(ours, theirs, strict=False))
        if pairs:  # zip stops at the shorter list: right only when the missing seed is the last
            gaps[size] = sum(a - b for a, b in pairs) / len(pairs)
    return gaps


# %% q4 right: defaultdicts of seeds, statistics.mean, sizes sorted at the end
def accuracy_gap(rows, model_a, model_b):
    import statistics
    from collections import defaultdict

    seeds = {model_a: defaultdict(dict), model_b: defaultdict(dict)}
    for row in rows:
        if row["model"] in seeds:
            seeds[row["model"]][row["train_size"]][row["seed"]] = row["test_acc"]
    gaps = {}
    for size, ours in seeds[model_a].items():
        theirs = seeds[model_b].get(size, {})
        shared = ours.keys() & theirs.keys()
        if shared:
            gaps[size] = statistics.mean(ours[s] - theirs[s] for s in shared)
    return dict(sorted(gaps.items()))
