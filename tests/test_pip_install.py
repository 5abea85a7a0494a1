"""The path most learners take: ``course_utils`` installed with pip (as the Colab setup cell does), used
from an empty folder outside the clone.

A wheel is built from a copy of the package's files and installed, without ``-e``, into a fresh virtual
environment. That environment borrows torch and the other dependencies from this one through a ``.pth``
file (a plain path: this environment's editable install of the clone is not picked up), so nothing is
downloaded or reinstalled. Each test then works in its own empty folder, as a notebook on Colab works in
``/content``: lesson 01's data cell, lesson 07's checkpoint cell (the checkpoint fetched from a local HTTP
server standing in for the repository, through ``COURSE_CHECKPOINTS_URL``) and the training script.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from local_http import LocalServer

from course_utils import colab, pretrained, shapes

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_FILES = ["pyproject.toml", "README.md", "LICENSE", "course_utils"]  # what a wheel is built from
CHECKPOINT = REPO_ROOT / "data" / "checkpoints" / f"{pretrained.PRETRAINED}.pt"
pytestmark = pytest.mark.integration  # run by .ci/run and `pytest -m integration`, not by the plain `pytest`

# Runs notebook cells, magics included, in one IPython shell (as a notebook kernel would); stops at the
# first cell that fails.
RUN_CELLS = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
for source in json.loads(open(sys.argv[1], encoding="utf-8").read()):
    if not shell.run_cell(source).success:
        sys.exit(1)
"""


def code_cells(notebook: str) -> list[str]:
    """The source of every code cell of ``notebooks/<notebook>``."""
    cells = json.loads((REPO_ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))["cells"]
    return [colab.cell_source(cell) for cell in cells if cell["cell_type"] == "code"]


def cell_with(cells: list[str], text: str) -> str:
    """The first cell whose source holds ``text`` (cells are found by what they do, not by position)."""
    matches = [cell for cell in cells if text in cell]
    assert matches, f"no code cell holds {text!r}"
    return matches[0]


def build_isolation_args() -> list[str]:
    """``--no-build-isolation`` when this environment already has the build requirements of pyproject.toml
    (nothing to download), else nothing: pip then fetches them into an isolated build environment."""
    try:
        import tomllib
        from packaging.requirements import Requirement
    except ImportError:  # Python 3.10 or no packaging: let pip decide
        return []
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    for requirement in map(Requirement, requires):
        try:
            if not requirement.specifier.contains(version(requirement.name), prereleases=True):
                return []
        except PackageNotFoundError:
            return []
    return ["--no-build-isolation"]


