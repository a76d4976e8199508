"""ChallengeAdapter under urllib3 retry policies: refused proxy credentials are not resent.

`ConnectProxy` is a small CONNECT proxy on 127.0.0.1 written for this file (the
one in test_tunnel.py imports the adapter's private names, which this file must
not depend on). It checks Digest and Basic with its own code (hashlib, base64),
records every CONNECT, and relays an accepted tunnel to a TLS origin
(requests_challenge.testing.ChallengeServer with a certificate made by
self_signed_certificate; the client verifies it).

Safety valve: after ``cap`` CONNECTs the proxy stops listening, so a client that
retries without end meets "connection refused" (which urllib3 counts as a connect
error, bounded by every policy below) instead of looping until RecursionError.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import select
import socket
import threading
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Set, Tuple

import pytest
import requests
from urllib3.util.retry import Retry

from requests_challenge import ChallengeAdapter, ProxyAuthenticationError
from requests_challenge.testing import ChallengeServer, SelfSignedCertificate, self_signed_certificate

HOST = "127.0.0.1"
PROXY_USER, PROXY_PASSWORD = "puser", "ppass"
REALM = "retry proxy"
TIMEOUT = 10.0

RETRY_POLICIES = [
    pytest.param(lambda: 3, id="max_retries=3"),
    pytest.param(lambda: Retry(connect=3), id="Retry(connect=3)"),
    pytest.param(lambda: Retry(total=None, connect=2), id="Retry(total=None,connect=2)"),
]


@dataclass(frozen=True)
class Connect:
    """One CONNECT as the proxy saw it."""

    target: str
    authorization: Optional[str]
    status: int


_PARAM = re.compile(r'\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


def _params(text: str) -> Dict[str, str]:
    params = {}
    for match in _PARAM.finditer(text):
        quoted, bare = match.group(2), match.group(3)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
    return params


class ConnectProxy:
    """A CONNECT proxy demanding ``scheme`` ("digest" MD5 qop=auth, or "basic")."""

    def __init__(self, scheme: str = "digest", *, cap: int = 30) -> None:
        self.scheme = scheme
        self.users = {PROXY_USER: PROXY_PASSWORD}
        self.cap = cap
        self.connects: List[Connect] = []
        self.connections = 0
        self.lock = threading.Lock()
        self.nonces: Dict[str, Set[int]] = {}  # nonce -> nc values accepted
        self.stopping = threading.Event()
        self.capped = threading.Event()
        self.threads: List[threading.Thread] = []
        self.sockets: Set[socket.socket] = set()
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(0.05)  # so the accept loop sees stop() and the cap
        self.port = self.listener.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self.acceptor = threading.Thread(target=self._accept_loop, name=f"ConnectProxy:{self.port}", daemon=True)
        self.acceptor.start()

    # -- life cycle -------------------------------------------------------------------

    def _accept_loop(self) -> None:
        try:
            while not (self.stopping.is_set() or self.capped.is_set()):
                try:
                    sock, _ = self.listener.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                with self.lock:
                    self.connections += 1
                    self.sockets.add(sock)
                thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
                self.threads.append(thread)
                thread.start()
        finally:
            self.listener.close()  # past the cap: connection refused from now on

    def stop(self) -> None:
        self.stopping.set()
        self.acceptor.join(TIMEOUT)
        with self.lock:
            sockets = list(self.sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self.threads:
            thread.join(TIMEOUT)

    @property
    def statuses(self) -> List[int]:
        return [c.status for c in self.connects]

    @property
    def with_credentials(self) -> List[Connect]:
        return [c for c in self.connects if c.authorization is not None]

    # -- one connection -----------------------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(TIMEOUT)
        buffer = bytearray()
        try:
            while not self.stopping.is_set():
                head = self._read_head(sock, buffer)
                if head is None:
                    return
                request_line, headers = head
                method, target, _ = request_line.split(" ", 2)
                if method != "CONNECT":
                    sock.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                    return
                authorization = headers.get("proxy-authorization")
                accepted = self._check(target, authorization)
                with self.lock:
                    self.connects.append(Connect(target, authorization, 200 if accepted else 407))
                    if len(self.connects) >= self.cap:
                        self.capped.set()
                if accepted:
                    sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    self._relay(sock, bytes(buffer), target)
                    return
                challenge = self._challenge()
                sock.sendall(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b"Proxy-Authenticate: " + challenge.encode("latin-1") + b"\r\nContent-Length: 0\r\n\r\n"
                )
        except OSError:
            return
        finally:
            with self.lock:
                self.sockets.discard(sock)
            sock.close()

    @staticmethod
    def _read_head(sock: socket.socket, buffer: bytearray) -> Optional[Tuple[str, Dict[str, str]]]:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buffer += chunk
            if len(buffer) > 1 << 20:
                return None
        end = buffer.index(b"\r\n\r\n")
        lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
        del buffer[: end + 4]
        headers: Dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return lines[0], headers

    def _challenge(self) -> str:
        if self.scheme == "basic":
            return f'Basic realm="{REALM}"'
        nonce = secrets.token_hex(16)
        with self.lock:
            self.nonces[nonce] = set()
        return f'Digest realm="{REALM}", nonce="{nonce}", qop="auth", algorithm=MD5'

    def _check(self, target: str, authorization: Optional[str]) -> bool:
        if authorization is None:
            return False
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() != self.scheme:
            return False
        if self.scheme == "basic":
            user, _, password = base64.b64decode(rest).decode("utf-8").partition(":")
            return self.users.get(user) == password
        p = _params(rest)
        password = self.users.get(p.get("username", ""))
        if password is None or p.get("realm") != REALM or p.get("uri") != target:
            return False

        def md5(text: str) -> str:
            return hashlib.md5(text.encode("utf-8")).hexdigest()

        ha1 = md5(f"{p['username']}:{REALM}:{password}")
        ha2 = md5(f"CONNECT:{p['uri']}")
        expected = md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:{p['qop']}:{ha2}")
        if not secrets.compare_digest(expected, p.get("response", "")):
            return False
        with self.lock:
            counts = self.nonces.get(p["nonce"])
            if counts is None or int(p["nc"], 16) in counts:
                return False
            counts.add(int(p["nc"], 16))
        return True

    def _relay(self, client: socket.socket, early: bytes, target: str) -> None:
        host, _, port = target.rpartition(":")
        with socket.create_connection((host.strip("[]"), int(port)), timeout=TIMEOUT) as upstream:
            if early:
                upstream.sendall(early)
            peers = {client: upstream, upstream: client}
            while not self.stopping.is_set():
                readable = select.select(list(peers), [], [], 0.2)[0]
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    peers[source].sendall(data)


@pytest.fixture
def make_proxy() -> Iterator:
    proxies: List[ConnectProxy] = []

    def make(*args: object, **kwargs: object) -> ConnectProxy:
        proxy = ConnectProxy(*args, **kwargs)  # type: ignore[arg-type]
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCertificate:
    try:
        return self_signed_certificate(tmp_path_factory.mktemp("tls"))
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def origin(certificate: SelfSignedCertificate) -> Iterator[ChallengeServer]:
    with ChallengeServer(protected=(), ssl_context=certificate.server_context()) as server:
        yield server


def session_through(proxy: ConnectProxy, adapter: ChallengeAdapter, verify: object = True) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.mount("https://", adapter)
    session.proxies = {"https": proxy.url}
    session.verify = verify
    return session


# -- item 7 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["digest", "basic"])
@pytest.mark.parametrize("retries", RETRY_POLICIES)
def test_refused_proxy_credentials_are_not_resent_by_urllib3_retries(make_proxy, scheme, retries) -> None:  # type: ignore[no-untyped-def]
    """Item 7. A proxy that refused our credentials gets them no more, whatever the
    retry policy: bare CONNECT -> 407 -> CONNECT with credentials -> 407 -> give up
    with ProxyAuthenticationError (not a RecursionError). At most ONE CONNECT in the
    whole call carries Proxy-Authorization, for a fresh adapter."""
    proxy = make_proxy(scheme)
    adapter = ChallengeAdapter(proxy_auth=(PROXY_USER, "wrong-password"), max_retries=retries())
    error: Optional[BaseException] = None
    with session_through(proxy, adapter) as session:
        try:
            # The origin is never reached: the proxy refuses before any tunnel opens.
            session.get("https://origin.test/", timeout=TIMEOUT)
        except Exception as exc:  # RecursionError included; judged below, after the count
            error = exc
    sent = proxy.with_credentials
    assert len(sent) <= 1, (
        f"{len(sent)} CONNECTs carried refused proxy credentials (statuses {proxy.statuses},"
        f" capped={proxy.capped.is_set()}, ended with {error!r})"
    )
    assert all(c.status == 407 for c in proxy.connects)
    assert isinstance(error, ProxyAuthenticationError), repr(error)
    assert "wrong-password" not in str(error)


@pytest.mark.parametrize("scheme", ["digest", "basic"])
@pytest.mark.parametrize("retries", RETRY_POLICIES)
def test_right_password_opens_the_tunnel_under_any_retry_policy(make_proxy, certificate, origin, scheme, retries) -> None:  # type: ignore[no-untyped-def]
    """Item 7, control. With the right password the same policies open the tunnel:
    one bare CONNECT, its 407 answered once, 200; the TLS origin answers through it."""
    proxy = make_proxy(scheme)
    adapter = ChallengeAdapter(proxy_auth=(PROXY_USER, PROXY_PASSWORD), max_retries=retries())
    with session_through(proxy, adapter, verify=certificate.cert) as session:
        r = session.get(origin.url + "/through", timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["path"] == "/through"
    assert proxy.statuses == [407, 200]
    assert [c.authorization is not None for c in proxy.connects] == [False, True]
    assert proxy.connects[1].target == f"{HOST}:{origin.port}"
