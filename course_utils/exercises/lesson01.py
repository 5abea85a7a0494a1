"""Exercises of lesson 01, data (see ``course_utils.exercises`` for the framework).

q1 a DataLoader's batch shapes · q2 the class balance of a folder · q3 train and test transforms · q4 the
labels ImageFolder gives
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from course_utils.data_setup import default_transform
from course_utils.exercises import Mistake, Question, Wrong, as_number, expect_callable
from course_utils.exercises._parts import as_shape, expect_entries, shape_feedback, still_missing, unfilled
from course_utils.shapes import render_shape

LESSON = "01_data"
TITLE = "Data"
INTRO = """Four exercises on getting images into a model: the shapes of the batches a DataLoader gives, the
class balance of an image folder, a training transform with augmentation next to a plain test transform, and
the labels `ImageFolder` hands out. They use the small `shapes_small` dataset, generated on your machine in a
second or two the first time."""
SETUP = """\
import os
from pathlib import Path

import torch
from torchvision import datasets
from torchvision.transforms import v2

from course_utils import data_setup, shapes
from course_utils.exercises import lesson01 as ex
from course_utils.helper_functions import walk_through_dir
"""


# ---------------------------------------------------------------------------------------------------------
# q1: the batches of a DataLoader
# ---------------------------------------------------------------------------------------------------------

_BATCH, _SIZE, _TRAIN = 32, 64, 225  # shapes_small: 75 train images per class, 3 classes
_FACTS: dict[str, Any] = {
    "num_batches": -(-_TRAIN // _BATCH),
    "images": (_BATCH, 3, _SIZE, _SIZE),
    "labels": (_BATCH,),
    "last_images": (_TRAIN % _BATCH, 3, _SIZE, _SIZE),
    "patches_p8": (_SIZE // 8) ** 2,
    "patches_p16": (_SIZE // 16) ** 2,
}
_SHAPE_ADVICE = {
    (_BATCH, _SIZE, _SIZE, 3): "PyTorch keeps images channels first, (C, H, W): `ToImage()` puts the channels "
                               "in front, and a batch stacks those.",
    (_BATCH, 3, 32, 32): "The images are drawn at 32 px, but this transform resizes them to 64 px.",
    (3, _SIZE, _SIZE): "That's one image. A batch stacks `batch_size` of them along a new first dimension.",
    (_TRAIN, 3, _SIZE, _SIZE): "That's the whole training set. One batch holds `batch_size` images.",
    (_BATCH, 1): "The labels are one class index per image: a 1-D tensor.",
    (_BATCH, 3): "The labels are class indices (0, 1 or 2), not one-hot vectors: one number per image.",
}


class BatchFacts(Question):
    name = "q1"
    title = "The batches of a DataLoader"
    answer_name = "batch_facts"
    prompt = """\
Load `shapes_small` (75 training images per class, 3 classes, drawn at 32 × 32) resized to **64 px**, in batches
of 32, as the stub does. Before you look at a batch, work out:

- `num_batches`: how many batches one epoch of the training DataLoader has, `len(train_dataloader)`;
- `images`, `labels`: the shapes of the images and of the labels of the first batch (tuples, e.g. `(2, 3)`);
- `last_images`: the shape of the images of the *last* batch of the epoch;
- `patches_p8`, `patches_p16`: $N$, the number of patches of one of these 64-px images with $P = 8$, and with
  $P = 16$ (patches only, no class token).

