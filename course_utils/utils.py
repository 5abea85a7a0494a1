"""Small utilities every lesson uses: seeds and RNG state, the device, saving and loading models safely."""

from __future__ import annotations

import contextlib
import os
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

MODEL_SUFFIXES = (".pth", ".pt")


def set_seeds(seed: int = 42) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA and MPS


def rng_state() -> dict[str, Any]:
    """Every random generator's state (Python, NumPy, torch CPU and, if in use, CUDA) as loadable types.

    Plain lists, numbers and tensors only, so a checkpoint holding it loads with ``weights_only=True``.
    ``set_rng_state`` puts it back: a resumed run draws the same numbers as an uninterrupted one.
    """
    _, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    state = {"python": random.getstate(),
             "numpy": [keys.tolist(), int(pos), int(has_gauss), float(cached_gaussian)],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore every generator from a dict made by ``rng_state``, e.g. one loaded back from a checkpoint
    (its tensors may have been mapped to a GPU).

    Also accepts the older format that kept NumPy's key array alone. The CUDA state is restored only if it
    was saved and CUDA is available.
    """
    random.setstate((state["python"][0], tuple(state["python"][1]), state["python"][2]))
    numpy_state = state["numpy"]
    if len(numpy_state) != 4:  # a checkpoint from before this format kept the key array only
        numpy_state = [numpy_state, 624, 0, 0.0]
    keys, pos, has_gauss, cached_gaussian = numpy_state
    np.random.set_state(("MT19937", np.array(keys, dtype=np.uint32), pos, has_gauss, cached_gaussian))
    torch.set_rng_state(state["torch"].cpu())  # load_checkpoint(map_location="cuda") moved it to the GPU
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"].cpu())


def get_device() -> str:
    """The best available device: "cuda", then "mps" (Apple silicon), then "cpu".

    (The course notes once wrote ``device = "gpu"``; torch has no such device.)
    """
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` on a temp file beside ``path``, then rename it over ``path``.

    A crash mid-write leaves the old file (or nothing), never half a file: the rename is atomic on POSIX
    and Windows when source and target are on the same filesystem. If ``write`` raises, the folders this
    call created for ``path`` are removed again.
    """
    path = Path(path)
    with new_folders(path.parent):
        # Not tempfile.mkstemp: its files are private (0600), and the rename would keep that mode. This
        # one gets the permissions any new file gets (the umask's).
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"  # the pattern temp_files looks for
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        try:
            write(tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return path


@contextlib.contextmanager
def new_folders(folder: str | Path) -> Iterator[Path]:
    """Create ``folder`` and its missing parents; if the ``with`` body raises, remove the ones it created.

    So a failed write leaves no empty folders behind. Removal goes innermost first and stops at a folder
    that is no longer empty (something else wrote there meanwhile).
    """
    folder = Path(folder)
    created = [f for f in (folder, *folder.parents) if not f.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        for f in created:
            try:
                f.rmdir()
            except OSError:
                break
        raise


def temp_files(path: str | Path) -> list[Path]:
    """The temp files of ``atomic_write`` calls for ``path`` that never finished (killed before the rename)."""
    path = Path(path)
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def save_checkpoint(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj, path)`` atomically (see ``atomic_write``). Returns the path."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def save_model(model: nn.Module, target_dir: str | Path, model_name: str) -> Path:
    """Save ``model.state_dict()`` to ``target_dir/model_name`` atomically and return the path.

    ``model_name`` must end in ".pth" or ".pt".
    """
    if not model_name.endswith(MODEL_SUFFIXES):
        raise ValueError(f"model_name should end with '.pth' or '.pt', got {model_name!r}")
    path = Path(target_dir) / model_name
    print(f"[INFO] Saving model to: {path}")
    return save_checkpoint(model.state_dict(), path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # truncated zip, pickle garbage, ...
        raise RuntimeError(f"could not read checkpoint {path}: it is corrupt, truncated or not a torch "
                           f"file ({type(error).__name__}: {error})") from error


def load_model(model: nn.Module, path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Load weights saved by ``save_model`` (or a training checkpoint) into ``model`` and return it.

    Raises a clear error naming the file if it is missing or corrupt, and listing the keys and shapes
    that differ if it belongs to another architecture.
    """
    return load_state(model, model_weights(load_checkpoint(path, map_location), source=str(path)), source=str(path))


def model_weights(checkpoint: Any, source: str) -> dict[str, torch.Tensor]:
    """The state_dict in a loaded checkpoint: the checkpoint itself (``save_model``), or its "model" entry (a
    training checkpoint from ``course_utils.train``). Anything else raises a ValueError naming ``source``."""
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("model"), dict):
        checkpoint = checkpoint["model"]
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{source} holds a {type(checkpoint).__name__}, not model weights (a state_dict or a "
                         f"course_utils checkpoint)")
    return checkpoint


def load_state(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """``model.load_state_dict(state)``, after ``check_state_dict_matches`` so that a mismatch says what differs
    and names ``source``. Returns the model."""
    check_state_dict_matches(model, state, source)
    model.load_state_dict(state)
    return model


def check_state_dict_matches(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise a ValueError that says what differs if ``state`` does not fit ``model`` exactly."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(expected.keys() - got.keys())
    unexpected = sorted(got.keys() - expected.keys())
    wrong_shape = [f"{k}: checkpoint {got[k]} vs model {expected[k]}"
                   for k in expected.keys() & got.keys() if got[k] != expected[k]]
    if missing or unexpected or wrong_shape:
        lines = [f"checkpoint {source} does not match {type(model).__name__}:"]
        if wrong_shape:
            lines.append(f"  {len(wrong_shape)} shape mismatch(es), e.g. " + "; ".join(sorted(wrong_shape)[:3]))
        if missing:
            lines.append(f"  {len(missing)} key(s) missing from the checkpoint, e.g. {missing[:3]}")
        if unexpected:
            lines.append(f"  {len(unexpected)} unexpected key(s) in the checkpoint, e.g. {unexpected[:3]}")
        raise ValueError("\n".join(lines))
