"""Exercises with automatic checks (in the style of Kaggle's learntools), and the builder of their notebooks.

In a notebook::

    from course_utils.exercises import lesson02 as ex

    ex.q1.check(patchify)  # ✅ Correct! | ❌ what looks wrong (never the answer) | ⏳ Not attempted yet
    ex.q1.hint()           # a nudge
    ex.q1.solution()       # a worked solution

``check`` never raises: an untouched stub (``...``, ``None``, or code that raises ``NotImplementedError``)
prints "⏳ Not attempted yet", and an error in the learner's code is reported with its type and message. It
returns ``True`` when the answer is correct, so tests can assert on it (notebooks end the call with ``;``
to keep the bool out of the cell's output).

The sources of a lesson's exercises
-----------------------------------
Lesson NN's exercises come from four files, and both of its exercise notebooks are generated from them:

- ``lessonNN.py``: the checkers. The constant ``LESSON`` names the lesson notebook (e.g.
  ``"04_mlp_and_encoder_block"``, without ``.ipynb``); one ``Question`` subclass per exercise is bound to
  ``q1``, ``q2``, ... and says what the check cell passes (``answer_name``) and how to check it (``_check``).
- ``text/lessonNN.md``: the words, in markdown (the format is below).
- ``solutions/lessonNN.py``: the code of the solutions, a real Python file that ruff lints.
- ``stubs/lessonNN.py``: the code the learner starts from, the same cells with ``...`` or
  ``raise NotImplementedError`` in place of the answers.

The typical wrong answers that prove the checkers are test fixtures, not part of the package:
``tests/exercise_answers/lessonNN.py`` (``tests/test_exercises.py`` says how they are written).

The generated notebooks:

- ``notebooks/exercises/NN_<topic>_exercises.ipynb``: prompt, stub, check cell for every question;
- ``notebooks/exercises/NN_<topic>_solutions.ipynb``: the same, with the solutions in place of the stubs.

Rebuild them after editing any of the sources, then commit them executed::

    python -m course_utils.exercises                    # rewrite the notebooks whose cells changed
    python -m course_utils.exercises --execute          # ... and execute what was rewritten
    python -m course_utils.exercises --force --execute  # rewrite and execute them all
    python -m course_utils.exercises --check            # exit 1 if a notebook is out of sync
    python -m course_utils.exercises 02                 # only lesson 02

The text file, ``text/lessonNN.md``::

    # The lesson's title

    The introduction (markdown): what the exercises practise.

    ## q1: The title of exercise 1

    The prompt (markdown), up to the first `###` heading.

    ### Hint

    A nudge, printed by `ex.q1.hint()`. The lines of a paragraph are joined when printed.

    ### Hint

    A more specific nudge, printed by `ex.q1.hint(2)` (any number of hints; at least one).

    ### Why

    Optional: one line printed after "✅ Correct!".

    ## q2: The title of exercise 2
    ...

No other headings of levels 1 to 3 are allowed (use bold text inside a prompt).

The code files, ``solutions/lessonNN.py`` and ``stubs/lessonNN.py``, are in the "percent" format of
Jupytext and VS Code: a line ``# %% NAME`` starts a cell, which runs to the next such line. The first cell,
``# %% imports``, is the notebooks' imports cell, the same in both files, ending with
``from course_utils.exercises import lessonNN as ex``; then comes one cell ``# %% qN`` per exercise, which
defines its ``answer_name``. Each cell runs after the ones above it, as in the notebook, so a solutions file
run top to bottom does what its notebook does, without the check cells. What comes before the first
``# %%`` line (the docstring, ``# ruff: noqa: F401`` for the ``ex`` that only the check cells use) is no
cell.

The sources ship with the package: ``ex.q1.hint()`` and ``ex.q1.solution()`` read them on Colab too (the
solutions are in the solutions notebooks anyway). ``text/``, ``solutions/`` and ``stubs/`` have no
``__init__.py``, so that nothing imports (and runs) a solutions file; setuptools ships their ``.py`` files
all the same, and ``pyproject.toml`` lists ``text/*.md`` as package data.

Adding the exercises of a lesson
--------------------------------
1. Copy the four files of lesson 02 to ``lessonNN.py``, ``text/lessonNN.md``, ``solutions/lessonNN.py`` and
   ``stubs/lessonNN.py``, set ``LESSON``, and write the title, introduction and imports cell.
2. For each exercise (at least 3): its section in the text file; its cells in the solutions and stubs files;
   a ``Question`` subclass bound to ``qN`` with ``name = "qN"`` and ``answer_name``; and at least one wrong
   answer in ``tests/exercise_answers/lessonNN.py``.
3. Write ``_check(self, answer)``: return ``None`` if the answer is right, ``raise Wrong("...")`` with a
   specific, kind message if not. Never put the answer in the message. The helpers below do the common
   parts: ``expect_callable``, ``expect_class``, ``expect_tensor``, ``expect_close`` (compares with a
   reference and names the typical mistake whose output the learner's matches), ``as_number`` and
   ``randn`` (seeded inputs that leave the global RNG alone). Numeric answers (shapes, parameter counts)
   need no ``_check``: subclass ``NumberQuestion`` and give ``expected`` and ``diagnoses``.
   Check what the code does, not only what it returns (``course_utils/exercises/_probes.py``): hand it the
   caller's own tensors and prove it left them alone (``Unchanged``); run it on inputs that require grad and
   compare the gradients with the reference's (``call_for_gradients``, ``expect_gradients``); check models in
   training mode with a fixed seed (``seeded``) rather than ``.eval()``-ing a forbidden dropout away; compare
   values before a LayerNorm, which hides scale errors (``recorded_inputs``); refuse the function the prompt
   forbids (``refusing``); vary the sizes (batch, width, patches, image size) from case to case; and build
   the expected value from the checker's own modules, never from the learner's.
4. Run ``python -m course_utils.exercises NN --execute``, ``ruff check`` and
   ``pytest tests/test_exercises.py notebooks/exercises``, then link the exercises notebook from the end of
   the lesson.

Releasing and grading
---------------------
``python -m course_utils.exercises release OUT/`` writes the exercise notebooks to hand out, without the
solutions (see ``course_utils/exercises/release.py``; the package itself still holds them).
``python -m course_utils.exercises grade SUBMISSION...`` re-executes submitted exercise notebooks and writes
the gradebooks, a summary and a feedback file per student (see ``course_utils/exercises/grade.py``). While it runs a notebook, ``check`` also appends
its verdict to the file named by the ``COURSE_UTILS_GRADE_RESULTS`` environment variable; otherwise that
variable is unset and ``check`` only prints.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import pkgutil
import re
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from course_utils.exercises._sources import LessonSources, QuestionSources, SourceError
from course_utils.exercises._sources import load as load_sources

__all__ = [
    "NotAttempted", "NumberQuestion", "Question", "Wrong",
    "as_number", "explain_class_token_cat", "expect_callable", "expect_class", "expect_close", "expect_tensor", "perturb_", "randn",
    "lessons", "questions", "lesson_sources", "LessonSources", "SourceError", "notebook_cells", "notebook_path",
    "build_notebook", "build_notebooks", "stale_notebooks", "main", "GRADE_RESULTS_ENV",
    "NO_GRADIENT", "Unchanged", "call_for_gradients", "expect_gradients", "fixed_size", "recorded_inputs", "refusing",
    "seeded",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
EXERCISES_DIR = REPO_ROOT / "notebooks" / "exercises"
_PACKAGE_DIR = Path(__file__).resolve().parent
_MISSING = object()  # check() called without an answer


# --------------------------------------------------------------------------------------------------------
# Questions
# --------------------------------------------------------------------------------------------------------

class Wrong(Exception):
    """Raised by a checker: the answer is wrong. The message says what looks wrong, kindly, without the answer."""


class NotAttempted(Exception):
    """Raised by a checker when the answer is still the stub."""


class Question:
    """One exercise: ``check(answer)``, ``hint()`` and ``solution()``.

    Subclasses set ``name`` and ``answer_name`` and implement ``_check``. The words and the code come from the
    lesson's source files (see the package docstring), read when first needed, so the notebooks and the
    checks cannot drift apart.

    Attributes:
        name: the module-level variable the question is bound to, e.g. ``"q1"``; its section in the sources.
        answer_name: the name the stub defines and the check cell passes: ``ex.q1.check(<answer_name>)``.
        title: a short title, the exercise's heading in the notebook (from ``text/lessonNN.md``).
        prompt: the task, in markdown (from ``text/lessonNN.md``).
        hints: nudges, increasingly specific (``hint(2)`` shows the second; from ``text/lessonNN.md``).
        why: one line printed after "✅ Correct!", or "" (from ``text/lessonNN.md``).
        stub: the code cell the learner starts from (``stubs/lessonNN.py``): ``answer_name = ...`` or a
            function that raises ``NotImplementedError``.
        solution_code: a correct answer, code that defines ``answer_name`` (``solutions/lessonNN.py``).
    """

    name: str = ""
    answer_name: str = "answer"

    @property
    def lesson_id(self) -> str:
        """The lesson module's name, e.g. ``"lesson02"``."""
        return type(self).__module__.rsplit(".", 1)[-1]

    @property
    def _source(self) -> QuestionSources:
        return load_sources(self.lesson_id).questions[self.name]

    @property
    def title(self) -> str:
        return self._source.title

    @property
    def prompt(self) -> str:
        return self._source.prompt

    @property
    def hints(self) -> tuple[str, ...]:
        return self._source.hints

    @property
    def why(self) -> str:
        return self._source.why

    @property
    def stub(self) -> str:
        return self._source.stub

    @property
    def solution_code(self) -> str:
        return self._source.solution

    def _check(self, answer: Any) -> str | None:
        """Return None (or a note to print after "✅ Correct!") if ``answer`` is right; raise
        ``Wrong(message)`` if not. Subclasses implement it."""
        raise TypeError(f"{type(self).__name__} does not implement _check")  # a bug in the lesson module

    def _explain_error(self, error: Exception) -> str | None:
        """Optional: a line of advice for an exception the learner's code raised (None: no advice)."""
        return None

    def check(self, answer: Any = _MISSING) -> bool:
        """Print whether ``answer`` is right (and if not, what looks wrong). Return True if it is right."""
        status, message = self._verdict(answer)
        print(message)
        _record_for_grader(self, status, message)
        return status == "correct"

    def _verdict(self, answer: Any) -> tuple[str, str]:
        """(status, message): status is "correct", "wrong", "not attempted" or "error" (the learner's code
        raised); the message is what ``check`` prints."""
        if answer is _MISSING:
            return "not attempted", f"⏳ Pass your answer to the check: ex.{self.name}.check({self.answer_name})"
        try:
            if answer is Ellipsis or answer is None:
                raise NotAttempted
            note = self._check(answer)
        except (NotAttempted, NotImplementedError):
            return "not attempted", (f"⏳ Not attempted yet: write `{self.answer_name}` in the cell above (replace "
                                     f"the {self._todo()} with your code), run it, then run this check again.")
        except Wrong as wrong:
            return "wrong", f"❌ {wrong}"
        except Exception as error:  # an error in the learner's code: report it, never raise
            message = f"❌ Your code raised {type(error).__name__}: {error}{_where(error)}"
            try:
                advice = self._explain_error(error)
            except Exception:  # advice is optional; never let it hide the learner's error
                advice = None
            return "error", message + (f"\n   {advice}" if advice else "")
        why = self._why_or_empty()
        note = f"\n   {note}" if isinstance(note, str) and note else ""
        return "correct", "✅ Correct!" + (f" {why}" if why else "") + note

    def _todo(self) -> str:
        """What the stub leaves to do: "`raise NotImplementedError`" or "`...`"."""
        try:
            return "`raise NotImplementedError`" if "NotImplementedError" in self.stub else "`...`"
        except (OSError, SourceError):  # check() never raises, even where the sources are missing
            return "`...`"

    def _why_or_empty(self) -> str:
        try:
            return self.why
        except (OSError, SourceError):
            return ""

    def hint(self, n: int = 1) -> None:
        """Print the hint (the ``n``-th one, if the question has several)."""
        hints = self.hints
        n = min(max(n, 1), len(hints))
        number = f" {n} of {len(hints)}" if len(hints) > 1 else ""
        more = f"\n   (Still stuck? ex.{self.name}.hint({n + 1}) gives the next hint.)" if n < len(hints) else ""
        print(f"💡 Hint{number}: {hints[n - 1]}{more}")

    def solution(self) -> None:
        """Print a worked solution (code)."""
        print(f"💡 Solution:\n\n{self.solution_code.strip()}")

    def __repr__(self) -> str:
        return f"<{self.lesson_id}.{self.name}>"


