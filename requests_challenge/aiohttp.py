"""ChallengeMiddleware for aiohttp: the same dialogue as for requests, as a client middleware.

    from requests_challenge.aiohttp import ChallengeMiddleware
    aiohttp.ClientSession(middlewares=(ChallengeMiddleware("alice", "secret"),))

aiohttp 3.12 or newer (client middlewares). Every decision is the sans-IO
dialogue's (`requests_challenge._dialogue`); the middleware only moves aiohttp's
objects around it: credentials up front on the request, each challenge read,
its body discarded (at most 64 KiB), the request sent again through ``handler``.

Hops. aiohttp follows redirects itself and runs the middlewares once per hop,
each hop a fresh ``ClientRequest`` built from the caller's headers, so nothing
of ours is copied onto the next hop: each hop is its own dialogue, credentials
computed for its own request-target (up front when it lies in a known
protection space). Only the origin of the request the caller made gets
credentials, at any depth of the chain; so the middleware must know where a
hop's chain started, and a hop looks like a new request. When it returns a
redirect, it notes the chain for the hop aiohttp may send next in the same
task, recognised by the list of traces that aiohttp hands, one per call of
``ClientSession._request``, to every request of that call (``_traces``; where
it is missing, by the URL and method the redirect leads to).

Header octets. The core writes header values as text with one character per
octet (as requests sends them); aiohttp encodes header text as UTF-8. So the
middleware hands aiohttp the text whose UTF-8 form is those octets (a raw UTF-8
user name stays one), and reads challenges from the raw response header octets.
Octets that are not UTF-8 (a server's ISO-8859-1 realm echoed back) cannot be
sent through aiohttp: `UnsendableHeaderError` says so rather than sending
something else.

Bodies. aiohttp's payloads are sent again as they are (bytes, str, JSON, forms,
files: aiohttp rewinds a file to where it started); a payload aiohttp marks as
consumed (an async generator, a file that cannot seek) raises
`UnrewindableBodyError` instead of a truncated resend. qop=auth-int hashes the
exact body octets, copied through aiohttp's own payload writer into a spooled
temporary file (at most 64 KiB in memory) when, and only when, auth-int asks.

``rspauth`` over an auth-int response body is checked as the caller reads it
(``resp.read()``, ``resp.content`` and its iterators): the read that ends the
body raises `requests_challenge.MutualAuthenticationError` on a mismatch.

Concurrency. One `ProtectionSpaces` store per middleware hands out nonce counts
under its lock (never held across an ``await``), so tasks sharing a session
never send the same (nonce, nc) twice.

Cold start. A fresh middleware knows no protection space, so requests sent
together before the first handshake has ended would each meet a 401. The first
hop of a chain that would go out bare takes its origin's first-contact turn
(`ProtectionSpaces.begin_first_contact`): the first one leads; the others await
the end of its exchange (at most the session's total timeout), then go with the
credentials it taught the store, so N concurrent first requests cost N+1
exchanges. An origin that has answered once never holds anyone again, and a
first exchange that fails (an exception) lets the next request lead.

Multi-leg schemes. A handshake bound to one connection (NTLM, RFC 4559 §6;
the dialogue marks such legs ``Send(pinned=True)``) needs its legs on the
connection that carried the first, and aiohttp has no public way to pin one:
``handler`` takes a connection from the connector's pool, which may be another.
So NTLM is left out of the default ``schemes`` and refused by name
(ValueError), and a pinned leg the dialogue asks for anyway (NTLM inside
SPNEGO) is not sent: the challenge is returned. A scheme of more legs that
needs no pinning (Negotiate with Kerberos) goes out like any retry.

aiohttp internals leaned on: ``ClientRequest._traces`` (read, see above; only
its identity is used). Tested with aiohttp 3.14.5.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import threading
import weakref
from typing import Any, AsyncIterator, Dict, FrozenSet, Iterable, Iterator, Optional, Tuple, Union

import aiohttp
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse
from yarl import URL

from ._dialogue import ORIGIN, BodyCheck, Dialogue, Done, GiveUp, Reply, RequestTarget, Send
from ._errors import MutualAuthenticationError as _MutualAuthenticationError
from ._errors import UnsendableBody
from ._http import (
    MAX_CHALLENGE_BODY,
    REDIRECT_STATUSES,
    content_length,
    header_lines,
    header_octets,
    redirect_method,
    unpinned_schemes,
)
from ._schemes import Credentials
from ._source import CredentialSource
from ._spaces import FirstContact, Origin, ProtectionSpaces, origin_of

__all__ = ["ChallengeMiddleware", "UnrewindableBodyError", "UnsendableHeaderError", "MutualAuthenticationError"]

log = logging.getLogger("requests_challenge")

_CHUNK = 64 * 1024


class MutualAuthenticationError(aiohttp.ClientError, _MutualAuthenticationError):
    """The server's ``rspauth`` does not prove it knows the password: possible impostor.

    Both `requests_challenge.MutualAuthenticationError` and an ``aiohttp.ClientError``
    (aiohttp would turn any other OSError raised in a middleware into ClientOSError).
    """


class UnrewindableBodyError(aiohttp.ClientPayloadError):
    """The request must be sent again after a challenge and its body cannot be."""


class UnsendableHeaderError(aiohttp.ClientError, ValueError):
    """The credentials hold octets that are not UTF-8, and aiohttp sends header text as UTF-8."""


def _header_value(header: str) -> str:
    """The text aiohttp turns into exactly the octets the core meant (it encodes UTF-8)."""
    try:
        return header_octets(header).decode("utf-8")
    except (UnicodeDecodeError, ValueError):
        raise UnsendableHeaderError(
            "the credentials for this server contain octets that are not UTF-8 (a challenge value"
            " echoed back), which aiohttp cannot send in a header"
        ) from None


# -- the body of one request --------------------------------------------------------


class _SpoolWriter:
    """Where a payload writes itself for auth-int: a spooled temporary file."""

    def __init__(self) -> None:
        self.spool = tempfile.SpooledTemporaryFile(max_size=_CHUNK)

    async def write(self, chunk: Union[bytes, bytearray, memoryview]) -> None:
        self.spool.write(bytes(chunk))

    async def drain(self) -> None:
        pass

    async def write_eof(self, chunk: bytes = b"") -> None:
        if chunk:
            self.spool.write(chunk)

    def enable_compression(self, *args: Any, **kwargs: Any) -> None:
        pass

    def enable_chunking(self) -> None:
        pass


class _Body:
    """A request's payload, as a dialogue and a resend need it."""

    __slots__ = ("payload", "spool", "wanted")

    def __init__(self, request: ClientRequest) -> None:
        body = request.body
        self.payload: Optional[aiohttp.payload.Payload] = body if isinstance(body, aiohttp.payload.Payload) else None
        self.spool: Optional[Any] = None
        self.wanted = False

    @property
    def replayable(self) -> bool:
        return self.payload is None or not self.payload.consumed

    @property
    def needs_loading(self) -> bool:
        return self.payload is not None and self.spool is None and self._loadable

    @property
    def _loadable(self) -> bool:
        # An async iterable is consumed by writing it: never read it for a hash.
        return self.payload is not None and not isinstance(self.payload, aiohttp.payload.AsyncIterablePayload) \
            and not self.payload.consumed

    def chunks(self) -> Iterator[bytes]:
        if self.payload is None:
            return
        if self.spool is None:
            self.wanted = self._loadable
            raise UnsendableBody("auth-int needs a body that can be read twice")
        self.spool.seek(0)
        while True:
            chunk = self.spool.read(_CHUNK)
            if not chunk:
                return
            yield chunk

    async def load(self) -> None:
        if not self.needs_loading:
            return
        assert self.payload is not None
        writer = _SpoolWriter()
        await self.payload.write_with_length(writer, None)  # type: ignore[arg-type]
        self.spool = writer.spool

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None


