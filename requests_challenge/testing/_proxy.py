"""`ChallengeProxy`: a forward proxy on 127.0.0.1 that demands proxy authentication.

It challenges with 407 and Proxy-Authenticate and judges Proxy-Authorization
(RFC 9110 §11.7.1-2) with the same `Verifier` as `ChallengeServer`, so a
client's proxy dialogue is tested against the same independent checks as its
origin dialogue. Clients reach an origin through it in the two ways HTTP/1.1
has:

- absolute-form, ``GET http://127.0.0.1:8080/x`` (RFC 9112 §3.2.2), as requests
  sends plain-http URLs to a proxy: once the credentials pass, the request goes
  on to the origin without Proxy-Authorization and the other hop-by-hop fields
  (RFC 9110 §7.6.1), and the answer comes back; this runs as a WSGI application
  behind `ChallengeMiddleware`, like any other.
- ``CONNECT host:port`` (RFC 9110 §9.3.6), as urllib3 opens https tunnels:
  407 until the credentials pass, then ``200 Connection established`` and the
  bytes relayed both ways until both sides have closed (or the tunnel idles for
  ``timeout``, or the proxy stops).

Only loopback origins are reached (127.0.0.0/8, ::1, ``localhost``): anything
else is refused with 403 once the credentials pass, so a test never leaves the
machine by mistake. Every exchange is logged in ``proxy.exchanges``: for
CONNECT, ``path`` is the authority and ``authorization`` the Proxy-Authorization.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import json
import re
import select
import socket
import ssl
import threading
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union, cast
from urllib.parse import urlsplit

from ._app import Environ, StartResponse, json_reply, request_target
from ._certificates import SelfSignedCertificate
from ._log import Exchange
from ._middleware import ChallengeMiddleware
from ._offers import Offer
from ._server import ChallengeServer, _Handler
from ._verifier import Outcome, Verifier

__all__ = ["ChallengeProxy", "ON_407"]

ON_407 = ("keep-alive", "close", "drop", "http/1.0")
"""What the proxy does with a connection after its 407 to CONNECT (see `ChallengeProxy`)."""

_CHUNK = 64 * 1024
_VIA = "1.1 requests-challenge"  # RFC 9110 §7.6.3: a proxy adds itself to Via
# RFC 9110 §7.6.1: hop-by-hop fields, for this connection only; and the proxy's own credentials,
# which a proxy consumes (§11.7.2); Expect was answered here already (the body is read).
_HOP_BY_HOP = frozenset({
    "connection", "proxy-connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
    "proxy-authorization", "proxy-authenticate", "expect",
})
# RFC 9112 §3.2.3: authority-form = uri-host ":" port; an IPv6 literal in brackets (RFC 3986 §3.2.2).
_AUTHORITY = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+):(?P<port>[0-9]{1,5})")


def _loopback(host: str) -> bool:
    """Whether ``host`` names this machine: the only origins the proxy reaches."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _connect_target(target: str) -> Optional[Tuple[str, int]]:
    """(host, port) of a CONNECT request-target, or None when it is not authority-form."""
    match = _AUTHORITY.fullmatch(target)
    if match is None or not 0 < int(match["port"]) < 65536:
        return None
    return match["host"].strip("[]"), int(match["port"])


