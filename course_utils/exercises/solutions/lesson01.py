"""Solutions of lesson 01's exercises: the code cells of notebooks/exercises/01_data_solutions.ipynb.

Each `# %%` line starts a cell: the imports, then one cell per exercise. Run top to bottom, this
file does what the solutions notebook does, without its check cells. The prompts and hints are in
text/lesson01.md; `python -m course_utils.exercises` builds the notebooks (see __init__.py).
"""
# The imports cell imports `ex` for the notebook's check cells, which are not in this file:
# ruff: noqa: F401

# %% imports
import os
from pathlib import Path

import torch
from torchvision import datasets
from torchvision.transforms import v2

from course_utils import data_setup, shapes
from course_utils.exercises import lesson01 as ex
from course_utils.helper_functions import walk_through_dir

# %% q1
small_root = shapes.get_dataset("shapes_small")  # 75 train + 25 test images per class, 32 x 32 px
train_dataloader, test_dataloader, class_names = data_setup.create_dataloaders(
    small_root / "train", small_root / "test", transform=data_setup.default_transform(64), batch_size=32)

n_train = 3 * 75  # 225 training images
batch_facts = {
    "num_batches": (n_train + 31) // 32,  # 7 full batches of 32, and one more for the 1 image left over
    "images": (32, 3, 64, 64),  # (B, C, H, W): channels first, resized to 64 px
    "labels": (32,),  # one class index per image
    "last_images": (n_train % 32, 3, 64, 64),  # what is left: the DataLoader keeps it (drop_last=False)
    "patches_p8": (64 // 8) ** 2,  # an 8 x 8 grid of patches
    "patches_p16": (64 // 16) ** 2,  # a 4 x 4 grid
}

images, labels = next(iter(train_dataloader))  # verify
assert (len(train_dataloader), tuple(images.shape), tuple(labels.shape)) == (
    batch_facts["num_batches"], batch_facts["images"], batch_facts["labels"])


# %% q2
def count_per_class(root: str | Path) -> dict[str, int]:
    """{class name: number of images} for an ImageFolder-style folder root/<class>/<images>."""
    dataset = datasets.ImageFolder(root)  # finds the classes (sorted folder names) and the image files
    counts = torch.bincount(torch.tensor(dataset.targets), minlength=len(dataset.classes))
    return dict(zip(dataset.classes, counts.tolist(), strict=True))  # label i is dataset.classes[i]


for split in ("train", "test"):
    print(split, count_per_class(shapes.get_dataset("shapes_small") / split))


# %% q3
def make_transforms(img_size: int) -> tuple[v2.Compose, v2.Compose]:
    """(train_transform, test_transform): both give float (3, img_size, img_size) tensors in [0, 1];
    only the training one augments at random."""
    to_tensor = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]  # PIL -> (C, H, W) floats in [0, 1]
    resize = v2.Resize((img_size, img_size))  # both sides: photos are rarely square
    train_transform = v2.Compose([resize, v2.RandomHorizontalFlip(), v2.RandomRotation(15), *to_tensor])
    test_transform = v2.Compose([resize, *to_tensor])  # no randomness: the same tensor every time
    return train_transform, test_transform


# %% q4
classes = sorted(["circle", "square", "triangle", "hexagon", "Star"])  # ImageFolder sorts the folder names
class_to_idx = {name: label for label, name in enumerate(classes)}  # "Star" first: "S" sorts before "c"