class Installed:
    """The fresh virtual environment with the wheel installed."""

    def __init__(self, python: Path, site_packages: Path) -> None:
        self.python = python
        self.site_packages = site_packages
        self.env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "PYTHONHOME"}}
        self.env.update({"PYTHONNOUSERSITE": "1", "MPLBACKEND": "Agg", "TQDM_DISABLE": "1",
                         "no_proxy": "127.0.0.1,localhost"})

    def run(self, args: list[str], cwd: Path, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
        """Run the environment's Python with ``args`` in ``cwd``; fail with its output unless it succeeds."""
        result = subprocess.run([str(self.python), *args], cwd=cwd, env={**self.env, **(env or {})},
                                capture_output=True, text=True, timeout=600)
        if check and result.returncode != 0:
            pytest.fail(f"python {' '.join(args)} failed in {cwd} (exit {result.returncode}):\n"
                        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def run_cells(self, cells: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
        """Run notebook cells in order in ``cwd``, as a learner does; return what they printed."""
        script = cwd.parent / f"{cwd.name}_cells.json"
        script.write_text(json.dumps(cells), encoding="utf-8")
        return self.run(["-c", RUN_CELLS, str(script)], cwd, env).stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    """Build a wheel of the package and install it, with no ``-e``, into a fresh virtual environment."""
    root = tmp_path_factory.mktemp("pip_install")
    source = root / "source"  # a copy: building in the clone would leave build/ behind in it
    for name in PACKAGE_FILES:
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(REPO_ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "wheel", "--quiet", "--no-deps", *build_isolation_args(), "--wheel-dir",
                    str(root / "dist"), str(source)], check=True)
    (wheel,) = (root / "dist").glob("course_utils-*.whl")

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = root / "venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site_packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        capture_output=True, text=True, check=True).stdout.strip())
    # torch & co. from this environment: a plain path line, so its .pth files (the editable clone) are not read
    (site_packages / "_course_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([*pip, "--python", str(python), "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
                   check=True)
    return Installed(python, site_packages)


def test_course_utils_is_imported_from_the_wheel(installed, tmp_path):
    printed = installed.run(["-c", "import course_utils, course_utils.shapes as s; "
                                   "print(course_utils.__file__); print(s.default_data_dir())"], tmp_path).stdout
    module, data_dir = (Path(line) for line in printed.splitlines()[-2:])
    assert module.is_relative_to(installed.site_packages), module
    assert not module.resolve().is_relative_to(REPO_ROOT), f"imported from the clone: {module}"
    assert data_dir == tmp_path.resolve() / "data"  # outside a clone, datasets go under ./data


def test_the_wheel_ships_the_committed_results_the_lessons_read(installed, tmp_path):
    shipped = installed.site_packages / "course_utils" / "experiments" / "results"
    committed = REPO_ROOT / "course_utils" / "experiments" / "results"
    names = sorted(str(path.relative_to(committed)) for path in committed.rglob("*.json"))
    assert "reruns/pooling_lr_cls_8e-4_seed3_avx2.json" in names  # lesson 10 reads the one re-run
    assert sorted(str(path.relative_to(shipped)) for path in shipped.rglob("*.json")) == names


def test_lesson_01_data_cell_generates_the_data_in_the_working_folder(installed, tmp_path):
    cells = code_cells("01_data.ipynb")
    printed = installed.run_cells([
        cell_with(cells, '"google.colab" in sys.modules'),  # the setup cell: a no-op off Colab
        cell_with(cells, "from course_utils import"),  # the imports
        cell_with(cells, 'shapes.get_dataset("shapes_small")'),  # the data cell
        "from pathlib import Path\n"
        "assert shapes_root == Path.cwd() / 'data' / 'shapes', shapes_root\n"
        "assert small_root == Path.cwd() / 'data' / 'shapes_small', small_root\n",
    ], tmp_path)
    small = shapes.PRESETS["shapes_small"]
    for name, spec in [("shapes", shapes.PRESETS["shapes"]), ("shapes_small", small)]:
        for class_name in spec.classes:
            assert len(list((tmp_path / "data" / name / "train" / class_name).glob("*.png"))) == spec.train_per_class
    assert f"{small.test_per_class} images in 'data/shapes_small/test/circle'" in printed, printed


def test_lesson_07_checkpoint_cell_fetches_the_checkpoint(installed, tmp_path):
    cells = code_cells("07_why_pretraining_matters.ipynb")
    classes = sorted(shapes.PRESETS["shapes_pretrain"].classes)
    with LocalServer(REPO_ROOT) as repository:  # stands in for the repository on GitHub
        printed = installed.run_cells([
            cell_with(cells, '"google.colab" in sys.modules'),
            cell_with(cells, "from course_utils import"),
            cell_with(cells, "device = get_device()"),
            # stands in for the cell that draws 21,000 images only to list the classes the checkpoint knows
            f"datasets = {{'shapes_pretrain': {classes!r}}}",
            cell_with(cells, "pretrained_checkpoint()"),  # the checkpoint cell
        ], tmp_path, env={pretrained.CHECKPOINTS_URL_VARIABLE: f"{repository.url}/data/checkpoints"})
    fetched = tmp_path / "data" / "checkpoints" / CHECKPOINT.name
    assert f"Downloading {repository.url}/data/checkpoints/{CHECKPOINT.name}" in printed, printed
    assert fetched.read_bytes() == CHECKPOINT.read_bytes()
    assert f"classes it knows: {classes}" in printed, printed


def test_a_checkpoint_that_cannot_be_fetched_gives_a_clear_error(installed, tmp_path):
    with LocalServer(tmp_path) as empty:
        url = f"{empty.url}/checkpoints"
        work = tmp_path / "work"
        work.mkdir()
        result = installed.run(["-c", "from course_utils.pretrained import pretrained_checkpoint; "
                                      "pretrained_checkpoint()"], work,
                               env={pretrained.CHECKPOINTS_URL_VARIABLE: url}, check=False)
    assert result.returncode != 0
    for expected in [f"{url}/{CHECKPOINT.name}", "HTTP 404", pretrained.CHECKPOINTS_URL_VARIABLE]:
        assert expected in result.stderr, result.stderr[-2000:]
    assert not (work / "data" / "checkpoints" / CHECKPOINT.name).exists()


def test_training_script_runs_from_an_empty_folder(installed, tmp_path):
    installed.run(["-m", "course_utils.train", "--epochs", "1", "--data", "shapes_small", "--quiet"], tmp_path,
                  env={"OMP_NUM_THREADS": "1"})
    run = tmp_path / "runs" / "vit_shapes"
    assert {"checkpoint.pt", "results.json", "loss_curves.png"} <= {path.name for path in run.iterdir()}
    results = json.loads((run / "results.json").read_text())
    assert len(results["train_loss"]) == len(results["test_acc"]) == 1
    assert results["epochs_done"] == 1 and 0.0 <= results["final_test_acc"] <= 1.0
    assert (tmp_path / "data" / "shapes_small" / "train").is_dir()  # the data set was made here, not in the clone