# -- a response body checked as it is read ------------------------------------------------


class _CheckedContent:
    """``resp.content`` that hashes the body as it is read and, when it ends, raises
    MutualAuthenticationError if ``rspauth`` did not match (qop=auth-int). Everything
    else is the wrapped StreamReader's."""

    def __init__(self, content: aiohttp.StreamReader, check: BodyCheck, response: ClientResponse) -> None:
        self._content = content
        self._check = check
        self._hasher = check.new_hash()
        self._response = weakref.ref(response)
        self._finished = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._content, name)

    def _seen(self, data: bytes) -> bytes:
        self._hasher.update(data)
        if not self._finished and self._content.at_eof():
            self._finished = True
            reason = self._check.verify(self._hasher.hexdigest())
            if reason is not None:
                raise MutualAuthenticationError(reason, response=self._response())
        return data

    async def read(self, n: int = -1) -> bytes:
        return self._seen(await self._content.read(n))

    async def readany(self) -> bytes:
        return self._seen(await self._content.readany())

    async def readexactly(self, n: int) -> bytes:
        return self._seen(await self._content.readexactly(n))

    async def readline(self, **kwargs: Any) -> bytes:
        return self._seen(await self._content.readline(**kwargs))

    async def readuntil(self, *args: Any, **kwargs: Any) -> bytes:
        return self._seen(await self._content.readuntil(*args, **kwargs))

    async def readchunk(self) -> Tuple[bytes, bool]:
        data, end = await self._content.readchunk()
        return self._seen(data), end

    def read_nowait(self, n: int = -1) -> bytes:
        return self._seen(self._content.read_nowait(n))

    async def _iterate(self, read: Any) -> AsyncIterator[bytes]:
        while True:
            data = await read()
            if not data:
                return
            yield data

    def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        return self._iterate(lambda: self.read(n))

    def iter_any(self) -> AsyncIterator[bytes]:
        return self._iterate(self.readany)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate(self.readline)

    async def _chunks(self) -> AsyncIterator[Tuple[bytes, bool]]:
        while True:
            data, end = await self.readchunk()
            if not data and not end:
                return
            yield data, end

    def iter_chunks(self) -> AsyncIterator[Tuple[bytes, bool]]:
        return self._chunks()


