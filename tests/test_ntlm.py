"""NTLM with a connection-bound acceptor: pyspnego's own NTLM server (not our code)
checking real NTLMv2 messages against a users file, one handshake per connection."""

from __future__ import annotations

import base64
import select
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator, List, Optional, Tuple

import pytest
import requests

spnego = pytest.importorskip("spnego", reason="the [negotiate] extra (pyspnego)")

from requests_challenge import ChallengeAuth  # noqa: E402

TIMEOUT = 10
DOMAIN, USER, PASSWORD = "EXAMPLE", "bob", "ntlm-Pässword"


class NTLMServer:
    """401 NTLM; the handshake's three messages must share one connection, as IIS requires."""

    def __init__(self, offers: Tuple[str, ...] = ("NTLM",), proxy: bool = False) -> None:
        self.offers = offers
        status_code, challenge_name, credentials_name = (407, "Proxy-Authenticate", "Proxy-Authorization") if proxy else (
            401, "WWW-Authenticate", "Authorization")
        self.log: List[Tuple[int, str, Optional[str]]] = []  # status, path, NTLM token's first octets or scheme
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            context = None
            user: Optional[str] = None

            def log_message(self, format: str, *args: object) -> None:
                pass

            note: Optional[str] = None

            def record(self, status: int) -> None:
                """Before the reply goes out: the client may be done before we return."""
                with owner.lock:
                    owner.log.append((status, self.path, self.note))

            def reply(self, status: int, headers: List[Tuple[str, str]], body: bytes = b"") -> None:
                self.record(status)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length) if length else b""
                value = self.headers.get(credentials_name, "")
                scheme, _, token = value.partition(" ")
                raw = base64.b64decode(token) if scheme.upper() == "NTLM" and token else b""
                self.note = raw[:8].decode("latin-1") if raw else scheme or None
                self.answer(scheme, raw, body)

            def answer(self, scheme: str, raw: bytes, body: bytes) -> int:
                if self.user is not None and not scheme:
                    self.reply(200, [], f"{self.user} {len(body)}".encode())  # connection already authenticated
                    return 200
                if scheme.upper() != "NTLM" or not raw:
                    self.reply(status_code, [(challenge_name, offer) for offer in owner.offers])
                    return status_code
                if raw[8:12] == b"\x01\x00\x00\x00":  # NEGOTIATE_MESSAGE: a new handshake on this connection
                    self.context = spnego.server(protocol="ntlm")
                if self.context is None:
                    self.reply(status_code, [(challenge_name, "NTLM")])
                    return status_code
                try:
                    out = self.context.step(raw)
                except Exception:
                    self.context = None
                    self.reply(status_code, [(challenge_name, "NTLM")])
                    return status_code
                if out:
                    self.reply(status_code, [(challenge_name, "NTLM " + base64.b64encode(out).decode())])
                    return status_code
                self.user = str(self.context.client_principal)
                if self.command == "CONNECT":
                    self.record(200)
                    self.send_response(200)
                    self.end_headers()
                    self.relay()
                    return 200
                self.reply(200, [], f"{self.user} {len(body)}".encode())
                return 200

            def relay(self) -> None:
                host, _, port = self.path.rpartition(":")
                with socket.create_connection((host, int(port)), timeout=TIMEOUT) as upstream:
                    peers = {self.connection: upstream, upstream: self.connection}
                    for _ in range(10_000):  # bounded: a few exchanges per test
                        readable = select.select(list(peers), [], [], TIMEOUT)[0]
                        if not readable:
                            return
                        for source in readable:
                            data = source.recv(65536)
                            if not data:
                                return
                            peers[source].sendall(data)

            do_GET = do_POST = do_CONNECT = handle_any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "NTLMServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(autouse=True)
def users_file(tmp_path, monkeypatch) -> Iterator[None]:
    path = tmp_path / "ntlm-users"
    path.write_text(f"{DOMAIN}:{USER}:{PASSWORD}\n", encoding="utf-8")
    monkeypatch.setenv("NTLM_USER_FILE", str(path))
    yield


@pytest.mark.parametrize("username", [f"{DOMAIN}\\{USER}", f"{USER}@{DOMAIN}"])
def test_ntlm_user_names_authenticate(username: str) -> None:
    with NTLMServer() as server:
        r = requests.get(server.url + "/x", auth=ChallengeAuth(username, PASSWORD), timeout=TIMEOUT)
        assert r.status_code == 200 and r.text.startswith(f"{DOMAIN}\\{USER}")
        assert [status for status, _, _ in server.log] == [401, 401, 200]
        assert [token for _, _, token in server.log] == [None, "NTLMSSP\0", "NTLMSSP\0"]


