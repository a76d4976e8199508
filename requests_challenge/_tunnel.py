"""ChallengeAdapter: answer a proxy's 407 to CONNECT, for https URLs behind a proxy.

For an https URL, requests (through urllib3) asks the proxy for a tunnel with
``CONNECT host:port``; a 407 to that request never reaches a response hook, so
no `requests.auth.AuthBase` can answer it (psf/requests#6025, urllib3#3488).
This module replaces the CONNECT exchange itself. The dialogue of one tunnel,
read top to bottom in `_TunnelAuth.open_tunnel`:

    CONNECT (with Proxy-Authorization up front when this proxy's space is known)
    407 -> parse Proxy-Authenticate -> answer the strongest -> CONNECT again,
           on the same socket when the proxy kept it open, else on a new one
    407 again -> answer once more only if the nonce was stale, or the refused
           credentials were sent up front (proxies rotate nonces silently)
    2xx -> remember the proxy's protection space; read Proxy-Authentication-Info

At most two CONNECTs carry credentials; the Digest ``uri`` is the CONNECT
request-target, ``host:port`` (RFC 9110 §9.3.6, RFC 7616 §3.4). Credentials go
only into CONNECT, so they never reach the origin, and the origin's own 401s
are left to `ChallengeAuth` inside the tunnel. Plain-HTTP URLs through a proxy
are not tunnelled; there ``ChallengeAuth(proxy_auth=...)`` answers the 407.

Internals this module leans on (it is the only one in the package that does;
each is read or overridden here and nowhere else):

- ``http.client.HTTPConnection._tunnel()``: overridden with our own CONNECT
  exchange (the stdlib one raises on any non-200 and changed in Python 3.12:
  HTTP/1.1, ``Host``, ``_raw_proxy_headers``); we never call it for our pools.
- ``HTTPConnection._tunnel_host``, ``_tunnel_port``, ``_tunnel_headers``: read,
  as ``set_tunnel()`` stores them (``_tunnel_headers`` may be the pool's own
  dict on Python 3.9-3.11: never modified). ``_raw_proxy_headers`` (3.12+):
  set on success so ``get_proxy_response_headers()`` keeps working.
- ``HTTPConnection.sock``: the socket to the proxy that ``_tunnel`` talks on.
- ``urllib3.connection.HTTPSConnection.connect()``: wrapped. In 1.26.x and 2.x
  it opens the socket (``_new_conn()``, then ``_connect_tls_proxy()`` for an
  https proxy), calls ``_tunnel()``, then wraps *its local variable* in TLS, so a
  fresh socket for a proxy that closed the connection after its 407 needs a
  whole new ``connect()``: `_tunnel` raises `_Reconnect` and the wrapper loops.
- ``urllib3.connection.HTTPConnection.close()``: called before raising, as the
  stdlib ``_tunnel`` does; in 2.x it resets ``has_connected_to_proxy``, which is
  what makes ``urlopen`` report the error as ``urllib3.exceptions.ProxyError``
  (1.26.x wraps any ``OSError`` when a proxy is set).
- ``HTTPConnection.proxy`` (urllib3's ``Url`` of the proxy, passed by the pool in
  ``conn_kw``) and ``host``/``port`` (the proxy's address on a tunnelling
  connection): the key of the proxy's protection space.
- ``urllib3.connectionpool.HTTPSConnectionPool.ConnectionCls``: set per pool to
  our connection class (a subclass of whatever class the pool had).
- ``urllib3.poolmanager.ProxyManager.pool_classes_by_scheme``: its ``"https"``
  entry replaced on the managers this adapter creates, with a pool factory.
- ``requests.adapters.HTTPAdapter.proxy_manager_for()``, ``__attrs__``,
  ``__setstate__()`` and ``send()``; ``MaxRetryError.reason`` and urllib3's
  ``ProxyError.original_error`` (read to give the failure a clear message).

Tested with urllib3 1.26.20, 2.6.3, 2.7.0 and 2.8.0 and requests 2.25.1, 2.32.5
and 2.34.2, on CPython 3.9.18, 3.10.13, 3.11.7, 3.12.1 and 3.13.0 (each with its
own ``http.client``), against squid 5.7 (Debian); ``.ci/urllib3-matrix.sh`` reruns
the unit tests on the oldest and newest urllib3. urllib3 outside ``>=1.26,<3``
is refused when the adapter is built.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any, Dict, FrozenSet, Iterable, List, NoReturn, Optional, Tuple

import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection as _Urllib3HTTPSConnection
from urllib3.poolmanager import ProxyManager

from ._auth import hold_for_first_contact
from ._dialogue import PROXY, Dialogue, GiveUp, Reply, RequestTarget, Send
from ._errors import ProxyAuthenticationError
from ._ranking import allowed_schemes
from ._schemes import Credentials
from ._spaces import ProtectionSpaces

__all__ = ["ChallengeAdapter", "ProxyAuthenticationError"]

log = logging.getLogger("requests_challenge")

_MAX_LINE = 65536  # octets in the status line or one header line (http.client's _MAXLINE)
_MAX_HEADERS = 100  # header lines in one reply (http.client's _MAXHEADERS)
_MAX_DISCARD = 1 << 20  # a 407 body longer than this is not read: the socket is replaced
_MAX_INTERIM = 4  # 1xx replies skipped before the real one
_MAX_AUTHENTICATED = 2  # CONNECTs carrying credentials, per tunnel
_MAX_CONNECTS = 4  # CONNECTs per tunnel: 1 bare + 2 with credentials + 1 resent on a new socket
_SUPPORTED_URLLIB3 = ((1, 26), (3, 0))  # [low, high)


class _TunnelFailure(OSError):
    """The tunnel failed for another reason than authentication: urllib3 wraps it in its
    ProxyError and retries as its policy says, as for http.client's own failures."""


