"""Fixtures shared by test modules."""

from __future__ import annotations

import http.server
import threading
from typing import Iterator

import pytest

TIMEOUT = 30


class Rendezvous(http.server.ThreadingHTTPServer):
    """An open server whose /first answers only once /second has arrived."""

    daemon_threads = True

    def __init__(self) -> None:
        self.first_arrived = threading.Event()
        self.second_arrived = threading.Event()
        super().__init__(("127.0.0.1", 0), _RendezvousHandler)


class _RendezvousHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Rendezvous

    def do_GET(self) -> None:
        if self.path == "/second":
            self.server.second_arrived.set()
        elif self.path == "/first":
            self.server.first_arrived.set()
            self.server.second_arrived.wait(timeout=TIMEOUT)
        body = b"held" if self.path == "/first" and not self.server.second_arrived.is_set() else b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def rendezvous() -> Iterator[Rendezvous]:
    server = Rendezvous()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=TIMEOUT)
