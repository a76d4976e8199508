"""A real HTTP server that issues Basic and Digest challenges, for testing clients.

    import requests
    from requests_challenge import ChallengeAuth
    from requests_challenge.testing import Basic, ChallengeServer, Digest

    with ChallengeServer(users={"alice": "secret"},
                         challenges=[Digest("SHA-256"), Digest("MD5"), Basic()]) as server:
        r = requests.get(server.url + "/private", auth=ChallengeAuth("alice", "secret"))
        assert r.json()["user"] == "alice"
        assert [e.status for e in server.exchanges] == [401, 200]

It checks credentials as a server must (RFC 7617; RFC 7616 §3.3-3.5; RFC 8187
for ``username*``) with its own code for nonces, nonce counts, user lookup and
the response, so that it judges a client instead of agreeing with it: only the
hash functions and the header grammar are shared with the client side.

Routes. Paths under ``protected`` (default: all) and not under ``open_paths``
need credentials first; then:

    /redirect?to=URL[&status=307]   a redirect to URL
    /status/CODE                    an empty answer with that status
    anything else                   200, JSON: method, path, target, user, scheme,
                                    algorithm, body_length, body_sha256

Every exchange is recorded in ``server.exchanges`` (method, path, Authorization
received, status, user, and why credentials were refused); ``.clear()`` empties it.

pytest: the ``challenge_server`` fixture yields a started server with the user
``DEMO_USER`` / ``DEMO_PASSWORD``. Options are ChallengeServer keyword arguments
given in a marker:

    @pytest.mark.challenge_server(challenges=[Digest("MD5", qop=None)], strict_nc=True)
    def test_rfc2069(challenge_server):
        requests.get(challenge_server.url, auth=...)

The package's ``pytest11`` entry point provides it; without the entry point, add
``pytest_plugins = ["requests_challenge._pytest_plugin"]`` to a root conftest.py.
For several servers in one test, use ``with ChallengeServer(...)`` directly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from http.client import HTTPMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple, Union, overload
from urllib.parse import parse_qs, unquote_to_bytes, urlsplit

from ._digest import DigestAlgorithm, find_algorithm
from ._grammar import parse_challenges_lenient, quote_string
from ._spaces import _covers

__all__ = [
    "DEFAULT_REALM",
    "DEMO_USER",
    "DEMO_PASSWORD",
    "Basic",
    "Digest",
    "Raw",
    "Exchange",
    "ExchangeLog",
    "ChallengeServer",
    "SelfSignedCertificate",
    "self_signed_certificate",
]

DEFAULT_REALM = "requests-challenge"
DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"  # public on purpose: the demo user of `demo`, `serve` and the fixture

_MAX_NONCES = 10_000  # nonces remembered; older ones read as unknown
_MAX_COUNTS = 4_096  # nc values remembered per nonce (strict_nc); past that the nonce goes stale
_NC = re.compile(r"[0-9a-fA-F]{8}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")
_EXT_VALUE = re.compile(r"(?P<charset>[A-Za-z0-9!#$%&+\-^_`{}~]+)'[A-Za-z0-9\-]*'(?P<value>[^\s]*)")


@dataclass(frozen=True)
class Basic:
    """Offer Basic (RFC 7617); ``charset=True`` adds ``charset="UTF-8"`` (§2.1).

    Credentials are read as UTF-8, and as ISO-8859-1 when they are not UTF-8
    and no charset was offered, as lenient servers do.
    """

    realm: str = DEFAULT_REALM
    charset: bool = False

    def render(self) -> str:
        return f"Basic realm={quote_string(self.realm)}" + (', charset="UTF-8"' if self.charset else "")


@dataclass(frozen=True)
class Digest:
    """Offer Digest (RFC 7616 §3.3); each one is its own challenge with its own nonce.

    ``algorithm=None`` leaves the parameter out (MD5, as RFC 2069 servers do);
    ``qop`` is "auth", "auth-int", "auth,auth-int", or None for RFC 2069;
    ``opaque`` is sent, even when empty, unless None, and must come back;
    ``domain`` lists the URIs of the protection space (a hint to the client).
    """

    algorithm: Optional[str] = "SHA-256"
    qop: Optional[str] = "auth"
    realm: str = DEFAULT_REALM
    opaque: Optional[str] = None
    domain: Tuple[str, ...] = ()
    userhash: bool = False
    charset: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", tuple(self.domain))
        self.realm.encode("latin-1")  # header text: one octet per character
        if find_algorithm(self.algorithm) is None:
            raise ValueError(f"unsupported Digest algorithm {self.algorithm!r}")
        if self.qop is not None and (not self.qops or set(self.qops) - {"auth", "auth-int"}):
            raise ValueError(f"qop must be 'auth', 'auth-int' or both, not {self.qop!r}")
        if self.qop is None and self.hash_algorithm.session:
            raise ValueError("-sess needs a qop: its A1 uses the cnonce (RFC 7616 §3.4.2)")

    @property
    def hash_algorithm(self) -> DigestAlgorithm:
        return find_algorithm(self.algorithm)  # type: ignore[return-value]  # checked above

    @property
    def qops(self) -> Tuple[str, ...]:
        return tuple(q.strip().lower() for q in (self.qop or "").split(",") if q.strip())

    def render(self, nonce: str, stale: bool = False) -> str:
        # RFC 7616 §3.3: algorithm, stale, charset and userhash are tokens, the rest quoted.
        parts = [f"realm={quote_string(self.realm)}"]
        if self.domain:
            parts.append(f"domain={quote_string(' '.join(self.domain))}")
        parts.append(f"nonce={quote_string(nonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={quote_string(self.opaque)}")
        if stale:
            parts.append("stale=true")
        if self.algorithm is not None:
            parts.append(f"algorithm={self.algorithm}")
        if self.qop is not None:
            parts.append(f"qop={quote_string(self.qop)}")
        if self.charset:
            parts.append("charset=UTF-8")
        if self.userhash:
            parts.append("userhash=true")
        return "Digest " + ", ".join(parts)


@dataclass(frozen=True)
class Raw:
    """A challenge sent verbatim and never accepted, e.g. ``Raw('Bearer realm="api"')``."""

    text: str

    def render(self) -> str:
        return self.text


Offer = Union[Basic, Digest, Raw]


@dataclass(frozen=True)
class Exchange:
    """One request and the server's answer."""

    method: str
    path: str  # the request-target as received, query included
    authorization: Optional[str]  # Authorization (Proxy-Authorization for a proxy) received
    status: int
    user: Optional[str] = None  # who was authenticated
    reason: str = ""  # why credentials were refused: "no credentials", "stale nonce", ...


