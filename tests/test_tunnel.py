"""ChallengeAdapter: the proxy's 407 to CONNECT, against `ChallengeProxy` on 127.0.0.1.

Everything goes through the public API: requests with a `ChallengeAdapter`
mounted, a `ChallengeProxy` (requests_challenge.testing) that judges
Proxy-Authorization with the server-side `Verifier`, and an https origin whose
certificate is made here and verified by the client (no ``verify=False``). The
proxy logs every CONNECT (``path`` is the authority, ``authorization`` the
Proxy-Authorization received); the tests count those, never log-line order
across connections made at the same time. The unit checks of _tunnel.py's
private parts live in test_tunnel_internals.py.

``.ci/urllib3-matrix.sh`` runs this module under urllib3 1.26 and the newest 2.x.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import http.client
import itertools
import pickle
import socket
import threading
from types import SimpleNamespace
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Union

import pytest
import requests
import urllib3
from requests.exceptions import ProxyError
from urllib3.connection import HTTPSConnection as Urllib3HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import ProxyManager
from urllib3.util.retry import Retry

from requests_challenge import ChallengeAdapter, ChallengeAuth, ProxyAuthenticationError, parse_challenges
from requests_challenge.testing import (
    Basic,
    ChallengeProxy,
    ChallengeServer,
    Digest,
    Exchange,
    Raw,
    SelfSignedCertificate,
    Verifier,
    self_signed_certificate,
)

HOST = "127.0.0.1"
PROXY_USER, PROXY_PASSWORD = "puser", "ppass"
TIMEOUT = 10.0


# -- certificates and the origins -----------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCertificate:
    try:
        return self_signed_certificate(tmp_path_factory.mktemp("tls"))
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


class RecordingApp:
    """A WSGI application that answers 200 and records every request's header fields."""

    body = b"hello through the tunnel"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: List[Dict[str, str]] = []

    def __call__(self, environ: Dict[str, object], start_response: Callable[..., object]) -> List[bytes]:
        fields = {key[5:].replace("_", "-").lower(): str(value) for key, value in environ.items()
                  if key.startswith("HTTP_")}
        with self.lock:
            self.requests.append(fields)
        headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(self.body)))]
        if fields.get("connection", "").lower() == "close":
            headers.append(("Connection", "close"))  # RFC 9112 §9.6: say so, then close (the server does)
        start_response("200 OK", headers)
        return [self.body]

    def seen(self) -> List[Dict[str, str]]:
        with self.lock:
            return list(self.requests)

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()


class Origin(NamedTuple):
    """An https origin: its port, a page on it, and what reached it."""

    port: int
    page: str
    app: RecordingApp


@pytest.fixture(scope="module")
def origin(certificate: SelfSignedCertificate) -> Iterator[Origin]:
    """An https origin that needs no credentials and records what reaches it."""
    app = RecordingApp()
    with ChallengeServer(app=app, protected=(), tls=certificate) as server:
        yield Origin(server.port, server.url + "/", app)


# -- the proxy ---------------------------------------------------------------------------


@pytest.fixture
def make_proxy() -> Iterator[Callable[..., ChallengeProxy]]:
    """Start a ChallengeProxy (default: PROXY_USER, Digest MD5); all are stopped at the end."""
    proxies: List[ChallengeProxy] = []

    def make(*challenges: Union[Basic, Digest, Raw], users: Optional[Dict[str, str]] = None,
             **options: object) -> ChallengeProxy:
        proxy = ChallengeProxy(
            {PROXY_USER: PROXY_PASSWORD} if users is None else users,
            list(challenges) or [Digest("MD5")],
            **options,  # type: ignore[arg-type]
        )
        proxies.append(proxy)
        return proxy.start()

    yield make
    for proxy in proxies:
        proxy.stop()


def connects(proxy: ChallengeProxy) -> List[Exchange]:
    return [e for e in proxy.exchanges if e.method == "CONNECT"]


def statuses(proxy: ChallengeProxy) -> List[int]:
    return [e.status for e in connects(proxy)]


def params(exchange: Exchange) -> Dict[str, str]:
    """The Digest fields of the Proxy-Authorization a CONNECT carried (same grammar as challenges)."""
    assert exchange.authorization is not None
    (credentials,) = parse_challenges(exchange.authorization)
    return credentials.params