def test_ntlm_is_preferred_to_digest_md5_and_basic_but_not_to_digest_sha256() -> None:
    with NTLMServer(("Basic realm=\"r\"", 'Digest realm="r", nonce="n", algorithm=MD5', "NTLM")) as server:
        assert requests.get(server.url, auth=ChallengeAuth(f"{DOMAIN}\\{USER}", PASSWORD), timeout=TIMEOUT).ok
    with NTLMServer(('Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"', "NTLM")) as server:
        r = requests.get(server.url, auth=ChallengeAuth(f"{DOMAIN}\\{USER}", PASSWORD), timeout=TIMEOUT)
        assert r.status_code == 401  # it answered Digest SHA-256, which this server does not check
        assert server.log[1][2] == "Digest"


def test_a_wrong_password_returns_the_final_401_after_a_bounded_number_of_exchanges() -> None:
    with NTLMServer() as server:
        r = requests.get(server.url, auth=ChallengeAuth(f"{DOMAIN}\\{USER}", "wrong"), timeout=TIMEOUT)
        assert r.status_code == 401
        assert len(server.log) <= 5


def test_threads_sharing_one_session_never_interleave_legs() -> None:
    """8 threads x 10 requests on one Session against a connection-bound acceptor: 80/80."""
    statuses: List[int] = []
    lock = threading.Lock()
    with NTLMServer() as server, requests.Session() as session:
        session.auth = ChallengeAuth(f"{DOMAIN}\\{USER}", PASSWORD)
        # Fewer pooled connections than threads: the Session's connections pass from
        # thread to thread between legs, as they do in a busy client.
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=2))
        barrier = threading.Barrier(8)

        def work() -> None:
            barrier.wait(timeout=TIMEOUT)
            for index in range(10):
                status = session.get(f"{server.url}/t/{index}", timeout=TIMEOUT).status_code
                with lock:
                    statuses.append(status)

        workers = [threading.Thread(target=work) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
    assert Counter(statuses) == {200: 80}


def test_a_post_body_arrives_whole_through_the_handshake() -> None:
    body = bytes(range(256)) * 192  # 48 KiB
    with NTLMServer() as server:
        r = requests.post(server.url + "/upload", data=body, auth=ChallengeAuth(f"{DOMAIN}\\{USER}", PASSWORD),
                          timeout=TIMEOUT)
        assert r.status_code == 200 and r.text.endswith(f" {len(body)}")


def test_ntlm_not_in_schemes_is_never_used() -> None:
    with NTLMServer(("NTLM", 'Basic realm="r"')) as server:
        r = requests.get(server.url, auth=ChallengeAuth(f"{DOMAIN}\\{USER}", PASSWORD, schemes=("digest",)),
                         timeout=TIMEOUT)
        assert r.status_code == 401 and [token for _, _, token in server.log] == [None]


def test_no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    with caplog.at_level(logging.DEBUG, logger="requests_challenge"), NTLMServer() as server:
        requests.get(server.url, auth=ChallengeAuth(f"{DOMAIN}\\{USER}", PASSWORD), timeout=TIMEOUT)
    assert PASSWORD not in caplog.text and "TlRMTVNT" not in caplog.text  # no token either


def test_a_plain_http_proxy_answering_407_with_ntlm() -> None:
    with NTLMServer(proxy=True) as proxy:
        auth = ChallengeAuth("u", "p", proxy_auth=(f"{DOMAIN}\\{USER}", PASSWORD))
        r = requests.get("http://origin.test/x", auth=auth, proxies={"http": proxy.url}, timeout=TIMEOUT)
        assert r.status_code == 200 and r.text.startswith(f"{DOMAIN}\\{USER}")
        assert [status for status, _, _ in proxy.log] == [407, 407, 200]


def test_connect_through_an_ntlm_proxy(tmp_path) -> None:
    from requests_challenge import ChallengeAdapter
    from requests_challenge.testing import ChallengeServer, self_signed_certificate

    certificate = self_signed_certificate(tmp_path)
    with ChallengeServer(protected=(), ssl_context=certificate.server_context()) as origin, \
            NTLMServer(proxy=True) as proxy, requests.Session() as session:
        session.trust_env = False
        session.mount("https://", ChallengeAdapter(proxy_auth=(f"{DOMAIN}\\{USER}", PASSWORD)))
        session.proxies = {"https": proxy.url}
        session.verify = certificate.cert
        r = session.get(origin.url + "/through", timeout=TIMEOUT)
        assert r.status_code == 200 and r.json()["path"] == "/through"
    assert [status for status, _, _ in proxy.log] == [407, 407, 200]


def test_connect_with_a_wrong_ntlm_password_names_the_scheme(tmp_path) -> None:
    from requests_challenge import ChallengeAdapter, ProxyAuthenticationError

    with NTLMServer(proxy=True) as proxy, requests.Session() as session:
        session.mount("https://", ChallengeAdapter(proxy_auth=(f"{DOMAIN}\\{USER}", "wrong")))
        session.proxies = {"https": proxy.url}
        with pytest.raises(ProxyAuthenticationError, match="NTLM") as info:
            session.get("https://origin.test/", timeout=TIMEOUT)
    assert "wrong" not in str(info.value) and len(proxy.log) <= 5


def test_a_connection_that_has_authenticated_is_not_handshaken_again() -> None:
    """10 requests in one Session: one handshake (3 exchanges), then each request's 401
    is retried bare on the authenticated connection (2 exchanges), not handshaken anew."""
    with NTLMServer() as server, requests.Session() as session:
        session.auth = ChallengeAuth(f"{DOMAIN}\\{USER}", PASSWORD)
        for index in range(10):
            r = session.get(f"{server.url}/n/{index}", timeout=TIMEOUT)
            assert r.status_code == 200 and r.text.startswith(f"{DOMAIN}\\{USER}")
        negotiate_messages = [note for _, _, note in server.log if note == "NTLMSSP\0"]
        assert len(negotiate_messages) == 2  # one NEGOTIATE and one AUTHENTICATE message, once
        assert len(server.log) == 3 + 9 * 2


def test_a_closed_authenticated_connection_is_handshaken_anew() -> None:
    """The server closed the authenticated connection: the bare retry meets a 401 on a
    new connection, which is then handshaken."""
    with NTLMServer() as server, requests.Session() as session:
        session.auth = ChallengeAuth(f"{DOMAIN}\\{USER}", PASSWORD)
        assert session.get(server.url + "/a", timeout=TIMEOUT).status_code == 200
        for adapter in session.auth._bound._idle.get(next(iter(session.auth._bound._idle)), []):  # type: ignore[union-attr]
            adapter.close()  # as if the server had closed the connection
        assert session.get(server.url + "/b", timeout=TIMEOUT).status_code == 200


class SpnegoServer(NTLMServer):
    """Negotiate (SPNEGO with NTLM inside, pyspnego's acceptor), connection-bound."""

    def __init__(self) -> None:
        super().__init__(("Negotiate",))
        handler = self.httpd.RequestHandlerClass

        def answer(self, scheme: str, raw: bytes, body: bytes) -> int:  # type: ignore[no-untyped-def]
            value = self.headers.get("Authorization", "")
            token = base64.b64decode(value.partition(" ")[2]) if value.startswith("Negotiate ") else b""
            if not token:
                self.reply(401, [("WWW-Authenticate", "Negotiate")])
                return 401
            if self.context is None or self.context.complete:
                self.context = spnego.server(protocol="negotiate")
            out = self.context.step(token)
            if not self.context.complete:
                self.reply(401, [("WWW-Authenticate", "Negotiate " + base64.b64encode(out or b"").decode())])
                return 401
            final = [("WWW-Authenticate", "Negotiate " + base64.b64encode(out).decode())] if out else []
            self.reply(200, final, b"ok")
            return 200

        handler.answer = answer  # type: ignore[attr-defined]


def test_ntlm_inside_spnego_shares_one_connection() -> None:
    """Negotiate whose SPNEGO carries NTLM (no Kerberos here): its legs are pinned too.
    (Mutual authentication with Kerberos: tests/integration/negotiate/test_epa.py.)"""
    with SpnegoServer() as server:
        auth = ChallengeAuth(f"{DOMAIN}\\{USER}", PASSWORD, schemes=("negotiate", "ntlm"))
        assert requests.get(server.url, auth=auth, timeout=TIMEOUT).status_code == 200
        assert [status for status, _, _ in server.log] == [401, 401, 200]
