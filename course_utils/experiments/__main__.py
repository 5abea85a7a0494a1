"""Run an experiment of lessons 09-10: ``python -m course_utils.experiments NAME`` (``--list`` lists them).

It trains every point of experiment NAME (see ``course_utils.experiments``) with a progress bar and writes
``results/NAME.json`` (``results/NAME_fast.json`` with ``--fast``) in the working folder after every point.
The lessons plot the committed results in ``course_utils/experiments/results/``: to refresh them, pass
``--out`` with that file (``experiments.results_path(NAME)``). Run it again after a
kill and it goes on where it stopped; with other ``--seeds`` it adds them to the file. At the end it prints
the total time and the machine. A script: nothing imports it.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from pathlib import Path

from course_utils import experiments, precision


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m course_utils.experiments", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", help=f"the experiment: {', '.join(experiments.EXPERIMENTS)}")
    parser.add_argument("--out", type=Path, default=None,
                        help="the results file (default: results/NAME.json, or results/NAME_fast.json with --fast)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="run every setting with these seeds instead of the experiment's")
    parser.add_argument("--fast", action="store_true", help="run every point reduced (fewer images and steps)")
    parser.add_argument("--list", action="store_true",
                        help="list the experiments: points, training FLOPs and hours at "
                             f"{experiments.FLOPS_PER_SECOND / 1e9:.0f} GFLOP/s (the baseline CPU)")
    parser.add_argument("--data", type=Path, default=None,
                        help="a folder with train/ and test/ (default: the points' dataset, generated if absent)")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps... (default: best available)")
    parser.add_argument("--amp", default=None, choices=precision.MODES,
                        help="every point's precision (default: the points' own, fp32)")
    parser.add_argument("--table", action="store_true",
                        help="print the committed results as the rows of CONTRIBUTING.md's results table")
    parser.add_argument("--save-models", type=Path, default=None, metavar="DIR",
                        help="keep every model trained in DIR (NAME_<model>_<position>_..._seedN.pt)")
    parser.add_argument("--workers", type=int, default=1,
                        help="train this many points at once, each in its own process on an equal share of the "
                             "CPU threads (small models: often faster; see CONTRIBUTING.md) (default: 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if not args.list and not args.table and args.name is None:
        parser.error("name the experiment to run, or pass --list")
    if args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    if args.name is not None and args.name not in experiments.EXPERIMENTS:
        parser.error(f"unknown experiment {args.name!r}; choose one of {', '.join(experiments.EXPERIMENTS)}")
    return args


def list_experiments(names: list[str], seeds: list[int] | None, fast: bool) -> None:
    """Print each experiment's number of points, and its training FLOPs and hours at the baseline rate twice: at
    most (every run to the end of its schedule) and as committed (the runs of its results file, early stops
    included), where that file exists."""
    rate = experiments.FLOPS_PER_SECOND
    print(f"hours at {rate / 1e9:.0f} GFLOP/s (the baseline CPU); at most: every run to the end of its schedule; "
          f"committed: the runs in its results file, early stops included")
    print(f"{'experiment':<22}{'points':>7}{'TFLOP':>10}{'hours':>8}{'committed runs':>17}{'TFLOP':>9}{'hours':>8}")
    for name in names:
        experiment = experiments.EXPERIMENTS[name]
        points = experiment.grid(seeds, fast)
        total = experiments.estimate_flops(points)
        line = f"{name:<22}{len(points):>7}{total / 1e12:>10.1f}{experiments.hours_at_baseline(total):>8.2f}"
        path = experiments.results_path(name, fast=fast)
        if path.exists():
            rows = experiments.load_results(path)
            spent = sum(row["train_flops"] for row in rows)
            line += f"{len(rows):>17}{spent / 1e12:>9.1f}{experiments.hours_at_baseline(spent):>8.2f}"
        print(line)
        print(textwrap.indent(textwrap.fill(experiment.description, 100), "    "))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.table:
        print("\n".join(experiments.results_table()))
        return 0
    if args.list:
        list_experiments([args.name] if args.name else list(experiments.EXPERIMENTS), args.seeds, args.fast)
        return 0
    out = args.out or Path("results") / f"{args.name}{'_fast' if args.fast else ''}.json"
    start = time.perf_counter()
    try:
        content = experiments.run_experiment(experiments.EXPERIMENTS[args.name], out, seeds=args.seeds,
                                             fast=args.fast, data_root=args.data, device=args.device,
                                             amp=args.amp, progress=False if args.quiet else None,
                                             save_models=args.save_models, workers=args.workers)
    except experiments.IncompatibleResults as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    skipped = len(content["points"]) - content["ran"]
    print(f"[INFO] {args.name}: ran {content['ran']} points, {skipped} already in {out}; total time "
          f"{elapsed:.0f} s ({elapsed / 3600:.2f} h)")
    print(f"[INFO] machine: {experiments.machine_line(experiments.describe_machine(args.device))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
