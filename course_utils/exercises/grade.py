"""Grade submitted exercise notebooks: ``python -m course_utils.exercises grade SUBMISSION...``.

Each submission (an ``.ipynb`` file, or every notebook under a folder) is executed again from the top, in a
fresh Jupyter kernel, with a time limit. The verdict of every ``ex.qN.check(...)`` in that run is graded. The
grader writes, beside each other (``-o gradebook.csv`` names the first; the others follow its name):

- ``gradebook.csv``, the long gradebook: one row per (submission, lesson, question) with the status (correct /
  wrong / not attempted / error), the flags (below), the checker's message and the notebook's run time;
- ``gradebook_wide.csv``: one row per student, the flags, a column per question (1 correct, 0 not), the total
  and the number of questions;
- ``gradebook_summary.txt``: the tallies per student and per question, and the flagged submissions, as
  printed at the end;
- ``feedback/<student>.md``: for each student, every question's verdict and the checker's message, to send back.

This is the "grade" and "feedback" of the workflow that nbgrader and Otter-Grader follow; ``release`` (in
``course_utils/exercises/release.py``) makes the notebooks to hand out.

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
  reported as an error.
- **Patched checks are flagged, not prevented.** Code in the notebook's own kernel can replace a checker
  (``ex.q4._check = lambda answer: None``) or write to the results file, and so forge a verdict: no
  in-process channel can stop that; only a sandbox with hidden tests could. What the grader does is make it
  visible, in the ``flags`` column of both gradebooks and in the summary (the feedback files leave flags out:
  they are for you to review, not verdicts). Two kinds of evidence:

  - *read from the code* (``code_flags``): assignments to, or ``setattr``/``mock.patch`` of, the exercise
    modules and their questions (``ex.*``), to ``check``/``_check``/``_verdict``/``expected`` of any object;
    rebinding ``ex``; naming ``COURSE_UTILS_GRADE_RESULTS`` or ``_record_for_grader``; code run from a
    string (``exec``, ``eval``); calling ``solution()``; and a ✅ written in the code, which prints a verdict
    mark without a check;
  - *seen in the run*: a cell the grader adds after the notebook's own looks at the kernel (is each
    question's ``check``, ``_check`` and ``_verdict`` still the course's code, does ``ex`` still name the
    lesson, is the results variable unchanged); a verdict for a question whose check cell the notebook does
    not have; and a check cell whose stored output shows ✅ while the run's verdict is wrong or not
    attempted (edited outputs, or cells that were run out of order).
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
The student is the first folder below a folder you name (``grade submissions/`` with ``submissions/ada/...``).
A notebook directly in the folder you name, or named itself, belongs to the student its file is named after
(``submissions/ada.ipynb``), unless its name starts with a lesson number, like the released notebooks'
(``00_the_paper_exercises.ipynb``): then the folder it is in names the student (``grade submissions/ada/``).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import csv
import html
import json
import os
import re
import secrets
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
COLUMNS = ("student", "submission", "lesson", "question", "status", "flags", "message", "seconds")
DEFAULT_TIMEOUT = 300.0  # seconds per notebook
MAX_NOTEBOOK_BYTES = 50_000_000  # a bigger file is not read, let alone run
MAX_RESULTS_BYTES = 10_000_000  # the most of the results file that is read
MAX_FOLDER_BYTES, MAX_FOLDER_FILES = 200_000_000, 10_000  # a bigger folder is not copied, only the notebook
MAX_MESSAGE = 500  # characters of a message kept in the gradebook
STARTUP_TIMEOUT = 120  # seconds for a kernel to start (not counted in the time limit)
PROBE_TIMEOUT = 30  # seconds for the cell that the grader adds after a notebook's own (not counted either)

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
    flags: str  # why a human should look at this submission ("; "-separated), or ""
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
    probe: list[str] | None = None  # what the grader's end-of-run cell found; None if it reported nothing


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
            found.setdefault(root, Submission(root, _student_of(root), _label(root)))
            continue
        notebooks = sorted(p for p in root.rglob("*.ipynb")
                           if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))
        for path in notebooks:
            relative = path.relative_to(root)
            student = relative.parts[0] if len(relative.parts) > 1 else _student_of(path)
            found.setdefault(path, Submission(path, student, _label(path)))
    return list(found.values())


def _student_of(notebook: Path) -> str:
    """The student a notebook belongs to when no class folder above it says: the folder it is in if its name
    is an exercise notebook's (``ada/00_the_paper_exercises.ipynb``), else its own name (``ada.ipynb``)."""
    if _LESSON_NUMBER.match(notebook.name) and notebook.parent.name:
        return notebook.parent.name
    return notebook.stem


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