class NumberQuestion(Question):
    """A question whose answer is a number (a count, a size): set ``expected`` and ``diagnoses``.

    Attributes:
        expected: the right answer.
        integer: the answer must be a whole number (a count).
        diagnoses: known wrong answers -> what probably went wrong (without giving the answer away).
        otherwise: the message for any other wrong number.
    """

    expected: float = 0
    integer: bool = True
    diagnoses: Mapping[float, str] = {}
    otherwise: str = "Not quite. Work it out step by step, one layer (or factor) at a time."

    def _check(self, answer: Any) -> None:
        value = as_number(answer, self.answer_name)
        if self.integer and value != int(value):
            raise Wrong(f"`{self.answer_name}` is {value}, but a count is a whole number.")
        if value == self.expected:
            return
        if value in self.diagnoses:
            raise Wrong(f"{_fmt(value)} is not it. {self.diagnoses[value]}")
        raise Wrong(f"{_fmt(value)} is not it. {self.otherwise}")


def _fmt(value: float) -> str:
    return f"{int(value):,}" if value == int(value) else f"{value:g}"


def _where(error: BaseException) -> str:
    """' (line 3 of patchify: `...`)': where in the learner's code the error happened, if we can tell."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        filename = frame.filename
        library = "site-packages" in filename or "dist-packages" in filename or filename.startswith(sys.prefix)
        if filename.startswith(str(_PACKAGE_DIR)) or library:
            continue
        line = f": `{frame.line.strip()}`" if frame.line else ""
        return f"\n   (line {frame.lineno} of `{frame.name}`{line})" if frame.name != "<module>" else ""
    return ""


GRADE_RESULTS_ENV = "COURSE_UTILS_GRADE_RESULTS"


def _record_for_grader(question: Question, status: str, message: str) -> None:
    """When the grader runs this notebook, append the verdict to its results file as one JSON line.

    ``python -m course_utils.exercises grade`` sets ``COURSE_UTILS_GRADE_RESULTS`` to a file outside the
    submission's folder, and reads the verdicts from there, never from the notebook's outputs: printing
    "✅ Correct!" or editing stored outputs adds nothing to it (see ``course_utils/exercises/grade.py``).
    """
    path = os.environ.get(GRADE_RESULTS_ENV)
    if not path:
        return
    record = {"lesson": type(question).__module__.rsplit(".", 1)[-1], "question": question.name,
              "status": status, "message": message[:2000]}
    try:
        with open(path, "a", encoding="utf-8") as results:
            results.write(json.dumps(record, ensure_ascii=False) + "\n")
    except OSError:  # the grader reports a check that left no verdict
        pass


# --------------------------------------------------------------------------------------------------------
# Helpers for checkers
# --------------------------------------------------------------------------------------------------------

def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    """Standard-normal float32 tensor from its own generator: repeatable, and the global RNG is untouched."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def perturb_(module: torch.nn.Module, seed: int, unscaled: Iterable[str] = ()) -> torch.nn.Module:
    """Give every parameter of ``module`` random values, in place, so that leaving any step out shows.

    LayerNorm scales become 1 + 0.3 noise (not the identity), other 1-D parameters (biases) 0.3 noise (not
    zero), weights noise / sqrt(fan-in); the parameters named in ``unscaled`` get the noise as it is. The
    values are repeatable (``randn`` with seed + the parameter's index). Returns ``module``, its mode unchanged.
    """
    unscaled = set(unscaled)
    with torch.no_grad():
        for i, (name, parameter) in enumerate(module.named_parameters()):
            noise = randn(*parameter.shape, seed=seed + i)
            if name in unscaled:
                parameter.copy_(noise)
            elif parameter.ndim == 1 and name.endswith("weight"):  # LayerNorm scales
                parameter.copy_(1 + 0.3 * noise)
            elif parameter.ndim == 1:
                parameter.copy_(0.3 * noise)
            else:
                parameter.copy_(noise / math.sqrt(parameter[0].numel()))
    return module


