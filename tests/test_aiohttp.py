"""requests_challenge.aiohttp.ChallengeMiddleware under aiohttp.ClientSession (aiohttp >= 3.12).

Against the embedded ChallengeServer (real sockets on 127.0.0.1), which checks
credentials as RFC 7616 / 7617 servers do; with ``strict_nc=True`` a (nonce, nc)
pair sent twice is refused, and every test that cares also reads the pairs back
from the exchange log. Exchanges are compared as multisets or counts, never by
time. Every request has a timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from collections import Counter
from typing import Any, Awaitable, Callable, List, Tuple, TypeVar
from urllib.parse import urlencode

import pytest

aiohttp = pytest.importorskip("aiohttp")

from requests_challenge import MutualAuthenticationError, parse_challenges  # noqa: E402
from requests_challenge.aiohttp import ChallengeMiddleware, UnrewindableBodyError, UnsendableHeaderError  # noqa: E402
from requests_challenge.testing import Basic, ChallengeServer, Digest, Exchange  # noqa: E402

USERS = {"alice": "secret", "Jäsøn": "Sëcret€"}
TIMEOUT = aiohttp.ClientTimeout(total=10)
CODES = (301, 302, 303, 307, 308)
T = TypeVar("T")


def serve(*challenges: Any, **options: Any) -> ChallengeServer:
    options.setdefault("strict_nc", True)
    return ChallengeServer(users=USERS, challenges=list(challenges) or [Digest("SHA-256")], **options)


def run(middleware: ChallengeMiddleware, body: Callable[[Any], Awaitable[T]], **options: Any) -> T:
    """``body(session)`` in a fresh event loop, with a session that has the middleware."""

    async def main() -> T:
        if callable(options.get("connector")):
            options["connector"] = options["connector"]()
        if options.pop("unsafe_cookies", False):
            options["cookie_jar"] = aiohttp.CookieJar(unsafe=True)  # cookies from 127.0.0.1
        async with aiohttp.ClientSession(middlewares=(middleware,), timeout=TIMEOUT, trust_env=False,
                                         **options) as session:
            return await body(session)

    return asyncio.run(main())


async def fetch(session: Any, method: str, url: str, **kwargs: Any) -> Tuple[int, Any, Any]:
    """(status, JSON body or None, response) of one request, its body read."""
    async with session.request(method, url, **kwargs) as response:
        data = await response.read()
        payload = None
        if response.content_type == "application/json":
            payload = await response.json()
        assert data is not None
        return response.status, payload, response


def get(middleware: ChallengeMiddleware, url: str, **kwargs: Any) -> Tuple[int, Any, Any]:
    return run(middleware, lambda session: fetch(session, "GET", url, **kwargs))


def params(exchange: Exchange) -> dict:
    assert exchange.authorization is not None
    return parse_challenges(exchange.authorization)[0].params


def assert_no_pair_twice(server: ChallengeServer) -> None:
    sent = []
    for exchange in server.exchanges:
        if exchange.authorization and exchange.authorization.startswith("Digest "):
            p = params(exchange)
            if "nc" in p:
                sent.append((p["nonce"], p["nc"]))
    assert len(sent) == len(set(sent)), Counter(sent).most_common(3)
    assert "nonce count reused" not in {e.reason for e in server.exchanges}


# -- schemes and algorithms ------------------------------------------------------------


def test_basic() -> None:
    with serve(Basic()) as server:
        status, body, _ = get(ChallengeMiddleware("alice", "secret"), server.url + "/x")
        assert status == 200 and body["user"] == "alice" and body["scheme"] == "Basic"
        assert [e.status for e in server.exchanges] == [401, 200]


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256", "SHA-512-256"])
def test_digest(algorithm: str) -> None:
    with serve(Digest(algorithm)) as server:
        status, body, _ = get(ChallengeMiddleware("alice", "secret"), server.url + "/x?q=1")
        assert status == 200 and body["algorithm"] == algorithm
        assert [e.status for e in server.exchanges] == [401, 200]
        assert params(server.exchanges[1])["uri"] == "/x?q=1"


def test_three_challenges_answered_with_the_strongest() -> None:
    with serve(Digest("MD5"), Digest("SHA-256"), Digest("SHA-512-256"), Basic()) as server:
        _, body, _ = get(ChallengeMiddleware("alice", "secret"), server.url + "/x")
        assert body["algorithm"] == "SHA-512-256"


def test_userhash() -> None:
    with serve(Digest("SHA-256", userhash=True)) as server:
        status, body, _ = get(ChallengeMiddleware("Jäsøn", "Sëcret€"), server.url + "/x")
        assert status == 200 and body["user"] == "Jäsøn"
        assert params(server.exchanges[1])["userhash"] == "true"


@pytest.mark.parametrize("offer", [Digest("SHA-256"), Digest("MD5", charset=True), Basic(), Basic(charset=True)],
                         ids=["digest-raw-utf8", "digest-username*", "basic", "basic-charset"])
def test_non_ascii_user(offer: Any) -> None:
    """aiohttp encodes header text as UTF-8: the middleware hands it the text whose UTF-8
    form is the core's octets, so a raw UTF-8 user name arrives as one (not doubly encoded)."""
    with serve(offer) as server:
        status, body, _ = get(ChallengeMiddleware("Jäsøn", "Sëcret€"), server.url + "/x")
        assert status == 200 and body["user"] == "Jäsøn"
        if isinstance(offer, Digest) and not offer.charset:
            assert 'username="JÃ¤sÃ¸n"' in (server.exchanges[1].authorization or "")


