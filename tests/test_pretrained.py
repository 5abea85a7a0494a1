"""pretrained_checkpoint: a local file is used as is; a missing one is fetched once, atomically."""

import pytest
import torch

from course_utils import pretrained


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
