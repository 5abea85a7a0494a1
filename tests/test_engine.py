"""engine: the loops learn, the results dict, scheduler, clipping, AMP and the NaN guard."""

import math
import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import engine


def separable_loaders(n=128, batch_size=16):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 3, 4, 4, generator=g)
    y = (X[:, 0].mean(dim=(1, 2)) > 0).long()
    data = TensorDataset(X, y)
    return DataLoader(data, batch_size=batch_size, shuffle=True, generator=g), DataLoader(data, batch_size=64)


def make_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(48, 2))


@pytest.mark.parametrize("amp", ["off", "auto", "bf16", "fp16"])  # forced: both autocast paths, fp16 with its GradScaler
def test_train_learns_and_returns_the_course_dict(amp):
    train_dl, test_dl = separable_loaders()
    model = make_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    scheduler = engine.warmup_cosine_scheduler(optimizer, warmup_steps=4, total_steps=8 * len(train_dl))
    results = engine.train(model, train_dl, test_dl, optimizer, nn.CrossEntropyLoss(), epochs=8, device="cpu",
                           scheduler=scheduler, grad_clip=1.0, amp=amp, progress=False, verbose=False)
    assert list(results) == ["train_loss", "train_acc", "test_loss", "test_acc"]
    assert all(len(v) == 8 for v in results.values())
    assert results["train_loss"][-1] < results["train_loss"][0]
    assert results["test_acc"][-1] > 0.9
    assert all(0.0 <= a <= 1.0 for a in results["train_acc"])


def test_epoch_callback_and_resume_arguments():
    train_dl, test_dl = separable_loaders()
    model = make_model()
    seen = []
    previous = {"train_loss": [1.0], "train_acc": [0.5], "test_loss": [1.0], "test_acc": [0.5]}
    results = engine.train(model, train_dl, test_dl, torch.optim.SGD(model.parameters(), lr=0.1),
                           nn.CrossEntropyLoss(), epochs=3, device="cpu", start_epoch=1, results=previous,
                           on_epoch_end=lambda epoch, r: seen.append((epoch, len(r["test_acc"]))),
                           progress=False, verbose=False)
    assert seen == [(1, 2), (2, 3)]
    assert len(results["train_loss"]) == 3 and results["train_loss"][0] == 1.0


def test_nan_loss_stops_with_epoch_and_batch():
    train_dl, test_dl = separable_loaders()
    model = make_model()
    with torch.no_grad():
        model[1].weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="at epoch 0, batch 0"):
        engine.train(model, train_dl, test_dl, torch.optim.SGD(model.parameters(), lr=0.1),
                     nn.CrossEntropyLoss(), epochs=1, device="cpu", progress=False, verbose=False)


def test_grad_clip_bounds_the_update():
    train_dl, _ = separable_loaders(batch_size=128)
    model = make_model()
    before = model[1].weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    engine.train_step(model, train_dl, nn.CrossEntropyLoss(), optimizer, "cpu", grad_clip=1e-3)
    assert (model[1].weight - before).norm() <= 1e-3 + 1e-6


def test_warmup_then_cosine_schedule():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = engine.warmup_cosine_scheduler(optimizer, warmup_steps=10, total_steps=110)
    lrs = []
    for _ in range(110):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] < 0.01  # starts near zero
    assert lrs[10] == pytest.approx(1.0)  # peak after warmup
    assert lrs[60] == pytest.approx(0.5, abs=0.02)  # half-way down the cosine
    assert lrs[-1] < 0.01


def test_plateau_warning_fires_only_at_ln_c_past_the_share():
    ln3 = math.log(3)
    assert engine.plateau_warning([ln3 + 0.001], num_classes=3, epochs=4) is not None  # 1 of 4 epochs: 25%
    assert engine.plateau_warning([ln3 + 0.001], num_classes=3, epochs=8) is None  # too early to tell
    assert engine.plateau_warning([ln3, 0.9 * ln3], num_classes=3, epochs=4) is None  # it left ln C
    assert engine.plateau_warning([ln3, 1.03 * ln3], num_classes=3, epochs=4) is None  # above it: diverging
    message = engine.plateau_warning([ln3, 1.01 * ln3], num_classes=3, epochs=4)
    assert "ln 3 = 1.0986" in message and "06_training_from_scratch" in message and "learning rate" in message


def test_train_warns_once_when_the_loss_stays_at_the_uniform_guess():
    train_dl, test_dl = separable_loaders()
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # a run that cannot leave ln 2
    with torch.no_grad():
        model[1].weight.zero_()
    with pytest.warns(engine.PlateauWarning, match="ln 2 = 0.6931") as record:
        engine.train(model, train_dl, test_dl, optimizer, nn.CrossEntropyLoss(), epochs=4, device="cpu",
                     progress=False, verbose=True)
    assert len([w for w in record if w.category is engine.PlateauWarning]) == 1


def test_train_that_learns_gives_no_plateau_warning():
    train_dl, test_dl = separable_loaders()
    model = make_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("error", engine.PlateauWarning)
        engine.train(model, train_dl, test_dl, optimizer, nn.CrossEntropyLoss(), epochs=4, device="cpu",
                     progress=False, verbose=True)


def test_output_classes_reads_the_last_linear():
    assert engine.output_classes(make_model()) == 2
    assert engine.output_classes(nn.Sequential(nn.Flatten())) is None


def test_the_nan_guard_on_an_accelerator_reads_the_loss_every_few_batches(monkeypatch):
    """On a GPU, .item() waits for the device: the guard reads every GUARD_EVERY batches (and once at the end)
    instead of every batch, as it does on the CPU."""
    assert engine.guard_interval("cpu") == 1 and engine.guard_interval("cuda") == engine.GUARD_EVERY > 1
    real_item = torch.Tensor.item

    def count_reads(interval):
        reads = []

        def counting_item(self):
            reads.append(1)
            return real_item(self)

        train_dl, _ = separable_loaders(n=128, batch_size=4)  # 32 batches
        model = make_model()
        monkeypatch.setattr(engine, "guard_interval", lambda device: interval)
        monkeypatch.setattr(torch.Tensor, "item", counting_item)
        engine.train_step(model, train_dl, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), "cpu")
        monkeypatch.setattr(torch.Tensor, "item", real_item)
        return len(reads)

    assert count_reads(1) >= 32  # every batch
    assert count_reads(engine.GUARD_EVERY) <= 32 // engine.GUARD_EVERY + 3
