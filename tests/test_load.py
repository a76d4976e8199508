"""Many threads, one ChallengeAuth, servers that check nonce counts: no failure, no pair twice."""

from __future__ import annotations

import threading
from collections import Counter
from typing import List

import pytest
import requests

from requests_challenge import ChallengeAuth, parse_auth_params
from requests_challenge.testing import ChallengeServer, Digest

USER, PASSWORD = "alice", "s3cret"
THREADS, PER_THREAD = 8, 100
TIMEOUT = 30


def hammer(url: str, auth: ChallengeAuth) -> List[int]:
    """THREADS threads x PER_THREAD requests, all released at once; the statuses."""
    statuses: List[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)

    def work() -> None:
        with requests.Session() as session:
            session.auth = auth
            barrier.wait(timeout=TIMEOUT)
            for index in range(PER_THREAD):
                status = session.get(f"{url}/item/{index}", timeout=TIMEOUT).status_code
                with lock:
                    statuses.append(status)

    workers = [threading.Thread(target=work) for _ in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert not any(worker.is_alive() for worker in workers)
    return statuses


@pytest.mark.parametrize("shared_nonces", [True, False], ids=["apache-like shared nonce", "nonce per challenge"])
def test_threads_sharing_one_auth_never_repeat_a_nonce_count(shared_nonces: bool) -> None:
    """A server handing one nonce to every challenge (Apache, within a second) meets
    concurrent first answers: each must take the next count, not nc=00000001."""
    with ChallengeServer(users={USER: PASSWORD}, challenges=[Digest("SHA-256")], strict_nc=True,
                         shared_nonces=shared_nonces) as server:
        statuses = hammer(server.url, ChallengeAuth(USER, PASSWORD))
        exchanges = server.exchanges.snapshot()
    assert Counter(statuses) == {200: THREADS * PER_THREAD}
    pairs = [
        (p["nonce"], p["nc"])
        for e in exchanges if e.authorization
        for p in [parse_auth_params(e.authorization.split(" ", 1)[1])]
    ]
    assert len(pairs) == len(set(pairs))
    assert not [e for e in exchanges if e.reason == "nonce count reused"]
    if shared_nonces:
        assert len({nonce for nonce, _ in pairs}) == 1  # really one nonce for everyone


def test_a_shared_nonce_server_gives_everyone_the_same_nonce() -> None:
    with ChallengeServer(challenges=[Digest()], shared_nonces=True) as server:
        first = requests.get(server.url, timeout=TIMEOUT).headers["WWW-Authenticate"]
        second = requests.get(server.url, timeout=TIMEOUT).headers["WWW-Authenticate"]
    assert first == second


def test_two_directories_of_one_basic_realm_do_not_evict_each_other() -> None:
    """Alternating /a/x and /b/x under one realm: one challenge per directory, then
    both go up front (12 exchanges for 10 requests, not 20)."""
    from requests_challenge.testing import Basic

    with ChallengeServer(users={USER: PASSWORD}, challenges=[Basic()]) as server:
        with requests.Session() as session:
            session.auth = ChallengeAuth(USER, PASSWORD)
            for index in range(10):
                assert session.get(f"{server.url}/{'ab'[index % 2]}/x", timeout=TIMEOUT).status_code == 200
        assert len(server.exchanges) == 12
