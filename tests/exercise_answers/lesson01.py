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


# %% q2 wrong: capital letters included
def count_per_class(root):
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return {d.name.lower(): sum(f.name.lower().endswith(IMG_EXTENSIONS) for f in d.iterdir())  # "cat", not "Cat"
            for d in Path(root).iterdir() if d.is_dir()}


# %% q2 wrong: IMG_EXTENSIONS
def count_per_class(root):
    images = (".png", ".jpg", ".jpeg", ".bmp")  # a longer list of one's own, still not ImageFolder's
    return {d.name: sum(f.suffix.lower() in images for f in d.iterdir()) for d in Path(root).iterdir() if d.is_dir()}


# %% q2 wrong: upper or mixed case
def count_per_class(root):
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return {d.name: sum(f.name.endswith(IMG_EXTENSIONS) for f in d.iterdir())  # ".JPG" is not ".jpg"
            for d in Path(root).iterdir() if d.is_dir()}


# %% q2 wrong: `.gif`
def count_per_class(root):
    images = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}  # gif too
    return {d.name: sum(f.suffix.lower() in images for f in d.iterdir()) for d in Path(root).iterdir() if d.is_dir()}


# %% q2 wrong: changed the working directory
def count_per_class(root):
    from torchvision.datasets.folder import IMG_EXTENSIONS

    os.chdir(root)  # then every path is relative to the dataset
    return {name: sum(f.lower().endswith(IMG_EXTENSIONS) for f in os.listdir(name))
            for name in os.listdir(".") if os.path.isdir(name)}


# %% q2 right: torchvision's find_classes and make_dataset, counted with a Counter
def count_per_class(root):
    from collections import Counter

    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    classes, class_to_idx = find_classes(str(root))
    samples = make_dataset(str(root), class_to_idx, extensions=IMG_EXTENSIONS)
    labels = Counter(label for _, label in samples)
    return {name: labels[class_to_idx[name]] for name in classes}


# %% q2 right: os.walk, suffixes compared in lower case
def count_per_class(root):
    counts = {}
    top, folders, _ = next(os.walk(root))
    for name in folders:
        files = os.listdir(os.path.join(top, name))
        counts[name] = len([f for f in files if os.path.splitext(f)[1].lower() in
                            {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"}])
    return counts


# %% q3 wrong: random augmentation out of the test transform
def make_transforms(img_size):
    to_tensor = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    resize = v2.Resize((img_size, img_size))
    train = v2.Compose([resize, v2.RandomHorizontalFlip(), *to_tensor])
    return train, v2.Compose([resize, v2.RandomHorizontalFlip(p=0.3), *to_tensor])  # "a little" randomness


# %% q3 wrong: random augmentation out of the test transform
def make_transforms(img_size):
    to_tensor = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    resize = v2.Resize((img_size, img_size))
    train = v2.Compose([resize, v2.RandomRotation(15), *to_tensor])
    rare = v2.RandomApply([v2.ColorJitter(brightness=0.5)], p=0.02)  # rare, but random all the same
    return train, v2.Compose([resize, rare, *to_tensor])


# %% q3 wrong: never resized
def make_transforms(img_size):
    to_tensor = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    train = v2.Compose([v2.RandomCrop(img_size, pad_if_needed=True), v2.RandomHorizontalFlip(), *to_tensor])
    return train, v2.Compose([v2.Resize((img_size, img_size)), *to_tensor])


# %% q3 wrong: black padding
def make_transforms(img_size):
    to_tensor = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    crop = v2.RandomCrop(img_size, pad_if_needed=True)

    def train(image):  # a function of one's own: padded to img_size, never resized
        return to_tensor(crop(image))

    return train, v2.Compose([v2.Resize((img_size, img_size)), to_tensor])


# %% q3 wrong: negative values
def make_transforms(img_size):
    steps = [v2.Resize((img_size, img_size)), v2.ToImage(), v2.ToDtype(torch.float32, scale=True),
             v2.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])]  # ImageNet's statistics
    return v2.Compose([steps[0], v2.RandomHorizontalFlip(), *steps[1:]]), v2.Compose(steps)


# %% q3 wrong: changed torch's global random number generator
def make_transforms(img_size):
    torch.manual_seed(0)  # "reproducible augmentation", for the whole notebook after it
    to_tensor = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    resize = v2.Resize((img_size, img_size))
    return v2.Compose([resize, v2.RandomHorizontalFlip(), *to_tensor]), v2.Compose([resize, *to_tensor])


# %% q3 right: RandomResizedCrop and ColorJitter for training
def make_transforms(img_size):
    to_tensor = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    train = v2.Compose([v2.RandomResizedCrop((img_size, img_size), scale=(0.6, 1.0), antialias=True),
                        v2.ColorJitter(brightness=0.3, contrast=0.3), *to_tensor])
    return train, v2.Compose([v2.Resize((img_size, img_size)), *to_tensor])


# %% q3 right: resized, then CIFAR's padded random crop and TrivialAugment
def make_transforms(img_size):
    resize = v2.Resize((img_size, img_size))
    to_tensor = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    train = v2.Compose([resize, v2.RandomCrop(img_size, padding=4), v2.TrivialAugmentWide(), *to_tensor])
    return train, v2.Compose([resize, *to_tensor])


# %% q3 right: a training function of one's own that flips with torch's RNG
def make_transforms(img_size):
    test = v2.Compose([v2.Resize((img_size, img_size)), v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])

    def train(image):
        out = test(image)
        return out.flip(-1) if torch.rand(()) < 0.5 else out

    return train, test
