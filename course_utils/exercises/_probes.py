"""Probes that see what a learner's code does, not only what it returns.

- ``Unchanged``: hand the learner's code the caller's own tensors (and modules, dicts, lists), then prove that
  it left them as they were: an answer that writes into its input (``q /= ...``, ``z += ...``, a write into a
  view of the input) is wrong even when its output is right.
- ``expect_gradients``: the output must carry a gradient, and the gradient it sends back to the inputs and
  parameters must be the reference's: ``.detach()``, ``.data``, a NumPy round trip or ``torch.no_grad()``
  inside the answer would stop training.
- ``seeded``: run code with torch's RNG seeded, and the caller's RNG untouched, so that a model can be checked
  in training mode with its dropout on: the same seed gives the same dropout masks to the learner's code and to
  the reference, as long as both draw them in the same order.
- ``recorded_inputs``: the tensors a module is called on, to compare values before a LayerNorm, which would
  hide a scale error in its input.
- ``refusing``: make a function the prompt forbids (the reference) raise ``Wrong`` while the learner's code runs.
- ``fixed_size``: read from an error whether the learner's code has a fixed batch size in it.
- ``call_leaving_alone``: call the learner's function from seeded global random number generators and prove that
  it left the working directory and those generators as it found them (it may draw from the ones it is allowed
  to, but never re-seed them); the caller's own state is restored whatever the function did.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from course_utils.exercises import Wrong

__all__ = ["NO_GRADIENT", "RNG_NAMES", "Unchanged", "call_for_gradients", "call_leaving_alone", "expect_gradients",
           "fixed_size", "global_rngs", "recorded_inputs", "refusing", "rng_snapshot", "seeded"]


# --------------------------------------------------------------------------------------------------------
# Side effects
# --------------------------------------------------------------------------------------------------------

def _save(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, nn.Module):
        return {
            "state": {k: v.detach().clone() for k, v in value.state_dict(keep_vars=True).items()},
            "training": {name: m.training for name, m in value.named_modules()},
            "requires_grad": {name: p.requires_grad for name, p in value.named_parameters()},
            "modules": {name: id(m) for name, m in value.named_modules()},
        }
    if isinstance(value, Mapping):
        return {key: (item, _save(item)) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [(item, _save(item)) for item in value]
    return None


def _changed(value: Any, saved: Any, name: str) -> tuple[str, str] | None:
    """(what changed, the kind of change) or None; the kinds: "tensor", "module", "container"."""
    if isinstance(value, torch.Tensor):
        if value.shape != saved.shape or not torch.equal(value.detach(), saved):
            return f"`{name}`", "tensor"
        return None
    if isinstance(value, nn.Module):
        now = _save(value)
        if now["modules"] != saved["modules"]:
            changed = sorted(set(now["modules"].items()) ^ set(saved["modules"].items()))
            return f"`{name}`: it replaced its layer `{changed[0][0] or name}`", "module"
        for key, tensor in saved["state"].items():
            if not torch.equal(now["state"][key], tensor):
                return f"`{name}`: it changed `{name}.{key}`", "module"
        for sub, training in saved["training"].items():
            if now["training"][sub] != training:
                mode = "training" if now["training"][sub] else "eval"
                where = f"`{name}.{sub}`" if sub else f"`{name}`"
                return f"`{name}`: it switched {where} to {mode} mode (`.{'train' if mode == 'training' else 'eval'}()`)", "module"
        for key, flag in saved["requires_grad"].items():
            if now["requires_grad"][key] != flag:
                return f"`{name}`: it changed `requires_grad` of `{name}.{key}`", "module"
        return None
    if isinstance(value, Mapping):
        if list(value) != list(saved):
            return f"`{name}`: it added or removed entries", "container"
        for key, (item, item_saved) in saved.items():
            if value[key] is not item:
                return f"`{name}`: it replaced `{name}[{key!r}]`", "container"
            if change := _changed(item, item_saved, f"{name}[{key!r}]"):
                return change
        return None
    if isinstance(value, (list, tuple)):
        if len(value) != len(saved) or any(a is not b for a, (b, _) in zip(value, saved, strict=False)):
            return (f"`{name}`: it reordered or changed the list itself (`.reverse()`, `.sort()`, `.pop()`, "
                    f"`.append()`, ...). Loop over it as it is, or work on a copy (`reversed(...)`, `list(...)`)",
                    "container")
        for index, (item, item_saved) in enumerate(saved):
            if change := _changed(item, item_saved, f"{name}[{index}]"):
                return change
    return None


class Unchanged:
    """Values handed to the learner's code, saved, to prove afterwards that the code left them as they were.

    Tensors are compared by shape and value; modules by their parameters and buffers, their layers, their mode
    (``.train()`` / ``.eval()``) and their ``requires_grad`` flags; dicts, lists and tuples item by item (and
    the list itself, which ``.reverse()`` would change). Usage::

        inputs = Unchanged(z=z, ln1=ln1)
        out = encoder_block(z, ln1, ...)   # the caller's own z, not a clone
        inputs.expect("encoder_block")     # raises Wrong if z or ln1 changed
    """

    def __init__(self, **values: Any) -> None:
        self.values = values
        self.saved = {name: _save(value) for name, value in values.items()}

    def expect(self, who: str) -> None:
        """Raise ``Wrong`` naming the first value that ``who`` (the learner's function) changed."""
        for name, value in self.values.items():
            change = _changed(value, self.saved[name], name)
            if change is None:
                continue
            what, kind = change
            if kind == "tensor":
                raise Wrong(f"`{who}` changed {what} in place: after the call, the caller's tensor no longer "
                            f"holds what it passed in. An in-place operation (`x += ...`, `x /= ...`, "
                            f"`x[...] = ...`, or a method ending in `_` such as `.add_()`) writes into the "
                            f"tensor it was given, directly or through a view of it (a slice, `.view`, "
                            f"`.transpose`, `.unfold`). Compute a new tensor (`x = x + ...`) and leave the "
                            f"input as it was: the caller may still need it.")
            raise Wrong(f"`{who}` changed {what}. Leave what the caller hands you as it was: work on the values "
                        f"you compute.")


# --------------------------------------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------------------------------------

NO_GRADIENT = ("{who} carries no gradient (its `grad_fn` is None): `loss.backward()` could not reach anything "
               "before it, so nothing would learn. Something cut it off from autograd: `.detach()`, `.data`, "
               "`.item()` or `.tolist()`, a NumPy round trip (`.numpy()`, `torch.tensor(...)`, "
               "`torch.from_numpy(...)`), or `torch.no_grad()`. Stay with tensor operations all the way.")


def expect_gradients(out: torch.Tensor, expected: torch.Tensor, wrt: Mapping[str, torch.Tensor], who: str, *,
                     reached: Mapping[str, torch.Tensor] | None = None, seed: int = 0, atol: float = 1e-5,
                     rtol: float = 1e-3) -> None:
    """The learner's ``out`` must send back to each tensor of ``wrt`` the gradient the reference's ``expected``
    sends, for the same upstream gradient (random, from ``seed``), and some gradient to each of ``reached``.

    Both were computed, with autograd on, from the tensors of ``wrt`` (inputs or parameters that require
    grad); ``expected`` is assumed right, and ``out`` already equal to it in value. ``reached`` holds
    parameters that only ``out`` depends on (the learner's module's own, say). ``who`` names the output in
    the messages, e.g. "The output of `patchify`".
    """
    if not out.requires_grad or out.grad_fn is None:
        raise Wrong(NO_GRADIENT.format(who=who))
    names = [name for name, tensor in wrt.items() if tensor.requires_grad]
    tensors = [wrt[name] for name in names]
    upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed))
    try:
        got = torch.autograd.grad(out, tensors, upstream.to(out.dtype), allow_unused=True, retain_graph=True)
        others = {name: tensor for name, tensor in (reached or {}).items() if tensor.requires_grad}
        if others:
            grads = torch.autograd.grad(out, list(others.values()), upstream.to(out.dtype), allow_unused=True,
                                        retain_graph=True)
            for name, grad in zip(others, grads, strict=True):
                if grad is None or not bool(grad.abs().max() > 0):
                    raise Wrong(f"No gradient reaches `{name}` through {who[0].lower() + who[1:]}: the "
                                f"computation that uses it is cut off from autograd (`.detach()`, `.data`, a "
                                f"NumPy round trip or `torch.no_grad()`), so in training `{name}` would never "
                                f"learn.")
    except RuntimeError as error:
        raise Wrong(f"{who} cannot be differentiated: autograd says \"{str(error).splitlines()[0]}\". An in-place "
                    f"operation (`x += ...`, `x[...] = ...`) on a tensor that autograd saved for the backward pass "
                    f"breaks it: write `x = x + ...` instead.") from None
    reference = torch.autograd.grad(expected, tensors, upstream.to(expected.dtype), allow_unused=True,
                                    retain_graph=True)
    for name, grad, ref in zip(names, got, reference, strict=True):
        if ref is None or not bool(ref.abs().max() > 0):
            continue
        if grad is None or not bool(grad.abs().max() > 0):
            raise Wrong(f"No gradient reaches `{name}` through {who[0].lower() + who[1:]}: the computation that "
                        f"uses it is cut off from autograd (`.detach()`, `.data`, a NumPy round trip or "
                        f"`torch.no_grad()`), so in training `{name}` would never learn.")
        scale = float(ref.abs().max())
        if grad.shape != ref.shape or not torch.allclose(grad.double(), ref.double(), atol=atol * max(scale, 1.0),
                                                         rtol=rtol):
            raise Wrong(f"The gradient that reaches `{name}` through {who[0].lower() + who[1:]} is not the right "
                        f"one, although the values are: part of the computation is cut off from autograd "
                        f"(`.detach()`, `.data`, a NumPy round trip or `torch.no_grad()` on one branch), so "
                        f"training would update `{name}` wrongly.")