async def _discard(response: ClientResponse) -> None:
    """Finish with a challenge before the retry: a short body is read so the connection
    goes back to the pool; a longer or endless one is not, and the connection is dropped."""
    complete = False
    length = content_length(response.raw_headers)
    if length is None or length <= MAX_CHALLENGE_BODY:
        read = 0
        try:
            while True:
                chunk = await response.content.read(MAX_CHALLENGE_BODY + 1 - read)
                if not chunk:
                    complete = True
                    break
                read += len(chunk)
                if read > MAX_CHALLENGE_BODY:
                    break
        except (aiohttp.ClientError, asyncio.TimeoutError):
            pass
    if complete:
        response.release()
    else:
        log.debug("a %d body over %d octets: its connection is dropped", response.status, MAX_CHALLENGE_BODY)
        response.close()


# -- cold start ---------------------------------------------------------------------------


def _timeout_of(request: ClientRequest) -> Optional[float]:
    """The session's total timeout (public; a per-request ``timeout=`` is not visible to
    a middleware, but aiohttp's own timer, which runs around middlewares, enforces it)."""
    session = getattr(request, "session", None)
    timeout = getattr(session, "timeout", None)
    total = getattr(timeout, "total", None)
    return float(total) if total is not None else None


# -- chains of hops -----------------------------------------------------------------------


class _Chain:
    __slots__ = ("origin", "offer", "cold")

    def __init__(self, origin: Origin, offer: Optional[Tuple[Optional[Credentials], FrozenSet[str]]]) -> None:
        self.origin = origin  # credentials go to this origin only
        self.offer = offer  # its credentials and schemes; None: nothing for it (no netrc entry)
        self.cold = True  # its first hop may take the origin's first-contact turn (`_first_contact`)


class _Upcoming:
    """The chain a redirect returned in one task continues, if aiohttp follows it."""

    __slots__ = ("chain", "traces", "url", "method")

    def __init__(self, chain: _Chain, traces: Optional[object], url: Optional[URL], method: str) -> None:
        self.chain = chain
        self.traces = traces
        self.url = url
        self.method = method

    def continued_by(self, request: ClientRequest) -> bool:
        traces = getattr(request, "_traces", None)
        if self.traces is not None and traces is not None:
            return traces is self.traces
        return self.url is not None and request.url == self.url and request.method == self.method


def _location(request: ClientRequest, response: ClientResponse) -> Optional[URL]:
    location = response.headers.get("Location")
    if location is None:
        return None
    try:
        return request.url.join(URL(location))
    except ValueError:
        return None


def _show(origin: Origin) -> str:
    scheme, host, port = origin
    return f"{scheme}://{host}:{port}"


