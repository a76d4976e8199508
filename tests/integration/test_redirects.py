"""Redirects inside a protected site, against lighttpd and Apache httpd.

Every hop of a redirect chain is its own authentication dialogue: the
client computes credentials for the hop's own request-target (a Digest
``uri=`` of an earlier hop makes both servers answer 400), sends them up
front where the hop lies in a protection space it already knows, and
answers the hop's 401 where it does not.

The servers' redirecting locations (see ``redirect_path`` in servers.py)
are checked for credentials *before* they redirect:

    /LOC/rCODE/REST       protected; Location /LOC/REST (a directory up)
    /LOC/rCODE-REST       protected; Location /LOC/REST (same directory)
    /open/LOC/rCODE/REST  not protected; Location /LOC/REST

Protection spaces (README): Digest is the ``domain`` list (Apache:
``/digest/``) or the whole origin (lighttpd sends no domain); Basic is the
challenged URL's directory and below.  So a fresh client pays one 401 per
chain for Digest and for Basic in the same directory, but Basic pays a
second 401 when the target lies outside the redirecting URL's directory.

Exchanges are counted from the access logs as a multiset of
``(status, method, path)`` over the lines carrying the tag of the test's
counted step (tagging.py; requests copies the session's tag header onto
every hop, ChallengeAuth onto every retry): never by a line's position or
order in the log, never by timing.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import pytest
import requests

from requests_challenge import ChallengeAuth

from .servers import (
    REDIRECT_CODES,
    REQUEST_TIMEOUT,
    USERS,
    WRONG_PASSWORD,
    ServerProcess,
    auth_params,
    parse_echo,
)
from .tagging import logged_lines, retag

pytestmark = pytest.mark.integration

#: Redirects after which requests sends the POST again (with its body);
#: after the others it sends a GET without one.
KEEPS_METHOD = (307, 308)


@dataclass(frozen=True)
class Space:
    """A protected location with redirecting URLs in it."""

    server: str  # the session fixture that runs the server
    location: str  # first path segment
    scheme: str  # "digest" or "basic"
    algorithm: Optional[str]  # Digest algorithm the server offers
    echo: str  # the body echo, relative to the location

    @property
    def id(self) -> str:
        return f"{self.server}-{self.location}"

    def path(self, rest: str) -> str:
        return f"/{self.location}/{rest}"

    @property
    def hello(self) -> str:
        return f"hello from {self.server} /{self.location}/\n"


SPACES = [
    Space("lighttpd", "md5", "digest", "MD5", "echo.cgi"),
    Space("lighttpd", "sha256", "digest", "SHA-256", "echo.cgi"),
    Space("lighttpd", "basic", "basic", None, "echo.cgi"),
    # mod_auth_digest knows MD5 only: SHA-256 is lighttpd's alone.
    Space("apache", "digest", "digest", "MD5", "cgi/echo"),
    Space("apache", "basic", "basic", None, "cgi/echo"),
]
DIGEST_SPACES = [s for s in SPACES if s.scheme == "digest"]
BASIC_SPACES = [s for s in SPACES if s.scheme == "basic"]

Line = Tuple[int, str, str]  # status, method, path


def spaces(selection=SPACES):
    return pytest.mark.parametrize("space", selection, ids=[s.id for s in selection])


codes = pytest.mark.parametrize("code", REDIRECT_CODES)


@pytest.fixture
def server(request: pytest.FixtureRequest, space: Space) -> ServerProcess:
    """The session-scoped server of ``space`` (lighttpd or apache fixture)."""
    return request.getfixturevalue(space.server)


def logged(server: ServerProcess, tag: str, user: str) -> "Counter[Line]":
    """The exchanges logged with ``tag`` as a multiset; every authenticated
    line must name ``user`` (a line without a user is an open path or a 401)."""
    lines = logged_lines(server, tag)
    assert {line.user for line in lines} <= {None, user}, lines
    return Counter((line.status, line.method, line.target) for line in lines)


def hold_space(server: ServerProcess, session: requests.Session, space: Space, credentials) -> None:
    """Give ``session`` a ChallengeAuth that already knows ``space``."""
    session.auth = ChallengeAuth(*credentials)
    r = session.get(server.url(space.path("hello.txt")), timeout=REQUEST_TIMEOUT)
    assert r.status_code == 200, r.headers
    assert len(r.history) == 1  # the one challenge: from now on, up front


def assert_final(r: requests.Response, server: ServerProcess, space: Space, path: str, credentials) -> None:
    """200 from ``path``, reached through a redirect, with credentials the
    server accepted for that very request-target."""
    user, password = credentials
    assert r.status_code == 200, (r.status_code, r.url, r.headers)
    assert r.url == server.url(path)
    assert any(h.is_redirect for h in r.history), [h.status_code for h in r.history]
    sent = r.request.headers["Authorization"]
    if space.scheme == "digest":
        params = auth_params(sent)
        assert params["uri"] == r.request.path_url == path
        assert params.get("algorithm", "MD5").upper() == space.algorithm
    else:
        token = base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
        assert sent == f"Basic {token}"


def assert_echoed(r: requests.Response, method: str, body: bytes, user: str) -> None:
    echoed = parse_echo(r.content)
    assert echoed["method"] == method
    assert int(echoed["length"]) == len(body)
    assert echoed["sha256"] == hashlib.sha256(body).hexdigest()
    assert echoed["user"] == user


# --------------------------------------------------------------------------
# GET: protected -> protected
# --------------------------------------------------------------------------


@spaces()
@codes
@pytest.mark.parametrize("style", ["child", "sibling"])
def test_fresh_auth_follows_redirect_inside_the_space(
    server, session: requests.Session, credentials, space: Space, code: int, style: str
) -> None:
    """A fresh ChallengeAuth: A bare -> 401, A answered -> 30x, B with
    credentials computed for B -> 200.  Basic from ``/LOC/rCODE/`` to
    ``/LOC/`` leaves the challenged directory, so B pays its own 401."""
    user, password = credentials
    a = server.redirect_path(space.location, code, "hello.txt", style)
    b = space.path("hello.txt")
    tag = retag(session)

    r = session.get(server.url(a), auth=ChallengeAuth(user, password), timeout=REQUEST_TIMEOUT)

    assert_final(r, server, space, b, credentials)
    assert r.text == space.hello
    expected = Counter({(401, "GET", a): 1, (code, "GET", a): 1, (200, "GET", b): 1})
    if space.scheme == "basic" and style == "child":
        expected[(401, "GET", b)] += 1  # B is outside A's directory /LOC/rCODE/
    assert logged(server, tag, user) == expected


@spaces()
@codes
def test_session_holding_the_space_sends_every_hop_up_front(
    server, session: requests.Session, credentials, space: Space, code: int
) -> None:
    """After one successful request in /LOC/: A up front -> 30x, B up
    front -> 200; two exchanges, no 401 (and no 400 for a Digest ``uri``
    that names A)."""
    user, _ = credentials
    hold_space(server, session, space, credentials)
    a = server.redirect_path(space.location, code, "hello.txt")
    b = space.path("hello.txt")
    tag = retag(session)

    r = session.get(server.url(a), timeout=REQUEST_TIMEOUT)

    assert_final(r, server, space, b, credentials)
    assert logged(server, tag, user) == Counter({(code, "GET", a): 1, (200, "GET", b): 1})


@spaces(DIGEST_SPACES)
@pytest.mark.parametrize("code", [302, 307])
@pytest.mark.parametrize("held", [False, True], ids=["fresh", "session"])
def test_digest_uri_is_the_hops_target_with_its_query(
    server, session: requests.Session, credentials, space: Space, code: int, held: bool
) -> None:
    """The Location keeps A's query string; B's ``uri=`` must be B's whole
    request-target, query and percent-encoding included (both servers
    answer 400 to a ``uri`` that is not the request-target)."""
    user, password = credentials
    if held:
        hold_space(server, session, space, credentials)
    auth = None if held else ChallengeAuth(user, password)
    a = server.redirect_path(space.location, code, "hello.txt")
    query = {"q": "ä b/c", "x": "1"}

    r = session.get(server.url(a), params=query, auth=auth, timeout=REQUEST_TIMEOUT)

    assert r.status_code == 200, r.headers
    assert r.request.path_url.startswith(space.path("hello.txt") + "?")
    assert "q=%C3%A4" in r.request.path_url
    assert auth_params(r.request.headers["Authorization"])["uri"] == r.request.path_url


@spaces()
@pytest.mark.parametrize("held", [False, True], ids=["fresh", "session"])
def test_chain_of_two_redirects(
    server, session: requests.Session, credentials, space: Space, held: bool
) -> None:
    """/LOC/r307/r302/hello.txt -> /LOC/r302/hello.txt -> /LOC/hello.txt:
    each hop its own dialogue.  Digest (one space for all three): one 401
    for a fresh client, none for a session.  Basic: every hop leaves the
    directory challenged before it, so a fresh client pays a 401 on each
    of the three hops."""
    user, password = credentials
    if held:
        hold_space(server, session, space, credentials)
    a = space.path("r307/r302/hello.txt")
    b = space.path("r302/hello.txt")
    c = space.path("hello.txt")
    tag = retag(session)

    r = session.get(server.url(a), auth=None if held else ChallengeAuth(user, password), timeout=REQUEST_TIMEOUT)

    assert_final(r, server, space, c, credentials)
    expected = Counter({(307, "GET", a): 1, (302, "GET", b): 1, (200, "GET", c): 1})
    if not held:
        expected[(401, "GET", a)] += 1
        if space.scheme == "basic":
            expected[(401, "GET", b)] += 1
            expected[(401, "GET", c)] += 1
    assert logged(server, tag, user) == expected


@spaces(DIGEST_SPACES)
def test_repeated_redirects_in_a_session_cost_two_exchanges_each(
    server, session: requests.Session, credentials, space: Space
) -> None:
    """Five redirecting requests after the first challenge: 5 x (307, 200),
    every one up front with the next nonce count."""
    user, _ = credentials
    hold_space(server, session, space, credentials)
    a = server.redirect_path(space.location, 307, "hello.txt")
    b = space.path("hello.txt")
    tag = retag(session)

    statuses = [session.get(server.url(a), timeout=REQUEST_TIMEOUT).status_code for _ in range(5)]

    assert statuses == [200] * 5
    assert logged(server, tag, user) == Counter({(307, "GET", a): 5, (200, "GET", b): 5})


# --------------------------------------------------------------------------
# GET: open -> protected
# --------------------------------------------------------------------------


@spaces()
@codes
def test_fresh_auth_open_path_redirects_into_the_space(
    server, session: requests.Session, credentials, space: Space, code: int
) -> None:
    """A is not protected: 30x at once, B bare -> 401, B answered -> 200."""
    user, password = credentials
    a = server.redirect_path(space.location, code, "hello.txt", "open")
    b = space.path("hello.txt")
    tag = retag(session)

    r = session.get(server.url(a), auth=ChallengeAuth(user, password), timeout=REQUEST_TIMEOUT)

    assert_final(r, server, space, b, credentials)
    assert r.text == space.hello
    assert logged(server, tag, user) == Counter(
        {(code, "GET", a): 1, (401, "GET", b): 1, (200, "GET", b): 1}
    )


@spaces()
@codes
def test_session_open_path_redirects_into_the_known_space(
    server, session: requests.Session, credentials, space: Space, code: int
) -> None:
    """The session knows /LOC/: B gets credentials up front even though the
    chain started on an open path; two exchanges."""
    user, _ = credentials
    hold_space(server, session, space, credentials)
    a = server.redirect_path(space.location, code, "hello.txt", "open")
    b = space.path("hello.txt")
    tag = retag(session)

    r = session.get(server.url(a), timeout=REQUEST_TIMEOUT)

    assert_final(r, server, space, b, credentials)
    assert logged(server, tag, user) == Counter({(code, "GET", a): 1, (200, "GET", b): 1})


# --------------------------------------------------------------------------
# POST: 301/302/303 become GET, 307/308 keep the method and the body
# --------------------------------------------------------------------------


def _post(session, url: str, kind: str, body: bytes, tmp_path: Path, auth) -> requests.Response:
    if kind == "bytes":
        return session.post(url, data=body, auth=auth, timeout=REQUEST_TIMEOUT)
    path = tmp_path / "upload.bin"
    path.write_bytes(body)
    with path.open("rb") as f:
        return session.post(url, data=f, auth=auth, timeout=REQUEST_TIMEOUT)


@spaces()
@codes
@pytest.mark.parametrize("kind", ["bytes", "file"])
@pytest.mark.parametrize("held", [False, True], ids=["fresh", "session"])
def test_post_through_a_redirect(
    server, session: requests.Session, credentials, space: Space, code: int, kind: str,
    held: bool, tmp_path: Path,
) -> None:
    """POST to a redirecting URL.  303, 302 and 301 make the next hop a GET
    without a body; 307 and 308 resend the POST and its body, which must
    arrive whole at the echo (also from a file the earlier sends read to
    its end).  A fresh client pays the 401 at A (and, for Basic, at B,
    which is outside A's directory); a session none."""
    user, password = credentials
    if held:
        hold_space(server, session, space, credentials)
    body = os.urandom(96 * 1024 + 5)
    a = server.redirect_path(space.location, code, space.echo)
    b = space.path(space.echo)
    method = "POST" if code in KEEPS_METHOD else "GET"
    tag = retag(session)

    r = _post(session, server.url(a), kind, body, tmp_path, None if held else ChallengeAuth(user, password))

    assert_final(r, server, space, b, credentials)
    assert r.request.method == method
    assert_echoed(r, method, body if method == "POST" else b"", user)
    expected = Counter({(code, "POST", a): 1, (200, method, b): 1})
    if not held:
        expected[(401, "POST", a)] += 1
        if space.scheme == "basic":
            expected[(401, method, b)] += 1  # /LOC/echo is outside /LOC/rCODE/
    assert logged(server, tag, user) == expected


@spaces()
@pytest.mark.parametrize("code", KEEPS_METHOD)
@pytest.mark.parametrize("kind", ["bytes", "file"])
def test_post_from_an_open_path_keeps_its_body(
    server, session: requests.Session, credentials, space: Space, code: int, kind: str, tmp_path: Path
) -> None:
    """Open A -> 307/308 -> B bare -> 401 -> B answered: the body goes out
    three times and must arrive whole the third time."""
    user, password = credentials
    body = os.urandom(64 * 1024 + 1)
    a = server.redirect_path(space.location, code, space.echo, "open")
    b = space.path(space.echo)
    tag = retag(session)

    r = _post(session, server.url(a), kind, body, tmp_path, ChallengeAuth(user, password))

    assert_final(r, server, space, b, credentials)
    assert_echoed(r, "POST", body, user)
    assert logged(server, tag, user) == Counter(
        {(code, "POST", a): 1, (401, "POST", b): 1, (200, "POST", b): 1}
    )


# --------------------------------------------------------------------------
# Refused credentials never reach the redirect
# --------------------------------------------------------------------------


@spaces()
def test_wrong_password_is_refused_before_the_redirect(
    server, session: requests.Session, space: Space
) -> None:
    """The redirecting URL is protected: with a wrong password the answer
    is the 401 after two exchanges, and the target is never asked."""
    user, _ = USERS["ascii"]
    a = server.redirect_path(space.location, 307, "hello.txt")
    tag = retag(session)

    r = session.get(server.url(a), auth=ChallengeAuth(user, WRONG_PASSWORD), timeout=REQUEST_TIMEOUT)

    assert r.status_code == 401
    assert logged(server, tag, user) == Counter({(401, "GET", a): 2})
