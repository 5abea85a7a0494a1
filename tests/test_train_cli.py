"""The command-line scripts: train writes its outputs, resumes, and predict classifies images."""

import json
import signal
import subprocess
import sys

import pytest
import torch

from course_utils import engine, predict, shapes, train, utils
from course_utils.shapes import ShapesSpec
from course_utils.vit import ViT

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ShapesSpec(("circle", "square", "triangle"), train_per_class=16, test_per_class=4, seed=5)
FAST_FLAGS = ["--epochs", "2", "--batch-size", "16", "--quiet", "--model", "micro"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return shapes.generate_shapes(tmp_path_factory.mktemp("data") / "tiny", TINY)


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train.main(["--data", str(tiny_data), "--output-dir", str(out), *FAST_FLAGS])
    return out


def test_train_writes_checkpoint_results_and_curves(trained):
    assert {p.name for p in trained.iterdir()} == {"checkpoint.pt", "results.json", "loss_curves.png"}
    results = json.loads((trained / "results.json").read_text())
    for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
        assert len(results[key]) == 2
    assert results["final_test_acc"] == results["test_acc"][-1]
    assert results["class_names"] == ["circle", "square", "triangle"]


def test_same_seed_same_results(tiny_data, trained, tmp_path):
    train.main(["--data", str(tiny_data), "--output-dir", str(tmp_path), *FAST_FLAGS])
    assert (tmp_path / "results.json").read_text() == (trained / "results.json").read_text()


# Run in a fresh interpreter: train with torch.save patched to die by SIGKILL halfway through writing the
# checkpoint of epoch 1 (the second save): the worst moment for a crash, and at the same point every time.
KILL_MID_SAVE = """
import os, signal, sys, torch
from course_utils import train
real_save, saves = torch.save, []
def save_then_die(obj, f, *args, **kwargs):
    real_save(obj, f, *args, **kwargs)
    saves.append(f)
    if len(saves) == 2:
        with open(f, "r+b") as file:
            file.truncate(os.path.getsize(f) // 2)
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup handler runs
torch.save = save_then_die
train.main(sys.argv[1:])
"""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
@pytest.mark.filterwarnings("ignore::course_utils.engine.PlateauWarning")  # 6 steps on 24 images: resuming is the point
def test_killed_run_resumes_to_the_same_metrics(tiny_data, tmp_path, one_thread):
    """SIGKILL a real training process while it writes a checkpoint, resume it, compare with a full run."""
    flags = ["--data", str(tiny_data), "--epochs", "3", "--batch-size", "16", "--quiet", "--dropout", "0.1",
             "--img-size", "16", "--patch-size", "8"]
    train.main([*flags, "--output-dir", str(tmp_path / "full")])
    killed = tmp_path / "killed"
    process = subprocess.run([sys.executable, "-c", KILL_MID_SAVE, *flags, "--output-dir", str(killed)],
                             capture_output=True, text=True, timeout=300, env=one_thread)
    assert process.returncode == -signal.SIGKILL, process.stderr
    # the half-written temp file of epoch 1 is left; checkpoint.pt and results.json still hold epoch 0
    assert len(utils.temp_files(killed / "checkpoint.pt")) == 1
    checkpoint = torch.load(killed / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 0
    assert {"model", "optimizer", "scheduler", "scaler", "rng", "results"} <= checkpoint.keys()
    assert json.loads((killed / "results.json").read_text())["epochs_done"] == 1

    train.main([*flags, "--output-dir", str(killed), "--resume"])
    assert {p.name for p in killed.iterdir()} == {"checkpoint.pt", "results.json", "loss_curves.png"}
    full = json.loads((tmp_path / "full" / "results.json").read_text())
    resumed = json.loads((killed / "results.json").read_text())
    assert resumed["epochs_done"] == 3
    for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
        assert resumed[key] == pytest.approx(full[key], abs=1e-4), key


@pytest.mark.slow
def test_compiled_training_matches_eager_and_saves_a_plain_checkpoint(tiny_data, tmp_path):
    flags = ["--data", str(tiny_data), "--epochs", "1", "--batch-size", "16", "--quiet", "--model", "nano",
             "--img-size", "16", "--patch-size", "8", "--no-amp"]
    train.main([*flags, "--output-dir", str(tmp_path / "eager")])
    train.main([*flags, "--output-dir", str(tmp_path / "compiled"), "--compile"])
    eager, compiled = (json.loads((tmp_path / run / "results.json").read_text()) for run in ("eager", "compiled"))
    for key in ("train_loss", "test_loss"):
        assert compiled[key] == pytest.approx(eager[key], abs=1e-3), key
    # The checkpoint holds the plain model's weights (no "_orig_mod." prefixes): an eager ViT loads it.
    model, class_names = predict.load_trained_model(tmp_path / "compiled" / "checkpoint.pt")
    assert class_names == list(TINY.classes)


def test_cpu_training_does_not_pin_memory(tiny_data, tmp_path, monkeypatch):
    pinned = []
    make_dataloader = train.data_setup.make_dataloader

    class BothLoadersBuilt(Exception):
        pass

    def recording_make_dataloader(*args, **kwargs):
        pinned.append(make_dataloader(*args, **kwargs).pin_memory)
        if len(pinned) == 2:
            raise BothLoadersBuilt  # no need to train

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # even where a GPU is available
    monkeypatch.setattr(train.data_setup, "make_dataloader", recording_make_dataloader)
    with pytest.raises(BothLoadersBuilt):
        train.main(["--data", str(tiny_data), "--output-dir", str(tmp_path), "--device", "cpu", *FAST_FLAGS])
    assert pinned == [False, False]  # train and test loaders


def test_resume_with_other_flags_is_refused(tiny_data, trained):
    with pytest.raises(ValueError, match="cannot resume from .*checkpoint.pt"):
        train.main(["--data", str(tiny_data), "--output-dir", str(trained), "--resume", "--patch-size", "4",
                    "--quiet"])


def test_predict_uses_the_checkpoint(tiny_data, trained, capsys):
    images = sorted((tiny_data / "test" / "circle").glob("*.png"))[:2]
    predictions = predict.main(["--checkpoint", str(trained / "checkpoint.pt"), *map(str, images)])
    assert len(predictions) == 2
    assert all(name in TINY.classes and 0.0 < prob <= 1.0 for name, prob in predictions)
    assert f"{images[0]}: " in capsys.readouterr().out


def test_predict_rejects_a_plain_state_dict(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save({"w": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="weights.pth is not a course_utils training checkpoint"):
        predict.load_trained_model(path)


def test_missing_split_is_named(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(FileNotFoundError, match="test is missing"):
        train.main(["--data", str(tmp_path), "--output-dir", str(tmp_path / "out"), "--quiet"])
    assert not (tmp_path / "out").exists()


def test_help_runs_from_another_folder(tmp_path):
    result = subprocess.run([sys.executable, "-m", "course_utils.train", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, check=True)
    for flag in ("--data", "--model", "--img-size", "--patch-size", "--epochs", "--batch-size", "--lr",
                 "--weight-decay", "--warmup-epochs", "--amp", "--seed", "--device", "--num-workers",
                 "--output-dir", "--resume", "--compile"):
        assert flag in result.stdout



def test_a_run_stuck_at_chance_warns_once(tiny_data, tmp_path, monkeypatch):
    # A zero head predicts every class equally (loss ln 3), and at lr 0 the run can never leave it.
    init = ViT.reset_parameters

    def zero_head(self):
        init(self)
        torch.nn.init.zeros_(self.classifier[1].weight)

    monkeypatch.setattr(ViT, "reset_parameters", zero_head)
    with pytest.warns(engine.PlateauWarning, match=r"ln 3 = 1\.0986.*06_training_from_scratch") as record:
        train.main(["--data", str(tiny_data), "--output-dir", str(tmp_path), *FAST_FLAGS, "--lr", "0"])
    assert sum(w.category is engine.PlateauWarning for w in record) == 1


def test_the_position_recipe_flags(tiny_data, tmp_path, monkeypatch):
    built = {}
    make = train.make_optimizer

    def spy(model, *args, **kwargs):
        built["optimizer"] = make(model, *args, **kwargs)
        built["std"] = float(model.position_embedding.detach().std())
        return built["optimizer"]

    monkeypatch.setattr(train, "make_optimizer", spy)
    train.main(["--data", str(tiny_data), "--output-dir", str(tmp_path), *FAST_FLAGS, "--epochs", "1",
                "--position-std", "0.2", "--position-lr-scale", "10", "--lr", "1e-3"])
    groups = built["optimizer"].param_groups
    assert len(groups) == 3 and groups[2]["initial_lr"] == pytest.approx(1e-2) and groups[2]["weight_decay"] == 0
    assert 0.15 < built["std"] < 0.25  # drawn at 0.2 (truncated at two std), not the paper's 0.02