def explain_class_token_cat(error: Exception) -> str | None:
    """Advice for the commonest Eq 1 slip, a class token joined to a batch without ``expand``; else None."""
    text = str(error)
    if "Sizes of tensors must match" in text or "must match the size of tensor" in text:
        return ("Check the shapes you `torch.cat` and add: the class token is (1, 1, D) and needs "
                "`.expand(B, -1, -1)` to join a batch of B images.")
    return None


def as_number(answer: Any, what: str = "your answer") -> float:
    """``answer`` as an int or float (ints, floats, numpy scalars and one-element tensors are fine)."""
    if isinstance(answer, bool):
        raise Wrong(f"`{what}` is {answer}; the answer is a number.")
    if isinstance(answer, str):
        raise Wrong(f"`{what}` is the string {answer!r}; give a number (no quotes).")
    if isinstance(answer, torch.Tensor):
        if answer.numel() != 1:
            raise Wrong(f"`{what}` is a tensor of shape {tuple(answer.shape)}; give a single number.")
        answer = answer.item()
    if isinstance(answer, (tuple, list, dict, set)):
        raise Wrong(f"`{what}` is a {type(answer).__name__}; give a single number.")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise Wrong(f"`{what}` is a {type(answer).__name__}; give a number.") from None
    if not math.isfinite(value):
        raise Wrong(f"`{what}` is {value}; give a finite number.")
    return int(value) if value == int(value) else value