Then check them: `images, labels = next(iter(train_dataloader))`, and the last batch with a `for` loop."""
    stub = '''\
small_root = shapes.get_dataset("shapes_small")  # 75 train + 25 test images per class, 32 x 32 px
train_dataloader, test_dataloader, class_names = data_setup.create_dataloaders(
    small_root / "train", small_root / "test", transform=data_setup.default_transform(64), batch_size=32)

batch_facts = {
    "num_batches": ...,  # len(train_dataloader)
    "images": ...,  # the shape of the first batch's images, a tuple
    "labels": ...,  # the shape of its labels
    "last_images": ...,  # the shape of the last batch's images
    "patches_p8": ...,  # N for one 64-px image with P = 8
    "patches_p16": ...,  # N with P = 16
}
'''
    _solution = '''\
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
'''
    _hint = (
        "225 images in batches of 32: how many full batches, and what happens to the rest? Unless "
        "`drop_last=True`, a DataLoader yields the leftover images as one smaller, last batch.",
        "A batch of images is (B, C, H, W), labels are (B,). N = HW/P².",
    )
    why = ("An incomplete last batch is normal: code that assumes every batch has `batch_size` images (a "
           "hard-coded reshape, an average over batches) is subtly wrong on it.")
    mistakes = (
        Mistake('''
batch_facts = {"num_batches": 225 // 32, "images": (32, 3, 64, 64), "labels": (32,), "last_images": (32, 3, 64, 64),
               "patches_p8": 64, "patches_p16": 16}
''', expect="smaller, last batch"),
        Mistake('''
batch_facts = {"num_batches": 8, "images": (32, 64, 64, 3), "labels": (32,), "last_images": (1, 64, 64, 3),
               "patches_p8": 64, "patches_p16": 16}
''', expect="channels first"),
        Mistake('''
batch_facts = {"num_batches": 8, "images": (32, 3, 64, 64), "labels": (32), "last_images": (1, 3, 64, 64),
               "patches_p8": 64, "patches_p16": 16}
''', expect="needs a comma"),
        Mistake('''
batch_facts = {"num_batches": 8, "images": (32, 3, 64, 64), "labels": (32,), "last_images": (1, 3, 64, 64),
               "patches_p8": 8, "patches_p16": 4}
''', expect="whole grid"),
    )

    def _check(self, batch_facts: Any) -> None:
        entries = expect_entries(batch_facts, self.answer_name, list(_FACTS))
        for key, expected in _FACTS.items():
            if unfilled(entries[key]):
                continue
            what = f'`batch_facts["{key}"]`'
            if isinstance(expected, tuple):
                got = as_shape(entries[key], what)
                if got != expected:
                    raise Wrong(self._shape_message(key, got, expected, what))
                continue
            value = as_number(entries[key], what)
            if value != expected:
                raise Wrong(self._number_message(key, value, what))
        still_missing(entries, self.answer_name)

    @staticmethod
    def _shape_message(key: str, got: tuple[int, ...], expected: tuple[int, ...], what: str) -> str:
        if key == "last_images":
            if got == (_BATCH, 3, _SIZE, _SIZE):
                return (f"{what} is {got}, a full batch. 225 images don't split evenly into batches of 32: the "
                        f"last batch holds what is left over.")
            if got[:1] == (0,):
                return f"{what} is {got}: a DataLoader never yields an empty batch."
            if len(got) == 4 and got[1:] != expected[1:]:
                key = "images"  # the same slip as in the first batch
                got = (_BATCH, *got[1:])
        if got in _SHAPE_ADVICE:
            return f"{what} is {got}. {_SHAPE_ADVICE[got]}"
        return shape_feedback(got, expected, what)

    @staticmethod
    def _number_message(key: str, value: float, what: str) -> str:
        shown = f"{what} is {value:g}."
        if key == "num_batches":
            if value != int(value):
                return f"{shown} A number of batches is a whole number."
            if value == _TRAIN // _BATCH:
                return (f"{shown} That counts the full batches only. 225 isn't a multiple of 32, and unless "
                        f"`drop_last=True` the DataLoader yields the images left over as one smaller, last batch.")
            if value in (75 // _BATCH, -(-75 // _BATCH)):
                return f"{shown} That's the test set (75 images); the question asks about the training DataLoader."
            return f"{shown} Divide the 225 training images into batches of 32, and count the leftover batch too."
        P = 8 if key == "patches_p8" else 16
        if value == _SIZE // P:
            return f"{shown} That's the patches along one side of the image; N counts the whole grid."
        if value == (_SIZE // P) ** 2 + 1:
            return f"{shown} That counts the class token too; N is the number of patches only."
        if value == (32 // P) ** 2:
            return f"{shown} That's N for a 32-px image; these images are resized to 64 px."
        if value == _SIZE * _SIZE // P:
            return f"{shown} Each patch covers P × P pixels: divide the image's area by P², not by P."
        return f"{shown} N = HW/P², for a 64 × 64 image and P = {P}."


q1 = BatchFacts()


# ---------------------------------------------------------------------------------------------------------
# q2: the class balance of a folder
# ---------------------------------------------------------------------------------------------------------

# The checker's folders: class -> file names. Not every image is a .png, and not every file is an image.
_FOLDER_A = {
    "cat": ["0.png", "1.png", "2.png", "notes.txt"],
    "dog": ["0.png", "1.jpg", ".DS_Store"],
    "emu": ["0.png", "1.png", "2.JPG", "3.jpeg"],
}
_COUNTS_A = {"cat": 3, "dog": 2, "emu": 4}
_FOLDER_B = {"pizza": ["a.jpg"], "steak": ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"]}
_COUNTS_B = {"pizza": 1, "steak": 5}


def _write_folder(root: Path, folder: dict[str, list[str]]) -> None:
    """Class folders of tiny images (and the odd non-image file), plus a manifest file at the top level."""
    (root / "dataset.json").write_text("{}")
    for name, files in folder.items():
        (root / name).mkdir()
        for file in files:
            suffix = file.rsplit(".", 1)[-1].lower()
            if suffix in ("png", "jpg", "jpeg"):
                Image.new("RGB", (4, 4), (200, 30, 30)).save(root / name / file,
                                                             format="PNG" if suffix == "png" else "JPEG")
            else:
                (root / name / file).write_text("not an image")


class ClassBalance(Question):
    name = "q2"
    title = "The class balance of a folder"
    answer_name = "count_per_class"
    prompt = """\
