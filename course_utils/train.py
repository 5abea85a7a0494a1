"""Train a ViT from the command line: ``python -m course_utils.train --help``.

With no flags it generates the bundled ``shapes`` dataset (if absent) and trains a nano ViT on it with the
paper's recipe, scaled down: AdamW, linear warmup then cosine decay, gradient clipping at norm 1, label
smoothing, and the precision the hardware runs fastest (``--amp auto``), plus lesson 06's position boost (the
position embedding drawn at std 0.2 and trained at 10x the learning rate; the paper's code draws it at 0.02).
The defaults are sized for a laptop CPU without a GPU or native bf16: 24 px images cut into a 2 x 2 grid of 12 px
patches (every token costs time: half the FLOPs of a 3 x 3 grid of 8 px patches), 4 epochs at a peak learning rate
of 7e-4, about 1.0 TFLOP, over 95% test accuracy on every seed measured (``benchmarks/main_job_recipe.py``,
lesson 06), in about a minute on 2 cores. It trains through ``last_block.ClassTokenLastBlock``: the same model,
whose last block computes only the class token that the head reads (16% fewer FLOPs than every token through every
block).
Every epoch it writes, atomically, ``checkpoint.pt`` (everything needed to resume) and ``results.json`` into
``--output-dir``; at the end, ``loss_curves.png``.

Multi-process training: ``torchrun --standalone --nproc_per_node N -m course_utils.train ...``
(gloo on the CPU, nccl on GPUs). Rank 0 alone writes files; metrics are all-reduced.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data.distributed import DistributedSampler

from course_utils import data_setup, engine, flops, precision, shapes, utils
from course_utils.last_block import ClassTokenLastBlock
from course_utils.optim import BOOST_LR_SCALE, BOOST_STD, init_position_embedding, make_optimizer
from course_utils.pretrained import export_checkpoint, load_pretrained
from course_utils.vit import INIT_STD, MODEL_CONFIGS, ViT

CHECKPOINT = "checkpoint.pt"
RESULTS = "results.json"
CURVES = "loss_curves.png"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m course_utils.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="shapes",
                        help="a bundled dataset name (%(choices)s) or a folder with train/ and test/ "
                             "sub-folders in ImageFolder layout (default: %(default)s)".replace(
                                 "%(choices)s", ", ".join(shapes.PRESETS)))
    parser.add_argument("--model", default="nano", choices=sorted(MODEL_CONFIGS),
                        help="model size: pico (6 layers, D=64), nano (4 layers, D=128), micro (6 layers, "
                             "D=192), or the paper's ti/s/b/l/h (default: %(default)s)")
    parser.add_argument("--img-size", type=int, default=24, help="image side in pixels (default: %(default)s)")
    parser.add_argument("--patch-size", type=int, default=12, help="patch side P (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=4, help="default: %(default)s")
    parser.add_argument("--batch-size", type=int, default=64, help="per process (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=7e-4, help="peak learning rate (default: %(default)s)")
    parser.add_argument("--weight-decay", type=float, default=0.05, help="AdamW weight decay (default: %(default)s)")
    parser.add_argument("--warmup-epochs", type=float, default=0.5,
                        help="linear warmup length, then cosine decay (default: %(default)s)")
    parser.add_argument("--label-smoothing", type=float, default=0.1, help="default: %(default)s")
    parser.add_argument("--grad-clip", type=float, default=1.0, help="global grad-norm clip, 0 = off (default: %(default)s)")
    parser.add_argument("--dropout", type=float, default=0.0, help="the paper's dropout (default: %(default)s)")
    parser.add_argument("--position-std", type=float, default=BOOST_STD,
                        help=f"initial std of the position embedding: the paper's code uses {INIT_STD}; {BOOST_STD} gets a ViT "
                             "off the ln C plateau on tasks where the layout matters (lesson 06; default: %(default)s)")
    parser.add_argument("--position-lr-scale", type=float, default=BOOST_LR_SCALE,
                        help="the position embedding's learning rate over --lr, without weight decay; 1 is the "
                             "paper's (lesson 06; default: %(default)s)")
    parser.add_argument("--amp", choices=precision.MODES, default="auto",
                        help="precision: auto (bf16 autocast where the CPU or GPU has native bf16, fp16 + "
                             "GradScaler on older GPUs, else fp32; see course_utils/precision.py), or force "
                             "bf16, fp16 or off (fp32) (default: %(default)s)")
    parser.add_argument("--no-amp", dest="amp", action="store_const", const="off", help="same as --amp off")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True,
                        help="decode every image once and keep the tensors in memory (default: on)")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="start from a checkpoint's weights (fine-tuning); a head of another size is replaced")
    parser.add_argument("--export", type=Path, default=None,
                        help="also write a compact inference checkpoint (fp16 weights, config, class names, "
                             "final test accuracy) to this path, e.g. data/checkpoints/NAME.pt")
    parser.add_argument("--resume", action="store_true", help=f"continue from {CHECKPOINT} in --output-dir")
    parser.add_argument("--output-dir", type=Path, default=Path("runs/vit_shapes"), help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=42, help="default: %(default)s")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps... (default: best available)")
    parser.add_argument("--num-workers", type=int, default=0,
                        help="DataLoader worker processes; 0 loads in the main process (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def resolve_data(data: str) -> Path:
    """A bundled dataset name -> its (generated) folder; otherwise the folder itself, checked."""
    if data in shapes.PRESETS:
        return shapes.get_dataset(data)
    root = Path(data)
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise FileNotFoundError(f"data folder {root} needs train/ and test/ sub-folders; "
                                    f"{root / split} is missing")
    return root


def config_differences(saved: dict[str, Any], wanted: dict[str, Any]) -> str:
    """"key=saved (the flags ask for wanted)" for every key whose values differ, comma-separated."""
    keys = sorted(saved.keys() | wanted.keys())
    return ", ".join(f"{k}={saved.get(k)!r} (the flags ask for {wanted.get(k)!r})"
                     for k in keys if saved.get(k) != wanted.get(k))


def setup_distributed(device: str) -> tuple[int, int, str]:
    """Join the torchrun process group if launched by torchrun. Returns (rank, world_size, device).

    On CUDA each process takes the GPU of its LOCAL_RANK ("cuda" becomes "cuda:LOCAL_RANK").
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return 0, 1, device
    if device == "cuda":
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    if device.startswith("cuda"):
        torch.cuda.set_device(device)
    backend = "nccl" if device.startswith("cuda") else "gloo"
    torch.distributed.init_process_group(backend)
    return torch.distributed.get_rank(), world_size, device


