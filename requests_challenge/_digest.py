"""RFC 7616 Digest credentials, with RFC 2617 and RFC 2069 compatibility.

Formulas (RFC 7616 §3.4.1-3.4.3):

    A1       = username ":" realm ":" password
    A1 -sess = H(username ":" realm ":" password) ":" nonce ":" cnonce
    A2       = method ":" uri                       (qop=auth, or no qop)
    A2       = method ":" uri ":" H(entity-body)    (qop=auth-int)
    response = KD(H(A1), nonce ":" nc ":" cnonce ":" qop ":" H(A2))
    response = KD(H(A1), nonce ":" H(A2))           (no qop: RFC 2069)
    KD(s, d) = H(s ":" d)

Octets: the user's name and password are hashed as UTF-8 (RFC 7616 §4).
Challenge values are header text, one character per received octet, so they
are hashed as the octets the server sent.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional, Protocol, Tuple
from urllib.parse import quote

from ._basic import reject_control_characters, reject_unsendable_username
from ._errors import UnsupportedChallenge
from ._grammar import Challenge, quote_string
from ._sha512_256 import SHA512_256, sha512_256_hexdigest

__all__ = [
    "DigestAlgorithm",
    "DigestOffer",
    "DigestAnswer",
    "UnsupportedChallenge",
    "find_algorithm",
    "digest_authorization",
    "expected_rspauth",
]

# Which Digest fields RFC 7616 writes as tokens; every other field is a quoted-string.
# The one table for whoever renders Digest fields (the command line's redacted view,
# the test server). Parsing needs none: it reads either form of any value.
DIGEST_CHALLENGE_TOKENS = frozenset({"algorithm", "stale", "charset", "userhash"})  # §3.3 WWW-Authenticate
DIGEST_CREDENTIAL_TOKENS = frozenset({"algorithm", "qop", "nc", "userhash", "username*"})  # §3.4 Authorization
DIGEST_INFO_TOKENS = frozenset({"qop", "nc"})  # §3.5 Authentication-Info

HashFunction = Callable[[bytes], str]


class Hasher(Protocol):
    """An incremental hash, as hashlib's objects are."""

    def update(self, data: bytes) -> None: ...

    def hexdigest(self) -> str: ...


def _hashlib(name: str) -> Optional[Tuple[HashFunction, Callable[[], Hasher]]]:
    """A hex-digest function for ``name`` and an incremental one, or None where hashlib refuses it.

    MD5 is asked for as not-for-security, so FIPS-restricted builds still
    give it for this legacy protocol; where even that fails, MD5 challenges
    are skipped rather than crashing. hashlib's direct constructor
    (``hashlib.md5``) is about twice as fast as ``hashlib.new``.
    """
    constructor = getattr(hashlib, name, None)
    if constructor is None:
        constructor = functools.partial(hashlib.new, name)
    try:
        constructor(b"", usedforsecurity=False)
    except (ValueError, TypeError):
        return None

    def hexdigest(data: bytes) -> str:
        return constructor(data, usedforsecurity=False).hexdigest()  # type: ignore[no-any-return]

    def new() -> Hasher:
        return constructor(usedforsecurity=False)  # type: ignore[no-any-return]

    return hexdigest, new


_HASHES: Dict[str, Optional[Tuple[HashFunction, Callable[[], Hasher]]]] = {
    "MD5": _hashlib("md5"),
    "SHA": _hashlib("sha1"),
    "SHA-256": _hashlib("sha256"),
    "SHA-512": _hashlib("sha512"),
    "SHA-512-256": _hashlib("sha512_256") or (sha512_256_hexdigest, SHA512_256),
}

# Strongest first; SHA-512 and SHA (SHA-1) are not in RFC 7616's registry but
# httpbin and some devices send them, as plain SHA-512 and SHA-1.
_STRENGTH = {"SHA-512-256": 50, "SHA-512": 40, "SHA-256": 30, "SHA": 20, "MD5": 10}


@dataclass(frozen=True)
class DigestAlgorithm:
    """One entry of the algorithm table: a hash, and whether A1 is per session."""

    name: str  # canonical upper-case spelling, e.g. "SHA-256-SESS"
    session: bool
    strength: int
    hash: HashFunction
    new: Callable[[], Hasher] = field(repr=False, compare=False)

    def __repr__(self) -> str:
        return f"DigestAlgorithm({self.name!r})"

    def hash_chunks(self, chunks: Iterable[bytes]) -> str:
        """H(entity-body) for qop=auth-int, a chunk at a time: a file or a
        streamed response is never held whole."""
        hasher = self.new()
        for chunk in chunks:
            hasher.update(chunk)
        return hasher.hexdigest()


