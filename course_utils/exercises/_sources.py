"""The sources of a lesson's exercises, read from their files: text in markdown, code in Python.

Lesson NN's exercises live in three files of this package (the package docstring describes their format):

- ``text/lessonNN.md``: the lesson's title and introduction, and for every exercise its title, prompt,
  hints and "why" line;
- ``solutions/lessonNN.py``: the imports cell and one solution cell per exercise, a real Python file (ruff
  reads it) that runs top to bottom as the solutions notebook does;
- ``stubs/lessonNN.py``: the same cells as the learner starts from them.

The files are read with ``importlib.resources``, so they work from a clone and from an installed wheel.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

_CELL = re.compile(r"^# %% ?(.*)$")
_QUESTION = re.compile(r"^## (q\d+): (.+)$")
_SECTION = re.compile(r"^### (Hint|Why)$")


class SourceError(ValueError):
    """A lesson's source files are malformed or disagree with each other."""


def read_cells(text: str, where: str = "<text>") -> list[tuple[str, str]]:
    """The cells of a Python file in the "percent" format: ``(header, code)`` pairs, in order.

    A line ``# %% header`` starts a cell; the cell's code is the lines after it up to the next such line, with
    leading and trailing blank lines dropped and one final newline. What comes before the first ``# %%`` line
    (the module docstring, ruff directives) belongs to no cell.
    """
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if match := _CELL.match(line):
            cells.append((match.group(1).strip(), []))
        elif cells:
            cells[-1][1].append(line)
    result = [(header, "\n".join(lines).strip("\n") + "\n") for header, lines in cells]
    for header, code in result:
        if not header or not code.strip():
            raise SourceError(f"{where}: every cell needs a header after `# %%` and some code (got {header!r})")
    return result


def _paragraphs(text: str) -> str:
    """Markdown paragraphs as printed text: the lines of a paragraph joined by spaces, paragraphs by a blank line."""
    blocks = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(" ".join(line.strip() for line in block.splitlines()) for block in blocks)


@dataclass(frozen=True)
class QuestionText:
    """One exercise's text: its ``title``, ``prompt`` (markdown), ``hints`` and ``why`` (printed text)."""

    title: str
    prompt: str
    hints: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class LessonText:
    """A lesson's ``title``, ``intro`` (markdown) and ``questions`` (name -> QuestionText), in order."""

    title: str
    intro: str
    questions: dict[str, QuestionText]


def parse_text(text: str, where: str = "<text>") -> LessonText:
    """Parse a lesson's markdown file (format: see the package docstring)."""
    lines = text.strip().splitlines()
    if not lines or not lines[0].startswith("# "):
        raise SourceError(f"{where}: the first line is the lesson's title, `# Title`")
    title = lines[0][2:].strip()
    intro: list[str] = []
    questions: dict[str, tuple[str, dict[str, list[list[str]]]]] = {}
    section: list[str] = intro
    for number, line in enumerate(lines[1:], start=2):
        if match := _QUESTION.match(line):
            name = match.group(1)
            if name in questions:
                raise SourceError(f"{where}, line {number}: {name} appears twice")
            prompt: list[str] = []
            questions[name] = (match.group(2).strip(), {"Prompt": [prompt]})
            section = prompt
        elif match := _SECTION.match(line):
            if not questions:
                raise SourceError(f"{where}, line {number}: a `### {match.group(1)}` section before the first `## qN:`")
            section = []
            questions[next(reversed(questions))][1].setdefault(match.group(1), []).append(section)
        elif line.startswith(("# ", "## ", "### ")):
            raise SourceError(f"{where}, line {number}: unexpected heading {line!r}; the headings are `# Title`, "
                              f"`## qN: title`, `### Hint` and `### Why`")
        else:
            section.append(line)
    parsed = {}
    for name, (question_title, sections) in questions.items():
        prompt_text = "\n".join(sections["Prompt"][0]).strip()
        hints = tuple(_paragraphs("\n".join(hint)) for hint in sections.get("Hint", []))
        whys = sections.get("Why", [])
        if not prompt_text or not hints or len(whys) > 1 or not all(hints):
            raise SourceError(f"{where}: {name} needs a prompt, at least one `### Hint` and at most one `### Why`")
        parsed[name] = QuestionText(question_title, prompt_text, hints, _paragraphs("\n".join(whys[0])) if whys else "")
    if not parsed:
        raise SourceError(f"{where}: no exercise (`## q1: title`)")
    return LessonText(title, "\n".join(intro).strip(), parsed)


@dataclass(frozen=True)
class QuestionSources(QuestionText):
    """One exercise's text, plus its ``stub`` and ``solution`` cells (code)."""

    stub: str
    solution: str


@dataclass(frozen=True)
class LessonSources:
    """Everything the notebooks of a lesson are made of, besides the checkers."""

    title: str
    intro: str
    setup: str  # the imports cell, the same in both notebooks
    questions: dict[str, QuestionSources]


def source_path(kind: str, lesson_id: str) -> str:
    """The file of a lesson's sources, relative to this package: kind "text", "solutions" or "stubs"."""
    return f"{kind}/{lesson_id}.{'md' if kind == 'text' else 'py'}"


def _read(kind: str, lesson_id: str) -> str:
    return resources.files(__package__).joinpath(source_path(kind, lesson_id)).read_text(encoding="utf-8")


@functools.cache
def load(lesson_id: str) -> LessonSources:
    """The sources of lesson ``lesson_id`` (e.g. "lesson02"), checked to agree with each other."""
    where = {kind: f"course_utils/exercises/{source_path(kind, lesson_id)}" for kind in ("text", "solutions", "stubs")}
    text = parse_text(_read("text", lesson_id), where["text"])
    code = {kind: dict(read_cells(_read(kind, lesson_id), where[kind])) for kind in ("solutions", "stubs")}
    expected = ["imports", *text.questions]
    for kind, cells in code.items():
        if list(cells) != expected:
            raise SourceError(f"{where[kind]}: the cells are {list(cells)}; {where['text']} asks for {expected}")
    if code["solutions"]["imports"] != code["stubs"]["imports"]:
        raise SourceError(f"{where['solutions']} and {where['stubs']}: the `# %% imports` cells differ; both "
                          f"notebooks start with the same imports")
    questions = {name: QuestionSources(*(getattr(q, f) for f in ("title", "prompt", "hints", "why")),
                                       stub=code["stubs"][name], solution=code["solutions"][name])
                 for name, q in text.questions.items()}
    return LessonSources(text.title, text.intro, code["solutions"]["imports"], questions)
