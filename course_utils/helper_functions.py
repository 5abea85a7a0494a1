"""The course's everyday helpers, API compatible with Zero to Mastery's ``helper_functions.py``.

- ``walk_through_dir``     how many folders and images a dataset folder holds
- ``accuracy_fn``          classification accuracy in percent
- ``print_train_time``     how long training took
- ``plot_loss_curves``     loss and accuracy per epoch, from the results dict ``train()`` returns
- ``pred_and_plot_image``  predict one image file with a model and show it with the prediction
- ``set_seeds``            seed everything (re-exported from ``course_utils.utils``)
- ``download_data``        download a zip and unpack it safely into ``data/``
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from http import HTTPStatus
from pathlib import Path, PurePosixPath, PureWindowsPath

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

from course_utils.data_setup import default_transform, load_rgb_image
from course_utils.utils import new_folders, set_seeds

__all__ = [
    "accuracy_fn",
    "download_data",
    "plot_loss_curves",
    "pred_and_plot_image",
    "print_train_time",
    "set_seeds",
    "walk_through_dir",
]

DOWNLOAD_TIMEOUT_S = 60  # seconds without a byte before a download gives up


def walk_through_dir(dir_path: str | Path) -> None:
    """Print how many sub-folders and files (images) each folder under ``dir_path`` holds."""
    for dirpath, dirnames, filenames in os.walk(dir_path):
        dirnames.sort()  # sorting in place makes os.walk visit folders in a repeatable order
        print(f"There are {len(dirnames)} directories and {len(filenames)} images in '{dirpath}'.")


def accuracy_fn(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """Percentage (0-100) of ``y_pred`` labels equal to ``y_true``. Both: shape ``(N,)`` class indices."""
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {tuple(y_true.shape)} "
                         f"and {tuple(y_pred.shape)} (pass labels, e.g. logits.argmax(dim=1), not logits)")
    if y_true.numel() == 0:
        raise ValueError("accuracy of an empty batch is undefined")
    correct = torch.eq(y_true, y_pred).sum().item()
    return correct / y_true.numel() * 100


def print_train_time(start: float, end: float, device: str | torch.device | None = None) -> float:
    """Print and return ``end - start`` in seconds (take both from ``timeit.default_timer()``)."""
    total_time = end - start
    print(f"\nTrain time on {device}: {total_time:.3f} seconds")
    return total_time


def plot_loss_curves(results: dict[str, Sequence[float]], num_classes: int | None = None) -> Figure:
    """Plot loss and accuracy per epoch, train against test, side by side, and return the Figure.

    ``results`` holds one value per epoch under "train_loss", "train_acc", "test_loss" and "test_acc"
    (accuracies as fractions 0-1), like the dict ``train()`` returns. With ``num_classes`` C, the loss panel
    also draws ln C, the loss of a uniform guess, and the accuracy panel chance, 1/C: a run whose training
    loss sits on that line has not started learning (lesson 06, "Is my ViT learning?").
    """
    missing = [key for key in ("train_loss", "train_acc", "test_loss", "test_acc") if key not in results]
    if missing:
        raise KeyError(f"results is missing {missing}; it has {sorted(results)}")

    # float() turns 0-dim tensors (even on the GPU) into plain numbers matplotlib can draw
    def values(key: str) -> list[float]:
        return [float(v) for v in results[key]]

    epochs = range(1, len(results["train_loss"]) + 1)
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(15, 7))

    loss_ax.plot(epochs, values("train_loss"), label="train_loss")
    loss_ax.plot(epochs, values("test_loss"), label="test_loss")
    if num_classes is not None:
        loss_ax.axhline(math.log(num_classes), color="grey", linestyle="--",
                        label=f"ln {num_classes}: uniform guess")
    loss_ax.set(title="Loss", xlabel="Epochs")
    loss_ax.legend()

    acc_ax.plot(epochs, values("train_acc"), label="train_accuracy")
    acc_ax.plot(epochs, values("test_acc"), label="test_accuracy")
    if num_classes is not None:
        acc_ax.axhline(1 / num_classes, color="grey", linestyle="--", label=f"chance: 1/{num_classes}")
    acc_ax.set(title="Accuracy", xlabel="Epochs")
    acc_ax.legend()
    return fig  # notebooks draw it on their own; in a script call plt.show()


def pred_and_plot_image(
    model: nn.Module,
    image_path: str | Path,
    class_names: Sequence[str],
    image_size: tuple[int, int] = (224, 224),
    transform: Callable[[Image.Image], torch.Tensor] | None = None,
    device: str | torch.device | None = None,
) -> tuple[str, float]:
    """Predict the class of one image file, plot the image titled with the prediction, return both.

    The image is turned into a ``(3, H, W)`` float tensor by ``transform`` (default: resize to
    ``image_size``, scale to 0-1), batched to ``(1, 3, H, W)``; the model must return logits of
    shape ``(1, len(class_names))``. ``device`` defaults to the model's; if given, the model moves there.
    Returns ``(predicted class name, its softmax probability)``.
    """
    image_path = Path(image_path)
    image = load_rgb_image(image_path)

    if transform is None:
        transform = default_transform(image_size)  # resize, then a float tensor (3, H, W) in [0, 1]
    if device is None:
        device = next(model.parameters(), torch.empty(0)).device
    model.to(device)

    model.eval()  # dropout off, batch norm uses its running stats
    with torch.inference_mode():  # no autograd bookkeeping: faster, less memory
        batch = transform(image).unsqueeze(0).to(device)  # (3, H, W) -> (1, 3, H, W)
        logits = model(batch)
    if logits.shape != (1, len(class_names)):
        raise ValueError(f"the model returned logits of shape {tuple(logits.shape)}, "
                         f"expected (1, {len(class_names)}) for {len(class_names)} class names")
    probs = torch.softmax(logits, dim=1)
    label = int(probs.argmax(dim=1).item())
    pred_class, prob = class_names[label], float(probs[0, label].item())

    plt.figure()
    plt.imshow(image)  # the original image, not the resized tensor the model saw
    plt.title(f"Pred: {pred_class} | Prob: {prob:.3f}")
    plt.axis(False)
    return pred_class, prob


def _zip_slip_check(archive: zipfile.ZipFile, into: Path) -> None:
    """Raise ValueError if any member would be written outside ``into`` ("zip slip")."""
    root = into.resolve()
    for name in archive.namelist():
        # Check both path flavours: a zip made on Windows may use "\" and drive letters
        posix, windows = PurePosixPath(name), PureWindowsPath(name)
        unsafe = (posix.is_absolute() or windows.is_absolute() or windows.drive or windows.root
                  or ".." in posix.parts or ".." in windows.parts
                  or not (root / name).resolve().is_relative_to(root))
        if unsafe:
            raise ValueError(f"refusing to extract unsafe archive member {name!r}: "
                             f"it would be written outside {into}")


def fetch_url(url: str, to_file: Path) -> str:
    """Stream ``url`` into ``to_file``; return the response's Content-Type. Errors name the URL."""
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(to_file, "wb") as f:
            shutil.copyfileobj(response, f)  # in chunks: the whole zip never sits in memory
            return response.headers.get("Content-Type", "unknown")
    except urllib.error.HTTPError as error:  # the server answered, but with an error status
        try:
            reason = HTTPStatus(error.code).phrase
        except ValueError:  # a non-standard status code
            reason = error.reason
        raise RuntimeError(f"download of {url} failed: HTTP {error.code} {reason}") from error
    except urllib.error.URLError as error:  # no answer at all: DNS, refused connection, missing file://
        raise RuntimeError(f"download of {url} failed: {error.reason}") from error
    except TimeoutError as error:
        raise RuntimeError(f"download of {url} failed: no data for {DOWNLOAD_TIMEOUT_S} s") from error