class ChallengeProxy(ChallengeServer):
    """A forward proxy on 127.0.0.1 that challenges with 407 (RFC 9110 §11.7.1).

        with ChallengeProxy(users={"puser": "ppass"}, challenges=[Digest("MD5")]) as proxy:
            session.proxies = {"http": proxy.url, "https": proxy.url}

    ``users``, ``challenges`` and ``**verifier_options`` (``nonce_lifetime``,
    ``strict_nc``, ``one_time_nonces``, ``nextnonce``, ``rspauth``,
    ``shared_nonces``, ``one_header``, ``clock``, ``make_nonce``) make its
    `Verifier`, with the proxy's names; or pass ``verifier=`` one made with
    ``proxy=True``. Accepted CONNECTs get the verifier's
    Proxy-Authentication-Info (``rspauth``, ``nextnonce``) on their 200.

    ``on_407`` is what the proxy does with the connection after a 407 to
    CONNECT, as proxies differ there: ``"keep-alive"`` waits for the next
    request on it (squid); ``"close"`` says ``Connection: close`` and closes;
    ``"drop"`` closes without saying so (an idle timeout that fires as the
    client answers: it must resend on a new connection); ``"http/1.0"``
    answers as an HTTP/1.0 proxy, the body ending with the connection
    (RFC 9112 §6.3). Every 407 carries a short JSON body saying why.

    ``tls=True`` (or a `SelfSignedCertificate`, or ``ssl_context=``) makes an
    https proxy (TLS to the proxy, the tunnel's TLS inside it). ``timeout``
    bounds every socket wait, to the client and to the origin; a tunnel idle
    that long is closed. ``connections`` counts the TCP connections accepted,
    so a test can tell a client that answered a 407 on the same connection from
    one that reconnected.

    ``ChallengeServer(proxy=True)`` only plays a proxy's part in the dialogue
    (407, Proxy-* names) and serves absolute-form requests itself; this one
    forwards them, and tunnels.
    """

    def __init__(
        self,
        users: Optional[Mapping[str, str]] = None,
        challenges: Optional[Sequence[Offer]] = None,
        *,
        on_407: str = "keep-alive",
        port: int = 0,
        tls: Union[bool, SelfSignedCertificate] = False,
        ssl_context: Optional[ssl.SSLContext] = None,
        timeout: float = 10.0,
        max_body: int = 16 * 1024 * 1024,
        max_connections: int = 64,
        on_exchange: Optional[Callable[[Exchange], None]] = None,
        verifier: Optional[Verifier] = None,
        **verifier_options: Any,
    ) -> None:
        if on_407 not in ON_407:
            raise ValueError(f"on_407 must be one of {', '.join(map(repr, ON_407))}, not {on_407!r}")
        if verifier is None:
            verifier = Verifier(users, challenges, proxy=True, **verifier_options)
        elif users is not None or challenges is not None or verifier_options:
            raise TypeError("give a verifier or the options to make one (users, challenges, ...), not both")
        elif not verifier.proxy:
            raise ValueError("the verifier of a proxy must be made with proxy=True (407, Proxy-* headers)")
        self.on_407 = on_407
        self._count_lock = threading.Lock()
        self._connections = 0
        middleware = ChallengeMiddleware(
            _Forwarder(timeout, max_body), verifier=verifier, max_body=max_body, on_exchange=on_exchange
        )
        super().__init__(
            app=middleware, port=port, tls=tls, ssl_context=ssl_context, timeout=timeout, max_body=max_body,
            max_connections=max_connections,
        )

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        with self._count_lock:
            return self._connections

    def _count_connection(self) -> None:
        with self._count_lock:
            self._connections += 1

    def __repr__(self) -> str:
        state = f"url={self.url!r}" if self._httpd else "stopped"
        return f"<ChallengeProxy {state} users={sorted(self.users)!r}>"  # never the passwords


# -- absolute-form: forward to the origin --------------------------------------------


class _Forwarder:
    """The WSGI application behind the proxy's middleware: one request to a loopback
    origin over a fresh connection, its answer relayed as it comes (RFC 9110 §7.6)."""

    def __init__(self, timeout: float, max_body: int) -> None:
        self.timeout = timeout
        self.max_body = max_body

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        target = request_target(environ)
        parts = _absolute_http(target)
        if parts is None:
            return _error(start_response, 400, "a proxy needs an absolute http:// request-target (RFC 9112 §3.2.2)")
        host, port, netloc, path = parts
        if not _loopback(host):
            return _error(start_response, 403, f"this test proxy reaches only loopback origins, not {host}")
        method = environ.get("REQUEST_METHOD", "GET")
        body = _body(environ, self.max_body)
        connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in _request_fields(environ, netloc, method, body):
                connection.putheader(name, value)
            connection.endheaders(body or None)
            response = connection.getresponse()
        except socket.timeout:
            connection.close()
            return _error(start_response, 504, f"the origin {netloc} did not answer in time")
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            return _error(start_response, 502, f"the origin {netloc} failed: {type(exc).__name__}")
        start_response(f"{response.status} {response.reason}", _response_fields(response.getheaders()))
        return _Relayed(response, connection)


def _absolute_http(target: str) -> Optional[Tuple[str, int, str, str]]:
    """(host, port, host[:port], origin-form path) of an absolute http URI, or None."""
    try:
        parts = urlsplit(target)
        port = parts.port or 80
    except ValueError:
        return None
    if parts.scheme.lower() != "http" or not parts.hostname:
        return None
    netloc = parts.netloc.rpartition("@")[2]  # no userinfo in Host (RFC 9110 §4.2.4)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, port, netloc, path