A classifier trained on unbalanced data learns to favour the big classes, and accuracy then means less, so look
at the class balance before training. Write `count_per_class(root)`: for a folder in `ImageFolder` layout
(`root/<class>/<images>`), return a dict that maps each class name to its number of images, e.g.
`{"circle": 75, "square": 75, "triangle": 75}`.

- `root` is a path: a `str` or a `pathlib.Path`.
- Count the images the way `ImageFolder` does: files whose name ends in an image extension (`.png`, `.jpg`,
  `.jpeg`, ... in any case; the list is `torchvision.datasets.folder.IMG_EXTENSIONS`). Other files (a
  `notes.txt`, a hidden `.DS_Store`) are not images, and a file at the top level (like `dataset.json`) is not a
  class.

Either count files yourself (`os.listdir`, `Path.iterdir`) or let `datasets.ImageFolder(root)` find them (its
`.classes` and `.targets`). The checker tries your function on folders of its own, then run it on both splits
of `shapes_small`."""
    stub = '''\
def count_per_class(root: str | Path) -> dict[str, int]:
    """{class name: number of images} for an ImageFolder-style folder root/<class>/<images>."""
    raise NotImplementedError  # replace this line with your code
'''
    _solution = '''\
def count_per_class(root: str | Path) -> dict[str, int]:
    """{class name: number of images} for an ImageFolder-style folder root/<class>/<images>."""
    dataset = datasets.ImageFolder(root)  # finds the classes (sorted folder names) and the image files
    counts = torch.bincount(torch.tensor(dataset.targets), minlength=len(dataset.classes))
    return dict(zip(dataset.classes, counts.tolist(), strict=True))  # label i is dataset.classes[i]


for split in ("train", "test"):
    print(split, count_per_class(shapes.get_dataset("shapes_small") / split))
'''
    _hint = (
        "`datasets.ImageFolder(root)` already knows the class names (`.classes`) and one label per image "
        "(`.targets`); count how often each label occurs.",
        "`torch.bincount(torch.tensor(dataset.targets))` counts each label; label i belongs to "
        "`dataset.classes[i]`.",
    )
    why = ("shapes_small has 75 / 25 images per class, so guessing one class scores 1/3: every model must beat "
           "33% by a margin.")
    mistakes = (
        Mistake('''
def count_per_class(root):
    root = Path(root)
    return {d.name: len(os.listdir(d)) for d in root.iterdir() if d.is_dir()}  # every file, images or not
''', expect="not images"),
        Mistake('''
def count_per_class(root):
    root = Path(root)
    return {d.name: len(list(d.glob("*.png"))) for d in root.iterdir() if d.is_dir()}  # PNGs only
''', expect="aren't PNGs"),
        Mistake('''
def count_per_class(root):
    dataset = datasets.ImageFolder(root)
    return {label: dataset.targets.count(label) for label in set(dataset.targets)}  # keys are label indices
''', expect="class names"),
        Mistake('''
def count_per_class(root):
    return {name: len(os.listdir(os.path.join(root, name))) for name in os.listdir(root)}  # dataset.json too
''', expect="keep only the folders"),
    )

    def _explain_error(self, error: Exception) -> str | None:
        if isinstance(error, NotADirectoryError) or "Not a directory" in str(error):
            return ("Not everything at the top level is a class folder (there can be files, like "
                    "`dataset.json`): keep only the folders.")
        if isinstance(error, TypeError) and "/" in str(error) and "str" in str(error):
            return "`root` may be a `str`: turn it into a `Path(root)` before using `/`."
        return None

    def _check(self, count_per_class: Any) -> None:
        expect_callable(count_per_class, self.answer_name)
        for folder, expected, as_text in [(_FOLDER_A, _COUNTS_A, False), (_FOLDER_B, _COUNTS_B, True)]:
            with tempfile.TemporaryDirectory(prefix="count_per_class_") as tmp:
                _write_folder(Path(tmp), folder)
                counts = count_per_class(tmp if as_text else Path(tmp))
                if counts is None:
                    raise Wrong("`count_per_class` returned None: did you forget the `return`?")
                self._compare(counts, expected)

    @staticmethod
    def _compare(counts: Any, expected: dict[str, int]) -> None:
        classes = ", ".join(expected)
        if not isinstance(counts, dict):
            raise Wrong(f"`count_per_class` returned a {type(counts).__name__}; return a dict that maps each "
                        f"class name to its number of images.")
        if counts and all(isinstance(key, int) for key in counts):
            raise Wrong("The keys of your dict are label indices; make them the class names (the folder names). "
                        "With ImageFolder, label i is `dataset.classes[i]`.")
        if "dataset.json" in counts:
            raise Wrong("`dataset.json` is a file at the top level of the folder, not a class folder: only "
                        "folders are classes.")
        if set(counts) != set(expected):
            got = ", ".join(sorted(map(str, counts)))
            if set(counts) == set(_COUNTS_A) or set(counts) == {"circle", "square", "triangle"}:
                raise Wrong(f"Your function found the classes {got} in a folder whose class folders are "
                            f"{classes}: read the classes of the folder passed as `root`.")
            raise Wrong(f"Your function found the classes {got or 'nothing'} in a folder whose class folders are "
                        f"{classes}.")
        values = {name: as_number(counts[name], f'the count of "{name}"') for name in expected}
        if values == expected:
            return
        if values == _COUNTS_A and expected != _COUNTS_A:
            raise Wrong("Your function gives the counts of the first folder for another one: count the folder "
                        "passed as `root`.")
        if any(values[name] > expected[name] for name in expected):
            raise Wrong("You count files that are not images (a `notes.txt`, a hidden `.DS_Store`): count only "
                        "files with an image extension, as ImageFolder does. (`walk_through_dir` counts every "
                        "file, so it counts them too.)")
        if expected == _COUNTS_A and values["dog"] < expected["dog"]:
            raise Wrong("Some images aren't PNGs: `.jpg` and `.jpeg` files are images too (photos usually are "
                        "JPEGs).")
        if expected == _COUNTS_A and values["emu"] < expected["emu"]:
            raise Wrong("Some images weren't counted: an extension can be in upper case (`.JPG`), and `.jpeg` "
                        "is as much an image as `.jpg`.")
        raise Wrong("Your classes are right, but some counts are not: count each class folder's image files.")


q2 = ClassBalance()


# ---------------------------------------------------------------------------------------------------------
# q3: a training transform with augmentation, a plain test transform
# ---------------------------------------------------------------------------------------------------------

def _test_images() -> list[Image.Image]:
    """A square 32-px image from the dataset's generator and a non-square one (photos come in every size)."""
    rng = np.random.default_rng(7)
    square = render_shape("triangle", 32, rng)
    wide = render_shape("square", 40, rng).crop((0, 5, 40, 35))  # 40 x 30 pixels
    return [square, wide]


