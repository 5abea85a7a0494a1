"""Release the exercise notebooks to students: ``python -m course_utils.exercises release OUT/ [LESSON...]``.

The first step of the teacher's workflow (release, then ``grade``, whose feedback files go back to the
students), as in nbgrader and Otter-Grader. Each lesson's exercises notebook is written to ``OUT/`` under its
usual name (``NN_<topic>_exercises.ipynb``, the name the grader recognises), built from the same sources as
``notebooks/exercises/``, with every way to the solutions taken out:

- no ``# ex.qN.solution()`` line in the check cells, and no link to, or mention of, the solutions notebook;
- no "Open in Colab" badge (it opens the repository's copy, which links to the solutions);
- no stored outputs;
- ``ex.qN.check(...)`` and ``ex.qN.hint()`` stay: the checks say what looks wrong without the answer, and the
  hints are nudges. The check cells cannot be deleted by accident (cell metadata ``deletable: false``).

Before writing, every notebook is searched for what could still show a solution (``revealing``): a call to
``solution()``, ``solution_code``, a link to a solutions notebook, or a line of a solution's code that its stub
does not have. A hit stops the release.

**What release does not do:** it removes the solutions from the notebooks, not from the package. A student who
installs ``course_utils`` (as the notebooks' setup cell does on Colab) can still call ``ex.q1.solution()`` or
open the package's ``solutions/`` files and the solutions notebooks of the repository. ``grade`` flags a
submission that calls ``solution()`` in its code, but a student can read one elsewhere. Grade exercises as
practice, not as an exam.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from course_utils.exercises import (
    EXERCISES_DIR,
    lesson_sources,
    lessons,
    notebook_cells,
    notebook_path,
    questions,
)

_METADATA = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
             "language_info": {"name": "python"}}
_SOLUTION_CALL = re.compile(r"\.solution\s*\(|\bsolution_code\b|_solutions\.ipynb")
MIN_SOLUTION_LINE = 16  # characters: shorter lines of a solution (`return x`, `)`) give nothing away


def _intro(lesson: ModuleType) -> str:
    """The released notebook's introduction: the lesson's own words, how the checks work, no solutions."""
    sources = lesson_sources(lesson)
    number = lesson.LESSON[:2]
    return (f"# {number} · Exercises: {sources.title}\n\n"
            f"Practice for lesson {number}, {sources.title}. {sources.intro}\n\n"
            f"**How it works.** Each exercise has a cell to fill in (replace the `...` or the "
            f"`raise NotImplementedError`) and a check cell below it. Run both: `ex.q1.check(...)` says ✅ when "
            f"your answer is right, and otherwise what looks wrong, without giving the answer away. Stuck? "
            f"Uncomment `ex.q1.hint()` for a hint.\n\n"
            f"**Handing it in.** Keep the check cells as they are. Your notebook is graded by running it again "
            f"from the top, so run it that way yourself first (*Restart Kernel and Run All Cells*).")


_END = ("## Done?\n\nRestart the kernel and run every cell from the top: each check should say ✅. Then save the "
        "notebook and hand it in.")


def release_notebook(lesson: ModuleType) -> dict:
    """A lesson's exercises notebook as handed out to students (nbformat-4 JSON): no solutions, no outputs."""
    names = {question.name: question.answer_name for question in questions(lesson)}
    cells = []
    for cell_id, cell_type, source in notebook_cells(lesson, solutions=False):
        metadata: dict = {}
        if cell_id == "badge":
            continue  # the badge opens the repository's copy, whose links lead to the solutions
        if cell_id == "intro":
            source = _intro(lesson)
        elif cell_id == "end":
            source = _END
        elif cell_id.endswith("-check"):
            name = cell_id.removesuffix("-check")
            source = f"ex.{name}.check({names[name]});\n# ex.{name}.hint()\n"
            metadata = {"deletable": False}  # JupyterLab and Notebook refuse to delete it (not a lock)
        cell = {"cell_type": cell_type, "id": cell_id, "metadata": metadata,
                "source": source.splitlines(keepends=True)}
        if cell_type == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    return {"cells": cells, "metadata": _METADATA, "nbformat": 4, "nbformat_minor": 5}