async def _execute(nb: Any, work: Path, results: Path, timeout: float, kernel_name: str,
                   aliases: dict[str, str] | None = None) -> _Run:
    """Run ``nb`` in a fresh kernel in ``work``; the checks write their verdicts to ``results``.

    After the notebook's own cells, a cell of the grader's looks at the kernel (``_PROBE``); what it finds
    goes to ``_Run.probe``. It has its own time limit, ``PROBE_TIMEOUT``.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    run = _Run()
    token = f"course-grader-{secrets.token_hex(16)}:"
    nb.cells.append(_probe_cell(token, results, aliases or {}))
    probe_index = len(nb.cells) - 1
    printed: list[str] = []  # what the grader's cell printed

    class Client(NotebookClient):
        """Keeps no outputs (a flood of prints costs no memory) and enforces one deadline for all the cells."""

        deadline: float | None = None
        current: int | None = None

        def remaining(self, cell: Any = None) -> float:
            return max(0.01, (self.deadline or time.monotonic() + timeout) - time.monotonic())

        async def async_execute_cell(self, cell: Any, cell_index: int, execution_count: int | None = None,
                                     store_history: bool = True) -> Any:
            if self.deadline is None:
                self.deadline = time.monotonic() + timeout
            self.current = cell_index
            if cell.cell_type == "code" and cell.source.strip() and time.monotonic() >= self.deadline:
                raise CellTimeoutError("time limit")
            if cell_index == probe_index:
                self.deadline = time.monotonic() + PROBE_TIMEOUT
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

        def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> None:
            # Outputs are never read (errors come from the execute replies, record_error), except the
            # grader's own cell's, and only up to a size that one line of findings needs.
            if cell_index == probe_index and msg.get("msg_type") == "stream" and sum(map(len, printed)) < 100_000:
                printed.append(str(msg.get("content", {}).get("text", ""))[:100_000])
            return None

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
    nb.cells.pop(probe_index)
    if run.stopped_at == probe_index:  # the notebook's own cells all ran; only the grader's cell was cut short
        run.stopped_at, run.stop_reason = None, ""
    for line in "".join(printed).splitlines():
        if line.startswith(token):
            try:
                findings = json.loads(line[len(token):])
                run.probe = [str(finding) for finding in findings][:20]
            except (ValueError, TypeError):
                pass
    return run


# ---------------------------------------------------------------------------------------------------------
# Flags: evidence that a submission patched or replaced the checks
# ---------------------------------------------------------------------------------------------------------

# Attributes whose replacement changes a verdict, on any object (`type(ex.q2).expected = 5` counts too)
CHECK_ATTRIBUTES = frozenset({"check", "_check", "_verdict", "_todo", "_why_or_empty", "expected", "diagnoses",
                              "_record_for_grader", "GRADE_RESULTS_ENV"})
_SETATTR = frozenset({"setattr", "delattr", "__setattr__", "__delattr__"})
_MOCK = frozenset({"patch", "object", "multiple", "dict"})  # unittest.mock.patch, patch.object, ...
_EXEC = frozenset({"exec", "eval", "compile"})
_VERDICT_MARK = "✅"


def _python(source: str) -> str:
    """A cell's source as plain Python: IPython's magics (``%pip``, ``!ls``) become function calls."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # not valid IPython either: ast.parse reports it
        return source


def _package_names(trees: list[ast.AST]) -> set[str]:
    """The names the notebook binds to the exercises package or to what it imports from it (``ex``,
    ``Question``), and ``course_utils`` itself. Names from the rest of the package (``vit``) are not counted."""
    names = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname is None and alias.name.split(".")[0] == "course_utils":
                        names.add("course_utils")  # `import course_utils.vit` binds course_utils
                    elif alias.asname and alias.name.startswith("course_utils.exercises"):
                        names.add(alias.asname)
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names |= {alias.asname or alias.name for alias in node.names
                          if module.startswith("course_utils.exercises")
                          or (module == "course_utils" and alias.name == "exercises")}
    return names


