"""Grade submitted exercise notebooks: ``python -m course_utils.exercises grade SUBMISSION...``.

Each submission (an ``.ipynb`` file, or every notebook under a folder) is executed again from the top, in a
fresh Jupyter kernel, with a time limit. The verdict of every ``ex.qN.check(...)`` in that run goes to
``gradebook.csv``: one row per (submission, lesson, question) with the status (correct / wrong / not
attempted / error), the checker's message and the notebook's run time. A summary per student and per question
is printed.

**It runs the students' code. It is not a sandbox.** A notebook can do anything its author can do on your
machine: read and write your files, use the network, start processes. Grade in a container or a throw-away
account if you do not trust the authors.

What it does guard against
--------------------------
- **Edited outputs and printed ticks.** The verdicts are never read from the notebook's stored outputs (the
  grader discards them before running) nor from anything the notebook prints. While the grader runs a
  notebook, ``Question.check`` appends each verdict as a JSON line to a results file whose path it finds in
  the ``COURSE_UTILS_GRADE_RESULTS`` environment variable; that file lives in a temporary folder outside the
  notebook's working folder. Printing "✅ Correct!", ``display()``-ing it or editing the JSON of the outputs
  adds nothing to that file. A check cell that runs but leaves no verdict (the checker was replaced, say) is
  reported as an error. Code that deliberately writes to the results file, or patches the checker in its own
  kernel, can still forge a verdict: no in-process channel can stop that; only a sandbox with hidden tests
  could.
- **Broken notebooks.** Invalid JSON, cells that raise, kernels that die, infinite loops (the time limit,
  per notebook, default 5 minutes) and cells that print megabytes (outputs are not kept, only error names)
  each end as rows with status "error" and a message that says what happened; the grader goes on with the
  next submission. Every question of the lesson gets a row, also those the run never reached (the grader
  knows the questions from the ``lessonNN`` module).
- **Submissions are never modified.** Each notebook runs in a temporary copy of its folder (hidden files,
  symbolic links and the other notebooks left out), so a cell that deletes the files of its working folder
  deletes copies. The submission file itself is only read.

Which lesson and which student
------------------------------
The lesson comes from the notebook's ``from course_utils.exercises import lessonNN`` (or, for a notebook that
cannot be read, from a file name that starts with the lesson number, like the exercise notebooks' own names).
The student is the first folder below a folder you name (``submissions/ada/...``), or the notebook's file
name without ``.ipynb`` when the notebook sits directly in that folder or is named itself.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from course_utils.exercises import GRADE_RESULTS_ENV, lessons, questions

STATUSES = ("correct", "wrong", "not attempted", "error")
COLUMNS = ("student", "submission", "lesson", "question", "status", "message", "seconds")
DEFAULT_TIMEOUT = 300.0  # seconds per notebook
MAX_NOTEBOOK_BYTES = 50_000_000  # a bigger file is not read, let alone run
MAX_RESULTS_BYTES = 10_000_000  # the most of the results file that is read
MAX_FOLDER_BYTES, MAX_FOLDER_FILES = 200_000_000, 10_000  # a bigger folder is not copied, only the notebook
MAX_MESSAGE = 500  # characters of a message kept in the gradebook
STARTUP_TIMEOUT = 120  # seconds for a kernel to start (not counted in the time limit)

_IMPORT = re.compile(r"\bcourse_utils\.exercises\s+import\s+(lesson\d\d)\b(?:\s+as\s+(\w+))?"
                     r"|\bcourse_utils\.exercises\.(lesson\d\d)\b(?:\s+as\s+(\w+))?")
_CHECK = re.compile(r"^(?!\s*#)[^#\n]*?\b(\w+)\.(q\d+)\.check\(", re.MULTILINE)
_LESSON_NUMBER = re.compile(r"^(\d\d)_")


@dataclass(frozen=True)
class Submission:
    """A notebook to grade: its path, the student it belongs to, and the path as the gradebook shows it."""

    path: Path
    student: str
    label: str


@dataclass
class Row:
    """One line of the gradebook."""

    student: str
    submission: str
    lesson: str
    question: str
    status: str
    message: str
    seconds: float


@dataclass
class _Run:
    """What happened when a notebook ran: check verdicts, cell errors, and where (and why) it stopped."""

    verdicts: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # last one per question
    errors: dict[int, str] = field(default_factory=dict)  # cell index -> "NameError: ..."
    stopped_at: int | None = None  # the cell the run stopped in, if it stopped early
    stop_reason: str = ""
    failure: str = ""  # the notebook did not run at all (the kernel did not start, ...)
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------------------------
# Finding submissions
# ---------------------------------------------------------------------------------------------------------

def _label(path: Path) -> str:
    """The path relative to the current folder if it is below it, else absolute; with forward slashes."""
    try:
        return path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def find_submissions(paths: Sequence[str | Path]) -> list[Submission]:
    """The notebooks named by ``paths`` (files, or folders searched recursively), in order, each once.

    Hidden files and folders (``.ipynb_checkpoints`` among them) are skipped. Raises FileNotFoundError for a
    path that does not exist.
    """
    found: dict[Path, Submission] = {}
    for given in paths:
        given = Path(given)
        if not given.exists():
            raise FileNotFoundError(f"no such file or folder: {given}")
        root = given.resolve()
        if root.is_file():
            found.setdefault(root, Submission(root, root.stem, _label(root)))
            continue
        notebooks = sorted(p for p in root.rglob("*.ipynb")
                           if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))
        for path in notebooks:
            relative = path.relative_to(root)
            student = relative.parts[0] if len(relative.parts) > 1 else path.stem
            found.setdefault(path, Submission(path, student, _label(path)))
    return list(found.values())


# ---------------------------------------------------------------------------------------------------------
# Running one notebook
# ---------------------------------------------------------------------------------------------------------

def clean_message(message: str) -> str:
    """A checker's message as the gradebook stores it: one line, without the leading ✅/❌/⏳, at most
    ``MAX_MESSAGE`` characters."""
    text = " ".join(str(message).split())
    for mark in ("✅", "❌", "⏳"):
        if text.startswith(mark):
            text = text[len(mark):].lstrip()
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"


def _first_line(source: str) -> str:
    line = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return line if len(line) <= 60 else line[:59] + "…"


def _ignore_for_copy(notebook: Path) -> Callable[[str, list[str]], set[str]]:
    """A ``shutil.copytree`` ignore function: hidden entries, caches, symbolic links and other notebooks."""
    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set()
        for name in names:
            path = Path(folder, name)
            other_notebook = name.endswith(".ipynb") and path != notebook
            if name.startswith(".") or name == "__pycache__" or path.is_symlink() or other_notebook:
                skipped.add(name)
        return skipped
    return ignore


def _small_folder(folder: Path, notebook: Path) -> bool:
    """True if the folder (as it would be copied) holds at most MAX_FOLDER_BYTES in MAX_FOLDER_FILES files."""
    ignore, size, files = _ignore_for_copy(notebook), 0, 0
    for parent, dirs, names in os.walk(folder):
        skipped = ignore(parent, dirs + names)
        dirs[:] = [d for d in dirs if d not in skipped]
        for name in names:
            if name in skipped:
                continue
            files += 1
            size += os.lstat(os.path.join(parent, name)).st_size
            if files > MAX_FOLDER_FILES or size > MAX_FOLDER_BYTES:
                return False
    return True


def _copy_workspace(notebook: Path, data: bytes, work: Path) -> Path:
    """Copy the notebook's folder to ``work`` and write the notebook's bytes there; return the copy's path."""
    folder = notebook.parent
    if _small_folder(folder, notebook):
        shutil.copytree(folder, work, ignore=_ignore_for_copy(notebook), symlinks=True)
    else:
        print(f"note: {folder} is large; {notebook.name} runs in an empty folder", file=sys.stderr)
        work.mkdir()
    copy = work / notebook.name
    copy.write_bytes(data)
    return copy


