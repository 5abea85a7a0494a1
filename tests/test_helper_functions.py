"""Tests for course_utils.helper_functions. download_data runs against a local HTTP server (no internet)."""

import math
import socket
import zipfile
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

from course_utils import helper_functions as hf
from course_utils.helper_functions import (
    accuracy_fn,
    download_data,
    plot_loss_curves,
    pred_and_plot_image,
    print_train_time,
    walk_through_dir,
)


def all_files(folder: Path) -> list[str]:
    """Every path under ``folder`` (relative, sorted); [] if it does not exist."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# --------------------------------------------------------------------------------------- download_data


def make_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)  # writestr stores the name as given, even "../x" or "/x"
    return path


GOOD_MEMBERS = {
    "train/pizza/1.jpg": "pizza one",
    "train/sushi/2.jpg": "sushi two",
    "test/pizza/3.jpg": "pizza three",
}


def test_download_data_extracts_archive(server, tmp_path, capsys):
    served, base = server
    make_zip(served / "pizza_steak_sushi.zip", GOOD_MEMBERS)
    data_dir = tmp_path / "data"  # does not exist yet: download_data creates it

    result = download_data(f"{base}/pizza_steak_sushi.zip", "pizza_steak_sushi", data_dir=data_dir)

    assert result == data_dir / "pizza_steak_sushi"
    for name, text in GOOD_MEMBERS.items():
        assert (result / name).read_text() == text
    # no temp folder, no .part file, no zip (remove_source=True): only the extracted folder
    assert sorted(p.name for p in data_dir.iterdir()) == ["pizza_steak_sushi"]
    assert all_files(result) == sorted(["test", "test/pizza", "test/pizza/3.jpg", "train", "train/pizza",
                                        "train/pizza/1.jpg", "train/sushi", "train/sushi/2.jpg"])

    # A second call finds the folder filled and skips the download (even if the URL is gone now)
    (served / "pizza_steak_sushi.zip").unlink()
    capsys.readouterr()
    assert download_data(f"{base}/pizza_steak_sushi.zip", "pizza_steak_sushi", data_dir=data_dir) == result
    assert "skipping download" in capsys.readouterr().out


def test_download_data_keeps_zip_when_asked(server, tmp_path):
    served, base = server
    make_zip(served / "archive.zip", GOOD_MEMBERS)
    data_dir = tmp_path / "data"

    result = download_data(f"{base}/archive.zip", "images", remove_source=False, data_dir=data_dir)

    assert sorted(p.name for p in data_dir.iterdir()) == ["archive.zip", "images"]
    assert zipfile.ZipFile(data_dir / "archive.zip").namelist() == list(GOOD_MEMBERS)
    assert (result / "train/pizza/1.jpg").read_text() == "pizza one"


def test_download_data_fills_existing_empty_folder(server, tmp_path):
    served, base = server
    make_zip(served / "archive.zip", GOOD_MEMBERS)
    (tmp_path / "data" / "images").mkdir(parents=True)  # empty: not a reason to skip

    result = download_data(f"{base}/archive.zip", "images", data_dir=tmp_path / "data")

    assert (result / "test/pizza/3.jpg").read_text() == "pizza three"


@pytest.mark.parametrize("as_url", [False, True], ids=["local-path", "file-url"])
def test_download_data_accepts_local_sources(tmp_path, as_url):
    archive = make_zip(tmp_path / "local.zip", GOOD_MEMBERS)
    source = archive.as_uri() if as_url else str(archive)

    result = download_data(source, "images", data_dir=tmp_path / "data")

    assert (result / "train/sushi/2.jpg").read_text() == "sushi two"
    assert archive.exists()  # the user's own file is never removed
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["images"]


@pytest.mark.parametrize("evil_name", ["../evil.txt", "ABSOLUTE", "train/../../evil.txt", "C:/evil.txt"])
def test_download_data_refuses_zip_slip(server, tmp_path, evil_name):
    served, base = server
    if evil_name == "ABSOLUTE":
        evil_name = str(tmp_path / "absolute_evil.txt")
    # a harmless member first: it must not be left behind either
    make_zip(served / "evil.zip", {"train/ok.txt": "fine", evil_name: "pwned"})
    assert evil_name in zipfile.ZipFile(served / "evil.zip").namelist()  # stored unsanitised
    data_dir = tmp_path / "data"
    data_dir.mkdir()

    with pytest.raises(ValueError, match="unsafe archive member") as excinfo:
        download_data(f"{base}/evil.zip", "images", data_dir=data_dir)

    assert repr(evil_name) in str(excinfo.value)
    assert all_files(data_dir) == []
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "absolute_evil.txt").exists()
    assert not list(tmp_path.rglob("*evil.txt"))


def test_download_data_rejects_non_zip(server, tmp_path):
    served, base = server
    (served / "page.zip").write_text("<html><body>Please log in</body></html>")
    data_dir = tmp_path / "data"
    data_dir.mkdir()

    with pytest.raises(ValueError, match=r"page\.zip did not return a zip archive"):
        download_data(f"{base}/page.zip", "images", data_dir=data_dir)

    assert all_files(data_dir) == []


def test_download_data_http_404_leaves_nothing(server, tmp_path):
    _, base = server
    data_dir = tmp_path / "data"  # does not exist: it must not be created on failure either

    with pytest.raises(RuntimeError, match=r"download of .*missing\.zip failed: HTTP 404 Not Found"):
        download_data(f"{base}/missing.zip", "images", data_dir=data_dir)

    assert not data_dir.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served"]


def test_download_data_network_error(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with socket.socket() as sock:  # find a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data_dir = tmp_path / "data"
    data_dir.mkdir()

    with pytest.raises(RuntimeError, match=rf"download of http://127\.0\.0\.1:{port}/x\.zip failed"):
        download_data(f"http://127.0.0.1:{port}/x.zip", "images", data_dir=data_dir)

    assert all_files(data_dir) == []


# ---------------------------------------------------------------------------------------- small helpers


def test_set_seeds_is_reexported():
    from course_utils.utils import set_seeds

    assert hf.set_seeds is set_seeds
    hf.set_seeds(7)
    first = torch.rand(3)
    hf.set_seeds(7)
    assert torch.equal(first, torch.rand(3))


def test_accuracy_fn():
    assert accuracy_fn(torch.tensor([0, 1, 1, 0]), torch.tensor([0, 1, 0, 0])) == pytest.approx(75.0)
    assert accuracy_fn(torch.tensor([2, 2]), torch.tensor([2, 2])) == pytest.approx(100.0)
    assert accuracy_fn(torch.tensor([1]), torch.tensor([0])) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        accuracy_fn(torch.tensor([0, 1]), torch.zeros(2, 3))  # logits instead of labels


def test_print_train_time(capsys):
    assert print_train_time(1.0, 3.5, device="cpu") == pytest.approx(2.5)
    assert "Train time on cpu: 2.500 seconds" in capsys.readouterr().out


def test_plot_loss_curves():
    results = {"train_loss": [1.0, 0.6, 0.4], "train_acc": [0.3, 0.6, 0.8],
               "test_loss": [1.1, 0.8, 0.7], "test_acc": [0.25, 0.5, 0.7]}

    fig = plot_loss_curves(results)

    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    loss_ax, acc_ax = fig.axes
    assert (loss_ax.get_title(), acc_ax.get_title()) == ("Loss", "Accuracy")
    assert [list(line.get_ydata()) for line in loss_ax.get_lines()] == [results["train_loss"],
                                                                        results["test_loss"]]
    assert [list(line.get_ydata()) for line in acc_ax.get_lines()] == [results["train_acc"],
                                                                       results["test_acc"]]
    assert list(loss_ax.get_lines()[0].get_xdata()) == [1, 2, 3]  # epochs count from 1

    with pytest.raises(KeyError, match="test_acc"):
        plot_loss_curves({k: v for k, v in results.items() if k != "test_acc"})


def test_plot_loss_curves_draws_the_uniform_guess():
    results = {"train_loss": [1.1, 1.1], "train_acc": [0.3, 0.3], "test_loss": [1.1, 1.1], "test_acc": [0.3, 0.3]}
    loss_ax, acc_ax = plot_loss_curves(results, num_classes=3).axes
    uniform, chance = loss_ax.get_lines()[-1], acc_ax.get_lines()[-1]
    assert list(uniform.get_ydata()) == pytest.approx([math.log(3)] * 2)
    assert "uniform guess" in uniform.get_label()
    assert list(chance.get_ydata()) == pytest.approx([1 / 3] * 2)


def test_walk_through_dir(tmp_path, capsys):
    for name in ["train/pizza/a.png", "train/pizza/b.png", "train/sushi/c.png", "test/pizza/d.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()

    walk_through_dir(tmp_path)

    lines = capsys.readouterr().out.splitlines()
    assert f"There are 2 directories and 0 images in '{tmp_path}'." in lines
    assert f"There are 2 directories and 0 images in '{tmp_path / 'train'}'." in lines
    assert f"There are 0 directories and 2 images in '{tmp_path / 'train' / 'pizza'}'." in lines
    assert f"There are 0 directories and 1 images in '{tmp_path / 'test' / 'pizza'}'." in lines
    assert len(lines) == 6  # root, train, train/pizza, train/sushi, test, test/pizza


# -------------------------------------------------------------------------------- pred_and_plot_image


def brightness_model() -> nn.Module:
    """Logits (mean pixel, -mean pixel) over 3x8x8 inputs: a white image is class 0 with p = sigmoid(2)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.stack([torch.full((192,), 1 / 192), torch.full((192,), -1 / 192)]))
        model[1].bias.zero_()
    return model