def session_for(
    proxy: object, certificate: SelfSignedCertificate, adapter: Optional[ChallengeAdapter] = None,
    **adapter_kwargs: object,
) -> requests.Session:
    """A session whose https requests tunnel through ``proxy`` (a ChallengeProxy or a URL)."""
    session = requests.Session()
    session.trust_env = False
    if adapter is None:
        adapter_kwargs.setdefault("proxy_auth", (PROXY_USER, PROXY_PASSWORD))
        adapter = ChallengeAdapter(**adapter_kwargs)  # type: ignore[arg-type]
    session.mount("https://", adapter)
    session.proxies = {"https": proxy if isinstance(proxy, str) else proxy.url}  # type: ignore[attr-defined]
    session.verify = certificate.cafile
    return session


def new_tunnel(session: requests.Session) -> None:
    """Make the next request open a new tunnel (the adapter keeps what it learned)."""
    session.close()


# -- the credentials a CONNECT carries --------------------------------------------------


@pytest.mark.parametrize("algorithm,hash_name", [("MD5", "md5"), ("SHA-256", "sha256")])
def test_digest_credentials_for_connect_use_the_authority_as_uri(
    make_proxy, certificate, origin, algorithm: str, hash_name: str  # type: ignore[no-untyped-def]
) -> None:
    """Recomputed here with hashlib from what the header carries (whatever way its cnonce
    was drawn), and accepted by the proxy's own Verifier: the uri is the CONNECT target,
    host:port (RFC 9110 §9.3.6, RFC 7616 §3.4.6), A2 is "CONNECT:" uri, the name and
    password are hashed as UTF-8 (§4), and the third tunnel carries nc=00000003."""
    proxy = make_proxy(Digest(algorithm, realm="proxy"), users={"Jäsøn": "Sëcret€"}, make_nonce=lambda: "abc123")
    with session_for(proxy, certificate, proxy_auth=("Jäsøn", "Sëcret€")) as s:
        for _ in range(3):
            assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
            new_tunnel(s)
    assert statuses(proxy) == [407, 200, 200, 200]
    third = connects(proxy)[3]
    p = params(third)
    assert p["uri"] == third.path == f"{HOST}:{origin.port}"
    assert p["nonce"] == "abc123" and p["nc"] == "00000003" and p["qop"] == "auth" and p["cnonce"]

    def h(data: bytes) -> str:
        return hashlib.new(hash_name, data).hexdigest()

    ha1 = h("Jäsøn:proxy:Sëcret€".encode("utf-8"))
    ha2 = h(f"CONNECT:{HOST}:{origin.port}".encode())
    assert p["response"] == h(f"{ha1}:abc123:00000003:{p['cnonce']}:auth:{ha2}".encode())
    # The user name goes out as its UTF-8 octets (RFC 2617 proxies such as squid compare those).
    assert p["username"].encode("latin-1").decode("utf-8") == "Jäsøn"