def _outputs(transform: Any, image: Image.Image, seeds: range) -> list[Any]:
    """``transform(image)`` once per seed of torch's RNG (restored afterwards: the learner's RNG is untouched)."""
    results = []
    with torch.random.fork_rng(devices=[]):
        for seed in seeds:
            torch.manual_seed(seed)
            results.append(transform(image))
    return results


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))
    return a is b


class TrainAndTestTransforms(Question):
    name = "q3"
    title = "Augment the training images only"
    answer_name = "make_transforms"
    prompt = """\
Data augmentation shows the model a slightly different version of each training image every epoch (flipped,
rotated, ...), which helps when data is scarce. It belongs to the **training** images only: the test images
must be the same every time you evaluate, or the test accuracy changes from one evaluation to the next.

Write `make_transforms(img_size)`, which returns `(train_transform, test_transform)`, two `v2.Compose`
pipelines that take a PIL image of any size:

- `test_transform`: the lesson's plain pipeline, resize to `img_size` × `img_size`, then a float tensor
  $(3, H, W)$ with values in $[0, 1]$ (no `Normalize`);
- `train_transform`: the same, plus random augmentation, e.g. `v2.RandomHorizontalFlip()` and
  `v2.RandomRotation(15)`.

Then you could pass them on: `create_dataloaders(..., transform=train_transform, test_transform=test_transform)`.
The checker calls your function with two image sizes, on a square and a non-square image."""
    stub = '''\
def make_transforms(img_size: int) -> tuple[v2.Compose, v2.Compose]:
    """(train_transform, test_transform): both give float (3, img_size, img_size) tensors in [0, 1];
    only the training one augments at random."""
    raise NotImplementedError  # replace this line with your code
'''
    _solution = '''\
def make_transforms(img_size: int) -> tuple[v2.Compose, v2.Compose]:
    """(train_transform, test_transform): both give float (3, img_size, img_size) tensors in [0, 1];
    only the training one augments at random."""
    to_tensor = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]  # PIL -> (C, H, W) floats in [0, 1]
    resize = v2.Resize((img_size, img_size))  # both sides: photos are rarely square
    train_transform = v2.Compose([resize, v2.RandomHorizontalFlip(), v2.RandomRotation(15), *to_tensor])
    test_transform = v2.Compose([resize, *to_tensor])  # no randomness: the same tensor every time
    return train_transform, test_transform
'''
    _hint = (
        "Start from the lesson's `default_transform`: Resize, ToImage, ToDtype(torch.float32, scale=True). "
        "The test transform is just that; the training one adds random steps.",
        "`v2.Resize(img_size)` with one number resizes the shorter side only; give `(img_size, img_size)`.",
    )
    why = ("A shape stays a circle, square or triangle when flipped or rotated, so these augmentations keep every "
           "label right; an augmentation that could change what the image shows would teach the model wrong "
           "labels.")
    mistakes = (
        Mistake('''
def make_transforms(img_size):
    plain = v2.Compose([v2.Resize((img_size, img_size)), v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    return plain, plain  # no augmentation at all
''', expect="no random augmentation"),
        Mistake('''
def make_transforms(img_size):
    augment = v2.Compose([v2.Resize((img_size, img_size)), v2.RandomHorizontalFlip(), v2.RandomRotation(15),
                          v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    return augment, augment  # augmentation for the test images too
''', expect="out of the test transform"),
        Mistake('''
def make_transforms(img_size):
    to_tensor = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    train = v2.Compose([v2.Resize(img_size), v2.RandomHorizontalFlip(), *to_tensor])
    return train, v2.Compose([v2.Resize(img_size), *to_tensor])  # one number: the shorter side only
''', expect="shorter side"),
        Mistake('''
def make_transforms(img_size):
    to_tensor = [v2.ToImage(), v2.ToDtype(torch.float32)]  # no scale=True
    train = v2.Compose([v2.Resize((img_size, img_size)), v2.RandomHorizontalFlip(), *to_tensor])
    return train, v2.Compose([v2.Resize((img_size, img_size)), *to_tensor])
''', expect="scale=True"),
    )

    def _check(self, make_transforms: Any) -> None:
        expect_callable(make_transforms, self.answer_name)
        for img_size in (48, 64):
            pair = make_transforms(img_size)
            if pair is None:
                raise Wrong("`make_transforms` returned None: did you forget the `return`?")
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise Wrong(f"`make_transforms` returned a {type(pair).__name__}; return two transforms, "
                            f"`(train_transform, test_transform)`.")
            train, test = pair
            for what, transform in [("train_transform", train), ("test_transform", test)]:
                if not callable(transform):
                    raise Wrong(f"Your `{what}` is a {type(transform).__name__}; it should be a transform "
                                f"(e.g. a `v2.Compose([...])`) that can be called on an image.")
            for image in _test_images():
                self._check_pair(train, test, image, img_size)

    def _check_pair(self, train: Any, test: Any, image: Image.Image, img_size: int) -> None:
        train_outs, test_outs = _outputs(train, image, range(8)), _outputs(test, image, range(3))
        for what, outs in [("test_transform", test_outs), ("train_transform", train_outs)]:
            for out in outs:
                self._check_tensor(out, what, image, img_size)
        train_random = any(not _same(train_outs[0], out) for out in train_outs[1:])
        test_random = any(not _same(test_outs[0], out) for out in test_outs[1:])
        if test_random and not train_random:
            raise Wrong("Your transforms look swapped: the test transform augments at random and the training "
                        "one doesn't. Return `(train_transform, test_transform)`, in that order.")
        if test_random:
            raise Wrong("Your test transform gives a different tensor each time for the same image: keep random "
                        "augmentation out of the test transform, so every evaluation sees the same test images.")
        if not train_random:
            raise Wrong("Your training transform gives the same tensor every time for the same image: it has no "
                        "random augmentation. Add a random step, e.g. `v2.RandomHorizontalFlip()`.")
        plain = default_transform(img_size)(image)
        if float((test_outs[0].double() - plain.double()).abs().max()) > 0.02:
            raise Wrong("Your test transform gives the right shape and range, but not the plain resized image: "
                        "use only the lesson's steps (Resize, ToImage, ToDtype with scale=True), no other changes.")

    @staticmethod
    def _check_tensor(out: Any, what: str, image: Image.Image, img_size: int) -> None:
        about = f"for a {image.width} × {image.height} image and img_size={img_size}"
        if isinstance(out, Image.Image):
            raise Wrong(f"Your `{what}` returns a PIL image {about}; end it with `v2.ToImage()` and "
                        f"`v2.ToDtype(torch.float32, scale=True)` to get a tensor.")
        if not isinstance(out, torch.Tensor):
            raise Wrong(f"Your `{what}` returns a {type(out).__name__} {about}; it should return a tensor.")
        shape = tuple(out.shape)
        if shape != (3, img_size, img_size):
            if shape == (img_size, img_size, 3):
                raise Wrong(f"Your `{what}` gives shape {shape} {about}: channels last. PyTorch wants channels "
                            f"first, (C, H, W), as `v2.ToImage()` makes them.")
            if shape[1:] == (image.height, image.width):
                raise Wrong(f"Your `{what}` gives shape {shape} {about}: the image is not resized. Resize it to "
                            f"img_size × img_size.")
            if len(shape) == 3 and img_size in shape[1:] and image.width != image.height:
                raise Wrong(f"Your `{what}` gives shape {shape} {about}: `v2.Resize(img_size)` with one number "
                            f"resizes the shorter side only and keeps the aspect ratio. Give both sides, "
                            f"`(img_size, img_size)`.")
            raise Wrong(f"Your `{what}` gives shape {shape} {about}; it should be (3, img_size, img_size).")
        if out.dtype == torch.uint8:
            raise Wrong(f"Your `{what}` gives uint8 pixel values (0 to 255). The model wants floats in [0, 1]: "
                        f"`v2.ToDtype(torch.float32, scale=True)`.")
        if out.dtype != torch.float32:
            raise Wrong(f"Your `{what}` gives a {out.dtype} tensor; the model wants float32.")
        if float(out.max()) > 1.0 + 1e-6:
            raise Wrong(f"Your `{what}` gives values up to {float(out.max()):.0f}: floats, but still on the 0–255 "
                        f"scale. `v2.ToDtype` maps them to [0, 1] only when you ask it to, with `scale=True`.")
        if float(out.min()) < -1e-6:
            raise Wrong(f"Your `{what}` gives negative values: this lesson uses no `Normalize`, so the values "
                        f"stay in [0, 1].")


