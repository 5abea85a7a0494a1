"""Every notebook: Colab badge to its own path, the Colab setup cell, committed executed, lint-free cells.

nbval executes the notebooks themselves (see pyproject.toml); these checks read the committed files.
"""

import json
from pathlib import Path

import pytest

from course_utils import colab

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = colab.notebook_paths()
source = colab.cell_source


def test_every_lesson_and_exercise_notebook_is_found():
    names = [p.name for p in NOTEBOOKS]
    assert sum(name[:2].isdigit() and "exercises" not in name and "solutions" not in name for name in names) == 11
    assert sum(name.endswith("_exercises.ipynb") for name in names) == 11
    assert sum(name.endswith("_solutions.ipynb") for name in names) == 11


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_badge_and_setup_cell(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    relative = path.relative_to(REPO).as_posix()
    assert cells[0]["cell_type"] == "markdown" and source(cells[0]) == colab.badge_source(relative)
    assert f"/blob/{colab.BRANCH}/{relative})" in source(cells[0])  # the badge opens this very notebook
    assert cells[1]["cell_type"] == "code" and source(cells[1]) == colab.setup_source()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_committed_executed_without_errors(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] != "code" or not source(cell).strip():
            continue
        if "skip-execution" in cell.get("metadata", {}).get("tags", []):
            continue  # internet-only cells
        assert cell["execution_count"] is not None, f"unexecuted cell in {path.name}: {source(cell)[:80]!r}"
        assert not [o for o in cell.get("outputs", []) if o["output_type"] == "error"], path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_online_cells_are_skipped_under_test_and_by_nbconvert(path):
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        text = source(cell)
        if cell["cell_type"] == "code" and "NBVAL_SKIP" in text:
            assert "skip-execution" in cell.get("metadata", {}).get("tags", []), text[:80]
            assert "internet" in text.lower(), f"say why the cell is skipped: {text[:80]!r}"


def test_sync_is_a_no_op_on_the_committed_notebooks(tmp_path):
    for path in NOTEBOOKS:
        copy = tmp_path / path.relative_to(REPO)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(path.read_bytes())
        assert colab.sync_notebook(copy, tmp_path) is False, path.name


def test_sync_inserts_badge_and_setup_into_a_new_notebook(tmp_path):
    path = tmp_path / "notebooks" / "99_new.ipynb"
    path.parent.mkdir()
    path.write_text(json.dumps({"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# New"}],
                                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert colab.sync_notebook(path, tmp_path) is True
    cells = json.loads(path.read_text())["cells"]
    assert source(cells[0]) == colab.badge_source("notebooks/99_new.ipynb")
    assert source(cells[1]) == colab.setup_source() and source(cells[2]) == "# New"
