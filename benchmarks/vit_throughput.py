"""Throughput of our ViT-B/16 against timm's and torchvision's, as ratios measured side by side.

Absolute times on a shared laptop or CI machine are noise; ratios of runs interleaved in one process
(A B C, C B A, ...) are not. Every model gets the same config (dropout 0), the same AdamW optimizer, the
same batch. Printed:

- train step and inference throughput of ours / timm and torchvision / timm (median of per-round ratios);
- bf16 autocast / fp32 for our train step;
- torch.compile / eager for our train step (and whether compiled outputs equal eager ones);
- the optimizer step's share of a train step, for AdamW foreach and fused;
- model FLOP utilisation: achieved FLOP/s of our fp32 train step / a fp32 GEMM peak measured here.

    python benchmarks/vit_throughput.py                  # ViT-B/16, batch 8, 224 px (~4.5 min on 2 cores)
    python benchmarks/vit_throughput.py --model s --rounds 3 --no-compile
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from course_utils import vit
from course_utils.engine import autocast

TIMM_NAMES = {"ti": "vit_tiny_patch16_224", "s": "vit_small_patch16_224", "b": "vit_base_patch16_224"}


def build_models(size: str) -> dict[str, nn.Module]:
    import timm
    import torchvision

    ours = vit.create_vit(size, 16, num_classes=1000, mlp_dropout=0.0, embedding_dropout=0.0)
    models = {"ours": ours, "timm": timm.create_model(TIMM_NAMES[size], num_classes=1000)}
    if size == "b":
        models["torchvision"] = torchvision.models.vit_b_16(dropout=0.0, attention_dropout=0.0)
    return models


def train_step_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor, amp: bool = False,
                  fused: bool = False) -> Callable[[], None]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused or None, foreach=None if fused else True)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        with autocast(x.device, amp):
            loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step.optimizer = optimizer  # type: ignore[attr-defined]
    return step


def infer_fn(model: nn.Module, x: torch.Tensor, amp: bool = False) -> Callable[[], None]:
    def infer() -> None:
        with torch.inference_mode(), autocast(x.device, amp):
            model(x)

    return infer


def seconds(fn: Callable[[], None], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def interleaved(fns: dict[str, Callable[[], None]], rounds: int, repeat: int) -> dict[str, list[float]]:
    """Seconds per call of each fn in each of `rounds` interleaved rounds, after one warm-up call each.

    Rounds alternate the order (A B C, C B A, ...): whichever runs first after a switch pays for cold caches
    and fresh memory pages, and alternating spreads that cost evenly.
    """
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(rounds):
        names = list(fns) if round_ % 2 == 0 else list(reversed(fns))
        for name in names:
            times[name].append(seconds(fns[name], repeat))
    return times


def speedup(times: dict[str, list[float]], name: str, baseline: str) -> str:
    """How many times faster `name` ran than `baseline`: the median of the per-round ratios, and their range.

    Each round's ratio compares two runs seconds apart, so slow drifts of the machine cancel out; the range
    shows how much of the last digit is noise.
    """
    ratios = sorted(b / a for a, b in zip(times[name], times[baseline], strict=True))
    if len(ratios) == 1:
        return f"{ratios[0]:.3f}x"
    return f"{statistics.median(ratios):.3f}x (rounds {ratios[0]:.2f}-{ratios[-1]:.2f})"


def gemm_peak_flops(n: int = 2048, repeat: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    return 2 * n**3 / seconds(lambda: a @ b, repeat)


def train_flops_per_image(model: vit.ViT) -> float:
    """~6 x parameters x tokens for forward + backward of the matmuls, plus attention's two matmuls."""
    tokens = model.num_patches + 1
    dim, layers = model.config["embedding_dim"], model.config["num_transformer_layers"]
    matmul_params = sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight") and p.ndim == 2)
    return 3 * (2 * matmul_params * tokens + layers * 4 * tokens * tokens * dim)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="b", choices=sorted(TIMM_NAMES))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1, help="calls per round")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    start = time.perf_counter()
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # "No CUDA runtime" on CPU machines
    torch.manual_seed(0)
    x = torch.randn(args.batch_size, 3, 224, 224)
    y = torch.randint(0, 1000, (args.batch_size,))
    models = build_models(args.model)
    for model in models.values():
        model.train()
    print(f"ViT-{args.model.upper()}/16, batch {args.batch_size}, 224 px, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, median of {args.rounds} interleaved rounds\n")

    train = interleaved({n: train_step_fn(m, x, y) for n, m in models.items()}, args.rounds, args.repeat)
    for m in models.values():
        m.eval()
    infer = interleaved({n: infer_fn(m, x) for n, m in models.items()}, args.rounds, args.repeat)
    print("fp32 throughput relative to timm (higher is faster):")
    for name in models:
        print(f"  {name:12s} train {speedup(train, name, 'timm'):27s} inference {speedup(infer, name, 'timm')}")

    # A run of its own: a bf16 step leaves memory laid out for other sizes, which would slow a fp32 step of
    # one model right after it and bias the comparison with timm above.
    ours = models["ours"].train()
    rounds = min(args.rounds, 3)  # the ratio is far from 1, so fewer rounds suffice
    amp = interleaved({"fp32": train_step_fn(ours, x, y), "bf16": train_step_fn(ours, x, y, amp=True)}, rounds,
                      args.repeat)
    print(f"\nbf16 autocast / fp32, our train step ({rounds} rounds): {speedup(amp, 'bf16', 'fp32')}")
    our_step = statistics.median(train["ours"])
    peak = gemm_peak_flops()
    achieved = train_flops_per_image(ours) * args.batch_size / our_step
    print(f"model FLOP utilisation (fp32 train step / measured fp32 GEMM peak of {peak / 1e9:.0f} GFLOP/s): "
          f"{achieved / peak:.0%}")

    for fused in (False, True):
        step = train_step_fn(ours, x, y, fused=fused)
        step()  # gradients, and the optimizer's state
        opt = seconds(step.optimizer.step, 4)  # type: ignore[attr-defined]
        print(f"AdamW {'fused  ' if fused else 'foreach'}: optimizer step {opt * 1000:.0f} ms = "
              f"{opt / our_step:.1%} of a fp32 train step")

    if args.compile:
        compiled = torch.compile(ours)
        # Same batch and mode as the timed step, so the one compiled graph is the one timed.
        same = torch.allclose(compiled(x), ours(x), atol=1e-4, rtol=1e-4)
        times = interleaved({"eager": train_step_fn(ours, x, y), "compiled": train_step_fn(compiled, x, y)},
                            rounds, args.repeat)
        print(f"torch.compile / eager, our train step ({rounds} rounds): {speedup(times, 'compiled', 'eager')}; "
              f"compiled outputs equal eager: {same}")
    print(f"\nbenchmark wall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