def test_basic_credentials_for_connect(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(Basic(realm="proxy"), users={"Jäsøn": "Sëcret€"})
    with session_for(proxy, certificate, proxy_auth=("Jäsøn", "Sëcret€")) as s:
        assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
    assert statuses(proxy) == [407, 200]
    assert connects(proxy)[1].authorization == "Basic " + base64.b64encode("Jäsøn:Sëcret€".encode("utf-8")).decode()


@pytest.mark.parametrize(
    "url,authority",
    [
        ("https://[::1]:8443/", "[::1]:8443"),  # an IPv6 literal in brackets
        ("https://bücher.example/", "xn--bcher-kva.example:443"),  # IDNA, the default port
    ],
)
def test_connect_names_the_authority(make_proxy, certificate, url: str, authority: str) -> None:  # type: ignore[no-untyped-def]
    """RFC 9112 §3.2.3's authority-form, and the same text as Digest's uri. The proxy tunnels
    to neither (no origin there; not loopback): the tunnel fails, but not its credentials."""
    proxy = make_proxy()
    with session_for(proxy, certificate) as s:
        with pytest.raises(ProxyError) as info:
            s.get(url, timeout=TIMEOUT)
    assert not isinstance(info.value, ProxyAuthenticationError)
    first, second = connects(proxy)
    assert first.path == second.path == authority and first.status == 407
    assert params(second)["uri"] == authority and second.status in (403, 502)


# -- the CONNECT dialogue through requests ---------------------------------------------------


def test_digest_407_then_200(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy()
    with session_for(proxy, certificate) as s:
        r = s.get(origin.page, timeout=TIMEOUT)
    assert r.status_code == 200 and r.text == "hello through the tunnel"
    assert statuses(proxy) == [407, 200]
    first, second = connects(proxy)
    assert first.authorization is None and first.reason == "no credentials"
    assert second.authorization is not None and second.authorization.startswith("Digest ")
    assert params(second)["uri"] == f"{HOST}:{origin.port}" == second.path
    assert params(second)["nc"] == "00000001" and second.user == PROXY_USER
    assert proxy.connections == 1  # the 407 (with a body) kept the connection open, and it was reused


def test_basic_proxy(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(Basic())
    with session_for(proxy, certificate) as s:
        assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
    assert statuses(proxy) == [407, 200]
    assert connects(proxy)[1].authorization == "Basic " + base64.b64encode(b"puser:ppass").decode()


def test_digest_is_preferred_to_basic_whatever_the_order(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(Basic(), Digest("SHA-256"))
    with session_for(proxy, certificate) as s:
        assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
    second = connects(proxy)[1]
    assert second.authorization is not None and second.authorization.startswith("Digest ")
    assert params(second)["algorithm"] == "SHA-256"


@pytest.mark.parametrize("offer,scheme", [(Digest("MD5"), "Digest MD5"), (Basic(), "Basic")], ids=["digest", "basic"])
def test_wrong_password_fails_after_exactly_two_connects(make_proxy, certificate, origin, offer, scheme) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(offer)
    origin.app.clear()
    with session_for(proxy, certificate, proxy_auth=(PROXY_USER, "wrong-secret-value")) as s:
        with pytest.raises(ProxyError) as info:
            s.get(origin.page, timeout=TIMEOUT)
    assert isinstance(info.value, ProxyAuthenticationError)
    message = str(info.value)
    assert "authentication failed" in message and scheme in message
    assert "wrong-secret-value" not in message and PROXY_PASSWORD not in message
    assert statuses(proxy) == [407, 407]
    assert connects(proxy)[0].authorization is None and connects(proxy)[1].authorization is not None
    assert connects(proxy)[1].reason == ("wrong password" if scheme == "Basic" else "wrong response")
    assert origin.app.seen() == []  # nothing reached the origin


RETRY_POLICIES = [
    pytest.param(lambda: 3, id="max_retries=3"),
    pytest.param(lambda: Retry(connect=3), id="Retry(connect=3)"),
    pytest.param(lambda: Retry(total=None, connect=2), id="Retry(total=None,connect=2)"),
]


@pytest.mark.parametrize("offer", [Digest("MD5"), Basic()], ids=["digest", "basic"])
@pytest.mark.parametrize("retries", RETRY_POLICIES)
def test_refused_credentials_are_not_resent_by_urllib3_retries(make_proxy, certificate, origin, offer, retries) -> None:  # type: ignore[no-untyped-def]
    """Audit item 7: whatever the retry policy, a proxy that refused our credentials
    never gets them again for that request (account lockout): bare CONNECT, 407,
    CONNECT with credentials, 407, ProxyAuthenticationError. Before, urllib3 retried
    the whole dialogue: 4, 11, then 976 CONNECTs ending in RecursionError."""
    proxy = make_proxy(offer)
    adapter = ChallengeAdapter(proxy_auth=(PROXY_USER, "wrong-secret-value"), max_retries=retries())
    with session_for(proxy, certificate, adapter) as s:
        with pytest.raises(ProxyAuthenticationError) as info:
            s.get(origin.page, timeout=TIMEOUT)
    assert statuses(proxy) == [407, 407]
    assert [c.authorization is not None for c in connects(proxy)] == [False, True]
    assert "wrong-secret-value" not in str(info.value)


@pytest.mark.parametrize("retries", RETRY_POLICIES)
def test_the_right_password_opens_the_tunnel_under_any_retry_policy(make_proxy, certificate, origin, retries) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy()
    adapter = ChallengeAdapter(proxy_auth=(PROXY_USER, PROXY_PASSWORD), max_retries=retries())
    with session_for(proxy, certificate, adapter) as s:
        assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
    assert statuses(proxy) == [407, 200]


def test_second_tunnel_sends_credentials_up_front_with_the_next_nc(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(strict_nc=True)
    with session_for(proxy, certificate) as s:
        for _ in range(3):
            assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
            new_tunnel(s)
    assert statuses(proxy) == [407, 200, 200, 200]
    sent = [params(c) for c in connects(proxy)[1:]]
    assert len({p["nonce"] for p in sent}) == 1
    assert [p["nc"] for p in sent] == ["00000001", "00000002", "00000003"]


def test_requests_in_one_tunnel_need_one_connect(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy()
    with session_for(proxy, certificate) as s:
        for _ in range(5):
            assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
    assert statuses(proxy) == [407, 200]


def test_basic_is_sent_up_front_on_later_tunnels(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(Basic())
    with session_for(proxy, certificate) as s:
        s.get(origin.page, timeout=TIMEOUT)
        new_tunnel(s)
        s.get(origin.page, timeout=TIMEOUT)
    assert statuses(proxy) == [407, 200, 200]


def test_stale_nonce_sent_up_front_is_answered_once(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy()
    with session_for(proxy, certificate) as s:
        assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
        proxy.expire_nonces()  # the nonce the adapter remembers is now stale (RFC 7616 §3.3)
        new_tunnel(s)
        assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
    assert statuses(proxy) == [407, 200, 407, 200]
    stale, fresh = connects(proxy)[2:]
    assert stale.reason == "stale nonce"
    assert params(fresh)["nonce"] != params(stale)["nonce"] and params(fresh)["nc"] == "00000001"


def test_stale_answer_is_retried_once_then_fails(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    """A proxy whose every nonce is stale by the time it is answered (a clock that jumps
    a second per reading; nonces live half of one): answered twice, then given up."""
    ticks = itertools.count()
    proxy = make_proxy(nonce_lifetime=0.5, clock=lambda: float(next(ticks)))
    with session_for(proxy, certificate) as s:
        with pytest.raises(ProxyAuthenticationError, match="authentication failed"):
            s.get(origin.page, timeout=TIMEOUT)
    # One bare CONNECT, then at most two with credentials.
    assert statuses(proxy) == [407, 407, 407]
    assert [c.authorization is not None for c in connects(proxy)] == [False, True, True]
    assert [c.reason for c in connects(proxy)[1:]] == ["stale nonce", "stale nonce"]


def test_rotated_nonce_without_stale_is_answered_once(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy()
    with session_for(proxy, certificate) as s:
        assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
        # A restarted proxy on the same address: the remembered nonce is unknown there, stale=false.
        proxy.stop()
        restarted = make_proxy(port=proxy.port)
        new_tunnel(s)
        assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
        new_tunnel(s)
        assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
    assert statuses(proxy) == [407, 200]
    assert statuses(restarted) == [407, 200, 200]
    assert connects(restarted)[0].reason == "unknown nonce"


def test_refused_credentials_sent_up_front_then_refused_again_fail(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy()
    adapter = ChallengeAdapter(proxy_auth=(PROXY_USER, PROXY_PASSWORD))
    with session_for(proxy, certificate, adapter) as s:
        assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
        proxy.users[PROXY_USER] = "changed-on-the-proxy"
        new_tunnel(s)
        with pytest.raises(ProxyAuthenticationError):
            s.get(origin.page, timeout=TIMEOUT)
        assert statuses(proxy) == [407, 200, 407, 407]
        # The refused space is forgotten: the next tunnel starts with a bare CONNECT.
        proxy.users[PROXY_USER] = PROXY_PASSWORD
        new_tunnel(s)
        assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
    assert statuses(proxy) == [407, 200, 407, 407, 407, 200]
    assert connects(proxy)[4].authorization is None


@pytest.mark.parametrize("on_407", ["close", "drop", "http/1.0"])
def test_proxy_that_closes_the_connection_after_407(make_proxy, certificate, origin, on_407) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(on_407=on_407)
    with session_for(proxy, certificate) as s:
        r = s.get(origin.page, timeout=TIMEOUT)
    assert r.status_code == 200
    assert statuses(proxy) == [407, 200]
    assert proxy.connections == 2  # the answer went on a new connection
    if on_407 == "drop":
        # The CONNECT that went into the closed socket was resent with the next nc.
        assert params(connects(proxy)[1])["nc"] == "00000002"


def test_proxy_that_closes_after_every_407_still_gets_only_two_credentials(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(on_407="close")
    with session_for(proxy, certificate, proxy_auth=(PROXY_USER, "wrong")) as s:
        with pytest.raises(ProxyAuthenticationError):
            s.get(origin.page, timeout=TIMEOUT)
    assert statuses(proxy) == [407, 407] and proxy.connections == 2


def test_tls_proxy_reconnect(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    """An https:// proxy (TLS to the proxy, TLS-in-TLS to the origin) that closes after its 407."""
    proxy = make_proxy(on_407="close", tls=certificate)
    assert proxy.url.startswith("https://")
    with session_for(proxy, certificate) as s:
        assert s.get(origin.page, timeout=TIMEOUT).text == "hello through the tunnel"
    assert statuses(proxy) == [407, 200] and proxy.connections == 2


def test_other_refusals_stay_plain_proxy_errors(make_proxy, certificate) -> None:  # type: ignore[no-untyped-def]
    """The proxy refuses tunnels to anything but loopback with 403, after the credentials."""
    proxy = make_proxy()
    with session_for(proxy, certificate) as s:
        with pytest.raises(ProxyError) as info:
            s.get("https://origin.invalid/", timeout=TIMEOUT)
    assert not isinstance(info.value, ProxyAuthenticationError)
    assert "Tunnel connection failed: 403" in str(info.value)
    assert statuses(proxy) == [407, 403]


def test_schemes_restriction_never_sends_basic(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(Basic())
    with session_for(proxy, certificate, schemes=("digest",)) as s:
        with pytest.raises(ProxyAuthenticationError) as info:
            s.get(origin.page, timeout=TIMEOUT)
    assert "Basic" in str(info.value) and "authentication failed" in str(info.value)
    assert statuses(proxy) == [407]


def test_basic_user_name_with_colon_is_not_sent(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(Basic())
    with session_for(proxy, certificate, proxy_auth=("dom:user", "pw")) as s:
        with pytest.raises(ProxyAuthenticationError, match="':'"):
            s.get(origin.page, timeout=TIMEOUT)
    assert statuses(proxy) == [407]


def test_without_proxy_auth_it_is_a_plain_adapter(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy()
    adapter = ChallengeAdapter()
    assert "proxy_auth" not in repr(adapter)
    with session_for(proxy, certificate, adapter) as s:
        with pytest.raises(ProxyError, match="Tunnel connection failed: 407"):
            s.get(origin.page, timeout=TIMEOUT)
    assert statuses(proxy) == [407]


def test_nextnonce_is_followed(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    """The 200 to CONNECT carries Proxy-Authentication-Info: nextnonce, and an rspauth the
    adapter checks (A2 = ":" host:port, RFC 7616 §3.5)."""
    proxy = make_proxy(nextnonce=True)
    with session_for(proxy, certificate) as s:
        assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
        new_tunnel(s)
        assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
    assert statuses(proxy) == [407, 200, 200]
    second, third = connects(proxy)[1:]
    assert params(third)["nonce"] != params(second)["nonce"] and params(third)["nc"] == "00000001"


# -- what reaches the origin ----------------------------------------------------------------


def test_proxy_credentials_never_reach_the_origin(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(Basic())
    origin.app.clear()
    with session_for(proxy, certificate) as s:
        # Credentials in the proxy URL too: requests would send them as Basic up front.
        s.proxies = {"https": f"http://urluser:urlpass@{HOST}:{proxy.port}"}
        assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
    assert connects(proxy)[0].authorization is None  # ours decide: nothing before the challenge
    assert connects(proxy)[1].authorization == "Basic " + base64.b64encode(b"puser:ppass").decode()
    seen = origin.app.seen()
    assert seen and all("proxy-authorization" not in fields and "authorization" not in fields for fields in seen)


def test_origin_401_is_answered_by_challenge_auth_inside_the_tunnel(make_proxy, certificate) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy()
    with ChallengeServer(users={"alice": "secret"}, challenges=[Digest("SHA-256")], tls=certificate) as server:
        with session_for(proxy, certificate) as s:
            s.auth = ChallengeAuth("alice", "secret")
            r = s.get(server.url + "/private", timeout=TIMEOUT)
            assert r.status_code == 200 and r.json()["user"] == "alice"
            assert r.json()["algorithm"] == "SHA-256"
            r = s.get(server.url + "/private/again", timeout=TIMEOUT)
            assert r.status_code == 200
        exchanges = server.exchanges.snapshot()
    assert [e.status for e in exchanges] == [401, 200, 200]
    assert all(e.authorization is None or "alice" in e.authorization for e in exchanges)
    assert all(e.authorization is None or PROXY_USER not in e.authorization for e in exchanges)
    # One tunnel for all three requests; the proxy never saw the origin's credentials.
    assert statuses(proxy) == [407, 200]
    assert all("alice" not in (c.authorization or "") for c in connects(proxy))


# -- threads, timeouts, bounds --------------------------------------------------------------


def test_threads_share_one_nonce_and_never_repeat_a_count(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    """strict_nc: the proxy refuses any nonce count it saw before for the same nonce."""
    proxy = make_proxy(strict_nc=True)
    adapter = ChallengeAdapter(proxy_auth=(PROXY_USER, PROXY_PASSWORD), pool_maxsize=16)
    with session_for(proxy, certificate, adapter) as s:
        assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
    errors: List[BaseException] = []

    def work() -> None:
        try:
            for _ in range(4):
                with session_for(proxy, certificate, adapter) as session:
                    # The origin closes after answering, so no other thread can pick this
                    # tunnel up from the shared pool: every request opens its own tunnel.
                    reply = session.get(origin.page, headers={"Connection": "close"}, timeout=TIMEOUT)
                    assert reply.status_code == 200
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    sent = [(params(c)["nonce"], params(c)["nc"]) for c in connects(proxy) if c.authorization]
    assert len(sent) == len(set(sent)), "a nonce count was sent twice"
    assert statuses(proxy).count(200) == 33 and statuses(proxy).count(407) == 1


@pytest.fixture
def silent_proxy_url() -> Iterator[str]:
    """A proxy that accepts connections and never answers. ChallengeProxy cannot be made to
    hang (its every wait is bounded), so this is a local fake: a listening socket that
    nobody accepts from (the kernel completes the handshake; no reply ever comes)."""
    with socket.create_server((HOST, 0)) as listener:
        yield f"http://{HOST}:{listener.getsockname()[1]}"


def test_connect_timeout_is_honoured(silent_proxy_url, certificate) -> None:  # type: ignore[no-untyped-def]
    with session_for(silent_proxy_url, certificate) as s:
        # The read of the proxy's reply is bounded by the caller's timeout: it ends
        # in a timeout error (not a hang, and no clock is asserted here).
        with pytest.raises(requests.exceptions.RequestException) as info:
            s.get("https://127.0.0.1:9/", timeout=0.5)
    assert "timed out" in str(info.value).lower()


def test_an_endless_header_line_is_refused(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(Raw('Basic realm="' + "a" * 200_000 + '"'))  # one 200 kB Proxy-Authenticate line
    with session_for(proxy, certificate) as s:
        with pytest.raises(ProxyError, match="too long"):
            s.get(origin.page, timeout=TIMEOUT)


# -- ChallengeProxy itself: plain http, the tunnel's bytes, stop ----------------------------


def test_plain_http_through_the_proxy_answers_both_challenges(make_proxy) -> None:  # type: ignore[no-untyped-def]
    """absolute-form: ChallengeAuth(proxy_auth=...) answers the proxy's 407, then the
    origin's 401 that the proxy relays; the origin never sees Proxy-Authorization."""
    proxy = make_proxy(Digest("SHA-256"))
    with ChallengeServer(users={"alice": "secret"}, challenges=[Digest("SHA-256")]) as server:
        target = server.url + "/form?x=1"
        with requests.Session() as s:
            s.trust_env = False
            s.proxies = {"http": proxy.url}
            s.auth = ChallengeAuth("alice", "secret", proxy_auth=(PROXY_USER, PROXY_PASSWORD))
            r = s.post(target, data=b"a body", timeout=TIMEOUT)
        assert r.status_code == 200 and r.json()["user"] == "alice"
        assert r.json()["body_sha256"] == hashlib.sha256(b"a body").hexdigest()
        assert "1.1 requests-challenge" in r.headers["Via"]
        origin_exchanges = server.exchanges.snapshot()
    assert [(e.method, e.path, e.status) for e in proxy.exchanges] == [
        ("POST", target, 407), ("POST", target, 401), ("POST", target, 200)
    ]
    assert params(proxy.exchanges[1])["uri"] == target  # a proxy's Digest uri is the absolute-form target
    assert [e.status for e in origin_exchanges] == [401, 200]
    assert all(PROXY_USER not in (e.authorization or "") for e in origin_exchanges)


def test_forwarded_requests_lose_the_proxy_credentials_and_hop_by_hop_fields(make_proxy) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(Basic())
    app = RecordingApp()
    with ChallengeServer(app=app, protected=()) as server:
        with requests.Session() as s:
            s.trust_env = False
            s.proxies = {"http": proxy.url}
            s.auth = ChallengeAuth(PROXY_USER, PROXY_PASSWORD, proxy_auth=(PROXY_USER, PROXY_PASSWORD))
            r = s.get(server.url + "/x", headers={"X-Kept": "1", "Connection": "X-Dropped", "X-Dropped": "1"},
                      timeout=TIMEOUT)
    assert r.text == "hello through the tunnel"
    (fields,) = app.seen()
    assert "proxy-authorization" not in fields and "x-dropped" not in fields
    assert fields["x-kept"] == "1" and fields["host"] == f"{HOST}:{server.port}"
    assert fields["via"] == "1.1 requests-challenge"


@pytest.mark.parametrize(
    "url,status",
    [("http://origin.invalid/", 403), ("http://127.0.0.1:9/", 502)],
    ids=["not-loopback", "nothing-listening"],
)
def test_plain_http_to_an_unreachable_origin(make_proxy, url: str, status: int) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(Basic())
    r = requests.get(url, proxies={"http": proxy.url}, timeout=TIMEOUT,
                     auth=ChallengeAuth("u", "p", proxy_auth=(PROXY_USER, PROXY_PASSWORD)))
    assert r.status_code == status and r.json()["status"] == status
    assert [e.status for e in proxy.exchanges] == [407, status]


def raw_connect(proxy: ChallengeProxy, target: str, authorization: Optional[str] = None) -> socket.socket:
    """A socket with ``CONNECT target`` sent on it."""
    sock = socket.create_connection((HOST, proxy.port), timeout=TIMEOUT)
    head = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
    if authorization is not None:
        head += f"Proxy-Authorization: {authorization}\r\n"
    sock.sendall((head + "\r\n").encode("latin-1"))
    return sock


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_a_tunnel_relays_bytes_and_stop_closes_it(make_proxy) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(Basic())
    with ChallengeServer(protected=()) as server:
        with raw_connect(proxy, f"{HOST}:{server.port}", basic(PROXY_USER, PROXY_PASSWORD)) as sock:
            reply = http.client.HTTPResponse(sock)
            reply.begin()
            assert reply.status == 200 and reply.reason == "Connection established"
            assert reply.getheader("Content-Length") is None  # RFC 9110 §9.3.6
            sock.sendall(f"GET /through HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            answer = http.client.HTTPResponse(sock)
            answer.begin()
            assert answer.status == 200 and b'"path": "/through"' in answer.read()
            proxy.stop()  # ends the open tunnel: the client sees the end, not a hang
            try:
                assert sock.recv(1) == b""
            except ConnectionResetError:
                pass
    assert [e.status for e in server.exchanges] == [200]


def test_octets_sent_before_the_200_go_through_the_tunnel(make_proxy) -> None:  # type: ignore[no-untyped-def]
    """A client that does not wait for the 200: what follows its CONNECT is the tunnel's."""
    proxy = make_proxy(Basic())
    with ChallengeServer(protected=()) as server:
        target = f"{HOST}:{server.port}"
        with socket.create_connection((HOST, proxy.port), timeout=TIMEOUT) as sock:
            sock.sendall(f"CONNECT {target} HTTP/1.1\r\nProxy-Authorization: {basic(PROXY_USER, PROXY_PASSWORD)}\r\n\r\n"
                         f"GET /early HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
            stream = sock.makefile("rb")  # one reader for both answers: they may arrive together
            assert stream.readline().startswith(b"HTTP/1.1 200 ")
            while stream.readline() not in (b"\r\n", b""):
                pass
            answer = http.client.HTTPResponse(SimpleNamespace(makefile=lambda *args, **kwargs: stream))  # type: ignore[arg-type]
            answer.begin()
            assert answer.status == 200 and b'"path": "/early"' in answer.read()


def test_keep_alive_407_is_answered_on_the_same_connection(make_proxy) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(Basic())
    with ChallengeServer(protected=()) as server:
        target = f"{HOST}:{server.port}"
        with raw_connect(proxy, target) as sock:
            refused = http.client.HTTPResponse(sock)
            refused.begin()
            assert refused.status == 407 and str(refused.getheader("Proxy-Authenticate")).startswith("Basic ")
            assert refused.read()  # a body, framed by Content-Length
            sock.sendall(f"CONNECT {target} HTTP/1.1\r\nProxy-Authorization: {basic(PROXY_USER, 'wrong')}\r\n\r\n"
                         .encode())
            again = http.client.HTTPResponse(sock)
            again.begin()
            assert again.status == 407 and b"wrong password" in again.read()
    assert proxy.connections == 1
    assert [(e.status, e.reason) for e in proxy.exchanges] == [(407, "no credentials"), (407, "wrong password")]


@pytest.mark.parametrize("target", ["no-port", "127.0.0.1:99999", "/path"])
def test_connect_needs_an_authority(make_proxy, target: str) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(Basic())
    with raw_connect(proxy, target, basic(PROXY_USER, PROXY_PASSWORD)) as sock:
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        assert reply.status == 400
    assert [(e.method, e.path, e.status) for e in proxy.exchanges] == [("CONNECT", target, 400)]


def test_proxy_options_are_checked() -> None:
    with pytest.raises(ValueError, match="on_407"):
        ChallengeProxy(on_407="sometimes")
    with pytest.raises(TypeError):
        ChallengeProxy(cookie="a=b")  # an origin's option, not a proxy's
    with pytest.raises(ValueError, match="proxy=True"):
        ChallengeProxy(verifier=Verifier())
    assert "secret" not in repr(ChallengeProxy({"alice": "secret"}))


# -- construction, repr, pickling -------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "a\x00b"])
def test_control_characters_are_refused_at_construction(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        ChallengeAdapter(proxy_auth=(bad, "pw"))
    assert bad not in str(info.value)
    with pytest.raises(ValueError) as info:
        ChallengeAdapter(proxy_auth=("user", bad))
    assert bad not in str(info.value)


@pytest.mark.parametrize("bad", ["user", ("user",), ("user", None)])
def test_proxy_auth_must_be_a_pair_of_strings(bad: object) -> None:
    with pytest.raises(TypeError):
        ChallengeAdapter(proxy_auth=bad)  # type: ignore[arg-type]


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError):
        ChallengeAdapter(proxy_auth=("u", "p"), schemes=("bearer",))


def test_repr_hides_the_password() -> None:
    adapter = ChallengeAdapter(proxy_auth=("puser", "hunter2-secret"))
    assert "hunter2-secret" not in repr(adapter)
    assert "ChallengeAdapter" in repr(adapter) and "proxy_auth" in repr(adapter)


def test_httpadapter_arguments_still_work() -> None:
    adapter = ChallengeAdapter(3, 7, 2, True, proxy_auth=("u", "p"))
    state = adapter.__getstate__()  # requests' own names for its arguments (HTTPAdapter.__attrs__)
    assert (state["_pool_connections"], state["_pool_maxsize"], state["_pool_block"]) == (3, 7, True)
    assert adapter.poolmanager.connection_pool_kw["maxsize"] == 7
    assert adapter.max_retries.total == 2
    adapter = ChallengeAdapter(pool_maxsize=5, max_retries=1)
    assert adapter.poolmanager.connection_pool_kw["maxsize"] == 5 and adapter.max_retries.total == 1


@pytest.mark.parametrize("clone", [lambda a: pickle.loads(pickle.dumps(a)), copy.deepcopy], ids=["pickle", "deepcopy"])
def test_pickle_and_deepcopy_start_with_nothing_remembered(make_proxy, certificate, origin, clone) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy()
    adapter = ChallengeAdapter(pool_maxsize=4, max_retries=0, proxy_auth=(PROXY_USER, PROXY_PASSWORD), schemes=["digest"])
    with session_for(proxy, certificate, adapter) as s:
        s.get(origin.page, timeout=TIMEOUT)
    twin = clone(adapter)
    assert isinstance(twin, ChallengeAdapter) and twin is not adapter
    assert repr(twin) == repr(adapter)  # the same schemes, and proxy credentials
    assert twin.poolmanager.connection_pool_kw["maxsize"] == 4 and twin.max_retries.total == 0
    with session_for(proxy, certificate, twin) as s:
        assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
    assert statuses(proxy) == [407, 200, 407, 200]  # the twin starts over: a bare CONNECT first
    with session_for(proxy, certificate, adapter) as s:
        assert s.get(origin.page, timeout=TIMEOUT).status_code == 200
    assert statuses(proxy) == [407, 200, 407, 200, 200]  # the original still remembers its proxy


def test_only_the_https_pools_of_proxy_managers_change() -> None:
    adapter = ChallengeAdapter(proxy_auth=("u", "p"))
    manager = adapter.proxy_manager_for("http://127.0.0.1:3128")
    assert isinstance(manager, ProxyManager)
    assert manager.pool_classes_by_scheme["http"] is HTTPConnectionPool
    pool = manager.connection_from_url("https://api.example/")
    assert isinstance(pool, HTTPSConnectionPool)
    connection = pool.ConnectionCls("api.example", 443)  # made, not connected
    assert isinstance(connection, Urllib3HTTPSConnection) and type(connection) is not Urllib3HTTPSConnection
    assert adapter.proxy_manager_for("http://127.0.0.1:3128") is manager
    assert adapter.poolmanager.pool_classes_by_scheme["https"] is HTTPSConnectionPool
    plain = ChallengeAdapter().proxy_manager_for("http://127.0.0.1:3128")
    assert plain.pool_classes_by_scheme["https"] is HTTPSConnectionPool


def test_unsupported_urllib3_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urllib3, "__version__", "3.0.0")
    with pytest.raises(RuntimeError, match="urllib3"):
        ChallengeAdapter(proxy_auth=("u", "p"))


def test_the_internals_we_lean_on_are_still_there() -> None:
    """If this fails, urllib3 or http.client changed under _tunnel.py: read its docstring."""
    conn = Urllib3HTTPSConnection("proxy.example", 3128)
    conn.set_tunnel("api.example", 443, headers={"X-Test": "1"})
    assert conn._tunnel_host == "api.example" and conn._tunnel_port == 443
    assert dict(conn._tunnel_headers)["X-Test"] == "1"
    for name in ("_tunnel", "_new_conn", "_connect_tls_proxy", "connect", "close"):
        assert callable(getattr(Urllib3HTTPSConnection, name)), name
    assert callable(http.client.HTTPConnection._tunnel)
    assert HTTPSConnectionPool.ConnectionCls is not None
    manager = ProxyManager("http://127.0.0.1:3128")
    assert manager.pool_classes_by_scheme["https"] is HTTPSConnectionPool
    assert isinstance(requests.adapters.HTTPAdapter.__attrs__, list)
