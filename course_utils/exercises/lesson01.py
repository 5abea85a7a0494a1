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
from torchvision.datasets.folder import IMG_EXTENSIONS

from course_utils.data_setup import default_transform
from course_utils.exercises import Question, Wrong, as_number, expect_callable
from course_utils.exercises._parts import as_shape, expect_entries, shape_feedback, still_missing, unfilled
from course_utils.exercises._probes import call_leaving_alone
from course_utils.shapes import render_shape

LESSON = "01_data"


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
    answer_name = "batch_facts"

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

# The checker's folders: class -> file names. Class names with capitals; images in every format of
# `IMG_EXTENSIONS`, the extensions in any case; files that are no images to ImageFolder (a `.gif` among them).
_FOLDER_A = {
    "Cat": ["0.png", "1.PNG", "2.Png", "3.ppm", "notes.txt"],
    "dog": ["0.png", "1.jpg", "2.tif", "3.webp", ".DS_Store"],
    "Emu": ["0.png", "1.png", "2.JPG", "3.jpeg", "4.TIFF", "5.pgm", "anim.gif"],
}
_FOLDER_B = {"pizza": ["a.jpg", "b.bmp", "c.WebP"], "Steak": ["a.jpg", "b.jpg", "c.jpg", "d.JPEG", "e.jpg"],
             "sushi": ["a.Jpg", "b.tiff", "c.BMP", "readme.md"]}
_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "bmp": "BMP", "ppm": "PPM", "pgm": "PPM", "tif": "TIFF",
            "tiff": "TIFF", "webp": "WEBP", "gif": "GIF"}


def _is_image(name: str) -> bool:
    """What ImageFolder counts: a file whose name ends in an extension of IMG_EXTENSIONS, in any case."""
    return name.lower().endswith(IMG_EXTENSIONS)


def _counts(folder: dict[str, list[str]], counted: Any = _is_image) -> dict[str, int]:
    """{class: number of files that ``counted`` accepts}: the reference, and the counts of typical slips."""
    return {name: sum(1 for file in files if counted(file)) for name, files in folder.items()}


# Typical slips, as the files they count -> what to say. Checked in order; the first whose counts match wins.
_COUNTING_SLIPS: list[tuple[Any, str]] = [
    (lambda name: True,
     "You count files that are not images (a `notes.txt`, a hidden `.DS_Store`): count only files with an image "
     "extension, as ImageFolder does. (`walk_through_dir` counts every file, so it counts them too.)"),
    (lambda name: not name.startswith("."),
     "You count files that are not images (a `notes.txt`, a `readme.md`): count only files with an image "
     "extension, as ImageFolder does."),
    (lambda name: name.endswith(".png"),
     "Some images aren't PNGs: `.jpg` and `.jpeg` files are images too (photos usually are JPEGs), and "
     "ImageFolder reads more formats still."),
    (lambda name: name.lower().endswith(".png"),
     "Some images aren't PNGs: `.jpg` and `.jpeg` files are images too (photos usually are JPEGs), and "
     "ImageFolder reads more formats still."),
    (lambda name: name.endswith(IMG_EXTENSIONS),
     "Some images weren't counted: an extension can be in upper or mixed case (`.JPG`, `.Png`), and ImageFolder "
     "counts those too."),
    (lambda name: name.lower().endswith((".png", ".jpg", ".jpeg", ".gif")),
     "A `.gif` is no image to ImageFolder, and it reads more formats than PNG and JPEG: the list is "
     "`torchvision.datasets.folder.IMG_EXTENSIONS`."),
]


def _write_folder(root: Path, folder: dict[str, list[str]]) -> None:
    """Class folders of tiny images (and the odd non-image file), plus a manifest file at the top level."""
    (root / "dataset.json").write_text("{}")
    for name, files in folder.items():
        (root / name).mkdir()
        for file in files:
            suffix = file.rsplit(".", 1)[-1].lower()
            if suffix in _FORMATS and not file.startswith("."):
                mode = "L" if suffix == "pgm" else "RGB"
                Image.new(mode, (4, 4), 200).save(root / name / file, format=_FORMATS[suffix])
            else:
                (root / name / file).write_text("not an image")


