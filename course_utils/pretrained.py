"""Pretrained checkpoints: the project's own (``data/checkpoints/``), found locally or fetched; load, export.

A clone has them in ``data/checkpoints/``. A pip install (e.g. on Colab) does not ship ``data/``, so
``pretrained_checkpoint`` downloads the file from the repository the first time, atomically, and checks
that it loads. Set the environment variable ``COURSE_CHECKPOINTS_URL`` to the address of a folder that
serves ``<name>.pt`` (a fork, a mirror, a local server) to download from there instead.

``load_pretrained`` copies a checkpoint's weights into a model to fine-tune it (a head of another size stays
fresh); ``export_checkpoint`` writes a trained model as a compact inference checkpoint (fp16 weights).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from course_utils import colab, shapes, utils
from course_utils.vit import HEAD, ViT

PRETRAINED = "vit_micro_shapes_pretrain"  # 6-layer micro ViT pretrained on the 5 shapes of shapes_pretrain
DOTS_PRETRAINED = "vit_pico_dots_pretrain"  # 6-layer pico ViT pretrained on the 5 dot patterns, an 8x8 grid
CHECKPOINTS_URL_VARIABLE = "COURSE_CHECKPOINTS_URL"  # overrides where checkpoints are downloaded from


def checkpoint_url(name: str = PRETRAINED) -> str:
    """Where ``<name>.pt`` is downloaded from: ``$COURSE_CHECKPOINTS_URL/<name>.pt`` if that variable is set,
    else the repository's ``data/checkpoints/<name>.pt``."""
    base = os.environ.get(CHECKPOINTS_URL_VARIABLE, "").strip()
    if not base:
        base = f"https://github.com/{colab.REPOSITORY}/raw/{colab.BRANCH}/data/checkpoints"
    return f"{base.rstrip('/')}/{name}.pt"


def pretrained_checkpoint(name: str = PRETRAINED, data_dir: str | Path | None = None,
                          url: str | None = None) -> Path:
    """The path of checkpoint ``name`` under ``data_dir/checkpoints``, downloaded from ``url`` if missing.

    ``data_dir`` defaults to ``shapes.default_data_dir()`` and ``url`` to ``checkpoint_url(name)``. A failed
    or corrupt download raises an error naming the URL and the ways around it, and leaves no file behind.
    """
    path = Path(data_dir or shapes.default_data_dir()) / "checkpoints" / f"{name}.pt"
    if path.is_file():
        return path
    url = url or checkpoint_url(name)
    print(f"[INFO] Downloading {url} to {path}")

    def fetch(tmp: Path) -> None:
        from course_utils import helper_functions  # here: it imports matplotlib, which loading needs not

        helper_functions.fetch_url(url, tmp)
        try:
            utils.load_checkpoint(tmp)  # refuse an HTML error page or a truncated file before it lands
        except RuntimeError as error:
            raise RuntimeError(f"download of {url} is not a usable checkpoint: {error}") from error

    try:
        return utils.atomic_write(path, fetch)
    except RuntimeError as error:  # say how to get the file another way
        raise RuntimeError(f"{error}\nPut {path.name} at {path}, or set {CHECKPOINTS_URL_VARIABLE} to the address "
                           f"of a folder that serves it.") from error


def load_pretrained(model: ViT, path: str | Path) -> None:
    """Copy every weight of ``path``'s model into ``model`` except a classifier head of another size."""
    state = utils.model_weights(utils.load_checkpoint(path), source=str(path))
    own = model.state_dict()
    head = [k for k in (f"{HEAD}.weight", f"{HEAD}.bias") if k in state and state[k].shape != own[k].shape]
    for key in head:  # a new task: keep the fresh head
        state[key] = own[key]
    utils.load_state(model, state, source=str(path))


def export_checkpoint(model: ViT, config: dict[str, Any], class_names: list[str], test_acc: float,
                      path: str | Path) -> Path:
    """Write a small inference checkpoint: fp16 weights (half the size), config, class names, accuracy.

    ``course_utils.predict.load_trained_model`` and ``--init-from`` read it; weights load back into fp32.
    """
    state = {k: v.detach().to("cpu", torch.float16) for k, v in model.state_dict().items()}
    return utils.save_checkpoint({"model": state, "config": config, "class_names": class_names,
                                  "test_acc": test_acc}, path)