def code_flags(nb: Any) -> list[str]:
    """What in a notebook's code cells patches or replaces the checks, or fakes a verdict: one line per finding.

    Read from the code (``ast``), never run, so it sees what the notebook would do even when the run stops
    early, and it is blind to what code builds at run time (``exec`` of a string is flagged for that reason).
    """
    trees: list[tuple[int, ast.AST | None, str]] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        source = _python(cell.source)
        try:
            trees.append((index, ast.parse(source), source))
        except SyntaxError:
            trees.append((index, None, source))
    package = _package_names([tree for _, tree, _ in trees if tree is not None])

    def mentions_package(node: ast.AST) -> bool:
        return any((isinstance(n, ast.Name) and n.id in package)
                   or (isinstance(n, ast.Constant) and isinstance(n.value, str) and "course_utils" in n.value)
                   for n in ast.walk(node))

    def targets(node: ast.AST) -> list[ast.AST]:
        if isinstance(node, (ast.Tuple, ast.List)):
            return [t for element in node.elts for t in targets(element)]
        return [node.value] if isinstance(node, ast.Starred) else [node]

    def patches(target: ast.AST) -> bool:
        if isinstance(target, ast.Name):
            return target.id in package  # `ex = ...`: the check cells then call something else
        if isinstance(target, ast.Attribute):
            return target.attr in CHECK_ATTRIBUTES or mentions_package(target.value)
        if isinstance(target, ast.Subscript):  # vars(ex.q1)["_check"], sys.modules["course_utils..."]
            return mentions_package(target) or any(
                isinstance(n, ast.Constant) and n.value in CHECK_ATTRIBUTES for n in ast.walk(target.slice))
        return False

    flags: list[str] = []
    for index, tree, source in trees:
        cell = f"cell {index + 1}"
        if tree is None:  # not Python: look for the plainest signs only
            if GRADE_RESULTS_ENV in source or _VERDICT_MARK in source:
                flags.append(f"{cell} (not valid Python) names the grader's results variable or writes a ✅")
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                found = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                verb = "deletes" if isinstance(node, ast.Delete) else "assigns"
                for target in (t for group in found for t in targets(group)):
                    if patches(target):
                        flags.append(f"{cell} {verb} `{_short(ast.unparse(target))}` (patches the checks)")
            elif isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                strings = {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
                if name in _SETATTR | _MOCK and (mentions_package(node) or strings & CHECK_ATTRIBUTES):
                    flags.append(f"{cell} calls `{_short(ast.unparse(node))}` (patches the checks)")
                elif name in _EXEC and isinstance(func, ast.Name):
                    flags.append(f"{cell} runs code from a string (`{name}`), which the grader cannot read")
                elif name == "solution" and isinstance(func, ast.Attribute) and mentions_package(func.value):
                    flags.append(f"{cell} shows a solution (`{_short(ast.unparse(func))}()`)")
            elif isinstance(node, ast.Attribute) and node.attr in {"_record_for_grader", "GRADE_RESULTS_ENV",
                                                                      "solution_code"}:
                flags.append(f"{cell} uses `{_short(ast.unparse(node))}`")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if GRADE_RESULTS_ENV in node.value:
                    flags.append(f"{cell} names the grader's results variable ({GRADE_RESULTS_ENV})")
                if _VERDICT_MARK in node.value:
                    flags.append(f"{cell} writes a ✅ in its code (prints a verdict mark without a check)")
    return list(dict.fromkeys(flags))


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


# The cell the grader runs after a notebook's own: it looks at what the notebook left in the kernel and prints
# one line, marked with a fresh random token that the notebook's code could not know, for the grader to read.
_PROBE = """
def _course_grader_probe(token, results, aliases):
    import json, os, re, sys

    findings = []
    package = sys.modules.get("course_utils.exercises")
    if package is not None:
        folder = os.path.dirname(os.path.abspath(package.__file__)) + os.sep

        def ours(function):
            code = getattr(function, "__code__", None)
            return code is not None and os.path.abspath(code.co_filename).startswith(folder)

        if not ours(getattr(package, "_record_for_grader", None)):
            findings.append("course_utils.exercises._record_for_grader was replaced")
        if os.environ.get(getattr(package, "GRADE_RESULTS_ENV", "")) != results:
            findings.append("the grader's results variable was changed")
        for name, module in sorted(sys.modules.items()):
            if not re.fullmatch(r"course_utils[.]exercises[.]lesson[0-9][0-9]", name):
                continue
            lesson = name.rsplit(".", 1)[-1]
            for number in range(1, 100):
                question = vars(module).get(f"q{number}")
                if question is None:
                    break
                where = f"{lesson}.q{number}"
                if not isinstance(question, package.Question):
                    findings.append(f"{where} was replaced")
                    continue
                replaced = sorted(set(vars(question)) & {"check", "_check", "_verdict", "expected", "diagnoses"})
                replaced += [f"its class's {attribute}" for attribute in ("check", "_check", "_verdict")
                             if not ours(getattr(type(question), attribute, None))]
                if replaced:
                    findings.append(f"{where}: {', '.join(replaced)} replaced")
    namespace = get_ipython().user_ns
    for alias, lesson in aliases.items():
        module = sys.modules.get(f"course_utils.exercises.{lesson}")
        if alias in namespace and module is not None and namespace[alias] is not module:
            findings.append(f"`{alias}` no longer names course_utils.exercises.{lesson}")
    print(token + json.dumps(findings))


try:
    _course_grader_probe(%r, %r, %r)
except Exception as error:
    print(%r + __import__("json").dumps([f"the grader's end-of-run check failed ({type(error).__name__})"]))
"""


def _probe_cell(token: str, results: Path, aliases: dict[str, str]) -> Any:
    import nbformat

    return nbformat.v4.new_code_cell(_PROBE % (token, str(results), aliases, token))


def _run_flags(nb: Any, run: _Run, stored_ticks: set[int], check_cells: dict[tuple[str, str], list[int]],
               statuses: dict[tuple[str, str], str]) -> list[str]:
    """The evidence of the run: what the end-of-run cell found, verdicts without a check cell, and stored ✅
    outputs that the run does not confirm."""
    flags = [f"in the kernel after the run: {finding}" for finding in run.probe or []]
    if run.probe is None and not (run.failure or run.stopped_at is not None):
        flags.append("the grader's end-of-run check printed nothing (was printing or the kernel changed?)")
    for (lesson, question) in run.verdicts:
        if not check_cells.get((lesson, question)):
            flags.append(f"a verdict for {lesson} {question} came from no check cell of the notebook")
    for key, cells in check_cells.items():
        ticked = [index for index in cells if index in stored_ticks]
        # Only a verdict of the run counts against a stored ✅: a run cut short (time limit) proves nothing
        if ticked and key in run.verdicts and statuses.get(key, "correct") != "correct":
            flags.append(f"the stored output of {key[1]}'s check (cell {ticked[0] + 1}) shows ✅, the run says "
                         f"{statuses[key]} (edited outputs, or cells run out of order)")
    return flags


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
              seconds: float, status: str, message: str, flags: str = "") -> list[Row]:
    """The same status and message for every question of the lessons (or one row if no lesson is known)."""
    rows = [Row(submission.student, submission.label, name, question.name, status, flags, message, seconds)
            for name in lesson_names for question in questions(modules[name])]
    return rows or [Row(submission.student, submission.label, "", "", status, flags, message, seconds)]


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
        stored_ticks = set()  # the code cells whose stored outputs show ✅: compared with the run, never graded
        for index, cell in enumerate(nb.cells):
            cell.source = cell.get("source", "")
            if cell.get("cell_type") == "code":
                if _VERDICT_MARK in json.dumps(cell.get("outputs", []), ensure_ascii=False):
                    stored_ticks.add(index)
                cell.outputs, cell.execution_count = [], None  # stored outputs are never read
        static_flags = code_flags(nb)
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
        run = await _execute(nb, work, results, timeout, kernel_name, aliases)
        run.verdicts = _read_verdicts(results, known)

    seconds = round(time.monotonic() - start, 1)
    lesson_names = found or sorted({lesson for lesson, _ in run.verdicts}) or _lesson_from_name(submission.path, modules)
    if run.failure:
        return _rows_for(submission, lesson_names, modules, seconds, "error", run.failure, _join(static_flags))
    if not lesson_names:
        return _rows_for(submission, [], modules, seconds, "error",
                         "could not tell which lesson this notebook is for: it imports no "
                         "course_utils.exercises lesson module, and its name does not start with a lesson number",
                         _join(static_flags))
    check_cells = _check_cells(nb, aliases, lesson_names)
    verdicts = {(name, question.name): _question_status(run, nb, (name, question.name),
                                                        check_cells.get((name, question.name), []))
                for name in lesson_names for question in questions(modules[name])}
    statuses = {key: status for key, (status, _) in verdicts.items()}
    flags = _join(static_flags + _run_flags(nb, run, stored_ticks, check_cells, statuses))
    return [Row(submission.student, submission.label, lesson, question, status, flags, clean_message(message), seconds)
            for (lesson, question), (status, message) in verdicts.items()]