class ClassBalance(Question):
    name = "q2"
    answer_name = "count_per_class"

    def _explain_error(self, error: Exception) -> str | None:
        if isinstance(error, NotADirectoryError) or "Not a directory" in str(error):
            return ("Not everything at the top level is a class folder (there can be files, like "
                    "`dataset.json`): keep only the folders.")
        if isinstance(error, TypeError) and "/" in str(error) and "str" in str(error):
            return "`root` may be a `str`: turn it into a `Path(root)` before using `/`."
        return None

    def _check(self, count_per_class: Any) -> None:
        expect_callable(count_per_class, self.answer_name)
        for folder, as_text in [(_FOLDER_A, False), (_FOLDER_B, True)]:
            with tempfile.TemporaryDirectory(prefix="count_per_class_") as tmp:
                _write_folder(Path(tmp), folder)
                before = sorted(path.relative_to(tmp) for path in Path(tmp).rglob("*"))
                counts = call_leaving_alone(count_per_class, "`count_per_class`", tmp if as_text else Path(tmp))
                if sorted(path.relative_to(tmp) for path in Path(tmp).rglob("*")) != before:
                    raise Wrong("`count_per_class` added, moved or deleted files in the folder it was given. Only "
                                "look: counting must leave the dataset as it was.")
                if counts is None:
                    raise Wrong("`count_per_class` returned None: did you forget the `return`?")
                self._compare(counts, folder)

    @staticmethod
    def _compare(counts: Any, folder: dict[str, list[str]]) -> None:
        expected = _counts(folder)
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
            if {str(key).lower() for key in counts} == {name.lower() for name in expected}:
                raise Wrong(f"Your function found the classes {got} in a folder whose class folders are "
                            f"{classes}: keep the folder names exactly as they are, capital letters included "
                            f"(ImageFolder does, and a label must match its folder).")
            if any(set(counts) == set(other) for other in (_FOLDER_A, _FOLDER_B) if other is not folder) or \
                    set(counts) == {"circle", "square", "triangle"}:
                raise Wrong(f"Your function found the classes {got} in a folder whose class folders are "
                            f"{classes}: read the classes of the folder passed as `root`.")
            raise Wrong(f"Your function found the classes {got or 'nothing'} in a folder whose class folders are "
                        f"{classes}.")
        values = {name: as_number(counts[name], f'the count of "{name}"') for name in expected}
        if values == expected:
            return
        for other in (_FOLDER_A, _FOLDER_B):
            if other is not folder and set(other) == set(folder) and values == _counts(other):
                raise Wrong("Your function gives the counts of another folder: count the folder passed as `root`.")
        for counted, message in _COUNTING_SLIPS:
            if values == _counts(folder, counted):
                raise Wrong(message)
        if any(values[name] > expected[name] for name in expected):
            raise Wrong("You count files that ImageFolder does not (a `notes.txt`, a hidden `.DS_Store`, a "
                        "`.gif`): count only the files whose extension is in "
                        "`torchvision.datasets.folder.IMG_EXTENSIONS`, in any case.")
        if any(values[name] < expected[name] for name in expected):
            raise Wrong("Some images weren't counted: ImageFolder reads every format of "
                        "`torchvision.datasets.folder.IMG_EXTENSIONS` (`.bmp`, `.webp`, `.tif`, `.ppm`, ... "
                        "too), and an extension can be in any case (`.JPG`, `.Png`).")
        raise Wrong("Your classes are right, but some counts are not: count each class folder's image files.")


q2 = ClassBalance()


# ---------------------------------------------------------------------------------------------------------
# q3: a training transform with augmentation, a plain test transform
# ---------------------------------------------------------------------------------------------------------

def _test_images() -> list[Image.Image]:
    """A square 32-px image from the dataset's generator, a non-square one (photos come in every size), and a
    tiny one, bright everywhere, smaller than any img_size: padded instead of resized, it would be mostly black."""
    rng = np.random.default_rng(7)
    square = render_shape("triangle", 32, rng)
    wide = render_shape("square", 40, rng).crop((0, 5, 40, 35))  # 40 x 30 pixels
    tiny = Image.fromarray(rng.integers(90, 256, size=(10, 12, 3), dtype=np.uint8))  # 12 x 10, no dark pixel
    return [square, wide, tiny]


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


# Steps of a pipeline, found by walking into containers (Compose, RandomApply, RandomChoice, nn.Sequential).
_RESIZING = {"Resize", "RandomResizedCrop", "RandomResize", "RandomShortestSize", "ScaleJitter"}
_RANDOM = {"ColorJitter", "GaussianBlur", "GaussianNoise", "ElasticTransform", "AutoAugment", "RandAugment",
           "TrivialAugmentWide", "AugMix", "ScaleJitter"}


