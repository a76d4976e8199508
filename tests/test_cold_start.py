"""Concurrent first requests: with ChallengeAdapter mounted, one challenge for all of them.

A fresh auth object knows no protection space, so every request that starts
before the first handshake has ended would go out bare and meet its own 401.
`ChallengeAdapter` holds such requests at send time (never at prepare time)
until the first one's dialogue has ended, then sends them with credentials up
front: N requests from a cold start cost N+1 exchanges. These tests check the
count and that nothing can wait on a request that was never sent.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING, List, Union

import pytest
import requests

from requests_challenge import ChallengeAdapter, ChallengeAuth
from requests_challenge.testing import Basic, ChallengeServer, Digest

if TYPE_CHECKING:
    from conftest import Rendezvous, RunTogether  # tests/conftest.py: the rendezvous fixture's server

USER, PASSWORD = "alice", "s3cret"
THREADS, PER_THREAD = 8, 10
TIMEOUT = 30


def session_with_adapter(auth: ChallengeAuth) -> requests.Session:
    session = requests.Session()
    session.auth = auth
    session.mount("http://", ChallengeAdapter())
    return session


@pytest.mark.parametrize("challenge", [Digest("SHA-256"), Basic()], ids=["digest", "basic"])
def test_concurrent_first_requests_cost_one_challenge(challenge: Union[Basic, Digest], run_together: "RunTogether") -> None:
    with ChallengeServer(users={USER: PASSWORD}, challenges=[challenge], strict_nc=True) as server:
        with session_with_adapter(ChallengeAuth(USER, PASSWORD)) as session:
            statuses = run_together(lambda url: session.get(url, timeout=TIMEOUT).status_code,
                                    server.url, THREADS, PER_THREAD)
        exchanges = server.exchanges.snapshot()
    assert Counter(statuses) == {200: THREADS * PER_THREAD}
    assert Counter(e.status for e in exchanges) == {200: THREADS * PER_THREAD, 401: 1}


def test_a_request_prepared_but_never_sent_holds_nobody_back() -> None:
    """Holding happens when a request is sent, so a cold request that is only
    prepared (and may never be sent) cannot make another wait."""
    with ChallengeServer(users={USER: PASSWORD}, challenges=[Digest()]) as server:
        with session_with_adapter(ChallengeAuth(USER, PASSWORD)) as session:
            kept = session.prepare_request(requests.Request("GET", server.url + "/kept"))
            assert "Authorization" not in kept.headers
            outcome: List[int] = []
            # A long timeout: held by the unsent request, it would outlast the bounded join.
            other = threading.Thread(
                target=lambda: outcome.append(session.get(server.url, timeout=600).status_code), daemon=True
            )
            other.start()
            other.join(timeout=60)
            assert not other.is_alive() and outcome == [200]
            # Sent at last, it goes with credentials: the space is known by now.
            assert session.send(kept, timeout=TIMEOUT).status_code == 200
        statuses = [e.status for e in server.exchanges.snapshot()]
    assert statuses == [401, 200, 200]


def test_a_first_request_that_fails_lets_the_next_one_lead() -> None:
    """The first request's connection fails: its turn ends with the error, and the
    next request is sent (bare, then answered) instead of waiting for it. The error
    is kept, so its request is not collected (whose finaliser would end the turn
    too), and the next request's timeout is long: were the turn left open, it would
    still be waiting when the bounded join gives up."""
    with ChallengeServer(users={USER: PASSWORD}, challenges=[Digest()]) as server:
        with session_with_adapter(ChallengeAuth(USER, PASSWORD)) as session:
            session.mount("http://", _FailingOnce())
            with pytest.raises(requests.ConnectionError) as failure:
                session.get(server.url, timeout=TIMEOUT)
            outcome: List[int] = []
            other = threading.Thread(
                target=lambda: outcome.append(session.get(server.url, timeout=600).status_code), daemon=True
            )
            other.start()
            other.join(timeout=60)
            assert failure.type is requests.ConnectionError  # its traceback, and the request in it, still held
            assert not other.is_alive() and outcome == [200]
        assert [e.status for e in server.exchanges.snapshot()] == [401, 200]


class _FailingOnce(ChallengeAdapter):
    """Its first send fails inside HTTPAdapter.send, as a refused connection would."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def add_headers(self, request: requests.PreparedRequest, **kwargs: object) -> None:
        if not self.failed:
            self.failed = True
            raise requests.ConnectionError("the first connection fails")


def test_once_an_origin_has_answered_nothing_waits(rendezvous: Rendezvous) -> None:
    """After the first reply from an origin (here: no challenge at all), requests
    to it are never held: /first can only finish if /second is sent meanwhile."""
    url = f"http://127.0.0.1:{rendezvous.server_address[1]}"
    with session_with_adapter(ChallengeAuth(USER, PASSWORD)) as session:
        assert session.get(url + "/hello", timeout=TIMEOUT).status_code == 200
        bodies: List[bytes] = []
        first = threading.Thread(target=lambda: bodies.append(session.get(url + "/first", timeout=TIMEOUT).content))
        first.start()
        assert rendezvous.first_arrived.wait(timeout=TIMEOUT)  # /first is in flight
        assert session.get(url + "/second", timeout=TIMEOUT).content == b"ok"
        first.join(timeout=60)
    assert bodies == [b"ok"]