def _join(flags: list[str]) -> str:
    """The flags of a submission as one gradebook cell (every row of the submission shows them all)."""
    text = " ".join("; ".join(flags).split())
    return text if len(text) <= 4 * MAX_MESSAGE else text[:4 * MAX_MESSAGE - 1] + "…"


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
                flagged = "  FLAGGED" if rows[0].flags else ""
                print(f"[{number}/{len(submissions)}] {submission.label}: "
                      f"{tally['correct']}/{len(rows)} correct ({rows[0].seconds:.0f} s){flagged}", flush=True)
            return rows

    return await asyncio.gather(*(one(i, s) for i, s in enumerate(submissions, start=1)))


@dataclass(frozen=True)
class Outputs:
    """Where ``grade`` writes: the long gradebook, the wide one, the summary and the feedback folder."""

    long: Path
    wide: Path
    summary: Path
    feedback: Path

    @classmethod
    def beside(cls, output: str | Path, feedback: str | Path | None = None) -> Outputs:
        """The files named after the long gradebook ``output``: ``gradebook.csv`` gives
        ``gradebook_wide.csv``, ``gradebook_summary.txt`` and the folder ``feedback/`` beside them."""
        output = Path(output)
        return cls(output, output.with_name(f"{output.stem}_wide.csv"),
                   output.with_name(f"{output.stem}_summary.txt"),
                   Path(feedback) if feedback is not None else output.with_name("feedback"))


