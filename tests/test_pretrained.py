"""pretrained_checkpoint: a local file is used as is; a missing one is fetched once, atomically.
load_pretrained / export_checkpoint: fine-tuning keeps a head of another size; the export is fp16 and loads."""

import pytest
import torch

from course_utils import pretrained
from course_utils.vit import HEAD, ViT

SMALL = dict(img_size=16, patch_size=8, num_transformer_layers=1, embedding_dim=32, mlp_size=64, num_heads=2)


def test_local_checkpoint_is_used_without_network(tmp_path):
    path = tmp_path / "checkpoints" / "mine.pt"
    path.parent.mkdir()
    torch.save({"model": {}}, path)
    assert pretrained.pretrained_checkpoint("mine", tmp_path, url="http://127.0.0.1:9/unreachable") == path


def test_missing_checkpoint_is_downloaded(server, tmp_path):
    served, base = server
    torch.save({"model": {"w": torch.ones(2)}}, served / "ck.pt")
    data = tmp_path / "data"
    path = pretrained.pretrained_checkpoint("ck", data, url=f"{base}/ck.pt")
    assert path == data / "checkpoints" / "ck.pt"
    assert torch.equal(torch.load(path, weights_only=True)["model"]["w"], torch.ones(2))
    assert [p.name for p in path.parent.iterdir()] == ["ck.pt"]


@pytest.mark.parametrize(("body", "message"), [(None, "HTTP 404"), (b"<html>not found</html>", "could not read")])
def test_failed_download_names_the_url_and_leaves_nothing(server, tmp_path, body, message):
    served, base = server
    if body is not None:
        (served / "ck.pt").write_bytes(body)
    data = tmp_path / "data"
    with pytest.raises(RuntimeError, match=message) as error:
        pretrained.pretrained_checkpoint("ck", data, url=f"{base}/ck.pt")
    assert f"{base}/ck.pt" in str(error.value)
    assert pretrained.CHECKPOINTS_URL_VARIABLE in str(error.value)  # and how to get the file another way
    assert not data.exists()


def test_default_url_points_to_the_repository(monkeypatch):
    monkeypatch.delenv(pretrained.CHECKPOINTS_URL_VARIABLE, raising=False)
    url = pretrained.checkpoint_url()
    assert url.endswith("/data/checkpoints/vit_micro_shapes_pretrain.pt")
    assert pretrained.colab.REPOSITORY in url


def test_environment_variable_points_the_download_elsewhere(monkeypatch):
    monkeypatch.setenv(pretrained.CHECKPOINTS_URL_VARIABLE, "http://127.0.0.1:8000/mirror/")
    assert pretrained.checkpoint_url("ck") == "http://127.0.0.1:8000/mirror/ck.pt"
    monkeypatch.setenv(pretrained.CHECKPOINTS_URL_VARIABLE, "")  # empty: the repository, as if unset
    colab = pretrained.colab
    assert pretrained.checkpoint_url("ck").endswith(f"{colab.REPOSITORY}/raw/{colab.BRANCH}/data/checkpoints/ck.pt")


def test_load_pretrained_copies_everything_but_a_head_of_another_size(tmp_path):
    torch.manual_seed(0)
    source = ViT(**SMALL, num_classes=5)
    path = pretrained.export_checkpoint(source, {**SMALL, "num_classes": 5}, list("abcde"), 0.5, tmp_path / "e.pt")
    saved = torch.load(path, weights_only=True)
    assert saved["class_names"] == list("abcde") and saved["test_acc"] == 0.5
    assert {v.dtype for v in saved["model"].values()} == {torch.float16}  # half the size
    for num_classes in (5, 3):  # the same task: every weight; a new one: all but the head, which stays fresh
        model = ViT(**SMALL, num_classes=num_classes)
        before = {key: value.clone() for key, value in model.state_dict().items()}
        pretrained.load_pretrained(model, path)
        for key, value in model.state_dict().items():
            new_head = num_classes != 5 and key.startswith(f"{HEAD}.")
            assert torch.equal(value, before[key] if new_head else saved["model"][key].float()), key
