"""The pure half of a challenging server: what to challenge with, and whether credentials pass.

No sockets, no threads, no WSGI: a `Verifier` takes plain values (method,
request-target, the Authorization value, the body) and returns a `Verdict`;
its only state is the nonces it issued, behind one lock. It checks
credentials as a server must (RFC 7617; RFC 7616 §3.3-3.5; RFC 8187 for
``username*``) with its own code for nonces, nonce counts, user lookup and the
response, so that it judges a client instead of agreeing with it: only the
hash functions and the header grammar are shared with the client side.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple, Union
from urllib.parse import unquote_to_bytes

from .._digest import DigestAlgorithm, find_algorithm
from .._grammar import parse_challenges_lenient
from .._digest import DIGEST_INFO_TOKENS
from .._grammar import render_auth_params
from ._offers import Basic, Digest, Offer

__all__ = ["DEMO_USER", "DEMO_PASSWORD", "HeaderNames", "ORIGIN", "PROXY", "Outcome", "Verdict", "Verifier"]

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"  # public on purpose: the demo user of `demo`, `serve` and the fixture

_MAX_NONCES = 10_000  # nonces remembered; older ones read as unknown
_MAX_COUNTS = 4_096  # nc values remembered per nonce (strict_nc); past that the nonce goes stale
_NC = re.compile(r"[0-9a-fA-F]{8}")  # RFC 7616 §3.4: nc = 8LHEX
# RFC 8187 §3.2: ext-value = charset "'" [ language ] "'" value-chars (mime-charsetc for the charset).
_EXT_VALUE = re.compile(r"(?P<charset>[A-Za-z0-9!#$%&+\-^_`{}~]+)'[A-Za-z0-9\-]*'(?P<value>[^\s]*)")

Clock = Callable[[], float]
Authorization = Union[None, str, Sequence[str]]


class HeaderNames(NamedTuple):
    """Status and header names: an origin server's, or a proxy's (RFC 9110 §11.7)."""

    status: int
    challenge: str
    authorization: str
    info: str


ORIGIN = HeaderNames(401, "WWW-Authenticate", "Authorization", "Authentication-Info")
PROXY = HeaderNames(407, "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Authentication-Info")


class Outcome(enum.Enum):
    """What a server does with the credentials."""

    ACCEPTED = "accepted"  # serve the request
    REFUSED = "refused"  # challenge again
    STALE = "stale"  # right credentials, worn-out nonce: challenge again with stale=true (RFC 7616 §3.3)
    BAD_REQUEST = "bad request"  # 400 and no challenge: malformed, or uri is not the request-target (§3.4.6)


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one request's credentials, and why.

    ``scheme`` is the scheme tried ("Basic", "Digest") once known; ``user`` and
    ``algorithm`` are set when accepted. `response_headers` gives what to add
    to the answer (Authentication-Info); it never shows in the repr, since it
    holds the Digest session key.
    """

    outcome: Outcome
    reason: str = ""
    user: Optional[str] = None
    scheme: Optional[str] = None
    algorithm: Optional[str] = None
    needs_response_body: bool = False  # rspauth covers the response body (qop=auth-int, RFC 7616 §3.5)
    _info: Optional[Callable[[bytes], Optional[str]]] = field(default=None, repr=False, compare=False)
    _info_header: str = field(default=ORIGIN.info, repr=False, compare=False)

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED

    @property
    def stale(self) -> bool:
        return self.outcome is Outcome.STALE

    def response_headers(self, body: bytes = b"") -> List[Tuple[str, str]]:
        """Headers for the answer to an accepted request: Authentication-Info with
        ``rspauth`` and ``nextnonce`` when the verifier gives them (RFC 7616 §3.5).
        ``body`` is the answer's body; only `needs_response_body` makes it matter."""
        value = self._info(body) if self._info is not None else None
        return [(self._info_header, value)] if value else []


def _refused(reason: str, scheme: Optional[str] = None) -> Verdict:
    return Verdict(Outcome.REFUSED, reason, scheme=scheme)


def _bad_request(reason: str, scheme: Optional[str] = None) -> Verdict:
    return Verdict(Outcome.BAD_REQUEST, reason, scheme=scheme)