def _steps(transform: Any) -> list[Any] | None:
    """The leaf steps of a torchvision pipeline, or None if it holds a step the walk cannot see into (a
    function, a Lambda, a class of one's own)."""
    children = list(transform) if isinstance(transform, torch.nn.Sequential) else getattr(transform, "transforms", None)
    if isinstance(children, (list, tuple)):
        found: list[Any] = []
        for child in children:
            if (steps := _steps(child)) is None:
                return None
            found += steps
        return found
    module = type(transform).__module__
    if module.startswith("torchvision.transforms") and type(transform).__name__ != "Lambda":
        return [transform]
    return None


def _random_step(transform: Any) -> str | None:
    """The name of a random step in a torchvision pipeline (one that can fire), or None."""
    children = getattr(transform, "transforms", None)
    name = type(transform).__name__
    if name in ("RandomApply", "RandomChoice", "RandomOrder") and getattr(transform, "p", 1) != 0:
        return name
    if isinstance(children, (list, tuple)):
        return next((found for child in children if (found := _random_step(child))), None)
    if (name.startswith("Random") or name in _RANDOM) and getattr(transform, "p", 1) != 0:
        return name
    return None


class TrainAndTestTransforms(Question):
    name = "q3"
    answer_name = "make_transforms"

    # Enough seeds that a random step firing with a small probability fires: with p = 0.1, 40 draws all miss
    # it with probability 0.9^40 < 2%, and the pipeline's structure is read as well.
    TRAIN_SEEDS, TEST_SEEDS = range(12), range(40)

    def _check(self, make_transforms: Any) -> None:
        expect_callable(make_transforms, self.answer_name)
        for img_size in (48, 64):
            pair = call_leaving_alone(make_transforms, "`make_transforms`", img_size)
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
            self._check_structure(train, test)

    def _check_pair(self, train: Any, test: Any, image: Image.Image, img_size: int) -> None:
        train_outs, test_outs = _outputs(train, image, self.TRAIN_SEEDS), _outputs(test, image, self.TEST_SEEDS)
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
        black = sorted(float((out == 0).all(dim=0).double().mean()) for out in train_outs)
        if black[len(black) // 2] > 0.8:
            raise Wrong(self._not_resized(f"For a {image.width} × {image.height} image and img_size={img_size}, "
                                          f"most of what your training transform returns is black padding"))

    @staticmethod
    def _not_resized(what: str) -> str:
        return (f"{what}: the image is padded and cropped to img_size × img_size, but never resized, so a small "
                f"photo stays small in a frame of padding and a large one is cut down to a corner of itself. "
                f"Resize it to img_size × img_size first, as the test transform does; augment after that.")

    def _check_structure(self, train: Any, test: Any) -> None:
        """What the outputs may not show: a random step of the test transform that rarely fires, and a
        training transform without any step that resizes."""
        if (name := _random_step(test)) is not None:
            raise Wrong(f"Your test transform holds a random step, `{name}`: even if it fired on none of the "
                        f"checker's tries, it would change some test images at random from one evaluation to the "
                        f"next. Keep random augmentation out of the test transform.")
        steps = _steps(train)
        if steps is not None and not any(type(step).__name__ in _RESIZING for step in steps):
            raise Wrong(self._not_resized("Your training transform has no step that resizes"))

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
        if float(out.min()) < -1e-6:
            raise Wrong(f"Your `{what}` gives negative values (down to {float(out.min()):.2f}): a `Normalize` "
                        f"shifts them below 0. This lesson uses no `Normalize`, so the values stay in [0, 1].")
        if float(out.max()) > 1.0 + 1e-6:
            if bool(torch.equal(out, out.round())):
                raise Wrong(f"Your `{what}` gives whole-number values up to {float(out.max()):.0f}: floats, but "
                            f"still on the 0–255 scale. `v2.ToDtype` maps them to [0, 1] only when you ask it "
                            f"to, with `scale=True`.")
            raise Wrong(f"Your `{what}` gives values up to {float(out.max()):.2f}, above 1: a step after "
                        f"`v2.ToDtype(torch.float32, scale=True)` changes the scale. The values should stay in "
                        f"[0, 1].")


q3 = TrainAndTestTransforms()


# ---------------------------------------------------------------------------------------------------------
# q4: the labels ImageFolder gives
# ---------------------------------------------------------------------------------------------------------

_NEW_CLASSES = ("circle", "square", "triangle", "hexagon", "Star")
_EXPECTED_LABELS = {name: i for i, name in enumerate(sorted(_NEW_CLASSES))}


class NewClassFolders(Question):
    name = "q4"
    answer_name = "class_to_idx"

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
