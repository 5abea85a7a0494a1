"""Turn image folders into PyTorch DataLoaders (the course's ``data_setup.create_dataloaders``)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset, TensorDataset
from torchvision import datasets
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.transforms import v2

from course_utils.processes import cpu_count, fork_context


def default_transform(img_size: int | tuple[int, int]) -> v2.Compose:
    """Resize to ``img_size`` (a side, or (H, W)) and turn a PIL image into a float tensor (3, H, W) in [0, 1]."""
    size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    return v2.Compose([
        v2.Resize(size, antialias=True),
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
    ])


def load_rgb_image(path: str | Path) -> Image.Image:
    """Open an image file as RGB, with an error that names the file if it is missing, corrupt or truncated."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        # PIL reads lazily: a truncated file only fails in convert(), so keep both inside the try.
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"could not read image {path}: it is corrupt or not an image "
                         f"({type(error).__name__}: {error})") from error


def _is_image(path: str) -> bool:
    if path.lower().endswith(IMG_EXTENSIONS):
        return True
    warnings.warn(f"skipping non-image file {path}", stacklevel=2)
    return False


def image_folder(root: str | Path, transform: Callable | None = None) -> datasets.ImageFolder:
    """``torchvision.datasets.ImageFolder`` with errors that name the culprit.

    Raises FileNotFoundError for a missing folder or a class folder with no images; skips non-image
    files with a warning; a corrupt image raises a ValueError naming the file when it is read.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise FileNotFoundError(f"{root} has no class folders; expected {root}/<class_name>/<image files>")
    dataset = datasets.ImageFolder(root, transform=transform, loader=load_rgb_image, is_valid_file=_is_image,
                                   allow_empty=True)
    counts = torch.bincount(torch.tensor(dataset.targets, dtype=torch.long), minlength=len(dataset.classes))
    empty = [name for name, count in zip(dataset.classes, counts.tolist(), strict=True) if count == 0]
    if empty:
        raise FileNotFoundError(f"class folder(s) with no images in {root}: {', '.join(empty)}")
    return dataset


CACHE_PARALLEL_FROM = 2000  # items: a smaller dataset is decoded in this process
CACHE_BATCH = 250  # items a worker decodes per task


def cache_in_memory(dataset: Dataset, workers: int | None = None) -> TensorDataset:
    """Decode and transform every item once and keep the tensors: (N, C, H, W) images, (N,) labels.

    Decoding thousands of PNGs every epoch costs more than the training step on a laptop CPU; with a
    deterministic transform, doing it once gives the same batches for a fraction of the time. ``workers``
    processes of a ``DataLoader`` share the decoding, in order: by default, on Linux, one per CPU from
    ``CACHE_PARALLEL_FROM`` items on (see ``course_utils.processes``), 1.4 to 1.7 times as fast on 2 cores as
    this process alone (``benchmarks/data_preparation.py``); 0 or 1 decodes in this process. The tensors are
    the same either way.
    """
    context = fork_context()
    if workers is None:
        big = len(dataset) >= CACHE_PARALLEL_FROM and context is not None
        workers = min(cpu_count(), len(dataset) // CACHE_BATCH) if big else 0
    if workers < 2:
        images, labels = zip(*(dataset[i] for i in range(len(dataset))), strict=True)
        return TensorDataset(torch.stack(images), torch.tensor(labels))
    # A generator of its own: a DataLoader draws its workers' seed from the one it is given, else from torch's
    # global one, and a seeded run would then initialise its model differently with workers than without.
    loader = DataLoader(dataset, batch_size=CACHE_BATCH, num_workers=workers, multiprocessing_context=context,
                        generator=torch.Generator())
    images, labels = zip(*loader, strict=True)
    return TensorDataset(torch.cat(images), torch.cat(labels))


def create_datasets(train_dir: str | Path, test_dir: str | Path, transform: Callable,
                    test_transform: Callable | None = None,
                    cache: bool = False) -> tuple[Dataset, Dataset, list[str]]:
    """The train and test datasets of two ImageFolder-style directories, and the class names.

    With ``cache`` every image is decoded and transformed once (see ``cache_in_memory``).
    """
    train_data = image_folder(train_dir, transform=transform)
    test_data = image_folder(test_dir, transform=test_transform or transform)
    if train_data.classes != test_data.classes:
        raise ValueError(f"train classes {train_data.classes} differ from test classes {test_data.classes}")
    if cache:
        return cache_in_memory(train_data), cache_in_memory(test_data), train_data.classes
    return train_data, test_data, train_data.classes


def make_dataloader(dataset: Dataset, batch_size: int, shuffle: bool, num_workers: int = 0,
                    sampler: torch.utils.data.Sampler | Iterable[int] | None = None,
                    device: str | torch.device | None = None) -> DataLoader:
    """A DataLoader with sensible settings: pinned memory only for CUDA, workers kept alive between epochs.

    ``sampler`` (a Sampler, or any sized iterable of indices such as a ``range``) replaces ``shuffle``.
    ``device`` is where the batches go: page-locked (pinned) batches only speed up copies to a CUDA GPU.
    Without it, memory is pinned whenever CUDA is available.
    """
    pin_memory = torch.cuda.is_available() if device is None else torch.device(device).type == "cuda"
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      num_workers=num_workers, pin_memory=pin_memory, persistent_workers=num_workers > 0)


def create_dataloaders(
    train_dir: str | Path,
    test_dir: str | Path,
    transform: Callable,
    batch_size: int,
    num_workers: int = 0,
    test_transform: Callable | None = None,
    cache: bool = False,
) -> tuple[DataLoader, DataLoader, list[str]]:
    """Create training and testing DataLoaders from two ImageFolder-style directories.

    Args:
        train_dir: folder with one sub-folder of images per class.
        test_dir: the same layout for the test split.
        transform: applied to training images (and to test images if ``test_transform`` is None).
        batch_size: images per batch.
        num_workers: DataLoader worker processes (0 = load in the main process, the safe default).
        test_transform: applied to test images, if different (e.g. no augmentation).
        cache: decode and transform every image once and keep the tensors (only for transforms
            without randomness).

    Returns:
        (train_dataloader, test_dataloader, class_names); batches are (B, C, H, W) images and (B,) labels.
    """
    train_data, test_data, class_names = create_datasets(train_dir, test_dir, transform, test_transform, cache)
    return (make_dataloader(train_data, batch_size, shuffle=True, num_workers=num_workers),
            make_dataloader(test_data, batch_size, shuffle=False, num_workers=num_workers),
            class_names)
