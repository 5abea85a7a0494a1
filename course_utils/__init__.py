"""Companion package of the ViT paper-replication course ("An Image is Worth 16x16 Words").

The lessons in ``notebooks/`` build each piece by hand; this package holds the finished, tested versions
they import afterwards: ``data_setup``, ``engine``, ``vit``, ``utils``, ``helper_functions``, ``plots``, ``shapes``
(the bundled dataset) and the ``train`` / ``predict`` command-line scripts.
"""

from course_utils import data_setup, engine, helper_functions, plots, shapes, utils, vit

__all__ = ["data_setup", "engine", "helper_functions", "plots", "shapes", "utils", "vit"]
__version__ = "0.1.0"
