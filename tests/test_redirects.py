"""Redirects inside a protected site, against the embedded ChallengeServer.

Every hop of a redirect chain is its own authentication dialogue: the hop
gets credentials computed for its own request-target (Digest ``uri=``),
up front when it lies in a known protection space, else after its own 401.
The server runs with ``strict_nc=True``, so a (nonce, nc) pair sent twice
is refused; every test also reads the pairs back from the exchange log.

Here the redirecting URL is ``/redirect?to=...&status=CODE`` (its directory
is ``/``, so Basic's space covers every target) and the target ``/b/...``
echoes method, path, user and body as JSON.  Exchanges are compared as a
multiset of (method, hop, status), never by order.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from typing import List, Tuple
from urllib.parse import urlencode, urlsplit

import pytest
import requests

from requests_challenge import ChallengeAuth, parse_auth_params
from requests_challenge.testing import Basic, ChallengeServer, Digest, Exchange

USERS = {"alice": "secret", "Jäsøn": "Sëcret€"}
CODES = (301, 302, 303, 307, 308)
KEEPS_METHOD = (307, 308)
TIMEOUT = 10
TARGET = "/b/target?x=1&y=%C3%A4"

OFFERS = [Digest("MD5"), Digest("SHA-256"), Basic()]
OFFER_IDS = ["digest-md5", "digest-sha256", "basic"]

offers = pytest.mark.parametrize("offer", OFFERS, ids=OFFER_IDS)
codes = pytest.mark.parametrize("code", CODES)
users = pytest.mark.parametrize("username", ["alice", "Jäsøn"], ids=["ascii", "non-ascii"])
held = pytest.mark.parametrize("held", [False, True], ids=["fresh", "session"])


@pytest.fixture
def session():
    with requests.Session() as s:
        s.trust_env = False  # no environment proxies between us and 127.0.0.1
        yield s


def serve(offer, **options) -> ChallengeServer:
    return ChallengeServer(users=USERS, challenges=[offer], strict_nc=True, **options)


def redirect(to: str, code: int) -> str:
    """The request-target of a hop that answers ``code`` with ``Location: to``."""
    return "/redirect?" + urlencode({"to": to, "status": code})


def hop(exchange: Exchange) -> str:
    """Which hop an exchange belongs to: the redirect ("A") or the target ("B")."""
    return "A" if urlsplit(exchange.path).path == "/redirect" else "B"


def tally(server: ChallengeServer) -> "Counter[Tuple[str, str, int]]":
    return Counter((e.method, hop(e), e.status) for e in server.exchanges)


def explain(server: ChallengeServer) -> List[Tuple[str, str, int, str]]:
    """For assertion messages: what the server saw and why it refused."""
    return [(e.method, e.path, e.status, e.reason) for e in server.exchanges]


def check_digest_exchanges(server: ChallengeServer) -> None:
    """Every Digest answer names its own request-target in ``uri=``, and no
    (nonce, nc) pair went out twice (strict_nc refuses them; this says so
    even where the server refused for another reason first)."""
    pairs = []
    for e in server.exchanges:
        if e.authorization is None or not e.authorization.startswith("Digest "):
            continue
        params = parse_auth_params(e.authorization[len("Digest "):])
        assert params["uri"] == e.path, explain(server)
        pairs.append((params["nonce"], params.get("nc")))
    duplicates = [pair for pair, n in Counter(pairs).items() if n > 1]
    assert not duplicates, (duplicates, explain(server))


def hold_space(server: ChallengeServer, session: requests.Session, username: str) -> None:
    """Give ``session`` a ChallengeAuth that knows the space, then forget
    the exchanges that cost.  /warm lies in the directory /, so the space
    covers /redirect and /b/... for Basic as well as for Digest."""
    session.auth = ChallengeAuth(username, USERS[username])
    r = session.get(server.url + "/warm", timeout=TIMEOUT)
    assert r.status_code == 200, explain(server)
    assert [e.status for e in server.exchanges] == [401, 200]
    server.exchanges.clear()


def assert_final(r: requests.Response, server: ChallengeServer, offer, username: str, method: str = "GET") -> dict:
    assert r.status_code == 200, explain(server)
    assert r.url == server.url + TARGET
    echoed = r.json()
    assert echoed["target"] == TARGET
    assert echoed["method"] == method
    assert echoed["user"] == username
    assert echoed["scheme"] == ("Basic" if isinstance(offer, Basic) else "Digest")
    if isinstance(offer, Digest):
        assert echoed["algorithm"] == offer.algorithm
    check_digest_exchanges(server)
    return echoed


def location(server: ChallengeServer, form: str) -> str:
    return TARGET if form == "relative" else server.url + TARGET


# --------------------------------------------------------------------------
# GET
# --------------------------------------------------------------------------


@offers
@codes
@users
@pytest.mark.parametrize("form", ["relative", "absolute"])
def test_fresh_auth_follows_redirect_inside_the_space(session, offer, code, username, form):
    """A bare -> 401, A answered -> 30x, B with credentials for B up front -> 200."""
    with serve(offer) as server:
        a = redirect(location(server, form), code)
        r = session.get(server.url + a, auth=ChallengeAuth(username, USERS[username]), timeout=TIMEOUT)

        assert_final(r, server, offer, username)
        assert tally(server) == Counter({("GET", "A", 401): 1, ("GET", "A", code): 1, ("GET", "B", 200): 1}), \
            explain(server)


@offers
@codes
@users
def test_session_holding_the_space_sends_every_hop_up_front(session, offer, code, username):
    """A up front -> 30x, B up front (next nonce count, B's own uri) -> 200."""
    with serve(offer) as server:
        hold_space(server, session, username)
        r = session.get(server.url + redirect(TARGET, code), timeout=TIMEOUT)

        assert_final(r, server, offer, username)
        assert tally(server) == Counter({("GET", "A", code): 1, ("GET", "B", 200): 1}), explain(server)


@offers
@codes
@users
def test_fresh_auth_open_path_redirects_into_the_space(session, offer, code, username):
    """/redirect is open: 30x at once, B bare -> 401, B answered -> 200."""
    with serve(offer, open_paths=("/redirect",)) as server:
        r = session.get(
            server.url + redirect(TARGET, code), auth=ChallengeAuth(username, USERS[username]), timeout=TIMEOUT
        )

        assert_final(r, server, offer, username)
        assert tally(server) == Counter({("GET", "A", code): 1, ("GET", "B", 401): 1, ("GET", "B", 200): 1}), \
            explain(server)


@offers
@codes
def test_session_open_path_redirects_into_the_known_space(session, offer, code):
    """The session knows the space: B gets credentials up front although the
    chain started on an open path (which may or may not get some too)."""
    username = "Jäsøn"
    with serve(offer, open_paths=("/redirect",)) as server:
        hold_space(server, session, username)
        r = session.get(server.url + redirect(TARGET, code), timeout=TIMEOUT)

        assert_final(r, server, offer, username)
        assert tally(server) == Counter({("GET", "A", code): 1, ("GET", "B", 200): 1}), explain(server)


@offers
@held
def test_chain_of_two_redirects(session, offer, held):
    """A -307-> A' -302-> B: three hops, each its own target, one space."""
    username = "alice"
    with serve(offer) as server:
        a = redirect(redirect(TARGET, 302), 307)
        if held:
            hold_space(server, session, username)
        auth = None if held else ChallengeAuth(username, USERS[username])
        r = session.get(server.url + a, auth=auth, timeout=TIMEOUT)

        assert_final(r, server, offer, username)
        expected = Counter({("GET", "A", 307): 1, ("GET", "A", 302): 1, ("GET", "B", 200): 1})
        if not held:
            expected[("GET", "A", 401)] += 1
        assert tally(server) == expected, explain(server)


# --------------------------------------------------------------------------
# POST
# --------------------------------------------------------------------------


def _post(session, url: str, kind: str, body: bytes, tmp_path, auth) -> requests.Response:
    if kind == "bytes":
        return session.post(url, data=body, auth=auth, timeout=TIMEOUT)
    path = tmp_path / "upload.bin"
    path.write_bytes(body)
    with path.open("rb") as f:
        return session.post(url, data=f, auth=auth, timeout=TIMEOUT)


@offers
@codes
@held
@pytest.mark.parametrize("kind", ["bytes", "file"])
def test_post_through_a_redirect(session, offer, code, held, kind, tmp_path):
    """303, 302 and 301 turn the POST into a GET without a body; 307 and 308
    resend the POST and its whole body (also a file the earlier sends read
    to its end)."""
    username = "Jäsøn"
    body = os.urandom(64 * 1024 + 3)
    method = "POST" if code in KEEPS_METHOD else "GET"
    with serve(offer) as server:
        if held:
            hold_space(server, session, username)
        auth = None if held else ChallengeAuth(username, USERS[username])
        r = _post(session, server.url + redirect(TARGET, code), kind, body, tmp_path, auth)

        echoed = assert_final(r, server, offer, username, method)
        sent = body if method == "POST" else b""
        assert echoed["body_length"] == len(sent)
        assert echoed["body_sha256"] == hashlib.sha256(sent).hexdigest()
        expected = Counter({("POST", "A", code): 1, (method, "B", 200): 1})
        if not held:
            expected[("POST", "A", 401)] += 1
        assert tally(server) == expected, explain(server)


@offers
@pytest.mark.parametrize("code", KEEPS_METHOD)
@pytest.mark.parametrize("kind", ["bytes", "file"])
def test_post_from_an_open_path_keeps_its_body(session, offer, code, kind, tmp_path):
    """Open A -> 307/308 -> B bare -> 401 -> B answered: the third send of
    the body arrives whole."""
    username = "alice"
    body = os.urandom(48 * 1024 + 1)
    with serve(offer, open_paths=("/redirect",)) as server:
        r = _post(session, server.url + redirect(TARGET, code), kind, body, tmp_path,
                  ChallengeAuth(username, USERS[username]))

        echoed = assert_final(r, server, offer, username, "POST")
        assert echoed["body_length"] == len(body)
        assert echoed["body_sha256"] == hashlib.sha256(body).hexdigest()
        assert tally(server) == Counter({("POST", "A", code): 1, ("POST", "B", 401): 1, ("POST", "B", 200): 1}), \
            explain(server)


# --------------------------------------------------------------------------
# Digest uri= and nonce counts, spelled out
# --------------------------------------------------------------------------


@pytest.mark.parametrize("offer", OFFERS[:2], ids=OFFER_IDS[:2])
@held
def test_each_hop_digest_uri_is_its_own_request_target(session, offer, held):
    """Read every Authorization the server received: the redirect hop's
    ``uri`` is /redirect?..., the target's is /b/target?... (query and
    percent-encoding included), each exactly the request-target sent."""
    username = "Jäsøn"
    with serve(offer) as server:
        if held:
            hold_space(server, session, username)
        auth = None if held else ChallengeAuth(username, USERS[username])
        a = redirect(TARGET, 307)
        r = session.get(server.url + a, auth=auth, timeout=TIMEOUT)
        assert r.status_code == 200, explain(server)

        uris = Counter()
        for e in server.exchanges:
            if e.authorization is not None:
                uri = parse_auth_params(e.authorization[len("Digest "):])["uri"]
                assert uri == e.path, explain(server)
                uris[uri] += 1
        assert uris == Counter({a: 1, TARGET: 1}), explain(server)


@offers
def test_no_nonce_count_is_sent_twice(session, offer):
    """A session follows ten redirects (two hops each, all up front after
    the first challenge) on a server that refuses a reused nonce count:
    every one succeeds and the exchange log holds no (nonce, nc) twice."""
    username = "alice"
    with serve(offer) as server:
        session.auth = ChallengeAuth(username, USERS[username])
        results = []
        for i in range(10):
            code = CODES[i % len(CODES)]
            r = session.get(server.url + redirect(TARGET, code), timeout=TIMEOUT)
            results.append(r.status_code)

        assert results == [200] * 10, explain(server)
        assert not [e for e in server.exchanges if e.reason == "nonce count reused"], explain(server)
        check_digest_exchanges(server)
        # One challenge for the whole session, then two up-front exchanges per request.
        assert len(server.exchanges) == 1 + 10 * 2, explain(server)
        assert Counter(e.status for e in server.exchanges)[401] == 1, explain(server)
