"""Train one point (``run_point``) or every point of an experiment into a resumable results file
(``run_experiment``); count a grid's training FLOPs (``estimate_flops``)."""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing
import os
import platform
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_utils import engine, flops, last_block, precision, utils
from course_utils.experiments.data import (
    TensorBatches,
    balanced_subset,
    images_seen,
    in_rounds,
    open_split,
    probe_permutation,
    shuffle_patches,
)
from course_utils.experiments.models import build_model
from course_utils.experiments.points import (
    DEFAULTS,
    GRAD_CLIP,
    LABEL_SMOOTHING,
    ROUND_IMAGES,
    WARMUP_FRACTION,
    WEIGHT_DECAY,
    Experiment,
    _key,
    _num_classes,
    make_point,
    reduced,
    schedule,
)
from course_utils.experiments.results import machine_line, points_with_machines
from course_utils.optim import init_position_embedding, make_optimizer
from course_utils.progress import progress as progress_bar


def set_up_training(point: dict[str, Any], num_classes: int, steps: int, device: str | torch.device = "cpu",
                    ) -> tuple[nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler, nn.Module]:
    """The seeded model, optimizer, learning-rate schedule over ``steps`` and loss of a complete ``point``.

    Every run of the experiments starts here (``run_point`` and ``benchmarks/vit_takeoff.py``), so a seed gives the
    same initial weights wherever it trains. A ViT whose ``position_std`` differs from the paper's 0.02 has its
    position table redrawn at that std (the course's recipe, ``course_utils.optim``).
    """
    utils.set_seeds(point["seed"])
    model = build_model(point, num_classes).to(device)
    if point["model"] == "vit" and point["position_std"] != DEFAULTS["position_std"]:
        init_position_embedding(model, point["position_std"])
    optimizer = make_optimizer(model, point["lr"], WEIGHT_DECAY, device, point["position_lr_scale"] or 1.0)
    scheduler = engine.warmup_cosine_scheduler(optimizer, round(WARMUP_FRACTION * steps), steps)
    return model, optimizer, scheduler, nn.CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING)