q3 = TrainAndTestTransforms()


# ---------------------------------------------------------------------------------------------------------
# q4: the labels ImageFolder gives
# ---------------------------------------------------------------------------------------------------------

_NEW_CLASSES = ("circle", "square", "triangle", "hexagon", "Star")
_EXPECTED_LABELS = {name: i for i, name in enumerate(sorted(_NEW_CLASSES))}


class NewClassFolders(Question):
    name = "q4"
    title = "The labels `ImageFolder` gives"
    answer_name = "class_to_idx"
    prompt = """\
`ImageFolder` gave the three shapes the labels `{"circle": 0, "square": 1, "triangle": 2}`. A colleague adds
two class folders to `train/` and `test/`: `hexagon` and `Star` (with a capital S). **What is
`ImageFolder(train_dir).class_to_idx` now?** Give the dict: every class name and its label.

Work it out from how `ImageFolder` finds classes. You can verify it afterwards in a scratch folder: make five
empty class folders, put one image in each, and ask `datasets.ImageFolder(...).class_to_idx`."""
    stub = "class_to_idx = ...  # a dict: {class name: label}\n"
    _solution = '''\
classes = sorted(["circle", "square", "triangle", "hexagon", "Star"])  # ImageFolder sorts the folder names
class_to_idx = {name: label for label, name in enumerate(classes)}  # "Star" first: "S" sorts before "c"
'''
    _hint = ("`ImageFolder` sorts the class-folder names and numbers them in that order, from 0. How does Python "
             "sort strings with capital letters?")
    why = ("Labels are positions in a sorted list, so adding a folder can renumber every class: keep the class "
           "names with a trained model, or its predictions get the wrong names.")
    mistakes = (
        Mistake('class_to_idx = {"circle": 0, "square": 1, "triangle": 2, "hexagon": 3, "Star": 4}',
                expect="sorts the folder names"),
        Mistake('class_to_idx = {"circle": 0, "hexagon": 1, "square": 2, "Star": 3, "triangle": 4}',
                expect="upper-case"),
        Mistake('class_to_idx = {"Star": 1, "circle": 2, "hexagon": 3, "square": 4, "triangle": 5}',
                expect="from 0"),
    )

    def _check(self, class_to_idx: Any) -> None:
        if not isinstance(class_to_idx, dict):
            raise Wrong(f"`class_to_idx` is a {type(class_to_idx).__name__}; give a dict that maps each class "
                        f"name to its label, e.g. {{\"circle\": 0, ...}}.")
        names = set(class_to_idx)
        if names != set(_NEW_CLASSES):
            lower = {str(name).lower() for name in names}
            if lower == {name.lower() for name in _NEW_CLASSES}:
                raise Wrong("Keep the folder names exactly as they are: `ImageFolder` uses them as they are, "
                            "capital letters included.")
            missing = sorted(set(_NEW_CLASSES) - names, key=str)
            extra = sorted(names - set(_NEW_CLASSES), key=str)
            parts = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + (
                [f"not a class: {', '.join(map(repr, extra))}"] if extra else [])
            raise Wrong(f"The classes are the five folder names, the old three and the two new ones "
                        f"({'; '.join(parts)}).")
        labels = {name: as_number(label, f'the label of "{name}"') for name, label in class_to_idx.items()}
        if labels == _EXPECTED_LABELS:
            return
        if labels == {name: i for i, name in enumerate(_NEW_CLASSES)}:
            raise Wrong("`ImageFolder` doesn't number the classes in the order the folders were added: it sorts "
                        "the folder names, and a class's label is its position in that sorted list.")
        if labels == {name: i for i, name in enumerate(sorted(_NEW_CLASSES, key=str.lower))}:
            raise Wrong("Almost: you sorted without regard to case. Python compares strings character by "
                        "character, by code point, and every upper-case letter comes before every lower-case "
                        "one ('Z' < 'a').")
        if labels == {name: i + 1 for name, i in _EXPECTED_LABELS.items()}:
            raise Wrong("The order is right, but labels count from 0: the first class gets label 0.")
        if sorted(labels.values()) != list(range(len(_NEW_CLASSES))):
            raise Wrong("The labels of five classes are 0, 1, 2, 3 and 4, each used once.")
        raise Wrong("Not quite: `ImageFolder` sorts the class-folder names (as Python's `sorted` does) and "
                    "numbers them in that order.")


q4 = NewClassFolders()
