"""Which precision to train in, decided once from the hardware: the course's mixed-precision policy.

Mixed precision pays only where the hardware computes in the narrow type natively. On a CPU without
bf16 instructions (most laptops, Colab's CPU runtime) bf16 is *emulated*: a bf16 matrix multiply is tens
of times slower than fp32, so autocast there makes training about 10x slower, not faster. The same trap
exists on a GPU: a T4 (compute capability 7.5, Colab's free GPU) has fp16 tensor cores but no bf16 ones,
and ``torch.cuda.is_bf16_supported()`` answers True there because, by default, it counts emulation.

The policy (``--amp auto``, the default everywhere):

=============================================  ===============================================
hardware                                       precision
=============================================  ===============================================
CPU with AVX-512 bf16 or AMX instructions      bf16 autocast
any other CPU                                  fp32
CUDA GPU, compute capability >= 8.0 (Ampere+)  bf16 autocast
older CUDA GPU (T4, V100, ...)                 fp16 autocast with a GradScaler
Apple GPU (MPS)                                fp32 (opt in with ``--amp fp16``, see below)
=============================================  ===============================================

On MPS, PyTorch's autocast accepts fp16 and bf16 (bf16 from macOS 14), but the gain varies a lot between
Apple GPUs and some ops fall back to fp32, so ``auto`` stays in fp32 there; ``--amp fp16`` opts in.

A CPU's bf16 counts only where oneDNN, which runs autocast's bf16 matrix multiplies, may use it: with
``ONEDNN_MAX_CPU_ISA=AVX2`` (a fast CPU standing in for the baseline) the policy stays in fp32.

``--amp bf16``, ``--amp fp16`` and ``--amp off`` override the choice. fp16 always comes with a GradScaler,
which multiplies the loss before ``backward`` so that small gradients do not underflow fp16's range.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

MODES = ("auto", "bf16", "fp16", "off")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """A precision decision: the autocast dtype (None for fp32) on ``device_type``, and why it was chosen."""

    device_type: str
    dtype: torch.dtype | None
    reason: str

    @property
    def name(self) -> str:
        """"bf16", "fp16" or "fp32"."""
        return next((name for name, dtype in _DTYPES.items() if dtype == self.dtype), "fp32")

    @property
    def needs_grad_scaler(self) -> bool:
        """fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none."""
        return self.dtype == torch.float16

    def autocast(self) -> contextlib.AbstractContextManager:
        """A ``torch.autocast`` context in this precision, or a no-op context for fp32."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler, enabled only for fp16 (a disabled one passes gradients through unchanged)."""
        return torch.amp.GradScaler(self.device_type, enabled=self.needs_grad_scaler)

    def describe(self) -> str:
        """One line for logs, e.g. "precision: fp32 (this CPU has no native bf16)"."""
        return f"precision: {self.name} ({self.reason})"


def cpu_has_bf16_instructions() -> bool:
    """True if this CPU has bf16 instructions: AVX-512 BF16 or AMX tiles (Intel Sapphire Rapids+, AMD Zen 4+)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def cpu_has_native_bf16() -> bool:
    """True if this CPU computes bf16 in hardware (``cpu_has_bf16_instructions``) and oneDNN, which runs autocast's
    bf16 matrix multiplies, may use those instructions (``onednn_may_use_bf16``)."""
    return cpu_has_bf16_instructions() and onednn_may_use_bf16()


def onednn_may_use_bf16() -> bool:
    """False where oneDNN is held below AVX-512 (``ONEDNN_MAX_CPU_ISA=AVX2``, as when a fast CPU stands in for a
    slower one): its bf16 is then emulated, about 10x slower than fp32, whatever the CPU has."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def cuda_has_native_bf16(device: str | torch.device = "cuda") -> bool:
    """True if the GPU has bf16 tensor cores: compute capability >= 8.0 (Ampere and later), or ROCm.

    The same test as ``torch.cuda.is_bf16_supported(including_emulation=False)``, but for ``device``
    rather than the current device; emulation, which that function counts by default, does not count.
    """
    if torch.version.hip:
        return True
    return torch.cuda.get_device_capability(device) >= (8, 0)


def auto_precision(device: str | torch.device) -> Precision:
    """The fastest precision that trains reliably on ``device`` (the table in this module's docstring)."""
    device_type = torch.device(device).type
    if device_type == "cpu":
        if cpu_has_native_bf16():
            return Precision("cpu", torch.bfloat16, "this CPU has native bf16 (AVX-512 BF16 or AMX)")
        if cpu_has_bf16_instructions():
            return Precision("cpu", None, "this CPU has bf16 instructions, but oneDNN is held below AVX-512 "
                                          "(ONEDNN_MAX_CPU_ISA), so bf16 would be emulated and slow")
        return Precision("cpu", None, "this CPU has no native bf16, so bf16 would be emulated and slow")
    if device_type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        if cuda_has_native_bf16(device):
            return Precision("cuda", torch.bfloat16, f"this GPU (compute capability {major}.{minor}) has bf16")
        return Precision("cuda", torch.float16, f"this GPU (compute capability {major}.{minor}) has no bf16 "
                                                f"tensor cores; fp16 with a GradScaler")
    if device_type == "mps":
        return Precision("mps", None, "fp32 is the safe default on Apple GPUs; --amp fp16 opts in")
    return Precision(device_type, None, f"no mixed-precision policy for {device_type!r}")


def choose_precision(device: str | torch.device, amp: str | bool | Precision = "auto") -> Precision:
    """Resolve ``amp`` for ``device``: "auto" (or True) asks ``auto_precision``; "bf16" / "fp16" force a
    dtype; "off" (or False) is fp32. A ``Precision`` is returned as it is.
    """
    if isinstance(amp, Precision):
        return amp
    if isinstance(amp, bool):
        amp = "auto" if amp else "off"
    if amp not in MODES:
        raise ValueError(f"unknown precision {amp!r}; choose from {', '.join(MODES)}")
    device_type = torch.device(device).type
    if amp == "auto":
        return auto_precision(device)
    if amp == "off":
        return Precision(device_type, None, "mixed precision turned off")
    return Precision(device_type, _DTYPES[amp], f"asked for with --amp {amp}")
