"""Classify images with a trained checkpoint: ``python -m course_utils.predict --checkpoint CKPT IMAGE...``.

The checkpoint is the ``checkpoint.pt`` that ``python -m course_utils.train`` writes: it carries the
model's config and class names, so nothing else is needed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from course_utils import data_setup, utils
from course_utils.vit import ViT


def load_trained_model(checkpoint_path: str | Path, device: str = "cpu") -> tuple[ViT, list[str]]:
    """Rebuild the ViT saved in a training checkpoint. Returns (model in eval mode, class names)."""
    checkpoint = utils.load_checkpoint(checkpoint_path, map_location=device)
    if not isinstance(checkpoint, dict) or not {"model", "config", "class_names"} <= checkpoint.keys():
        raise ValueError(f"{checkpoint_path} is not a course_utils training checkpoint "
                         f"(it needs 'model', 'config' and 'class_names' entries)")
    model = utils.load_state(ViT(**checkpoint["config"]), checkpoint["model"], source=str(checkpoint_path))
    return model.to(device).eval(), list(checkpoint["class_names"])


@torch.inference_mode()
def predict(model: ViT, image_paths: list[str | Path], class_names: list[str],
            device: str = "cpu") -> list[tuple[str, float]]:
    """Predict each image's class. Returns one (class name, probability) per image."""
    transform = data_setup.default_transform(model.img_size)
    images = torch.stack([transform(data_setup.load_rgb_image(path)) for path in image_paths]).to(device)
    probs = model(images).softmax(dim=1)
    confidence, index = probs.max(dim=1)
    return [(class_names[i], p) for i, p in zip(index.tolist(), confidence.tolist(), strict=True)]


def main(argv: list[str] | None = None) -> list[tuple[str, float]]:
    parser = argparse.ArgumentParser(prog="python -m course_utils.predict", description=__doc__)
    parser.add_argument("--checkpoint", required=True, type=Path, help="checkpoint.pt from course_utils.train")
    parser.add_argument("images", nargs="+", type=Path, help="image files to classify")
    parser.add_argument("--device", default="cpu", help="default: %(default)s")
    args = parser.parse_args(argv)
    model, class_names = load_trained_model(args.checkpoint, args.device)
    predictions = predict(model, args.images, class_names, args.device)
    for path, (name, prob) in zip(args.images, predictions, strict=True):
        print(f"{path}: {name} ({prob:.3f})")
    return predictions


if __name__ == "__main__":
    main()