def test_pred_and_plot_image(tmp_path):
    image_path = tmp_path / "white.png"
    Image.new("L", (20, 12), color=255).save(image_path)  # greyscale and not 8x8: converted and resized
    model = brightness_model().train()

    pred_class, prob = pred_and_plot_image(model, image_path, ["bright", "dark"], image_size=(8, 8))

    assert pred_class == "bright"
    assert prob == pytest.approx(torch.sigmoid(torch.tensor(2.0)).item(), abs=1e-5)  # softmax([1, -1])[0]
    assert not model.training  # predictions run in eval mode
    assert plt.gca().get_title() == f"Pred: bright | Prob: {prob:.3f}"
    assert plt.gca().get_images()[0].get_array().shape[:2] == (12, 20)  # the original image is shown


def test_pred_and_plot_image_custom_transform(tmp_path):
    image_path = tmp_path / "any.png"
    Image.new("RGB", (8, 8), color=(255, 255, 255)).save(image_path)

    def black(image):  # ignores the image: the model sees zeros -> logits (0, 0) -> p = 0.5
        return torch.zeros(3, 8, 8)

    pred_class, prob = pred_and_plot_image(brightness_model(), image_path, ["bright", "dark"],
                                           transform=black, device="cpu")

    assert pred_class == "bright"  # argmax of a tie is the first class
    assert prob == pytest.approx(0.5)


def test_pred_and_plot_image_checks_class_names(tmp_path):
    image_path = tmp_path / "white.png"
    Image.new("RGB", (8, 8), color=(255, 255, 255)).save(image_path)
    with pytest.raises(ValueError, match="3 class names"):
        pred_and_plot_image(brightness_model(), image_path, ["a", "b", "c"], image_size=(8, 8))


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_pred_and_plot_image_corrupt_file_names_it(tmp_path, kind):
    image_path = tmp_path / f"broken_{kind}.png"
    if kind == "garbage":
        image_path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"this is not image data" * 10)
    else:
        Image.effect_noise((64, 64), 50).save(image_path)  # noise compresses badly: a long IDAT chunk
        image_path.write_bytes(image_path.read_bytes()[:-200])

    with pytest.raises(ValueError, match=f"could not read image .*broken_{kind}.png"):
        pred_and_plot_image(brightness_model(), image_path, ["bright", "dark"], image_size=(8, 8))


def test_pred_and_plot_image_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        pred_and_plot_image(brightness_model(), tmp_path / "nope.png", ["bright", "dark"], image_size=(8, 8))