def test_octets_that_are_not_utf8_are_refused_clearly() -> None:
    """A realm sent as ISO-8859-1 octets must be echoed as those octets, which aiohttp cannot send."""
    with serve(Digest("SHA-256", realm="Zugang für alle")) as server:
        with pytest.raises(UnsendableHeaderError, match="not UTF-8"):
            get(ChallengeMiddleware("alice", "secret"), server.url + "/x")
        assert [e.status for e in server.exchanges] == [401]


# -- bodies -----------------------------------------------------------------------------


def test_post_bytes_arrive_whole() -> None:
    payload = os.urandom(100_000)
    with serve(Digest("SHA-256")) as server:
        status, body, _ = run(ChallengeMiddleware("alice", "secret"),
                              lambda s: fetch(s, "POST", server.url + "/upload", data=payload))
        assert status == 200 and body["body_sha256"] == hashlib.sha256(payload).hexdigest()
        assert [(e.method, e.status) for e in server.exchanges] == [("POST", 401), ("POST", 200)]


def test_post_file_arrives_whole(tmp_path: Any) -> None:
    payload = os.urandom(150_000)
    path = tmp_path / "body.bin"
    path.write_bytes(b"skip" + payload)
    with serve(Digest("SHA-256")) as server:
        with open(path, "rb") as f:
            f.read(4)  # aiohttp sends a file from where it is, and rewinds it there
            status, body, _ = run(ChallengeMiddleware("alice", "secret"),
                                  lambda s: fetch(s, "POST", server.url + "/upload", data=f))
        assert status == 200
        assert body["body_length"] == len(payload) and body["body_sha256"] == hashlib.sha256(payload).hexdigest()
        assert [e.status for e in server.exchanges] == [401, 200]


def test_async_generator_body_raises_clearly() -> None:
    async def chunks() -> Any:
        yield b"a"
        yield b"b"

    with serve(Digest("SHA-256")) as server:
        with pytest.raises(UnrewindableBodyError, match="cannot be sent again"):
            run(ChallengeMiddleware("alice", "secret"), lambda s: fetch(s, "POST", server.url + "/x", data=chunks()))
        assert [e.status for e in server.exchanges] == [401]


@pytest.mark.parametrize("source", ["bytes", "file"])
def test_auth_int_hashes_the_body(tmp_path: Any, source: str) -> None:
    payload = os.urandom(200_000)
    path = tmp_path / "body.bin"
    path.write_bytes(payload)
    with serve(Digest("SHA-256", qop="auth-int")) as server:

        async def twice(session: Any) -> List[Any]:
            results = []
            for _ in range(2):  # the second goes up front, hashing the body before the send
                if source == "bytes":
                    results.append(await fetch(session, "POST", server.url + "/upload", data=payload))
                else:
                    with open(path, "rb") as f:
                        results.append(await fetch(session, "POST", server.url + "/upload", data=f))
            return results

        for status, body, _ in run(ChallengeMiddleware("alice", "secret"), twice):
            assert status == 200, [e.reason for e in server.exchanges]
            assert body["body_sha256"] == hashlib.sha256(payload).hexdigest()
        assert [e.status for e in server.exchanges] == [401, 200, 200]
        assert all(params(e)["qop"] == "auth-int" for e in server.exchanges[1:])


# -- costs and recovery -------------------------------------------------------------------


def test_thirty_requests_cost_thirty_one_exchanges() -> None:
    with serve(Digest("SHA-256")) as server:

        async def thirty(session: Any) -> List[int]:
            return [(await fetch(session, "GET", server.url + f"/n/{i}"))[0] for i in range(30)]

        assert run(ChallengeMiddleware("alice", "secret"), thirty) == [200] * 30
        assert len(server.exchanges) == 31
        assert_no_pair_twice(server)


def test_stale_nonce_costs_one_extra_exchange() -> None:
    with serve(Digest("SHA-256")) as server:

        async def two(session: Any) -> List[int]:
            first = (await fetch(session, "GET", server.url + "/a"))[0]
            server.expire_nonces()
            return [first, (await fetch(session, "GET", server.url + "/b"))[0]]

        assert run(ChallengeMiddleware("alice", "secret"), two) == [200, 200]
        assert [e.reason for e in server.exchanges] == ["no credentials", "", "stale nonce", ""]


