"""Fixtures shared by test modules."""

from __future__ import annotations

import http.server
import threading
from typing import Callable, Iterator, List

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


StatusOf = Callable[[str], int]  # GET a URL, return the status
RunTogether = Callable[[StatusOf, str, int, int], List[int]]


def _run_together(get: StatusOf, url: str, threads: int, per_thread: int) -> List[int]:
    """``threads`` threads, released at once by a barrier, each GETting ``per_thread``
    distinct URLs under ``url``; the statuses, in no particular order. Every wait is
    bounded: a thread still alive after its join fails the test."""
    statuses: List[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)
    errors: List[BaseException] = []

    def work(number: int) -> None:
        try:
            barrier.wait(timeout=TIMEOUT)
            for index in range(per_thread):
                status = get(f"{url}/t{number}-{index}")  # one directory: Basic's space covers all
                with lock:
                    statuses.append(status)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=4 * TIMEOUT)
    assert not any(worker.is_alive() for worker in workers)
    assert not errors, errors
    return statuses


@pytest.fixture
def run_together() -> RunTogether:
    """See `_run_together`."""
    return _run_together
