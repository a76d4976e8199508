"""ChallengeAuth: the requests glue over `_dialogue`.

Every decision is the dialogue's; this module only moves requests' objects:

- ``__call__`` (prepare time) puts the first hop's up-front credentials on the
  request and registers the response hook.
- The hook runs once per hop that requests sends (the first request, each
  redirect, each new send of the same PreparedRequest). A reply that is
  neither a challenge nor a redirect, and carries nothing for the credentials
  sent (Digest's Authentication-Info), needs nothing more: the hook returns
  it at once, and most requests end there. Otherwise the hop gets its own
  dialogue with the origin, and one with an HTTP proxy when ``proxy_auth`` is
  given; it resends through ``response.connection.send`` as requests' own
  auth does: the challenge's body is read (at most 64 KiB, else its
  connection is dropped), the body rewound, the cookies the challenge set
  added. The legs of a connection-bound handshake (NTLM) go through a
  one-connection copy of that adapter, kept afterwards for the origin, so a
  connection that has authenticated is not handshaken again.
- Before requests follows a redirect, it copies the hop's request. So the
  hook puts on that request the credentials computed for the *next* hop (its
  own target, the next nc), or removes ours when the next hop is another
  origin or outside every known space, and puts the old value back when the
  next hop's reply arrives. Credentials stay on the origin of the URL the
  caller asked for, at any depth of the chain (requests keeps Authorization
  from http://host to https://host; this does not).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import weakref
from typing import Any, Dict, FrozenSet, Iterable, Iterator, List, Optional, Tuple, Union
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from requests.cookies import extract_cookies_to_jar
from requests.exceptions import RequestException, UnrewindableBodyError
from requests.models import REDIRECT_STATI
from requests.utils import requote_uri, select_proxy

from ._dialogue import (
    ORIGIN, PROXY, BodyCheck, Dialogue, Done, GiveUp, Party, Reply, RequestTarget, Send, SentCredentials,
    credentials_up_front,
)
from ._errors import AuthenticationError, MutualAuthenticationError, UnsendableBody
from ._schemes import Credentials
from ._source import CredentialSource
from ._spaces import FirstContact, Origin, ProtectionSpaces, origin_of

__all__ = ["ChallengeAuth", "AuthenticationError", "MutualAuthenticationError"]

log = logging.getLogger("requests_challenge")

_DONE = Done()
# Replies the hook always looks at: a challenge, or a redirect to prepare the next hop for.
_CHALLENGE_OR_REDIRECT = frozenset({401, 407, *REDIRECT_STATI})

Offer = Tuple[Optional[Credentials], FrozenSet[str]]  # CredentialSource.for_origin's
Upcoming = Tuple[str, str, Optional[SentCredentials]]  # URL, method, what it carries of ours


class _Chain:
    """One ``__call__``'s redirect chain, and the response hook requests calls for each of its hops.

    Made per request, so it holds only what is known before the first reply: its
    origin, what the next hop carries, the request whose header was changed for
    requests to copy. The hops' dialogues are made when a reply calls for them.
    """

    __slots__ = ("auth", "origin", "offer", "upcoming", "placed", "altered", "cold", "contact")

    def __init__(
        self,
        auth: "ChallengeAuth",
        origin: Origin,
        offer: Optional[Offer],
        upcoming: Optional[Upcoming],
        placed: Optional[str],
    ) -> None:
        self.auth = auth
        self.origin = origin  # credentials go to this origin only
        self.offer = offer  # its credentials and schemes; None: nothing for it (no netrc entry)
        self.upcoming = upcoming  # the hop foreseen next
        self.placed = placed  # the Authorization we last put on a request to be sent
        self.altered: Optional[Tuple["weakref.ref[requests.PreparedRequest]", Optional[str]]] = None
        # Going out with nothing of ours though credentials are offered: may wait at send time
        # for another request's first exchange with the origin (ChallengeAdapter, `before_send`).
        self.cold = offer is not None and (upcoming is None or upcoming[2] is None)
        self.contact: Optional[FirstContact] = None  # this request leads the origin's first exchange

    def __call__(self, response: requests.Response, **send_kwargs: Any) -> requests.Response:
        """The response hook. A reply that is no challenge and no redirect, with no header
        to put back on a previous hop's request and none for the credentials sent
        (`SentCredentials.read_on_success`), needs nothing: most requests end here."""
        if response.status_code not in _CHALLENGE_OR_REDIRECT and self.altered is None and self.contact is None:
            upcoming = self.upcoming
            sent = upcoming[2] if upcoming is not None else None
            header = sent.read_on_success(ORIGIN) if sent is not None else None
            if header is None or not _has_header(response, header):
                self.upcoming = None  # this hop has arrived
                return response
        if self.contact is None:
            return self.auth._handle_hop(self, response, send_kwargs)
        try:  # this request leads the origin's first exchange
            return self.auth._handle_hop(self, response, send_kwargs)
        finally:
            self.end_contact(answered=True)  # whatever came of it, the origin has answered

    def before_send(self, request: requests.PreparedRequest, timeout: Any) -> None:
        """Send time, first send only: take this origin's first-contact turn (see
        `ChallengeAuth._first_contact`). Copies of the request (retries, redirects)
        share this chain and are never held."""
        if self.cold:
            self.cold = False
            self.auth._first_contact(self, request, timeout)

    def end_contact(self, answered: bool) -> None:
        """This request's first exchange with the origin is over; the waiting ones go."""
        contact, self.contact = self.contact, None
        if contact is not None:
            self.auth._spaces.end_first_contact(contact, answered)

    def __copy__(self) -> "_Chain":
        return self  # copies of a request are hops of the same chain, as with a function hook

    def __deepcopy__(self, memo: Dict[int, Any]) -> "_Chain":
        return self

    def take(self, request: requests.PreparedRequest) -> Optional[SentCredentials]:
        """The credentials of ours this hop carries, if it is the hop foreseen."""
        upcoming, self.upcoming = self.upcoming, None
        if upcoming is None:
            return None
        url, method, sent = upcoming
        if url != request.url or method != request.method:
            log.debug("the redirect went to %s %s, not where foreseen", request.method, _path_url(request.url or ""))
            return None
        return sent

    def restore(self) -> None:
        """Put back the header changed on the previous hop's request, now that requests has copied it."""
        altered, self.altered = self.altered, None
        if altered is None:
            return
        request = altered[0]()
        if request is not None:
            _set_header(request, "Authorization", altered[1])


