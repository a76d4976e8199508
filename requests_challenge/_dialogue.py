"""One hop's authentication dialogue with one party, without I/O.

A transport (the requests hook, the CONNECT tunnel, next httpx and aiohttp)
makes one `Dialogue` per hop and party: per request of a redirect chain, and
separately for the origin (401, RFC 9110 §11.6.1) and a proxy (407, §11.7.1).
It only moves bytes; every decision is made here:

    header = dialogue.first()            credentials up front, or None
    action = dialogue.on_reply(reply)    for each reply of this party:
        Send(header)   send the request again with this credentials header
        Done()         pass the reply on (Authentication-Info already read)
        GiveUp(reason) pass the reply on or raise; ``mutual`` means rspauth failed
    header = dialogue.resend()           fresh credentials (next nc) when the
                                         request goes again for another party

Most replies to credentials sent up front are a plain 200 with nothing to
read, so a transport may put off the Dialogue until a reply calls for one:

    sent = credentials_up_front(...)     what first() would send, no Dialogue
    sent.read_on_success(party)          the header of a success that matters
    Dialogue(..., sent=sent)             for a challenge, a redirect, or that header

The retry rule is one value, `Budget`, with one rule for origins and proxies:
at most ``Budget.credentialed`` requests of a dialogue carry credentials (up
front or answering), and after a refusal a challenge is answered again only
when the refused credentials came from the store (their nonce may simply be
spent) or the new challenge says ``stale=true`` (RFC 7616 §3.3). A scheme
whose answer takes several legs (NTLM, Negotiate) continues through its
responder's ``next_leg`` without spending the budget, for at most `MAX_LEGS`.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Callable, FrozenSet, Iterable, NamedTuple, Optional, Sequence, Union

from ._digest import Hasher, _new_tuple, expected_rspauth
from ._errors import ChallengeParseError, UnsendableBody
from ._grammar import Challenge, parse_auth_params, parse_challenges_lenient
from ._ranking import SUPPORTED_SCHEMES, Choice, rank_challenges
from ._negotiate import SpnegoResponder
from ._schemes import AnyAnswer, BasicResponder, Credentials, DigestResponder, Responder
from ._spaces import ProtectionSpaces, SpaceKey, origin_of, space_prefixes

__all__ = [
    "Party",
    "ORIGIN",
    "PROXY",
    "Budget",
    "RequestTarget",
    "Reply",
    "Send",
    "Done",
    "BodyCheck",
    "GiveUp",
    "Action",
    "Dialogue",
    "SentCredentials",
    "credentials_up_front",
    "MAX_LEGS",
    "responder_for",
]

log = logging.getLogger("requests_challenge")

MAX_LEGS = 8  # continuation legs of one multi-leg answer (NTLM needs 2, Kerberos 1-2)


@dataclass(frozen=True)
class Party:
    """Who challenges, and the header names of its side of the dialogue."""

    name: str
    noun: str  # how messages name it
    status: int
    challenge_header: str
    credentials_header: str
    info_header: str


ORIGIN = Party("origin", "server", 401, "WWW-Authenticate", "Authorization", "Authentication-Info")
PROXY = Party("proxy", "proxy", 407, "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Authentication-Info")


@dataclass(frozen=True)
class Budget:
    """How many requests of one dialogue may carry credentials (cf. urllib3's ``Retry``).

    Two: up front then one answer, or one answer then one more for a stale
    nonce. More would only resend what a server refused (account lockout).
    """

    credentialed: int = 2

    def spend(self) -> "Budget":
        return Budget(self.credentialed - 1)  # not dataclasses.replace: this runs per request

    @property
    def exhausted(self) -> bool:
        return self.credentialed <= 0


def _no_body() -> Iterable[bytes]:
    return ()


@dataclass(frozen=True)
class RequestTarget:
    """The request a dialogue authenticates.

    ``uri`` is Digest's ``uri``: the request-target as sent (origin-form
    ``/path?q``; absolute-form through an HTTP proxy; ``host:port`` for CONNECT,
    RFC 9112 §3.2). ``space_url`` is where the protection space is looked up:
    the request's URL, or the proxy's. ``body`` gives the exact body octets in chunks,
    asked for only by qop=auth-int, and may raise `UnsendableBody`.
    """

    method: str
    uri: str
    space_url: str
    body: Callable[[], Iterable[bytes]] = _no_body


@dataclass(frozen=True)
class Reply:
    """What a dialogue reads of a reply: status, its party's header lines, and the body on
    demand, in chunks; ``body=None`` when the caller streams it and reads it later."""

    status: int
    challenges: Sequence[str] = ()
    info: Sequence[str] = ()
    body: Optional[Callable[[], Iterable[bytes]]] = _no_body
    certificate: Optional[bytes] = None  # the TLS server's (DER), for channel binding


@dataclass(frozen=True)
class BodyCheck:
    """``rspauth`` over a body not read yet (qop=auth-int, streamed): feed every octet of
    the body to ``new_hash()``'s object as the caller reads it, then call ``verify`` with
    its hexdigest; a reason comes back when the server failed to prove it knows the password."""

    new_hash: Callable[[], Hasher]
    verify: Callable[[str], Optional[str]]


@dataclass(frozen=True)
class Send:
    header: str  # the credentials header value for the next request
    pinned: bool = False  # a leg of a handshake bound to one connection (NTLM)


@dataclass(frozen=True)
class Done:
    body_check: Optional[BodyCheck] = None  # for the transport to run while the body is read


@dataclass(frozen=True)
class GiveUp:
    reason: str
    mutual: bool = False  # the server failed to prove it knows the password


Action = Union[Send, Done, GiveUp]
_DONE = Done()


class SentCredentials(NamedTuple):
    """The credentials on a request, and how they were produced: what judging its reply
    needs. A named tuple: one is made per request sent with credentials."""

    responder: Responder
    answer: AnyAnswer
    nonce_count: int
    up_front: bool  # from the store (or preemptive Basic), not an answer to this hop's challenge
    key: Optional[SpaceKey] = None  # set while the space is in the store
    legs: int = 1

    def read_on_success(self, party: Party) -> Optional[str]:
        """The header a reply that accepted these credentials may carry for them: Digest's
        ``Authentication-Info`` (``rspauth``, ``nextnonce``: RFC 7616 §3.5), Negotiate's
        last token in ``WWW-Authenticate`` (RFC 4559 §5); None for Basic. A reply without
        it that is neither a challenge nor a redirect needs no `Dialogue`."""
        if self.answer.digest is not None:
            return party.info_header
        if self.answer.session is not None:
            return party.challenge_header
        return None

    def __repr__(self) -> str:
        return f"<SentCredentials {self.responder.choice.describe()} nc={self.nonce_count}>"


def credentials_up_front(
    spaces: Optional[ProtectionSpaces],
    method: str,
    uri: str,
    space_url: str,
    body: Callable[[], Iterable[bytes]] = _no_body,
    *,
    credentials: Optional[Credentials] = None,
    preemptive_basic: bool = False,
) -> Optional[SentCredentials]:
    """Credentials for a request before any reply: the store's space covering
    ``space_url`` with its next nonce count, else Basic when ``preemptive_basic``.

    This is `Dialogue.first` without the Dialogue: most requests never need one
    (their reply is a plain 200), so a transport calls this per request and makes
    the hop's dialogue, with ``sent=`` what this returned, only when a reply calls
    for it. ``method``, ``uri``, ``space_url`` and ``body`` are `RequestTarget`'s.
    """
    if spaces is not None:
        claim = spaces.claim(space_url)
        if claim is not None:
            key, responder, nonce_count = claim
            try:
                answer = responder.answer(method, uri, nonce_count, body() if responder.needs_body else ())
            except (UnsendableBody, ValueError) as exc:  # a stream for auth-int; an expired Kerberos login
                log.debug("not sending credentials up front: %s", exc)
            else:
                return _new_tuple(SentCredentials, (responder, answer, nonce_count, True, key, 1))
    if preemptive_basic and credentials is not None:
        responder = BasicResponder(_PREEMPTIVE_BASIC, credentials)
        return SentCredentials(responder, responder.answer("", "", 0), 0, True)
    return None


class Dialogue:
    """One hop with one party: what to send first, and what each reply calls for.

    ``sent``: the credentials this hop's request already carries, from
    `credentials_up_front`, as if `first` had sent them.
    """

    def __init__(
        self,
        party: Party,
        credentials: Optional[Credentials],
        target: RequestTarget,
        spaces: Optional[ProtectionSpaces],
        *,
        schemes: FrozenSet[str] = frozenset(SUPPORTED_SCHEMES),
        budget: Budget = Budget(),
        preemptive_basic: bool = False,
        sent: Optional[SentCredentials] = None,
    ) -> None:
        self.party = party
        self.target = target
        self._credentials = credentials
        self._schemes = schemes
        self._budget = budget
        self._spaces = spaces  # None: nothing up front, nothing kept beyond this hop
        self._preemptive_basic = preemptive_basic
        self._sent: Optional[SentCredentials] = None
        self._over = False
        if sent is not None:
            self._record(sent)

    def __repr__(self) -> str:
        state = "over" if self._over else ("sent" if self._sent else "idle")
        return f"<Dialogue {self.party.name} {self.target.method} {self.target.uri!r} {state}>"

    @property
    def budget(self) -> Budget:
        return self._budget

    # -- before the first reply ---------------------------------------------------

    def first(self) -> Optional[str]:
        """Credentials to send up front: the store's space for the target, next nc."""
        target = self.target
        sent = credentials_up_front(
            self._spaces, target.method, target.uri, target.space_url, target.body,
            credentials=self._credentials, preemptive_basic=self._preemptive_basic,
        )
        return None if sent is None else self._record(sent)

    def resend(self) -> Optional[str]:
        """Fresh credentials (the next nc) for a resend that another party's challenge caused."""
        sent = self._sent
        if sent is None or self._over:
            return None
        if sent.key is not None and self._spaces is not None:
            claim = self._spaces.claim(self.target.space_url)
            if claim is None:
                self._sent = None  # forgotten meanwhile: the next challenge says what to do
                return None
            key, responder, nonce_count = claim
            answer = self._answer(responder, nonce_count)
            if answer is None:
                self._sent = None
                return None
            self._sent = sent._replace(responder=responder, answer=answer, nonce_count=nonce_count, key=key)
            return answer.header
        count = self._next_count(sent.responder, sent.nonce_count)
        answer = self._answer(sent.responder, count)
        if answer is None:
            return None
        self._sent = sent._replace(answer=answer, nonce_count=count)
        return answer.header

    # -- each reply -------------------------------------------------------------------

    def on_reply(self, reply: Reply) -> Action:
        """What this party's reply calls for. Replies with another status were accepted."""
        if self._over:
            return _DONE
        if reply.status == self.party.status:
            return self._challenged(reply)
        return self._accepted(reply)

    def _challenged(self, reply: Reply) -> Action:
        challenges, errors = parse_challenges_lenient(reply.challenges)
        for error in errors:
            log.debug("ignoring a malformed %s challenge: %s", self.party.name, error)
        refused = self._sent
        if refused is not None and refused.legs < MAX_LEGS:
            follow_up = refused.responder.next_leg(challenges, refused.answer.session)
            if follow_up is not None:  # a multi-leg scheme's next token, not a refusal
                self._sent = refused._replace(answer=follow_up, legs=refused.legs + 1)
                return Send(follow_up.header, refused.responder.pinned)
        usable, skipped = rank_challenges(challenges, self._schemes)
        reasons = [reason for _, reason in skipped]
        if refused is not None:
            if refused.key is not None and self._spaces is not None:
                # Spent (rotated, expired) or wrong: never sent up front again.
                self._spaces.forget(refused.key, refused.responder)
            stale = bool(usable) and usable[0].digest is not None and usable[0].digest.stale
            if self._budget.exhausted or not (refused.up_front or stale):
                return self._give_up(
                    f"the {self.party.noun} refused the {refused.responder.choice.describe()} credentials"
                    f" (realm {refused.responder.choice.challenge.params.get('realm', '')!r})"
                )
        elif self._budget.exhausted:
            return self._give_up(f"no credentials may be sent to the {self.party.noun} any more")
        for choice in usable:  # strongest first; a weaker one when it cannot be sent
            try:
                responder = responder_for(
                    choice, self._credentials, origin_of(self.target.space_url)[1], self._schemes, reply.certificate
                )
                count = self._next_count(responder, 0)
                answer = self._answer(responder, count, strict=True)
            except (UnsendableBody, ValueError) as exc:  # auth-int on a stream; ':' in Basic; no ticket
                reasons.append(f"cannot answer {choice.describe()}: {exc}")
                continue
            assert answer is not None
            log.debug(
                "answering the %s's challenge with %s (realm %r%s)", self.party.name, choice.describe(),
                choice.challenge.params.get("realm", ""), ", stale nonce" if choice.digest and choice.digest.stale else "",
            )
            return Send(self._record(SentCredentials(responder, answer, count, False)), responder.pinned)
        return self._give_up(
            f"no {self.party.name} challenge this client can answer ({'; '.join(reasons) or 'none offered'})"
        )

    def _accepted(self, reply: Reply) -> Action:
        """Not challenged: keep the space that worked, read Authentication-Info (RFC 7616 §3.5)."""
        sent = self._sent
        if sent is None:
            return _DONE
        if sent.answer.session is not None:  # Negotiate: the server's last token proves it (RFC 4559 §5)
            reason = sent.responder.verify(parse_challenges_lenient(reply.challenges)[0], sent.answer.session)
            if reason is not None:
                return self._give_up(reason, mutual=True)
        if (
            sent.key is None
            and not sent.up_front
            and self._spaces is not None
            and sent.responder.reusable(sent.answer.session)  # not NTLM: bound to its connection
        ):
            url = self.target.space_url
            key = self._spaces.remember(origin_of(url), space_prefixes(sent.responder.choice, url), sent.responder)
            sent = self._sent = sent._replace(key=key)
        digest = sent.answer.digest
        if digest is None or not reply.info:
            return _DONE
        try:
            info = parse_auth_params(reply.info)
        except ChallengeParseError as exc:
            log.debug("ignoring a malformed %s: %s", self.party.info_header, exc)
            return _DONE
        rspauth = info.get("rspauth")
        done = _DONE
        if rspauth is not None:
            auth_int = digest.offer.auth_int
            if auth_int and reply.body is None:
                done = Done(BodyCheck(digest.offer.algorithm.new, lambda entity_hash: self._check(sent, rspauth, entity_hash)))
            else:
                entity_hash = digest.offer.algorithm.hash_chunks(reply.body()) if auth_int and reply.body else None
                reason = self._check(sent, rspauth, entity_hash)
                if reason is not None:
                    return self._give_up(reason, mutual=True)
        nextnonce = info.get("nextnonce")
        if nextnonce:
            if sent.key is not None and self._spaces is not None:
                self._spaces.renew_nonce(sent.key, sent.responder, nextnonce)
            else:  # a space kept by this dialogue alone
                self._sent = sent._replace(responder=sent.responder.with_nonce(nextnonce), nonce_count=0)
        return done

    def _check(self, sent: SentCredentials, rspauth: str, entity_hash: Optional[str]) -> Optional[str]:
        """None when ``rspauth`` proves the server knows the password, else why not;
        an impostor's space is never used again."""
        digest = sent.answer.digest
        assert digest is not None
        expected = expected_rspauth(digest, entity_hash=entity_hash)
        if secrets.compare_digest(rspauth.lower().encode("latin-1", "replace"), expected.encode("ascii")):
            return None
        if sent.key is not None and self._spaces is not None:
            self._spaces.forget(sent.key, sent.responder)
        return (
            f"the {self.party.noun}'s rspauth does not match ({sent.responder.choice.describe()}):"
            " it may not know the password"
        )

    # -- helpers -----------------------------------------------------------------------

    def _next_count(self, responder: Responder, last: int) -> int:
        """The nc for the next answer with ``responder``'s nonce: from the store, which
        every request shares, or for a hop whose space is never kept, after ``last``."""
        if self._spaces is not None:
            return self._spaces.reserve(origin_of(self.target.space_url), responder)
        return last + 1

    def _answer(self, responder: Responder, nonce_count: int, strict: bool = False) -> Optional[AnyAnswer]:
        """``responder``'s credentials for the target, or None when the body cannot be hashed."""
        try:
            body = self.target.body() if responder.needs_body else ()
            return responder.answer(self.target.method, self.target.uri, nonce_count, body)
        except (UnsendableBody, ValueError) as exc:  # a stream for auth-int; an expired Kerberos login
            if strict:
                raise
            log.debug("not sending credentials up front: %s", exc)
            return None

    def _record(self, sent: SentCredentials) -> str:
        self._sent = sent
        self._budget = self._budget.spend()
        return sent.answer.header

    def _give_up(self, reason: str, mutual: bool = False) -> GiveUp:
        log.debug("giving up: %s", reason)
        self._over = True
        self._sent = None
        return GiveUp(reason, mutual)


def responder_for(
    choice: Choice,
    credentials: Optional[Credentials],
    hostname: str = "",
    schemes: FrozenSet[str] = frozenset(),
    certificate: Optional[bytes] = None,
) -> Responder:
    """The responder for a ranked choice; ValueError when these credentials cannot answer it.

    ``hostname`` names the server for Kerberos (``HTTP/hostname``), ``schemes`` says
    whether NTLM may be used inside SPNEGO, ``certificate`` (DER) is the TLS
    server's, for channel binding."""
    if choice.scheme in ("negotiate", "ntlm"):
        username = credentials.username if credentials is not None else None
        password = credentials.password if credentials is not None else None
        return SpnegoResponder(choice, username, password, hostname, schemes, certificate)
    if credentials is None:
        raise ValueError(f"{choice.describe()} needs a user name and password")
    if choice.digest is not None:
        return DigestResponder(choice, credentials)
    return BasicResponder(choice, credentials)


_PREEMPTIVE_BASIC = Choice(Challenge("Basic"), "basic", 0)