def grade(paths: Sequence[str | Path], output: str | Path = "gradebook.csv", timeout: float = DEFAULT_TIMEOUT,
          jobs: int = 1, kernel_name: str = "python3", progress: bool = False,
          feedback: str | Path | None = None) -> list[Row]:
    """Grade every submission under ``paths``, write the gradebooks, summary and feedback, and return the rows.

    Args:
        paths: notebooks, or folders searched recursively for them.
        output: the long gradebook CSV; the wide one and the summary are written beside it, named after it
            (``Outputs.beside``). Each file is written atomically, and never over one of the submissions.
        timeout: seconds the cells of one notebook may run in all.
        jobs: how many notebooks run at the same time.
        kernel_name: the Jupyter kernel to run them with.
        progress: print one line per graded notebook.
        feedback: the folder for the students' feedback files (default: ``feedback/`` beside ``output``).
    """
    from course_utils.utils import atomic_write

    submissions = find_submissions(paths)
    outputs = Outputs.beside(output, feedback)
    taken = {s.path for s in submissions}
    for path in (outputs.long, outputs.wide, outputs.summary):
        if path.resolve() in taken:
            raise ValueError(f"the gradebook would overwrite a submission: {path}")
    if any(path.is_relative_to(outputs.feedback.resolve()) for path in taken):
        raise ValueError(f"the feedback folder {outputs.feedback} holds submissions; choose another (--feedback)")
    graded = asyncio.run(_grade_all(submissions, timeout, jobs, kernel_name, progress))
    rows = [row for rows in graded for row in rows]

    def write_csv(path: Path, header: Sequence[str], lines: Sequence[Sequence[Any]]) -> None:
        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as file:
                writer = csv.writer(file)
                writer.writerow(header)
                writer.writerows(lines)
        atomic_write(path, write)

    def write_text(path: Path, text: str) -> None:
        atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))

    write_csv(outputs.long, COLUMNS, [astuple(row) for row in rows])
    header, lines = wide(rows)
    write_csv(outputs.wide, header, lines)
    write_text(outputs.summary, summary(rows) + "\n")
    outputs.feedback.mkdir(parents=True, exist_ok=True)
    for name, text in feedback_files(rows).items():
        write_text(outputs.feedback / name, text)
    return rows


def wide(rows: Sequence[Row]) -> tuple[list[str], list[list[Any]]]:
    """The wide gradebook: a header and one line per student, with the flags, 1 or 0 per question (1 if any
    of the student's submissions has it correct; empty if none has it), the total and the number of questions."""
    questions_seen = list(dict.fromkeys(f"{row.lesson} {row.question}" for row in rows if row.question))
    students = list(dict.fromkeys(row.student for row in rows))
    lines = []
    for student in students:
        mine = [row for row in rows if row.student == student]
        scores: dict[str, int] = {}
        for row in mine:
            if row.question:
                key = f"{row.lesson} {row.question}"
                scores[key] = max(scores.get(key, 0), int(row.status == "correct"))
        flags = list(dict.fromkeys(f"{row.submission}: {row.flags}" for row in mine if row.flags))
        lines.append([student, " | ".join(flags), *(scores.get(key, "") for key in questions_seen),
                      sum(scores.values()), len(scores)])
    return ["student", "flags", *questions_seen, "total", "out_of"], lines


