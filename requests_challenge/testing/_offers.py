"""What a test server offers: Basic, Digest and verbatim challenges (RFC 9110 §11.6.1).

Each offer is a frozen value that renders itself; the nonce a Digest challenge
carries is the verifier's business and is handed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

from .._digest import DIGEST_CHALLENGE_TOKENS, DigestAlgorithm, find_algorithm
from .._grammar import quote_string, render_auth_params

__all__ = ["DEFAULT_REALM", "Basic", "Digest", "Raw", "Offer"]

DEFAULT_REALM = "requests-challenge"


@dataclass(frozen=True)
class Basic:
    """Offer Basic (RFC 7617); ``charset=True`` adds ``charset="UTF-8"`` (§2.1).

    Credentials are read as UTF-8, and as ISO-8859-1 when they are not UTF-8
    and no charset was offered, as lenient servers do.
    """

    realm: str = DEFAULT_REALM
    charset: bool = False

    def render(self) -> str:
        # §2.1 shows charset quoted; both forms are allowed, and clients must read either.
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
        params = [("realm", self.realm)]
        if self.domain:
            params.append(("domain", " ".join(self.domain)))
        params.append(("nonce", nonce))
        if self.opaque is not None:
            params.append(("opaque", self.opaque))
        if stale:
            params.append(("stale", "true"))
        if self.algorithm is not None:
            params.append(("algorithm", self.algorithm))
        if self.qop is not None:
            params.append(("qop", self.qop))
        if self.charset:
            params.append(("charset", "UTF-8"))
        if self.userhash:
            params.append(("userhash", "true"))
        return "Digest " + render_auth_params(params, DIGEST_CHALLENGE_TOKENS)


@dataclass(frozen=True)
class Raw:
    """A challenge sent verbatim and never accepted, e.g. ``Raw('Bearer realm="api"')``."""

    text: str

    def render(self) -> str:
        return self.text


Offer = Union[Basic, Digest, Raw]