class ChallengeAuth(AuthBase):
    """Answer 401 (and, with ``proxy_auth``, 407) challenges with the strongest scheme offered.

    With no user name and password, only Negotiate is answered, from the Kerberos
    ticket cache (``KRB5CCNAME``). ``schemes`` restricts what may be answered, e.g. ``("digest",)`` never sends
    Basic (downgrade protection). ``preemptive_basic`` sends Basic on every
    request, for APIs that never challenge. ``basic_encoding`` is for legacy
    servers that expect latin-1 Basic credentials.
    """

    def __init__(
        self,
        username: Optional[str] = None,
        password: Optional[str] = None,
        *,
        schemes: Optional[Iterable[str]] = None,
        proxy_auth: Optional[Tuple[str, str]] = None,
        preemptive_basic: bool = False,
        basic_encoding: str = "utf-8",
    ) -> None:
        source = CredentialSource.given(
            username, password, schemes=schemes, preemptive_basic=preemptive_basic, basic_encoding=basic_encoding
        )
        self._configure(source, proxy_auth)

    @classmethod
    def from_netrc(
        cls,
        file: "Optional[Union[str, os.PathLike[str]]]" = None,
        *,
        schemes: Optional[Iterable[str]] = None,
        proxy_auth: Optional[Tuple[str, str]] = None,
        preemptive_basic: bool = False,
        basic_encoding: str = "utf-8",
    ) -> "ChallengeAuth":
        """Credentials per host from a netrc file (``file``, else ``$NETRC``, else
        ``~/.netrc``), answered with the strongest scheme like any other; a host the
        file does not name (and no ``default`` entry covers) gets nothing. The file
        is read now: FileNotFoundError when it is missing, netrc.NetrcParseError
        when it is malformed, ValueError for a value no header can carry."""
        source = CredentialSource.from_netrc(
            file, schemes=schemes, preemptive_basic=preemptive_basic, basic_encoding=basic_encoding
        )
        auth = cls.__new__(cls)
        auth._configure(source, proxy_auth)
        return auth

    def _configure(self, source: CredentialSource, proxy_auth: Optional[Tuple[str, str]]) -> None:
        self._source = source
        self._proxy = (
            Credentials.pair(proxy_auth, "proxy_auth", source.basic_encoding) if proxy_auth is not None else None
        )
        self._spaces = ProtectionSpaces()
        self._bound = _BoundConnections()

    @property
    def username(self) -> Optional[str]:
        """The user name, or None for netrc (per host) and the ticket cache."""
        return self._source.username

    def __repr__(self) -> str:
        return self._source.describe("ChallengeAuth", ", proxy_auth=(…)" if self._proxy else "")

    # -- pickling: keep the configuration, start with no remembered spaces -------

    def __getstate__(self) -> Dict[str, Any]:
        proxy = (self._proxy.username, self._proxy.password) if self._proxy else None
        return {"source": self._source, "proxy_auth": proxy}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self._configure(state["source"], state["proxy_auth"])

    # -- requests entry points --------------------------------------------------

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Prepare time: the credentials the store has for this URL (or preemptive Basic) go on
        the request now; the hook (the chain) judges the replies."""
        url = request.url or ""
        method = request.method or "GET"
        origin = origin_of(url)
        offer = self._source.for_origin(origin)
        upcoming = header = None
        if offer is not None:
            sent = credentials_up_front(
                self._spaces, method, _path_url(url), url, lambda: _body_chunks(request),
                credentials=offer[0], preemptive_basic=self._source.preemptive_basic,
            )
            if sent is not None:
                header = request.headers["Authorization"] = sent.answer.header
            upcoming = (url, method, sent)
        # register_hook's checks (a known event, a callable) hold by construction here.
        request.hooks["response"].append(_Chain(self, origin, offer, upcoming, header))
        return request

    def _first_contact(self, chain: _Chain, request: requests.PreparedRequest, timeout: Any) -> None:
        """Cold start, at send time: a request that carries nothing of ours waits while
        another request's first exchange with the origin is under way, then goes with
        the credentials that exchange taught the store (N concurrent first requests: one
        challenge). Holding happens only here, when the request is really being sent,
        never at prepare time: a request prepared and never sent holds nobody, and a
        wait lasts at most that first exchange (or this request's own ``timeout``)."""
        spaces = self._spaces
        mine, theirs = spaces.begin_first_contact(chain.origin)
        if mine is None:
            if theirs is not None:
                spaces.wait_first_contact(theirs, _total_seconds(timeout))
            # What the store knows now (another request may have learnt it since prepare time).
            url = request.url or ""
            method = request.method or "GET"
            sent = credentials_up_front(
                spaces, method, _path_url(url), url, lambda: _body_chunks(request),
                credentials=chain.offer[0] if chain.offer else None, preemptive_basic=False,
            )
            if sent is not None:
                request.headers["Authorization"] = chain.placed = sent.answer.header
                chain.upcoming = (url, method, sent)
                return
            if theirs is None:
                return  # the origin has answered before: nothing to wait for
            mine, _ = spaces.begin_first_contact(chain.origin)  # that exchange failed: lead, or go
        if mine is not None:
            chain.contact = mine
            # Sent without requests' hooks (adapter.send called directly), it still ends.
            weakref.finalize(request, spaces.end_first_contact, mine, False)

    def _origin_dialogue(
        self, chain: _Chain, request: requests.PreparedRequest, sent: Optional[SentCredentials]
    ) -> Optional[Dialogue]:
        """This hop's dialogue with the origin, ``sent`` being what its request carries of ours."""
        if chain.offer is None:
            return None
        credentials, schemes = chain.offer
        url = request.url or ""
        return Dialogue(
            ORIGIN, credentials, RequestTarget(request.method or "GET", _path_url(url), url, _BodyOf(request)),
            self._spaces, schemes=schemes, preemptive_basic=self._source.preemptive_basic, sent=sent,
        )

    def _proxy_dialogue(self, request: requests.PreparedRequest, send_kwargs: Dict[str, Any]) -> Optional[Dialogue]:
        """A dialogue with the HTTP proxy this hop goes through, if it is one we answer.

        Only an HTTP proxy's 407 is its own: a SOCKS proxy relays the origin's
        replies, and an https URL meets the proxy in CONNECT (ChallengeAdapter).
        Proxy spaces are not kept: when ``__call__`` runs, requests has not yet
        chosen the proxy, so credentials up front could reach an origin.
        """
        if self._proxy is None:
            return None
        url = request.url or ""
        if url[:6].lower() == "https:":
            return None
        proxy = select_proxy(url, send_kwargs.get("proxies") or {})
        if not proxy:
            return None
        scheme = proxy.split("://", 1)[0].lower() if "://" in proxy else "http"
        if scheme not in ("http", "https"):
            return None
        target = RequestTarget(request.method or "GET", url, proxy, _BodyOf(request))  # absolute-form
        return Dialogue(PROXY, self._proxy, target, None, schemes=self._source.schemes)

    # -- one hop ------------------------------------------------------------------

    def _handle_hop(self, chain: _Chain, response: requests.Response, send_kwargs: Dict[str, Any]) -> requests.Response:
        request = response.request  # this hop's request, as requests sent it
        chain.restore()
        sent = chain.take(request)
        origin = None
        if origin_of(request.url or "") == chain.origin:
            origin = self._origin_dialogue(chain, request, sent)
        else:
            log.debug(
                "%s is another origin than %s: no credentials for it",
                _show(origin_of(request.url or "")), _show(chain.origin),
            )
        proxy = self._proxy_dialogue(request, send_kwargs)
        streamed = bool(send_kwargs.get("stream"))
        response = self._dialogues(origin, proxy, response, send_kwargs, streamed)
        if response.status_code in REDIRECT_STATI and response.is_redirect:
            self._prepare_next_hop(chain, request, response)
        return response

    def _dialogues(
        self,
        origin: Optional[Dialogue],
        proxy: Optional[Dialogue],
        response: requests.Response,
        send_kwargs: Dict[str, Any],
        streamed: bool,
    ) -> requests.Response:
        """Drive this hop's dialogues until neither asks for another send."""
        pinned: Optional[HTTPAdapter] = None  # a handshake's own connection (NTLM)
        while True:
            if (
                pinned is None
                and origin is not None
                and response.status_code == 401
                and _SPNEGO.search(response.headers.get("www-authenticate", ""))
            ):
                pinned = self._bound.take(_bound_key(response.request, send_kwargs))
                if pinned is not None:
                    # A connection that has authenticated is not handshaken again: the
                    # same request on it, bare. A 401 there starts a handshake on it.
                    log.debug("retrying on a connection that has authenticated already")
                    response = self._resend(response, ORIGIN, None, None, send_kwargs, pinned)
                    continue
            checks: List[BodyCheck] = []
            if response.status_code == 407:
                party, other = PROXY, origin
                action = proxy.on_reply(_reply(response, PROXY, streamed)) if proxy is not None else _DONE
            else:
                party, other = ORIGIN, proxy
                action = origin.on_reply(_reply(response, ORIGIN, streamed)) if origin is not None else _DONE
                if proxy is not None:  # it let the request through: Proxy-Authentication-Info
                    proxy_action = proxy.on_reply(_reply(response, PROXY, streamed))
                    if isinstance(proxy_action, GiveUp):
                        action = proxy_action
                    elif isinstance(proxy_action, Done) and proxy_action.body_check is not None:
                        checks.append(proxy_action.body_check)
            if isinstance(action, Send):
                via = response.connection  # type: ignore[attr-defined]
                if action.pinned:
                    if pinned is None:
                        pinned = _single_connection(via)
                    via = pinned
                response = self._resend(response, party, action.header, other, send_kwargs, via)
                continue
            if isinstance(action, GiveUp) and action.mutual:
                raise MutualAuthenticationError(action.reason, response=response)
            if isinstance(action, Done) and action.body_check is not None:
                checks.append(action.body_check)
            if checks:  # rspauth over a streamed auth-int body: checked as the caller reads it
                response.raw = _CheckedBody(response, checks)
            if pinned is not None:
                if response.status_code not in (401, 407) and not streamed:
                    # Authenticated, and free again once Session.send has read the body.
                    self._bound.give_back(_bound_key(response.request, send_kwargs), pinned)
                else:
                    # Its pool closes now; the connection in use closes when the body is read.
                    pinned.close()
            return response

    def _resend(
        self,
        response: requests.Response,
        party: Party,
        header: Optional[str],
        other: Optional[Dialogue],
        send_kwargs: Dict[str, Any],
        via: Any,
    ) -> requests.Response:
        """The same request again, with ``party``'s new credentials (None: as it was) and
        fresh ones for the other party, through the transport adapter ``via``."""
        retry = response.request.copy()
        _rewind_body(retry, response)
        if header is not None:
            retry.headers[party.credentials_header] = header
        if other is not None:
            fresh = other.resend()  # never the same (nonce, nc) twice
            if fresh is not None:
                retry.headers[other.party.credentials_header] = fresh
        _discard_body(response)
        extract_cookies_to_jar(retry._cookies, response.request, response.raw)  # type: ignore[attr-defined,arg-type]
        retry.prepare_cookies(retry._cookies)  # type: ignore[attr-defined]
        new_response = via.send(retry, **send_kwargs)
        new_response.history = [*response.history, response]
        new_response.request = retry
        return new_response

    def _prepare_next_hop(self, chain: _Chain, request: requests.PreparedRequest, response: requests.Response) -> None:
        """Put the next hop's own credentials on the request requests is about to copy, or take ours off."""
        current = request.headers.get("Authorization")
        if current is not None and current != chain.placed:
            return  # the caller's own header, not ours to move
        header = None
        target = _redirect_target(request, response)
        if target is not None and chain.offer is not None and origin_of(target[0]) == chain.origin:
            url, method, keeps_body = target
            sent = credentials_up_front(
                self._spaces, method, _path_url(url), url, _BodyOf(request) if keeps_body else _no_body,
                credentials=chain.offer[0], preemptive_basic=self._source.preemptive_basic,
            )
            header = sent.answer.header if sent is not None else None
            chain.upcoming = (url, method, sent)
        if header == current:
            return
        chain.altered = (weakref.ref(request), current)
        chain.placed = header
        _set_header(request, "Authorization", header)


def _reply(response: requests.Response, party: Party, streamed: bool) -> Reply:
    challenges = _header_lines(response, party.challenge_header)
    certificate = None
    if party is ORIGIN and challenges and any(_SPNEGO.search(line) for line in challenges):
        certificate = _peer_certificate(response)  # for channel binding (RFC 5929)
    return Reply(
        response.status_code,
        challenges,
        _header_lines(response, party.info_header),
        None if streamed else lambda: (response.content,),  # not streamed: read whole anyway
        certificate,
    )


_SPNEGO = re.compile(r"(?i)\b(?:negotiate|ntlm)\b")


def _peer_certificate(response: requests.Response) -> Optional[bytes]:
    """The TLS server's certificate (DER) from the connection the reply came on, if any."""
    raw = response.raw
    connection = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    getpeercert = getattr(sock, "getpeercert", None)
    if getpeercert is None:
        return None
    try:
        return getpeercert(binary_form=True)  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _bound_key(request: requests.PreparedRequest, send_kwargs: Dict[str, Any]) -> Tuple[Origin, Optional[str]]:
    """Which kept NTLM connections fit a request: same origin, same proxy (only looked
    up when a handshake is under way, not on every response)."""
    url = request.url or ""
    return origin_of(url), select_proxy(url, send_kwargs.get("proxies") or {})


class _BoundConnections:
    """Adapters whose one connection has authenticated with a connection-bound scheme
    (NTLM), per origin and proxy: a hop takes one for itself alone and gives it back
    after; an idle one beyond the limit is closed. Transport state of the requests
    glue, not credentials: the protection-space store does not hold it."""

    def __init__(self, limit: int = 8) -> None:
        self._lock = threading.Lock()
        self._idle: Dict[Tuple[Origin, Optional[str]], List[HTTPAdapter]] = {}
        self._limit = limit

    def take(self, key: Tuple[Origin, Optional[str]]) -> Optional[HTTPAdapter]:
        with self._lock:
            idle = self._idle.get(key)
            return idle.pop() if idle else None

    def give_back(self, key: Tuple[Origin, Optional[str]], adapter: HTTPAdapter) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._limit and sum(map(len, self._idle.values())) <= 4 * self._limit:
                idle.append(adapter)
                return
        adapter.close()


def _single_connection(adapter: Any) -> HTTPAdapter:
    """A copy of the transport adapter whose pools hold one connection: the legs of a
    handshake bound to its connection (NTLM) all travel on it, and threads sharing the
    Session never interleave legs (each handshake has its own)."""
    if isinstance(adapter, HTTPAdapter):
        clone = adapter.__class__.__new__(adapter.__class__)
        state = adapter.__getstate__()  # its __attrs__: retries, pool settings, config
        state.update(_pool_connections=1, _pool_maxsize=1, _pool_block=True)
        clone.__setstate__(state)
        return clone
    return HTTPAdapter(pool_connections=1, pool_maxsize=1, pool_block=True)


_MAX_DISCARD = 64 * 1024  # octets of a challenge's body read to keep its connection


def _discard_body(response: requests.Response) -> None:
    """Finish with a challenge before the retry, in bounded memory and time.

    A short body (the usual 401 page) is read so the connection goes back to the
    pool and carries the retry. A longer or endless one is not: its connection is
    closed and the retry opens another. Either way the response in ``history``
    keeps at most the first ``_MAX_DISCARD`` octets as its content.
    """
    kept = bytearray()
    complete = False
    try:
        for chunk in response.iter_content(16 * 1024):
            kept += chunk
            if len(kept) > _MAX_DISCARD:
                break
        else:
            complete = True
    except RequestException:
        pass
    if not complete:
        raw_close = getattr(response.raw, "close", None)
        if raw_close is not None:
            raw_close()  # never back to the pool with unread octets on it
    response._content = bytes(kept[:_MAX_DISCARD])  # type: ignore[attr-defined]
    response._content_consumed = True  # type: ignore[attr-defined]
    response.close()


class _CheckedBody:
    """A response's ``raw`` that hashes the body as the caller reads it and, at its end,
    raises MutualAuthenticationError if ``rspauth`` did not match (streamed qop=auth-int).
    Everything else is the wrapped object's."""

    def __init__(self, response: requests.Response, checks: List[BodyCheck]) -> None:
        self._raw = response.raw
        self._response = weakref.ref(response)
        self._checks = [(check, check.new_hash()) for check in checks]
        self._finished = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def _feed(self, data: bytes) -> None:
        for _, hasher in self._checks:
            hasher.update(data)

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        for check, hasher in self._checks:
            reason = check.verify(hasher.hexdigest())
            if reason is not None:
                raise MutualAuthenticationError(reason, response=self._response())

    def read(self, amt: Optional[int] = None, *args: Any, **kwargs: Any) -> bytes:
        data = self._raw.read(amt, *args, **kwargs)
        self._feed(data)
        if amt is None or not data:
            self._finish()
        return data  # type: ignore[no-any-return]

    def stream(self, amt: Optional[int] = 2**16, decode_content: Optional[bool] = None) -> Iterator[bytes]:
        for chunk in self._raw.stream(amt, decode_content=decode_content):
            self._feed(chunk)
            yield chunk
        self._finish()


def _total_seconds(timeout: Any) -> Optional[float]:
    """requests' ``timeout`` (seconds, a (connect, read) pair, or None) as one bound."""
    if isinstance(timeout, tuple):
        parts = [t for t in timeout if t is not None]
        return float(sum(parts)) if len(parts) == len(timeout) else None
    return None if timeout is None else float(timeout)


def hold_for_first_contact(request: requests.PreparedRequest, timeout: Any) -> Optional[_Chain]:
    """For a transport adapter at send time: the ChallengeAuth chain of ``request``, after
    it has taken its first-contact turn (which may wait); None when it has none."""
    for hook in request.hooks.get("response", ()):
        if isinstance(hook, _Chain):
            hook.before_send(request, timeout)
            return hook
    return None


def _has_header(response: requests.Response, name: str) -> bool:
    """Whether the reply has header ``name``. Asked of urllib3's HTTPHeaderDict, whence
    requests built ``response.headers``, when there is one (as `_header_lines` reads
    it): requests' CaseInsensitiveDict answers ``in`` by raising and catching KeyError
    for a header that is absent, the usual case on the hook's fast path."""
    raw_headers = getattr(response.raw, "headers", None)
    if hasattr(raw_headers, "getlist"):
        return name in raw_headers  # type: ignore[operator]
    return name in response.headers


def _header_lines(response: requests.Response, name: str) -> List[str]:
    """Every line of a header, in order: requests folds them into one string."""
    if not _has_header(response, name):
        return []  # the usual case for Authentication-Info
    raw_headers = getattr(response.raw, "headers", None)
    getlist = getattr(raw_headers, "getlist", None)
    if getlist is not None:
        lines = getlist(name)
        if lines:
            return list(lines)
    return [response.headers[name]]


def _redirect_target(request: requests.PreparedRequest, response: requests.Response) -> Optional[Tuple[str, str, bool]]:
    """The URL and method requests will follow to, and whether the body goes along.

    The same steps as requests' ``resolve_redirects`` and ``rebuild_method``
    (RFC 9110 §15.4), so the credentials are computed for the very target sent.
    """
    location = response.headers.get("location")
    if location is None:
        return None
    try:
        url = location.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return None  # requests fails on it too
    if url.startswith("//"):
        url = f"{urlsplit(response.url or '').scheme}:{url}"
    url = urljoin(response.url or "", requote_uri(url)) if not urlsplit(url).netloc else requote_uri(url)
    method = request.method or "GET"
    status = response.status_code
    if (status in (302, 303) and method != "HEAD") or (status == 301 and method == "POST"):
        method = "GET"
    return url, method, status in (307, 308)


@functools.lru_cache(maxsize=256)  # a Session requests the same few URLs over and over
def _path_url(url: str) -> str:
    """The origin-form request-target, as requests' ``PreparedRequest.path_url`` builds it."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def _set_header(request: requests.PreparedRequest, name: str, value: Optional[str]) -> None:
    if value is None:
        request.headers.pop(name, None)
    else:
        request.headers[name] = value


def _no_body() -> Iterable[bytes]:
    return ()


class _BodyOf:
    """A request's body for a dialogue's target (see `_body_chunks`). Holds the request
    weakly: the dialogue may outlive the hop (a streamed auth-int body's check)."""

    __slots__ = ("_request",)

    def __init__(self, request: requests.PreparedRequest) -> None:
        self._request = weakref.ref(request)

    def __call__(self) -> Iterator[bytes]:
        request = self._request()
        return _body_chunks(request) if request is not None else iter(())


def _body_chunks(request: requests.PreparedRequest) -> Iterator[bytes]:
    """A request's exact body octets for qop=auth-int, in chunks, read from where requests
    started sending it and put back: a file is never held whole."""
    body = request.body
    if body is None:
        return
    if isinstance(body, bytes):
        yield body
        return
    if isinstance(body, str):
        yield body.encode("utf-8")
        return
    position = getattr(request, "_body_position", None)
    read, seek = getattr(body, "read", None), getattr(body, "seek", None)
    if not isinstance(position, int) or read is None or seek is None:
        raise UnsendableBody("auth-int needs a body that can be read twice")
    seek(position)
    try:
        while True:
            chunk = read(_CHUNK)
            if not chunk:
                return
            yield chunk if isinstance(chunk, bytes) else str(chunk).encode("utf-8")
    finally:
        seek(position)


_CHUNK = 64 * 1024


def _rewind_body(request: requests.PreparedRequest, response: requests.Response) -> None:
    """Put a streamed body back where it was before the first send, or refuse loudly."""
    body = request.body
    if body is None or isinstance(body, (bytes, str)):
        return
    position = getattr(request, "_body_position", None)
    seek = getattr(body, "seek", None)
    if isinstance(position, int) and seek is not None:
        try:
            seek(position)
            return
        except (OSError, ValueError):
            pass
    raise UnrewindableBodyError(
        "the request body cannot be rewound to be sent again after the challenge;"
        " pass bytes or a seekable file",
        request=request,
        response=response,
    )


def _show(origin: Origin) -> str:
    scheme, host, port = origin
    return f"{scheme}://{host}:{port}"
