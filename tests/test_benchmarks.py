"""The benchmark scripts run and print what the README quotes; their ratio arithmetic is right."""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from vit_throughput import interleaved, speedup  # noqa: E402


def run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_speedup_is_the_median_of_paired_round_ratios():
    times = {"ours": [1.0, 2.0, 1.0], "timm": [1.1, 2.0, 0.9]}
    assert speedup(times, "ours", "timm") == "1.000x (rounds 0.90-1.10)"
    assert speedup({"a": [2.0], "b": [3.0]}, "a", "b") == "1.500x"


def test_interleaved_alternates_the_order_and_times_every_round():
    calls = []
    times = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=3, repeat=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then A B, B A, A B
    assert {name: len(t) for name, t in times.items()} == {"a": 3, "b": 3}
    calls.clear()
    interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=2, repeat=1, warm_up=False)
    assert calls == ["a", "b", "b", "a"]  # no warm-up calls


@pytest.mark.slow
def test_throughput_benchmark_prints_every_ratio():
    # --bf16 on: the bf16 comparisons run even on a CPU that only emulates bf16 (tiny model, one image)
    out = run("vit_throughput.py", "--model", "ti", "--batch-size", "1", "--rounds", "1", "--no-compile",
              "--bf16", "on")
    for label in ("ours ", "timm ", "bf16 autocast / fp32", "ours / timm, train step, both under bf16 autocast",
                  "model FLOP utilisation", "AdamW foreach", "AdamW fused"):
        assert label in out, out
    for name in ("ours", "ours, cls last"):
        ours = re.search(rf"{name}\s+train ([\d.]+)x .* inference ([\d.]+)x", out)
        assert ours and all(0.2 < float(ratio) < 5 for ratio in ours.groups()), out


@pytest.mark.slow
def test_attention_benchmark_finds_both_kernels_equal():
    out = run("attention_kernels.py", "--batch-size", "2", "--rounds", "1", "--repeat", "1")
    rows = [line.split() for line in out.splitlines() if re.match(r"\s+\d+\s+\d+ x \d+", line)]
    assert len(rows) == 8, out  # pico, nano, micro and ViT-B/16, each in fp32 and bf16
    for row in rows:
        dtype, max_diff = row[4], float(row[5])
        assert max_diff < (2e-2 if dtype == "bfloat16" else 1e-5), row


@pytest.mark.slow
def test_time_to_accuracy_benchmark_prints_the_machine_the_precision_and_the_cost():
    out = run("time_to_accuracy.py", "--dataset", "shapes_small", "--", "--epochs", "1", "--img-size", "16",
              "--patch-size", "8", "--batch-size", "64")
    for label in ("CPU capability: ", "native bf16: ", "fp32 matmul ", "precision chosen: ", "training FLOPs: ",
                  "imports: ", "data generation: ", "wall time to 0.95 test accuracy: ", "wall time to the end: ",
                  "final test accuracy: "):
        assert label in out, out
    flops = float(re.search(r"training FLOPs: ([\d.]+) TFLOP", out).group(1))
    assert 0 < flops < 1, out  # 225 images of 16 px, one epoch
    generation = float(re.search(r"data generation: ([\d.]+) s", out).group(1))
    epoch_end = float(re.search(r"epochs end at: ([\d.]+) s \(the first after decoding", out).group(1))
    assert epoch_end > generation, out


def test_notebook_times_runs_a_notebook_in_the_mode_asked_and_skips_internet_cells(tmp_path):
    import nbformat
    from nbclient.exceptions import CellExecutionError
    from notebook_times import run_notebook

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import os\nassert os.environ['COURSE_FAST'] == '1'"),
        nbformat.v4.new_code_cell("raise RuntimeError('needs the internet')", metadata={"tags": ["skip-execution"]}),
    ])
    path = tmp_path / "tiny.ipynb"
    nbformat.write(notebook, path)
    assert run_notebook(path, fast=True) > 0
    with pytest.raises(CellExecutionError, match="AssertionError"):  # a full run must not see COURSE_FAST=1
        run_notebook(path, fast=False)