def test_wrong_password_two_exchanges_and_the_401() -> None:
    with serve(Digest("SHA-256")) as server:
        status, _, _ = get(ChallengeMiddleware("alice", "wrong"), server.url + "/x")
        assert status == 401
        assert [e.status for e in server.exchanges] == [401, 401]


def test_rspauth_mismatch_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    import requests_challenge._dialogue as dialogue

    monkeypatch.setattr(dialogue, "expected_rspauth", lambda *a, **k: "0" * 64)
    with serve(Digest("SHA-256")) as server:
        with pytest.raises(MutualAuthenticationError, match="rspauth"):
            get(ChallengeMiddleware("alice", "secret"), server.url + "/x")


def test_streamed_auth_int_rspauth_checked_as_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """qop=auth-int: rspauth covers the response body, checked by the read that ends it."""
    with serve(Digest("SHA-256", qop="auth-int")) as server:

        async def stream(session: Any) -> bytes:
            async with session.get(server.url + "/x") as response:
                return b"".join([chunk async for chunk in response.content.iter_chunked(7)])

        assert b'"user": "alice"' in run(ChallengeMiddleware("alice", "secret"), stream)

        import requests_challenge._dialogue as dialogue

        real = dialogue.expected_rspauth
        monkeypatch.setattr(dialogue, "expected_rspauth",
                            lambda answer, *a, **k: real(answer, *a, **k) if "entity_hash" not in k or k["entity_hash"] is None
                            else "0" * 64)
        with pytest.raises(MutualAuthenticationError, match="rspauth"):
            run(ChallengeMiddleware("alice", "secret"), stream)


def test_challenge_cookie_goes_with_the_answer() -> None:
    with serve(Digest("SHA-256"), cookie="session=abc") as server:
        status, _, _ = run(ChallengeMiddleware("alice", "secret"), lambda s: fetch(s, "GET", server.url + "/x"),
                           unsafe_cookies=True)
        assert status == 200, [e.reason for e in server.exchanges]


def test_schemes_refuse_basic() -> None:
    with serve(Basic()) as server:
        status, _, _ = get(ChallengeMiddleware("alice", "secret", schemes=("digest",)), server.url + "/x")
        assert status == 401 and len(server.exchanges) == 1


def test_preemptive_basic_and_latin1() -> None:
    with serve(Basic()) as server:
        status, body, _ = get(ChallengeMiddleware("Jäsøn", "Sëcret€", preemptive_basic=True, basic_encoding="latin-1"),
                              server.url + "/x")
        assert status == 200 and body["user"] == "Jäsøn" and len(server.exchanges) == 1


def test_from_netrc(tmp_path: Any) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password secret\n")
    with serve(Digest("SHA-256")) as server:
        middleware = ChallengeMiddleware.from_netrc(netrc, schemes=("digest",))
        assert get(middleware, server.url + "/x")[1]["user"] == "alice"
        assert get(middleware, server.url.replace("127.0.0.1", "localhost") + "/x")[0] == 401


# -- redirects ----------------------------------------------------------------------------


def redirect(to: str, code: int) -> str:
    return "/redirect?" + urlencode({"to": to, "status": code})


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("warm", [False, True], ids=["fresh", "known-space"])
def test_same_origin_redirect_each_hop_its_own(code: int, warm: bool) -> None:
    with serve(Digest("SHA-256")) as server:
        first = redirect("/b/target?x=1", code)

        async def go(session: Any) -> Tuple[int, Any, Any]:
            if warm:
                assert (await fetch(session, "GET", server.url + "/warm"))[0] == 200
                server.exchanges.clear()
            return await fetch(session, "POST", server.url + first, data=b"payload")

        status, body, response = run(ChallengeMiddleware("alice", "secret"), go)
        assert status == 200, [(e.path, e.status, e.reason) for e in server.exchanges]
        assert body["method"] == ("POST" if code in (307, 308) else "GET")
        assert body["body_length"] == (7 if code in (307, 308) else 0)
        for exchange in server.exchanges:
            assert params(exchange)["uri"] == exchange.path if exchange.authorization else True
        hop = urlencode({"to": "/b/target?x=1", "status": code}).replace("%2F", "/").replace("%3F", "?")
        counted = Counter((e.path.split("?", 1)[0], e.status) for e in server.exchanges)
        expected = Counter({("/redirect", code): 1, ("/b/target", 200): 1})
        if not warm:
            expected[("/redirect", 401)] += 1
        assert counted == expected, hop
        assert_no_pair_twice(server)
        assert [h.status for h in response.history] == [code]