class ExchangeLog(Sequence[Exchange]):
    """The exchanges so far, oldest first; thread-safe, bounded, readable as a list."""

    def __init__(self, limit: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._items: "deque[Exchange]" = deque(maxlen=limit)

    def append(self, exchange: Exchange) -> None:
        with self._lock:
            self._items.append(exchange)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def snapshot(self) -> List[Exchange]:
        with self._lock:
            return list(self._items)

    @overload
    def __getitem__(self, index: int) -> Exchange: ...

    @overload
    def __getitem__(self, index: slice) -> List[Exchange]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[Exchange, List[Exchange]]:
        return self.snapshot()[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self.snapshot())

    def __repr__(self) -> str:
        return f"ExchangeLog({self.snapshot()!r})"


class _Names(NamedTuple):
    """Status and header names: an origin server's, or a proxy's (RFC 9110 §11.7)."""

    status: int
    challenge: str
    authorization: str
    info: str


_ORIGIN = _Names(401, "WWW-Authenticate", "Authorization", "Authentication-Info")
_PROXY = _Names(407, "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Authentication-Info")


@dataclass
class _Nonce:
    """What the server remembers about a nonce it issued."""

    offer: Digest
    issued: float
    generation: int
    uses: int = 0
    counts: Set[int] = field(default_factory=set)


@dataclass(frozen=True)
class _Verdict:
    """The outcome of checking credentials."""

    user: Optional[str] = None  # set when accepted
    reason: str = ""
    stale: bool = False
    bad_request: bool = False  # 400 instead of a new challenge
    scheme: Optional[str] = None
    algorithm: Optional[str] = None
    info: Optional[Callable[[bytes], Optional[str]]] = None  # Authentication-Info for a response body


_Reply = Tuple[int, List[Tuple[str, str]], bytes]


class ChallengeServer:
    """An HTTP/1.1 server on 127.0.0.1 that challenges, verifies and records.

    ``challenges`` are offered in order, each on its own header line (one line
    with ``one_header=True``). Nonces live ``nonce_lifetime`` seconds, then an
    otherwise valid answer gets a 401 with ``stale=true`` (so does a second use
    with ``one_time_nonces``, which hands out each next nonce in ``nextnonce``).
    ``strict_nc`` refuses a nonce count seen before for the same nonce.
    ``shared_nonces`` hands every challenge the same nonce while it is fresh,
    as Apache does within a second, so concurrent clients share one nonce.
    ``cookie="name=value"`` is set on every challenge and must come back with
    the credentials. ``proxy=True`` plays a proxy: 407 and the Proxy-* headers.
    """

    def __init__(
        self,
        users: Optional[Mapping[str, str]] = None,
        challenges: Sequence[Offer] = (Digest(), Basic()),
        *,
        protected: Sequence[str] = ("/",),
        open_paths: Sequence[str] = (),
        nonce_lifetime: float = 300.0,
        one_time_nonces: bool = False,
        nextnonce: bool = False,
        rspauth: bool = True,
        strict_nc: bool = False,
        shared_nonces: bool = False,
        cookie: Optional[str] = None,
        one_header: bool = False,
        proxy: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: Optional[ssl.SSLContext] = None,
        timeout: float = 10.0,
        max_body: int = 16 * 1024 * 1024,
        max_connections: int = 64,
        on_exchange: Optional[Callable[[Exchange], None]] = None,
    ) -> None:
        self.users: Dict[str, str] = dict({DEMO_USER: DEMO_PASSWORD} if users is None else users)
        self.challenges: Tuple[Offer, ...] = tuple(challenges)
        if cookie is not None and "=" not in cookie:
            raise ValueError("cookie must be 'name=value'")
        self.protected = tuple(protected)
        self.open_paths = tuple(open_paths)
        self.nonce_lifetime = nonce_lifetime
        self.one_time_nonces = one_time_nonces
        self.nextnonce = nextnonce or one_time_nonces
        self.rspauth = rspauth
        self.strict_nc = strict_nc
        self.shared_nonces = shared_nonces
        self._shared: Dict[Digest, str] = {}  # the nonce every challenge gets, while fresh
        self.cookie = cookie
        self.one_header = one_header
        self._names = _PROXY if proxy else _ORIGIN
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.max_body = max_body
        self.max_connections = max_connections
        self.on_exchange = on_exchange
        self.exchanges = ExchangeLog()
        self._lock = threading.Lock()  # guards the nonce state below
        self._nonces: "OrderedDict[str, _Nonce]" = OrderedDict()
        self._generation = 0
        self._httpd: Optional[_HTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- life cycle ---------------------------------------------------------

    def start(self) -> "ChallengeServer":
        """Bind (port 0 picks a free one) and serve in a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("server already started")
        httpd = _HTTPServer((self.host, self.port), self)
        self.port = httpd.server_address[1]
        self._httpd = httpd
        # serve_forever notices shutdown() only between polls: poll often, so stop() is quick.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, name=f"ChallengeServer:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end open connections, join the thread and close the socket."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._httpd = self._thread = None
        try:
            httpd.shutdown()
            if thread is not None:
                thread.join(self.timeout)
        finally:
            httpd.close_connections()
            httpd.server_close()

    def __enter__(self) -> "ChallengeServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"{'https' if self.ssl_context else 'http'}://{self.host}:{self.port}"

    def expire_nonces(self) -> None:
        """Make every nonce issued so far stale, as if its lifetime had passed."""
        with self._lock:
            self._generation += 1

    def __repr__(self) -> str:
        state = f"url={self.url!r}" if self._httpd else "stopped"
        return f"<ChallengeServer {state} users={sorted(self.users)!r}>"  # never the passwords

    # -- one request --------------------------------------------------------

    def _answer(self, method: str, target: str, headers: HTTPMessage, body: bytes) -> Tuple[_Reply, Exchange]:
        """Check credentials where needed, route, and describe the exchange."""
        protected = self._is_protected(urlsplit(target).path or "/")
        verdict = self._authenticate(method, target, headers, body) if protected else _Verdict()
        if protected and verdict.user is None:
            status = 400 if verdict.bad_request else self._names.status
            extra = [] if verdict.bad_request else self._challenge_headers(verdict.stale)
            reply: _Reply = (status, extra, _json({"status": status, "error": verdict.reason}))
        else:
            status, extra, payload = self._route(method, target, body, verdict)
            info = verdict.info(payload) if verdict.info else None
            if info:
                extra.append((self._names.info, info))
            reply = (status, extra, payload)
        exchange = Exchange(
            method, target, headers.get(self._names.authorization), reply[0], verdict.user, verdict.reason
        )
        return reply, exchange

    def _is_protected(self, path: str) -> bool:
        return any(_covers(p, path) for p in self.protected) and not any(_covers(p, path) for p in self.open_paths)

    def _route(self, method: str, target: str, body: bytes, verdict: _Verdict) -> _Reply:
        parts = urlsplit(target)
        path = parts.path or "/"
        if path == "/redirect":
            query = parse_qs(parts.query)
            to, status = query.get("to", [""])[0], query.get("status", ["302"])[0]
            if not to or status not in {"301", "302", "303", "307", "308"}:
                return 400, [], _json({"status": 400, "error": "use /redirect?to=URL[&status=30x]"})
            return int(status), [("Location", to)], b""
        if path.startswith("/status/"):
            code = path[len("/status/") :]
            if code.isascii() and code.isdigit() and 200 <= int(code) <= 599:
                return int(code), [], b""
            return 400, [], _json({"status": 400, "error": "use /status/CODE with 200 <= CODE <= 599"})
        echo = {
            "method": method,
            "path": path,
            "target": target,
            "user": verdict.user,
            "scheme": verdict.scheme,
            "algorithm": verdict.algorithm,
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        return 200, [("Content-Type", "application/json")], _json(echo)

    def _challenge_headers(self, stale: bool) -> List[Tuple[str, str]]:
        """Every configured challenge, Digest ones with a fresh nonce each."""
        rendered = [
            offer.render(self._issue_nonce(offer), stale) if isinstance(offer, Digest) else offer.render()
            for offer in self.challenges
        ]
        if self.one_header and rendered:
            rendered = [", ".join(rendered)]
        headers = [(self._names.challenge, text) for text in rendered]
        if self.cookie is not None:
            headers.append(("Set-Cookie", f"{self.cookie}; Path=/; HttpOnly"))
        return headers

    def _issue_nonce(self, offer: Digest) -> str:
        if self.shared_nonces:
            with self._lock:
                shared = self._shared.get(offer, "")
                record = self._nonces.get(shared)
                if (
                    record is not None
                    and record.generation == self._generation
                    and time.monotonic() - record.issued <= self.nonce_lifetime
                    and len(record.counts) < _MAX_COUNTS
                ):
                    return shared
        # 16 random octets in base64: ends in "==", as Apache's do, so clients must quote well.
        nonce = base64.b64encode(secrets.token_bytes(16)).decode("ascii")
        with self._lock:
            if self.shared_nonces:
                self._shared[offer] = nonce
            self._nonces[nonce] = _Nonce(offer, time.monotonic(), self._generation)
            while len(self._nonces) > _MAX_NONCES:
                self._nonces.popitem(last=False)
        return nonce

    # -- credentials --------------------------------------------------------

    def _authenticate(self, method: str, target: str, headers: HTTPMessage, body: bytes) -> _Verdict:
        values = headers.get_all(self._names.authorization) or []
        if not values:
            return _Verdict(reason="no credentials")
        if len(values) > 1:
            return _Verdict(reason=f"more than one {self._names.authorization} header", bad_request=True)
        if self.cookie is not None and not self._has_cookie(headers):
            return _Verdict(reason="the cookie set with the challenge did not come back")
        value = values[0].strip()
        scheme = value.split(None, 1)[0].lower() if value else ""
        if scheme == "basic":
            return self._check_basic(value)
        if scheme == "digest":
            return self._check_digest(method, target, value, body)
        return _Verdict(reason=f"unsupported scheme {scheme!r}")

    def _has_cookie(self, headers: HTTPMessage) -> bool:
        sent = "; ".join(headers.get_all("Cookie") or [])
        return self.cookie is not None and self.cookie in {pair.strip() for pair in sent.split(";")}

    def _check_basic(self, value: str) -> _Verdict:
        """RFC 7617 §2: base64 of user-id ":" password."""
        offer = next((c for c in self.challenges if isinstance(c, Basic)), None)
        if offer is None:
            return _Verdict(reason="Basic was not offered")
        parts = value.split()
        try:
            if len(parts) != 2:
                raise ValueError
            octets = base64.b64decode(parts[1], validate=True)
        except (ValueError, binascii.Error):
            return _Verdict(reason="malformed Basic credentials")
        text = _decode_octets(octets, utf8_only=offer.charset)
        if text is None or ":" not in text:
            return _Verdict(reason="malformed Basic credentials")
        user, _, password = text.partition(":")
        if user not in self.users:
            return _Verdict(reason="unknown user")
        if not hmac.compare_digest(password.encode("utf-8"), self.users[user].encode("utf-8")):
            return _Verdict(reason="wrong password")
        return _Verdict(user=user, scheme="Basic")

    def _check_digest(self, method: str, target: str, value: str, body: bytes) -> _Verdict:
        """RFC 7616 §3.4: recompute the response from what the client sent."""
        parsed, errors = parse_challenges_lenient(value)  # credentials share the challenge grammar
        if errors or len(parsed) != 1 or parsed[0].token68 is not None:
            return _Verdict(reason="malformed Digest credentials", bad_request=True)
        p = parsed[0].params
        missing = [n for n in ("realm", "nonce", "uri", "response") if n not in p]
        if "username" not in p and "username*" not in p:
            missing.insert(0, "username")
        if missing:
            return _Verdict(reason=f"Digest credentials without {', '.join(missing)}", bad_request=True)
        with self._lock:
            nonce = self._nonces.get(p["nonce"])
        if nonce is None:
            return _Verdict(reason="unknown nonce")
        offer = nonce.offer
        algorithm = offer.hash_algorithm
        sent_algorithm = find_algorithm(p.get("algorithm"))
        if sent_algorithm is None or sent_algorithm.name != algorithm.name:
            return _Verdict(reason="algorithm does not match the challenge")
        if p["realm"] != offer.realm:
            return _Verdict(reason="realm does not match the challenge")
        if p.get("opaque") != offer.opaque:
            return _Verdict(reason="opaque does not match the challenge")
        if p["uri"] != target:  # §3.4.6: the request-target, byte for byte
            return _Verdict(reason="uri does not match the request-target", bad_request=True)
        qop, nc, cnonce = p.get("qop"), p.get("nc", ""), p.get("cnonce", "")
        if offer.qops:
            if qop is None or qop.lower() not in offer.qops:
                return _Verdict(reason=f"qop {qop!r} was not offered")
            if not _NC.fullmatch(nc) or int(nc, 16) == 0 or not cnonce:
                return _Verdict(reason="qop without a valid nc and cnonce")
        elif qop is not None or "nc" in p or "cnonce" in p:
            return _Verdict(reason="qop, nc or cnonce answered to a challenge without qop (RFC 2069)")
        user, refusal = self._digest_user(p, offer, algorithm)
        if user is None:
            return _Verdict(reason=refusal)

        # §3.4.1-3.4.3: the response, with the user's name and password as UTF-8 (§4).
        h = algorithm.hash
        realm = offer.realm.encode("latin-1")
        ha1 = h(user.encode("utf-8") + b":" + realm + b":" + self.users[user].encode("utf-8"))
        if algorithm.session:
            ha1 = h(_latin1(f"{ha1}:{p['nonce']}:{cnonce}"))
        auth_int = qop is not None and qop.lower() == "auth-int"

        def digest(a2: str, entity: bytes) -> str:
            ha2 = h(_latin1(a2 + (":" + h(entity) if auth_int else "")))
            if qop is None:
                return h(_latin1(f"{ha1}:{p['nonce']}:{ha2}"))
            return h(_latin1(f"{ha1}:{p['nonce']}:{nc}:{cnonce}:{qop}:{ha2}"))

        if not hmac.compare_digest(digest(f"{method}:{p['uri']}", body).encode(), _latin1(p["response"].lower())):
            return _Verdict(reason="wrong response")

        with self._lock:
            expired = time.monotonic() - nonce.issued > self.nonce_lifetime
            if nonce.generation != self._generation or expired or (self.one_time_nonces and nonce.uses):
                return _Verdict(reason="stale nonce", stale=True)
            if self.strict_nc and qop is not None:
                if int(nc, 16) in nonce.counts:
                    return _Verdict(reason="nonce count reused")
                if len(nonce.counts) >= _MAX_COUNTS:
                    return _Verdict(reason="stale nonce", stale=True)
                nonce.counts.add(int(nc, 16))
            nonce.uses += 1
        next_nonce = self._issue_nonce(offer) if self.nextnonce else None

        def authentication_info(response_body: bytes) -> Optional[str]:
            # §3.5: rspauth is the response with A2 = ":" uri (no method).
            parts = [f"nextnonce={quote_string(next_nonce)}"] if next_nonce else []
            if self.rspauth:
                parts.append(f'rspauth="{digest(":" + p["uri"], response_body)}"')
                if qop is not None:
                    parts.append(f"qop={qop}, nc={nc}, cnonce={quote_string(cnonce)}")
            return ", ".join(parts) or None

        return _Verdict(user=user, scheme="Digest", algorithm=algorithm.name, info=authentication_info)

    def _digest_user(
        self, p: Mapping[str, str], offer: Digest, algorithm: DigestAlgorithm
    ) -> Tuple[Optional[str], str]:
        """The configured user the credentials name, or None and why not."""
        if p.get("userhash", "false").lower() == "true":
            # §3.4.4: username = H(unq(username) ":" unq(realm)).
            if not offer.userhash:
                return None, "userhash was not offered"
            sent = _latin1(p.get("username", "").lower())
            realm = offer.realm.encode("latin-1")
            for user in self.users:
                if hmac.compare_digest(algorithm.hash(user.encode("utf-8") + b":" + realm).encode(), sent):
                    return user, ""
            return None, "unknown user"
        if "username*" in p:
            if "username" in p:
                return None, "both username and username* (RFC 7616 §3.4.4)"
            name = _decode_ext_value(p["username*"])
            if name is None:
                return None, "malformed username*"
        else:
            # Header text is one character per octet; clients without username* send UTF-8.
            name = _decode_octets(_latin1(p["username"]), utf8_only=False)
        return (name, "") if name in self.users else (None, "unknown user")


def _latin1(text: str) -> bytes:
    """Header text back to the octets received (http.server decodes headers as ISO-8859-1)."""
    return text.encode("latin-1")


def _decode_octets(octets: bytes, utf8_only: bool) -> Optional[str]:
    try:
        return octets.decode("utf-8")
    except UnicodeDecodeError:
        return None if utf8_only else octets.decode("latin-1")


def _decode_ext_value(value: str) -> Optional[str]:
    """RFC 8187 §3.2 ext-value: charset "'" [ language ] "'" value-chars."""
    match = _EXT_VALUE.fullmatch(value)
    if match is None or match["charset"].upper() not in ("UTF-8", "ISO-8859-1"):
        return None
    try:
        return unquote_to_bytes(match["value"]).decode(match["charset"])
    except UnicodeDecodeError:
        return None


def _json(data: object) -> bytes:
    return json.dumps(data, sort_keys=True).encode("utf-8") + b"\n"


class _BodyError(Exception):
    """A request body that cannot be read; the connection is closed after the answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Handler(BaseHTTPRequestHandler):
    """The I/O half: read the request, let the ChallengeServer answer, write the reply."""

    protocol_version = "HTTP/1.1"  # keep-alive: every reply carries Content-Length
    # Headers and body go out in two writes; with Nagle's algorithm the body would
    # wait for the client's delayed ACK, about 40 ms a request on Linux.
    disable_nagle_algorithm = True
    server: "_HTTPServer"

    def version_string(self) -> str:
        return "requests-challenge-testing"

    def setup(self) -> None:
        self.timeout = self.server.owner.timeout  # type: ignore[misc]  # applied to the socket by setup()
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()  # here, in the connection's thread, not in accept()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, open_=False)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: http.server would write every request line to stderr."""

    def _serve(self) -> None:
        owner = self.server.owner
        try:
            body = self._read_body(owner.max_body)
        except _BodyError as exc:
            self.close_connection = True
            reply: _Reply = (exc.status, [("Connection", "close")], _json({"status": exc.status, "error": exc.reason}))
            authorization = self.headers.get(owner._names.authorization)
            exchange = Exchange(self.command, self.path, authorization, exc.status, None, exc.reason)
        else:
            reply, exchange = owner._answer(self.command, self.path, self.headers, body)  # type: ignore[arg-type]
        owner.exchanges.append(exchange)  # before replying: a client that got the reply sees it logged
        if owner.on_exchange is not None:
            owner.on_exchange(exchange)
        status, headers, payload = reply
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(payload)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def _read_body(self, limit: int) -> bytes:
        encoding = self.headers.get("Transfer-Encoding")
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise _BodyError(501, "unsupported Transfer-Encoding")
            return self._read_chunked(limit)
        length = self.headers.get("Content-Length", "0").strip()
        if not (length.isascii() and length.isdigit()):
            raise _BodyError(400, "invalid Content-Length")
        if int(length) > limit:
            raise _BodyError(413, "body too large")
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            raise _BodyError(400, "body shorter than Content-Length")
        return body

    def _read_chunked(self, limit: int) -> bytes:
        """RFC 9112 §7.1, bounded: requests sends generator bodies this way."""
        chunks: List[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            size = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not _CHUNK_SIZE.fullmatch(size):
                raise _BodyError(400, "invalid chunk size line")
            if int(size, 16) == 0:
                break
            total += int(size, 16)
            if total > limit:
                raise _BodyError(413, "body too large")
            chunk = self.rfile.read(int(size, 16))
            if len(chunk) != int(size, 16) or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BodyError(400, "truncated chunk")
            chunks.append(chunk)
        for _ in range(100):  # trailer section, ignored
            if self.rfile.readline(65537) in (b"\r\n", b"\n", b""):
                return b"".join(chunks)
        raise _BodyError(400, "too many trailer fields")


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with TLS, a connection cap, and no reverse DNS lookup."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: Tuple[str, int], owner: ChallengeServer) -> None:
        self.owner = owner
        self._slots = threading.BoundedSemaphore(owner.max_connections)
        self._connections_lock = threading.Lock()
        self._connections: Set[socket.socket] = set()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # not HTTPServer's: its getfqdn() may wait on DNS
        self.server_name, self.server_port = self.server_address[:2]  # type: ignore[assignment]

    def get_request(self) -> Tuple[socket.socket, object]:
        sock, address = super().get_request()
        if self.owner.ssl_context is not None:
            sock = self.owner.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # over the cap: refuse rather than queue without bound
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: object, client_address: object) -> None:
        """Silent: a client that hangs up or fails the TLS handshake is not the test's failure."""

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            (self._connections.add if open_ else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """Wake the threads idling on keep-alive connections, so they end now."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# -- TLS for tests -----------------------------------------------------------------------


@dataclass(frozen=True)
class SelfSignedCertificate:
    """PEM files of a certificate for one IP address, and of its key."""

    cert: str
    key: str

    def server_context(self) -> ssl.SSLContext:
        """For ``ChallengeServer(ssl_context=...)``; clients pass ``verify=cert``."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed_certificate(directory: "os.PathLike[str] | str", host: str = "127.0.0.1") -> SelfSignedCertificate:
    """Make a certificate for ``host`` (an IP address) in ``directory`` with the openssl command.

    It is its own CA (basicConstraints, keyUsage), so clients can verify against it
    with ``verify=cert``, also under Python 3.13's VERIFY_X509_STRICT. Raises
    FileNotFoundError, naming the Debian package, where openssl is missing.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("openssl not installed (apt-get install openssl)")
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={host}",
            "-addext", f"subjectAltName=IP:{host}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
        ],
        check=True, capture_output=True, timeout=60,
    )
    return SelfSignedCertificate(cert, key)
