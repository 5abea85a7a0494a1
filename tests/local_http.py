"""A local HTTP server for the download and website tests: nothing leaves the machine."""

from __future__ import annotations

import functools
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep the server from printing every request
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # a client that hangs up early (a browser) is no error
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LocalServer:
    """Serves the files of ``root`` on 127.0.0.1 at ``url`` (a free port, bound at once) while in a ``with``."""

    def __init__(self, root: Path) -> None:
        self.httpd = QuietServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