def download_data(source: str, destination: str, remove_source: bool = True,
                  data_dir: str | Path = "data") -> Path:
    """Download the zip at ``source`` and extract it into ``data_dir/destination``; return that Path.

    ``source`` is an http(s):// or file:// URL or a local path. Skips the download if the folder
    already holds files. Safe: members that would land outside the folder are refused, and nothing
    is left behind on failure, because the zip and the extraction go to temp names beside the target
    and only a complete extraction is renamed into place. ``remove_source=False`` keeps the zip as
    ``data_dir/<name of the zip>``.
    """
    data_dir = Path(data_dir)
    target = data_dir / destination
    if target.is_dir() and any(target.iterdir()):
        print(f"[INFO] {target} already exists and is not empty, skipping download.")
        return target

    url = source if "://" in source else Path(source).resolve().as_uri()  # local path -> file:// URL
    zip_name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name or f"{target.name}.zip"

    with new_folders(target.parent):  # a failure removes the folders this call created
        fd, zip_tmp = tempfile.mkstemp(prefix=f".{zip_name}.", suffix=".part", dir=target.parent)
        os.close(fd)
        zip_path = Path(zip_tmp)
        extract_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
        try:
            print(f"[INFO] Downloading {url} ...")
            content_type = fetch_url(url, zip_path)
            try:
                with zipfile.ZipFile(zip_path) as archive:
                    _zip_slip_check(archive, extract_dir)  # check every member before writing any
                    print(f"[INFO] Extracting {zip_name} to {target} ...")
                    archive.extractall(extract_dir)
            except zipfile.BadZipFile as error:  # not a zip at all (an HTML error page?) or a damaged one
                raise ValueError(f"{url} did not return a zip archive (Content-Type: {content_type}, "
                                 f"{zip_path.stat().st_size} bytes): {error}") from error
            if target.is_dir():
                target.rmdir()  # an empty folder from an earlier run; rename cannot replace it everywhere
            os.replace(extract_dir, target)  # atomic: the target appears complete or not at all
        except BaseException:  # also Ctrl-C: clean up, then re-raise
            zip_path.unlink(missing_ok=True)
            shutil.rmtree(extract_dir, ignore_errors=True)
            raise

    if remove_source:
        zip_path.unlink()
    else:
        kept = data_dir / zip_name
        os.replace(zip_path, kept)
        print(f"[INFO] Kept the archive as {kept}")
    return target
