"""Which offered challenge to answer: the strongest one this client supports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import FrozenSet, Iterable, List, Optional, Tuple

from ._digest import DigestOffer, UnsupportedChallenge
from ._extras import EXTRA_HINT, available
from ._grammar import Challenge

__all__ = ["SUPPORTED_SCHEMES", "Choice", "allowed_schemes", "rank_challenges", "choose_challenge"]

SUPPORTED_SCHEMES = ("negotiate", "ntlm", "digest", "basic")
_BASIC_STRENGTH = 0  # below every Digest algorithm: the password travels in the clear
# Negotiate (Kerberos) above everything: no password-derived proof goes to the
# server, and the server proves itself. NTLM between Digest's hashes: NTLMv2's
# proof is HMAC-MD5 over both sides' challenges (MS-NLMP §3.3.2), harder to
# attack than Digest MD5 or SHA-1 responses, weaker than Digest with SHA-2.
_NEGOTIATE_STRENGTH = 100
_NTLM_STRENGTH = 25  # Digest: SHA-512-256 50, SHA-512 40, SHA-256 30 | SHA 20, MD5 10

# What answering and the protection space need of a challenge (RFC 7616 §3.3,
# RFC 7617 §2): a remembered space keeps these and nothing else.
_KEPT_PARAMS = frozenset({"realm", "nonce", "opaque", "algorithm", "qop", "charset", "userhash", "domain", "stale"})
# A value we would echo back that is longer than a server accepts in a header
# line (Apache: 8190 octets) cannot be answered; refusing it bounds what is kept.
MAX_VALUE = 8192


def _kept(challenge: Challenge) -> Challenge:
    params = challenge.params
    if params.keys() <= _KEPT_PARAMS:
        return challenge
    return Challenge(challenge.scheme, {k: v for k, v in params.items() if k in _KEPT_PARAMS})


@dataclass(frozen=True)
class Choice:
    """A challenge this client can answer, and how strong the answer is."""

    challenge: Challenge
    scheme: str  # "negotiate", "ntlm", "digest" or "basic"
    strength: int
    digest: Optional[DigestOffer] = None

    def describe(self) -> str:
        """A short name for logs and the command line, e.g. ``Digest SHA-256``."""
        if self.digest is not None:
            return f"Digest {self.digest.algorithm.name}"
        return {"negotiate": "Negotiate", "ntlm": "NTLM"}.get(self.scheme, "Basic")


def allowed_schemes(schemes: Optional[Iterable[str]]) -> FrozenSet[str]:
    """Validate a caller's ``schemes=`` restriction (e.g. ``("digest",)`` to forbid Basic)."""
    if schemes is None:
        return frozenset(SUPPORTED_SCHEMES)
    if isinstance(schemes, str):
        schemes = (schemes,)
    chosen = frozenset(s.lower() for s in schemes)
    unknown = chosen.difference(SUPPORTED_SCHEMES)
    if unknown:
        raise ValueError(f"unsupported schemes {sorted(unknown)}; choose from {SUPPORTED_SCHEMES}")
    if not chosen:
        raise ValueError("schemes must name at least one scheme")
    return chosen


def rank_challenges(
    challenges: Iterable[Challenge], schemes: FrozenSet[str] = frozenset(SUPPORTED_SCHEMES)
) -> Tuple[List[Choice], List[Tuple[Challenge, str]]]:
    """Answerable challenges strongest first, and the others with the reason they were skipped.

    Negotiate > Digest SHA-512-256 > SHA-512 > SHA-256 > NTLM > Digest SHA > MD5
    (-sess ranks with its base) > Basic; between equals the server's order wins
    (the sort is stable).
    """
    usable: List[Choice] = []
    skipped: List[Tuple[Challenge, str]] = []
    for challenge in challenges:
        name = challenge.scheme.lower()
        if name not in SUPPORTED_SCHEMES:
            skipped.append((challenge, f"scheme {challenge.scheme} is not supported"))
        elif name not in schemes:
            skipped.append((challenge, f"scheme {challenge.scheme} is not allowed by schemes="))
        elif challenge.token68 is not None:
            # Negotiate/NTLM: a server's continuation token, answered by the handshake it continues.
            skipped.append((challenge, f"{challenge.scheme} challenge in token68 form"))
        elif any(len(challenge.params.get(key, "")) > MAX_VALUE for key in _KEPT_PARAMS):
            skipped.append((challenge, f"{challenge.scheme} challenge with a value over {MAX_VALUE} characters"))
        elif name == "basic":
            usable.append(Choice(_kept(challenge), "basic", _BASIC_STRENGTH))
        elif name in ("negotiate", "ntlm"):
            if available(name):
                strength = _NEGOTIATE_STRENGTH if name == "negotiate" else _NTLM_STRENGTH
                usable.append(Choice(Challenge(challenge.scheme), name, strength))
            else:
                skipped.append((challenge, EXTRA_HINT[name]))
        else:
            kept = _kept(challenge)
            try:
                offer = DigestOffer.from_challenge(kept)
            except UnsupportedChallenge as exc:
                skipped.append((challenge, str(exc)))
            else:
                usable.append(Choice(kept, "digest", offer.algorithm.strength, offer))
    usable.sort(key=lambda choice: -choice.strength)
    return usable, skipped


def choose_challenge(
    challenges: Iterable[Challenge], schemes: FrozenSet[str] = frozenset(SUPPORTED_SCHEMES)
) -> Optional[Choice]:
    """The strongest answerable challenge, or None."""
    usable, _ = rank_challenges(challenges, schemes)
    return usable[0] if usable else None