def solution_lines(lesson: ModuleType) -> set[str]:
    """The lines of the lesson's solutions that its stubs and imports do not have (stripped, comments and
    lines shorter than ``MIN_SOLUTION_LINE`` left out): seeing one of them gives part of an answer away."""
    sources = lesson_sources(lesson)
    given = {line.strip() for line in sources.setup.splitlines()}
    found = set()
    for question in sources.questions.values():
        given_here = given | {line.strip() for line in question.stub.splitlines()}
        for line in question.solution.splitlines():
            line = line.strip()
            if len(line) >= MIN_SOLUTION_LINE and not line.startswith("#") and line not in given_here:
                found.add(line)
    return found


def revealing(nb: dict, lesson: ModuleType) -> list[str]:
    """What in notebook ``nb`` could show a solution of ``lesson``: one description per finding, [] if none."""
    problems = []
    secret = solution_lines(lesson)
    for number, cell in enumerate(nb["cells"], start=1):
        source = "".join(cell.get("source", ""))
        if match := _SOLUTION_CALL.search(source):
            problems.append(f"cell {number} has `{match.group(0)}`")
        if cell.get("outputs"):
            problems.append(f"cell {number} has stored outputs")
        for line in source.splitlines():
            if line.strip() in secret:
                problems.append(f"cell {number} has a line of a solution: `{line.strip()}`")
    return problems


def release(out: str | Path, wanted: Sequence[str] = ()) -> list[Path]:
    """Write the released exercises notebook of every lesson (or of the lesson numbers in ``wanted``) to ``out``.

    Raises ValueError for an unknown lesson number, for an ``out`` that is the repository's exercises folder
    (it would overwrite the notebooks with solutions links that the course itself uses), and for a notebook
    in which ``revealing`` finds something.
    """
    out = Path(out)
    if out.resolve() == EXERCISES_DIR.resolve():
        raise ValueError(f"{out} is the course's own exercises folder; release into another folder")
    numbers = {re.sub(r"\D", "", name).zfill(2) for name in wanted}  # "2", "02", "lesson02" -> "02"
    selected = [lesson for lesson in lessons() if not numbers or lesson.LESSON[:2] in numbers]
    if unknown := numbers - {lesson.LESSON[:2] for lesson in selected}:
        raise ValueError(f"no exercises for lesson(s) {sorted(unknown)}")
    notebooks = {}
    for lesson in selected:  # build and check them all before writing any
        nb = release_notebook(lesson)
        if problems := revealing(nb, lesson):
            raise ValueError(f"the released notebook of {lesson.LESSON} could show a solution: {'; '.join(problems)}")
        notebooks[out / notebook_path(lesson, "exercises").name] = nb
    out.mkdir(parents=True, exist_ok=True)
    for path, nb in notebooks.items():
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return list(notebooks)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m course_utils.exercises release OUT [LESSON...]``: write the notebooks to hand out."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.exercises release",
        description="Write the exercise notebooks to hand out to students: no solutions, no solution() calls, "
                    "no outputs; the checks and hints stay. The solutions are still in the installed package "
                    "(ex.q1.solution() works in any notebook): release takes them out of the notebooks only.")
    parser.add_argument("out", help="the folder to write NN_<topic>_exercises.ipynb into")
    parser.add_argument("lessons", nargs="*", help="lesson numbers (e.g. 02 03); default: all")
    args = parser.parse_args(argv)
    try:
        written = release(args.out, args.lessons)
    except ValueError as error:
        parser.error(str(error))
    for path in written:
        print(f"wrote {path}")
    print(f"\n{len(written)} notebook(s) to hand out. Collect them back one folder per student "
          f"(submissions/ada/...), then: python -m course_utils.exercises grade submissions/")
    return 0
