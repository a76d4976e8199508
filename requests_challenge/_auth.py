"""ChallengeAuth: the thin requests adapter over the pure core.

One request's dialogue, read top to bottom in `ChallengeAuth._handle_response`:

    send (with credentials up front when the URL is in a known protection space)
    401/407 -> parse every challenge -> answer the strongest -> resend once
    401 again -> answer once more only if the nonce was stale, or the first
             credentials were sent up front (servers rotate nonces silently)
    success -> remember the protection space; read Authentication-Info

Integration points inside requests (the same ones requests' own auth uses): the
response hook receives ``Session.send``'s keyword arguments, the 401's body is
read and its connection released before the retry, cookies the 401 set go on
the retry, and the retry goes through ``response.connection.send``.
"""

from __future__ import annotations

import logging
import secrets
import weakref
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional, Tuple
from urllib.parse import urljoin

import requests
from requests.auth import AuthBase
from requests.cookies import extract_cookies_to_jar
from requests.exceptions import RequestException, UnrewindableBodyError
from requests.models import REDIRECT_STATI
from requests.utils import select_proxy

from ._basic import basic_authorization, reject_control_characters
from ._digest import DigestAnswer, expected_rspauth
from ._grammar import ChallengeParseError, parse_auth_params, parse_challenges_lenient
from ._ranking import Choice, allowed_schemes, rank_challenges
from ._spaces import Origin, ProtectionSpace, ProtectionSpaces, origin_of, space_prefixes

__all__ = ["ChallengeAuth", "AuthenticationError", "MutualAuthenticationError"]

log = logging.getLogger("requests_challenge")

_MAX_AUTHENTICATED_TRIES = 2


class AuthenticationError(RequestException):
    """Base of the errors this package raises while authenticating a request."""


class MutualAuthenticationError(AuthenticationError):
    """The server's ``rspauth`` does not prove it knows the password: possible impostor."""


@dataclass(frozen=True)
class _Party:
    """Who challenges: the origin server (401) or a proxy (407), and its header names."""

    name: str
    status: int
    challenge_header: str
    credentials_header: str
    info_header: str


_ORIGIN = _Party("origin", 401, "www-authenticate", "Authorization", "authentication-info")
_PROXY = _Party("proxy", 407, "proxy-authenticate", "Proxy-Authorization", "proxy-authentication-info")


class _Credentials:
    """A user name and password for one party, and the protection spaces they opened."""

    __slots__ = ("username", "password", "spaces")

    def __init__(self, username: str, password: str, what: str) -> None:
        reject_control_characters(username, f"{what} username")
        reject_control_characters(password, f"{what} password")
        self.username = username
        self.password = password
        self.spaces = ProtectionSpaces()


@dataclass
class _Sent:
    """Credentials on the request now: how they were produced, to judge the reply."""

    space: ProtectionSpace
    answer: Optional[DigestAnswer]
    preemptive: bool


class _Exchange:
    """Per-request state, carried by the hook itself rather than by the auth object,
    so a request prepared in one thread can be sent from another."""

    __slots__ = ("_request", "origin", "sent", "answered", "tries")

    def __init__(self, request: requests.PreparedRequest) -> None:
        # The one requests copies for every redirect hop; held weakly, because the
        # request holds the hook and the hook this exchange: a strong reference back
        # made every request a reference cycle for the cyclic GC (23 objects each).
        self._request = weakref.ref(request)
        self.origin = origin_of(request.url or "")
        self.sent: Dict[_Party, _Sent] = {}
        self.answered: Dict[_Party, int] = {}
        self.tries = 0

    @property
    def request(self) -> Optional[requests.PreparedRequest]:
        return self._request()


