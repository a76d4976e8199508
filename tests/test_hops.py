"""Regression tests for the request flow across hops: redirects, retries, proxies.

Each test names the audit item it guards and the rule it checks. Only the public
API is used: names exported by ``requests_challenge`` and ``requests_challenge.testing``.
`responses` stands in for the network except where a real server is needed
(item 6), which runs on 127.0.0.1 and is stopped by its ``with`` block.
"""

import base64
import hashlib

import pytest
import requests
import responses

from requests_challenge import ChallengeAuth, MutualAuthenticationError, parse_challenges
from requests_challenge.testing import ChallengeServer, Digest

TIMEOUT = 5
USER, PASSWORD = "alice", "secret"
PROXY_USER, PROXY_PASSWORD = "puser", "ppass"
BASIC_OK = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def params_of(header):
    """Credentials read back with the challenge grammar (RFC 9110 §11: they share it)."""
    (parsed,) = parse_challenges(header)
    return parsed.params


def new_session(auth):
    session = requests.Session()
    session.trust_env = False  # no proxy, no_proxy or .netrc from the environment
    session.auth = auth
    return session


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


# -- item 2: two hops must not carry credentials to another origin ---------------------------

HOST_CHALLENGES = {
    "basic": 'Basic realm="r"',
    "digest": 'Digest realm="r", nonce="host-nonce", qop="auth", algorithm=SHA-256',
}


@pytest.mark.parametrize("how", ["answered-basic", "answered-digest", "preemptive_basic"])
def test_two_hops_do_not_carry_credentials_to_another_origin(mock, how):
    """Item 2. Credentials go only to the origin they were given for: after
    http://host/a -> 302 http://host/b -> 302 https://host/c, with credentials sent
    up front on http://host, /b (same origin) gets them and https://host/c (another
    origin: http and https on one host differ) gets no Authorization at all."""
    scheme = "digest" if how == "answered-digest" else "basic"
    seen = []  # (url, Authorization)

    def guarded(then_status, then_headers):
        def handler(request):
            auth = request.headers.get("Authorization")
            seen.append((request.url, auth))
            if auth is None or (scheme == "basic" and auth != BASIC_OK):
                return 401, [("WWW-Authenticate", HOST_CHALLENGES[scheme])], ""
            return then_status, then_headers, "ok"

        return handler

    def other_origin(request):
        seen.append((request.url, request.headers.get("Authorization")))
        return 200, [], "landed"

    mock.add_callback(responses.GET, "http://host/login", callback=guarded(200, []))
    mock.add_callback(responses.GET, "http://host/a", callback=guarded(302, [("Location", "http://host/b")]))
    mock.add_callback(responses.GET, "http://host/b", callback=guarded(302, [("Location", "https://host/c")]))
    mock.add_callback(responses.GET, "https://host/c", callback=other_origin)

    if how == "preemptive_basic":
        session = new_session(ChallengeAuth(USER, PASSWORD, preemptive_basic=True))
    else:
        session = new_session(ChallengeAuth(USER, PASSWORD))
        warm = session.get("http://host/login", timeout=TIMEOUT)  # the space for http://host is now known
        assert warm.status_code == 200 and len(warm.history) == 1
    seen.clear()

    r = session.get("http://host/a", timeout=TIMEOUT)

    assert r.url == "https://host/c"
    assert seen[0][0] == "http://host/a" and seen[0][1] is not None, "no credentials up front on /a"
    assert any(url == "http://host/b" and auth is not None for url, auth in seen), "same origin /b got no credentials"
    leaked = [auth for url, auth in seen if url == "https://host/c"]
    assert leaked == [None], f"https://host/c (another origin) received Authorization: {leaked}"
    assert r.status_code == 200


# -- item 3: another origin's Authentication-Info is not ours ----------------------------------

A = "http://a.example"
A_CHALLENGE = 'Digest realm="a", nonce="nonce-of-A", qop="auth", algorithm=MD5'


def origin_a(mock, seen, redirect_to):
    """Origin A: Digest, accepts any credentials, /go redirects to ``redirect_to``; no
    Authentication-Info of its own, so nothing A says can change A's nonce."""

    def handler(request):
        auth = request.headers.get("Authorization")
        seen.append((request.path_url, auth))
        if auth is None:
            return 401, [("WWW-Authenticate", A_CHALLENGE)], ""
        if request.path_url == "/go":
            return 302, [("Location", redirect_to)], ""
        return 200, [], "ok"

    mock.add_callback(responses.GET, A + "/start", callback=handler)
    mock.add_callback(responses.GET, A + "/go", callback=handler)


OTHER_ORIGINS = ["http://b.example/land", "http://a.example:8080/land", "https://a.example/land"]