def _body(environ: Environ, limit: int) -> bytes:
    """The request body: the middleware read it (bounded) into a fresh ``wsgi.input``."""
    stream = environ.get("wsgi.input")
    length = str(environ.get("CONTENT_LENGTH") or "0")
    if stream is None or not length.isdigit():
        return b""
    return bytes(stream.read(min(int(length), limit)))


def _request_fields(environ: Environ, netloc: str, method: str, body: bytes) -> List[Tuple[str, str]]:
    """The fields to send on: the end-to-end ones, Host from the target (RFC 9112 §3.2.2), Via."""
    named = {token.strip().lower() for token in environ.get("HTTP_CONNECTION", "").split(",")}
    fields = [("Host", netloc)]
    via = None
    for key, value in environ.items():
        if not key.startswith("HTTP_"):
            continue
        name = key[5:].replace("_", "-").lower()
        if name in ("host", "content-length") or name in _HOP_BY_HOP or name in named:
            continue
        if name == "via":
            via = value
            continue
        fields.append((name.title(), value))
    if environ.get("CONTENT_TYPE"):
        fields.append(("Content-Type", environ["CONTENT_TYPE"]))
    if body or method.upper() in ("POST", "PUT", "PATCH"):
        fields.append(("Content-Length", str(len(body))))  # a chunked body arrives whole: sent with its length
    fields.append(("Via", f"{via}, {_VIA}" if via else _VIA))
    return fields


def _response_fields(headers: Iterable[Tuple[str, str]]) -> List[Tuple[str, str]]:
    """The origin's fields minus the hop-by-hop ones; http.client has undone any chunking."""
    headers = list(headers)
    named = {t.strip().lower() for n, v in headers if n.lower() == "connection" for t in v.split(",")}
    named |= {"server", "date"}  # the proxy's handler sends its own; two of each would read as a list
    fields = [(n, v) for n, v in headers if n.lower() not in _HOP_BY_HOP and n.lower() not in named]
    vias = [v for n, v in fields if n.lower() == "via"]
    fields = [(n, v) for n, v in fields if n.lower() != "via"]
    fields.append(("Via", ", ".join([*vias, _VIA])))
    return fields


class _Relayed:
    """The origin's body, a piece at a time; closing it closes the origin connection."""

    def __init__(self, response: http.client.HTTPResponse, connection: http.client.HTTPConnection) -> None:
        self._response = response
        self._connection = connection

    def __iter__(self) -> Iterator[bytes]:
        # An origin that breaks off raises here: the server then ends the connection
        # without completing the answer, so the client cannot take it for a whole one.
        while True:
            data = self._response.read(_CHUNK)
            if not data:
                return
            yield data

    def close(self) -> None:
        self._response.close()
        self._connection.close()


def _error(start_response: StartResponse, status: int, reason: str) -> List[bytes]:
    return json_reply(start_response, status, {"status": status, "error": reason})


# -- CONNECT: a tunnel -----------------------------------------------------------------


