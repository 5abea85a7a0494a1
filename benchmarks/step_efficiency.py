"""How efficiently a full fp32 training step of the course's small ViTs uses this CPU.

For each configuration it times the step the course's training runs: the batch prepared from uint8 images in
memory (``course_utils.experiments.TensorBatches``), forward, label-smoothed cross-entropy, backward,
``clip_grad_norm_`` at 1.0 and the fused AdamW step of ``course_utils.optim.make_optimizer``, fp32, no dropout.
Configurations:

- nano, 24 px, patch 12, batch 64 and 256: ``python -m course_utils.train`` with its defaults (read from the
  script), which trains through ``course_utils.last_block.ClassTokenLastBlock`` (its last block computes the class
  token only: 16.1% fewer FLOPs);
- nano-3x3, 24 px, patch 8, batch 64 and 256: the same model on the 3 x 3 grid of 8 px patches the main job trained
  on until December 2026 (18.5% fewer FLOPs through the same shortcut); only when asked for;
- pico, 64 px, patch 8, batch 64 and 256: the experiments of ``course_utils.experiments``, whose runner trains a
  plain ViT the same way (13.8% fewer FLOPs);
- ViT-Ti/16, 224 px, batch 8: one step of a paper-sized model, for reference.

Printed, per configuration:

- ms/step: the median over ``--repeats`` rounds after a warm-up. Every round runs each configuration (and the
  matmul rate below) in turn, in alternating order, as ``vit_throughput.py`` does; within a round a
  configuration runs one untimed step, then enough timed steps back to back to last about a second;
- GFLOP/step: the FLOPs of one step's forward and backward as it runs, counted once with ``course_utils.flops``
  (matmuls, the patch convolution and attention; the optimizer's few FLOPs per parameter are left out);
- GFLOP/s: those FLOPs over the median time;
- share of the matmul rate: GFLOP/s over this machine's fp32 rate on a 2048 x 2048 matmul (the fp32 figure
  ``as-baseline-cpu`` prints), measured in the same rounds with the same threads: the median of the per-round
  ratios, with their range;
- the attention path the step took (the fused CPU flash kernel, the math fallback, or the formula written out);
- where one step's time goes, by op group, from ``torch.profiler`` (CPU self time of every op; a region's ops
  count for the region): attention, matmul (mm, addmm, linear, the patch convolution), elementwise (GELU,
  LayerNorm, adds, muls, softmax, the loss, dropout, copies, reductions), optimizer (zero_grad, clip, fused
  AdamW), data (indexing the uint8 batch and turning it into floats), and other: view and reshape ops, autograd
  bookkeeping, and the time between ops that no op accounts for (Python, dispatch), as percentages of the
  profiled steps' wall time. The profiler adds a few microseconds per op, so the profiled step is slower than
  the timed one, most of all for the smallest models; its ms are printed beside the breakdown.

With ``--last-block both`` every configuration also runs the other way (with every token through the last block, or
with the class token only), in the same rounds, and the median of the per-round ratios of the two times is printed.

With ``--compile MODE`` the model's forward (and so its backward) and the update (clip and AdamW) run through
``torch.compile`` in that mode; the first step's time, compilation included, is printed per configuration, and a
compiled region's ops count as "other" in the breakdown.

How to read it: the small ViTs are partly overhead-bound. A nano step at 24 px has 5 tokens per image, so its
matmuls are small, and a fixed cost per op (dispatch, autograd, Python) that does not shrink with the model
is a large part of the step: expect its share of the matmul rate to sit below ViT-Ti's, and to rise with the
batch. Times depend on the CPU, its load and its thread count; the share of the matmul rate much
less. Quote the share beside any time. Time on a quiet machine (two jobs sharing 2 cores make each other
several times slower), and on a CPU faster than the course's baseline (2 cores, AVX2, fp32) run it with torch's
libraries held to AVX2 and 2 threads, as the sixth line below does (CONTRIBUTING.md calls that ``as-baseline-cpu``):

    python benchmarks/step_efficiency.py                               # every configuration, a few minutes on 2 cores
    python benchmarks/step_efficiency.py --models nano --batches 64 128 256 --repeats 11
    python benchmarks/step_efficiency.py --models pico --batches 64 --attention fused   # against the package's path
    python benchmarks/step_efficiency.py --models pico nano --batches 64 --compile default  # torch.compile'd
    python benchmarks/step_efficiency.py --models nano pico --batches 64 --last-block both    # the last block's saving
    ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=2 \\
        python benchmarks/step_efficiency.py                          # as on an AVX2-only CPU, 2 threads
    python benchmarks/step_efficiency.py --quick --models nano         # a smoke run: seconds, numbers are noise
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import torch
from torch import nn
from torch.autograd.profiler import record_function
from torch.profiler import ProfilerActivity, profile

from course_utils import flops, train, vit
from course_utils.experiments.data import TensorBatches
from course_utils.experiments.points import GRAD_CLIP, LABEL_SMOOTHING, WEIGHT_DECAY
from course_utils.last_block import ClassTokenLastBlock
from course_utils.optim import make_optimizer


@dataclass(frozen=True)
class Config:
    """One model and input size: the ViT of ``vit.MODEL_CONFIGS[size]`` on ``img_size`` px images."""

    size: str
    img_size: int
    patch_size: int
    batches: tuple[int, ...]
    num_classes: int
    lr: float
    what: str
    class_token_last_block: bool = False  # through last_block.ClassTokenLastBlock, as the script and the runner

    @property
    def label(self) -> str:
        label = f"{self.size} {self.img_size} px / {self.patch_size}"
        return f"{label}, class token last" if self.class_token_last_block else label

    @property
    def tokens(self) -> int:
        return (self.img_size // self.patch_size) ** 2 + 1


MAIN_JOB = train.parse_args([])  # the training script's defaults: the 3-class shapes set
CONFIGS: dict[str, Config] = {
    "nano": Config(MAIN_JOB.model, MAIN_JOB.img_size, MAIN_JOB.patch_size, (64, 256), 3, MAIN_JOB.lr,
                   "python -m course_utils.train's defaults", True),
    "nano-3x3": Config("nano", 24, 8, (64, 256), 3, 1e-3, "the main job's model and grid until December 2026", True),
    # the experiments: the 3-class dots set, lr 1e-3
    "pico": Config("pico", 64, 8, (64, 256), 3, 1e-3, "the experiments (course_utils.experiments)", True),
    # a paper-sized model with ImageNet's head, for reference
    "ti": Config("ti", 224, 16, (8,), 1000, 1e-3, "ViT-Ti/16, reference"),
}
DEFAULT_MODELS = ["nano", "pico", "ti"]
GROUPS = ("attention", "matmul", "elementwise", "optimizer", "data", "other")
REGIONS = {"step.data": "data", "step.optimizer": "optimizer"}  # record_function names in the step
# Op names (without "aten::") by group, tried in this order: an op is in a group if one of the words of its
# name ("native_layer_norm_backward": native, layer, norm, backward) is in the group's list; else "other".
ATTENTION_OPS = {"scaled", "flash", "attention", "bmm", "baddbmm"}
MATMUL_OPS = {"mm", "addmm", "linear", "matmul", "conv2d", "convolution"}
ELEMENTWISE_OPS = {"gelu", "layer", "add", "mul", "div", "sub", "neg", "softmax", "nll", "entropy", "dropout",
                   "bernoulli", "copy", "clone", "contiguous", "cat", "stack", "sum", "mean", "fill", "zero", "zeros",
                   "where", "exp", "log", "sqrt", "rsqrt", "pow", "clamp", "index", "gather", "scatter", "masked"}
MATMUL_SIZE = 2048  # the side of as-baseline-cpu's fp32 matmul


@dataclass
class Case:
    """One configuration at one batch size: its model, optimizer and step, and what was measured of it."""

    config: Config
    batch: int
    step: Callable[[], None]
    flops: int
    calls: int = 1  # timed steps per round
    first_seconds: float = 0.0  # the first step (compilation included, if any)
    seconds: list[float] = field(default_factory=list)  # per step, one entry per round

    @property
    def name(self) -> str:
        return f"{self.config.label} x{self.batch}"


def endless(batches: TensorBatches) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``batches``' batches, pass after pass, for as long as asked."""
    while True:
        yield from batches


