"""Time to accuracy of the main job, ``python -m course_utils.train``, data generation included.

Prints what decides the speed on this machine (the CPU's capability, whether it has native bf16, its fp32
matrix-multiply rate), the precision the training script chooses, the training FLOPs (a cost that holds
on any machine), the wall time to 0.95 test accuracy (``TARGET``) and to the end, when each epoch ended, and
the final accuracy. The wall times start after the imports (torch, torchvision, the package), whose seconds are
printed apart: the command itself takes that much longer.

    python benchmarks/time_to_accuracy.py                      # the main job as the README runs it
    ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=2 \\
        python benchmarks/time_to_accuracy.py                 # as on an AVX2-only CPU, 2 threads
    python benchmarks/time_to_accuracy.py -- --epochs 2        # flags after -- go to the training script
    sudo benchmarks/cpu_quota.sh 0.96 env ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \\
        ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=2 "$(command -v python)" benchmarks/time_to_accuracy.py
                                        # on a share of a faster CPU, as on the baseline (see cpu_quota.sh)

The data set is generated into a fresh temporary folder, so its generation is timed as a new learner's
first run pays for it. Time it on a quiet machine: two jobs sharing two cores slow each other down.
"""

from __future__ import annotations

import time

IMPORTS_START = time.perf_counter()  # what `python -m course_utils.train` pays too: torch, torchvision, the package

import argparse
import tempfile
from pathlib import Path

import torch
from vit_throughput import gemm_peak_flops  # the fp32 matmul rate, measured the same way in both benchmarks

from course_utils import precision, shapes, train, utils

TARGET = 0.95  # the main job's target: 0.95 test accuracy within 60 s on the baseline CPU, data included


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="shapes", choices=sorted(shapes.PRESETS))
    parser.add_argument("train_args", nargs="*", help="flags for the training script, after --")
    args = parser.parse_args()

    imports = time.perf_counter() - IMPORTS_START
    device = utils.get_device()
    print(f"CPU capability: {torch.backends.cpu.get_cpu_capability()}, native bf16: "
          f"{precision.cpu_has_native_bf16()} (oneDNN bf16: {torch.ops.mkldnn._is_mkldnn_bf16_supported()}), "
          f"{torch.get_num_threads()} threads, fp32 matmul {gemm_peak_flops() / 1e9:.0f} GFLOP/s, device {device}, "
          f"torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        data = shapes.get_dataset(args.dataset, data_dir=tmp)
        generation = time.perf_counter() - start
        run = train.main(["--data", str(data), "--output-dir", str(Path(tmp) / "run"), "--quiet",
                          *args.train_args])
    total = generation + run["elapsed_s"]
    reached = next((generation + wall for acc, wall in zip(run["test_acc"], run["wall_s"], strict=True)
                    if acc >= TARGET), None)
    print(f"\nprecision chosen: {run['precision']}")
    print(f"training FLOPs: {run['train_flops'] / 1e12:.3g} TFLOP")
    print(f"imports: {imports:.1f} s (torch, torchvision, course_utils; not in the times below, which start after them)")
    print(f"data generation: {generation:.1f} s")
    # The script's clock starts before it decodes the images into memory: the first epoch's end includes that.
    print("epochs end at: " + ", ".join(f"{generation + wall:.1f}" for wall in run["wall_s"])
          + " s (the first after decoding the images too)")
    print(f"wall time to {TARGET:.2f} test accuracy: "
          + (f"{reached:.1f} s" if reached is not None else f"not reached in {len(run['test_acc'])} epochs"))
    print(f"wall time to the end: {total:.1f} s ({len(run['test_acc'])} epochs)")
    print(f"final test accuracy: {run['test_acc'][-1]:.4f}")


if __name__ == "__main__":
    main()
