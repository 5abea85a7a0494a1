"""Why our attention writes softmax(q k^T / sqrt(D_h)) v out by hand under CPU bf16 autocast.

`course_utils.vit.MultiheadSelfAttention` calls `F.scaled_dot_product_attention` (PyTorch's fused
kernel) everywhere except under bf16 on the CPU, where it uses two matmuls and an fp32 softmax. This
script times both for forward + backward, interleaved in one process, and checks they agree, at the shapes
the course trains (batch, tokens, heads x D_h):

- pico, 64 px in 8 px patches (the experiments): 64, 65, 4 x 16;
- nano, 24 px in 8 px patches (the main job): 64, 10, 4 x 32;
- micro, 32 px in 8 px patches (lesson 07's checkpoint): the batch size, 17, 3 x 64;
- ViT-B/16 at 224 px: a sixteenth of the batch size, 197, 12 x 64.

On a CPU with native bf16 the bf16 rows are why the written-out form is used under CPU bf16 autocast (on one
without it, bf16 is emulated and the course does not choose it); the fp32 rows decide
``vit.WRITTEN_OUT_MAX_HEAD_DIM``, the largest head written out in fp32 too.

    python benchmarks/attention_kernels.py
    python benchmarks/attention_kernels.py --batch-size 64 --rounds 7
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import torch
import torch.nn.functional as F
from vit_throughput import interleaved, speedup  # this script's folder is on sys.path when run as a script

from course_utils.vit import attention_weights


def explicit(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The formula written out, as course_utils.vit runs it under CPU bf16: matmuls, softmax in fp32."""
    return attention_weights(q, k) @ v


def fused(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v)


def forward_backward(attention: Callable[..., torch.Tensor], qkv: list[torch.Tensor]) -> Callable[[], None]:
    def run() -> None:
        attention(*qkv).sum().backward()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5, help="calls per round")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"forward + backward of one attention layer, batch {args.batch_size}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, median of {args.rounds} interleaved rounds\n")
    print(f"{'tokens':>6} {'heads x D_h':>11} {'dtype':>9} {'max |diff|':>10} {'fused ms':>9} {'explicit ms':>11}  "
          f"explicit speed-up")
    # (tokens, heads, head_dim, batch): pico, nano, micro and ViT-B/16 (the module docstring)
    shapes = ((65, 4, 16, 64), (10, 4, 32, 64), (17, 3, 64, args.batch_size),
              (197, 12, 64, max(1, args.batch_size // 16)))
    for tokens, heads, head_dim, batch in shapes:
        for dtype in (torch.float32, torch.bfloat16):
            qkv = [torch.randn(batch, heads, tokens, head_dim, dtype=dtype, requires_grad=True) for _ in range(3)]
            with torch.no_grad():
                diff = (fused(*qkv).float() - explicit(*qkv).float()).abs().max().item()
            times = interleaved({"fused": forward_backward(fused, qkv), "explicit": forward_backward(explicit, qkv)},
                                args.rounds, args.repeat)
            ms = {name: statistics.median(t) * 1e3 for name, t in times.items()}
            print(f"{tokens:>6} {f'{heads} x {head_dim}':>11} {str(dtype).removeprefix('torch.'):>9} {diff:>10.1e} "
                  f"{ms['fused']:>9.2f} {ms['explicit']:>11.2f}  {speedup(times, 'explicit', 'fused')}")

if __name__ == "__main__":
    main()