class _TunnelRefused(Exception):
    """The proxy refused our credentials, or offered nothing we can answer.

    Deliberately not an ``OSError``: urllib3 retries those, which would resend
    refused credentials once per retry. It passes through urllib3 and requests
    untouched, and `ChallengeAdapter.send` turns it into `ProxyAuthenticationError`.
    """


class _Reconnect(Exception):
    """The proxy closed (or must close) the socket: redo ``connect()`` for the next CONNECT."""


class _ProxyClosed(Exception):
    """The proxy closed the socket before sending a status line."""


def _authority(host: str, port: int) -> str:
    """``host:port`` for CONNECT: IPv6 literals in brackets, IDNA for non-ASCII names."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    elif not host.isascii():
        host = host.encode("idna").decode("ascii")
    return f"{host}:{port}"


# -- reading the proxy's reply ----------------------------------------------------


class _Reader:
    """A bounded line and body reader on the proxy socket.

    It reads with ``recv`` into its own buffer rather than a buffered file, so
    it can tell whether the proxy sent anything beyond the reply it read.
    """

    __slots__ = ("sock", "buffer", "scanned")

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.scanned = 0  # the buffer holds no b"\n" before this index

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buffer += data
        return True

    def readline(self) -> bytes:
        """One line with its ending, or what is left before EOF (b"" at EOF)."""
        while True:
            end = self.buffer.find(b"\n", self.scanned)
            if end >= 0:
                line = bytes(self.buffer[: end + 1])
                del self.buffer[: end + 1]
                self.scanned = 0
                if len(line) > _MAX_LINE:
                    raise _TunnelFailure("the proxy sent a header line that is too long")
                return line
            self.scanned = len(self.buffer)
            if self.scanned > _MAX_LINE:
                raise _TunnelFailure("the proxy sent a header line that is too long")
            if not self._fill():
                line = bytes(self.buffer)
                self.buffer.clear()
                self.scanned = 0
                return line

    def discard(self, length: int) -> bool:
        """Skip ``length`` body octets; False when the proxy closed first."""
        while len(self.buffer) < length:
            length -= len(self.buffer)
            self.buffer.clear()
            if not self._fill():
                return False
        del self.buffer[:length]
        self.scanned = 0
        return True

    @property
    def pending(self) -> int:
        return len(self.buffer)


class _Reply:
    """A proxy's reply to CONNECT: status line and header fields, without the body."""

    __slots__ = ("version", "status", "reason", "fields", "raw")

    def __init__(self, version: str, status: int, reason: str) -> None:
        self.version = version
        self.status = status
        self.reason = reason
        self.fields: List[Tuple[str, str]] = []  # (lower-case name, value), in order
        self.raw: List[bytes] = []  # the header lines as received

    def get_all(self, name: str) -> List[str]:
        return [value for field, value in self.fields if field == name]

    def tokens(self, *names: str) -> FrozenSet[str]:
        return frozenset(
            token.strip().lower() for name in names for value in self.get_all(name) for token in value.split(",")
        )

    def body_length(self) -> Optional[int]:
        """Octets of body to skip before the next reply, or None when unknown or too many."""
        if self.get_all("transfer-encoding"):
            return None  # chunked or worse: not worth decoding a 407 page; use a new socket
        lengths = {value.strip() for value in self.get_all("content-length")}
        if not lengths:
            return None  # delimited by the close (RFC 9112 §6.3)
        if len(lengths) != 1:
            return None
        (length,) = lengths
        if not length.isdigit() or int(length) > _MAX_DISCARD:
            return None
        return int(length)

    def keeps_alive(self) -> bool:
        connection = self.tokens("connection", "proxy-connection")
        if "close" in connection:
            return False
        return self.version == "HTTP/1.1" or "keep-alive" in connection