_MARKS = {"correct": "✅", "wrong": "❌", "not attempted": "⏳", "error": "⚠️"}


def _file_name(student: str, taken: set[str]) -> str:
    """A safe, unique file name for a student's feedback: letters, digits, ``.``, ``-`` and ``_`` only."""
    base = re.sub(r"[^\w.-]+", "_", student).strip("._") or "student"
    name, number = f"{base}.md", 1
    while name.lower() in taken:
        number += 1
        name = f"{base}_{number}.md"
    taken.add(name.lower())
    return name


def feedback_files(rows: Sequence[Row]) -> dict[str, str]:
    """One Markdown feedback file per student (file name -> text): for each of the student's submissions,
    every question's verdict and the checker's message. Flags are left out: they are for the teacher."""
    modules = _lesson_modules()
    titles = {(name, q.name): q.title for name, module in modules.items() for q in questions(module)}
    files, taken = {}, set()
    for student in dict.fromkeys(row.student for row in rows):
        lines = [f"# Feedback: {_escape(student)}", ""]
        mine = [row for row in rows if row.student == student]
        for submission in dict.fromkeys(row.submission for row in mine):
            these = [row for row in mine if row.submission == submission]
            correct = sum(row.status == "correct" for row in these)
            lesson = these[0].lesson
            heading = f"{lesson}, " if lesson else ""
            lines += [f"## {heading}`{_escape(Path(submission).name)}`", "",
                      f"**{correct} of {len(these)} correct.** Your notebook was run again from the top, in a "
                      f"fresh kernel; these are the verdicts of its checks.", ""]
            for row in these:
                title = titles.get((row.lesson, row.question), "")
                name = f"{row.question} · {title}" if title else row.question or "the notebook"
                lines += [f"- {_MARKS.get(row.status, '')} **{_escape(name)}**: {row.status}.  ",
                          f"  {_escape(row.message)}", ""]
        files[_file_name(student, taken)] = "\n".join(lines).rstrip() + "\n"
    return files


def _escape(text: str) -> str:
    """Text safe to put in Markdown that may be rendered as HTML (messages can quote a student's code)."""
    return html.escape(text, quote=False)


def summary(rows: Sequence[Row]) -> str:
    """The per-student and per-question tallies, and the flagged submissions, as text."""
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
    flagged = {row.student: "FLAGGED" for row in rows if row.flags}
    question_keys = list(dict.fromkeys(map(question_of, rows)))
    flags = dict.fromkeys((row.submission, row.flags) for row in rows if row.flags)
    lines = [*table("student", students, lambda row: row.student, flagged), "",
             *table("question", question_keys, question_of, titles)]
    if flags:
        lines += ["", f"Flagged for review ({len(flags)} submission(s)): the code or the run shows signs of "
                      "patched checks or faked verdicts. Read these notebooks before trusting their grades.", ""]
        lines += [f"{submission}: {text}" for submission, text in flags]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m course_utils.exercises grade SUBMISSION...``: grade notebooks, write the gradebooks, the
    summary and a feedback file per student."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.exercises grade",
        description="Re-execute submitted exercise notebooks in fresh kernels and write the gradebooks (long: one "
                    "row per submission, lesson and question; wide: one row per student), the summary and a "
                    "feedback file per student. Submissions whose code or run shows patched checks are flagged. "
                    "It runs the students' code: it is NOT a sandbox.")
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                        help="a notebook, or a folder searched for notebooks (one folder per student works well)")
    parser.add_argument("-o", "--output", default="gradebook.csv",
                        help="the long gradebook CSV; NAME_wide.csv and NAME_summary.txt go beside it "
                             "(default: %(default)s)")
    parser.add_argument("--feedback", default=None,
                        help="the folder for the feedback files, one STUDENT.md each (default: feedback/ beside "
                             "the gradebook)")
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
        rows = grade(args.submissions, args.output, args.timeout, args.jobs, args.kernel, progress=True,
                     feedback=args.feedback)
    except ValueError as error:
        parser.error(str(error))
    outputs = Outputs.beside(args.output, args.feedback)
    print(f"\nWrote {len(rows)} rows to {outputs.long}, one row per student to {outputs.wide}, this summary to "
          f"{outputs.summary} and the feedback files to {outputs.feedback}/\n")
    print(summary(rows))
    return 0
