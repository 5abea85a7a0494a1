"""The two cells every notebook opens with: an "Open in Colab" badge and a Colab-only setup cell.

The repository they point to is defined here, once. A fork sets ``REPOSITORY`` (and ``BRANCH``) below and
runs ``python -m course_utils.colab`` to rewrite the badge and setup cell of every notebook;
``tests/test_notebooks.py`` checks that every notebook carries both, pointing to its own path.
"""

from __future__ import annotations

import json
from pathlib import Path

REPOSITORY = "vit-replication-course/vit-paper-replication"  # GitHub "owner/name"
BRANCH = "main"
NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def colab_url(notebook: str | Path) -> str:
    """The address that opens ``notebook`` (a path relative to the repo root) in Google Colab."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{Path(notebook).as_posix()}"


def badge_source(notebook: str | Path) -> str:
    """The markdown of the "Open in Colab" badge for ``notebook`` (a path relative to the repo root)."""
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(notebook)})"


def setup_source() -> str:
    """The setup cell: installs ``course_utils`` from the repository on Colab, does nothing elsewhere."""
    return (
        "# Setup: on Google Colab, install the course's companion package from the repository.\n"
        "# Locally (after `pip install -r requirements.txt`) this cell does nothing.\n"
        "import sys\n"
        "\n"
        "if \"google.colab\" in sys.modules:\n"
        f"    %pip install --quiet \"course_utils @ git+https://github.com/{REPOSITORY}@{BRANCH}\"\n"
    )


def cell_source(cell: dict) -> str:
    """A notebook cell's text (the JSON holds it as one string or as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def notebook_paths() -> list[Path]:
    """Every notebook of the course, lessons and exercises, sorted (Jupyter's checkpoint copies left out)."""
    return sorted(p for p in NOTEBOOKS_DIR.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def sync_notebook(path: Path, repo_root: Path) -> bool:
    """Make cell 0 the badge and cell 1 the setup cell of notebook ``path``. Returns True if it changed."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = notebook["cells"]
    badge = badge_source(path.resolve().relative_to(repo_root.resolve()))
    changed = False
    if cells and cells[0]["cell_type"] == "markdown" and "colab-badge.svg" in cell_source(cells[0]):
        if cell_source(cells[0]) != badge:
            cells[0]["source"], changed = badge, True
    else:
        cells.insert(0, {"cell_type": "markdown", "metadata": {}, "source": badge})
        changed = True
    setup = setup_source()
    if len(cells) > 1 and cells[1]["cell_type"] == "code" and "google.colab" in cell_source(cells[1]):
        if cell_source(cells[1]) != setup:
            cells[1]["source"], changed = setup, True
    else:
        cells.insert(1, {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                         "source": setup})
        changed = True
    if changed:
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


def main() -> None:
    repo_root = NOTEBOOKS_DIR.parent
    for path in notebook_paths():
        if sync_notebook(path, repo_root):
            print(f"updated {path.relative_to(repo_root)}")


if __name__ == "__main__":
    main()
