"""Fixtures shared by the unit tests."""

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep the server from printing every request
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serve ``tmp_path/served`` over HTTP on a free port; yields (folder, base URL)."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")  # a proxy from the environment must not interfere
    root = tmp_path / "served"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