_STATUS_LINE = re.compile(r"(HTTP/\d\.\d) ([0-9]{3})(?: (.*))?")


def _read_reply(reader: _Reader) -> _Reply:
    """Status line and header fields of the next final reply (RFC 9112 §4, §5)."""
    for _ in range(_MAX_INTERIM + 1):
        line = reader.readline()
        if not line:
            raise _ProxyClosed()
        match = _STATUS_LINE.fullmatch(line.rstrip(b"\r\n").decode("latin-1"))
        if match is None:
            raise _TunnelFailure(
                f"the proxy did not answer CONNECT with an HTTP status line: {line[:80]!r}"
            )
        reply = _Reply(match.group(1), int(match.group(2)), (match.group(3) or "").strip())
        _read_fields(reader, reply)
        if not 100 <= reply.status < 200:
            return reply
        if reply.status == 101:
            break
    raise _TunnelFailure(f"the proxy answered CONNECT with {reply.status}")


def _read_fields(reader: _Reader, reply: _Reply) -> None:
    while True:
        line = reader.readline()
        if line in (b"\r\n", b"\n"):
            return
        if not line.endswith(b"\n"):
            raise _TunnelFailure("the proxy closed the connection inside its reply headers")
        if len(reply.raw) >= _MAX_HEADERS:
            raise _TunnelFailure(f"the proxy sent more than {_MAX_HEADERS} header lines")
        reply.raw.append(line)
        text = line.rstrip(b"\r\n").decode("latin-1")
        if text[:1] in (" ", "\t") and reply.fields:
            # obs-fold (RFC 9112 §5.2): a continuation of the previous field value.
            name, value = reply.fields[-1]
            reply.fields[-1] = (name, f"{value} {text.strip()}")
            continue
        name, colon, value = text.partition(":")
        if not colon or not name or name != name.strip():
            raise _TunnelFailure(f"the proxy sent a malformed header line {line[:80]!r}")
        reply.fields.append((name.lower(), value.strip(" \t")))


# -- the CONNECT dialogue ------------------------------------------------------------


class _Round:
    """One tunnel's dialogue, carried across the sockets one ``connect()`` may need."""

    __slots__ = ("dialogue", "header", "connects", "resent")

    def __init__(self) -> None:
        self.dialogue: Optional[Dialogue] = None  # made when the tunnel's target is known
        self.header: Optional[str] = None  # Proxy-Authorization for the next CONNECT
        self.connects = 0
        self.resent = False  # a CONNECT was already resent after a silent close