@pytest.mark.slow
def test_step_efficiency_benchmark_prints_time_rate_share_and_a_breakdown_summing_to_100():
    out = run("step_efficiency.py", "--quick", "--models", "nano", "--threads", "1")
    for label in ("CPU capability: ", "threads: 1", "fp32 matmul 2048x2048: ", "ms/step", "GFLOP/step", "GFLOP/s",
                  "share of matmul rate", "attention path, nano 24 px / 12, class token last: "):
        assert label in out, out
    row = re.search(r"^nano 24 px / 12, class token last\s+8\s+5\s+([\d.]+)\s+([\d.]+) \(.*\)\s+([\d.]+)\s+([\d.]+)% \(", out, re.M)
    assert row, out
    step_gflop, ms, gflops, share = map(float, row.groups())
    assert 0 < step_gflop < 1 and ms > 0 and gflops > 0 and share > 0, out
    groups = ("attention", "matmul", "elementwise", "optimizer", "data", "other")
    header = next(line for line in out.splitlines() if line.startswith("config") and "attention" in line)
    assert header.split()[-7:] == [*groups, "sum"], out
    shares = re.search(r"^nano 24 px / 12, class token last\s+8\s+[\d.]+" + r"\s+([\d.]+)%" * 7 + "$", out, re.M)
    assert shares, out
    *by_group, total = map(float, shares.groups())
    assert abs(sum(by_group) - 100) < 1 and abs(total - 100) < 0.1, out
    assert by_group[groups.index("matmul")] > 0 and by_group[groups.index("optimizer")] > 0, out


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("c++") is None and shutil.which("g++") is None,
                    reason="torch.compile on the CPU builds its kernels with a C++ compiler, and none is installed")
def test_step_efficiency_benchmark_times_a_compiled_step_and_its_compilation():
    out = run("step_efficiency.py", "--quick", "--models", "nano", "--threads", "1", "--compile", "default")
    assert "compile: default" in out, out
    first = re.search(r"^first step, compilation included: nano 24 px / 12, class token last x8 ([\d.]+) s$", out, re.M)
    assert first and float(first.group(1)) > 0, out
    assert re.search(r"^nano 24 px / 12, class token last\s+8\s+5\s+[\d.]+\s+[\d.]+ \(", out, re.M), out


def test_step_efficiency_benchmark_times_both_last_blocks_in_the_same_rounds():
    out = run("step_efficiency.py", "--quick", "--models", "nano", "--threads", "1", "--last-block", "both")
    every = re.search(r"^nano 24 px / 12\s+8\s+5\s+([\d.]+)\s", out, re.M)
    last = re.search(r"^nano 24 px / 12, class token last\s+8\s+5\s+([\d.]+)\s", out, re.M)
    assert every and last, out
    assert 0.83 < float(last.group(1)) / float(every.group(1)) < 0.85, out  # 16.1% fewer GFLOP per step
    ratio = re.search(r"^  nano 24 px / 12 x8: ([\d.]+) \(([\d.]+)-([\d.]+)\), FLOPs 0\.839$", out, re.M)
    assert ratio and float(ratio.group(2)) <= float(ratio.group(1)) <= float(ratio.group(3)), out


def test_takeoff_study_stops_a_run_at_its_first_round_below_the_band():
    from vit_takeoff import take_off

    # A band of 2 ln 3 lies above any first loss: the run stops after its first round of 2 steps of 64.
    left = take_off("recipe", seed=0, train_size=300, schedule_images=640, cap_images=640, round_images=128,
                    band=2.0)
    assert (left["steps"], left["images"]) == (2, 128) and left["loss"] < 2 * math.log(3)
    # A band of 0 is never reached: the run trains up to the cap and reports no take-off.
    stuck = take_off("recipe", seed=0, train_size=300, schedule_images=640, cap_images=256, round_images=128,
                     band=0.0)
    assert stuck["steps"] is None and stuck["images"] is None and stuck["loss"] > 0