@pytest.mark.parametrize("other", OTHER_ORIGINS, ids=["other-host", "other-port", "other-scheme"])
@pytest.mark.parametrize(
    "info",
    ['rspauth="wrong", nextnonce="bogus"', 'nextnonce="bogus"'],
    ids=["rspauth+nextnonce", "nextnonce-only"],
)
def test_another_origins_authentication_info_is_not_applied_to_ours(mock, other, info):
    """Item 3. Authentication-Info is about the credentials the replying origin
    received: after A -> 302 -> B (another origin), B's
    ``Authentication-Info: rspauth="wrong", nextnonce="bogus"`` neither raises
    MutualAuthenticationError nor changes A's nonce: the next request to A carries
    A's nonce with the next nc."""
    seen = []
    origin_a(mock, seen, other)
    mock.add(responses.GET, other, status=200, body="landed", headers={"Authentication-Info": info})
    session = new_session(ChallengeAuth(USER, PASSWORD))
    assert session.get(A + "/start", timeout=TIMEOUT).status_code == 200  # A's space: nonce-of-A, nc=1

    try:
        r = session.get(A + "/go", timeout=TIMEOUT)
    except MutualAuthenticationError as exc:
        pytest.fail(f"B's rspauth was checked against A's credentials: {exc!r}")
    assert r.status_code == 200 and r.url == other

    last_nc = max(int(params_of(auth)["nc"], 16) for _, auth in seen if auth is not None)
    r = session.get(A + "/start", timeout=TIMEOUT)
    assert r.status_code == 200 and not r.history
    params = params_of(seen[-1][1])
    assert (params["nonce"], params["nc"]) == ("nonce-of-A", f"{last_nc + 1:08x}"), "B's nextnonce replaced A's nonce"


# -- item 4: no proxy credentials for an origin reached through SOCKS ---------------------------

ORIGIN_407 = [("Proxy-Authenticate", 'Digest realm="fake", nonce="n", qop="auth"'), ("Proxy-Authenticate", 'Basic realm="fake"')]


@pytest.mark.parametrize(
    "proxy",
    ["socks5://127.0.0.1:1080", "socks5h://127.0.0.1:1080", "socks4://127.0.0.1:1080", "socks4a://127.0.0.1:1080"],
)
def test_407_from_an_origin_behind_a_socks_proxy_is_not_answered(mock, proxy):
    """Item 4. Proxy-Authorization answers a 407 only from an HTTP proxy the
    request went through. A SOCKS proxy never speaks HTTP, so a 407 on a plain-HTTP
    URL reached through one came from the origin: it gets no proxy credentials and
    is returned to the caller. (`responses` replaces HTTPAdapter.send, so the SOCKS
    URL is never dialled and PySocks is not needed.)"""
    seen = []

    def handler(request):
        seen.append(request.headers.get("Proxy-Authorization"))
        return 407, ORIGIN_407, "origin pretending to be a proxy"

    mock.add_callback(responses.GET, "http://example.com/x", callback=handler)
    session = new_session(ChallengeAuth(USER, PASSWORD, proxy_auth=(PROXY_USER, PROXY_PASSWORD)))
    r = session.get("http://example.com/x", proxies={"http": proxy}, timeout=TIMEOUT)
    assert seen == [None], f"proxy credentials sent to the origin behind {proxy}: {seen}"
    assert r.status_code == 407 and not r.history


def test_407_through_an_http_proxy_is_answered(mock):
    """Item 4, control. Through an HTTP proxy the same 407 is the proxy's and is
    answered with Proxy-Authorization."""
    seen = []

    def handler(request):
        seen.append(request.headers.get("Proxy-Authorization"))
        if request.headers.get("Proxy-Authorization"):
            return 200, [], "ok"
        return 407, ORIGIN_407, ""

    mock.add_callback(responses.GET, "http://example.com/x", callback=handler)
    session = new_session(ChallengeAuth(USER, PASSWORD, proxy_auth=(PROXY_USER, PROXY_PASSWORD)))
    r = session.get("http://example.com/x", proxies={"http": "http://proxy:3128"}, timeout=TIMEOUT)
    assert r.status_code == 200 and [h.status_code for h in r.history] == [407]
    assert seen[0] is None and params_of(seen[1])["username"] == PROXY_USER


# -- item 5: a proxy never gets the same (nonce, nc) twice --------------------------------------

PROXY_REALM, PROXY_NONCE = "proxy", "proxy-nonce-1"
PROXY_CHALLENGE = f'Digest realm="{PROXY_REALM}", nonce="{PROXY_NONCE}", qop="auth", algorithm=MD5'
ORIGIN_CHALLENGE = 'Digest realm="origin", nonce="origin-nonce", qop="auth", algorithm=SHA-256'