class _TunnelAuth:
    """An adapter's proxy credentials and the proxies' protection spaces (one lock, in them)."""

    def __init__(self, credentials: Credentials, schemes: FrozenSet[str]) -> None:
        self.credentials = credentials
        self.schemes = schemes
        # One space per proxy and realm (origin = the proxy's scheme, host and port; prefix "/").
        self.spaces = ProtectionSpaces()

    def __repr__(self) -> str:
        return f"<_TunnelAuth username={self.credentials.username!r} password=…>"

    def dialogue(self, target: str, proxy: str) -> Dialogue:
        """The dialogue of one CONNECT: Digest's ``uri`` is its request-target, ``host:port``
        (RFC 9110 §9.3.6, RFC 7616 §3.4)."""
        return Dialogue(PROXY, self.credentials, RequestTarget("CONNECT", target, proxy), self.spaces, schemes=self.schemes)

    # -- one tunnel ---------------------------------------------------------------

    def open_tunnel(self, conn: Any, round_: _Round) -> None:
        """Run the CONNECT dialogue on ``conn.sock``; return with the tunnel open."""
        target = _authority(conn._tunnel_host, conn._tunnel_port)
        proxy = _proxy_url(conn)
        if round_.dialogue is None:
            round_.dialogue = self.dialogue(target, proxy)
            round_.header = round_.dialogue.first()
        dialogue = round_.dialogue
        reader = _Reader(conn.sock)
        reused = False  # this socket already carried a CONNECT
        while True:
            if round_.connects >= _MAX_CONNECTS:
                _fail(conn, f"gave up on CONNECT {target} after {round_.connects} attempts")
            round_.connects += 1
            try:
                conn.sock.sendall(_connect_request(conn, target, round_.header))
                reply = _read_reply(reader)
            except _TunnelFailure:
                conn.close()  # urllib3 then reports a ProxyError
                raise
            except (_ProxyClosed, ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as exc:
                if reused and not round_.resent:
                    # The proxy closed the kept-alive socket without saying so: the same
                    # CONNECT again (with a new nc) on a new socket, once.
                    log.debug("proxy %s closed the connection after its 407; reconnecting", _show(proxy))
                    round_.resent = True
                    round_.header = dialogue.resend()
                    _drop_socket(conn)
                    raise _Reconnect() from None
                if isinstance(exc, _ProxyClosed):
                    _fail(conn, f"the proxy closed the connection without answering CONNECT {target}")
                conn.close()  # urllib3 then reports a ProxyError, as for a refused tunnel
                raise
            if 200 <= reply.status < 300:
                if reader.pending:
                    _fail(conn, f"the proxy sent data after its {reply.status} to CONNECT")
                conn._raw_proxy_headers = list(reply.raw)  # http.client.get_proxy_response_headers (3.12+)
                action = dialogue.on_reply(Reply(reply.status, (), reply.get_all("proxy-authentication-info")))
                if isinstance(action, GiveUp):
                    _refuse(conn, f"{action.reason} (CONNECT {target} through {_show(proxy)})")
                return
            if reply.status != 407:
                # What http.client says, so code matching the old message keeps working.
                _fail(conn, f"Tunnel connection failed: {reply.status} {reply.reason}")
            action = dialogue.on_reply(Reply(407, reply.get_all("proxy-authenticate")))
            if not isinstance(action, Send):
                reason = action.reason if isinstance(action, GiveUp) else "no answer"
                _refuse(
                    conn,
                    f"proxy authentication failed: {reason}; the proxy at {_show(proxy)} answered"
                    f" CONNECT {target} with {reply.status} {reply.reason}",
                )
            round_.header = action.header
            length = reply.body_length()
            if reply.keeps_alive() and length is not None and reader.discard(length) and not reader.pending:
                reused = True
                continue
            _drop_socket(conn)
            raise _Reconnect()


def _connect_request(conn: Any, target: str, proxy_authorization: Optional[str]) -> bytes:
    """The CONNECT request: urllib3's tunnel headers minus its Proxy-Authorization, plus ours."""
    lines = [f"CONNECT {target} HTTP/1.1"]
    headers = [(str(k), str(v)) for k, v in (conn._tunnel_headers or {}).items()]
    if not any(name.lower() == "host" for name, _ in headers):
        lines.append(f"Host: {target}")
    for name, value in headers:
        if name.lower() == "proxy-authorization":
            continue  # requests' Basic from the proxy URL: ours decides what is sent
        if any(char in name + value for char in "\r\n\x00"):
            raise ValueError(f"proxy header {name!r} contains CR, LF or NUL")
        lines.append(f"{name}: {value}")
    if proxy_authorization is not None:
        lines.append(f"Proxy-Authorization: {proxy_authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _proxy_url(conn: Any) -> str:
    """The proxy as a URL, the key of its protection space: scheme, host, port."""
    proxy = getattr(conn, "proxy", None)
    scheme = (getattr(proxy, "scheme", None) or "http").lower()
    host = conn.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host.lower()}:{conn.port}/"


def _show(proxy_url: str) -> str:
    return proxy_url.split("://", 1)[-1].rstrip("/")


def _drop_socket(conn: Any) -> None:
    """Close the proxy socket only: ``conn.close()`` would also forget the tunnel settings."""
    sock, conn.sock = conn.sock, None
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass


def _fail(conn: Any, message: str) -> NoReturn:
    """Close like http.client's ``_tunnel`` does (urllib3 then reports a ProxyError), and raise."""
    conn.close()
    raise _TunnelFailure(message)


def _refuse(conn: Any, message: str) -> NoReturn:
    """Close, and raise what urllib3 lets through untouched, whatever its retry policy:
    refused credentials are never sent again for this request (account lockout)."""
    conn.close()
    raise _TunnelRefused(message)


# -- plugging into urllib3 --------------------------------------------------------------


class _TunnelConnectionMixin:
    """Put before an urllib3 HTTPS connection class: our CONNECT instead of http.client's."""

    def __init__(self, *args: Any, challenge_tunnel: Optional[_TunnelAuth] = None, **kwargs: Any) -> None:
        self._challenge_tunnel = challenge_tunnel
        self._challenge_round: Optional[_Round] = None
        super().__init__(*args, **kwargs)

    def connect(self) -> None:
        if self._challenge_tunnel is None:
            return super().connect()  # type: ignore[misc]
        self._challenge_round = _Round()
        try:
            while True:
                try:
                    return super().connect()  # type: ignore[misc]
                except _Reconnect:
                    continue  # bounded by _MAX_CONNECTS in open_tunnel
        finally:
            self._challenge_round = None

    def _tunnel(self) -> None:
        round_ = self._challenge_round
        if self._challenge_tunnel is None or round_ is None:
            return super()._tunnel()  # type: ignore[misc]
        self._challenge_tunnel.open_tunnel(self, round_)


class ChallengeTunnelHTTPSConnection(_TunnelConnectionMixin, _Urllib3HTTPSConnection):
    """urllib3's HTTPSConnection whose CONNECT answers the proxy's 407."""


@functools.lru_cache(maxsize=16)
def _connection_class(base: type) -> type:
    if issubclass(base, _TunnelConnectionMixin):
        return base
    if base is _Urllib3HTTPSConnection:
        return ChallengeTunnelHTTPSConnection
    return type(f"ChallengeTunnel{base.__name__}", (_TunnelConnectionMixin, base), {"__module__": __name__})


class _TunnelPoolFactory:
    """Stands in ``ProxyManager.pool_classes_by_scheme["https"]``: a pool with our connections."""

    __slots__ = ("pool_class", "tunnel_auth")

    def __init__(self, pool_class: Any, tunnel_auth: _TunnelAuth) -> None:
        self.pool_class = pool_class
        self.tunnel_auth = tunnel_auth

    def __call__(self, host: str, port: Optional[int] = None, **kwargs: Any) -> Any:
        pool = self.pool_class(host, port, **kwargs)
        base = pool.ConnectionCls
        if isinstance(base, type) and hasattr(base, "_tunnel") and hasattr(base, "_new_conn"):
            pool.ConnectionCls = functools.partial(_connection_class(base), challenge_tunnel=self.tunnel_auth)
        else:
            log.warning("cannot answer proxy challenges with connection class %r", base)
        return pool


def _check_urllib3() -> None:
    try:
        version = tuple(int(part) for part in urllib3.__version__.split(".")[:2])
    except ValueError:
        version = (0, 0)
    low, high = _SUPPORTED_URLLIB3
    if not low <= version < high:
        raise RuntimeError(
            f"ChallengeAdapter supports urllib3 >=1.26,<3 (it replaces urllib3's CONNECT);"
            f" urllib3 {urllib3.__version__} is installed"
        )


def _check_credentials(proxy_auth: Any) -> Optional[Tuple[str, str]]:
    if proxy_auth is None:
        return None
    credentials = Credentials.pair(proxy_auth, "proxy_auth")  # refuses what cannot go into a header, now
    return credentials.username, credentials.password


# -- the adapter ------------------------------------------------------------------------


class ChallengeAdapter(HTTPAdapter):
    """An HTTPAdapter whose tunnels through a proxy answer the proxy's 407 to CONNECT.

        s.mount("https://", ChallengeAdapter(proxy_auth=("puser", "ppass")))

    Every HTTPAdapter argument still works. ``proxy_auth`` is sent only to the
    proxy, in CONNECT, answering its strongest challenge (Digest over Basic);
    ``schemes`` restricts what may be answered, e.g. ``("digest",)`` never sends
    Basic. Without ``proxy_auth`` this is a plain HTTPAdapter. When
    ``proxy_auth`` is given, a Proxy-Authorization that requests derives from
    credentials in the proxy URL is not sent in CONNECT.
    """

    __attrs__ = [*HTTPAdapter.__attrs__, "_proxy_auth", "_schemes"]

    def __init__(
        self,
        *args: Any,
        proxy_auth: Optional[Tuple[str, str]] = None,
        schemes: Optional[Iterable[str]] = None,
        **kwargs: Any,
    ) -> None:
        _check_urllib3()
        self._proxy_auth = _check_credentials(proxy_auth)
        self._schemes = allowed_schemes(schemes)
        self._tunnel_auth = self._new_tunnel_auth()
        super().__init__(*args, **kwargs)

    def _new_tunnel_auth(self) -> Optional[_TunnelAuth]:
        if self._proxy_auth is None:
            return None
        return _TunnelAuth(Credentials(*self._proxy_auth), self._schemes)

    def __repr__(self) -> str:
        proxy = ", proxy_auth=(…)" if self._proxy_auth else ""
        return f"ChallengeAdapter(schemes={tuple(sorted(self._schemes))!r}{proxy})"

    def __setstate__(self, state: Dict[str, Any]) -> None:
        # HTTPAdapter restores __attrs__ and makes a new pool manager; the copy
        # starts with no remembered proxy challenge.
        super().__setstate__(state)  # type: ignore[misc]  # present at run time
        self._tunnel_auth = self._new_tunnel_auth()

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        tunnel_auth = self._tunnel_auth
        if tunnel_auth is not None and isinstance(manager, ProxyManager):
            pool_classes = manager.pool_classes_by_scheme
            https_pool = pool_classes.get("https")
            if https_pool is not None and not isinstance(https_pool, _TunnelPoolFactory):
                manager.pool_classes_by_scheme = {
                    **pool_classes, "https": _TunnelPoolFactory(https_pool, tunnel_auth)  # type: ignore[dict-item]
                }
        return manager

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """Send; a request of ChallengeAuth's that carries no credentials first takes its
        origin's first-contact turn, so concurrent first requests cost one challenge."""
        chain = hold_for_first_contact(request, kwargs.get("timeout", args[1] if len(args) > 1 else None))
        try:
            return super().send(request, *args, **kwargs)
        except BaseException as exc:
            if chain is not None:
                chain.end_contact(answered=False)  # the origin never answered: another request leads
            if isinstance(exc, _TunnelRefused):
                raise ProxyAuthenticationError(str(exc), request=request) from None
            raise
