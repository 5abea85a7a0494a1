"""Multi-process training: ``torchrun --nproc_per_node 2 -m course_utils.train`` on the CPU (gloo).

One real 2-process run checks what a user relies on: it exits 0, only rank 0 writes (one checkpoint.pt
and one results.json, nothing else anywhere), each epoch is logged once, and the test metrics cover
every test image exactly once: they equal a single-process evaluation of the saved checkpoint on the
whole test set, although the 9 test images do not split evenly over 2 processes (a DistributedSampler
would pad them to 10 with a duplicate) and the two shards have different numbers of batches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from course_utils import data_setup, engine, predict, shapes, utils
from course_utils.shapes import ShapesSpec

pytestmark = [pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built"),
              pytest.mark.usefixtures("one_thread"), pytest.mark.slow]

# 24 train and 9 test images: test shards of 5 and 4 images, i.e. 2 batches and 1 batch of 4
TINY = ShapesSpec(("circle", "square", "triangle"), train_per_class=8, test_per_class=3, img_size=16, seed=7)
LABEL_SMOOTHING = 0.1  # train.py's default, used for the test loss too


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("ddp")
    data = shapes.generate_shapes(root / "data", TINY)
    out, cwd = root / "out", root / "cwd"
    cwd.mkdir()
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "course_utils.train", "--data", str(data), "--output-dir", str(out), "--epochs", "2",
               "--img-size", "16", "--patch-size", "8", "--batch-size", "4", "--device", "cpu", "--no-amp",
               "--label-smoothing", str(LABEL_SMOOTHING), "--quiet"]
    repo = str(Path(__file__).resolve().parents[1])  # importable even without `pip install -e .`
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"torchrun failed:\n{result.stdout}\n{result.stderr}"
    return root, out, result


def test_only_rank_0_writes_and_logs(ddp_run):
    root, out, result = ddp_run
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "loss_curves.png", "results.json"]
    assert sorted(p.name for p in root.iterdir()) == ["cwd", "data", "out"]
    assert list((root / "cwd").iterdir()) == []  # nothing written in the working directory either
    assert sorted(p.name for p in (root / "data").iterdir()) == ["dataset.json", "test", "train"]
    assert result.stdout.count("Epoch: 1 |") == 1 and result.stdout.count("Epoch: 2 |") == 1
    assert result.stdout.count("[INFO] final test accuracy") == 1
    results = json.loads((out / "results.json").read_text())
    assert results["epochs_done"] == 2 and len(results["test_acc"]) == 2


def test_test_metrics_cover_the_whole_test_set_once(ddp_run):
    root, out, _ = ddp_run
    assert utils.load_checkpoint(out / "checkpoint.pt")["epoch"] == 1
    model, _ = predict.load_trained_model(out / "checkpoint.pt")
    _, test_data, _ = data_setup.create_datasets(root / "data" / "train", root / "data" / "test",
                                                 data_setup.default_transform(16), cache=True)
    assert len(test_data) == 9
    test_dl = data_setup.make_dataloader(test_data, batch_size=9, shuffle=False)
    loss, acc = engine.test_step(model, test_dl, nn.CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING), "cpu")
    results = json.loads((out / "results.json").read_text())
    assert results["test_loss"][-1] == pytest.approx(loss, abs=1e-4)
    assert results["test_acc"][-1] == pytest.approx(acc, abs=1e-4)
    correct = results["test_acc"][-1] * 9
    assert correct == pytest.approx(round(correct), abs=1e-6)  # a count out of 9, not out of 10