# --------------------------------------------------------------------------------------------------------
# Randomness, hooks, forbidden shortcuts, fixed sizes
# --------------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's CPU RNG seeded with ``seed``; the caller's RNG state is restored after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def recorded_inputs(module: nn.Module) -> Iterator[list[torch.Tensor]]:
    """The first argument of every call of ``module`` inside the block, detached, in order."""
    inputs: list[torch.Tensor] = []
    handle = module.register_forward_pre_hook(lambda _, args: inputs.append(args[0].detach().clone()))
    try:
        yield inputs
    finally:
        handle.remove()


@contextlib.contextmanager
def refusing(owner: Any, attribute: str, message: str) -> Iterator[Any]:
    """While the block runs, ``owner.attribute`` raises ``Wrong(message)``; yields the original."""
    original = getattr(owner, attribute)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise Wrong(message)

    setattr(owner, attribute, refuse)
    try:
        yield original
    finally:
        setattr(owner, attribute, original)


_MISMATCH = [
    re.compile(r"Expected size (\d+) but got size (\d+)"),  # torch.cat
    re.compile(r"size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at non-singleton dimension 0"),
    re.compile(r"expanded size of the tensor \((\d+)\) must match the existing size \((\d+)\) at non-singleton "
               r"dimension 0"),
]