def _read_verdicts(path: Path, known: dict[str, list[str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """The last verdict of each known question in the results file (malformed lines are skipped)."""
    verdicts: dict[tuple[str, str], tuple[str, str]] = {}
    if not path.exists():
        return verdicts
    with open(path, "rb") as results:
        text = results.read(MAX_RESULTS_BYTES).decode("utf-8", errors="replace")
    for line in text.splitlines():
        try:
            record = json.loads(line)
            lesson, question, status = record["lesson"], record["question"], record["status"]
            message = str(record.get("message", ""))
        except (ValueError, KeyError, TypeError):
            continue
        if question in known.get(lesson, ()) and status in STATUSES:
            verdicts[(lesson, question)] = (status, message)
    return verdicts


async def _execute(nb: Any, work: Path, results: Path, timeout: float, kernel_name: str) -> _Run:
    """Run ``nb`` in a fresh kernel in ``work``; the checks write their verdicts to ``results``."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    run = _Run()

    class Client(NotebookClient):
        """Keeps no outputs (a flood of prints costs no memory) and enforces one deadline for all the cells."""

        started: float | None = None
        current: int | None = None

        def remaining(self, cell: Any = None) -> float:
            return max(0.01, (self.started or time.monotonic()) + timeout - time.monotonic())

        async def async_execute_cell(self, cell: Any, cell_index: int, execution_count: int | None = None,
                                     store_history: bool = True) -> Any:
            if self.started is None:
                self.started = time.monotonic()
            self.current = cell_index
            if cell.cell_type == "code" and cell.source.strip() and time.monotonic() >= self.started + timeout:
                raise CellTimeoutError("time limit")
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

        def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> None:
            return None  # outputs are never read: errors come from the execute replies (record_error)

        def handle_comm_msg(self, outs: list, msg: dict, cell_index: int) -> None:
            return None  # widgets: nothing to keep

    def record_error(cell: Any, cell_index: int, execute_reply: dict) -> None:
        content = execute_reply.get("content", {})
        error = f"{content.get('ename', 'an error')}: {content.get('evalue', '')}"
        run.errors.setdefault(cell_index, error if len(error) <= 300 else error[:299] + "…")

    client = Client(nb, kernel_name=kernel_name, allow_errors=True, shutdown_kernel="immediate",
                    startup_timeout=STARTUP_TIMEOUT, timeout=int(timeout) + 1, record_timing=False,
                    resources={"metadata": {"path": str(work)}}, on_cell_error=record_error)
    client.timeout_func = client.remaining
    env = {**os.environ, GRADE_RESULTS_ENV: str(results), "TQDM_DISABLE": "1"}
    start = time.monotonic()
    try:
        await asyncio.wait_for(client.async_execute(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                               timeout + STARTUP_TIMEOUT + 60)
    except (CellTimeoutError, asyncio.TimeoutError):
        run.stopped_at = client.current
        run.stop_reason = f"the time limit ({timeout:g} s) ran out"
    except DeadKernelError:
        run.stopped_at = client.current
        run.stop_reason = "the kernel died (the notebook crashed Python or ran out of memory)"
    except Exception as error:  # the kernel did not start, or nbclient failed: report it, go on
        if client.current is None:
            run.failure = f"the notebook could not be run: {type(error).__name__}: {error}"
        else:
            run.stopped_at = client.current
            run.stop_reason = f"the run failed ({type(error).__name__}: {error})"
    run.seconds = time.monotonic() - start
    return run


# ---------------------------------------------------------------------------------------------------------
# From a run to rows
# ---------------------------------------------------------------------------------------------------------

def _lessons_in(nb: Any, modules: dict[str, ModuleType]) -> tuple[list[str], dict[str, str]]:
    """The lesson modules a notebook imports, in order, and the names it imports them as."""
    found: list[str] = []
    aliases: dict[str, str] = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for match in _IMPORT.finditer(cell.source):
            lesson = match.group(1) or match.group(3)
            alias = match.group(2) or match.group(4) or lesson
            if lesson in modules:
                if lesson not in found:
                    found.append(lesson)
                aliases[alias] = lesson
    return found, aliases


def _lesson_from_name(path: Path, modules: dict[str, ModuleType]) -> list[str]:
    match = _LESSON_NUMBER.match(path.name)
    return [f"lesson{match.group(1)}"] if match and f"lesson{match.group(1)}" in modules else []


def _check_cells(nb: Any, aliases: dict[str, str], lessons_found: list[str]) -> dict[tuple[str, str], list[int]]:
    """(lesson, question) -> the indices of the cells that call its check."""
    cells: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for name, question in _CHECK.findall(cell.source):
            lesson = aliases.get(name, lessons_found[0] if len(lessons_found) == 1 else None)
            if lesson:
                cells[(lesson, question)].append(index)
    return cells


def _rows_for(submission: Submission, lesson_names: list[str], modules: dict[str, ModuleType],
              seconds: float, status: str, message: str) -> list[Row]:
    """The same status and message for every question of the lessons (or one row if no lesson is known)."""
    rows = [Row(submission.student, submission.label, name, question.name, status, message, seconds)
            for name in lesson_names for question in questions(modules[name])]
    return rows or [Row(submission.student, submission.label, "", "", status, message, seconds)]


def grade_notebook(submission: Submission, timeout: float = DEFAULT_TIMEOUT, kernel_name: str = "python3") -> list[Row]:
    """Run one submission in a fresh kernel and return its gradebook rows (never raises for a bad notebook)."""
    return asyncio.run(_grade_notebook(submission, timeout, kernel_name, _lesson_modules()))


def _lesson_modules() -> dict[str, ModuleType]:
    return {module.__name__.rsplit(".", 1)[-1]: module for module in lessons()}


async def _grade_notebook(submission: Submission, timeout: float, kernel_name: str,
                          modules: dict[str, ModuleType]) -> list[Row]:
    import nbformat

    start = time.monotonic()

    def unreadable(reason: str) -> list[Row]:
        return _rows_for(submission, _lesson_from_name(submission.path, modules), modules,
                         round(time.monotonic() - start, 1), "error", f"could not read the notebook: {reason}")

    try:
        if submission.path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return unreadable(f"it is larger than {MAX_NOTEBOOK_BYTES // 1_000_000} MB")
        data = submission.path.read_bytes()
        text = data.decode("utf-8")
        json.loads(text)
    except UnicodeDecodeError:
        return unreadable("it is not UTF-8 text")
    except json.JSONDecodeError as error:
        return unreadable(f"it is not valid JSON ({error.msg}, line {error.lineno}, column {error.colno})")
    except OSError as error:
        return unreadable(f"{type(error).__name__}: {error.strerror or error}")
    try:
        nb = nbformat.reads(text, as_version=4, capture_validation_error={})
        for cell in nb.cells:
            cell.source = cell.get("source", "")
            if cell.get("cell_type") == "code":
                cell.outputs, cell.execution_count = [], None  # stored outputs are never read
    except Exception as error:
        return unreadable(f"it is not a notebook ({type(error).__name__}: {clean_message(str(error))[:200]})")

    found, aliases = _lessons_in(nb, modules)
    known = {name: [q.name for q in questions(module)] for name, module in modules.items()}
    # Two unrelated temporary folders: deleting the working folder, or its parent, leaves the results alone.
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp, \
            tempfile.TemporaryDirectory(prefix="course-grade-results-") as results_dir:
        results = Path(results_dir, "results.jsonl")
        work = Path(tmp, "work")
        try:
            _copy_workspace(submission.path, data, work)
        except OSError as error:
            return _rows_for(submission, found or _lesson_from_name(submission.path, modules), modules,
                             round(time.monotonic() - start, 1), "error",
                             f"could not copy the notebook's folder: {error}")
        run = await _execute(nb, work, results, timeout, kernel_name)
        run.verdicts = _read_verdicts(results, known)

    seconds = round(time.monotonic() - start, 1)
    lesson_names = found or sorted({lesson for lesson, _ in run.verdicts}) or _lesson_from_name(submission.path, modules)
    if run.failure:
        return _rows_for(submission, lesson_names, modules, seconds, "error", run.failure)
    if not lesson_names:
        return _rows_for(submission, [], modules, seconds, "error",
                         "could not tell which lesson this notebook is for: it imports no "
                         "course_utils.exercises lesson module, and its name does not start with a lesson number")
    check_cells = _check_cells(nb, aliases, lesson_names)
    rows = []
    for name in lesson_names:
        for question in questions(modules[name]):
            status, message = _question_status(run, nb, (name, question.name), check_cells.get((name, question.name), []))
            rows.append(Row(submission.student, submission.label, name, question.name, status,
                            clean_message(message), seconds))
    return rows


def _question_status(run: _Run, nb: Any, key: tuple[str, str], cells: list[int]) -> tuple[str, str]:
    """The status and message of one question, from its last verdict or from what happened to its cells."""
    if key in run.verdicts:
        return run.verdicts[key]
    call = f"ex.{key[1]}.check(...)"
    if not cells:
        return "not attempted", f"the notebook has no check cell for this question ({call})"
    for index in cells:
        if index in run.errors and (run.stopped_at is None or index < run.stopped_at):
            return "error", f"the check cell (cell {index + 1}) raised {run.errors[index]}"
    if run.stopped_at is not None and max(cells) >= run.stopped_at:
        source = _first_line(nb.cells[run.stopped_at].source)
        return "error", f"not checked: {run.stop_reason} in cell {run.stopped_at + 1} (`{source}`)"
    return "error", (f"the check cell (cell {cells[-1] + 1}) ran but left no verdict: was {call} changed "
                     f"or replaced?")


# ---------------------------------------------------------------------------------------------------------
# Grading a class
# ---------------------------------------------------------------------------------------------------------

async def _grade_all(submissions: Sequence[Submission], timeout: float, jobs: int, kernel_name: str,
                     progress: bool) -> list[list[Row]]:
    modules = _lesson_modules()
    slots = asyncio.Semaphore(max(1, jobs))

    async def one(number: int, submission: Submission) -> list[Row]:
        async with slots:
            try:
                rows = await _grade_notebook(submission, timeout, kernel_name, modules)
            except Exception as error:  # a bug of ours must not stop the class
                rows = _rows_for(submission, _lesson_from_name(submission.path, modules), modules, 0.0, "error",
                                 f"grading failed: {type(error).__name__}: {error}")
            if progress:
                tally = Counter(row.status for row in rows)
                print(f"[{number}/{len(submissions)}] {submission.label}: "
                      f"{tally['correct']}/{len(rows)} correct ({rows[0].seconds:.0f} s)", flush=True)
            return rows

    return await asyncio.gather(*(one(i, s) for i, s in enumerate(submissions, start=1)))


def grade(paths: Sequence[str | Path], output: str | Path = "gradebook.csv", timeout: float = DEFAULT_TIMEOUT,
          jobs: int = 1, kernel_name: str = "python3", progress: bool = False) -> list[Row]:
    """Grade every submission under ``paths``, write the gradebook CSV to ``output`` and return its rows.

    Args:
        paths: notebooks, or folders searched recursively for them.
        output: where the gradebook goes (written atomically; never one of the submissions).
        timeout: seconds the cells of one notebook may run in all.
        jobs: how many notebooks run at the same time.
        kernel_name: the Jupyter kernel to run them with.
        progress: print one line per graded notebook.
    """
    from course_utils.utils import atomic_write

    submissions = find_submissions(paths)
    output = Path(output)
    if output.resolve() in {s.path for s in submissions}:
        raise ValueError(f"the gradebook would overwrite a submission: {output}")
    graded = asyncio.run(_grade_all(submissions, timeout, jobs, kernel_name, progress))
    rows = [row for rows in graded for row in rows]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(COLUMNS)
            writer.writerows(astuple(row) for row in rows)

    atomic_write(output, write)
    return rows


def summary(rows: Sequence[Row]) -> str:
    """The per-student and per-question tallies, as text."""
    modules = _lesson_modules()
    titles = {f"{name} {q.name}": q.title.replace("`", "") for name, module in modules.items()
              for q in questions(module)}

    def table(title: str, keys: list[str], key_of: Any, notes: dict[str, str]) -> list[str]:
        tally: dict[str, Counter] = {key: Counter() for key in keys}
        for row in rows:
            tally[key_of(row)][row.status] += 1
        width = max([len(title), *map(len, keys)])
        lines = [f"{title:<{width}}  {'correct':>7}  {'wrong':>5}  {'not attempted':>13}  {'error':>5}"]
        for key in keys:
            counts, total = tally[key], sum(tally[key].values())
            lines.append(f"{key:<{width}}  {counts['correct']:>3}/{total:<3}  {counts['wrong']:>5}  "
                         f"{counts['not attempted']:>13}  {counts['error']:>5}  {notes.get(key, '')}".rstrip())
        return lines

    def question_of(row: Row) -> str:
        return f"{row.lesson} {row.question}".strip() or "(no lesson)"

    students = list(dict.fromkeys(row.student for row in rows))
    question_keys = list(dict.fromkeys(map(question_of, rows)))
    return "\n".join([*table("student", students, lambda row: row.student, {}), "",
                      *table("question", question_keys, question_of, titles)])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m course_utils.exercises grade SUBMISSION...``: grade notebooks, write the gradebook CSV."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.exercises grade",
        description="Re-execute submitted exercise notebooks in fresh kernels and write a gradebook CSV (one row "
                    "per submission, lesson and question). It runs the students' code: it is NOT a sandbox.")
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                        help="a notebook, or a folder searched for notebooks (one folder per student works well)")
    parser.add_argument("-o", "--output", default="gradebook.csv", help="the gradebook CSV (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds the cells of one notebook may run in all (default: %(default)g)")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run at the same time (default: 1)")
    parser.add_argument("--kernel", default="python3", help="the Jupyter kernel (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.timeout <= 0 or args.jobs < 1:
        parser.error("--timeout must be positive and --jobs at least 1")
    try:
        submissions = find_submissions(args.submissions)
    except FileNotFoundError as error:
        parser.error(str(error))
    if not submissions:
        parser.error("no .ipynb files found")
    print(f"Grading {len(submissions)} notebook(s), at most {args.timeout:g} s each. This runs the students' "
          f"code on this machine: it is not a sandbox.", flush=True)
    try:
        rows = grade(args.submissions, args.output, args.timeout, args.jobs, args.kernel, progress=True)
    except ValueError as error:
        parser.error(str(error))
    print(f"\nWrote {len(rows)} rows to {args.output}\n")
    print(summary(rows))
    return 0