def run_point(point: dict[str, Any], data_root: str | Path | None = None, fast: bool = False,
              device: str | None = None, progress: bool | None = False,
              save_model: str | Path | None = None) -> dict[str, Any]:
    """Train and evaluate one point; return its metrics (see the module docstring).

    Args:
        point: settings (missing ones take ``DEFAULTS``).
        data_root: a folder with ``train/`` and ``test/`` in ImageFolder layout; default: the point's
            ``dataset`` preset, drawn in memory (the same images as its files). Images are made once per
            process and kept.
        fast: run ``reduced(point)`` instead.
        device: default ``utils.get_device()``.
        progress: a progress bar over the training batches (``course_utils.progress``; None: unless
            TQDM_DISABLE=1).
        save_model: write the trained model to this file: its weights (fp16), ``config`` (a plain ViT's, which
            ``course_utils.predict.load_trained_model`` reads), the point, the class names and ``test_acc``.
    """
    start = time.perf_counter()
    point = reduced(point) if fast else make_point(**point)
    device = device or utils.get_device()
    train_split, test_split = (open_split(point["dataset"], split, point["img_size"], data_root)
                               for split in ("train", "test"))
    if train_split.classes != test_split.classes:
        raise ValueError(f"train classes {train_split.classes} differ from test classes {test_split.classes}")
    indices = balanced_subset(train_split.labels, point["train_size"], point["seed"])
    train_x, train_y = (t.to(device) for t in train_split.take(indices))
    test_x, test_y = (t.to(device) for t in test_split.take(torch.arange(len(test_split.labels))))
    shuffled_x = shuffle_patches(test_x, point["patch_size"],
                                 probe_permutation((point["img_size"] // point["patch_size"]) ** 2))

    chosen = precision.choose_precision(device, point["amp"])
    epochs, steps_per_epoch = schedule(point)
    steps = epochs * steps_per_epoch
    per_round = min(steps_per_epoch, math.ceil(ROUND_IMAGES / point["batch_size"]))  # an epoch up to 9,000 images
    model, optimizer, scheduler, loss_fn = set_up_training(point, len(train_split.classes), steps, device)
    # Counted as the paper counts, every token through every block, for every kind of model alike...
    flops_per_epoch = flops.training_flops(model, tuple(train_x.shape[1:]), point["train_size"])
    # ...though a plain ViT runs its last block for the class token only: the same logits, fewer FLOPs.
    runs = last_block.ClassTokenLastBlock(model) if last_block.fits(model) else model
    scaler = chosen.grad_scaler()
    batches = TensorBatches(train_x, train_y, point["batch_size"], shuffle=True, seed=point["seed"])

    train_start = time.perf_counter()
    train_losses, train_accs = [], []  # each round's means: a run stuck at the uniform guess stays at ln C
    done_steps = 0
    bar = progress_bar(steps, f"training {point['model']} ({point['position']}, seed {point['seed']})",
                       progress, leave=False, unit="step")
    for number, round_batches in enumerate(in_rounds(batches, steps, per_round)):
        loss, accuracy = engine.train_step(runs, round_batches, loss_fn, optimizer, device, scheduler, GRAD_CLIP,
                                           chosen, scaler, number, bar=bar)
        train_losses.append(loss)
        train_accs.append(accuracy)
        done_steps = min(steps, done_steps + per_round)
        if point["stop_train_acc"] is not None and accuracy >= point["stop_train_acc"]:
            break  # converged: the rest of the schedule would add little but time
    bar.close()
    train_s = time.perf_counter() - train_start
    seen = images_seen(done_steps, point["train_size"], point["batch_size"])

    plain_loss = nn.CrossEntropyLoss()
    evaluate = {name: TensorBatches(x, y, 256) for name, x, y in
                [("test", test_x, test_y), ("train", train_x, train_y), ("shuffled", shuffled_x, test_y)]}
    results = {name: engine.test_step(runs, data, plain_loss, device, chosen) for name, data in evaluate.items()}
    if save_model is not None:
        state = {k: v.detach().to("cpu", torch.float16) for k, v in model.state_dict().items()}
        utils.save_checkpoint({"model": state, "config": getattr(model, "config", None), "point": point,
                               "class_names": train_split.classes, "test_acc": results["test"][1]}, save_model)
    epochs_seen = seen // point["train_size"] if seen % point["train_size"] == 0 else seen / point["train_size"]
    return {"test_acc": results["test"][1], "train_acc": results["train"][1], "shuffle_acc": results["shuffled"][1],
            "test_loss": results["test"][0], "train_loss": train_losses[-1], "train_losses": train_losses,
            "train_accs": train_accs, "train_flops": round(flops_per_epoch * seen / point["train_size"]),
            "train_s": train_s, "wall_s": time.perf_counter() - start, "epochs": epochs_seen,
            "steps": done_steps, "steps_per_round": per_round, "scheduled_steps": steps,
            "params": sum(p.numel() for p in model.parameters()), "precision": chosen.name,
            "device": str(device)}


def estimate_flops(points: Sequence[dict[str, Any]]) -> int:
    """Training FLOPs of ``points``, as ``run_point`` will count them, without training anything."""
    per_image: dict[str, float] = {}
    total = 0.0
    for point in points:
        arch = make_point(**{**point, "model": "vit" if point["model"] == "vit_pretrained" else point["model"],
                             "seed": 0, "lr": 0.0, "train_size": 1, "min_steps": 1, "min_epochs": 1})
        key = _key(arch)
        if key not in per_image:
            model = build_model(arch, _num_classes(point["dataset"]), load_weights=False)
            size = point["img_size"]
            images, labels = torch.zeros(2, 3, size, size), torch.zeros(2, dtype=torch.long)
            per_image[key] = flops.train_step_flops(model, images, labels) / 2  # as training_flops counts
        epochs, _ = schedule(point)
        total += per_image[key] * point["train_size"] * epochs
    return round(total)


def describe_machine(device: str | None = None) -> dict[str, Any]:
    """Where a run happened: device (and GPU name), the CPU's vector extensions as torch uses them, threads."""
    device = device or utils.get_device()
    machine = {"device": device, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
               "threads": torch.get_num_threads(), "torch": torch.__version__, "platform": platform.platform()}
    if torch.device(device).type == "cuda":
        machine["gpu"] = torch.cuda.get_device_name(device)
    return machine


def _order(points: list[dict[str, Any]], grid: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored points in the grid's order of settings, then by seed."""
    rank: dict[str, int] = {}
    for p in grid:
        rank.setdefault(_key(p, ["seed"]), len(rank))
    return sorted(points, key=lambda p: (rank[_key(p["settings"], ["seed"])], p["settings"]["seed"]))


class IncompatibleResults(ValueError):
    """A results file that holds another experiment, or points the experiment does not have."""


def _check_compatible(stored: dict[str, Any], experiment: Experiment, grid: list[dict[str, Any]],
                      path: Path) -> None:
    """Refuse a results file of another experiment, or holding a point the experiment does not have."""
    if stored.get("experiment") != experiment.name:
        raise IncompatibleResults(f"{path} holds results of experiment {stored.get('experiment')!r}, not "
                         f"{experiment.name!r}; pass another --out")
    allowed = {_key(p, ["seed"]) for p in grid}
    for entry in stored.get("points", []):
        settings = entry["settings"]
        if _key(settings, ["seed"]) in allowed:
            continue
        nearest = min(grid, key=lambda p: sum(settings.get(k) != v for k, v in p.items() if k != "seed"))
        keys = [k for k in sorted(set(settings) | set(nearest)) if k != "seed"]
        differences = ", ".join(f"{k}={settings.get(k)!r} (now {nearest.get(k)!r})"
                                for k in keys if settings.get(k) != nearest.get(k))
        raise IncompatibleResults(f"{path} was made with other settings than {experiment.name!r} has now: {differences}. "
                         f"Delete the file to start again, or pass another --out.")


def _slug(point: dict[str, Any]) -> str:
    """A file name for a point: its model, position, pooling, size, learning rate and seed."""
    return (f"{point['model']}_{point['position']}_{point['pooling']}_{point['train_size']}_lr{point['lr']:g}"
            f"_std{point['position_std']}_seed{point['seed']}")


def _runs_beside(out: Path) -> dict[str, dict[str, Any]]:
    """The metrics of every point in the other results files of ``out``'s folder, keyed by their settings."""
    runs: dict[str, dict[str, Any]] = {}
    for path in sorted(out.parent.glob("*.json")) if out.parent.is_dir() else []:
        if path.resolve() == out.resolve():
            continue
        try:
            for entry in points_with_machines(json.loads(path.read_text())):  # with the machine it was made on
                runs.setdefault(_key(entry["settings"]), entry["metrics"])
        except (ValueError, KeyError, AttributeError):
            continue  # not a results file
    return runs


PARENT_POLL_S = 2.0  # how often a worker checks that the process that started it still runs


def _exit_with(parent: int) -> None:
    """Poll whether this process's parent is still ``parent``, and end the process once it is not (the parent was
    killed and this process handed to another)."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def _share_threads(threads: int) -> None:
    """A worker process's initializer: train on ``threads`` CPU threads (its share of the machine's), and end
    when its parent ends. A parent killed (``kill``, a closed terminal) runs no clean-up, and its workers would go
    on training for nobody, holding the cores, until their jobs were done."""
    torch.set_num_threads(threads)
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()


def worker_pool(workers: int, threads: int) -> ProcessPoolExecutor:
    """``workers`` processes (started fresh, as on every OS) that each train on ``threads`` CPU threads and end
    with the process that made the pool: the runner's, and the benchmarks' that train several runs at once."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_share_threads, initargs=(threads,))


def _train_all(jobs: list[tuple[dict[str, Any], Path | None]], workers: int, progress: bool | None,
               **options: Any) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Train each (point, save_model) of ``jobs``; yield (point, metrics) as each run ends.

    With ``workers`` > 1, that many runs at once, each in its own process on an equal share of the CPU threads
    (without progress bars over the steps)."""
    if workers == 1:
        for point, saved in jobs:
            yield point, run_point(point, progress=progress, save_model=saved, **options)
        return
    threads = max(1, torch.get_num_threads() // workers)
    pool = worker_pool(workers, threads)
    try:
        running = {pool.submit(run_point, point, progress=False, save_model=saved, **options): point
                   for point, saved in jobs}
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield running.pop(future), future.result()
    finally:
        pool.shutdown(cancel_futures=True)


def run_experiment(experiment: Experiment, out: str | Path, seeds: Sequence[int] | None = None,
                   fast: bool = False, data_root: str | Path | None = None, device: str | None = None,
                   amp: str | None = None, progress: bool | None = None,
                   save_models: str | Path | None = None, workers: int = 1) -> dict[str, Any]:
    """Run the points of ``experiment`` not yet in ``out``, writing ``out`` atomically after each one.

    Args:
        experiment: what to run.
        out: the results file (JSON, see the module docstring); its points are skipped, and it is refused if it
            holds a point that is not one of the experiment's (seeds aside). A point with the same settings
            (seed included) in another results file of ``out``'s folder is copied from there, not trained again.
        seeds: run every setting with these seeds instead of the experiment's.
        fast: run every point ``reduced``.
        amp: every point's precision, instead of its own.
        data_root: as in ``run_point``.
        device: as in ``run_point``.
        progress: progress over the points and each point's steps (default: unless TQDM_DISABLE=1; lines every
            few seconds when the output is not a terminal).
        save_models: a folder to keep every trained model in (``run_point``'s ``save_model``), named by
            ``_slug``.
        workers: train this many points at once, each in its own process on an equal share of the CPU
            threads. Small models use a few threads poorly: on a 2-core CPU, two one-thread workers train
            the pico ViT's points faster than one two-thread process (CONTRIBUTING.md has the figures).

    Returns the file's content, with ``"ran"``: the number of points run by this call.
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    out = Path(out)
    grid = experiment.grid(seeds, fast)
    if amp is not None:
        grid = [make_point(**{**p, "amp": amp}) for p in grid]
    stored = json.loads(out.read_text()) if out.exists() else {"experiment": experiment.name, "points": []}
    _check_compatible(stored, experiment, grid, out)  # seeds aside, so a file with other seeds is extended
    points = points_with_machines(stored)  # a resumed file's runs keep the machine they were made on
    done = {_key(entry["settings"]) for entry in points}
    # seed by seed (stable): a run stopped early already holds every setting once
    todo = sorted((p for p in grid if _key(p) not in done), key=lambda p: p["seed"])
    # the same settings and seed already trained for another experiment: the same run, reused (not with --data)
    elsewhere = _runs_beside(out) if data_root is None else {}
    machine = describe_machine(device)
    if workers > 1:  # each worker trains on its share of the threads (``_train_all``)
        machine.update(threads=max(1, machine["threads"] // workers), workers=workers)
    line = machine_line(machine)
    content: dict[str, Any] = {}

    def write() -> None:
        content.update(experiment=experiment.name, description=experiment.description, machine=machine,
                       points=_order(points, grid))
        utils.atomic_write(out, lambda tmp: tmp.write_text(json.dumps(content, indent=1) + "\n"))

    reused = [(p, elsewhere[_key(p)]) for p in todo if _key(p) in elsewhere]
    to_train = [p for p in todo if _key(p) not in elsewhere]
    jobs = [(p, None if save_models is None else Path(save_models) / f"{experiment.name}_{_slug(p)}.pt")
            for p in to_train]
    bar = progress_bar(len(todo), f"{experiment.name}: {len(grid) - len(todo)} of {len(grid)} points done before",
                       progress, unit="point")
    try:
        finished = _train_all(jobs, workers, progress, data_root=data_root, device=device)
        for point, metrics in itertools.chain(reused, finished):  # written as each run ends
            points.append({"settings": point, "metrics": {**metrics, "machine": metrics.get("machine", line)}})
            write()
            bar.set_postfix(test_acc=f"{metrics['test_acc']:.3f}")
            bar.update()
    finally:
        bar.close()
    return {**(content or stored), "ran": len(todo)}