@dataclass
class _Nonce:
    """What the server remembers about a nonce it issued."""

    offer: Digest
    issued: float
    generation: int
    uses: int = 0
    counts: Set[int] = field(default_factory=set)


def random_nonce() -> str:
    """16 random octets in base64: ends in "==", as Apache's do, so clients must quote well."""
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


class Verifier:
    """Challenges and credential checks for one protection set, with its nonces.

    ``challenges`` are offered in order, each on its own header line (one line
    with ``one_header=True``). Nonces live ``nonce_lifetime`` seconds by
    ``clock``, then an otherwise valid answer is `Outcome.STALE` (so is a
    second use with ``one_time_nonces``, which hands out each next nonce in
    ``nextnonce``). ``strict_nc`` refuses a nonce count seen before for the same
    nonce. ``shared_nonces`` hands every challenge the same nonce while it is
    fresh, as Apache does within a second, so concurrent clients share one.
    ``rspauth`` sends Authentication-Info with the server's proof (§3.5).
    ``proxy=True`` names the proxy's headers (407, Proxy-*). ``make_nonce`` and
    ``clock`` are for tests that need fixed nonces or time that moves on demand.
    """

    def __init__(
        self,
        users: Optional[Mapping[str, str]] = None,
        challenges: Optional[Sequence[Offer]] = None,
        *,
        nonce_lifetime: float = 300.0,
        one_time_nonces: bool = False,
        nextnonce: bool = False,
        rspauth: bool = True,
        strict_nc: bool = False,
        shared_nonces: bool = False,
        one_header: bool = False,
        proxy: bool = False,
        clock: Clock = time.monotonic,
        make_nonce: Callable[[], str] = random_nonce,
    ) -> None:
        self.users: Dict[str, str] = dict({DEMO_USER: DEMO_PASSWORD} if users is None else users)
        self.challenges: Tuple[Offer, ...] = (Digest(), Basic()) if challenges is None else tuple(challenges)
        self.nonce_lifetime = nonce_lifetime
        self.one_time_nonces = one_time_nonces
        self.nextnonce = nextnonce or one_time_nonces
        self.rspauth = rspauth
        self.strict_nc = strict_nc
        self.shared_nonces = shared_nonces
        self.one_header = one_header
        self.names = PROXY if proxy else ORIGIN
        self._clock = clock
        self._make_nonce = make_nonce
        self._lock = threading.Lock()  # guards the nonce state below
        self._nonces: "OrderedDict[str, _Nonce]" = OrderedDict()
        self._shared: Dict[Digest, str] = {}  # the nonce every challenge gets, while fresh
        self._generation = 0

    @property
    def proxy(self) -> bool:
        return self.names is PROXY

    def __repr__(self) -> str:
        return f"<Verifier users={sorted(self.users)!r} challenges={len(self.challenges)}>"  # never the passwords

    # -- challenges ---------------------------------------------------------

    def challenge_headers(self, stale: bool = False) -> List[Tuple[str, str]]:
        """Every configured challenge as (header name, value), Digest ones each with a fresh nonce."""
        rendered = [
            offer.render(self._issue_nonce(offer), stale) if isinstance(offer, Digest) else offer.render()
            for offer in self.challenges
        ]
        if self.one_header and rendered:
            rendered = [", ".join(rendered)]
        return [(self.names.challenge, text) for text in rendered]

    def expire_nonces(self) -> None:
        """Make every nonce issued so far stale, as if its lifetime had passed."""
        with self._lock:
            self._generation += 1

    def _fresh(self, record: _Nonce) -> bool:
        """Not expired (lifetime, `expire_nonces`); called with the lock held."""
        return record.generation == self._generation and self._clock() - record.issued <= self.nonce_lifetime

    def _issue_nonce(self, offer: Digest) -> str:
        # One lock section from reading the shared nonce to replacing it: two first
        # challenges at once must hand out the same nonce, as Apache does.
        with self._lock:
            if self.shared_nonces:
                shared = self._shared.get(offer, "")
                record = self._nonces.get(shared)
                if record is not None and self._fresh(record) and len(record.counts) < _MAX_COUNTS:
                    return shared
            nonce = self._make_nonce()
            if self.shared_nonces:
                self._shared[offer] = nonce
            self._nonces.pop(nonce, None)  # a nonce issued again starts over, at the newest end
            self._nonces[nonce] = _Nonce(offer, self._clock(), self._generation)
            while len(self._nonces) > _MAX_NONCES:
                self._nonces.popitem(last=False)
        return nonce

    # -- credentials --------------------------------------------------------

    def check(self, method: str, target: str, authorization: Authorization, body: bytes = b"") -> Verdict:
        """Judge one request's credentials.

        ``target`` is the request-target exactly as received (Digest's ``uri``
        must equal it, RFC 7616 §3.4.6); ``authorization`` is the Authorization
        (Proxy-Authorization) value, or each of its header lines, or None;
        header text is one character per octet received (ISO-8859-1), as
        http.server and WSGI (PEP 3333) give it. ``body`` is the request's body,
        hashed for qop=auth-int. A nonce count used here is used up.
        """
        if authorization is None or isinstance(authorization, str):
            values = [] if authorization is None else [authorization]
        else:
            values = list(authorization)
        if not values:
            return _refused("no credentials")
        if len(values) > 1:
            return _bad_request(f"more than one {self.names.authorization} header")
        value = values[0].strip()
        scheme = value.split(None, 1)[0].lower() if value else ""
        if scheme == "basic":
            return self._check_basic(value)
        if scheme == "digest":
            return self._check_digest(method, target, value, body)
        return _refused(f"unsupported scheme {scheme!r}")

    def _check_basic(self, value: str) -> Verdict:
        """RFC 7617 §2: base64 of user-id ":" password."""
        offer = next((c for c in self.challenges if isinstance(c, Basic)), None)
        if offer is None:
            return _refused("Basic was not offered", "Basic")
        parts = value.split()
        try:
            if len(parts) != 2:
                raise ValueError
            octets = base64.b64decode(parts[1], validate=True)
        except (ValueError, binascii.Error):
            return _refused("malformed Basic credentials", "Basic")
        text = _decode_octets(octets, utf8_only=offer.charset)  # §2.1: charset="UTF-8" means UTF-8 only
        if text is None or ":" not in text:
            return _refused("malformed Basic credentials", "Basic")
        user, _, password = text.partition(":")  # §2: the user-id cannot contain ":", the password can
        if user not in self.users:
            return _refused("unknown user", "Basic")
        if not hmac.compare_digest(password.encode("utf-8"), self.users[user].encode("utf-8")):
            return _refused("wrong password", "Basic")
        return Verdict(Outcome.ACCEPTED, user=user, scheme="Basic", _info_header=self.names.info)

    def _check_digest(self, method: str, target: str, value: str, body: bytes) -> Verdict:
        """RFC 7616 §3.4: recompute the response from what the client sent."""
        parsed, errors = parse_challenges_lenient(value)  # credentials share the challenge grammar
        if errors or len(parsed) != 1 or parsed[0].token68 is not None:
            return _bad_request("malformed Digest credentials", "Digest")
        p = parsed[0].params
        missing = [n for n in ("realm", "nonce", "uri", "response") if n not in p]
        if "username" not in p and "username*" not in p:
            missing.insert(0, "username")
        if missing:
            return _bad_request(f"Digest credentials without {', '.join(missing)}", "Digest")
        with self._lock:
            nonce = self._nonces.get(p["nonce"])
        if nonce is None:
            return _refused("unknown nonce", "Digest")
        offer = nonce.offer
        algorithm = offer.hash_algorithm
        sent_algorithm = find_algorithm(p.get("algorithm"))
        if sent_algorithm is None or sent_algorithm.name != algorithm.name:
            return _refused("algorithm does not match the challenge", "Digest")
        if p["realm"] != offer.realm:
            return _refused("realm does not match the challenge", "Digest")
        if p.get("opaque") != offer.opaque:
            return _refused("opaque does not match the challenge", "Digest")
        if p["uri"] != target:  # §3.4.6: the request-target, byte for byte
            return _bad_request("uri does not match the request-target", "Digest")
        qop, nc, cnonce = p.get("qop"), p.get("nc", ""), p.get("cnonce", "")
        if offer.qops:
            if qop is None or qop.lower() not in offer.qops:
                return _refused(f"qop {qop!r} was not offered", "Digest")
            if not _NC.fullmatch(nc) or int(nc, 16) == 0 or not cnonce:
                return _refused("qop without a valid nc and cnonce", "Digest")
        elif qop is not None or "nc" in p or "cnonce" in p:
            return _refused("qop, nc or cnonce answered to a challenge without qop (RFC 2069)", "Digest")
        user, refusal = self._digest_user(p, offer, algorithm)
        if user is None:
            return _refused(refusal, "Digest")

        # §3.4.1-3.4.3: the response, with the user's name and password as UTF-8 (§4).
        h = algorithm.hash
        realm = _octets(offer.realm)
        ha1 = h(user.encode("utf-8") + b":" + realm + b":" + self.users[user].encode("utf-8"))
        if algorithm.session:
            ha1 = h(_octets(f"{ha1}:{p['nonce']}:{cnonce}"))  # §3.4.2
        auth_int = qop is not None and qop.lower() == "auth-int"

        def digest(a2: str, entity: bytes) -> str:
            ha2 = h(_octets(a2 + (":" + h(entity) if auth_int else "")))  # §3.4.3
            if qop is None:
                return h(_octets(f"{ha1}:{p['nonce']}:{ha2}"))  # RFC 2069
            return h(_octets(f"{ha1}:{p['nonce']}:{nc}:{cnonce}:{qop}:{ha2}"))  # §3.4.1

        if not hmac.compare_digest(digest(f"{method}:{p['uri']}", body).encode(), _octets(p["response"].lower())):
            return _refused("wrong response", "Digest")

        # Only a right answer learns that its nonce is stale (§3.3): else clients would retry wrong passwords.
        with self._lock:
            if not self._fresh(nonce) or (self.one_time_nonces and nonce.uses):
                return Verdict(Outcome.STALE, "stale nonce", scheme="Digest")
            if self.strict_nc and qop is not None:
                if int(nc, 16) in nonce.counts:
                    return _refused("nonce count reused", "Digest")
                if len(nonce.counts) >= _MAX_COUNTS:
                    return Verdict(Outcome.STALE, "stale nonce", scheme="Digest")
                nonce.counts.add(int(nc, 16))
            nonce.uses += 1
        next_nonce = self._issue_nonce(offer) if self.nextnonce else None
        rspauth = self.rspauth

        def authentication_info(response_body: bytes) -> Optional[str]:
            # §3.5: nextnonce; rspauth is the response with A2 = ":" uri (no method).
            params = [("nextnonce", next_nonce)] if next_nonce else []
            if rspauth:
                params.append(("rspauth", digest(":" + p["uri"], response_body)))
                if qop is not None:
                    params += [("qop", qop), ("nc", nc), ("cnonce", cnonce)]
            return render_auth_params(params, DIGEST_INFO_TOKENS) or None

        return Verdict(
            Outcome.ACCEPTED, user=user, scheme="Digest", algorithm=algorithm.name,
            needs_response_body=rspauth and auth_int, _info=authentication_info, _info_header=self.names.info,
        )

    def _digest_user(
        self, p: Mapping[str, str], offer: Digest, algorithm: DigestAlgorithm
    ) -> Tuple[Optional[str], str]:
        """The configured user the credentials name, or None and why not."""
        if p.get("userhash", "false").lower() == "true":
            # §3.4.4: username = H(unq(username) ":" unq(realm)).
            if not offer.userhash:
                return None, "userhash was not offered"
            sent = _octets(p.get("username", "").lower())
            realm = _octets(offer.realm)
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
            name = _decode_octets(_octets(p["username"]), utf8_only=False)
        return (name, "") if name in self.users else (None, "unknown user")


def _octets(text: str) -> bytes:
    """Header text back to the octets received (one character per octet); wider text as UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _decode_octets(octets: bytes, utf8_only: bool) -> Optional[str]:
    try:
        return octets.decode("utf-8")
    except UnicodeDecodeError:
        return None if utf8_only else octets.decode("latin-1")


def _decode_ext_value(value: str) -> Optional[str]:
    """RFC 8187 §3.2 ext-value; UTF-8 and ISO-8859-1 are the charsets it requires (§3.2.1)."""
    match = _EXT_VALUE.fullmatch(value)
    if match is None or match["charset"].upper() not in ("UTF-8", "ISO-8859-1"):
        return None
    try:
        return unquote_to_bytes(match["value"]).decode(match["charset"])
    except UnicodeDecodeError:
        return None