def md5(text):
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def proxy_response(params, method):
    """RFC 7616 §3.4.1 MD5, qop=auth, computed here with hashlib."""
    ha1 = md5(f"{PROXY_USER}:{PROXY_REALM}:{PROXY_PASSWORD}")
    ha2 = md5(f"{method}:{params['uri']}")
    return md5(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:{params['qop']}:{ha2}")


def test_proxy_credentials_are_recomputed_after_the_origin_challenge(mock):
    """Item 5. Each Proxy-Authorization is computed for the request it rides on:
    407 (proxy Digest) -> retry with Proxy-Authorization nc=1 -> 401 (origin Digest)
    -> the next retry carries a fresh Proxy-Authorization, same proxy nonce,
    nc=00000002, with a valid response; no (nonce, nc) pair reaches the proxy twice."""
    url = "http://example.com/x"
    received = []  # (Proxy-Authorization, Authorization)
    used = set()

    def proxy_then_origin(request):
        proxy_auth = request.headers.get("Proxy-Authorization")
        received.append((proxy_auth, request.headers.get("Authorization")))
        if proxy_auth is None:
            return 407, [("Proxy-Authenticate", PROXY_CHALLENGE)], ""
        p = params_of(proxy_auth)
        pair = (p.get("nonce"), p.get("nc"))
        if p.get("response") != proxy_response(p, request.method) or pair in used:
            return 407, [("Proxy-Authenticate", PROXY_CHALLENGE)], ""  # a proxy refuses a replay
        used.add(pair)
        if request.headers.get("Authorization") is None:
            return 401, [("WWW-Authenticate", ORIGIN_CHALLENGE)], ""
        return 200, [], "ok"

    mock.add_callback(responses.GET, url, callback=proxy_then_origin)
    session = new_session(ChallengeAuth(USER, PASSWORD, proxy_auth=(PROXY_USER, PROXY_PASSWORD)))
    r = session.get(url, proxies={"http": "http://proxy.test:3128"}, timeout=TIMEOUT)

    sent = [params_of(proxy_auth) for proxy_auth, _ in received if proxy_auth is not None]
    pairs = [(p["nonce"], p["nc"]) for p in sent]
    assert len(pairs) == len(set(pairs)), f"a (nonce, nc) pair went to the proxy twice: {pairs}"
    assert len(received) == 3 and received[0] == (None, None)
    third = params_of(received[2][0])
    assert (third["nonce"], third["nc"]) == (PROXY_NONCE, "00000002")
    assert third["uri"] == url  # the request-target a proxy receives: absolute-form
    assert third["username"] == PROXY_USER and third["realm"] == PROXY_REALM
    assert third["response"] == proxy_response(third, "GET")
    assert received[2][1] is not None and params_of(received[2][1])["realm"] == "origin"
    assert r.status_code == 200 and [h.status_code for h in r.history] == [407, 401]


# -- item 6: a PreparedRequest sent twice ---------------------------------------------------------


def digest_pairs(server):
    pairs = []
    for exchange in server.exchanges:
        if exchange.authorization and exchange.authorization.lower().startswith("digest "):
            p = params_of(exchange.authorization)
            pairs.append((p["nonce"], p["nc"]))
    return pairs


@pytest.mark.parametrize("space_known", [False, True], ids=["fresh-auth", "space-known-when-prepared"])
def test_a_prepared_request_can_be_sent_twice(space_known):
    """Item 6. Sending one PreparedRequest twice (``s.send(p); s.send(p)``) gives
    two authenticated answers, whether the session knew the protection space when
    ``p`` was prepared or not: each send is its own dialogue. The server checks
    nonce counts strictly. Up-front credentials are computed when ``p`` is
    prepared (requests has no hook before a send), so the second send repeats
    them once; the server refuses that pair, and the challenge is answered."""
    with ChallengeServer(users={USER: PASSWORD}, challenges=[Digest("SHA-256")], strict_nc=True) as server:
        session = new_session(ChallengeAuth(USER, PASSWORD))
        if space_known:
            assert session.get(server.url + "/warm", timeout=TIMEOUT).status_code == 200
        prepared = session.prepare_request(requests.Request("GET", server.url + "/twice"))
        up_front = prepared.headers.get("Authorization")
        first = session.send(prepared, timeout=TIMEOUT)
        second = session.send(prepared, timeout=TIMEOUT)
        session.close()
        exchanges = server.exchanges.snapshot()
        pairs = digest_pairs(server)
    assert (first.status_code, second.status_code) == (200, 200), [(e.path, e.status, e.reason) for e in exchanges]
    repeated = [pair for pair in set(pairs) if pairs.count(pair) > 1]
    if space_known:
        assert up_front is not None
        assert [e.reason for e in exchanges if e.authorization and e.reason] == ["nonce count reused"]
        assert len(repeated) == 1 and f'nc={repeated[0][1]}' in up_front
    else:
        assert up_front is None and not repeated
    assert second.json()["user"] == USER