def expect_callable(answer: Any, name: str) -> None:
    """The answer must be a function (passed itself, not called)."""
    if isinstance(answer, type) or not callable(answer):
        raise Wrong(f"Pass the function itself, `check({name})`, not the result of calling it "
                    f"(got a {type(answer).__name__}).")


def expect_class(answer: Any, name: str, base: type = torch.nn.Module) -> None:
    """The answer must be a class (passed itself, not an instance), a subclass of ``base``."""
    if isinstance(answer, base):
        raise Wrong(f"Pass the class itself, `check({name})`, not an instance of it.")
    if not isinstance(answer, type):
        raise Wrong(f"`{name}` should be a class (`class {name}({base.__module__.split('.')[0]}."
                    f"{base.__qualname__}): ...`), got a {type(answer).__name__}.")
    if not issubclass(answer, base):
        raise Wrong(f"`{name}` should be a subclass of `{base.__qualname__}`.")


def expect_tensor(value: Any, what: str) -> torch.Tensor:
    """``value`` must be a tensor; ``what`` names it in the message, e.g. "`patchify` returned"."""
    if value is None:
        raise Wrong(f"{what} None: did you forget the `return`?")
    if isinstance(value, tuple) and value and isinstance(value[0], torch.Tensor):
        raise Wrong(f"{what} a tuple of {len(value)} tensors; return a single tensor.")
    if not isinstance(value, torch.Tensor):
        raise Wrong(f"{what} a {type(value).__name__}; it should be a torch.Tensor.")
    return value


