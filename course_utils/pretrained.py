"""The project's own pretrained checkpoints (``data/checkpoints/``), found locally or fetched once.

A clone has them in ``data/checkpoints/``. A pip install (e.g. on Colab) does not ship ``data/``, so
``pretrained_checkpoint`` downloads the file from the repository the first time, atomically, and checks
that it loads.
"""

from __future__ import annotations

from pathlib import Path

from course_utils import colab, helper_functions, shapes, utils

PRETRAINED = "vit_micro_shapes_pretrain"  # 6-layer micro ViT pretrained on the 5 shapes of shapes_pretrain


def checkpoint_url(name: str = PRETRAINED) -> str:
    """Where the repository serves ``data/checkpoints/<name>.pt``."""
    return f"https://github.com/{colab.REPOSITORY}/raw/{colab.BRANCH}/data/checkpoints/{name}.pt"


def pretrained_checkpoint(name: str = PRETRAINED, data_dir: str | Path | None = None,
                          url: str | None = None) -> Path:
    """The path of checkpoint ``name`` under ``data_dir/checkpoints``, downloaded from ``url`` if missing.

    ``data_dir`` defaults to ``shapes.default_data_dir()`` and ``url`` to ``checkpoint_url(name)``. A failed
    or corrupt download raises an error naming the URL and leaves no file behind.
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

    return utils.atomic_write(path, fetch)