def make_case(config: Config, batch: int, seed: int = 0, compile_mode: str | None = None) -> Case:
    """A fresh model of ``config``, its optimizer, and a step on ``batch`` images drawn from two batches' worth
    of random uint8 images held in memory, as the experiments hold theirs. FLOPs are counted here, once. With
    ``compile_mode``, the forward and the update (clip and AdamW) are ``torch.compile``d in that mode."""
    torch.manual_seed(seed)
    model = vit.create_vit(config.size, config.patch_size, img_size=config.img_size, num_classes=config.num_classes,
                           mlp_dropout=0.0, embedding_dropout=0.0).train()
    optimizer = make_optimizer(model, config.lr, WEIGHT_DECAY, "cpu")
    loss_fn = nn.CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING)
    images = torch.randint(0, 256, (2 * batch, 3, config.img_size, config.img_size), dtype=torch.uint8)
    labels = torch.randint(0, config.num_classes, (2 * batch,))
    batches = endless(TensorBatches(images, labels, batch, shuffle=True, seed=seed))
    parameters = list(model.parameters())

    def update() -> None:
        nn.utils.clip_grad_norm_(parameters, GRAD_CLIP)
        optimizer.step()

    runs = ClassTokenLastBlock(model) if config.class_token_last_block else model
    forward = runs if compile_mode is None else torch.compile(runs, mode=compile_mode)
    update = update if compile_mode is None else torch.compile(update, mode=compile_mode)

    def step() -> None:
        with record_function("step.data"):
            x, y = next(batches)
        loss = loss_fn(forward(x), y)
        with record_function("step.optimizer"):
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        with record_function("step.optimizer"):
            update()

    x = images[:batch].float().div_(255)
    step_flops = flops.train_step_flops(runs, x, labels[:batch], loss_fn)
    return Case(config, batch, step, step_flops)


