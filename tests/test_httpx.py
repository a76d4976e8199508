"""requests_challenge.httpx.ChallengeAuth under httpx.Client and httpx.AsyncClient.

Against the embedded ChallengeServer (real sockets on 127.0.0.1), which checks
credentials as RFC 7616 / 7617 servers do; with ``strict_nc=True`` a (nonce, nc)
pair sent twice is refused, and every test that cares also reads the pairs back
from the exchange log. Exchanges are compared as multisets or counts, never by
time. Every request has a timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import subprocess
import sys
from collections import Counter
from typing import Any, Awaitable, Callable, Iterator, List, Tuple, TypeVar
from urllib.parse import urlencode

import pytest

httpx = pytest.importorskip("httpx")

from requests_challenge import MutualAuthenticationError, parse_challenges  # noqa: E402
from requests_challenge.httpx import ChallengeAuth, UnrewindableBodyError  # noqa: E402
from requests_challenge.testing import Basic, ChallengeServer, Digest, Exchange  # noqa: E402

USERS = {"alice": "secret", "Jäsøn": "Sëcret€"}
TIMEOUT = 10
CODES = (301, 302, 303, 307, 308)
T = TypeVar("T")


class Client:
    """One httpx.Client or httpx.AsyncClient behind one synchronous face (an event loop
    of its own for the async one), so every test runs against both."""

    def __init__(self, kind: str, auth: Any, **options: Any) -> None:
        self.kind = kind
        self.auth = auth
        options.setdefault("timeout", TIMEOUT)
        options.setdefault("trust_env", False)
        if kind == "sync":
            self._client = httpx.Client(auth=auth, **options)
        else:
            self._loop = asyncio.new_event_loop()

            async def make() -> Any:
                return httpx.AsyncClient(auth=auth, **options)

            self._client = self._loop.run_until_complete(make())

    def run(self, coroutine: Awaitable[T]) -> T:
        return self._loop.run_until_complete(coroutine)

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        if self.kind == "sync":
            return self._client.request(method, url, **kwargs)
        return self.run(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def send(self, request: Any, **kwargs: Any) -> Any:
        if self.kind == "sync":
            return self._client.send(request, **kwargs)
        return self.run(self._client.send(request, **kwargs))

    @property
    def raw(self) -> Any:
        return self._client

    def close(self) -> None:
        if self.kind == "sync":
            self._client.close()
        else:
            self.run(self._client.aclose())
            self._loop.close()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def make_client(kind: str) -> Iterator[Callable[..., Client]]:
    made: List[Client] = []

    def make(auth: Any, **options: Any) -> Client:
        client = Client(kind, auth, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def serve(*challenges: Any, **options: Any) -> ChallengeServer:
    options.setdefault("strict_nc", True)
    return ChallengeServer(users=USERS, challenges=list(challenges) or [Digest("SHA-256")], **options)


def params(exchange: Exchange) -> dict:
    assert exchange.authorization is not None
    return parse_challenges(exchange.authorization)[0].params


def pairs(exchanges: List[Exchange]) -> List[Tuple[str, str]]:
    """(nonce, nc) of every Digest answer sent."""
    found = []
    for exchange in exchanges:
        if exchange.authorization and exchange.authorization.startswith("Digest "):
            p = params(exchange)
            if "nc" in p:
                found.append((p["nonce"], p["nc"]))
    return found


def assert_no_pair_twice(server: ChallengeServer) -> None:
    sent = pairs(list(server.exchanges))
    assert len(sent) == len(set(sent)), Counter(sent).most_common(3)
    assert "nonce count reused" not in {e.reason for e in server.exchanges}


# -- schemes and algorithms ------------------------------------------------------------


def test_basic(make_client: Callable[..., Client]) -> None:
    with serve(Basic()) as server:
        r = make_client(ChallengeAuth("alice", "secret")).get(server.url + "/x")
        assert r.status_code == 200 and r.json()["user"] == "alice" and r.json()["scheme"] == "Basic"
        assert [e.status for e in server.exchanges] == [401, 200]


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256", "SHA-512-256"])
def test_digest(make_client: Callable[..., Client], algorithm: str) -> None:
    with serve(Digest(algorithm)) as server:
        r = make_client(ChallengeAuth("alice", "secret")).get(server.url + "/x?q=1")
        assert r.status_code == 200 and r.json()["algorithm"] == algorithm
        assert [e.status for e in server.exchanges] == [401, 200]
        assert params(server.exchanges[1])["uri"] == "/x?q=1"
        assert [h.status_code for h in r.history] == [401]


def test_three_challenges_answered_with_the_strongest(make_client: Callable[..., Client]) -> None:
    with serve(Digest("MD5"), Digest("SHA-256"), Digest("SHA-512-256"), Basic()) as server:
        r = make_client(ChallengeAuth("alice", "secret")).get(server.url + "/x")
        assert r.json()["algorithm"] == "SHA-512-256"


def test_userhash(make_client: Callable[..., Client]) -> None:
    with serve(Digest("SHA-256", userhash=True)) as server:
        r = make_client(ChallengeAuth("Jäsøn", "Sëcret€")).get(server.url + "/x")
        assert r.status_code == 200 and r.json()["user"] == "Jäsøn"
        assert params(server.exchanges[1])["userhash"] == "true"
        assert "Jäsøn" not in (server.exchanges[1].authorization or "")


@pytest.mark.parametrize("offer", [Digest("SHA-256"), Digest("MD5", charset=True), Basic(), Basic(charset=True)],
                         ids=["digest-raw-utf8", "digest-username*", "basic", "basic-charset"])
def test_non_ascii_user(make_client: Callable[..., Client], offer: Any) -> None:
    """The header octets arrive exactly as the core wrote them (httpx alone would refuse
    a non-ASCII str value); Digest without charset sends the raw UTF-8 octets."""
    with serve(offer) as server:
        r = make_client(ChallengeAuth("Jäsøn", "Sëcret€")).get(server.url + "/x")
        assert r.status_code == 200 and r.json()["user"] == "Jäsøn"
        if isinstance(offer, Digest) and not offer.charset:
            # http.server reads header octets as ISO-8859-1: the UTF-8 octets of the name.
            assert 'username="JÃ¤sÃ¸n"' in (server.exchanges[1].authorization or "")


# -- bodies -----------------------------------------------------------------------------


def test_post_bytes_arrive_whole(make_client: Callable[..., Client]) -> None:
    payload = os.urandom(100_000)
    with serve(Digest("SHA-256")) as server:
        r = make_client(ChallengeAuth("alice", "secret")).request("POST", server.url + "/upload", content=payload)
        assert r.status_code == 200
        assert r.json()["body_sha256"] == hashlib.sha256(payload).hexdigest()
        assert [(e.method, e.status) for e in server.exchanges] == [("POST", 401), ("POST", 200)]


def test_post_file_arrives_whole(kind: str, make_client: Callable[..., Client], tmp_path: Any) -> None:
    """A file given as content= is rewound to where it was (httpx would resend it from its
    end). (httpx declares a sync file's whole size as its Content-Length, so that one
    starts at 0; an async file goes chunked, and starts further in.)"""
    payload = os.urandom(150_000)
    path = tmp_path / "body.bin"
    path.write_bytes(b"skip" + payload if kind == "async" else payload)
    with serve(Digest("SHA-256")) as server:
        client = make_client(ChallengeAuth("alice", "secret"))
        if kind == "sync":
            with open(path, "rb") as f:
                r = client.request("POST", server.url + "/upload", content=f)
        else:
            anyio = pytest.importorskip("anyio")

            async def post() -> Any:
                async with await anyio.open_file(path, "rb") as f:
                    await f.read(4)
                    return await client.raw.post(server.url + "/upload", content=f)

            r = client.run(post())
        assert r.status_code == 200
        assert r.json()["body_length"] == len(payload)
        assert r.json()["body_sha256"] == hashlib.sha256(payload).hexdigest()


def test_multipart_file_arrives_whole(make_client: Callable[..., Client], tmp_path: Any) -> None:
    path = tmp_path / "form.bin"
    path.write_bytes(os.urandom(10_000))
    with serve(Digest("SHA-256")) as server:
        with open(path, "rb") as f:
            r = make_client(ChallengeAuth("alice", "secret")).request("POST", server.url + "/form", files={"f": f})
        assert r.status_code == 200 and r.json()["body_length"] > 10_000
        assert [e.status for e in server.exchanges] == [401, 200]


def test_generator_body_raises_clearly(kind: str, make_client: Callable[..., Client]) -> None:
    """A body that cannot be sent twice is never resent truncated."""
    with serve(Digest("SHA-256")) as server:
        client = make_client(ChallengeAuth("alice", "secret"))
        if kind == "sync":
            with pytest.raises(UnrewindableBodyError, match="cannot be sent again"):
                client.request("POST", server.url + "/x", content=iter([b"a", b"b"]))
        else:
            async def chunks() -> Any:
                yield b"a"
                yield b"b"

            with pytest.raises(UnrewindableBodyError, match="cannot be sent again"):
                client.request("POST", server.url + "/x", content=chunks())
        assert [e.status for e in server.exchanges] == [401]


@pytest.mark.parametrize("source", ["bytes", "file"])
def test_auth_int_hashes_the_body(kind: str, make_client: Callable[..., Client], tmp_path: Any, source: str) -> None:
    payload = os.urandom(200_000)
    path = tmp_path / "body.bin"
    path.write_bytes(payload)
    with serve(Digest("SHA-256", qop="auth-int")) as server:
        client = make_client(ChallengeAuth("alice", "secret"))
        for _ in range(2):  # the second goes up front, hashing the body before the send
            if source == "bytes":
                r = client.request("POST", server.url + "/upload", content=payload)
            elif kind == "sync":
                with open(path, "rb") as f:
                    r = client.request("POST", server.url + "/upload", content=f)
            else:
                anyio = pytest.importorskip("anyio")

                async def post() -> Any:
                    async with await anyio.open_file(path, "rb") as f:
                        return await client.raw.post(server.url + "/upload", content=f)

                r = client.run(post())
            assert r.status_code == 200, [e.reason for e in server.exchanges]
            assert r.json()["body_sha256"] == hashlib.sha256(payload).hexdigest()
        assert [e.status for e in server.exchanges] == [401, 200, 200]
        assert all(params(e)["qop"] == "auth-int" for e in server.exchanges[1:])


# -- costs and recovery -------------------------------------------------------------------


def test_thirty_requests_cost_thirty_one_exchanges(make_client: Callable[..., Client]) -> None:
    with serve(Digest("SHA-256")) as server:
        client = make_client(ChallengeAuth("alice", "secret"))
        assert all(client.get(server.url + f"/n/{i}").status_code == 200 for i in range(30))
        assert len(server.exchanges) == 31
        assert [e.status for e in server.exchanges].count(401) == 1
        assert_no_pair_twice(server)


def test_stale_nonce_costs_one_extra_exchange(make_client: Callable[..., Client]) -> None:
    with serve(Digest("SHA-256")) as server:
        client = make_client(ChallengeAuth("alice", "secret"))
        assert client.get(server.url + "/a").status_code == 200
        server.expire_nonces()
        r = client.get(server.url + "/b")
        assert r.status_code == 200
        assert [e.reason for e in server.exchanges] == ["no credentials", "", "stale nonce", ""]


def test_one_time_nonces_follow_nextnonce(make_client: Callable[..., Client]) -> None:
    with serve(Digest("SHA-256"), one_time_nonces=True) as server:
        client = make_client(ChallengeAuth("alice", "secret"))
        assert all(client.get(server.url + f"/n/{i}").status_code == 200 for i in range(5))
        assert len(server.exchanges) == 6


def test_wrong_password_two_exchanges_and_the_401(make_client: Callable[..., Client]) -> None:
    with serve(Digest("SHA-256")) as server:
        r = make_client(ChallengeAuth("alice", "wrong")).get(server.url + "/x")
        assert r.status_code == 401
        assert [e.status for e in server.exchanges] == [401, 401]


def test_rspauth_mismatch_raises(make_client: Callable[..., Client], monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that cannot prove it knows the password: MutualAuthenticationError."""
    import requests_challenge._dialogue as dialogue

    monkeypatch.setattr(dialogue, "expected_rspauth", lambda *a, **k: "0" * 64)
    with serve(Digest("SHA-256")) as server:
        with pytest.raises(MutualAuthenticationError, match="rspauth"):
            make_client(ChallengeAuth("alice", "secret")).get(server.url + "/x")