class ChallengeAuth(AuthBase):
    """Answer 401 (and, with ``proxy_auth``, 407) challenges with the strongest scheme offered.

    ``schemes`` restricts what may be answered, e.g. ``("digest",)`` never sends
    Basic (downgrade protection). ``preemptive_basic`` sends Basic on every
    request, for APIs that never challenge. ``basic_encoding`` is for legacy
    servers that expect latin-1 Basic credentials.
    """

    def __init__(
        self,
        username: str,
        password: str,
        *,
        schemes: Optional[Iterable[str]] = None,
        proxy_auth: Optional[Tuple[str, str]] = None,
        preemptive_basic: bool = False,
        basic_encoding: str = "utf-8",
    ) -> None:
        self._origin = _Credentials(username, password, "origin")
        self._proxy = _Credentials(*proxy_auth, "proxy") if proxy_auth is not None else None
        self._schemes = allowed_schemes(schemes)
        self._preemptive_basic = preemptive_basic
        if preemptive_basic:
            # Fail at construction, not on the first request, for a bad username.
            basic_authorization(username, password, basic_encoding)
        "".encode(basic_encoding)  # LookupError now for an unknown encoding
        self._basic_encoding = basic_encoding

    @property
    def username(self) -> str:
        return self._origin.username

    def __repr__(self) -> str:
        proxy = ", proxy_auth=(…)" if self._proxy else ""
        return f"ChallengeAuth(username={self._origin.username!r}, password=…{proxy})"

    # -- pickling: keep the configuration, start with no remembered spaces -------

    def __getstate__(self) -> Dict[str, Any]:
        proxy = (self._proxy.username, self._proxy.password) if self._proxy else None
        return {
            "username": self._origin.username,
            "password": self._origin.password,
            "proxy_auth": proxy,
            "schemes": tuple(sorted(self._schemes)),
            "preemptive_basic": self._preemptive_basic,
            "basic_encoding": self._basic_encoding,
        }

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["username"],
            state["password"],
            schemes=state["schemes"],
            proxy_auth=state["proxy_auth"],
            preemptive_basic=state["preemptive_basic"],
            basic_encoding=state["basic_encoding"],
        )

    # -- requests entry points --------------------------------------------------

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        exchange = _Exchange(request)
        claim = self._origin.spaces.claim(request.url or "")
        if claim is not None:
            space, choice, nonce_count = claim
            try:
                self._attach(_ORIGIN, exchange, request, space, choice, nonce_count, preemptive=True)
            except _UnsendableBody:
                pass  # wait for the challenge, and the clear error it brings
        elif self._preemptive_basic:
            request.headers["Authorization"] = basic_authorization(
                self._origin.username, self._origin.password, self._basic_encoding
            )

        def hook(response: requests.Response, **send_kwargs: Any) -> requests.Response:
            return self._handle_response(exchange, response, send_kwargs)

        request.register_hook("response", hook)
        return request

    def _handle_response(
        self, exchange: _Exchange, response: requests.Response, send_kwargs: Dict[str, Any]
    ) -> requests.Response:
        while True:
            party = self._party_for(exchange, response, send_kwargs)
            if party is None:
                self._accept(exchange, response)
                if response.status_code in REDIRECT_STATI and response.is_redirect:  # status first: cheaper
                    self._keep_credentials_home(exchange, response)
                return response
            retry = self._answer(party, exchange, response, send_kwargs)
            if retry is None:
                self._reject(exchange, party)
                return response
            exchange.tries += 1
            response = self._resend(response, retry, send_kwargs)

    # -- deciding ---------------------------------------------------------------

    def _party_for(
        self, exchange: _Exchange, response: requests.Response, send_kwargs: Dict[str, Any]
    ) -> Optional[_Party]:
        """Which party's challenge to answer on this response, if any."""
        if exchange.tries >= _MAX_AUTHENTICATED_TRIES:
            return None
        url = response.request.url or ""
        if response.status_code == 401:
            if origin_of(url) != exchange.origin:
                log.debug("not answering a 401 from %s: credentials stay on %s", _show(origin_of(url)), _show(exchange.origin))
                return None
            return _ORIGIN
        if response.status_code == 407 and self._proxy is not None:
            proxy = select_proxy(url, send_kwargs.get("proxies") or {})
            if not proxy or url.lower().startswith("https:"):
                # No proxy in between: a 407 from the origin itself must not get proxy
                # credentials. (https URLs meet the proxy's 407 in CONNECT: ChallengeAdapter.)
                log.debug("not answering a 407 that no plain-HTTP proxy sent")
                return None
            return _PROXY
        return None

    def _answer(
        self, party: _Party, exchange: _Exchange, response: requests.Response, send_kwargs: Dict[str, Any]
    ) -> Optional[requests.PreparedRequest]:
        """The request to resend with fresh credentials, or None to give up."""
        values = _header_lines(response, party.challenge_header)
        challenges, errors = parse_challenges_lenient(values)
        for error in errors:
            log.debug("ignoring a malformed %s challenge: %s", party.name, error)
        usable, skipped = rank_challenges(challenges, self._schemes)
        for challenge, reason in skipped:
            log.debug("skipping %s challenge: %s", challenge.scheme, reason)
        if not usable:
            log.debug("no %s challenge this client can answer", party.name)
            return None
        choice = usable[0]
        if exchange.answered.get(party, 0) and not (choice.digest and choice.digest.stale):
            log.debug("%s credentials were refused (%s)", party.name, choice.describe())
            return None
        previous = exchange.sent.get(party)
        if previous is not None and previous.preemptive:
            # Its nonce is spent (rotated or expired): never send it up front again.
            self._credentials_for(party).spaces.forget(previous.space)
        retry = response.request.copy()
        _rewind_body(retry, response)
        target = retry.url or ""
        if party is _PROXY:
            target = select_proxy(target, send_kwargs.get("proxies") or {}) or target
        for choice in usable:  # strongest first; a weaker one when it cannot be sent
            space = ProtectionSpace(origin_of(target), space_prefixes(choice, target), choice)
            space.nonce_count = 1
            try:
                self._attach(party, exchange, retry, space, choice, 1, preemptive=False)
                break
            except (_UnsendableBody, ValueError) as exc:  # auth-int on a stream; ':' in a Basic name
                log.debug("cannot answer %s: %s", choice.describe(), exc)
        else:
            return None
        exchange.answered[party] = exchange.answered.get(party, 0) + 1
        log.debug("answering %s challenge with %s (realm %r)", party.name, choice.describe(), choice.challenge.params.get("realm", ""))
        # Release the 401's connection to the pool so the retry can reuse it.
        try:
            response.content
        except RequestException:
            pass
        response.close()
        extract_cookies_to_jar(retry._cookies, response.request, response.raw)  # type: ignore[attr-defined]
        retry.prepare_cookies(retry._cookies)  # type: ignore[attr-defined]
        return retry

    def _credentials_for(self, party: _Party) -> _Credentials:
        return self._proxy if party is _PROXY and self._proxy is not None else self._origin

    def _attach(
        self,
        party: _Party,
        exchange: _Exchange,
        request: requests.PreparedRequest,
        space: ProtectionSpace,
        choice: Choice,
        nonce_count: int,
        *,
        preemptive: bool,
    ) -> None:
        """Put ``party``'s credentials for ``space`` on ``request``."""
        credentials = self._credentials_for(party)
        auth_int = choice.digest is not None and choice.digest.auth_int
        header, answer = space.credentials(
            choice, credentials.username, credentials.password, request.method or "GET",
            (request.url or "") if party is _PROXY else request.path_url, nonce_count,
            body=_body_bytes(request) if auth_int else b"", basic_encoding=self._basic_encoding,
        )
        request.headers[party.credentials_header] = header
        exchange.sent[party] = _Sent(space, answer, preemptive)

    # -- after the reply ----------------------------------------------------------

    def _accept(self, exchange: _Exchange, response: requests.Response) -> None:
        """The final reply: remember the origin's space that worked; check what each
        party says back. (Proxy spaces are not kept: proxy credentials never go up
        front, see the README.)"""
        if response.status_code in (401, 407):
            return
        for party, sent in exchange.sent.items():
            credentials = self._credentials_for(party)
            if party is _ORIGIN and not sent.preemptive:
                credentials.spaces.remember(sent.space)
            self._read_authentication_info(party, credentials, sent, response)

    @staticmethod
    def _keep_credentials_home(exchange: _Exchange, response: requests.Response) -> None:
        """Before requests follows a redirect to another origin, take our up-front
        Authorization off the request it copies: requests keeps it from http://host
        to https://host, which is another origin all the same."""
        location = response.headers.get("location", "")
        if origin_of(urljoin(response.url or "", location)) != exchange.origin:
            request = exchange.request
            if request is not None:
                request.headers.pop("Authorization", None)

    def _reject(self, exchange: _Exchange, party: _Party) -> None:
        sent = exchange.sent.get(party)
        if sent is not None and sent.preemptive:
            self._credentials_for(party).spaces.forget(sent.space)

    def _read_authentication_info(
        self, party: _Party, credentials: _Credentials, sent: _Sent, response: requests.Response
    ) -> None:
        """RFC 7616 §3.5: follow ``nextnonce``; check ``rspauth`` when the server sends one."""
        if sent.answer is None:
            return
        if party.info_header not in response.headers:
            return  # the usual case, and cheaper to see than to fetch every line
        try:
            info = parse_auth_params(_header_lines(response, party.info_header))
        except ChallengeParseError as exc:
            log.debug("ignoring a malformed %s: %s", party.info_header, exc)
            return
        rspauth = info.get("rspauth")
        if rspauth is not None:
            auth_int = sent.answer.offer.auth_int
            expected = expected_rspauth(sent.answer, response.content if auth_int else b"")
            if not secrets.compare_digest(rspauth.lower(), expected):
                raise MutualAuthenticationError(
                    f"the server's rspauth does not match ({sent.answer.offer.algorithm.name}):"
                    " it may not know the password",
                    response=response,
                )
        nextnonce = info.get("nextnonce")
        if nextnonce:
            credentials.spaces.renew_nonce(sent.space, nextnonce)

    @staticmethod
    def _resend(
        response: requests.Response, retry: requests.PreparedRequest, send_kwargs: Dict[str, Any]
    ) -> requests.Response:
        new_response = response.connection.send(retry, **send_kwargs)  # type: ignore[attr-defined]
        new_response.history = [*response.history, response]
        new_response.request = retry
        return new_response


class _UnsendableBody(Exception):
    """auth-int needs the body's bytes and this body cannot give them."""


def _header_lines(response: requests.Response, name: str) -> list:
    """Every line of a header, in order: requests folds them into one string."""
    raw_headers = getattr(response.raw, "headers", None)
    getlist = getattr(raw_headers, "getlist", None)
    if getlist is not None:
        lines = getlist(name)
        if lines:
            return list(lines)
    value = response.headers.get(name)
    return [value] if value is not None else []


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


def _body_bytes(request: requests.PreparedRequest) -> bytes:
    """The exact body bytes, for qop=auth-int; a file is read and put back."""
    body = request.body
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    read, seek, tell = (getattr(body, name, None) for name in ("read", "seek", "tell"))
    if read is None or seek is None or tell is None:
        raise _UnsendableBody("auth-int needs a body that can be read twice")
    start = tell()
    data = read()
    seek(start)
    return data if isinstance(data, bytes) else str(data).encode("utf-8")


def _show(origin: Origin) -> str:
    scheme, host, port = origin
    return f"{scheme}://{host}:{port}"
