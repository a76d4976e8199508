"""Concurrent first requests under httpx and aiohttp: one challenge for all of them.

The same first-contact turn as requests' `ChallengeAdapter` (tests/test_cold_start.py),
taken where these clients send: httpx's auth flow (a thread blocks, an asyncio task
awaits) and aiohttp's middleware. N requests from a cold start cost N+1 exchanges;
an origin that has answered once never holds a request; a failed first exchange
lets the next request lead. Every wait here is bounded; nothing asserts how long
anything took.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any, List

import pytest

pytest.importorskip("httpx")
pytest.importorskip("aiohttp")

import aiohttp  # noqa: E402
import httpx  # noqa: E402

from requests_challenge.aiohttp import ChallengeMiddleware  # noqa: E402
from requests_challenge.httpx import ChallengeAuth  # noqa: E402
from requests_challenge.testing import ChallengeServer, Digest  # noqa: E402

if TYPE_CHECKING:
    from conftest import Rendezvous, RunTogether  # tests/conftest.py: the rendezvous fixture's server

USER, PASSWORD = "alice", "s3cret"
THREADS, PER_THREAD, TASKS = 8, 5, 20
TIMEOUT = 30


def serve() -> ChallengeServer:
    return ChallengeServer(users={USER: PASSWORD}, challenges=[Digest("SHA-256")], strict_nc=True)


def counts(server: ChallengeServer) -> Counter:
    return Counter(e.status for e in server.exchanges.snapshot())


# -- N+1 --------------------------------------------------------------------------------------


def test_httpx_threads_sharing_a_client_cost_one_challenge(run_together: "RunTogether") -> None:
    with serve() as server:
        with httpx.Client(auth=ChallengeAuth(USER, PASSWORD), timeout=TIMEOUT) as client:
            statuses = run_together(lambda url: client.get(url).status_code, server.url, THREADS, PER_THREAD)
        assert Counter(statuses) == {200: THREADS * PER_THREAD}
        assert counts(server) == {200: THREADS * PER_THREAD, 401: 1}


def test_httpx_async_tasks_sharing_a_client_cost_one_challenge() -> None:
    with serve() as server:

        async def main() -> List[int]:
            # 8 connections, as in tests/test_aiohttp.py: the requests queue for them.
            limits = httpx.Limits(max_connections=8)
            async with httpx.AsyncClient(auth=ChallengeAuth(USER, PASSWORD), timeout=TIMEOUT, limits=limits) as client:
                responses = await asyncio.wait_for(
                    asyncio.gather(*(client.get(f"{server.url}/c/{i}") for i in range(TASKS))), 120
                )
            return [response.status_code for response in responses]

        assert asyncio.run(main()) == [200] * TASKS
        assert counts(server) == {200: TASKS, 401: 1}


def test_aiohttp_tasks_sharing_a_session_cost_one_challenge() -> None:
    with serve() as server:

        async def fetch(session: Any, url: str) -> int:
            async with session.get(url) as response:
                await response.read()
                return int(response.status)

        async def main() -> List[int]:
            # 8 connections: see test_fifty_concurrent_requests_share_one_middleware.
            async with aiohttp.ClientSession(
                middlewares=(ChallengeMiddleware(USER, PASSWORD),), connector=aiohttp.TCPConnector(limit=8),
                timeout=aiohttp.ClientTimeout(total=TIMEOUT), trust_env=False,
            ) as session:
                return list(await asyncio.wait_for(
                    asyncio.gather(*(fetch(session, f"{server.url}/c/{i}") for i in range(TASKS))), 120
                ))

        assert asyncio.run(main()) == [200] * TASKS
        assert counts(server) == {200: TASKS, 401: 1}


# -- a failed first exchange ------------------------------------------------------------------


class _FailingOnce(httpx.HTTPTransport):
    """Its first request fails as a refused connection would."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def handle_request(self, request: Any) -> Any:
        if not self.failed:
            self.failed = True
            raise httpx.ConnectError("the first connection fails", request=request)
        return super().handle_request(request)


def test_httpx_a_first_request_that_fails_lets_the_next_one_lead() -> None:
    """The failed request's turn ends with the error, so the next one leads at once
    instead of waiting out its timeout (600 s here: the thread would still be waiting)."""
    with serve() as server:
        with httpx.Client(auth=ChallengeAuth(USER, PASSWORD), transport=_FailingOnce(), timeout=150) as client:
            with pytest.raises(httpx.ConnectError):
                client.get(server.url)
            outcome: List[int] = []
            other = threading.Thread(target=lambda: outcome.append(client.get(server.url).status_code))
            other.start()
            other.join(timeout=60)
            assert not other.is_alive() and outcome == [200]
        assert counts(server) == {401: 1, 200: 1}


# -- an origin that has answered never holds anyone ------------------------------------------


def test_httpx_once_an_origin_has_answered_nothing_waits(rendezvous: Rendezvous) -> None:
    """After the first reply from an origin (no challenge at all), requests to it are
    never held: /first can only finish if /second is sent meanwhile."""
    url = f"http://127.0.0.1:{rendezvous.server_address[1]}"
    with httpx.Client(auth=ChallengeAuth(USER, PASSWORD), timeout=TIMEOUT) as client:
        assert client.get(url + "/hello").status_code == 200
        bodies: List[bytes] = []
        first = threading.Thread(target=lambda: bodies.append(client.get(url + "/first").content))
        first.start()
        assert rendezvous.first_arrived.wait(timeout=TIMEOUT)  # /first is in flight
        assert client.get(url + "/second").content == b"ok"
        first.join(timeout=60)
        assert not first.is_alive()
    assert bodies == [b"ok"]


def test_aiohttp_once_an_origin_has_answered_nothing_waits(rendezvous: Rendezvous) -> None:
    url = f"http://127.0.0.1:{rendezvous.server_address[1]}"

    async def main() -> List[bytes]:
        async with aiohttp.ClientSession(
            middlewares=(ChallengeMiddleware(USER, PASSWORD),), timeout=aiohttp.ClientTimeout(total=TIMEOUT),
            trust_env=False,
        ) as session:

            async def body(path: str) -> bytes:
                async with session.get(url + path) as response:
                    return bytes(await response.read())

            assert await body("/hello") == b"ok"
            first = asyncio.ensure_future(body("/first"))
            arrived = await asyncio.get_running_loop().run_in_executor(None, rendezvous.first_arrived.wait, TIMEOUT)
            assert arrived  # /first is in flight
            second = await body("/second")
            return [await asyncio.wait_for(first, TIMEOUT), second]

    assert asyncio.run(main()) == [b"ok", b"ok"]
