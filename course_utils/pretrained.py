"""The project's own pretrained checkpoints (``data/checkpoints/``), found locally or fetched once.

A clone has them in ``data/checkpoints/``. A pip install (e.g. on Colab) does not ship ``data/``, so
``pretrained_checkpoint`` downloads the file from the repository the first time, atomically, and checks
that it loads. Set the environment variable ``COURSE_CHECKPOINTS_URL`` to the address of a folder that
serves ``<name>.pt`` (a fork, a mirror, a local server) to download from there instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from course_utils import colab, helper_functions, shapes, utils

PRETRAINED = "vit_micro_shapes_pretrain"  # 6-layer micro ViT pretrained on the 5 shapes of shapes_pretrain
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
