"""Throughput of our ViT-B/16 against timm's and torchvision's, as ratios measured side by side.

Absolute times on a shared laptop or CI machine are noise; ratios of runs interleaved in one process
(A B C, C B A, ...) are not. Every model gets the same config (dropout 0), the same AdamW optimizer, the
same batch. Printed:

- train step and inference throughput of ours / timm and torchvision / timm (median of per-round ratios), ours
  both as it is and through ``course_utils.last_block.ClassTokenLastBlock`` ("ours, cls last": the same model and
  logits, its last block computing only the class token the head reads; 7% fewer FLOPs for ViT-B/16);
- on a CPU with native bf16 (or with --bf16 on): bf16 autocast / fp32 for our train step, and our bf16 train
  step against timm's under the same autocast (on a CPU without it, bf16 is emulated and ~10x slower: skipped);
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

from course_utils import flops, vit
from course_utils.last_block import ClassTokenLastBlock
from course_utils.precision import choose_precision, cpu_has_native_bf16

TIMM_NAMES = {"ti": "vit_tiny_patch16_224", "s": "vit_small_patch16_224", "b": "vit_base_patch16_224"}


def build_models(size: str) -> dict[str, nn.Module]:
    import timm
    import torchvision

    ours = vit.create_vit(size, 16, num_classes=1000, mlp_dropout=0.0, embedding_dropout=0.0)
    models = {"ours": ours, "ours, cls last": ClassTokenLastBlock(ours),  # the same parameters
              "timm": timm.create_model(TIMM_NAMES[size], num_classes=1000)}
    if size == "b":
        models["torchvision"] = torchvision.models.vit_b_16(dropout=0.0, attention_dropout=0.0)
    return models


def train_step_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor, amp: str = "off",
                  fused: bool = False) -> Callable[[], None]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused or None, foreach=None if fused else True)
    loss_fn = nn.CrossEntropyLoss()
    precision = choose_precision(x.device, amp)

    def step() -> None:
        with precision.autocast():
            loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step.optimizer = optimizer  # type: ignore[attr-defined]
    return step


def infer_fn(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def infer() -> None:
        with torch.inference_mode():
            model(x)

    return infer


def seconds(fn: Callable[[], None], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def interleaved(fns: dict[str, Callable[[], None]], rounds: int, repeat: int,
                warm_up: bool = True) -> dict[str, list[float]]:
    """Seconds per call of each fn in each of `rounds` interleaved rounds, after one warm-up call each (unless
    `warm_up` is False: for calls of seconds, which need none).

    Rounds alternate the order (A B C, C B A, ...): whichever runs first after a switch pays for cold caches
    and fresh memory pages, and alternating spreads that cost evenly.
    """
    for fn in fns.values() if warm_up else ():
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


def train_flops_per_image(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """FLOPs of one image's forward + backward, counted by torch's FlopCounterMode (course_utils.flops)."""
    return flops.train_step_flops(model, x, y) / len(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="b", choices=sorted(TIMM_NAMES))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1, help="calls per round")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--bf16", choices=("auto", "on", "off"), default="auto",
                        help="time bf16 autocast: auto = only on a CPU with native bf16 (default: %(default)s)")
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
        print(f"  {name:14s} train {speedup(train, name, 'timm'):27s} inference {speedup(infer, name, 'timm')}")

    ours = models["ours"].train()
    rounds = min(args.rounds, 3)  # the ratios below are far from 1, so fewer rounds suffice
    native = cpu_has_native_bf16()
    if args.bf16 == "on" or (args.bf16 == "auto" and native):
        # Runs of their own: a bf16 step leaves memory laid out for other sizes, which would slow a fp32 step
        # of one model right after it and bias the comparison with timm above.
        amp = interleaved({"fp32": train_step_fn(ours, x, y), "bf16": train_step_fn(ours, x, y, amp="bf16")},
                          rounds, args.repeat)
        print(f"\nbf16 autocast / fp32, our train step ({rounds} rounds): {speedup(amp, 'bf16', 'fp32')}"
              f"{'' if native else ' (this CPU has no native bf16: emulated)'}")
        timm_model = models["timm"].train()
        both = interleaved({"ours": train_step_fn(ours, x, y, amp="bf16"),
                            "timm": train_step_fn(timm_model, x, y, amp="bf16")}, rounds, args.repeat)
        print(f"ours / timm, train step, both under bf16 autocast ({rounds} rounds): "
              f"{speedup(both, 'ours', 'timm')}")
    else:
        print("\nbf16: not timed, this CPU has no native bf16 (bf16 autocast would be emulated, about 10x slower "
              "than fp32; --bf16 on times it anyway)")
    our_step = statistics.median(train["ours"])
    peak = gemm_peak_flops()
    achieved = train_flops_per_image(ours, x, y) * args.batch_size / our_step
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