def _close(a: torch.Tensor, b: torch.Tensor, atol: float, rtol: float) -> bool:
    if a.shape != b.shape:
        return False
    a, b = a.detach().to("cpu", torch.float64), b.detach().to("cpu", torch.float64)
    return bool(torch.allclose(a, b, atol=atol, rtol=rtol))


def expect_close(actual: torch.Tensor, expected: torch.Tensor, *, otherwise: str,
                 mistakes: Iterable[tuple[torch.Tensor | Callable[[], torch.Tensor], str]] = (),
                 nan: str = "", atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Pass if ``actual`` ≈ ``expected``; otherwise raise ``Wrong`` with the most specific message.

    Args:
        actual: the learner's output (its shape should be checked before, with a specific message).
        expected: the reference output for the same input.
        otherwise: the message when the values differ in no way we recognise.
        mistakes: pairs (output of a typical wrong answer for the same input, or a function computing it;
            the message that explains that mistake). The first one ``actual`` matches is reported.
        nan: extra advice when ``actual`` holds NaN and ``expected`` does not.
        atol: the absolute tolerance of ``torch.allclose`` (the values are compared in float64).
        rtol: the relative tolerance of ``torch.allclose``.
    """
    if _close(actual, expected, atol, rtol):
        return
    if actual.is_floating_point() and bool(torch.isnan(actual).any()) and not bool(torch.isnan(expected).any()):
        raise Wrong(f"Your output contains NaN (not a number). {nan}".strip())
    for wrong, message in mistakes:
        wrong = wrong() if callable(wrong) else wrong
        if _close(actual, wrong, atol, rtol):
            raise Wrong(message)
    raise Wrong(otherwise)


# --------------------------------------------------------------------------------------------------------
# Lessons and notebooks
# --------------------------------------------------------------------------------------------------------

def lessons() -> list[ModuleType]:
    """Every ``lessonNN`` module of this package, in lesson order."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if re.fullmatch(r"lesson\d\d", m.name))
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


def questions(lesson: ModuleType) -> list[Question]:
    """The questions ``q1``, ``q2``, ... of a lesson module, in order."""
    found = []
    while isinstance(question := getattr(lesson, f"q{len(found) + 1}", None), Question):
        found.append(question)
    return found


def lesson_sources(lesson: ModuleType) -> LessonSources:
    """The text and code a lesson's notebooks are made of (see the package docstring), checked to agree with
    each other and with the lesson module's questions."""
    lesson_id = lesson.__name__.rsplit(".", 1)[-1]
    sources = load_sources(lesson_id)
    names = [question.name for question in questions(lesson)]
    if list(sources.questions) != names:
        raise SourceError(f"course_utils/exercises/text/{lesson_id}.md has the exercises {list(sources.questions)}, "
                          f"course_utils/exercises/{lesson_id}.py binds {names}")
    return sources


def notebook_path(lesson: ModuleType, kind: str) -> Path:
    """``notebooks/exercises/<LESSON>_<kind>.ipynb``, kind "exercises" or "solutions"."""
    if kind not in ("exercises", "solutions"):
        raise ValueError(f"kind must be 'exercises' or 'solutions', got {kind!r}")
    return EXERCISES_DIR / f"{lesson.LESSON}_{kind}.ipynb"


def _check_cell(question: Question) -> str:
    # The `;` keeps check's bool out of the cell's output in Jupyter. nbval runs cells with
    # store_history=False, which makes IPython ignore the `;`, so these cells are not marked
    # NBVAL_CHECK_OUTPUT; tests/test_exercises.py asserts their committed outputs (✅ / ⏳) instead.
    return (f"ex.{question.name}.check({question.answer_name});\n"
            f"# ex.{question.name}.hint()\n"
            f"# ex.{question.name}.solution()\n")


def notebook_cells(lesson: ModuleType, solutions: bool) -> list[tuple[str, str, str]]:
    """The cells of a lesson's exercises (or solutions) notebook: (cell id, cell type, source) triples."""
    from course_utils.colab import badge_source, setup_source

    number, kind = lesson.LESSON[:2], "solutions" if solutions else "exercises"
    sources = lesson_sources(lesson)
    exercises_name, solutions_name = (notebook_path(lesson, k).name for k in ("exercises", "solutions"))
    lesson_link = f"[lesson {number}, {sources.title}](../{lesson.LESSON}.ipynb)"
    lesson_id = lesson.__name__.rsplit(".", 1)[-1]
    files = ", ".join(f"`{kind}/{lesson_id}.{'md' if kind == 'text' else 'py'}`" for kind in ("text", "solutions", "stubs"))
    if solutions:
        intro = (f"# {number} · Solutions: {sources.title}\n\n"
                 f"Worked solutions of the [exercises]({exercises_name}) of {lesson_link}. Try the exercises "
                 f"first! Every check below prints ✅. This notebook and the exercises are generated from the "
                 f"same sources, {files} in `course_utils/exercises/` (`python -m course_utils.exercises`), so "
                 f"they always agree.")
    else:
        intro = (f"# {number} · Exercises: {sources.title}\n\n"
                 f"Practice for {lesson_link}. {sources.intro}\n\n"
                 f"**How it works.** Each exercise has a cell to fill in (replace the `...` or the "
                 f"`raise NotImplementedError`) and a check cell below it. Run both: `ex.q1.check(...)` says "
                 f"✅ when your answer is right, and otherwise what looks wrong, without giving the answer "
                 f"away. Stuck? Uncomment `ex.q1.hint()` for a hint, or `ex.q1.solution()` to see a "
                 f"solution. All the solutions are in [{solutions_name}]({solutions_name}).")
    cells = [
        ("badge", "markdown", badge_source(f"notebooks/exercises/{lesson.LESSON}_{kind}.ipynb")),
        ("setup", "code", setup_source()),
        ("intro", "markdown", intro),
        ("imports", "code", sources.setup),
    ]
    for i, question in enumerate(questions(lesson), start=1):
        source = sources.questions[question.name]
        code = source.solution if solutions else source.stub
        cells += [
            (f"{question.name}-prompt", "markdown", f"## Exercise {i} · {source.title}\n\n{source.prompt}"),
            (f"{question.name}-{'solution' if solutions else 'stub'}", "code", code),
            (f"{question.name}-check", "code", _check_cell(question)),
        ]
    outro = (f"## Done?\n\nCompare your answers with the [solutions]({solutions_name}), then go back to "
             f"{lesson_link} for its further reading, or on to the next lesson." if not solutions else
             f"## Done\n\nBack to the [exercises]({exercises_name}) or to {lesson_link}.")
    cells.append(("end", "markdown", outro))
    return cells


_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                      "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                      "pygments_lexer": "ipython3", "version": "3"},
}


