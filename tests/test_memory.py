"""Memory is bounded by what the caller asked for, never by what a server sends.

The server (tests/bulk_server.py) runs in its own process, so tracemalloc counts
the client's Python allocations only.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests

from requests_challenge import ChallengeAuth, MutualAuthenticationError
from requests_challenge._ranking import MAX_VALUE, rank_challenges
from requests_challenge._grammar import parse_challenges

MIB = 1 << 20
LIMIT = 2 * MIB  # peak Python allocations allowed per exchange below
TIMEOUT = 60
USER, PASSWORD = "bulk", "bulk-password"


@pytest.fixture(scope="module")
def bulk() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("bulk_server.py"))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()  # by PID, whatever it is doing
        process.wait(timeout=30)


def peak(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("stream", [False, True], ids=["read", "stream=True"])
@pytest.mark.parametrize("query", ["size=104857600", "size=314572800&chunked=1", "size=0&chunked=1"],
                         ids=["100 MiB", "300 MiB chunked", "endless chunked"])
def test_a_huge_or_endless_401_body_is_not_read(bulk: str, query: str, stream: bool) -> None:
    def call() -> None:
        r = requests.get(f"{bulk}/big-401?{query}", auth=ChallengeAuth(USER, PASSWORD), stream=stream, timeout=TIMEOUT)
        assert r.status_code == 200 and r.content == b"ok"
        assert len(r.history) == 1 and len(r.history[0].content) <= 64 * 1024

    assert peak(call) < LIMIT


@pytest.mark.parametrize("size", [0, 1000, 64 * 1024])
def test_a_short_401_body_keeps_the_connection(bulk: str, size: int) -> None:
    with requests.Session() as session:
        r = session.get(f"{bulk}/big-401?size={size}", auth=ChallengeAuth(USER, PASSWORD), timeout=TIMEOUT)
        assert r.status_code == 200 and r.history[0].content == b"z" * min(size, 64 * 1024)
        manager = session.get_adapter(bulk).poolmanager
        pools = [manager.pools[key] for key in manager.pools.keys()]
        # A short challenge's connection carries the retry; a long one's is dropped.
        assert sum(pool.num_connections for pool in pools) == 1


def test_a_streamed_auth_int_response_is_checked_without_holding_it(bulk: str) -> None:
    def call() -> None:
        r = requests.get(f"{bulk}/big-200?size=104857600", auth=ChallengeAuth(USER, PASSWORD), stream=True,
                         timeout=TIMEOUT)
        assert r.status_code == 200
        assert sum(len(chunk) for chunk in r.iter_content(256 * 1024)) == 100 * MIB

    assert peak(call) < LIMIT


@pytest.mark.parametrize("read", ["iter_content", "raw.read"])
def test_a_wrong_rspauth_over_a_streamed_body_raises_at_its_end(bulk: str, read: str) -> None:
    r = requests.get(f"{bulk}/big-200?size=300000&wrong=1", auth=ChallengeAuth(USER, PASSWORD), stream=True,
                     timeout=TIMEOUT)
    assert r.status_code == 200
    with pytest.raises(MutualAuthenticationError, match="rspauth does not match"):
        if read == "iter_content":
            for _ in r.iter_content(65536):
                pass
        else:
            while r.raw.read(65536):
                pass


def test_a_wrong_rspauth_over_a_read_body_raises_at_once(bulk: str) -> None:
    with pytest.raises(MutualAuthenticationError):
        requests.get(f"{bulk}/big-200?size=1000&wrong=1", auth=ChallengeAuth(USER, PASSWORD), timeout=TIMEOUT)
    r = requests.get(f"{bulk}/big-200?size=1000", auth=ChallengeAuth(USER, PASSWORD), timeout=TIMEOUT)
    assert r.content == b"x" * 1000


def test_an_auth_int_file_body_is_hashed_in_chunks(bulk: str, tmp_path: Path) -> None:
    path = tmp_path / "upload.bin"
    with path.open("wb") as f:
        for _ in range(40):
            f.write(b"u" * MIB)

    def call() -> None:
        with path.open("rb") as body:
            r = requests.post(f"{bulk}/upload", data=body, auth=ChallengeAuth(USER, PASSWORD), timeout=TIMEOUT)
        assert r.status_code == 200

    assert peak(call) < LIMIT


def test_a_remembered_space_keeps_only_what_answering_needs() -> None:
    """A 2.9 MiB parameter nobody needs is not kept with the space."""
    auth = ChallengeAuth("u", "p")
    junk = "j" * (29 * MIB // 10)
    header = f'Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256, junk="{junk}"'
    (choice,), _ = rank_challenges(parse_challenges(header))
    assert "junk" not in choice.challenge.params
    del auth, choice

    def remember() -> object:
        from requests_challenge._dialogue import responder_for
        from requests_challenge._schemes import Credentials
        from requests_challenge._spaces import ProtectionSpaces

        spaces = ProtectionSpaces()
        (choice,), _ = rank_challenges(parse_challenges(header))
        spaces.remember(("http", "h", 80), ("/",), responder_for(choice, Credentials("u", "p")))
        return spaces

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = remember()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(kept) == 1 and retained < 64 * 1024  # type: ignore[arg-type]


def test_a_value_no_server_would_accept_back_is_not_answered() -> None:
    nonce = "n" * (MAX_VALUE + 1)
    usable, skipped = rank_challenges(parse_challenges(f'Digest realm="r", nonce="{nonce}", Basic realm="b"'))
    assert [c.scheme for c in usable] == ["basic"]
    assert f"over {MAX_VALUE} characters" in skipped[0][1]
