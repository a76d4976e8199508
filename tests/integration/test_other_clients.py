"""The httpx and aiohttp adapters against real lighttpd and Apache httpd.

The same dialogue as ChallengeAuth for requests, driven by
``requests_challenge.httpx.ChallengeAuth`` under ``httpx.Client`` and
``httpx.AsyncClient`` and by ``requests_challenge.aiohttp.ChallengeMiddleware``
under ``aiohttp.ClientSession``: a few of the interop cases of test_lighttpd.py,
test_apache.py and test_redirects.py, for each of the three clients.

Exchanges are counted as test_lighttpd.py counts them (tagging.py): every
request of a step carries the step's own ``X-Test-Tag``; the client counts what
it sends per tag (an httpx request hook, an inner aiohttp middleware: both see
every retry and hop) and the server's access log is read as a multiset of the
lines with that tag, never by position, order or time.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

from .servers import REQUEST_TIMEOUT, TAG_HEADER, WRONG_PASSWORD, Apache, Lighttpd, auth_params, new_tag, parse_echo
from .tagging import exchanges

httpx = pytest.importorskip("httpx")
aiohttp = pytest.importorskip("aiohttp")

from requests_challenge.aiohttp import ChallengeMiddleware  # noqa: E402
from requests_challenge.httpx import ChallengeAuth  # noqa: E402

pytestmark = pytest.mark.integration

KINDS = ("httpx", "httpx-async", "aiohttp")


class Reply:
    """What a test reads of a final response, whichever client got it."""

    def __init__(self, status: int, body: bytes, history: int) -> None:
        self.status = status
        self.body = body
        self.history = history  # responses before this one (challenges, redirects)


class Client:
    """One of the three clients with one auth object, sending a tag on every request
    and keeping, per tag, how many requests went out and their Authorization headers."""

    def __init__(self, kind: str, user: str, password: str, **options: Any) -> None:
        self.kind = kind
        self.sent: Dict[str, List[Optional[str]]] = {}
        self.tag = new_tag()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        if kind.startswith("httpx"):
            auth = ChallengeAuth(user, password, follow_redirects=True, **options)
            hooks = {"request": [self._record_httpx] if kind == "httpx" else [self._arecord_httpx]}
            if kind == "httpx":
                self._client: Any = httpx.Client(auth=auth, timeout=REQUEST_TIMEOUT, trust_env=False, event_hooks=hooks)
            else:
                self._loop = asyncio.new_event_loop()
                self._client = self._run(self._make_async_httpx(auth, hooks))
        else:
            self._loop = asyncio.new_event_loop()
            self._client = self._run(self._make_aiohttp(ChallengeMiddleware(user, password, **options)))

    # -- counting -------------------------------------------------------------------

    def _note(self, tag: Optional[str], authorization: Optional[str]) -> None:
        if tag:
            self.sent.setdefault(tag, []).append(authorization)

    def _record_httpx(self, request: Any) -> None:
        raw = dict((k.lower(), v) for k, v in request.headers.raw)
        tag, authorization = raw.get(TAG_HEADER.lower().encode()), raw.get(b"authorization")
        self._note(tag.decode("latin-1") if tag else None, authorization.decode("latin-1") if authorization else None)

    async def _arecord_httpx(self, request: Any) -> None:
        self._record_httpx(request)

    async def _count_aiohttp(self, request: Any, handler: Any) -> Any:
        authorization = request.headers.get("Authorization")
        # aiohttp sends header text as UTF-8: back to the octets, read as the servers read them
        self._note(request.headers.get(TAG_HEADER),
                   authorization.encode("utf-8").decode("latin-1") if authorization else None)
        return await handler(request)

    def count(self, tag: str) -> int:
        return len(self.sent.get(tag, []))

    # -- the clients ------------------------------------------------------------------

    def _run(self, coroutine: Any) -> Any:
        assert self._loop is not None
        return self._loop.run_until_complete(coroutine)

    async def _make_async_httpx(self, auth: Any, hooks: Any) -> Any:
        return httpx.AsyncClient(auth=auth, timeout=REQUEST_TIMEOUT, trust_env=False, event_hooks=hooks)

    async def _make_aiohttp(self, middleware: Any) -> Any:
        return aiohttp.ClientSession(middlewares=(middleware, self._count_aiohttp), trust_env=False,
                                     timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT))

    def retag(self) -> str:
        self.tag = new_tag()
        return self.tag

    def request(self, method: str, url: str, content: Any = None) -> Reply:
        headers = {TAG_HEADER: self.tag}
        if self.kind == "httpx":
            r = self._client.request(method, url, content=content, headers=headers)
            return Reply(r.status_code, r.content, len(r.history))
        if self.kind == "httpx-async":
            r = self._run(self._client.request(method, url, content=content, headers=headers))
            return Reply(r.status_code, r.content, len(r.history))

        async def go() -> Reply:
            async with self._client.request(method, url, data=content, headers=headers) as r:
                return Reply(r.status, await r.read(), len(r.history))

        return self._run(go())

    def get(self, url: str) -> Reply:
        return self.request("GET", url)

    def post_file(self, url: str, path: Path) -> Reply:
        if self.kind != "httpx-async":
            with path.open("rb") as f:
                return self.request("POST", url, content=f)
        anyio = pytest.importorskip("anyio")  # httpx.AsyncClient sends async files only

        async def go() -> Reply:
            async with await anyio.open_file(path, "rb") as f:
                r = await self._client.post(url, content=f, headers={TAG_HEADER: self.tag})
            return Reply(r.status_code, r.content, len(r.history))

        return self._run(go())

    def close(self) -> None:
        if self.kind == "httpx":
            self._client.close()
            return
        self._run(self._client.aclose() if self.kind == "httpx-async" else self._client.close())
        assert self._loop is not None
        self._loop.close()


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def client_for(kind: str) -> Any:
    made: List[Client] = []

    def make(user: str, password: str, **options: Any) -> Client:
        client = Client(kind, user, password, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def logged(server: Any, client: Client, tag: str, users: bool = True) -> "Counter[Any]":
    return exchanges(server, tag, users=users, at_least=client.count(tag))


# -- lighttpd ---------------------------------------------------------------------------


@pytest.mark.parametrize("location, algorithm", [("md5", "MD5"), ("sha256", "SHA-256")])
def test_lighttpd_digest_costs_one_challenge(lighttpd: Lighttpd, client_for: Callable[..., Client], credentials: Tuple[str, str],
                                           location: str, algorithm: str) -> None:
    user, password = credentials
    client = client_for(user, password)
    path = f"/{location}/hello.txt"
    r = client.get(lighttpd.url(path))
    assert r.status == 200 and r.body == f"hello from lighttpd /{location}/\n".encode()
    answer = auth_params(client.sent[client.tag][-1] or "")
    assert answer["algorithm"].upper() == algorithm and answer["qop"] == "auth"
    assert logged(lighttpd, client, client.tag) == Counter({(401, "GET", path, None): 1, (200, "GET", path, user): 1})


def test_lighttpd_three_challenges_answered_with_sha512_256(lighttpd: Lighttpd, client_for: Callable[..., Client],
                                                           credentials: Tuple[str, str]) -> None:
    user, password = credentials
    client = client_for(user, password)
    r = client.get(lighttpd.url("/multi/hello.txt"))
    assert r.status == 200
    assert auth_params(client.sent[client.tag][-1] or "")["algorithm"].upper() == "SHA-512-256"


def test_lighttpd_userhash(lighttpd: Lighttpd, client_for: Callable[..., Client], credentials: Tuple[str, str]) -> None:
    user, password = credentials
    client = client_for(user, password)
    assert client.get(lighttpd.url("/userhash/hello.txt")).status == 200
    assert auth_params(client.sent[client.tag][-1] or "")["userhash"] == "true"


def test_lighttpd_basic_utf8(lighttpd: Lighttpd, client_for: Callable[..., Client], credentials: Tuple[str, str]) -> None:
    user, password = credentials
    client = client_for(user, password)
    path = "/basic/hello.txt"
    assert client.get(lighttpd.url(path)).status == 200
    assert logged(lighttpd, client, client.tag) == Counter({(401, "GET", path, None): 1, (200, "GET", path, user): 1})


@pytest.mark.parametrize("source", ["bytes", "file"])
def test_lighttpd_post_body_arrives_whole(lighttpd: Lighttpd, client_for: Callable[..., Client], credentials: Tuple[str, str],
                                          source: str, tmp_path: Path) -> None:
    user, password = credentials
    body = os.urandom(256 * 1024 + 7)
    target = "/sha256/echo.cgi"
    client = client_for(user, password)
    if source == "file":
        path = tmp_path / "upload.bin"
        path.write_bytes(body)
        r = client.post_file(lighttpd.url(target), path)
    else:
        r = client.request("POST", lighttpd.url(target), content=body)
    assert r.status == 200
    echoed = parse_echo(r.body)
    assert int(echoed["length"]) == len(body) and echoed["sha256"] == hashlib.sha256(body).hexdigest()
    assert echoed["user"] == user
    assert logged(lighttpd, client, client.tag) == Counter({(401, "POST", target, None): 1, (200, "POST", target, user): 1})


def test_lighttpd_n_requests_cost_n_plus_one(lighttpd: Lighttpd, client_for: Callable[..., Client],
                                            credentials: Tuple[str, str]) -> None:
    user, password = credentials
    client = client_for(user, password)
    path = "/md5/hello.txt"
    tags = []
    for _ in range(5):
        tags.append(client.retag())
        assert client.get(lighttpd.url(path)).status == 200
    challenged = Counter({(401, "GET", path, None): 1, (200, "GET", path, user): 1})
    up_front = Counter({(200, "GET", path, user): 1})
    assert [logged(lighttpd, client, tag) for tag in tags] == [challenged] + [up_front] * 4


def test_lighttpd_wrong_password(lighttpd: Lighttpd, client_for: Callable[..., Client], credentials: Tuple[str, str]) -> None:
    user, _ = credentials
    client = client_for(user, WRONG_PASSWORD)
    path = "/md5/hello.txt"
    assert client.get(lighttpd.url(path)).status == 401
    assert logged(lighttpd, client, client.tag, users=False) == Counter({(401, "GET", path): 2})


@pytest.mark.parametrize("code", [302, 307])
def test_lighttpd_redirect_each_hop_its_own(lighttpd: Lighttpd, client_for: Callable[..., Client],
                                          credentials: Tuple[str, str], code: int) -> None:
    """The redirecting location is protected too: each hop's Digest uri is its own
    (lighttpd answers a wrong one with 400) and, in a known space, goes up front."""
    user, password = credentials
    client = client_for(user, password)
    assert client.get(lighttpd.url("/md5/hello.txt")).status == 200  # the space is known now
    tag = client.retag()
    first = lighttpd.redirect_path("md5", code, "hello.txt")
    r = client.get(lighttpd.url(first))
    assert r.status == 200 and r.body == b"hello from lighttpd /md5/\n"
    assert logged(lighttpd, client, tag) == Counter({(code, "GET", first, user): 1,
                                                     (200, "GET", "/md5/hello.txt", user): 1})
    uris = [auth_params(value or "")["uri"] for value in client.sent[tag]]
    assert uris == [first, "/md5/hello.txt"]
    nonce_counts = [(auth_params(v or "")["nonce"], auth_params(v or "")["nc"]) for v in client.sent[tag]]
    assert len(set(nonce_counts)) == len(nonce_counts)


# -- Apache httpd ------------------------------------------------------------------------


@pytest.mark.parametrize("location", ["digest", "basic"])
def test_apache_one_challenge(apache: Apache, client_for: Callable[..., Client], credentials: Tuple[str, str],
                              location: str) -> None:
    user, password = credentials
    client = client_for(user, password)
    path = f"/{location}/hello.txt"
    assert client.get(apache.url(path)).status == 200
    assert logged(apache, client, client.tag) == Counter({(401, "GET", path, None): 1, (200, "GET", path, user): 1})


def test_apache_stale_nonce_costs_one_extra_exchange(apache: Apache, client_for: Callable[..., Client],
                                                     credentials: Tuple[str, str]) -> None:
    user, password = credentials
    client = client_for(user, password)
    path = "/stale/hello.txt"
    first_tag = client.retag()
    assert client.get(apache.url(path)).status == 200
    time.sleep(apache.nonce_lifetime + 1.0)  # let the nonce expire (not a measurement)
    second_tag = client.retag()
    assert client.get(apache.url(path)).status == 200
    one_challenge = Counter({(401, "GET", path): 1, (200, "GET", path): 1})
    assert logged(apache, client, first_tag, users=False) == one_challenge
    assert logged(apache, client, second_tag, users=False) == one_challenge


def test_apache_post_body_arrives_whole(apache: Apache, client_for: Callable[..., Client],
                                        credentials: Tuple[str, str]) -> None:
    user, password = credentials
    body = os.urandom(200 * 1024 + 3)
    target = "/digest/cgi/echo"
    client = client_for(user, password)
    r = client.request("POST", apache.url(target), content=body)
    assert r.status == 200
    echoed = parse_echo(r.body)
    assert int(echoed["length"]) == len(body) and echoed["sha256"] == hashlib.sha256(body).hexdigest()
    assert logged(apache, client, client.tag) == Counter({(401, "POST", target, None): 1, (200, "POST", target, user): 1})


def test_apache_wrong_password(apache: Apache, client_for: Callable[..., Client], credentials: Tuple[str, str]) -> None:
    user, _ = credentials
    client = client_for(user, WRONG_PASSWORD)
    path = "/digest/hello.txt"
    assert client.get(apache.url(path)).status == 401
    assert logged(apache, client, client.tag, users=False) == Counter({(401, "GET", path): 2})


@pytest.mark.parametrize("code", [301, 303, 308])
def test_apache_redirect_fresh_auth(apache: Apache, client_for: Callable[..., Client], credentials: Tuple[str, str],
                                    code: int) -> None:
    """A fresh auth object: one 401 on the redirecting URL, then the hop up front inside
    Apache's Digest domain (/digest/), with its own uri (Apache answers a wrong one with 400)."""
    user, password = credentials
    client = client_for(user, password)
    first = apache.redirect_path("digest", code, "hello.txt")
    r = client.get(apache.url(first))
    assert r.status == 200
    assert logged(apache, client, client.tag) == Counter({
        (401, "GET", first, None): 1, (code, "GET", first, user): 1, (200, "GET", "/digest/hello.txt", user): 1,
    })
    answered = [auth_params(v)["uri"] for v in client.sent[client.tag] if v]
    assert answered == [first, "/digest/hello.txt"]
