"""utils: seeding, saving and restoring the generators, device choice, atomic save, safe load with clear errors."""

import random

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import utils


def test_set_seeds_makes_torch_repeatable():
    utils.set_seeds(7)
    a = torch.rand(3)
    utils.set_seeds(7)
    assert torch.equal(a, torch.rand(3))


def test_rng_state_survives_a_checkpoint_and_replays_every_generator(tmp_path):
    utils.set_seeds(3)
    random.random()
    np.random.standard_normal()  # NumPy now caches a second Gaussian: the state holds it too
    torch.rand(1)
    utils.save_checkpoint({"rng": utils.rng_state()}, tmp_path / "c.pt")
    expected = random.random(), np.random.standard_normal(), torch.rand(2).tolist()
    utils.set_seeds(99)
    utils.set_rng_state(utils.load_checkpoint(tmp_path / "c.pt")["rng"])  # weights_only=True loads it
    assert (random.random(), np.random.standard_normal(), torch.rand(2).tolist()) == expected


def test_set_rng_state_reads_the_older_numpy_format():
    state = utils.rng_state()
    state["numpy"] = state["numpy"][0]  # the key array alone
    utils.set_rng_state(state)
    assert np.random.get_state()[2:] == (624, 0, 0.0)


def test_get_device_is_a_real_torch_device():
    device = utils.get_device()
    assert device in {"cuda", "mps", "cpu"}
    torch.empty(1, device=device)  # "gpu" would raise here


def test_save_and_load_round_trip(tmp_path):
    model = nn.Linear(3, 2)
    path = utils.save_model(model, tmp_path / "models", "linear.pth")
    assert path == tmp_path / "models" / "linear.pth"
    assert [p.name for p in path.parent.iterdir()] == ["linear.pth"]  # no temp file left behind
    other = utils.load_model(nn.Linear(3, 2), path)
    torch.testing.assert_close(other.weight, model.weight)


def test_save_model_rejects_bad_suffix(tmp_path):
    with pytest.raises(ValueError, match="should end with '.pth' or '.pt'.*'model.pkl'"):
        utils.save_model(nn.Linear(1, 1), tmp_path, "model.pkl")
    assert list(tmp_path.iterdir()) == []


def test_failed_save_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = utils.save_model(nn.Linear(2, 2), tmp_path, "m.pt")
    before = path.read_bytes()

    def explode(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        utils.atomic_write(path, explode)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_load_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        utils.load_model(nn.Linear(1, 1), tmp_path / "nope.pth")


def test_load_truncated_checkpoint_names_the_file(tmp_path):
    path = utils.save_model(nn.Linear(50, 50), tmp_path, "big.pth")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(RuntimeError, match=r"could not read checkpoint .*big.pth.*corrupt, truncated"):
        utils.load_model(nn.Linear(50, 50), path)


def test_load_other_architecture_says_what_differs(tmp_path):
    path = utils.save_model(nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)), tmp_path, "mlp.pth")
    with pytest.raises(ValueError) as error:
        utils.load_model(nn.Sequential(nn.Linear(4, 16), nn.Linear(16, 2), nn.ReLU(), nn.Linear(2, 2)), path)
    message = str(error.value)
    assert "mlp.pth" in message
    assert "0.weight: checkpoint (8, 4) vs model (16, 4)" in message
    assert "missing from the checkpoint" in message and "3.weight" in message


def test_load_uses_weights_only(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.zeros(1)}, "payload": object()}, path)  # needs full pickle to load
    with pytest.raises(RuntimeError, match="evil.pt"):
        utils.load_checkpoint(path)


def test_load_model_takes_a_state_dict_or_a_training_checkpoint_and_refuses_the_rest(tmp_path):
    source = nn.Linear(3, 2)
    torch.save(source.state_dict(), tmp_path / "weights.pt")
    torch.save({"model": source.state_dict(), "epoch": 4}, tmp_path / "checkpoint.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    for name in ("weights.pt", "checkpoint.pt"):
        loaded = utils.load_model(nn.Linear(3, 2), tmp_path / name)
        assert torch.equal(loaded.weight, source.weight), name
    with pytest.raises(ValueError, match=r"list\.pt holds a list, not model weights"):
        utils.load_model(nn.Linear(3, 2), tmp_path / "list.pt")


def test_temp_files_finds_the_temp_file_of_an_unfinished_write(tmp_path):
    seen = []
    utils.atomic_write(tmp_path / "m.pt", lambda tmp: seen.append((tmp, utils.temp_files(tmp_path / "m.pt"))))
    (tmp, found), = seen
    assert found == [tmp] and tmp.name.startswith(".m.pt.")  # while writing: the temp file, found
    assert utils.temp_files(tmp_path / "m.pt") == [] and utils.temp_files(tmp_path / "other.pt") == []