def build_notebook(lesson: ModuleType, solutions: bool) -> dict:
    """The (unexecuted) exercises or solutions notebook of a lesson, as nbformat-4 JSON."""
    cells = []
    for cell_id, cell_type, source in notebook_cells(lesson, solutions):
        cell = {"cell_type": cell_type, "id": cell_id, "metadata": {}, "source": source.splitlines(keepends=True)}
        if cell_type == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    return {"cells": cells, "metadata": _METADATA, "nbformat": 4, "nbformat_minor": 5}


def _read_cells(path: Path) -> list[tuple[str, str]]:
    from course_utils.colab import cell_source

    return [(c["cell_type"], cell_source(c)) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]]


def stale_notebooks(lesson: ModuleType) -> list[Path]:
    """The lesson's notebooks that are missing or whose cells differ from the lesson module."""
    stale = []
    for solutions in (False, True):
        path = notebook_path(lesson, "solutions" if solutions else "exercises")
        expected = [(cell_type, source) for _, cell_type, source in notebook_cells(lesson, solutions)]
        if not path.exists() or _read_cells(path) != expected:
            stale.append(path)
    return stale


def build_notebooks(lesson: ModuleType, force: bool = False) -> list[Path]:
    """Write the lesson's exercises and solutions notebooks (unexecuted) if they are stale, or all if
    ``force``. Returns the paths written; execute them before committing."""
    written, stale = [], stale_notebooks(lesson)
    for solutions in (False, True):
        path = notebook_path(lesson, "solutions" if solutions else "exercises")
        if force or path in stale:
            path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(build_notebook(lesson, solutions), indent=1, sort_keys=True, ensure_ascii=False)
            path.write_text(text + "\n", encoding="utf-8")
            written.append(path)
    return written


