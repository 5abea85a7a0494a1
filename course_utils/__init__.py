"""Companion package of the ViT paper-replication course ("An Image is Worth 16x16 Words").

The lessons in ``notebooks/`` build each piece by hand; this package holds the finished, tested versions
they import afterwards: ``data_setup``, ``engine``, ``vit``, ``utils``, ``helper_functions``, ``plots``, ``shapes``
(the bundled dataset), ``precision`` (which precision the hardware trains fastest in), ``flops``, ``optim`` (the
optimizer recipe), ``pretrained`` (the pretrained checkpoints), ``interpret`` (Figures 6 and 7), ``hybrid`` and
``resnet`` (the paper's other architectures), ``last_block`` (training without the last block's unread tokens),
``experiments`` (its experiments at laptop scale; the package's ``__main__`` runs them) and the ``train`` /
``predict`` command-line scripts. ``train`` is a leaf: it imports the library, and no module of the library
imports it.

Sub-modules load on first use (``course_utils.vit`` imports torch but not matplotlib), so
``import course_utils.vit`` costs what it needs and no more.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["data_setup", "engine", "experiments", "flops", "helper_functions", "hybrid", "interpret", "last_block",
           "optim", "plots", "precision", "pretrained", "resnet", "shapes", "utils", "vit"]
__version__ = "0.1.0"


def __getattr__(name: str) -> ModuleType:
    """``course_utils.vit`` and friends without an explicit import: load the sub-module when first asked."""
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