class _ProxyHandler(_Handler):
    """`_Handler` plus CONNECT: judge Proxy-Authorization, then relay bytes."""

    server: Any  # the _HTTPServer of a ChallengeProxy

    def setup(self) -> None:
        self.server.owner._count_connection()
        super().setup()

    def do_CONNECT(self) -> None:
        owner: ChallengeProxy = self.server.owner
        middleware = owner.middleware
        verifier = middleware.verifier
        target = self.path
        values = self.headers.get_all(verifier.names.authorization) or []
        authorization = values[0] if values else None

        def log(status: int, user: Optional[str] = None, reason: str = "") -> None:
            # Logged before the answer, as the origin server does: a client that got it finds it logged.
            middleware.exchanges.append(Exchange("CONNECT", target, authorization, status, user, reason))

        authority = _connect_target(target)
        if authority is None:
            log(400, reason="CONNECT needs host:port (RFC 9112 §3.2.3)")
            self._answer(400, "CONNECT needs host:port (RFC 9112 §3.2.3)")
            return
        verdict = verifier.check("CONNECT", target, values or None)
        if verdict.outcome is Outcome.BAD_REQUEST:
            log(400, reason=verdict.reason)
            self._answer(400, verdict.reason)
            return
        if not verdict.accepted:
            log(verifier.names.status, reason=verdict.reason)
            self._challenge(verifier.challenge_headers(stale=verdict.stale), verdict.reason, owner.on_407)
            return
        host, port = authority
        if not _loopback(host):
            reason = f"this test proxy tunnels only to loopback origins, not {host}"
            log(403, verdict.user, reason)
            self._answer(403, reason)
            return
        try:
            upstream = socket.create_connection((host, port), timeout=owner.timeout)
        except OSError as exc:
            status = 504 if isinstance(exc, socket.timeout) else 502
            reason = f"cannot reach {target}: {type(exc).__name__}"
            log(status, verdict.user, reason)
            self._answer(status, reason)
            return
        self.server.track(upstream, open_=True)  # stop() shuts it too, which ends the relay
        try:
            log(200, verdict.user)
            # RFC 9110 §9.3.6: no Content-Length or Transfer-Encoding in a 2xx to CONNECT.
            self.send_response(200, "Connection established")
            for name, value in verdict.response_headers():
                self.send_header(name, value)
            self.end_headers()
            early = self._buffered()
            if early:
                upstream.sendall(early)
            _relay(self.connection, upstream, owner.timeout)
        except (OSError, ValueError):
            pass  # either side went away: the tunnel is over
        finally:
            self.close_connection = True
            self.server.track(upstream, open_=False)
            _close(upstream)

    # -- answers --------------------------------------------------------------------

    def _answer(self, status: int, reason: str, headers: Sequence[Tuple[str, str]] = (), framed: bool = True) -> None:
        """A short JSON answer that says why; a write to a client that left ends the connection."""
        body = json.dumps({"status": status, "error": reason}, sort_keys=True).encode("utf-8") + b"\n"
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            if framed:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def _challenge(self, challenges: List[Tuple[str, str]], reason: str, on_407: str) -> None:
        """The 407, and the connection after it as ``on_407`` says."""
        if on_407 == "close":
            self._answer(407, reason, [*challenges, ("Connection", "close")])  # send_header closes ours too
        elif on_407 == "http/1.0":
            self.protocol_version = "HTTP/1.0"  # the status line; this connection ends with the body
            self._answer(407, reason, challenges, framed=False)
        else:
            self._answer(407, reason, challenges)
        if on_407 != "keep-alive":
            self.close_connection = True

    def _buffered(self) -> bytes:
        """Octets the client sent after its CONNECT that ``rfile`` already buffered (a client
        that did not wait for the 200): they belong to the tunnel."""
        sock = self.connection
        previous = sock.gettimeout()
        try:
            sock.settimeout(0.0)  # peek must not wait for more than what is buffered
            rfile = cast(io.BufferedReader, self.rfile)  # StreamRequestHandler's, buffered (rbufsize -1)
            return bytes(rfile.read1(_CHUNK)) if rfile.peek(1) else b""
        except (OSError, ValueError):
            return b""  # nothing buffered (a non-blocking read found nothing)
        finally:
            sock.settimeout(previous)


def _relay(client: socket.socket, upstream: socket.socket, idle_timeout: float) -> None:
    """Copy octets both ways, in this one thread (an SSLSocket must not be read and written
    from two threads), until both sides have closed; a side's end is passed on as a
    half-close where TCP allows it. Every wait is bounded by ``idle_timeout``."""
    peer = {client: upstream, upstream: client}
    reading = [client, upstream]
    while reading:
        ready: List[socket.socket] = [s for s in reading if isinstance(s, ssl.SSLSocket) and s.pending()]
        if not ready:
            ready = select.select(reading, [], [], idle_timeout)[0]
            if not ready:
                return  # idle for a whole timeout
        for source in ready:
            data = source.recv(_CHUNK)
            if not data:
                reading.remove(source)
                if not _half_close(peer[source]):
                    return
                continue
            peer[source].sendall(data)


def _half_close(sock: socket.socket) -> bool:
    """Pass an end on (SHUT_WR), keeping the other direction open; False where that is
    not possible (TLS to the client has no half-close that keeps reading) or failed."""
    if isinstance(sock, ssl.SSLSocket):
        return False
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        return False
    return True


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


ChallengeProxy._handler_class = _ProxyHandler