class MatmulRate:
    """fp32 GFLOP/s of a ``n`` x ``n`` matmul, as ``as-baseline-cpu`` measures it: as many products as fit in
    ``seconds`` (at least one), after one untimed product."""

    def __init__(self, n: int = MATMUL_SIZE, seconds: float = 1.0) -> None:
        generator = torch.Generator().manual_seed(0)
        self.a = torch.randn(n, n, generator=generator)
        self.b = torch.randn(n, n, generator=generator)
        self.n, self.seconds = n, seconds
        self.rates: list[float] = []  # one per round

    def measure(self) -> float:
        self.a @ self.b
        reps, start = 0, time.perf_counter()
        while reps == 0 or time.perf_counter() - start < self.seconds:
            self.a @ self.b
            reps += 1
        rate = 2 * self.n**3 * reps / (time.perf_counter() - start) / 1e9
        self.rates.append(rate)
        return rate


def seconds_per_step(step: Callable[[], None], calls: int) -> float:
    """Seconds per step of ``calls`` steps run back to back, after one untimed step (the caches are cold after
    another configuration ran)."""
    step()
    start = time.perf_counter()
    for _ in range(calls):
        step()
    return (time.perf_counter() - start) / calls


def warm_up(case: Case, steps: int, round_seconds: float) -> None:
    """Run ``steps`` untimed steps (at least one) and size the rounds: as many steps as fit in ``round_seconds``
    by the last warm-up step's time, at least one. The first step's time is kept (``first_seconds``)."""
    for i in range(max(steps, 1)):
        start = time.perf_counter()
        case.step()
        last = time.perf_counter() - start
        if i == 0:
            case.first_seconds = last
    case.calls = max(1, min(1000, round(round_seconds / last)))


def run_rounds(cases: list[Case], matmul: MatmulRate, rounds: int) -> None:
    """``rounds`` rounds, each timing every case and the matmul rate once, in alternating order (A B C, C B A,
    ...): whichever runs first after a switch pays for cold caches, and alternating spreads that cost evenly."""
    jobs: list[Callable[[], object]] = [matmul.measure]
    for case in cases:
        jobs.append(lambda case=case: case.seconds.append(seconds_per_step(case.step, case.calls)))
    for round_ in range(rounds):
        for job in jobs if round_ % 2 == 0 else reversed(jobs):
            job()


def group_of(name: str) -> str:
    """The op group of an op called ``name`` outside the step's data and optimizer regions."""
    if not name.startswith("aten::"):
        return "other"  # autograd nodes, the engine's wrappers, record_function ranges
    words = set(name.removeprefix("aten::").split("_"))
    for group, ops in (("attention", ATTENTION_OPS), ("matmul", MATMUL_OPS), ("elementwise", ELEMENTWISE_OPS)):
        if words & ops:
            return group
    return "other"  # views, reshapes, empty tensors: no arithmetic


