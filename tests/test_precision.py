"""precision: every branch of the hardware policy, with the hardware checks mocked (this machine has one CPU)."""

import json
import os
import subprocess
import sys

import pytest
import torch

from course_utils import engine, precision, shapes, train


@pytest.fixture
def cpu(monkeypatch):
    """Set what the CPU reports: avx512_bf16 and AMX tiles, and whether oneDNN may use them."""
    def set_cpu(avx512_bf16: bool, amx: bool, onednn_bf16: bool = True) -> None:
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
        monkeypatch.setattr(precision, "onednn_may_use_bf16", lambda: onednn_bf16)
    return set_cpu


@pytest.fixture
def gpu(monkeypatch):
    """Set the compute capability of a pretend CUDA GPU (and that it is NVIDIA's, not ROCm)."""
    def set_gpu(capability: tuple[int, int]) -> None:
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
        monkeypatch.setattr(torch.version, "hip", None)
        # torch's own check, with its default including_emulation=True, says yes on a T4: never asked
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    return set_gpu


@pytest.mark.parametrize(("avx512_bf16", "amx", "expected"), [
    (False, False, None),             # AVX2 laptops, Colab's CPU: bf16 is emulated there
    (True, False, torch.bfloat16),    # AVX-512 BF16 (Cooper Lake, Zen 4)
    (False, True, torch.bfloat16),    # AMX (Sapphire Rapids)
    (True, True, torch.bfloat16),
])
def test_auto_on_cpu_uses_bf16_only_where_it_is_native(cpu, avx512_bf16, amx, expected):
    cpu(avx512_bf16, amx)
    chosen = precision.choose_precision("cpu", "auto")
    assert chosen.dtype == expected
    assert not chosen.needs_grad_scaler
    if expected is None:
        assert chosen.describe() == ("precision: fp32 (this CPU has no native bf16, so bf16 would be "
                                     "emulated and slow)")
    else:
        assert chosen.describe().startswith("precision: bf16 (this CPU has native bf16")


def test_auto_on_cpu_stays_fp32_where_onednn_is_held_below_avx512(cpu):
    cpu(avx512_bf16=True, amx=False, onednn_bf16=False)  # ONEDNN_MAX_CPU_ISA=AVX2 on an AVX-512 BF16 CPU
    chosen = precision.choose_precision("cpu", "auto")
    assert chosen.dtype is None and "ONEDNN_MAX_CPU_ISA" in chosen.describe()


def test_onednn_held_to_avx2_reports_no_bf16():
    """The real check, in a fresh process with oneDNN held to AVX2: never bf16, whatever this CPU has."""
    script = "from course_utils import precision; print(precision.onednn_may_use_bf16(), precision.cpu_has_native_bf16())"
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2"}
    printed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert printed.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(("capability", "expected", "scaler"), [
    ((7, 5), torch.float16, True),    # T4, Colab's free GPU: fp16 tensor cores, no bf16 ones
    ((7, 0), torch.float16, True),    # V100
    ((8, 0), torch.bfloat16, False),  # A100
    ((9, 0), torch.bfloat16, False),  # H100
])
def test_auto_on_cuda_asks_the_compute_capability_not_emulation(gpu, capability, expected, scaler):
    gpu(capability)
    chosen = precision.choose_precision("cuda", "auto")
    assert chosen.dtype == expected and chosen.needs_grad_scaler is scaler
    assert f"compute capability {capability[0]}.{capability[1]}" in chosen.reason


def test_rocm_counts_as_native_bf16(monkeypatch):
    monkeypatch.setattr(torch.version, "hip", "6.2")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 4))
    assert precision.choose_precision("cuda").dtype == torch.bfloat16


def test_auto_on_mps_is_fp32_and_fp16_is_an_opt_in():
    assert precision.choose_precision("mps", "auto").dtype is None
    forced = precision.choose_precision("mps", "fp16")
    assert forced.dtype == torch.float16 and forced.needs_grad_scaler


@pytest.mark.parametrize(("amp", "expected"), [
    ("bf16", torch.bfloat16), ("fp16", torch.float16), ("off", None), (False, None),
])
def test_explicit_modes_override_the_hardware(cpu, amp, expected):
    cpu(True, True)  # a CPU where auto would pick bf16
    chosen = precision.choose_precision("cpu", amp)
    assert chosen.dtype == expected
    assert chosen.name == {torch.bfloat16: "bf16", torch.float16: "fp16", None: "fp32"}[expected]


def test_true_means_auto(cpu):
    cpu(False, False)
    assert precision.choose_precision("cpu", True).dtype is None
    cpu(True, False)
    assert precision.choose_precision("cpu", True).dtype == torch.bfloat16


def test_unknown_mode_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown precision 'fp8'; choose from auto, bf16, fp16, off"):
        precision.choose_precision("cpu", "fp8")


def test_the_context_and_the_scaler_follow_the_decision():
    x = torch.randn(4, 8)
    layer = torch.nn.Linear(8, 2)
    with precision.choose_precision("cpu", "bf16").autocast():
        assert layer(x).dtype == torch.bfloat16
    with precision.choose_precision("cpu", "off").autocast():
        assert layer(x).dtype == torch.float32
    assert precision.choose_precision("cpu", "fp16").grad_scaler().is_enabled()
    assert not precision.choose_precision("cpu", "bf16").grad_scaler().is_enabled()


def test_engine_prints_the_choice_once(cpu, capsys):
    cpu(False, False)
    data = torch.utils.data.TensorDataset(torch.randn(8, 4), torch.zeros(8, dtype=torch.long))
    loader = torch.utils.data.DataLoader(data, batch_size=4)
    model = torch.nn.Linear(4, 2)
    engine.train(model, loader, loader, torch.optim.SGD(model.parameters(), lr=0.1),
                 torch.nn.CrossEntropyLoss(), epochs=2, device="cpu", amp="auto", progress=False)
    out = capsys.readouterr().out
    assert out.count("precision: fp32 (this CPU has no native bf16") == 1


def test_training_script_records_the_choice(cpu, tmp_path):
    cpu(False, False)
    data = shapes.generate_shapes(tmp_path / "data", shapes.ShapesSpec(("circle", "square"), 4, 2, img_size=16))
    returned = train.main(["--data", str(data), "--img-size", "16", "--patch-size", "8", "--epochs", "1",
                "--batch-size", "4", "--device", "cpu", "--quiet", "--output-dir", str(tmp_path / "run")])
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["precision"] == "fp32"
    assert results["precision_reason"] == "this CPU has no native bf16, so bf16 would be emulated and slow"
    assert results["train_flops"] == returned["train_flops"] > 0
    assert len(returned["wall_s"]) == 1  # seconds to the end of each epoch: returned, not in the (reproducible) file