def fixed_size(error: BaseException, batch: int) -> int | None:
    """If ``error`` says that a batch of ``batch`` met a tensor made for another batch size, that size."""
    for pattern in _MISMATCH:
        if match := pattern.search(str(error)):
            sizes = {int(match.group(1)), int(match.group(2))}
            if batch in sizes and len(sizes) == 2:
                return (sizes - {batch}).pop()
    return None


def call_for_gradients(function: Any, who: str, *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` with autograd on, for inputs that require grad; an error that only such
    inputs cause (a NumPy round trip, an in-place write into a leaf) becomes ``Wrong``."""
    with torch.enable_grad():
        try:
            return function(*args, **kwargs)
        except RuntimeError as error:
            text = str(error)
            if "numpy()" in text and "requires grad" in text:
                raise Wrong(NO_GRADIENT.format(who=who)) from None
            if "leaf Variable that requires grad" in text or "a view of a leaf Variable" in text:
                raise Wrong(f"{who} comes from an in-place operation on an input (`x += ...`, `x[...] = ...`, or "
                            f"a method ending in `_`): it writes into the caller's tensor, which autograd "
                            f"forbids for a tensor that requires grad. Compute a new tensor (`x = x + ...`).") from None
            raise


# --------------------------------------------------------------------------------------------------------
# The caller's working directory and global random number generators
# --------------------------------------------------------------------------------------------------------

RNG_NAMES = {"torch": "torch's", "numpy": "NumPy's", "random": "Python's `random`"}
_SEEDING = {"torch": "`torch.manual_seed`", "numpy": "`np.random.seed`", "random": "`random.seed`"}
_DRAWING = {"torch": "`torch.rand`, `torch.randperm`, ... without `generator=`",
            "numpy": "`np.random.rand`, `np.random.permutation`, ...",
            "random": "`random.random`, `random.shuffle`, `random.sample`, ..."}


def rng_snapshot() -> dict[str, Any]:
    """The states of the global random number generators of torch (CPU), NumPy and Python's ``random``."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "random": random.getstate()}


def _restore(snapshot: Mapping[str, Any]) -> None:
    torch.set_rng_state(snapshot["torch"])
    np.random.set_state(snapshot["numpy"])
    random.setstate(snapshot["random"])


def _same_state(name: str, a: Any, b: Any) -> bool:
    if name == "torch":
        return bool(torch.equal(a, b))
    if name == "numpy":
        return a[0] == b[0] and bool(np.array_equal(a[1], b[1])) and tuple(a[2:]) == tuple(b[2:])
    return a == b


def _changed_rngs(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return [name for name in RNG_NAMES if not _same_state(name, before[name], after[name])]


@contextlib.contextmanager
def global_rngs(seed: int) -> Iterator[None]:
    """Run the block with the global RNGs of torch, NumPy and Python seeded with ``seed``; restore them after."""
    saved = rng_snapshot()
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    try:
        yield
    finally:
        _restore(saved)


def _run_from(seed: int, function: Callable[..., Any], args: tuple[Any, ...],
              kwargs: Mapping[str, Any]) -> tuple[Any, dict[str, Any], dict[str, Any], str]:
    """``function(*args, **kwargs)`` from global RNGs seeded with ``seed``: (its result, the RNG states before
    and after, the working directory after). The caller's RNGs and working directory are restored after."""
    cwd = os.getcwd()
    try:
        with global_rngs(seed):
            # A few draws past the seeded state: an answer that re-seeds with the same seed must still show.
            torch.rand(3)
            np.random.rand(3)
            random.random()
            before = rng_snapshot()
            out = function(*args, **kwargs)
            after = rng_snapshot()
            return out, before, after, os.getcwd()
    finally:
        if os.getcwd() != cwd:
            os.chdir(cwd)


def call_leaving_alone(function: Callable[..., Any], who: str, *args: Any, draws: Collection[str] = (),
                       seed: int = 0, advice: str = "", **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, called with the global RNGs seeded with ``seed``; raise ``Wrong`` if it
    left the working directory changed, or changed a global RNG (torch's, NumPy's, Python's ``random``: the
    keys of ``RNG_NAMES``) that is not in ``draws``. It may draw from those in ``draws`` (building a layer draws
    its weights from torch's), but not re-seed them: where one changed, the function runs again from another
    seed, and if that RNG ends in the same state both times, it was re-seeded. ``who`` names the function in the
    messages, ``advice`` ends the RNG message. Whatever happens, the caller's working directory and RNGs are
    restored. Returns the function's result."""
    out, before, after, cwd = _run_from(seed, function, args, kwargs)
    if cwd != os.getcwd():
        raise Wrong(f"{who} changed the working directory (`os.chdir`) and left it at {cwd!r}: every relative "
                    f"path the caller uses after it (a dataset folder, a checkpoint, an output file) would point "
                    f"somewhere else. Build paths from the folder you were given instead (`Path(root) / name`, "
                    f"`os.path.join(root, name)`), and leave the working directory alone.")
    changed = _changed_rngs(before, after)
    for name in changed:
        if name not in draws:
            raise Wrong(f"{who} changed {RNG_NAMES[name]} global random number generator (re-seeding it with "
                        f"{_SEEDING[name]}, or drawing from it: {_DRAWING[name]}): every random draw of the "
                        f"caller's after it (the model's initialisation, the batch order, the augmentation) "
                        f"would change with it. {advice}".rstrip())
    for name in (name for name in changed if name in draws):
        _, _, again, _ = _run_from(seed + 7_919, function, args, kwargs)
        if _same_state(name, after[name], again[name]):
            raise Wrong(f"{who} re-seeds {RNG_NAMES[name]} global random number generator (a call such as "
                        f"{_SEEDING[name]} inside it): started from two different random states, it left the "
                        f"generator in the same state both times. Every random draw of the caller's after it "
                        f"would be the same in every run, whatever seed the caller set. Seeding belongs to the "
                        f"caller: draw from the state you find. {advice}".rstrip())
    return out