class ChallengeMiddleware:
    """Answer 401 challenges with the strongest scheme offered, as an aiohttp client middleware.

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
        preemptive_basic: bool = False,
        basic_encoding: str = "utf-8",
    ) -> None:
        source = CredentialSource.given(
            username, password, schemes=schemes, preemptive_basic=preemptive_basic, basic_encoding=basic_encoding
        )
        self._configure(source)

    @classmethod
    def from_netrc(
        cls,
        file: "Optional[Union[str, os.PathLike[str]]]" = None,
        *,
        schemes: Optional[Iterable[str]] = None,
        preemptive_basic: bool = False,
        basic_encoding: str = "utf-8",
    ) -> "ChallengeMiddleware":
        """Credentials per host from a netrc file (``file``, else ``$NETRC``, else
        ``~/.netrc``); a host the file does not name gets nothing. The other
        options are the constructor's. The file is read now."""
        source = CredentialSource.from_netrc(
            file, schemes=schemes, preemptive_basic=preemptive_basic, basic_encoding=basic_encoding
        )
        middleware = cls.__new__(cls)
        middleware._configure(source)
        return middleware

    def _configure(self, source: CredentialSource) -> None:
        self._source = source.restricted(unpinned_schemes(source.schemes, source.named, "aiohttp"))
        self._spaces = ProtectionSpaces()
        self._upcoming_lock = threading.Lock()
        # At most one redirect pending per task: hops of one call run one after another.
        self._upcoming: "weakref.WeakKeyDictionary[asyncio.Task[Any], _Upcoming]" = weakref.WeakKeyDictionary()

    @property
    def username(self) -> Optional[str]:
        """The user name, or None for netrc (per host) and the ticket cache."""
        return self._source.username

    def __repr__(self) -> str:
        return self._source.describe("ChallengeMiddleware")

    def __getstate__(self) -> Dict[str, Any]:
        return {"source": self._source}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self._configure(state["source"])

    # -- one hop --------------------------------------------------------------------------

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        chain = self._chain_for(request)
        body = _Body(request)
        try:
            response = await self._hop(chain, request, body, handler)
        finally:
            body.close()
        if response.status in REDIRECT_STATUSES:
            self._expect_hop(chain, request, response)
        return response

    async def _hop(
        self, chain: _Chain, request: ClientRequest, body: _Body, handler: ClientHandlerType
    ) -> ClientResponse:
        dialogue, header = await self._up_front(chain, request, body)
        if dialogue is None:
            return await handler(request)
        contact: Optional[FirstContact] = None
        if chain.cold:
            chain.cold = False
            if header is None:
                contact, dialogue, header = await self._first_contact(chain, request, body, dialogue)
        if header is not None:
            request.headers["Authorization"] = _header_value(header)
        if contact is None:
            return await self._answer(request, body, dialogue, await handler(request), handler)
        answered = False  # this request leads the origin's first exchange: it ends, whatever happens
        try:
            response = await handler(request)
            answered = True
            return await self._answer(request, body, dialogue, response, handler)
        finally:
            self._spaces.end_first_contact(contact, answered)

    async def _up_front(
        self, chain: _Chain, request: ClientRequest, body: _Body
    ) -> Tuple[Optional[Dialogue], Optional[str]]:
        """The hop's dialogue and the credentials it sends up front (None: it goes bare)."""
        dialogue = self._dialogue(chain, request, body)
        if dialogue is None:
            return None, None
        header = dialogue.first()
        if body.wanted:  # auth-int up front: load the body, then ask a fresh dialogue
            body.wanted = False
            await body.load()
            dialogue = self._dialogue(chain, request, body)
            assert dialogue is not None
            header = dialogue.first()
        return dialogue, header

    async def _first_contact(
        self, chain: _Chain, request: ClientRequest, body: _Body, dialogue: Dialogue
    ) -> Tuple[Optional[FirstContact], Dialogue, Optional[str]]:
        """Cold start, at send time (a middleware runs when the request is sent): a chain's
        first request that would go out bare waits while another request's first exchange
        with the origin is under way (at most that exchange, or the session's total
        timeout; aiohttp's own timer runs around the middleware too), then goes with what
        that exchange taught the store: N concurrent first requests cost one challenge.
        Returns this request's turn when it leads (the caller ends it), and the dialogue
        and header to send with."""
        spaces = self._spaces
        mine, theirs = spaces.begin_first_contact(chain.origin)
        if theirs is None:
            return mine, dialogue, None  # the first to go (mine), or the origin answered before
        await spaces.await_first_contact(theirs, _timeout_of(request))
        fresh, header = await self._up_front(chain, request, body)
        assert fresh is not None
        if header is None:  # that exchange failed (lead, unless another does), or taught nothing
            mine, _ = spaces.begin_first_contact(chain.origin)
        return mine, fresh, header

    async def _answer(
        self, request: ClientRequest, body: _Body, dialogue: Dialogue, response: ClientResponse,
        handler: ClientHandlerType,
    ) -> ClientResponse:
        """Each challenge to the hop's request answered, as its dialogue says."""
        while True:
            raw = response.raw_headers
            if response.status == ORIGIN.status:
                challenges = header_lines(raw, ORIGIN.challenge_header)
                if body.needs_loading and any("auth-int" in c.lower() for c in challenges):
                    await body.load()
                reply = Reply(response.status, challenges, (), None)
            else:
                reply = Reply(response.status, (), header_lines(raw, ORIGIN.info_header), None)
            action = dialogue.on_reply(reply)
            if isinstance(action, Send) and getattr(action, "pinned", False):
                # A handshake leg bound to one connection (NTLM inside SPNEGO): the connector
                # may send it on another, where it can only fail. Leave the challenge to the caller.
                log.debug("not answering the %d: its handshake needs one connection", response.status)
                return response
            if isinstance(action, Send):
                value = _header_value(action.header)
                if not body.replayable:
                    response.close()
                    raise UnrewindableBodyError(
                        "the request body cannot be sent again after the challenge; pass bytes or a seekable file"
                    )
                await _discard(response)
                self._take_cookies(request, response)
                request.headers["Authorization"] = value
                response = await handler(request)
                continue
            if isinstance(action, GiveUp):
                if action.mutual:
                    response.close()
                    raise MutualAuthenticationError(action.reason)
                log.debug("returning the %d: %s", response.status, action.reason)
            elif isinstance(action, Done) and action.body_check is not None:
                checked = _CheckedContent(response.content, action.body_check, response)
                response.content = checked  # type: ignore[assignment]
            return response

    def _dialogue(self, chain: _Chain, request: ClientRequest, body: _Body) -> Optional[Dialogue]:
        url = str(request.url)
        if origin_of(url) != chain.origin:
            log.debug("%s is another origin than %s: no credentials for it", _show(origin_of(url)), _show(chain.origin))
            return None
        if chain.offer is None:
            return None
        credentials, schemes = chain.offer
        target = RequestTarget(request.method, request.url.raw_path_qs, url, body.chunks)
        return Dialogue(ORIGIN, credentials, target, self._spaces, schemes=schemes,
                        preemptive_basic=self._source.preemptive_basic)

    @staticmethod
    def _take_cookies(request: ClientRequest, response: ClientResponse) -> None:
        """The cookies the challenge set go to the session's jar (aiohttp only keeps those of
        the response a middleware returns) and, as its policy allows, onto the retry."""
        if not response.cookies:
            return
        jar = request.session.cookie_jar
        jar.update_cookies(response.cookies, response.url)
        request.update_cookies(jar.filter_cookies(request.url))

    # -- where a chain started ------------------------------------------------------------

    def _chain_for(self, request: ClientRequest) -> _Chain:
        upcoming = None
        if self._upcoming:  # a redirect returned in some task: is this its next hop?
            task = asyncio.current_task()
            if task is not None:
                with self._upcoming_lock:
                    upcoming = self._upcoming.pop(task, None)
        if upcoming is not None and upcoming.continued_by(request):
            return upcoming.chain
        origin = origin_of(str(request.url))
        return _Chain(origin, self._source.for_origin(origin))

    def _expect_hop(self, chain: _Chain, request: ClientRequest, response: ClientResponse) -> None:
        task = asyncio.current_task()
        if task is None:
            return
        upcoming = _Upcoming(chain, getattr(request, "_traces", None), _location(request, response),
                             redirect_method(request.method, response.status))
        with self._upcoming_lock:
            self._upcoming[task] = upcoming
