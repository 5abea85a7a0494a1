"""Answers that prove the exercise checkers: typical wrong ones, and right ones written in unusual ways.

Lesson NN's are in ``lessonNN.py`` here, in the "percent" format of the exercise sources
(``course_utils/exercises/solutions/``): a ``# %% imports`` cell (there for ruff: the answers run after the
lesson's own imports cell), then one cell per answer, headed

- ``# %% qN wrong: TEXT``: code that defines exercise qN's answer the way learners get it wrong; the checker
  must reject it with a message that contains TEXT;
- ``# %% qN right: WHAT``: code that defines a right answer written unusually (WHAT says how); the checker
  must accept it.

Each answer runs after the lesson's imports cell and the solutions of the exercises before qN, as it would in
the solutions notebook. These files are test fixtures: they are not part of the package.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from course_utils.exercises._sources import read_cells

HERE = Path(__file__).resolve().parent
_HEADER = re.compile(r"(q\d+) (wrong|right): (.+)")


class Answer(NamedTuple):
    """One answer to exercise ``question``: ``code`` that defines it; ``right`` or not; and ``expect``, the
    fragment a wrong answer's message must contain (for a right one, what is unusual about it)."""

    question: str
    code: str
    right: bool
    expect: str


def answers(lesson_id: str) -> list[Answer]:
    """Every answer in ``lessonNN.py`` (for ``lesson_id`` "lessonNN"), in file order."""
    path = HERE / f"{lesson_id}.py"
    found = []
    for header, code in read_cells(path.read_text(encoding="utf-8"), str(path)):
        if header == "imports":
            continue
        match = _HEADER.fullmatch(header)
        if not match:
            raise ValueError(f"{path.name}: cell header {header!r} is not `qN wrong: TEXT` or `qN right: WHAT`")
        found.append(Answer(match.group(1), code, match.group(2) == "right", match.group(3).strip()))
    return found


def mistakes(lesson_id: str, question: str) -> list[Answer]:
    """The wrong answers to one exercise, e.g. ``mistakes("lesson02", "q1")``."""
    return [answer for answer in answers(lesson_id) if answer.question == question and not answer.right]


def right_answers(lesson_id: str, question: str) -> list[Answer]:
    """The right-but-unusual answers to one exercise."""
    return [answer for answer in answers(lesson_id) if answer.question == question and answer.right]