def region_of(event: object) -> str | None:
    """The step's region (data or optimizer) that ``event`` ran in, if any: itself or an enclosing range."""
    while event is not None:
        region = REGIONS.get(event.name)  # type: ignore[attr-defined]
        if region is not None:
            return region
        event = event.cpu_parent  # type: ignore[attr-defined]
    return None


def attention_path(names: set[str]) -> str:
    """Which attention the profiled step ran, from the names of its ops."""
    if "aten::_scaled_dot_product_flash_attention_for_cpu" in names:
        return "fused flash kernel (aten::_scaled_dot_product_flash_attention_for_cpu)"
    if "aten::_scaled_dot_product_attention_math" in names:
        return "scaled_dot_product_attention's math fallback (bmm, softmax, bmm)"
    if any("scaled_dot_product" in name for name in names):
        return "scaled_dot_product_attention: " + ", ".join(sorted(n for n in names if "scaled_dot_product" in n))
    return "written out (matmul, softmax, matmul)"


def breakdown(step: Callable[[], None], steps: int) -> tuple[dict[str, float], float, str]:
    """Percent of the wall time of ``steps`` profiled steps by op group, the ms per profiled step, and the
    attention path. Each op counts its self time (its children's time goes to them); what no op accounts for
    (Python and dispatch between ops) goes to "other", so the groups sum to 100%."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        wall_us = (time.perf_counter() - start) * 1e6
    self_us = dict.fromkeys(GROUPS, 0.0)
    names: set[str] = set()
    for event in prof.events():
        names.add(event.name)
        group = region_of(event) or group_of(event.name)
        self_us[group] += event.self_cpu_time_total
    traced = sum(self_us.values())
    self_us["other"] += max(0.0, wall_us - traced)
    total = sum(self_us.values())
    percent = {group: 100 * us / total for group, us in self_us.items()}
    return percent, wall_us / steps / 1e3, attention_path(names)


def last_blocks(config: Config, mode: str) -> list[Config]:
    """``config`` with its last block as ``--last-block`` asks: as it is ("script"), on the class token only, on every
    token, or both (every token first)."""
    if mode == "script":
        return [config]
    if mode == "both":
        return [replace(config, class_token_last_block=False), replace(config, class_token_last_block=True)]
    return [replace(config, class_token_last_block=mode == "class-token")]


def span(values: list[float], fmt: str, unit: str = "") -> str:
    """The median of ``values`` and, with more than one, their range: "95.3 (93.1-97.0)", "41% (39-44%)"."""
    middle = f"{statistics.median(values):{fmt}}{unit}"
    if len(values) == 1:
        return middle
    return f"{middle} ({min(values):{fmt}}-{max(values):{fmt}}{unit})"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with the defaults of --quick (or of a full run) filled in."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=sorted(CONFIGS), default=None,
                        help=f"configurations to run (default: {' '.join(DEFAULT_MODELS)}; with --quick: nano)")
    parser.add_argument("--batches", nargs="+", type=int, default=None,
                        help="batch sizes for every model chosen (default: 64 256 for nano and pico, 8 for ti; "
                             "with --quick: 8)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed rounds; ms/step is their median (default: 7; with --quick: 2)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--attention", choices=("auto", "fused", "written"), default="auto",
                        help="the attention path: the package's choice by head size (vit.writes_attention_out), "
                             "always the fused kernel, or always written out (default: auto)")
    parser.add_argument("--last-block", choices=("script", "class-token", "every-token", "both"), default="script",
                        help="the last encoder block: as the course trains it (nano and pico, as the training script "
                             "and the experiments: the class token only, through "
                             "course_utils.last_block.ClassTokenLastBlock; ti: every token), the class token only, "
                             "every token, or both ways in the same rounds, with the ratio of their times "
                             "(default: script)")
    parser.add_argument("--compile", default="off", choices=("off", "default", "reduce-overhead", "max-autotune",
                                                            "max-autotune-no-cudagraphs"),
                        help="torch.compile the forward and the update in this mode (default: off)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: nano, batch 8, 2 short rounds, one profiled step; its numbers are noise")
    args = parser.parse_args(argv)
    args.models = args.models or (["nano"] if args.quick else DEFAULT_MODELS)
    args.batches = args.batches or ([8] if args.quick else None)
    args.repeats = args.repeats or (2 if args.quick else 7)
    if args.repeats < 1 or (args.threads is not None and args.threads < 1) or min(args.batches or [1]) < 1:
        parser.error("--repeats, --threads and --batches must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    """Build every case, time them in interleaved rounds beside the matmul rate, then profile one step each."""
    args = parse_args(argv)
    start = time.perf_counter()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.attention != "auto":  # every head size on one path (the bf16 rule aside: these steps are fp32)
        vit.WRITTEN_OUT_MAX_HEAD_DIM = 0 if args.attention == "fused" else 1 << 30
    warmup_steps, round_seconds, profiled_steps = (1, 0.05, 1) if args.quick else (3, 1.0, 3)
    print("fp32 training step of the course's small ViTs on the CPU (forward, label-smoothed cross-entropy, "
          f"backward, clip {GRAD_CLIP}, fused AdamW)")
    print(f"torch {torch.__version__}, CPU capability: {torch.backends.cpu.get_cpu_capability()}, "
          f"threads: {torch.get_num_threads()}, attention: {args.attention}, compile: {args.compile}, "
          f"median of {args.repeats} interleaved rounds")

    compile_mode = None if args.compile == "off" else args.compile
    cases = [make_case(config, batch, compile_mode=compile_mode) for name in args.models
             for batch in (args.batches or CONFIGS[name].batches)
             for config in last_blocks(CONFIGS[name], args.last_block)]
    matmul = MatmulRate(seconds=round_seconds)
    matmul.measure()  # warm-up; its rate is not kept
    matmul.rates.clear()
    for case in cases:
        warm_up(case, warmup_steps, round_seconds)
    run_rounds(cases, matmul, args.repeats)
    print(f"fp32 matmul {MATMUL_SIZE}x{MATMUL_SIZE}: {span(matmul.rates, '.1f')} GFLOP/s")
    for name in args.models:
        print(f"{CONFIGS[name].label}: {CONFIGS[name].what}")
    if compile_mode is not None:
        print("first step, compilation included: " + ", ".join(f"{case.name} {case.first_seconds:.1f} s"
                                                                 for case in cases))
    print()

    width = max(len(case.config.label) for case in cases) + 2
    print(f"{'config':<{width}}{'batch':>5} {'tokens':>6} {'GFLOP/step':>10}  {'ms/step (rounds)':<24}"
          f"{'GFLOP/s':>8}  share of matmul rate (rounds)")
    for case in cases:
        ms = [s * 1e3 for s in case.seconds]
        rate = case.flops / statistics.median(case.seconds) / 1e9
        shares = [100 * case.flops / s / 1e9 / r for s, r in zip(case.seconds, matmul.rates, strict=True)]
        print(f"{case.config.label:<{width}}{case.batch:>5} {case.config.tokens:>6} {case.flops / 1e9:>10.3f}  "
              f"{span(ms, '.1f'):<24}{rate:>8.1f}  {span(shares, '.1f', '%')}")

    if args.last_block == "both":
        print("\ntime per step, class token last / every token (median of the per-round ratios, their range):")
        for every, last in zip(cases[::2], cases[1::2], strict=True):
            ratios = [b / a for a, b in zip(every.seconds, last.seconds, strict=True)]
            print(f"  {every.name}: {span(ratios, '.3f')}, FLOPs {last.flops / every.flops:.3f}")

    print(f"\ntime by op group, % of {'one profiled step' if profiled_steps == 1 else f'{profiled_steps} profiled steps'}"
          " (CPU self time; other = views, autograd and the time between ops):")
    print(f"{'config':<{width}}{'batch':>5} {'profiled ms':>11}" + "".join(f"{g:>12}" for g in GROUPS) + "       sum")
    paths = {}
    for case in cases:
        percent, ms, paths[case.config.label] = breakdown(case.step, profiled_steps)
        print(f"{case.config.label:<{width}}{case.batch:>5} {ms:>11.1f}"
              + "".join(f"{percent[g]:>11.1f}%" for g in GROUPS) + f"{sum(percent.values()):>9.1f}%")
    print()
    for label, path in paths.items():
        print(f"attention path, {label}: {path}")
    print(f"\nFLOPs: forward and backward counted by course_utils.flops (torch.utils.flop_counter); "
          f"wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
