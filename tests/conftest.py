"""Fixtures shared by the unit tests."""

import os

import matplotlib
import pytest
import torch
from local_http import LocalServer

matplotlib.use("Agg")  # before pyplot is imported (course_utils imports it): no windows in tests

import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    """Close every figure a test drew, so they do not pile up in memory."""
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread, in the tests and in their subprocesses (yields the environment to give those): a tiny
    model gains nothing from more, and on a busy machine spinning OpenMP threads make it many times slower.
    A module opts in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield {**os.environ, "OMP_NUM_THREADS": "1"}
    torch.set_num_threads(threads)


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serve ``tmp_path/served`` over HTTP on a free port; yields (folder, base URL)."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")  # a proxy from the environment must not interfere
    root = tmp_path / "served"
    root.mkdir()
    with LocalServer(root) as local:
        yield root, local.url
