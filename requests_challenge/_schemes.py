"""Credentials, and how they answer one chosen challenge: the pure part of every scheme.

A `Responder` is built once per (challenge, user) and then answers request
after request: Basic's header is fixed; Digest keeps H(user:realm:password)
and a `DigestTemplate` per nonce (H(A1), for ``-sess`` with one cnonce per
nonce, so A1 is the same whether the server caches it (RFC 7616 §3.4.2) or
recomputes it; the quoted header parts). Responders are immutable, so the
protection-space store can hand one to many threads; only the nonce count,
which the store reserves under its lock, changes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, NamedTuple, Optional, Protocol, Sequence, Union

from ._basic import basic_authorization, reject_control_characters, reject_unsendable_username
from ._digest import DigestAnswer, DigestTemplate, session_ha1
from ._grammar import Challenge
from ._ranking import Choice


__all__ = ["Credentials", "Answer", "AnyAnswer", "BasicResponder", "DigestResponder", "Responder"]


@dataclass(frozen=True, repr=False)
class Credentials:
    """A user name and password, checked once: what cannot go into a header is refused here."""

    username: str
    password: str
    basic_encoding: str = "utf-8"  # "latin-1" for legacy Basic servers (RFC 7617 §2.1)

    def __post_init__(self) -> None:
        reject_unsendable_username(self.username)
        reject_control_characters(self.password, "password")
        "".encode(self.basic_encoding)  # LookupError now for an unknown encoding

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=…)"

    @classmethod
    def pair(cls, value: object, what: str, basic_encoding: str = "utf-8") -> "Credentials":
        """A ``(username, password)`` pair given as an option: exactly two str, or TypeError
        (a str of two characters is not a pair)."""
        if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(isinstance(v, str) for v in value):
            raise TypeError(f"{what} must be a (username, password) tuple of two str")
        try:
            return cls(value[0], value[1], basic_encoding)
        except ValueError as exc:
            raise ValueError(f"{what}: {exc}") from None


class Answer(NamedTuple):
    """One credentials header value, and what judging the reply needs: for Digest the
    parts ``rspauth`` is checked with, for Negotiate/NTLM the security context.

    Digest's responder answers with its `DigestAnswer` itself, which has these three
    attributes too: one object per request, not two (`AnyAnswer`)."""

    header: str  # Basic's carries the password, Negotiate's a token: never in a repr
    digest: Optional[DigestAnswer] = None
    session: Any = None  # never in a repr

    def __repr__(self) -> str:
        return f"Answer(digest={self.digest!r})"


AnyAnswer = Union[Answer, DigestAnswer]  # what a responder answers with: header, digest, session


class BasicResponder:
    """RFC 7617: the same header for every request in the space."""

    __slots__ = ("choice", "_answer")
    needs_body = False
    nonce = None  # nothing to count
    pinned = False  # one leg: any connection will do

    def __init__(self, choice: Choice, credentials: Credentials) -> None:
        self.choice = choice
        # ValueError for a user name with ':' (RFC 7617 §2): the ranking falls back.
        header = basic_authorization(
            credentials.username, credentials.password, credentials.basic_encoding,
            charset=choice.challenge.params.get("charset"),
        )
        self._answer = Answer(header)

    def answer(self, method: str, uri: str, nonce_count: int, body: Iterable[bytes] = ()) -> Answer:
        return self._answer

    def with_nonce(self, nonce: str) -> "BasicResponder":
        return self

    def next_leg(self, challenges: Sequence[Challenge], session: Any = None) -> Optional[Answer]:
        return None  # one leg: a second challenge is a refusal

    def verify(self, challenges: Sequence[Challenge], session: Any = None) -> Optional[str]:
        return None  # nothing the server could prove

    def reusable(self, session: Any = None) -> bool:
        return True  # the same header for every request of the space


class DigestResponder:
    """RFC 7616 §3.4 for one nonce: per request one hash (H(A2) for qop=auth is
    cached), a cnonce and one f-string; see `DigestTemplate`."""

    __slots__ = ("choice", "needs_body", "nonce", "_username", "_base_ha1", "_template")
    pinned = False

    def __init__(self, choice: Choice, credentials: Credentials, base_ha1: Optional[str] = None) -> None:
        offer = choice.digest
        assert offer is not None
        self._username = credentials.username
        self._base_ha1 = base_ha1 or session_ha1(offer.algorithm, credentials.username, offer.realm, credentials.password)
        self._for_offer(choice)

    def _for_offer(self, choice: Choice) -> None:
        offer = choice.digest
        assert offer is not None
        self.choice = choice
        self.needs_body = offer.auth_int  # plain attributes, not properties: read per request
        self.nonce = offer.nonce
        self._template = DigestTemplate(offer, self._username, self._base_ha1)

    def answer(self, method: str, uri: str, nonce_count: int, body: Iterable[bytes] = ()) -> DigestAnswer:
        """``body``: the entity body's chunks, read only for qop=auth-int."""
        template = self._template
        entity_hash = template.offer.algorithm.hash_chunks(body) if self.needs_body else None
        return template.answer(method, uri, nonce_count, entity_hash)

    def with_nonce(self, nonce: str) -> "DigestResponder":
        """The responder for ``nextnonce`` (RFC 7616 §3.5): same user and realm, new nonce
        (and for ``-sess`` a new cnonce, so a new H(A1))."""
        offer = self.choice.digest
        assert offer is not None
        renewed = DigestResponder.__new__(DigestResponder)
        renewed._username = self._username
        renewed._base_ha1 = self._base_ha1
        renewed._for_offer(replace(self.choice, digest=replace(offer, nonce=nonce, stale=False)))
        return renewed

    def next_leg(self, challenges: Sequence[Challenge], session: Any = None) -> Optional[Answer]:
        return None

    def verify(self, challenges: Sequence[Challenge], session: Any = None) -> Optional[str]:
        return None  # rspauth is read from Authentication-Info by the dialogue

    def reusable(self, session: Any = None) -> bool:
        return True  # the next nonce count, up front


class Responder(Protocol):
    """What the dialogue and the store need of a scheme: immutable, shared by threads.

    ``answer`` gives the credentials for one request; ``next_leg`` continues a
    multi-leg handshake (NTLM, Negotiate) from the server's token, ``verify``
    checks the server's last token, ``reusable`` says whether the space may be
    answered up front afterwards, ``pinned`` whether legs must share a connection.
    """

    @property
    def choice(self) -> Choice: ...

    @property
    def needs_body(self) -> bool: ...

    @property
    def nonce(self) -> Optional[str]: ...

    @property
    def pinned(self) -> bool: ...

    def answer(self, method: str, uri: str, nonce_count: int, body: Iterable[bytes] = ()) -> AnyAnswer: ...

    def with_nonce(self, nonce: str) -> "Responder": ...

    def next_leg(self, challenges: Sequence[Challenge], session: Any = None) -> Optional[Answer]: ...

    def verify(self, challenges: Sequence[Challenge], session: Any = None) -> Optional[str]: ...

    def reusable(self, session: Any = None) -> bool: ...
