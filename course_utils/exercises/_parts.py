"""Helpers for answers made of several parts: a dict of numbers or shapes that the learner fills in.

The stub gives the dict with every key and ``...`` as each value. ``expect_entries`` checks that the keys
are still there and says "not attempted" while every value is ``...``; ``as_shape`` reads one value as a
shape, and ``shape_feedback`` says what looks wrong with a shape without giving the right one away.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from course_utils.exercises import NotAttempted, Wrong, as_number


def unfilled(value: Any) -> bool:
    """True if an entry is still the stub's ``...`` (or None)."""
    return value is Ellipsis or value is None


def expect_entries(answer: Any, name: str, keys: Sequence[str]) -> dict[str, Any]:
    """``answer`` must be a dict with every key of the stub; raise NotAttempted if no entry is filled in."""
    if not isinstance(answer, Mapping):
        raise Wrong(f"`{name}` should be a dict, as in the stub ({{\"{keys[0]}\": ..., ...}}); got a "
                    f"{type(answer).__name__}. Keep the stub's keys and replace each `...` with your answer.")
    missing = [key for key in keys if key not in answer]
    if missing:
        listed = ", ".join(f'"{key}"' for key in missing)
        raise Wrong(f"`{name}` has no entry for {listed}. Keep every key of the stub and replace each `...` "
                    f"with your answer.")
    if all(unfilled(answer[key]) for key in keys):
        raise NotAttempted
    return {key: answer[key] for key in keys}


def still_missing(entries: Mapping[str, Any], name: str) -> None:
    """After the filled-in entries passed: raise Wrong naming the entries that are still ``...``."""
    missing = [key for key, value in entries.items() if unfilled(value)]
    if missing:
        listed = ", ".join(f'`{name}["{key}"]`' for key in missing)
        raise Wrong(f"So far so good: the entries you filled in are right. Now fill in {listed} "
                    f"(still `...`).")


def as_shape(value: Any, what: str) -> tuple[int, ...]:
    """``value`` as a shape (a tuple, list or torch.Size of whole numbers); ``what`` names it in messages."""
    if isinstance(value, torch.Tensor):
        raise Wrong(f"{what} is a tensor. Give its shape as a tuple of numbers, e.g. `tuple(t.shape)`.")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise Wrong(f"{what} is the single number {value}. Give the whole shape: a tuple with one entry per "
                    f"dimension, e.g. (2, 3). (In Python `(n)` is just the number n; a one-element tuple "
                    f"needs a comma: `(n,)`.)")
    if isinstance(value, str) or not isinstance(value, (tuple, list, torch.Size)):
        raise Wrong(f"{what} is a {type(value).__name__}; give a tuple of numbers, e.g. (2, 3).")
    entries = tuple(as_number(v, f"each entry of {what}") for v in value)
    if any(v != int(v) or v < 0 for v in entries):
        raise Wrong(f"{what}: each entry of a shape is a whole number, the size of one dimension.")
    return tuple(int(v) for v in entries)


def shape_feedback(got: tuple[int, ...], expected: tuple[int, ...], what: str) -> str:
    """A generic, answer-free message for a shape ``got`` that differs from ``expected``."""
    if got == expected[1:]:
        return (f"{what} is {got}: the batch dimension is missing. A batch of B images gives B of everything, "
                f"and B comes first.")
    if len(got) != len(expected):
        return f"{what} is {got}, with {len(got)} dimensions; this tensor has {len(expected)}."
    wrong = [str(i + 1) for i, (g, e) in enumerate(zip(got, expected, strict=True)) if g != e]
    which = f"dimension {wrong[0]}" if len(wrong) == 1 else f"dimensions {', '.join(wrong[:-1])} and {wrong[-1]}"
    return (f"{what} is {got}: the number of dimensions is right, but {which} (counting from 1) "
            f"{'looks' if len(wrong) == 1 else 'look'} off. Work out what each dimension counts.")