_ALGORITHMS: Dict[str, DigestAlgorithm] = {}
for _base, _functions in _HASHES.items():
    if _functions is not None:
        for _session in (False, True):
            _name = _base + ("-SESS" if _session else "")
            _ALGORITHMS[_name] = DigestAlgorithm(_name, _session, _STRENGTH[_base], *_functions)


def find_algorithm(name: Optional[str]) -> Optional[DigestAlgorithm]:
    """The algorithm for a challenge's ``algorithm`` value (absent means MD5)."""
    if name is None:
        return _ALGORITHMS.get("MD5")  # absent where FIPS forbids it
    name = name.strip(" \t")  # OWS only: str.strip() would also eat U+00A0 and U+0085
    # Tokens are ASCII: "MD5-seß".upper() would read as "MD5-SESS".
    return _ALGORITHMS.get(name.upper()) if name.isascii() else None


def _octets(text: str) -> bytes:
    """Header text back to the octets it came from; UTF-8 for wider text."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _split_list(value: str) -> list:
    return [item.strip() for item in value.split(",") if item.strip()]


@dataclass(frozen=True)
class DigestOffer:
    """A Digest challenge read once, so later requests reuse it without re-parsing."""

    challenge: Challenge
    algorithm: DigestAlgorithm
    realm: str
    nonce: str
    qop: Optional[str]  # the chosen qop as the server spelled it, or None (RFC 2069)
    stale: bool
    userhash: bool
    utf8: bool  # charset=UTF-8 was offered

    @classmethod
    def from_challenge(cls, challenge: Challenge) -> "DigestOffer":
        """Read a Digest challenge; `UnsupportedChallenge` says why it cannot be answered."""
        params = challenge.params
        if challenge.scheme.lower() != "digest":
            raise UnsupportedChallenge(f"{challenge.scheme} is not Digest")
        nonce = params.get("nonce")
        if not nonce:
            raise UnsupportedChallenge("Digest challenge without a nonce")
        algorithm = find_algorithm(params.get("algorithm"))
        if algorithm is None:
            raise UnsupportedChallenge(f"unsupported Digest algorithm {params.get('algorithm')!r}")
        qop: Optional[str] = None
        # An empty qop="" reads as none: never answer it with an empty qop=.
        offered = {item.lower(): item for item in _split_list(params.get("qop", ""))}
        if offered:
            qop = offered.get("auth") or offered.get("auth-int")
            if qop is None:
                raise UnsupportedChallenge(f"unsupported qop {params['qop']!r}")
        elif algorithm.session:
            # RFC 2617 §3.2.2: no cnonce may be sent without qop, and -sess needs one.
            raise UnsupportedChallenge(f"{algorithm.name} without qop")
        return cls(
            challenge=challenge,
            algorithm=algorithm,
            realm=params.get("realm", ""),
            nonce=nonce,
            qop=qop,
            stale=params.get("stale", "").lower() == "true",
            userhash=params.get("userhash", "").lower() == "true",
            utf8=params.get("charset", "").lower() == "utf-8",
        )

    @property
    def algorithm_token(self) -> Optional[str]:
        """``algorithm`` exactly as the server spelled it (devices reject a respelling)."""
        algorithm = self.challenge.params.get("algorithm")
        return None if algorithm is None else algorithm.strip(" \t")

    @property
    def auth_int(self) -> bool:
        """qop=auth-int: the body's hash is part of A2, and of rspauth's."""
        return self.qop is not None and self.qop.lower() == "auth-int"

    @property
    def opaque(self) -> Optional[str]:
        return self.challenge.params.get("opaque")

    @property
    def domain(self) -> Optional[str]:
        return self.challenge.params.get("domain")


# A named tuple's generated __new__ is a Python function around tuple.__new__. The
# per-request records (DigestAnswer here, SentCredentials in _dialogue) call the latter
# directly, with every field in order: half the cost, once per request.
_new_tuple = tuple.__new__


class DigestAnswer(NamedTuple):
    """The Authorization value sent, and what verifying ``rspauth`` needs.

    A named tuple, not a frozen dataclass: one is made per request, and a tuple
    costs a quarter as much to build. Immutable all the same. It is also what
    a Digest responder answers with, as an ``Answer`` (`_schemes`) with the same
    three attributes: ``header``, ``digest`` (itself) and ``session`` (None).
    """

    header: str  # carries the response: never in a repr
    offer: DigestOffer
    ha1: str  # a password equivalent for the realm: never in a repr
    uri: str
    nonce_count: str
    cnonce: str

    @property
    def digest(self) -> "DigestAnswer":
        """As an Answer: the parts ``rspauth`` is checked with are these."""
        return self

    @property
    def session(self) -> None:
        """As an Answer: no security context."""
        return None

    def __repr__(self) -> str:
        return (
            f"DigestAnswer(offer={self.offer!r}, uri={self.uri!r}, nonce_count={self.nonce_count!r},"
            f" cnonce={self.cnonce!r})"
        )


def session_ha1(algorithm: DigestAlgorithm, username: str, realm: str, password: str) -> str:
    """H(username ":" realm ":" password): the part of A1 that never changes."""
    return algorithm.hash(username.encode("utf-8") + b":" + _octets(realm) + b":" + password.encode("utf-8"))


_CNONCES_PER_DRAW = 256  # 2 KiB of OS randomness at a time
_cnonces: List[str] = []  # drawn, not handed out yet


def new_cnonce() -> str:
    """A client nonce: 64 bits from the operating system's CSPRNG, as 16 hex digits.

    The cnonce has to be unpredictable to the server, so that a server choosing
    its nonce cannot precompute responses (RFC 7616 §5.9, §5.10), and drawn
    from a strong random source (§5.12): 64 random bits from ``os.urandom``
    (as requests' HTTPDigestAuth draws), not the 128 of ``secrets.token_hex(16)``.
    They are drawn 256 at a time: a getrandom() call per request costs more
    than the hash the cnonce goes into. ``list.pop`` hands each out once, to
    one thread; a forked child forgets the parent's, never repeating them.
    """
    try:
        return _cnonces.pop()
    except IndexError:
        drawn = os.urandom(8 * _CNONCES_PER_DRAW).hex()
        _cnonces.extend([drawn[i : i + 16] for i in range(16, len(drawn), 16)])
        return drawn[:16]


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_cnonces.clear)


def digest_authorization(
    offer: DigestOffer,
    username: str,
    password: str,
    method: str,
    uri: str,
    *,
    nonce_count: int = 1,
    cnonce: Optional[str] = None,
    body: bytes = b"",
    base_ha1: Optional[str] = None,
) -> DigestAnswer:
    """Compute the Digest credentials for one request (RFC 7616 §3.4).

    ``uri`` is the request-target exactly as sent; ``body`` matters only for
    qop=auth-int; ``base_ha1`` lets a caller reuse `session_ha1` across requests.
    """
    reject_unsendable_username(username)
    reject_control_characters(password, "password")
    ha1 = base_ha1 or session_ha1(offer.algorithm, username, offer.realm, password)
    entity_hash = offer.algorithm.hash(body) if offer.auth_int else None
    return DigestTemplate(offer, username, ha1, cnonce).answer(method, uri, nonce_count, entity_hash)


@functools.lru_cache(maxsize=256)
def _target_parts(hash: HashFunction, method: str, uri: str) -> Tuple[str, str]:
    """What the method and uri alone decide: H(A2) for qop=auth and RFC 2069
    (A2 = method ":" uri, RFC 7616 §3.4.3), and the header's quoted ``uri``.

    A client sending the same requests again (a Session polling one URL)
    computes them once per algorithm; bounded at 256 (method, uri) pairs,
    which the caller chose, never the server.
    """
    return hash(_octets(f"{method}:{uri}")), quote_string(uri)


class DigestTemplate:
    """One offer, user and H(A1), ready to answer request after request (RFC 7616 §3.4).

    Of response = KD(H(A1), nonce ":" nc ":" cnonce ":" qop ":" H(A2))
    (§3.4.1), only nc, cnonce and H(A2) change per request:

    - H(A1) is computed here once: for ``-sess`` too (§3.4.2), with one cnonce
      for the nonce, so A1 is the same whether the server caches it or
      recomputes it.
    - KD's input starts with H(A1) ":" nonce ":", the same every time: it is
      hashed here once, and each request continues from a copy of that state
      (the same digest; half the blocks of SHA-256).
    - H(A2) for qop=auth repeats with the method and uri (`_target_parts`).
    - Realm, nonce, opaque and the user name are quoted here once.

    What is left per request is part of one hash (a second for auth-int), a
    cnonce and one f-string.
    """

    __slots__ = (
        "offer", "ha1", "_hash", "_cnonce", "_qop", "_auth_int", "_kd_head", "_kd_state",
        "_head", "_middle", "_tail", "_end",
    )

    def __init__(self, offer: DigestOffer, username: str, base_ha1: str, cnonce: Optional[str] = None) -> None:
        """``base_ha1`` is `session_ha1`'s value; ``cnonce`` fixes the client nonce
        (tests, RFC examples), else ``-sess`` draws one here and the others one per request."""
        algorithm = offer.algorithm
        self.offer = offer
        self._hash = algorithm.hash
        self._qop = offer.qop
        self._auth_int = offer.auth_int
        if algorithm.session:
            if cnonce is None:
                cnonce = new_cnonce()
            base_ha1 = self._hash(_octets(f"{base_ha1}:{offer.nonce}:{cnonce}"))  # A1 -sess, §3.4.2
        self.ha1 = base_ha1  # a password equivalent: never in a repr
        self._cnonce = cnonce
        self._kd_head = f"{base_ha1}:{offer.nonce}:"  # KD(H(A1), nonce ":" ...), §3.4.1
        state = algorithm.new()
        state.update(_octets(self._kd_head))
        self._kd_state = state if hasattr(state, "copy") else None  # hashlib's can; the pure SHA-512/256 not
        fields = [
            _username_field(offer, username, algorithm),
            f"realm={quote_string(offer.realm)}",
            f"nonce={quote_string(offer.nonce)}",
        ]
        self._head = "Digest " + ", ".join(fields) + ", uri="
        token = offer.algorithm_token  # unquoted: RFC 7616 ABNF
        self._middle = (f", algorithm={token}" if token is not None else "") + ', response="'
        opaque = offer.opaque
        tail = '"' + (f", opaque={quote_string(opaque)}" if opaque is not None else "")
        if self._qop is not None:
            tail += f", qop={self._qop}, nc="  # nc and cnonce follow per request
        self._tail = tail
        self._end = ", userhash=true" if offer.userhash else ""

    def __repr__(self) -> str:
        return f"<DigestTemplate {self.offer.algorithm.name}>"

    def answer(self, method: str, uri: str, nonce_count: int, entity_hash: Optional[str] = None) -> DigestAnswer:
        """The credentials for one request; ``entity_hash`` is H(entity-body), for qop=auth-int only."""
        if self._auth_int:
            ha2 = self._hash(_octets(f"{method}:{uri}:{entity_hash}"))  # A2 for auth-int, §3.4.3
            quoted_uri = quote_string(uri)
        else:
            ha2, quoted_uri = _target_parts(self._hash, method, uri)
        nc = "%08x" % nonce_count
        cnonce = self._cnonce
        qop = self._qop
        if qop is None:  # RFC 2069: KD(H(A1), nonce ":" H(A2)); no nc, no cnonce
            rest = ha2
        else:
            if cnonce is None:
                cnonce = new_cnonce()
            rest = f"{nc}:{cnonce}:{qop}:{ha2}"
        state = self._kd_state
        if state is not None and rest.isascii():  # then its octets follow the head's as one string's would
            state = state.copy()
            state.update(rest.encode("ascii"))
            response = state.hexdigest()
        else:
            response = self._hash(_octets(self._kd_head + rest))
        if qop is None:
            header = f"{self._head}{quoted_uri}{self._middle}{response}{self._tail}{self._end}"
        else:
            header = f'{self._head}{quoted_uri}{self._middle}{response}{self._tail}{nc}, cnonce="{cnonce}"{self._end}'
        return _new_tuple(DigestAnswer, (header, self.offer, self.ha1, uri, nc, cnonce or ""))


def _username_field(offer: DigestOffer, username: str, algorithm: DigestAlgorithm) -> str:
    """username, hashed, or in RFC 8187 form (RFC 7616 §3.4.4)."""
    if offer.userhash:
        hashed = algorithm.hash(username.encode("utf-8") + b":" + _octets(offer.realm))
        return f'username="{hashed}"'
    if username.isascii():
        return f"username={quote_string(username)}"
    if offer.utf8:
        return "username*=UTF-8''" + quote(username, safe="!#$&+-.^_`|~")
    # RFC 2617 servers (Apache httpd, squid) compare the raw UTF-8 octets.
    return f"username={quote_string(username.encode('utf-8').decode('latin-1'))}"


def expected_rspauth(answer: DigestAnswer, response_body: bytes = b"", *, entity_hash: Optional[str] = None) -> str:
    """The ``rspauth`` a server that knows the password sends back (RFC 7616 §3.5).

    Same as the request digest, with A2 = ":" uri (plus the body hash for
    auth-int: give the body, or its hash from `DigestAlgorithm.hash_chunks`).
    """
    offer = answer.offer
    h = offer.algorithm.hash
    a2 = f":{answer.uri}"
    if offer.auth_int:
        a2 += ":" + (entity_hash if entity_hash is not None else h(response_body))
    ha2 = h(_octets(a2))
    if offer.qop is None:
        return h(_octets(f"{answer.ha1}:{offer.nonce}:{ha2}"))
    return h(_octets(f"{answer.ha1}:{offer.nonce}:{answer.nonce_count}:{answer.cnonce}:{offer.qop}:{ha2}"))
