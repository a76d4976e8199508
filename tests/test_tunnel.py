"""ChallengeAdapter: the proxy's 407 to CONNECT, against a fake proxy on 127.0.0.1.

`FakeProxy` is a CONNECT proxy in a thread that checks Digest and Basic with its
own code (hashlib, base64; nothing from the library), records every CONNECT,
and relays an accepted tunnel to a TLS origin on 127.0.0.1. The origin's
certificate is made here (requests_challenge.testing.self_signed_certificate) and
verified by the client: no ``verify=False`` anywhere.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import http.client
import http.server
import pickle
import re
import secrets
import select
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import pytest
import requests
from urllib3.util.retry import Retry
import urllib3
from requests.exceptions import ProxyError
from urllib3.connection import HTTPSConnection as Urllib3HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import ProxyManager

from requests_challenge import ChallengeAuth
from requests_challenge.testing import SelfSignedCertificate as Certificate
from requests_challenge.testing import self_signed_certificate
from requests_challenge._tunnel import (
    ChallengeAdapter,
    ProxyAuthenticationError,
    _authority,
    _ProxyClosed,
    _Reader,
    _read_reply,
    _TunnelAuth,
    _TunnelFailure,
)
from requests_challenge._dialogue import Reply, Send
from requests_challenge._schemes import Credentials
from requests_challenge.testing import ChallengeServer, Digest

HOST = "127.0.0.1"
PROXY_USER, PROXY_PASSWORD = "puser", "ppass"
TIMEOUT = 10.0


# -- certificates and the TLS origin ----------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    try:
        return self_signed_certificate(tmp_path_factory.mktemp("tls"))
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


class RecordingOrigin:
    """An https origin that answers 200 and records every request's headers."""

    def __init__(self, certificate: Certificate) -> None:
        owner = self
        self.requests: List[Dict[str, str]] = []
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with owner.lock:
                    owner.requests.append({k.lower(): v for k, v in self.headers.items()})
                body = b"hello through the tunnel"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):  # type: ignore[no-untyped-def]
                sock, address = self.socket.accept()
                return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

        context = certificate.server_context()
        self.httpd = Server((HOST, 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"https://{HOST}:{self.port}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def origin(certificate: Certificate) -> Iterator[RecordingOrigin]:
    server = RecordingOrigin(certificate)
    yield server
    server.stop()


# -- the fake proxy -------------------------------------------------------------------


@dataclass(frozen=True)
class Connect:
    """One CONNECT as the proxy saw it."""

    connection: int  # which TCP connection carried it (1, 2, ...)
    target: str
    authorization: Optional[str]
    status: int
    reason: str = ""  # why the credentials were refused

    @property
    def params(self) -> Dict[str, str]:
        assert self.authorization is not None
        return _auth_params(self.authorization.split(" ", 1)[1])


_PARAM = re.compile(r'\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


def _auth_params(text: str) -> Dict[str, str]:
    params = {}
    for match in _PARAM.finditer(text):
        quoted, bare = match.group(2), match.group(3)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
    return params


class FakeProxy:
    """A CONNECT proxy that demands proxy authentication.

    ``offers``: the challenges, in order ("digest", "basic"). ``on_407``: "keep"
    the connection open, "close" it saying so, "silent-close" it without saying
    so, or "no-length" (an HTTP/1.0-style body that ends with the close).
    ``nonce_uses``: accepted answers per nonce before it goes stale.
    ``always_stale``: every Digest answer is refused with stale=true.
    ``nextnonce``: each 200 carries Proxy-Authentication-Info: nextnonce.
    ``status``: answer every CONNECT with this status instead. ``hang``: never answer.
    ``header_bomb``: a 407 whose one header line is this long.
    """

    def __init__(
        self,
        offers: Sequence[str] = ("digest",),
        *,
        users: Optional[Dict[str, str]] = None,
        realm: str = "fake proxy",
        algorithm: str = "MD5",
        on_407: str = "keep",
        nonce_uses: Optional[int] = None,
        always_stale: bool = False,
        nextnonce: bool = False,
        status: Optional[int] = None,
        hang: bool = False,
        header_bomb: int = 0,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        self.offers = tuple(offers)
        self.users = {PROXY_USER: PROXY_PASSWORD} if users is None else users
        self.realm = realm
        self.algorithm = algorithm
        self.on_407 = on_407
        self.nonce_uses = nonce_uses
        self.always_stale = always_stale
        self.nextnonce = nextnonce
        self.status = status
        self.hang = hang
        self.header_bomb = header_bomb
        self.ssl_context = ssl_context
        self.connects: List[Connect] = []
        self.connections = 0
        self.lock = threading.Lock()
        self.nonces: Dict[str, Dict[str, object]] = {}
        self.stopping = threading.Event()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._handle(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server((HOST, 0), Handler)
        self.port = self.server.server_address[1]
        scheme = "https" if ssl_context else "http"
        self.url = f"{scheme}://{HOST}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def forget_nonces(self) -> None:
        """As after a restart: every nonce handed out so far is unknown."""
        with self.lock:
            self.nonces.clear()

    @property
    def statuses(self) -> List[int]:
        return [c.status for c in self.connects]

    # -- one TCP connection ---------------------------------------------------------

    def _handle(self, sock: socket.socket) -> None:
        with self.lock:
            self.connections += 1
            number = self.connections
        sock.settimeout(TIMEOUT)
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True)
        buffer = bytearray()
        try:
            while True:
                head = self._read_head(sock, buffer)
                if head is None:
                    return
                request_line, headers = head
                method, target, _ = request_line.split(" ", 2)
                if self.hang:
                    self.stopping.wait(30)
                    return
                if method != "CONNECT":
                    sock.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                    continue
                authorization = headers.get("proxy-authorization")
                if self.status is not None:
                    self._record(number, target, authorization, self.status)
                    sock.sendall(b"HTTP/1.1 %d Nope\r\nContent-Length: 0\r\n\r\n" % self.status)
                    continue
                if self.header_bomb:
                    sock.sendall(b"HTTP/1.1 407 Auth\r\nX-Bomb: " + b"a" * self.header_bomb + b"\r\n\r\n")
                    return
                accepted, stale, reason = self._check(target, authorization)
                if accepted:
                    self._record(number, target, authorization, 200)
                    extra = b""
                    if self.nextnonce:
                        extra = b'Proxy-Authentication-Info: nextnonce="%s"\r\n' % self._new_nonce().encode()
                    sock.sendall(b"HTTP/1.1 200 Connection established\r\n" + extra + b"\r\n")
                    self._relay(sock, bytes(buffer), target)
                    return
                self._record(number, target, authorization, 407, reason)
                if not self._refuse(sock, stale):
                    return
        except OSError:
            return
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def _read_head(self, sock: socket.socket, buffer: bytearray) -> Optional[Tuple[str, Dict[str, str]]]:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buffer += chunk
            assert len(buffer) < 1 << 20
        end = buffer.index(b"\r\n\r\n")
        lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        del buffer[: end + 4]
        headers: Dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"{name} sent twice"
            headers[name.lower()] = value.strip()
        return lines[0], headers

    def _record(self, number: int, target: str, authorization: Optional[str], status: int, reason: str = "") -> None:
        with self.lock:
            self.connects.append(Connect(number, target, authorization, status, reason))

    def _refuse(self, sock: socket.socket, stale: bool) -> bool:
        """Send the 407; True when the connection stays open."""
        lines = ["Proxy-Authenticate: " + self._challenge(offer, stale) for offer in self.offers]
        body = b"<html><body>407 proxy authentication required</body></html>\n" * 20
        if self.on_407 == "no-length":
            head = "HTTP/1.0 407 Proxy Authentication Required\r\n" + "".join(f"{l}\r\n" for l in lines)
            sock.sendall(head.encode("latin-1") + b"\r\n" + body)
            return False
        if self.on_407 == "close":
            lines.append("Connection: close")
        head = "HTTP/1.1 407 Proxy Authentication Required\r\n" + "".join(f"{l}\r\n" for l in lines)
        head += f"Content-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode("latin-1") + body)
        return self.on_407 == "keep"

    def _challenge(self, offer: str, stale: bool) -> str:
        if offer == "basic":
            return f'Basic realm="{self.realm}"'
        stale_param = ", stale=true" if stale else ""
        return (
            f'Digest realm="{self.realm}", nonce="{self._new_nonce()}", qop="auth",'
            f" algorithm={self.algorithm}{stale_param}"
        )

    def _new_nonce(self) -> str:
        nonce = secrets.token_hex(16)
        with self.lock:
            self.nonces[nonce] = {"uses": 0, "counts": set()}
        return nonce

    # -- checking credentials with our own code -------------------------------------------

    def _check(self, target: str, authorization: Optional[str]) -> Tuple[bool, bool, str]:
        """(accepted, stale, reason)."""
        if authorization is None:
            return False, False, "no credentials"
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() == "basic" and "basic" in self.offers:
            user, _, password = base64.b64decode(rest).decode("utf-8").partition(":")
            ok = self.users.get(user) == password
            return ok, False, "" if ok else "wrong Basic credentials"
        if scheme.lower() != "digest" or "digest" not in self.offers:
            return False, False, f"scheme {scheme} not offered"
        p = _auth_params(rest)
        user = p["username"].encode("latin-1").decode("utf-8")
        password = self.users.get(user)
        if password is None or p["realm"] != self.realm or p.get("uri") != target:
            return False, False, f"unknown user, realm or uri {p.get('uri')!r}"
        name = {"MD5": "md5", "SHA-256": "sha256"}[self.algorithm]

        def h(text: str) -> str:
            return hashlib.new(name, text.encode("utf-8")).hexdigest()

        ha1 = h(f"{user}:{self.realm}:{password}")
        ha2 = h(f"CONNECT:{p['uri']}")
        expected = h(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:{p['qop']}:{ha2}")
        if not secrets.compare_digest(expected, p["response"]):
            return False, False, "wrong Digest response"
        with self.lock:
            state = self.nonces.get(p["nonce"])
            if state is None:
                return False, False, "unknown nonce"
            counts = state["counts"]
            assert isinstance(counts, set)
            if int(p["nc"], 16) in counts:
                return False, True, "nonce count replayed"
            if self.always_stale or (self.nonce_uses is not None and state["uses"] >= self.nonce_uses):
                return False, True, "stale nonce"
            counts.add(int(p["nc"], 16))
            state["uses"] = int(state["uses"]) + 1  # type: ignore[call-overload]
        return True, False, ""

    # -- the tunnel -------------------------------------------------------------------

    def _relay(self, client: socket.socket, early: bytes, target: str) -> None:
        """Copy bytes both ways in this one thread (an SSLSocket must not be read
        and written from two threads at once)."""
        host, _, port = target.rpartition(":")
        assert not early, "the client spoke before the 200"
        with socket.create_connection((host.strip("[]"), int(port)), timeout=TIMEOUT) as upstream:
            peers = {client: upstream, upstream: client}
            while not self.stopping.is_set():
                pending = getattr(client, "pending", lambda: 0)()
                readable = [client] if pending else select.select(list(peers), [], [], TIMEOUT)[0]
                if not readable:
                    return
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    peers[source].sendall(data)


@pytest.fixture
def make_proxy() -> Iterator:
    proxies: List[FakeProxy] = []

    def make(*args: object, **kwargs: object) -> FakeProxy:
        proxy = FakeProxy(*args, **kwargs)  # type: ignore[arg-type]
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()


def session_for(
    proxy: FakeProxy, certificate: Certificate, adapter: Optional[ChallengeAdapter] = None, **adapter_kwargs: object
) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    if adapter is None:
        adapter_kwargs.setdefault("proxy_auth", (PROXY_USER, PROXY_PASSWORD))
        adapter = ChallengeAdapter(**adapter_kwargs)  # type: ignore[arg-type]
    session.mount("https://", adapter)
    session.proxies = {"https": proxy.url}
    session.verify = certificate.cert
    return session


def new_tunnel(session: requests.Session) -> None:
    """Make the next request open a new tunnel (the adapter keeps what it learned)."""
    session.close()


# -- the credentials a CONNECT carries --------------------------------------------------


def connect_authorization(challenge: str, authority: str, *, nonce_count: int = 1) -> str:
    """The Proxy-Authorization the tunnel's own dialogue computes for ``CONNECT authority``
    after a 407 with ``challenge`` (and ``nonce_count - 1`` resends on a new socket)."""
    tunnel = _TunnelAuth(Credentials("Jäsøn", "Sëcret€"), frozenset({"digest", "basic"}))
    dialogue = tunnel.dialogue(authority, "http://proxy.test:3128/")
    assert dialogue.first() is None
    action = dialogue.on_reply(Reply(407, [challenge]))
    assert isinstance(action, Send)
    header = action.header
    for _ in range(nonce_count - 1):
        resent = dialogue.resend()
        assert resent is not None
        header = resent
    return header


@pytest.mark.parametrize("algorithm,hash_name", [("MD5", "md5"), ("SHA-256", "sha256")])
def test_digest_credentials_for_connect_use_the_authority_as_uri(
    algorithm: str, hash_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    challenge = f'Digest realm="proxy", nonce="abc123", qop="auth", algorithm={algorithm}'
    monkeypatch.setattr("secrets.token_hex", lambda nbytes=None: "0a4f113b")  # a known cnonce
    header = connect_authorization(challenge, "api.example:443", nonce_count=3)
    assert header.startswith("Digest ")
    p = _auth_params(header[len("Digest "):])
    assert p["uri"] == "api.example:443"
    assert p["nc"] == "00000003" and p["cnonce"] == "0a4f113b" and p["qop"] == "auth"

    def h(data: bytes) -> str:
        return hashlib.new(hash_name, data).hexdigest()

    ha1 = h("Jäsøn:proxy:Sëcret€".encode("utf-8"))
    ha2 = h(b"CONNECT:api.example:443")
    assert p["response"] == h(f"{ha1}:abc123:00000003:0a4f113b:auth:{ha2}".encode())
    # The user name goes out as its UTF-8 octets (RFC 2617 proxies such as squid compare those).
    assert p["username"].encode("latin-1").decode("utf-8") == "Jäsøn"


def test_basic_credentials_for_connect() -> None:
    header = connect_authorization('Basic realm="proxy"', "api.example:443")
    assert header == "Basic " + base64.b64encode("Jäsøn:Sëcret€".encode("utf-8")).decode()


@pytest.mark.parametrize(
    "host,port,expected",
    [
        ("api.example", 443, "api.example:443"),
        ("127.0.0.1", 8443, "127.0.0.1:8443"),
        ("::1", 443, "[::1]:443"),
        ("[::1]", 443, "[::1]:443"),
        ("bücher.example", 443, "xn--bcher-kva.example:443"),
    ],
)
def test_connect_authority(host: str, port: int, expected: str) -> None:
    assert _authority(host, port) == expected


# -- the bounded reply reader -------------------------------------------------------------


def _reply_from(data: bytes):  # type: ignore[no-untyped-def]
    a, b = socket.socketpair()
    try:
        b.sendall(data)
        b.shutdown(socket.SHUT_WR)
        a.settimeout(5)
        reader = _Reader(a)
        return _read_reply(reader), reader
    finally:
        a.close()
        b.close()


def test_reply_reader_reads_fields_folds_and_skips_interim_replies() -> None:
    reply, reader = _reply_from(
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 407 Proxy Authentication Required\r\n"
        b'Proxy-Authenticate: Digest realm="r",\r\n nonce="n"\r\n'
        b"Proxy-Authenticate: Basic realm=\"r\"\r\n"
        b"Content-Length: 5\r\n\r\nhello"
    )
    assert (reply.version, reply.status) == ("HTTP/1.1", 407)
    assert reply.get_all("proxy-authenticate") == ['Digest realm="r", nonce="n"', 'Basic realm="r"']
    assert reply.body_length() == 5 and reply.keeps_alive()
    assert reader.discard(5) and reader.pending == 0


@pytest.mark.parametrize(
    "data,message",
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "HTTP status line"),
        (b"HTTP/1.1 407 X\r\nX: " + b"a" * 70000 + b"\r\n\r\n", "too long"),
        (b"HTTP/1.1 407 X\r\n" + b"X: y\r\n" * 101 + b"\r\n", "more than 100"),
        (b"HTTP/1.1 407 X\r\nno colon here\r\n\r\n", "malformed header"),
        (b"HTTP/1.1 407 X\r\nX: y\r\n", "inside its reply headers"),
    ],
)
def test_reply_reader_is_bounded_and_strict(data: bytes, message: str) -> None:
    with pytest.raises(_TunnelFailure, match=message):
        _reply_from(data)


def test_reply_reader_reports_a_close_before_the_status_line() -> None:
    with pytest.raises(_ProxyClosed):
        _reply_from(b"")


def test_keep_alive_and_body_length_rules() -> None:
    reply, _ = _reply_from(b"HTTP/1.0 407 X\r\nProxy-Connection: keep-alive\r\nContent-Length: 0\r\n\r\n")
    assert reply.keeps_alive() and reply.body_length() == 0
    reply, _ = _reply_from(b"HTTP/1.1 407 X\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    assert not reply.keeps_alive()
    reply, _ = _reply_from(b"HTTP/1.1 407 X\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert reply.body_length() is None
    reply, _ = _reply_from(b"HTTP/1.1 407 X\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
    assert reply.body_length() is None
    reply, _ = _reply_from(b"HTTP/1.0 407 X\r\n\r\n")
    assert not reply.keeps_alive() and reply.body_length() is None


# -- the CONNECT dialogue through requests ---------------------------------------------------


def test_digest_407_then_200(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("digest",))
    with session_for(proxy, certificate) as s:
        r = s.get(origin.url, timeout=TIMEOUT)
    assert r.status_code == 200 and r.text == "hello through the tunnel"
    assert proxy.statuses == [407, 200]
    first, second = proxy.connects
    assert first.authorization is None
    assert second.authorization.startswith("Digest ")
    assert second.params["uri"] == f"{HOST}:{origin.port}" == second.target
    assert second.params["nc"] == "00000001"
    assert proxy.connections == 1  # the 407 kept the connection open and it was reused


def test_basic_proxy(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("basic",))
    with session_for(proxy, certificate) as s:
        assert s.get(origin.url, timeout=TIMEOUT).status_code == 200
    assert proxy.statuses == [407, 200]
    assert proxy.connects[1].authorization == "Basic " + base64.b64encode(b"puser:ppass").decode()


def test_digest_is_preferred_to_basic_whatever_the_order(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("basic", "digest"), algorithm="SHA-256")
    with session_for(proxy, certificate) as s:
        assert s.get(origin.url, timeout=TIMEOUT).status_code == 200
    assert proxy.connects[1].authorization.startswith("Digest ")
    assert proxy.connects[1].params["algorithm"] == "SHA-256"


@pytest.mark.parametrize("offers,scheme", [(("digest",), "Digest MD5"), (("basic",), "Basic")])
def test_wrong_password_fails_after_exactly_two_connects(make_proxy, certificate, origin, offers, scheme) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(offers)
    with session_for(proxy, certificate, proxy_auth=(PROXY_USER, "wrong-secret-value")) as s:
        with pytest.raises(ProxyError) as info:
            s.get(origin.url, timeout=TIMEOUT)
    assert isinstance(info.value, ProxyAuthenticationError)
    message = str(info.value)
    assert "authentication failed" in message and scheme in message
    assert "wrong-secret-value" not in message and PROXY_PASSWORD not in message
    assert proxy.statuses == [407, 407]
    assert proxy.connects[0].authorization is None and proxy.connects[1].authorization is not None
    assert origin.port and not any("proxy-authorization" in h for h in origin.requests)


RETRY_POLICIES = [
    pytest.param(lambda: 3, id="max_retries=3"),
    pytest.param(lambda: Retry(connect=3), id="Retry(connect=3)"),
    pytest.param(lambda: Retry(total=None, connect=2), id="Retry(total=None,connect=2)"),
]


@pytest.mark.parametrize("offers", [("digest",), ("basic",)], ids=["digest", "basic"])
@pytest.mark.parametrize("retries", RETRY_POLICIES)
def test_refused_credentials_are_not_resent_by_urllib3_retries(make_proxy, certificate, origin, offers, retries) -> None:  # type: ignore[no-untyped-def]
    """Audit item 7: whatever the retry policy, a proxy that refused our credentials
    never gets them again for that request (account lockout): bare CONNECT, 407,
    CONNECT with credentials, 407, ProxyAuthenticationError. Before, urllib3 retried
    the whole dialogue: 4, 11, then 976 CONNECTs ending in RecursionError."""
    proxy = make_proxy(offers)
    adapter = ChallengeAdapter(proxy_auth=(PROXY_USER, "wrong-secret-value"), max_retries=retries())
    with session_for(proxy, certificate, adapter) as s:
        with pytest.raises(ProxyAuthenticationError) as info:
            s.get(origin.url, timeout=TIMEOUT)
    assert proxy.statuses == [407, 407]
    assert [c.authorization is not None for c in proxy.connects] == [False, True]
    assert "wrong-secret-value" not in str(info.value)


@pytest.mark.parametrize("retries", RETRY_POLICIES)
def test_the_right_password_opens_the_tunnel_under_any_retry_policy(make_proxy, certificate, origin, retries) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("digest",))
    with session_for(proxy, certificate, ChallengeAdapter(proxy_auth=(PROXY_USER, PROXY_PASSWORD), max_retries=retries())) as s:
        assert s.get(origin.url, timeout=TIMEOUT).status_code == 200
    assert proxy.statuses == [407, 200]


def test_second_tunnel_sends_credentials_up_front_with_the_next_nc(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("digest",))
    with session_for(proxy, certificate) as s:
        assert s.get(origin.url, timeout=TIMEOUT).status_code == 200
        new_tunnel(s)
        assert s.get(origin.url, timeout=TIMEOUT).status_code == 200
        new_tunnel(s)
        assert s.get(origin.url, timeout=TIMEOUT).status_code == 200
    assert proxy.statuses == [407, 200, 200, 200]
    nonces = {c.params["nonce"] for c in proxy.connects[1:]}
    assert len(nonces) == 1
    assert [c.params["nc"] for c in proxy.connects[1:]] == ["00000001", "00000002", "00000003"]


def test_requests_in_one_tunnel_need_one_connect(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("digest",))
    with session_for(proxy, certificate) as s:
        for _ in range(5):
            assert s.get(origin.url, timeout=TIMEOUT).status_code == 200
    assert proxy.statuses == [407, 200]


def test_basic_is_sent_up_front_on_later_tunnels(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("basic",))
    with session_for(proxy, certificate) as s:
        s.get(origin.url, timeout=TIMEOUT)
        new_tunnel(s)
        s.get(origin.url, timeout=TIMEOUT)
    assert proxy.statuses == [407, 200, 200]


def test_stale_nonce_sent_up_front_is_answered_once(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("digest",), nonce_uses=1)
    with session_for(proxy, certificate) as s:
        assert s.get(origin.url, timeout=TIMEOUT).status_code == 200
        new_tunnel(s)
        assert s.get(origin.url, timeout=TIMEOUT).status_code == 200
    assert proxy.statuses == [407, 200, 407, 200]
    assert proxy.connects[2].reason == "stale nonce"
    assert proxy.connects[3].params["nonce"] != proxy.connects[2].params["nonce"]
    assert proxy.connects[3].params["nc"] == "00000001"


def test_stale_answer_is_retried_once_then_fails(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("digest",), always_stale=True)
    with session_for(proxy, certificate) as s:
        with pytest.raises(ProxyAuthenticationError, match="authentication failed"):
            s.get(origin.url, timeout=TIMEOUT)
    # One bare CONNECT, then at most two with credentials.
    assert proxy.statuses == [407, 407, 407]
    assert [c.authorization is not None for c in proxy.connects] == [False, True, True]


def test_rotated_nonce_without_stale_is_answered_once(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("digest",))
    with session_for(proxy, certificate) as s:
        assert s.get(origin.url, timeout=TIMEOUT).status_code == 200
        proxy.forget_nonces()  # a restarted proxy: the remembered nonce is unknown, stale=false
        new_tunnel(s)
        assert s.get(origin.url, timeout=TIMEOUT).status_code == 200
        new_tunnel(s)
        assert s.get(origin.url, timeout=TIMEOUT).status_code == 200
    assert proxy.statuses == [407, 200, 407, 200, 200]
    assert proxy.connects[2].reason == "unknown nonce"


def test_refused_credentials_sent_up_front_then_refused_again_fail(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("digest",))
    adapter = ChallengeAdapter(proxy_auth=(PROXY_USER, PROXY_PASSWORD))
    with session_for(proxy, certificate, adapter) as s:
        assert s.get(origin.url, timeout=TIMEOUT).status_code == 200
        proxy.users[PROXY_USER] = "changed-on-the-proxy"
        new_tunnel(s)
        with pytest.raises(ProxyAuthenticationError):
            s.get(origin.url, timeout=TIMEOUT)
    assert proxy.statuses == [407, 200, 407, 407]
    assert len(adapter._tunnel_auth.spaces) == 0  # the refused space is forgotten


@pytest.mark.parametrize("on_407", ["close", "silent-close", "no-length"])
def test_proxy_that_closes_the_connection_after_407(make_proxy, certificate, origin, on_407) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("digest",), on_407=on_407)
    with session_for(proxy, certificate) as s:
        r = s.get(origin.url, timeout=TIMEOUT)
    assert r.status_code == 200
    assert proxy.statuses == [407, 200]
    assert proxy.connections == 2
    assert [c.connection for c in proxy.connects] == [1, 2]
    if on_407 == "silent-close":
        # The CONNECT that went into the closed socket was resent with the next nc.
        assert proxy.connects[1].params["nc"] == "00000002"


def test_proxy_that_closes_after_every_407_still_gets_only_two_credentials(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("digest",), on_407="close")
    with session_for(proxy, certificate, proxy_auth=(PROXY_USER, "wrong")) as s:
        with pytest.raises(ProxyAuthenticationError):
            s.get(origin.url, timeout=TIMEOUT)
    assert proxy.statuses == [407, 407] and proxy.connections == 2


def test_tls_proxy_reconnect(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    """An https:// proxy (TLS to the proxy, TLS-in-TLS to the origin) that closes after its 407."""
    proxy = make_proxy(("digest",), on_407="close", ssl_context=certificate.server_context())
    with session_for(proxy, certificate) as s:
        assert s.get(origin.url, timeout=TIMEOUT).status_code == 200
    assert proxy.statuses == [407, 200] and proxy.connections == 2


def test_other_refusals_stay_plain_proxy_errors(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(status=403)
    with session_for(proxy, certificate) as s:
        with pytest.raises(ProxyError) as info:
            s.get(origin.url, timeout=TIMEOUT)
    assert not isinstance(info.value, ProxyAuthenticationError)
    assert "Tunnel connection failed: 403" in str(info.value)


def test_schemes_restriction_never_sends_basic(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("basic",))
    with session_for(proxy, certificate, schemes=("digest",)) as s:
        with pytest.raises(ProxyAuthenticationError) as info:
            s.get(origin.url, timeout=TIMEOUT)
    assert "Basic" in str(info.value) and "authentication failed" in str(info.value)
    assert proxy.statuses == [407]


def test_basic_user_name_with_colon_is_not_sent(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("basic",))
    with session_for(proxy, certificate, proxy_auth=("dom:user", "pw")) as s:
        with pytest.raises(ProxyAuthenticationError, match="':'"):
            s.get(origin.url, timeout=TIMEOUT)
    assert proxy.statuses == [407]


def test_without_proxy_auth_it_is_a_plain_adapter(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("digest",))
    with session_for(proxy, certificate, ChallengeAdapter()) as s:
        with pytest.raises(ProxyError, match="Tunnel connection failed: 407"):
            s.get(origin.url, timeout=TIMEOUT)
    assert proxy.statuses == [407]


def test_nextnonce_is_followed(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("digest",), nextnonce=True)
    with session_for(proxy, certificate) as s:
        s.get(origin.url, timeout=TIMEOUT)
        new_tunnel(s)
        s.get(origin.url, timeout=TIMEOUT)
    assert proxy.statuses == [407, 200, 200]
    assert proxy.connects[2].params["nonce"] != proxy.connects[1].params["nonce"]
    assert proxy.connects[2].params["nc"] == "00000001"


# -- what reaches the origin ----------------------------------------------------------------


def test_proxy_credentials_never_reach_the_origin(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("basic",))
    with origin.lock:
        origin.requests.clear()
    with session_for(proxy, certificate) as s:
        # Credentials in the proxy URL too: requests would send them as Basic up front.
        s.proxies = {"https": f"http://urluser:urlpass@{HOST}:{proxy.port}"}
        assert s.get(origin.url, timeout=TIMEOUT).status_code == 200
    assert proxy.connects[0].authorization is None  # ours decide: nothing before the challenge
    assert proxy.connects[1].authorization == "Basic " + base64.b64encode(b"puser:ppass").decode()
    assert origin.requests and all(
        "proxy-authorization" not in headers and "authorization" not in headers for headers in origin.requests
    )


def test_origin_401_is_answered_by_challenge_auth_inside_the_tunnel(make_proxy, certificate) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("digest",))
    with ChallengeServer(
        users={"alice": "secret"}, challenges=[Digest("SHA-256")], ssl_context=certificate.server_context()
    ) as server:
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
    assert proxy.statuses == [407, 200]
    assert all("alice" not in (c.authorization or "") for c in proxy.connects)


# -- threads, timeouts, bounds --------------------------------------------------------------


def test_threads_share_one_nonce_and_never_repeat_a_count(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("digest",))
    adapter = ChallengeAdapter(proxy_auth=(PROXY_USER, PROXY_PASSWORD), pool_maxsize=16)
    with session_for(proxy, certificate, adapter) as s:
        assert s.get(origin.url, timeout=TIMEOUT).status_code == 200
    errors: List[BaseException] = []

    def work() -> None:
        try:
            for _ in range(4):
                with session_for(proxy, certificate, adapter) as session:
                    assert session.get(origin.url, timeout=TIMEOUT).status_code == 200
                    adapter.close()  # a new tunnel each time, from the shared adapter
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    sent = [(c.params["nonce"], c.params["nc"]) for c in proxy.connects if c.authorization]
    assert len(sent) == len(set(sent)), "a nonce count was sent twice"
    assert proxy.statuses.count(200) == 33


def test_connect_timeout_is_honoured(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("digest",), hang=True)
    with session_for(proxy, certificate) as s:
        # The read of the proxy's reply is bounded by the caller's timeout: it ends
        # in a timeout error (not a hang, and no clock is asserted here).
        with pytest.raises(requests.exceptions.RequestException) as info:
            s.get(origin.url, timeout=0.5)
    assert "timed out" in str(info.value).lower()


def test_an_endless_header_line_is_refused(make_proxy, certificate, origin) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("digest",), header_bomb=200_000)
    with session_for(proxy, certificate) as s:
        with pytest.raises(ProxyError, match="too long"):
            s.get(origin.url, timeout=TIMEOUT)


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
    assert "hunter2-secret" not in repr(adapter._tunnel_auth)
    assert "ChallengeAdapter" in repr(adapter)


def test_httpadapter_arguments_still_work() -> None:
    adapter = ChallengeAdapter(3, 7, 2, True, proxy_auth=("u", "p"))
    assert (adapter._pool_connections, adapter._pool_maxsize, adapter._pool_block) == (3, 7, True)
    assert adapter.max_retries.total == 2
    adapter = ChallengeAdapter(pool_maxsize=5, max_retries=1)
    assert adapter._pool_maxsize == 5 and adapter._tunnel_auth is None


@pytest.mark.parametrize("clone", [lambda a: pickle.loads(pickle.dumps(a)), copy.deepcopy], ids=["pickle", "deepcopy"])
def test_pickle_and_deepcopy_start_with_nothing_remembered(make_proxy, certificate, origin, clone) -> None:  # type: ignore[no-untyped-def]
    proxy = make_proxy(("digest",))
    adapter = ChallengeAdapter(pool_maxsize=4, max_retries=0, proxy_auth=(PROXY_USER, PROXY_PASSWORD), schemes=["digest"])
    with session_for(proxy, certificate, adapter) as s:
        s.get(origin.url, timeout=TIMEOUT)
    assert len(adapter._tunnel_auth.spaces) == 1
    twin = clone(adapter)
    assert isinstance(twin, ChallengeAdapter)
    assert twin._pool_maxsize == 4 and twin._schemes == frozenset({"digest"})
    assert len(twin._tunnel_auth.spaces) == 0 and twin._tunnel_auth is not adapter._tunnel_auth
    with session_for(proxy, certificate, twin) as s:
        assert s.get(origin.url, timeout=TIMEOUT).status_code == 200
    assert proxy.statuses == [407, 200, 407, 200]


def test_only_the_https_pools_of_proxy_managers_change() -> None:
    adapter = ChallengeAdapter(proxy_auth=("u", "p"))
    manager = adapter.proxy_manager_for("http://127.0.0.1:3128")
    assert isinstance(manager, ProxyManager)
    assert manager.pool_classes_by_scheme["http"] is HTTPConnectionPool
    pool = manager.connection_from_url("https://api.example/")
    assert isinstance(pool, HTTPSConnectionPool)
    assert issubclass(pool.ConnectionCls.func, Urllib3HTTPSConnection)
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