def test_streamed_auth_int_rspauth_checked_as_read(kind: str, make_client: Callable[..., Client],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """qop=auth-int: rspauth covers the response body, checked by the read that ends it,
    also when the caller streams the response."""
    with serve(Digest("SHA-256", qop="auth-int")) as server:
        client = make_client(ChallengeAuth("alice", "secret"))

        def stream() -> bytes:
            if kind == "sync":
                with client.raw.stream("GET", server.url + "/x") as response:
                    return b"".join(response.iter_raw(7))

            async def go() -> bytes:
                async with client.raw.stream("GET", server.url + "/x") as response:
                    return b"".join([chunk async for chunk in response.aiter_raw(7)])

            return client.run(go())

        assert b'"user": "alice"' in stream()
        import requests_challenge._dialogue as dialogue

        real = dialogue.expected_rspauth
        monkeypatch.setattr(dialogue, "expected_rspauth",
                            lambda answer, *a, **k: "0" * 64 if k.get("entity_hash") else real(answer, *a, **k))
        with pytest.raises(MutualAuthenticationError, match="rspauth"):
            stream()


def test_challenge_cookie_goes_with_the_answer(make_client: Callable[..., Client]) -> None:
    with serve(Digest("SHA-256"), cookie="session=abc") as server:
        r = make_client(ChallengeAuth("alice", "secret")).get(server.url + "/x")
        assert r.status_code == 200, [e.reason for e in server.exchanges]


def test_schemes_refuse_basic(make_client: Callable[..., Client]) -> None:
    with serve(Basic()) as server:
        r = make_client(ChallengeAuth("alice", "secret", schemes=("digest",))).get(server.url + "/x")
        assert r.status_code == 401 and len(server.exchanges) == 1


def test_preemptive_basic(make_client: Callable[..., Client]) -> None:
    with serve(Basic()) as server:
        r = make_client(ChallengeAuth("alice", "secret", preemptive_basic=True)).get(server.url + "/x")
        assert r.status_code == 200 and len(server.exchanges) == 1


def test_basic_encoding_latin1(make_client: Callable[..., Client]) -> None:
    with serve(Basic()) as server:
        r = make_client(ChallengeAuth("Jäsøn", "Sëcret€", basic_encoding="latin-1")).get(server.url + "/x")
        assert r.status_code == 200 and r.json()["user"] == "Jäsøn"


def test_from_netrc(make_client: Callable[..., Client], tmp_path: Any) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password secret\n")
    with serve(Digest("SHA-256")) as server:
        client = make_client(ChallengeAuth.from_netrc(netrc, schemes=("digest",)))
        assert client.get(server.url + "/x").json()["user"] == "alice"
        other = client.get(server.url.replace("127.0.0.1", "localhost") + "/x")
        assert other.status_code == 401  # a host the file does not name gets nothing


def test_large_challenge_body_is_not_read_whole(make_client: Callable[..., Client]) -> None:
    """At most 64 KiB of a challenge's body before the retry; its connection is dropped."""
    transport_calls = []

    def handler(request: Any) -> Any:
        transport_calls.append(request)
        if "authorization" not in request.headers:
            def endless() -> Iterator[bytes]:
                for _ in range(10_000):
                    yield b"x" * 65536
                raise AssertionError("read past the bound")

            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'}, stream=_Endless(endless))
        return httpx.Response(200, content=b"ok")

    client = make_client(ChallengeAuth("alice", "secret"), transport=_transport(handler))
    r = client.get("http://example.test/x")
    assert r.status_code == 200 and len(transport_calls) == 2
    assert r.history[0].content == b""  # cut: nothing kept


class _Endless(httpx.SyncByteStream, httpx.AsyncByteStream):
    def __init__(self, make: Callable[[], Iterator[bytes]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[bytes]:
        return self._make()

    async def __aiter__(self) -> Any:
        for chunk in self._make():
            yield chunk


def _transport(handler: Callable[[Any], Any]) -> Any:
    return httpx.MockTransport(handler)


# -- redirects ----------------------------------------------------------------------------


def redirect(to: str, code: int) -> str:
    return "/redirect?" + urlencode({"to": to, "status": code})


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("warm", [False, True], ids=["fresh", "known-space"])
def test_same_origin_redirect_each_hop_its_own(make_client: Callable[..., Client], code: int, warm: bool) -> None:
    with serve(Digest("SHA-256")) as server:
        client = make_client(ChallengeAuth("alice", "secret", follow_redirects=True))
        if warm:
            assert client.get(server.url + "/warm").status_code == 200
            server.exchanges.clear()
        first = redirect("/b/target?x=1", code)
        r = client.request("POST", server.url + first, content=b"payload")
        assert r.status_code == 200, [(e.path, e.status, e.reason) for e in server.exchanges]
        method = "POST" if code in (307, 308) else "GET"
        assert r.json()["method"] == method
        assert r.json()["body_length"] == (7 if code in (307, 308) else 0)
        for exchange in server.exchanges:
            if exchange.authorization:
                assert params(exchange)["uri"] == exchange.path  # each hop's own request-target
        statuses = Counter((e.path, e.status) for e in server.exchanges)
        if warm:  # both hops inside the known space: credentials up front on each
            assert statuses == Counter({(first, code): 1, ("/b/target?x=1", 200): 1})
        else:
            assert statuses == Counter({(first, 401): 1, (first, code): 1, ("/b/target?x=1", 200): 1})
        assert_no_pair_twice(server)
        assert [h.status_code for h in r.history][-1] == code


def test_chain_of_hops(make_client: Callable[..., Client]) -> None:
    with serve(Digest("SHA-256")) as server:
        client = make_client(ChallengeAuth("alice", "secret", follow_redirects=True))
        r = client.get(server.url + redirect(redirect(redirect("/end", 307), 302), 301))
        assert r.status_code == 200 and r.json()["path"] == "/end"
        assert all(params(e)["uri"] == e.path for e in server.exchanges if e.authorization)
        assert_no_pair_twice(server)


def test_redirect_to_another_origin_gets_nothing(make_client: Callable[..., Client]) -> None:
    with serve(Digest("SHA-256")) as server, serve(Basic()) as other:
        elsewhere = other.url.replace("127.0.0.1", "localhost") + "/secret"
        client = make_client(ChallengeAuth("alice", "secret", follow_redirects=True))
        # two same-origin hops first, then another origin: nothing at any depth
        r = client.get(server.url + redirect(redirect(elsewhere, 302), 307))
        assert r.status_code == 401
        assert [(e.status, e.authorization) for e in other.exchanges] == [(401, None)]


def test_redirect_back_from_another_origin_gets_nothing(make_client: Callable[..., Client]) -> None:
    """Credentials follow the origin of the request the caller made, not of the previous hop."""
    with serve(Digest("SHA-256")) as server, serve(Digest("SHA-256")) as other:
        client = make_client(ChallengeAuth("alice", "secret", follow_redirects=True))
        start = other.url.replace("127.0.0.1", "localhost") + redirect(server.url + "/x", 302)
        assert client.get(start).status_code == 401
        assert [e.status for e in other.exchanges] == [401, 302]  # the caller's origin: answered
        assert [(e.status, e.authorization) for e in server.exchanges] == [(401, None)]  # the hop: nothing


@pytest.mark.parametrize("user", ["alice", "Jäsøn"])
def test_redirects_returned_when_not_following(make_client: Callable[..., Client], user: str) -> None:
    """Without follow_redirects the 3xx comes back; its next_request carries no copied
    credentials, and sending it continues the chain by the same rules."""
    with serve(Digest("SHA-256")) as server:
        client = make_client(ChallengeAuth(user, USERS[user]))
        assert client.get(server.url + "/warm").status_code == 200
        server.exchanges.clear()
        r = client.get(server.url + redirect("/b/c", 302))
        assert r.status_code == 302
        assert "authorization" not in r.next_request.headers
        r = client.send(r.next_request)
        assert r.status_code == 200
        assert [(e.path, e.status) for e in server.exchanges] == [(redirect("/b/c", 302), 302), ("/b/c", 200)]
        assert all(params(e)["uri"] == e.path for e in server.exchanges)
        assert_no_pair_twice(server)


def test_manual_follow_to_another_origin_gets_nothing(make_client: Callable[..., Client]) -> None:
    with serve(Digest("SHA-256")) as server, serve(Digest("SHA-256")) as other:
        client = make_client(ChallengeAuth("alice", "secret"))
        r = client.get(server.url + redirect(other.url.replace("127.0.0.1", "localhost") + "/x", 302))
        assert r.status_code == 302
        r = client.send(r.next_request)
        assert r.status_code == 401 and [e.authorization for e in other.exchanges] == [None]


def test_a_request_sent_twice_gets_fresh_credentials(make_client: Callable[..., Client]) -> None:
    """The caller's Request object carries credentials after a send; sent again, it gets
    fresh ones (the next nc), and none when the space is gone."""
    with serve(Digest("SHA-256")) as server:
        client = make_client(ChallengeAuth("alice", "secret"))
        assert client.get(server.url + "/warm").status_code == 200
        request = client.raw.build_request("GET", server.url + "/again")
        assert client.send(request).status_code == 200
        assert client.send(request).status_code == 200
        assert_no_pair_twice(server)
        client.auth._spaces.clear()  # forgotten meanwhile: nothing up front, not the old header
        server.exchanges.clear()
        assert client.send(request).status_code == 200
        assert [e.authorization is None for e in server.exchanges] == [True, False]


def test_client_side_following_is_noticed(make_client: Callable[..., Client], caplog: pytest.LogCaptureFixture) -> None:
    """httpx's own follow_redirects copies the hop's Authorization before the flow sees
    anything; the flow says so once, and still answers the last hop as its own."""
    with serve(Basic()) as server:
        client = make_client(ChallengeAuth("alice", "secret"), follow_redirects=True)
        assert client.get(server.url + "/warm").status_code == 200
        with caplog.at_level(logging.WARNING, logger="requests_challenge"):
            r = client.get(server.url + redirect("/b/c", 302))
        assert r.status_code == 200
        assert any("follow_redirects=False" in m for m in caplog.messages)


def test_too_many_redirects(make_client: Callable[..., Client]) -> None:
    with serve(Basic(), protected=()) as server:
        client = make_client(ChallengeAuth("alice", "secret", follow_redirects=True, max_redirects=2))
        with pytest.raises(httpx.TooManyRedirects):
            client.get(server.url + redirect(redirect(redirect("/x", 302), 302), 302))


# -- concurrency -----------------------------------------------------------------------------


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_fifty_concurrent_requests_share_one_auth(warm: bool) -> None:
    with serve(Digest("SHA-256")) as server:
        auth = ChallengeAuth("alice", "secret")

        async def main() -> List[int]:
            # 8 connections: the 50 requests queue for them; the embedded server's listen
            # backlog (5) would otherwise drop connection attempts, retried only seconds later.
            limits = httpx.Limits(max_connections=8)
            async with httpx.AsyncClient(auth=auth, timeout=TIMEOUT, limits=limits, trust_env=False) as client:
                if warm:
                    await client.get(server.url + "/warm")
                responses = await asyncio.gather(*(client.get(server.url + f"/c/{i}") for i in range(50)))
                return [r.status_code for r in responses]

        assert asyncio.run(main()) == [200] * 50
        assert_no_pair_twice(server)
        if warm:
            assert [e.status for e in server.exchanges].count(401) == 1


def test_threads_share_one_auth() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with serve(Digest("SHA-256")) as server:
        with httpx.Client(auth=ChallengeAuth("alice", "secret"), timeout=TIMEOUT, trust_env=False) as client:
            assert client.get(server.url + "/warm").status_code == 200
            with ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(lambda i: client.get(server.url + f"/t/{i}").status_code, range(80)))
        assert statuses == [200] * 80
        assert len(server.exchanges) == 82
        assert_no_pair_twice(server)


# -- the package ------------------------------------------------------------------------------


def test_importing_the_package_imports_neither_client() -> None:
    code = "import sys, requests_challenge, requests_challenge.testing; print(sorted({'httpx', 'aiohttp'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_repr_has_no_secret() -> None:
    auth = ChallengeAuth("alice", "s3cr3t-value")
    assert "s3cr3t-value" not in repr(auth)
    assert isinstance(auth, httpx.Auth)


def test_pickle_keeps_configuration_not_spaces() -> None:
    import pickle

    auth = ChallengeAuth("alice", "secret", schemes=("digest",), follow_redirects=True)
    copy = pickle.loads(pickle.dumps(auth))
    assert copy.username == "alice" and copy._follow_redirects and copy._source.schemes == frozenset({"digest"})


def test_header_octets_reach_the_wire_unchanged() -> None:
    seen: List[bytes] = []

    def handler(request: Any) -> Any:
        values = [v for k, v in request.headers.raw if k.lower() == b"authorization"]
        if not values:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Digest realm="r", nonce="n", qop="auth"'})
        seen.extend(values)
        return httpx.Response(200)

    with httpx.Client(auth=ChallengeAuth("Jäsøn", "pw"), transport=httpx.MockTransport(handler), timeout=TIMEOUT) as c:
        assert c.get("http://example.test/").status_code == 200
    assert b'username="J\xc3\xa4s\xc3\xb8n"' in seen[0]



def test_schemes_bound_to_one_connection_are_left_out() -> None:
    """NTLM's handshake must stay on one connection, which this client cannot promise."""
    from requests_challenge._ranking import SUPPORTED_SCHEMES

    assert "ntlm" not in ChallengeAuth("alice", "secret")._source.schemes
    if "ntlm" in SUPPORTED_SCHEMES:
        with pytest.raises(ValueError, match="one connection"):
            ChallengeAuth("alice", "secret", schemes=("ntlm", "digest"))
