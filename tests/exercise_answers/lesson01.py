"""Answers to lesson 01's exercises that tests/test_exercises.py feeds to the checkers (see __init__.py)."""
# ruff: noqa: F401, F811

# %% imports
import os
from pathlib import Path

import torch
from torchvision import datasets
from torchvision.transforms import v2

from course_utils import data_setup, shapes
from course_utils.exercises import lesson01 as ex
from course_utils.helper_functions import walk_through_dir

# %% q1 wrong: smaller, last batch
batch_facts = {"num_batches": 225 // 32, "images": (32, 3, 64, 64), "labels": (32,), "last_images": (32, 3, 64, 64),
               "patches_p8": 64, "patches_p16": 16}


# %% q1 wrong: channels first
batch_facts = {"num_batches": 8, "images": (32, 64, 64, 3), "labels": (32,), "last_images": (1, 64, 64, 3),
               "patches_p8": 64, "patches_p16": 16}


# %% q1 wrong: needs a comma
batch_facts = {"num_batches": 8, "images": (32, 3, 64, 64), "labels": (32), "last_images": (1, 3, 64, 64),
               "patches_p8": 64, "patches_p16": 16}


# %% q1 wrong: whole grid
batch_facts = {"num_batches": 8, "images": (32, 3, 64, 64), "labels": (32,), "last_images": (1, 3, 64, 64),
               "patches_p8": 8, "patches_p16": 4}


# %% q2 wrong: not images
def count_per_class(root):
    root = Path(root)
    return {d.name: len(os.listdir(d)) for d in root.iterdir() if d.is_dir()}  # every file, images or not


# %% q2 wrong: aren't PNGs
def count_per_class(root):
    root = Path(root)
    return {d.name: len(list(d.glob("*.png"))) for d in root.iterdir() if d.is_dir()}  # PNGs only


# %% q2 wrong: class names
def count_per_class(root):
    dataset = datasets.ImageFolder(root)
    return {label: dataset.targets.count(label) for label in set(dataset.targets)}  # keys are label indices


# %% q2 wrong: keep only the folders
def count_per_class(root):
    return {name: len(os.listdir(os.path.join(root, name))) for name in os.listdir(root)}  # dataset.json too


# %% q3 wrong: no random augmentation
def make_transforms(img_size):
    plain = v2.Compose([v2.Resize((img_size, img_size)), v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    return plain, plain  # no augmentation at all


# %% q3 wrong: out of the test transform
def make_transforms(img_size):
    augment = v2.Compose([v2.Resize((img_size, img_size)), v2.RandomHorizontalFlip(), v2.RandomRotation(15),
                          v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    return augment, augment  # augmentation for the test images too


# %% q3 wrong: shorter side
def make_transforms(img_size):
    to_tensor = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    train = v2.Compose([v2.Resize(img_size), v2.RandomHorizontalFlip(), *to_tensor])
    return train, v2.Compose([v2.Resize(img_size), *to_tensor])  # one number: the shorter side only


# %% q3 wrong: scale=True
def make_transforms(img_size):
    to_tensor = [v2.ToImage(), v2.ToDtype(torch.float32)]  # no scale=True
    train = v2.Compose([v2.Resize((img_size, img_size)), v2.RandomHorizontalFlip(), *to_tensor])
    return train, v2.Compose([v2.Resize((img_size, img_size)), *to_tensor])


# %% q4 wrong: sorts the folder names
class_to_idx = {"circle": 0, "square": 1, "triangle": 2, "hexagon": 3, "Star": 4}


# %% q4 wrong: upper-case
class_to_idx = {"circle": 0, "hexagon": 1, "square": 2, "Star": 3, "triangle": 4}


# %% q4 wrong: from 0
class_to_idx = {"Star": 1, "circle": 2, "hexagon": 3, "square": 4, "triangle": 5}


# %% q2 wrong: IMG_EXTENSIONS
def count_per_class(root):
    root = Path(root)
    images = (".png", ".jpg", ".jpeg")  # a list of one's own
    return {d.name: sum(f.suffix.lower() in images for f in d.iterdir()) for d in root.iterdir() if d.is_dir()}


# %% q2 wrong: added, moved or deleted files
def count_per_class(root):
    for stray in Path(root).rglob("*.txt"):
        stray.unlink()  # tidy up the notes before counting
    dataset = datasets.ImageFolder(root)
    return {name: dataset.targets.count(label) for label, name in enumerate(dataset.classes)}


# %% q2 right: the extensions of torchvision, checked by hand
def count_per_class(root):
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return {entry.name: sum(1 for f in os.scandir(entry) if f.is_file() and f.name.lower().endswith(IMG_EXTENSIONS))
            for entry in os.scandir(root) if entry.is_dir()}