def _execute(path: Path) -> None:
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                    "--inplace", str(path)], check=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m course_utils.exercises``: (re)build the exercise and solution notebooks; with ``release``
    first, write the notebooks to hand out (``course_utils.exercises.release``); with ``grade`` first, grade
    submissions (``course_utils.exercises.grade``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["grade"]:
        from course_utils.exercises.grade import main as grade_main

        return grade_main(argv[1:])
    if argv[:1] == ["release"]:
        from course_utils.exercises.release import main as release_main

        return release_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.exercises",
        description="Rebuild notebooks/exercises/NN_*_{exercises,solutions}.ipynb from "
                    "the sources in course_utils/exercises/ (text/lessonNN.md, solutions/lessonNN.py, "
                    "stubs/lessonNN.py). Execute them before committing (--execute).",
        epilog="For teachers: python -m course_utils.exercises release --help (the notebooks to hand out), "
               "python -m course_utils.exercises grade --help (grade what comes back).")
    parser.add_argument("lessons", nargs="*", help="lesson numbers (e.g. 02 03); default: all")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a notebook is stale")
    parser.add_argument("--force", action="store_true", help="rewrite every notebook, stale or not")
    parser.add_argument("--execute", action="store_true", help="execute the notebooks written (nbconvert)")
    args = parser.parse_args(argv)
    wanted = {re.sub(r"\D", "", name).zfill(2) for name in args.lessons}  # "2", "02", "lesson02" -> "02"
    selected = [lesson for lesson in lessons() if not wanted or lesson.LESSON[:2] in wanted]
    if unknown := wanted - {lesson.LESSON[:2] for lesson in selected}:
        parser.error(f"no exercises module for lesson(s) {sorted(unknown)}; "
                     f"have {[lesson.LESSON[:2] for lesson in lessons()]}")
    if args.check:
        stale = [path for lesson in selected for path in stale_notebooks(lesson)]
        for path in stale:
            print(f"out of sync: {path.relative_to(REPO_ROOT)} (run python -m course_utils.exercises)")
        return 1 if stale else 0
    for lesson in selected:
        for path in build_notebooks(lesson, force=args.force):
            print(f"wrote {path.relative_to(REPO_ROOT)}")
            if args.execute:
                _execute(path)
                print(f"executed {path.relative_to(REPO_ROOT)}")
    return 0


# The probes that see what the learner's code does (side effects, gradients, dropout, values before a LayerNorm);
# imported last, since they use Wrong and randn above.
from course_utils.exercises._probes import (  # noqa: E402
    NO_GRADIENT,
    Unchanged,
    call_for_gradients,
    expect_gradients,
    fixed_size,
    recorded_inputs,
    refusing,
    seeded,
)