def remove_stale_temp_files(output_dir: Path) -> None:
    """Delete the temp files a run killed mid-write (SIGKILL, power loss) left beside its outputs."""
    for name in (CHECKPOINT, RESULTS, CURVES):
        for stale in utils.temp_files(output_dir / name):
            stale.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    start = time.perf_counter()
    rank, world_size, device = setup_distributed(args.device or utils.get_device())
    is_main = rank == 0
    output_dir = args.output_dir.resolve()
    utils.set_seeds(args.seed)

    # Rank 0 first: it generates a bundled dataset while the others wait, rather than all racing to write it.
    if world_size > 1 and not is_main:
        torch.distributed.barrier()
    data_root = resolve_data(args.data)
    if world_size > 1 and is_main:
        torch.distributed.barrier()
    transform = data_setup.default_transform(args.img_size)
    train_data, test_data, class_names = data_setup.create_datasets(
        data_root / "train", data_root / "test", transform, cache=args.cache)
    # A DistributedSampler with one replica is a seeded shuffle whose order depends only on (seed, epoch):
    # the same order on a resumed run, and one code path for 1 or N processes.
    train_dl = data_setup.make_dataloader(
        train_data, args.batch_size, shuffle=True, num_workers=args.num_workers, device=device,
        sampler=DistributedSampler(train_data, num_replicas=world_size, rank=rank, seed=args.seed))
    # Each process tests every world_size-th image: over all processes, every test image exactly once
    # (a DistributedSampler would pad the last shard with duplicates and skew the all-reduced accuracy).
    test_dl = data_setup.make_dataloader(
        test_data, args.batch_size, shuffle=False, num_workers=args.num_workers, device=device,
        sampler=range(rank, len(test_data), world_size))

    config = dict(img_size=args.img_size, patch_size=args.patch_size, num_classes=len(class_names),
                  mlp_dropout=args.dropout, embedding_dropout=args.dropout, **MODEL_CONFIGS[args.model])
    model = ViT(**config)
    if args.position_std != INIT_STD:
        init_position_embedding(model, args.position_std)
    if args.init_from is not None:
        load_pretrained(model, args.init_from)
    model.to(device)
    # What trains: the same parameters, with the last block computing only the class token the head reads
    # (course_utils.last_block). Saving, loading and exporting use `model`.
    train_model: nn.Module = ClassTokenLastBlock(model)

    optimizer = make_optimizer(model, args.lr, args.weight_decay, device,  # AdamW, fused on CPU and CUDA
                               position_lr_scale=args.position_lr_scale)
    steps_per_epoch = len(train_dl)
    scheduler = engine.warmup_cosine_scheduler(optimizer, int(args.warmup_epochs * steps_per_epoch),
                                               args.epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    chosen = precision.choose_precision(device, args.amp)
    scaler = chosen.grad_scaler()
    # The cost of the run in FLOPs (forward + backward of every training image, every epoch): a budget that
    # holds on any machine, unlike seconds.
    train_flops = flops.training_flops(train_model, tuple(train_data[0][0].shape), len(train_data), args.epochs)
    # the learning-rate schedule's shape: a resumed run must keep it (steps_per_epoch follows --batch-size
    # and the number of processes)
    schedule = {"epochs": args.epochs, "steps_per_epoch": steps_per_epoch}

    start_epoch, results = 0, None
    wall_s: list[float] = []  # seconds from the start of the run to the end of each epoch
    checkpoint_path = output_dir / CHECKPOINT
    if args.resume:
        checkpoint = utils.load_checkpoint(checkpoint_path, map_location=device)
        saved = {**checkpoint["config"], "class_names": checkpoint["class_names"],
                 **checkpoint.get("schedule", schedule)}
        wanted = {**config, "class_names": class_names, **schedule}
        if differences := config_differences(saved, wanted):
            raise ValueError(f"cannot resume from {checkpoint_path}: it was trained with other settings: "
                             f"{differences}")
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        if "scaler" in checkpoint:
            scaler.load_state_dict(checkpoint["scaler"])
        utils.set_rng_state(checkpoint["rng"])
        start_epoch, results = checkpoint["epoch"] + 1, checkpoint["results"]
        wall_s[:] = checkpoint.get("wall_s", [])
        if is_main:
            print(f"[INFO] Resuming from {checkpoint_path} after epoch {start_epoch}")

    if is_main and output_dir.is_dir():
        remove_stale_temp_files(output_dir)

    if args.compile:
        train_model = torch.compile(train_model)
    if world_size > 1:
        train_model = nn.parallel.DistributedDataParallel(train_model)

    def save(epoch: int, results: dict[str, list[float]]) -> None:
        if not is_main:
            return
        resumed_from = wall_s[start_epoch - 1] if start_epoch else 0.0
        wall_s[epoch:] = [resumed_from + time.perf_counter() - start]
        checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                      "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "epoch": epoch,
                      "rng": utils.rng_state(), "schedule": schedule, "results": results, "config": config,
                      "class_names": class_names, "wall_s": wall_s,
                      "args": {k: str(v) for k, v in vars(args).items()}}
        utils.save_checkpoint(checkpoint, checkpoint_path)
        summary = {**results, "final_test_acc": results["test_acc"][-1], "epochs_done": epoch + 1,
                   "precision": chosen.name, "precision_reason": chosen.reason,
                   "train_flops": train_flops, "class_names": class_names, "config": config}
        utils.atomic_write(output_dir / RESULTS, lambda tmp: tmp.write_text(json.dumps(summary, indent=2)))

    results = engine.train(train_model, train_dl, test_dl, optimizer, loss_fn, args.epochs, device,
                           scheduler=scheduler, grad_clip=args.grad_clip or None, amp=chosen,
                           start_epoch=start_epoch, results=results, on_epoch_end=save,
                           progress=False if args.quiet else None, verbose=is_main, scaler=scaler)
    elapsed = time.perf_counter() - start
    if is_main:
        import matplotlib.pyplot as plt

        from course_utils.helper_functions import plot_loss_curves

        fig = plot_loss_curves(results, num_classes=len(class_names))
        try:
            utils.atomic_write(output_dir / CURVES, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
        finally:
            plt.close(fig)  # not left open in pyplot (a notebook would draw it again; repeated runs leak)
        if args.export is not None:
            export_checkpoint(model, config, class_names, results["test_acc"][-1], args.export)
        print(f"[INFO] final test accuracy {results['test_acc'][-1]:.4f} after {elapsed:.1f} s "
              f"(data generation included), {train_flops / 1e12:.2f} TFLOP of training; wrote {output_dir}")
    if world_size > 1:
        torch.distributed.destroy_process_group()
    return {**results, "elapsed_s": elapsed, "wall_s": wall_s, "precision": chosen.name,
            "train_flops": train_flops}


if __name__ == "__main__":
    main()