def test_takeoff_study_adds_runs_to_its_file_and_refuses_other_settings(tmp_path):
    from vit_takeoff import save

    path, settings, machine = tmp_path / "takeoff.json", {"train_size": 9000, "cap_images": 640}, {"threads": 1}
    run = {"variant": "recipe", "seed": 0, "steps": 470, "loss": 1.07}
    save(path, settings, [run, {**run, "variant": "paper_init", "steps": None}], machine)
    content = save(path, settings, [{**run, "steps": 500}, {**run, "seed": 1}], machine)
    # the paper's initialisation first (VARIANTS' order), then the recipe by seed; seed 0 replaced, not repeated
    assert [(r["variant"], r["seed"], r["steps"]) for r in content["runs"]] == [
        ("paper_init", 0, None), ("recipe", 0, 500), ("recipe", 1, 470)]
    assert json.loads(path.read_text()) == content
    with pytest.raises(ValueError, match="pass another --out"):
        save(path, {**settings, "cap_images": 1280}, [run], machine)
    assert json.loads(path.read_text()) == content and sorted(p.name for p in tmp_path.iterdir()) == ["takeoff.json"]


@pytest.mark.slow
def test_local_heads_study_trains_both_variants_and_writes_every_heads_distance(tmp_path):
    out_file = tmp_path / "local_heads.json"
    small = ("--steps", "3", "--train-size", "30", "--seeds", "0", "--workers", "1")
    out = run("local_heads.py", *small, "--variants", "sincos", "cutmix", "--out", str(out_file))
    assert re.search(r"^sincos\s+0\s+[\d.]+\s+[\d.]+", out, re.M) and re.search(r"^cutmix\s+0\s", out, re.M), out
    content = json.loads(out_file.read_text())
    assert (content["settings"]["steps"], content["settings"]["train_size"]) == (3, 30)
    assert content["settings"]["learned_table"]["position_std"] == 0.2  # the recipe's
    assert [(r["variant"], r["seed"], r["steps"]) for r in content["runs"]] == [("cutmix", 0, 3), ("sincos", 0, 3)]
    for run_ in content["runs"]:
        heads = run_["head_distances"]
        assert len(heads) == 6 and all(len(layer) == 4 for layer in heads)  # the pico: 6 layers of 4 heads
        assert all(0 < d <= 80 for layer in heads for d in layer) and run_["uniform_distance"] == pytest.approx(33.1, abs=0.05)
        assert 0 <= run_["test_acc"] <= 1 and len(run_["train_losses"]) == 1
        assert run_["machine"].startswith("cpu, CPU capability")
    # a second call adds its runs to the file; a file made with another --steps is refused and left as it was
    run("local_heads.py", *small, "--variants", "plain", "--out", str(out_file))
    content = json.loads(out_file.read_text())
    assert [r["variant"] for r in content["runs"]] == ["plain", "cutmix", "sincos"]
    result = subprocess.run([sys.executable, str(BENCHMARKS / "local_heads.py"), *small, "--variants", "plain",
                             "--steps", "4", "--out", str(out_file)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode != 0 and "pass another --out" in result.stderr
    assert json.loads(out_file.read_text()) == content and [p.name for p in tmp_path.iterdir()] == ["local_heads.json"]


def test_local_heads_study_refuses_a_bad_step_count():
    result = subprocess.run([sys.executable, str(BENCHMARKS / "local_heads.py"), "--steps", "0"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2 and "--steps and --workers must be positive" in result.stderr
    result = subprocess.run([sys.executable, str(BENCHMARKS / "local_heads.py"), "--train-size", "2"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "--train-size at least 3" in result.stderr


@pytest.mark.slow
def test_main_job_recipe_trains_the_script_with_each_variants_flags_and_adds_the_runs(tmp_path):
    out = tmp_path / "runs.json"
    printed = run("main_job_recipe.py", "--data", "shapes_small", "--variants", "boost_3", "boost_lr2e-3_4",
                  "--seeds", "0", "--workers", "1", "--out", str(out))
    content = json.loads(out.read_text())
    assert content["settings"]["data"] == "shapes_small" and content["machine"]["workers"] == 1
    assert [(r["variant"], r["seed"], len(r["test_acc"])) for r in content["runs"]] == [("boost_lr2e-3_4", 0, 4),
                                                                                         ("boost_3", 0, 3)]
    assert all(0 <= a <= 1 for r in content["runs"] for a in r["test_acc"] + r["train_acc"]), content
    assert content["runs"][1]["train_flops"] < content["runs"][0]["train_flops"]  # 3 epochs cost less than 4
    assert "boost_3" in printed and "runs added to" in printed
    other = subprocess.run([sys.executable, str(BENCHMARKS / "main_job_recipe.py"), "--variants", "boost_3",
                            "--seeds", "0", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert other.returncode != 0 and "holds runs made with" in other.stderr  # another --data: refused, untouched
    assert json.loads(out.read_text()) == content


def test_data_preparation_benchmark_times_every_way_and_refuses_no_rounds():
    out = run("data_preparation.py", "--dataset", "shapes_small", "--rounds", "1")
    assert "drawing the 'shapes_small' set (300 images)" in out and "decoding its 225 training images" in out
    for way in ("one thread", "threads", "this process", "worker processes"):
        assert re.search(rf"{way} +\d+\.\d\d s", out), way
    assert "as fast as one thread" in out and "as fast as this process" in out
    assert "under shapes.PARALLEL_FROM = 500 images every way drew in one thread" in out  # 300 images: too few
    result = subprocess.run([sys.executable, str(BENCHMARKS / "data_preparation.py"), "--rounds", "0"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "--rounds must be positive" in result.stderr


def cpu_quota(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(BENCHMARKS / "cpu_quota.sh"), *args], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.parametrize("cpus", ["abc", "0", "-1", "100"])
def test_cpu_quota_refuses_a_share_that_is_not_a_number_of_cpus(cpus):
    result = cpu_quota(cpus, "true")
    assert result.returncode == 2 and f"not '{cpus}'" in result.stderr


def test_cpu_quota_without_a_command_prints_its_usage():
    result = cpu_quota("0.5")
    assert result.returncode == 2 and result.stderr.startswith("usage: cpu_quota.sh CPUS COMMAND")


CANNOT = "cannot set a CPU quota here"


def test_cpu_quota_runs_the_command_in_a_group_of_its_own_with_its_exit_status_and_removes_the_group():
    quota_files = "/sys/fs/cgroup/cpu/cpu_quota_*/cpu.cfs_quota_us /sys/fs/cgroup/cpu_quota_*/cpu.max"
    result = cpu_quota("0.5", "bash", "-c", f"cat /proc/self/cgroup; echo wait=$OMP_WAIT_POLICY; "
                                            f"for f in {quota_files}; do [ -f $f ] && echo quota=$(cat $f); done; exit 3")
    if CANNOT in result.stderr:  # not root, or no cpu controller for a child group (some containers); the script
        pytest.skip(result.stderr.strip())  # itself decides, and the test below checks that it runs nothing then
    assert result.returncode == 3, result.stderr  # the command's own status
    group = re.search(r"in (/sys/fs/cgroup/\S+)", result.stderr).group(1)
    assert "/" + Path(group).name in result.stdout  # the command ran inside the group
    assert re.search(r"^quota=50000( 100000)?$", result.stdout, re.M)  # half a CPU: 50 of every 100 ms
    assert "wait=PASSIVE" in result.stdout  # OpenMP's idle threads sleep, so waiting does not spend the quota
    assert not Path(group).exists()  # removed after the command ended


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="as root it needs setpriv to drop root")
def test_cpu_quota_without_the_right_to_a_cgroup_says_so_and_runs_nothing():
    folder = Path(tempfile.mkdtemp())  # the script and the command's file, where the unprivileged user reaches them
    folder.chmod(0o777)
    script, ran = shutil.copy(BENCHMARKS / "cpu_quota.sh", folder), folder / "ran"
    as_nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"] if os.geteuid() == 0 else []
    try:
        result = subprocess.run([*as_nobody, "bash", str(script), "0.5", "touch", str(ran)],
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 3 and CANNOT in result.stderr, result.stderr
        assert not ran.exists()
    finally:
        shutil.rmtree(folder)
