"""Robustness: the one map from each kind of bad input to a test of it.

Every case of the "Robustness and scale" issue runs here as a small real scenario and must
(a) raise (or, for case 4, warn) with a message that names the culprit: the file, folder, key, size or
    epoch and batch, and
(b) leave nothing behind: the scenario's folder holds exactly what it held before (no output folder,
    no half-written file, no ``*.tmp`` / ``*.part`` file), except where the case says what must remain.

Where a case is also tested in depth elsewhere, ``ELSEWHERE`` names those tests; the scenarios here
re-run the code path quickly (mostly through ``python -m course_utils.train``'s ``main``) and check (a) and (b).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from local_http import LocalServer
from torch import nn

import course_utils
from course_utils import data_setup, engine, predict, shapes, train, utils
from course_utils.helper_functions import download_data
from course_utils.shapes import ShapesSpec
from course_utils.vit import MODEL_CONFIGS, ViT

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ShapesSpec(("circle", "square", "triangle"), train_per_class=4, test_per_class=2, img_size=16, seed=11)
FLAGS = ["--model", "micro", "--img-size", "16", "--patch-size", "8", "--batch-size", "8", "--quiet"]

# Case number -> the tests that cover it in depth in the other test files.
ELSEWHERE = {
    1: ["test_data_setup.py::test_missing_folder_is_named", "test_train_cli.py::test_missing_split_is_named"],
    2: ["test_data_setup.py::test_empty_class_folder_is_named"],
    3: ["test_data_setup.py::test_corrupt_image_names_the_file",
        "test_helper_functions.py::test_pred_and_plot_image_corrupt_file_names_it"],
    4: ["test_data_setup.py::test_non_image_files_are_skipped_with_a_warning"],
    5: ["test_vit.py::test_bad_input_names_the_problem"],
    6: ["test_vit.py::test_bad_input_names_the_problem"],
    7: ["test_vit.py::test_embedding_dim_not_divisible_by_heads"],
    8: ["test_utils.py::test_load_other_architecture_says_what_differs",
        "test_train_cli.py::test_resume_with_other_flags_is_refused",
        "test_train_cli.py::test_predict_rejects_a_plain_state_dict"],
    9: ["test_utils.py::test_load_truncated_checkpoint_names_the_file"],
    10: ["test_utils.py::test_save_model_rejects_bad_suffix",
         "test_utils.py::test_failed_save_keeps_the_old_file_and_leaves_no_temp"],
    11: ["test_helper_functions.py::test_download_data_refuses_zip_slip",
         "test_helper_functions.py::test_download_data_rejects_non_zip",
         "test_helper_functions.py::test_download_data_http_404_leaves_nothing"],
    12: ["test_engine.py::test_nan_loss_stops_with_epoch_and_batch"],
}


# ------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return shapes.generate_shapes(tmp_path_factory.mktemp("data") / "tiny", TINY)


@pytest.fixture(scope="module")
def run(tiny, tmp_path_factory) -> Path:
    """A real 1-epoch training run: its output folder (checkpoint.pt, results.json, loss_curves.png)."""
    out = tmp_path_factory.mktemp("run") / "out"
    train.main(["--data", str(tiny), "--epochs", "1", "--output-dir", str(out), *FLAGS])
    return out


def snapshot(root: Path) -> dict[str, int]:
    """Every file and folder under ``root`` -> its size (-1 for folders)."""
    return {str(p.relative_to(root)): (-1 if p.is_dir() else p.stat().st_size) for p in root.rglob("*")}


def copy_data(tiny: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny, tmp_path / "data"))


def tiny_vit(**overrides) -> ViT:
    return ViT(**{"img_size": 16, "patch_size": 8, "num_classes": 3, **MODEL_CONFIGS["micro"], **overrides})


# ------------------------------------------------------------------------------------------ scenarios
# Each builds its bad input under tmp_path and returns (action, culprit): action() must raise, and the
# message must contain every culprit string.


@dataclass
class Case:
    number: int
    name: str
    build: Callable[[Path, Path, Path], tuple[Callable[[], object], list[str]]]  # (tmp_path, tiny, run)
    error: type[Exception] = ValueError


def missing_data_folder_api(tmp_path, tiny, run):
    nowhere = tmp_path / "nowhere"
    return (lambda: data_setup.create_dataloaders(nowhere / "train", nowhere / "test",
                                                  data_setup.default_transform(16), 4)), [str(nowhere / "train")]


def missing_data_folder_cli(tmp_path, tiny, run):
    nowhere = tmp_path / "nowhere"
    return (lambda: train.main(["--data", str(nowhere), "--output-dir", str(tmp_path / "out"), *FLAGS])), \
        [str(nowhere / "train")]


def empty_class_folder_cli(tmp_path, tiny, run):
    data = copy_data(tiny, tmp_path)
    for image in (data / "test" / "square").iterdir():
        image.unlink()
    return (lambda: train.main(["--data", str(data), "--output-dir", str(tmp_path / "out"), *FLAGS])), \
        [str(data / "test"), ": square"]


def truncated_image(cache: bool):
    def build(tmp_path, tiny, run):
        data = copy_data(tiny, tmp_path)
        victim = data / "train" / "square" / "00002.png"
        victim.write_bytes(victim.read_bytes()[:60])  # a PNG header and half a chunk
        flags = ["--data", str(data), "--output-dir", str(tmp_path / "out"), "--epochs", "1", *FLAGS]
        return (lambda: train.main([*flags, "--cache" if cache else "--no-cache"])), [str(victim), "corrupt"]
    return build


def corrupt_image_predict(tmp_path, tiny, run):
    victim = tmp_path / "photo.jpg"
    victim.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg after all")
    checkpoint = str(run / "checkpoint.pt")
    return (lambda: predict.main(["--checkpoint", checkpoint, str(victim)])), [str(victim)]


def wrong_image_size(tmp_path, tiny, run):
    model = tiny_vit()
    return (lambda: model(torch.rand(1, 3, 32, 32))), ["built for 16x16 images but got 32x32"]


def wrong_channels(tmp_path, tiny, run):
    model = tiny_vit()
    return (lambda: model(torch.rand(1, 1, 16, 16))), ["expects 3 channels, got 1", "(1, 1, 16, 16)"]


def heads_do_not_divide(tmp_path, tiny, run):
    return (lambda: tiny_vit(embedding_dim=100, num_heads=12)), ["embedding_dim=100", "num_heads=12"]


def other_architecture_load_model(tmp_path, tiny, run):
    path = utils.save_model(tiny_vit(patch_size=4), tmp_path, "patch4.pth")
    return (lambda: utils.load_model(tiny_vit(), path)), \
        [str(path), "patch_embedding.patcher.weight: checkpoint (192, 3, 4, 4) vs model (192, 3, 8, 8)",
         "position_embedding: checkpoint (1, 17, 192) vs model (1, 5, 192)"]


def other_architecture_init_from(tmp_path, tiny, run):
    path = utils.save_model(tiny_vit(patch_size=4), tmp_path, "patch4.pth")
    argv = ["--data", str(tiny), "--init-from", str(path), "--output-dir", str(tmp_path / "out"), *FLAGS]
    return (lambda: train.main(argv)), [str(path), "patch_embedding.patcher.weight: checkpoint (192, 3, 4, 4)"]


def not_a_vit_init_from(tmp_path, tiny, run):
    path = utils.save_model(nn.Linear(3, 3), tmp_path, "linear.pt")
    argv = ["--data", str(tiny), "--init-from", str(path), "--output-dir", str(tmp_path / "out"), *FLAGS]
    return (lambda: train.main(argv)), [str(path), "missing from the checkpoint", "unexpected key(s)"]


def other_architecture_resume(tmp_path, tiny, run):
    out = Path(shutil.copytree(run, tmp_path / "out"))
    argv = ["--data", str(tiny), "--output-dir", str(out), "--resume", "--epochs", "1", *FLAGS]
    argv[argv.index("--patch-size") + 1] = "4"
    return (lambda: train.main(argv)), [str(out / "checkpoint.pt"), "patch_size=8 (the flags ask for 4)"]


def other_schedule_resume(tmp_path, tiny, run):
    """Same model, but more epochs and a bigger batch: the restored lr schedule would not fit."""
    out = Path(shutil.copytree(run, tmp_path / "out"))
    argv = ["--data", str(tiny), "--output-dir", str(out), "--resume", "--epochs", "3", *FLAGS]
    argv[argv.index("--batch-size") + 1] = "12"
    return (lambda: train.main(argv)), [str(out / "checkpoint.pt"), "epochs=1 (the flags ask for 3)",
                                        "steps_per_epoch=2 (the flags ask for 1)"]


def other_architecture_predict(tmp_path, tiny, run):
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    checkpoint["config"]["num_transformer_layers"] = 4  # the weights hold 6 layers
    path = utils.save_checkpoint(checkpoint, tmp_path / "edited.pt")
    image = str(tiny / "test" / "circle" / "00000.png")
    return (lambda: predict.main(["--checkpoint", str(path), image])), \
        [str(path), "24 unexpected key(s)", "transformer_encoder.4."]


def truncated_checkpoint_resume(tmp_path, tiny, run):
    out = Path(shutil.copytree(run, tmp_path / "out"))
    checkpoint = out / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:4096])
    argv = ["--data", str(tiny), "--output-dir", str(out), "--resume", "--epochs", "2", *FLAGS]
    return (lambda: train.main(argv)), [str(checkpoint), "corrupt, truncated"]


def truncated_checkpoint_init_from(tmp_path, tiny, run):
    path = tmp_path / "half.pt"
    path.write_bytes((run / "checkpoint.pt").read_bytes()[:4096])
    argv = ["--data", str(tiny), "--init-from", str(path), "--output-dir", str(tmp_path / "out"), *FLAGS]
    return (lambda: train.main(argv)), [str(path), "corrupt, truncated"]


def truncated_checkpoint_predict(tmp_path, tiny, run):
    path = tmp_path / "half.pt"
    path.write_bytes((run / "checkpoint.pt").read_bytes()[:4096])
    image = str(tiny / "test" / "circle" / "00000.png")
    return (lambda: predict.main(["--checkpoint", str(path), image])), [str(path), "corrupt, truncated"]


def bad_suffix(tmp_path, tiny, run):
    return (lambda: utils.save_model(nn.Linear(1, 1), tmp_path / "models", "model.pkl")), ["'model.pkl'"]


def failed_save_into_new_folders(tmp_path, tiny, run):
    def unpicklable():
        utils.save_checkpoint({"fn": lambda: None}, tmp_path / "a" / "b" / "m.pt")
    return unpicklable, ["lambda"]


def make_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def zip_slip(tmp_path, tiny, run):
    archive = make_zip(tmp_path / "evil.zip", {"train/ok.txt": "fine", "../evil.txt": "pwned"})
    return (lambda: download_data(str(archive), "images", data_dir=tmp_path / "data")), \
        ["unsafe archive member", "'../evil.txt'"]


def not_a_zip(tmp_path, tiny, run):
    page = tmp_path / "page.zip"
    page.write_text("<html>Please log in</html>")
    return (lambda: download_data(str(page), "images", data_dir=tmp_path / "data")), \
        ["page.zip did not return a zip archive"]


def http_error(tmp_path, tiny, run):
    served = tmp_path / "served"
    served.mkdir()
    server = LocalServer(served)
    url = f"{server.url}/missing.zip"

    def action():
        with server:
            download_data(url, "images", data_dir=tmp_path / "data")
    return action, [url, "HTTP 404"]


def diverging_lr_cli(tmp_path, tiny, run):
    argv = ["--data", str(tiny), "--lr", "1e30", "--output-dir", str(tmp_path / "out"), "--epochs", "2", *FLAGS]
    return (lambda: train.main(argv)), ["loss is nan at epoch 0, batch 1"]  # the 1st step wrecks the weights


CASES = [
    Case(1, "missing_data_folder-api", missing_data_folder_api, FileNotFoundError),
    Case(1, "missing_data_folder-cli", missing_data_folder_cli, FileNotFoundError),
    Case(2, "empty_class_folder-cli", empty_class_folder_cli, FileNotFoundError),
    Case(3, "truncated_image-cli-cache", truncated_image(cache=True)),
    Case(3, "truncated_image-cli-no_cache", truncated_image(cache=False)),
    Case(3, "corrupt_image-predict", corrupt_image_predict),
    Case(5, "wrong_image_size", wrong_image_size),
    Case(6, "wrong_channel_count", wrong_channels),
    Case(7, "embedding_dim_not_divisible_by_heads", heads_do_not_divide),
    Case(8, "other_architecture-load_model", other_architecture_load_model),
    Case(8, "other_architecture-cli_init_from", other_architecture_init_from),
    Case(8, "not_a_vit-cli_init_from", not_a_vit_init_from),
    Case(8, "other_architecture-cli_resume", other_architecture_resume),
    Case(8, "other_schedule-cli_resume", other_schedule_resume),
    Case(8, "other_architecture-predict", other_architecture_predict),
    Case(9, "truncated_checkpoint-cli_resume", truncated_checkpoint_resume, RuntimeError),
    Case(9, "truncated_checkpoint-cli_init_from", truncated_checkpoint_init_from, RuntimeError),
    Case(9, "truncated_checkpoint-predict", truncated_checkpoint_predict, RuntimeError),
    Case(10, "save_model_bad_suffix", bad_suffix),
    Case(10, "failed_save_removes_new_folders", failed_save_into_new_folders, Exception),
    Case(11, "download_zip_slip", zip_slip),
    Case(11, "download_not_a_zip", not_a_zip),
    Case(11, "download_http_error", http_error, RuntimeError),
    Case(12, "diverging_lr-cli", diverging_lr_cli, FloatingPointError),  # see also the test after this one
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.number:02d}-{c.name}" for c in CASES])
def test_bad_input_names_the_culprit_and_leaves_nothing(case, tmp_path, tiny, run):
    action, culprits = case.build(tmp_path, tiny, run)
    before = snapshot(tmp_path)
    with pytest.raises(case.error) as error:
        action()
    message = str(error.value)
    for culprit in culprits:
        assert culprit in message, f"{culprit!r} not in the message:\n{message}"
    assert snapshot(tmp_path) == before  # no output folder, no partial or temp file, inputs untouched


def test_04_non_image_files_are_skipped_with_a_warning(tmp_path, tiny):
    data = copy_data(tiny, tmp_path)
    notes = data / "train" / "circle" / "notes.txt"
    notes.write_text("where these came from")
    (data / "test" / "square" / "Thumbs.db").write_bytes(b"\0" * 10)
    before = snapshot(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_data, test_data, _ = data_setup.create_datasets(
            data / "train", data / "test", data_setup.default_transform(16), cache=True)
    assert (len(train_data), len(test_data)) == (12, 6)  # only the images
    messages = [str(w.message) for w in caught]
    assert f"skipping non-image file {notes}" in messages
    assert any("Thumbs.db" in m for m in messages)
    assert snapshot(tmp_path) == before


def test_12_nan_loss_through_the_cli_keeps_the_last_good_checkpoint(tmp_path, tiny, monkeypatch):
    """Epoch 0 trains and saves; in epoch 1 the weights turn NaN: the error names epoch 1, batch 0, and
    the epoch-0 checkpoint and results stay intact and loadable, with no temp file and no curves."""
    real_train_step = engine.train_step

    def poisoned_train_step(model, *args, **kwargs):  # engine.train passes the epoch last, then the bar by name
        if args[-1] == 1:
            with torch.no_grad():
                next(model.parameters()).fill_(float("nan"))
        return real_train_step(model, *args, **kwargs)

    monkeypatch.setattr(engine, "train_step", poisoned_train_step)
    out = tmp_path / "out"
    with pytest.raises(FloatingPointError, match="loss is nan at epoch 1, batch 0"):
        train.main(["--data", str(tiny), "--epochs", "3", "--output-dir", str(out), *FLAGS])
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "results.json"]  # no .tmp, no png
    checkpoint = utils.load_checkpoint(out / "checkpoint.pt")
    assert checkpoint["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in checkpoint["model"].values())
    results = json.loads((out / "results.json").read_text())
    assert results["epochs_done"] == 1 and results["test_acc"] == checkpoint["results"]["test_acc"]


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_saved_files_get_the_usual_permissions(tmp_path):
    """atomic_write's temp file is renamed into place, so its mode is the file's: the umask's, not 0600."""
    path = utils.save_model(nn.Linear(1, 1), tmp_path, "m.pt")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_every_case_is_mapped():
    tested = {case.number for case in CASES} | {4}  # 4 (a warning, not an error) has its own test
    assert tested == set(range(1, 13)) == set(ELSEWHERE)


def test_every_torch_load_uses_weights_only():
    """Security: torch.load without weights_only=True can run arbitrary code from a downloaded file."""
    package = Path(course_utils.__file__).parent
    offenders = []
    for source in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "load" and ast.unparse(node.func.value) in ("torch", "th")):
                continue
            safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                       for k in node.keywords)
            if not safe:
                offenders.append(f"{source.relative_to(package.parent)}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, "torch.load without weights_only=True:\n" + "\n".join(offenders)
    assert (package / "utils.py").read_text().count("weights_only=True") >= 1  # the scan sees the real call