def test_chain_of_hops() -> None:
    with serve(Digest("SHA-256")) as server:
        status, body, _ = get(ChallengeMiddleware("alice", "secret"),
                              server.url + redirect(redirect(redirect("/end", 307), 302), 301))
        assert status == 200 and body["path"] == "/end"
        assert all(params(e)["uri"] == e.path for e in server.exchanges if e.authorization)
        assert_no_pair_twice(server)


def test_redirect_to_another_origin_gets_nothing() -> None:
    with serve(Digest("SHA-256")) as server, serve(Basic()) as other:
        elsewhere = other.url.replace("127.0.0.1", "localhost") + "/secret"
        status, _, _ = get(ChallengeMiddleware("alice", "secret"), server.url + redirect(redirect(elsewhere, 302), 307))
        assert status == 401
        assert [(e.status, e.authorization) for e in other.exchanges] == [(401, None)]


def test_redirect_back_from_another_origin_gets_nothing() -> None:
    with serve(Digest("SHA-256")) as server, serve(Digest("SHA-256")) as other:
        start = other.url.replace("127.0.0.1", "localhost") + redirect(server.url + "/x", 302)
        status, _, _ = get(ChallengeMiddleware("alice", "secret"), start)
        assert status == 401
        assert [e.status for e in other.exchanges] == [401, 302]
        assert [(e.status, e.authorization) for e in server.exchanges] == [(401, None)]


def test_a_new_request_after_an_unfollowed_redirect_is_its_own_chain() -> None:
    """With allow_redirects=False the caller's next request (in the same task) to where the
    redirect pointed is a request of its own, not a hop: it gets credentials."""
    with serve(Digest("SHA-256")) as server, serve(Digest("SHA-256")) as other:
        elsewhere = other.url.replace("127.0.0.1", "localhost") + "/x"

        async def two(session: Any) -> List[int]:
            first = await fetch(session, "GET", server.url + redirect(elsewhere, 302), allow_redirects=False)
            second = await fetch(session, "GET", elsewhere)
            return [first[0], second[0]]

        assert run(ChallengeMiddleware("alice", "secret"), two) == [302, 200]


# -- concurrency -----------------------------------------------------------------------------


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_fifty_concurrent_requests_share_one_middleware(warm: bool) -> None:
    with serve(Digest("SHA-256")) as server:

        async def fifty(session: Any) -> List[int]:
            if warm:
                await fetch(session, "GET", server.url + "/warm")
            results = await asyncio.gather(*(fetch(session, "GET", server.url + f"/c/{i}") for i in range(50)))
            return [status for status, _, _ in results]

        # 8 connections: the 50 requests queue for them; the embedded server's listen
        # backlog (5) would otherwise drop connection attempts, retried only seconds later.
        connector = lambda: aiohttp.TCPConnector(limit=8)  # noqa: E731  (made inside the loop)
        assert run(ChallengeMiddleware("alice", "secret"), fifty, connector=connector) == [200] * 50
        assert_no_pair_twice(server)
        if warm:
            assert [e.status for e in server.exchanges].count(401) == 1


def test_concurrent_redirect_chains_keep_their_origins() -> None:
    """Hops of chains running side by side are told apart (one chain per call)."""
    with serve(Digest("SHA-256")) as server, serve(Basic()) as other:
        elsewhere = other.url.replace("127.0.0.1", "localhost") + "/secret"

        async def mixed(session: Any) -> List[int]:
            jobs = []
            for i in range(20):
                target = elsewhere if i % 2 else f"/own/{i}"
                jobs.append(fetch(session, "GET", server.url + redirect(target, 302)))
            return [status for status, _, _ in await asyncio.gather(*jobs)]

        statuses = run(ChallengeMiddleware("alice", "secret"), mixed, connector=lambda: aiohttp.TCPConnector(limit=8))
        assert statuses == [200 if i % 2 == 0 else 401 for i in range(20)]
        assert all(e.authorization is None for e in other.exchanges)
        assert_no_pair_twice(server)


# -- the package ------------------------------------------------------------------------------


def test_importing_the_package_imports_neither_client() -> None:
    code = "import sys, requests_challenge; print(sorted({'httpx', 'aiohttp'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_repr_has_no_secret() -> None:
    assert "s3cr3t-value" not in repr(ChallengeMiddleware("alice", "s3cr3t-value"))


def test_schemes_bound_to_one_connection_are_left_out() -> None:
    """NTLM's handshake must stay on one connection, which this client cannot promise."""
    from requests_challenge._ranking import SUPPORTED_SCHEMES

    assert "ntlm" not in ChallengeMiddleware("alice", "secret")._source.schemes
    if "ntlm" in SUPPORTED_SCHEMES:
        with pytest.raises(ValueError, match="one connection"):
            ChallengeMiddleware("alice", "secret", schemes=("ntlm", "digest"))
