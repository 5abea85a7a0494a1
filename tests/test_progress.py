"""course_utils.progress: a bar in a terminal, a line every few seconds elsewhere, nothing under TQDM_DISABLE."""

import io

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import engine, progress, shapes


def test_line_progress_prints_the_count_the_time_left_and_the_postfix():
    stream = io.StringIO()
    bar = progress.LineProgress(total=4, desc="epoch 1/2 train", every=0.0, stream=stream)
    bar.update()
    bar.set_postfix(loss="0.500")
    bar.update()
    bar.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("epoch 1/2 train: 1/4 (25%)") and "left" in lines[0]
    assert lines[1].startswith("epoch 1/2 train: 2/4 (50%)") and lines[1].endswith("loss=0.500")
    assert len(lines) == 3  # and one more when it closes


def test_line_progress_waits_between_lines():
    stream = io.StringIO()
    bar = progress.LineProgress(total=1000, desc="x", every=3600.0, stream=stream)
    for _ in range(1000):
        bar.update()
    assert stream.getvalue() == ""  # nothing within the interval...
    bar.close()
    assert stream.getvalue().startswith("x: 1000/1000 (100%)")  # ...one line at the end


def test_progress_picks_by_where_the_output_goes(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setattr(progress, "interactive", lambda: False)
    assert isinstance(progress.progress(3, "x"), progress.LineProgress)
    assert not isinstance(progress.progress(3, "x", enabled=False), progress.LineProgress)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert not isinstance(progress.progress(3, "x"), progress.LineProgress)


@pytest.fixture
def piped(monkeypatch):
    """Output that is not a terminal, progress on, a line for every update."""
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setattr(progress, "interactive", lambda: False)
    monkeypatch.setattr(progress, "LOG_EVERY", 0.0)
    monkeypatch.setattr(progress.LineProgress.__init__, "__defaults__", (0.0, None))


def test_training_reports_every_epochs_batches_when_piped(piped, capsys):
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(32, 4), torch.randint(0, 2, (32,), generator=g))
    model = nn.Linear(4, 2)
    engine.train(model, DataLoader(data, batch_size=8), DataLoader(data, batch_size=16),
                 torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), epochs=2, device="cpu",
                 verbose=False)
    err = capsys.readouterr().err
    assert "epoch 1/2 train: 4/4 (100%)" in err and "epoch 2/2 test: 2/2 (100%)" in err
    assert "loss=" in err and "acc=" in err


def test_drawing_a_dataset_reports_progress(piped, capsys, tmp_path):
    spec = shapes.ShapesSpec(("circle", "square"), train_per_class=2, test_per_class=1, img_size=16)
    shapes.generate_shapes(tmp_path / "tiny", spec)
    assert "drawing tiny: 6/6 (100%)" in capsys.readouterr().err
