"""ChallengeAuth for httpx: the same dialogue as for requests, as an ``httpx.Auth``.

    from requests_challenge.httpx import ChallengeAuth
    httpx.Client(auth=ChallengeAuth("alice", "secret"))
    httpx.AsyncClient(auth=ChallengeAuth("alice", "secret"))

Every decision is the sans-IO dialogue's (`requests_challenge._dialogue`); this
module only moves httpx's objects around it. One flow, `ChallengeAuth._flow`,
reads top to bottom for both clients: it yields the requests to send and a few
I/O steps (`_Discard`, `_Rewind`, `_Mark`, `_Load`, `_AwaitFirstContact`) that
the synchronous and the asynchronous driver each carry out their own way.

Hops. httpx runs an auth flow *around* its own redirect following: with
``follow_redirects=True`` the flow sees only the last response of a chain, and
httpx copies the previous hop's ``Authorization`` onto every same-origin hop,
before any code of ours runs (``Client._send_handling_redirects``; no public
hook of httpx lets an ``Auth`` see or change a hop). A copied Digest header
names the wrong ``uri`` and repeats a (nonce, nc) pair. So this flow follows
redirects itself instead, each hop its own dialogue, credentials computed for
the hop's own request-target (up front when it lies in a known protection
space), none for another origin than the first request's, at any depth:

    httpx.Client(auth=ChallengeAuth("alice", "secret", follow_redirects=True))

The client must leave redirects to the flow (httpx's default,
``follow_redirects=False``): httpx then hands every 3xx to the flow, which
continues with the ``next_request`` httpx built (httpx's own rules for the URL,
method, body and cookies of a hop) after replacing the copied credentials. With
``follow_redirects=False`` on both (the default), the 3xx is returned and its
``next_request`` carries no credentials of ours, but a note of the chain
(``extensions``), so ``client.send(r.next_request)`` continues the chain by the
same rules. When the client follows redirects itself anyway, the flow can only
notice afterwards: it logs a warning once per auth object (logger
``requests_challenge``) and answers a challenge on the last hop as its own.

Header octets. The core writes header values as text with one character per
octet (as requests sends them: ISO-8859-1); httpx would encode a str value as
ASCII, so the flow hands httpx the octets themselves (bytes values), and reads
challenges from the raw response header octets the same way.

Bodies. ``bytes``/``str``/JSON/form bodies (httpx's ``ByteStream``) and
multipart bodies (httpx re-reads their files itself) are sent again as they
are. A file passed as ``content=`` is rewound to where it was before the first
send (httpx would resend it from its end); async files too, under AsyncClient.
A generator cannot be sent twice: the retry raises `UnrewindableBodyError`
instead of sending a truncated body. qop=auth-int hashes the exact body in
64 KiB chunks; under AsyncClient an async file is first copied to a spooled
temporary file (at most 64 KiB in memory) when, and only when, auth-int asks.

Memory. At most 64 KiB of a challenge's (or a followed redirect's) body is read
before the next request; past that its connection is dropped and the response
kept in ``history`` has an empty body. ``rspauth`` over an auth-int body is
checked as the caller reads it (``client.stream`` included): the read that ends
the body raises `requests_challenge.MutualAuthenticationError` on a mismatch.

Concurrency. One `ProtectionSpaces` store per auth object hands out nonce
counts under its lock (never held across I/O), so threads sharing an
``httpx.Client`` and tasks sharing an ``httpx.AsyncClient`` never send the same
(nonce, nc) twice.

Cold start. A fresh auth object knows no protection space, so requests sent
together before the first handshake has ended would each meet a 401. The first
request of a chain that would go out bare takes its origin's first-contact turn
(`ProtectionSpaces.begin_first_contact`) when it is sent (an auth flow runs at
send time): the first one leads; the others wait for its exchange to end (at
most the sum of their own httpx timeouts), then go with the credentials it
taught the store, so N concurrent first requests cost N+1 exchanges. A thread
blocks; a task awaits under asyncio, and under another event loop (trio) does
not wait. An origin that has answered once never holds anyone again, and a
first exchange that fails (an exception) lets the next request lead.

Multi-leg schemes. A handshake bound to one connection (NTLM, RFC 4559 §6;
the dialogue marks such legs ``Send(pinned=True)``) needs its legs on the
connection that carried the first, and httpx has no public way to pin one: an
auth flow hands each request to the pool, which may pick another connection
under load. So NTLM is left out of the default ``schemes`` and refused by name
(ValueError), and a pinned leg the dialogue asks for anyway (NTLM inside
SPNEGO) is not sent: the challenge is returned. A scheme of more legs that
needs no pinning (Negotiate with Kerberos) goes out like any retry.

httpx internals leaned on (all here, all optional):
``IteratorByteStream._stream`` and ``AsyncIteratorByteStream._stream`` (the
object given as ``content=``, read to rewind a file) and the module of
``MultipartStream`` (``httpx._multipart``, whose file fields httpx re-reads from
the start on every send). Without them a body is treated as one that cannot be
sent twice. Tested with httpx 0.28.1.
"""

from __future__ import annotations

import inspect
import logging
import os
import tempfile
import threading
import weakref
from typing import (
    Any, AsyncGenerator, AsyncIterator, Dict, FrozenSet, Generator, Iterable, Iterator, List, Optional, Set, Tuple,
    Union,
)

import httpx

from ._dialogue import ORIGIN, BodyCheck, Dialogue, Done, GiveUp, Reply, RequestTarget, Send
from ._errors import MutualAuthenticationError, UnsendableBody
from ._http import MAX_CHALLENGE_BODY, content_length, header_lines, header_octets, unpinned_schemes
from ._schemes import Credentials
from ._source import CredentialSource
from ._spaces import FirstContact, Origin, ProtectionSpaces, origin_of

__all__ = ["ChallengeAuth", "UnrewindableBodyError", "MutualAuthenticationError"]

log = logging.getLogger("requests_challenge")

_CHAIN_KEY = "requests_challenge.chain"  # in a next_request's extensions: the chain it continues
_CHUNK = 64 * 1024
_DEFAULT_MAX_REDIRECTS = 20  # httpx's own default


class UnrewindableBodyError(httpx.StreamError):
    """The request must be sent again (a challenge, a redirect) and its body cannot be."""


# -- the body of one request --------------------------------------------------------


class _Body:
    """A request stream, as a dialogue and a resend need it: its exact octets in chunks
    (auth-int) and a way back to where it started.

    Kinds: ``bytes`` (httpx's ByteStream: replayable), ``multipart`` (httpx re-reads
    its files from the start on every send), ``file`` (a file given as ``content=``:
    rewound to its position before the first send), ``afile`` (the same, with async
    ``seek``/``tell``/``read``), ``once`` (a generator or anything else).
    """

    __slots__ = ("stream", "kind", "source", "position", "spool", "wanted")

    def __init__(self, stream: object) -> None:
        self.stream = stream
        self.source: Any = None
        self.position: Optional[int] = None
        self.spool: Optional[Any] = None  # auth-int copy of an async file, spooled
        self.wanted = False  # the dialogue asked for the octets before they were loaded
        if isinstance(stream, httpx.ByteStream):
            self.kind = "bytes"
        elif type(stream).__module__ == "httpx._multipart":
            self.kind = "multipart"
        else:
            source = getattr(stream, "_stream", None)  # httpx's iterator streams (see above)
            seek, tell = getattr(source, "seek", None), getattr(source, "tell", None)
            if source is not None and callable(seek) and callable(tell):
                seekable = getattr(source, "seekable", None)
                self.kind = "file" if not inspect.iscoroutinefunction(source.tell) else "afile"
                self.source = source
                if self.kind == "file" and callable(seekable):
                    try:
                        if not seekable():
                            self.kind = "once"
                    except (OSError, ValueError):
                        self.kind = "once"
            else:
                self.kind = "once"

    @property
    def replayable(self) -> bool:
        if self.kind in ("file", "afile"):
            return self.position is not None
        return self.kind != "once"

    # -- before the first send ------------------------------------------------

    def mark(self) -> None:
        if self.kind == "file" and self.position is None:
            try:
                self.position = self.source.tell()
            except (OSError, ValueError):
                self.kind = "once"

    async def amark(self) -> None:
        if self.kind == "afile" and self.position is None:
            try:
                self.position = await self.source.tell()
            except (OSError, ValueError):
                self.kind = "once"
        else:
            self.mark()

    # -- before a resend --------------------------------------------------------

    def rewind(self) -> None:
        if self.kind == "file" and self.position is not None:
            self.source.seek(self.position)

    async def arewind(self) -> None:
        if self.kind == "afile" and self.position is not None:
            await self.source.seek(self.position)
        else:
            self.rewind()

    # -- auth-int --------------------------------------------------------------------

    def chunks(self) -> Iterator[bytes]:
        """The exact body octets for qop=auth-int; UnsendableBody when they cannot be had
        now (a generator; an async file not loaded yet)."""
        if self.kind in ("bytes", "multipart"):
            for chunk in self.stream:  # type: ignore[attr-defined]
                yield chunk
        elif self.kind == "file" and self.position is not None:
            self.source.seek(self.position)
            try:
                while True:
                    chunk = self.source.read(_CHUNK)
                    if not chunk:
                        return
                    yield chunk if isinstance(chunk, bytes) else str(chunk).encode("utf-8")
            finally:
                self.source.seek(self.position)
        elif self.spool is not None:
            self.spool.seek(0)
            while True:
                chunk = self.spool.read(_CHUNK)
                if not chunk:
                    return
                yield chunk
        else:
            self.wanted = self.kind == "afile" and self.position is not None
            raise UnsendableBody("auth-int needs a body that can be read twice")

    @property
    def needs_loading(self) -> bool:
        return self.kind == "afile" and self.position is not None and self.spool is None

    async def aload(self) -> None:
        """Copy an async file's body to a spooled temporary file, for auth-int only."""
        if not self.needs_loading:
            return
        spool = tempfile.SpooledTemporaryFile(max_size=_CHUNK)
        await self.source.seek(self.position)
        try:
            while True:
                chunk = await self.source.read(_CHUNK)
                if not chunk:
                    break
                spool.write(chunk if isinstance(chunk, bytes) else str(chunk).encode("utf-8"))
        finally:
            await self.source.seek(self.position)
        self.spool = spool

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None


# -- the I/O steps the flow asks its driver for ------------------------------------------


class _Mark:
    __slots__ = ("body",)

    def __init__(self, body: _Body) -> None:
        self.body = body


class _Rewind(_Mark):
    __slots__ = ()


class _Load(_Mark):
    __slots__ = ()


class _AwaitFirstContact:
    """Wait (bounded by ``timeout`` seconds) for another request's first exchange with the
    origin to end: the synchronous driver blocks, the asynchronous one awaits under
    asyncio and does not wait at all under another event loop (trio)."""

    __slots__ = ("spaces", "contact", "timeout")

    def __init__(self, spaces: ProtectionSpaces, contact: FirstContact, timeout: Optional[float]) -> None:
        self.spaces = spaces
        self.contact = contact
        self.timeout = timeout


class _Discard:
    """Read at most MAX_CHALLENGE_BODY octets of a response httpx will read whole next."""

    __slots__ = ("response",)

    def __init__(self, response: httpx.Response) -> None:
        self.response = response


_Step = Union[httpx.Request, _Mark, _Discard, _AwaitFirstContact]


def _timeout_of(request: httpx.Request) -> Optional[float]:
    """httpx's timeout of ``request`` (connect, read, write, pool) as one bound: the sum
    of those set, None when none is."""
    timeout = request.extensions.get("timeout")
    if not isinstance(timeout, dict):
        return None
    parts = [float(value) for value in timeout.values() if value is not None]
    return sum(parts) if parts else None


def _keep(response: httpx.Response, kept: bytearray, complete: bool) -> None:
    """What ``history`` keeps of a discarded body: all of it, or nothing when it was cut."""
    if not complete:
        log.debug("a %d body over %d octets: its connection is dropped", response.status_code, MAX_CHALLENGE_BODY)
    response.stream = httpx.ByteStream(bytes(kept) if complete else b"")


def _too_long(response: httpx.Response) -> bool:
    length = content_length(response.headers.raw)
    return length is not None and length > MAX_CHALLENGE_BODY


def _discard(response: httpx.Response) -> None:
    stream = response.stream
    kept, complete = bytearray(), False
    if not _too_long(response):
        try:
            for chunk in stream:  # type: ignore[union-attr]
                kept += chunk
                if len(kept) > MAX_CHALLENGE_BODY:
                    break
            else:
                complete = True
        except httpx.HTTPError:
            pass
    stream.close()  # type: ignore[union-attr]  # unread octets: httpcore drops the connection
    _keep(response, kept, complete)


async def _adiscard(response: httpx.Response) -> None:
    stream = response.stream
    kept, complete = bytearray(), False
    if not _too_long(response):
        try:
            async for chunk in stream:  # type: ignore[union-attr]
                kept += chunk
                if len(kept) > MAX_CHALLENGE_BODY:
                    break
            else:
                complete = True
        except httpx.HTTPError:
            pass
    await stream.aclose()  # type: ignore[union-attr]
    _keep(response, kept, complete)


class _CheckedStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response stream that hashes the body as it is read and, at its end, raises
    MutualAuthenticationError when ``rspauth`` did not match (qop=auth-int)."""

    def __init__(self, stream: Any, check: BodyCheck, response: httpx.Response) -> None:
        self._stream = stream
        self._check = check
        self._hasher = check.new_hash()
        self._response = response
        self._finished = False

    def _finish(self) -> None:
        if not self._finished:
            self._finished = True
            reason = self._check.verify(self._hasher.hexdigest())
            if reason is not None:
                raise MutualAuthenticationError(reason, response=self._response)

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            self._hasher.update(chunk)
            yield chunk
        self._finish()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            self._hasher.update(chunk)
            yield chunk
        self._finish()

    def close(self) -> None:
        self._stream.close()

    async def aclose(self) -> None:
        await self._stream.aclose()


# -- one chain of hops --------------------------------------------------------------------


class _Chain:
    """One request and the redirects followed from it: the origin credentials stay on,
    the headers we put on its requests (to recognise copies), and the bodies seen."""

    __slots__ = ("owner", "origin", "offer", "placed", "yielded", "bodies", "hops", "cold")

    def __init__(
        self, owner: "ChallengeAuth", origin: Origin, offer: Optional[Tuple[Optional[Credentials], FrozenSet[str]]]
    ) -> None:
        self.owner = owner
        self.origin = origin
        self.offer = offer  # its credentials and schemes; None: nothing for it (no netrc entry)
        self.placed: Set[bytes] = set()  # Authorization octets we sent in this chain
        self.yielded: Set[int] = set()  # ids of the requests this flow handed to httpx
        self.bodies: List[_Body] = []
        self.hops = 0
        self.cold = True  # its first request may take the origin's first-contact turn (`_first_contact`)

    def body_for(self, request: httpx.Request) -> Tuple[_Body, bool]:
        """The body of ``request``, and whether an earlier hop already sent its stream."""
        for body in self.bodies:
            if body.stream is request.stream:
                return body, True
        body = _Body(request.stream)
        self.bodies.append(body)
        return body, False

    def close(self) -> None:
        for body in self.bodies:
            body.close()


def _replace_authorization(request: httpx.Request, octets: Optional[bytes]) -> httpx.Request:
    """A new request like ``request`` with these credentials (or none): its own object,
    so ``history`` shows what each exchange really carried."""
    headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"authorization"]
    if octets is not None:
        headers.append((b"Authorization", octets))
    return httpx.Request(request.method, request.url, headers=headers, stream=request.stream,
                         extensions=request.extensions)


#: Requests a flow put credentials on in place (the caller's own Request objects):
#: sent again, they are recognised and lose them before anything is decided.
_CARRYING: "weakref.WeakSet[httpx.Request]" = weakref.WeakSet()


def _put_authorization(request: httpx.Request, octets: bytes) -> None:
    """Credentials on the request about to go out, in place (cheaper than a copy)."""
    if octets.isascii():
        request.headers["Authorization"] = octets.decode("ascii")
    else:  # httpx would encode a str value as ASCII: hand it the octets
        request.headers = httpx.Headers(
            [(k, v) for k, v in request.headers.raw if k.lower() != b"authorization"] + [(b"Authorization", octets)]
        )
    _CARRYING.add(request)


def _cookie_pairs(header: Optional[str]) -> Dict[str, str]:
    pairs: Dict[str, str] = {}
    for item in (header or "").split(";"):
        name, eq, value = item.strip().partition("=")
        if name and eq:
            pairs[name] = value
    return pairs


def _with_challenge_cookies(request: httpx.Request, response: httpx.Response) -> None:
    """Add the cookies the challenge set (for this URL) to the retry, as a browser would:
    some servers tie the nonce to a session cookie."""
    if "set-cookie" not in response.headers:
        return
    jar = httpx.Cookies()
    jar.extract_cookies(response)
    scratch = httpx.Request(request.method, request.url)
    jar.set_cookie_header(scratch)
    fresh = scratch.headers.get("cookie")
    if not fresh:
        return
    merged = {**_cookie_pairs(request.headers.get("cookie")), **_cookie_pairs(fresh)}
    request.headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in merged.items())


def _show(origin: Origin) -> str:
    scheme, host, port = origin
    return f"{scheme}://{host}:{port}"


class ChallengeAuth(httpx.Auth):
    """Answer 401 challenges with the strongest scheme offered, for httpx.Client and AsyncClient.

    ``schemes`` restricts what may be answered, e.g. ``("digest",)`` never sends
    Basic (downgrade protection). ``preemptive_basic`` sends Basic on every
    request, for APIs that never challenge. ``basic_encoding`` is for legacy
    servers that expect latin-1 Basic credentials. ``follow_redirects=True``
    follows redirects inside the flow, each hop with its own credentials (leave
    the client's ``follow_redirects`` off); ``max_redirects`` bounds them.
    """

    def __init__(
        self,
        username: str,
        password: str,
        *,
        schemes: Optional[Iterable[str]] = None,
        preemptive_basic: bool = False,
        basic_encoding: str = "utf-8",
        follow_redirects: bool = False,
        max_redirects: int = _DEFAULT_MAX_REDIRECTS,
    ) -> None:
        source = CredentialSource.given(
            username, password, schemes=schemes, preemptive_basic=preemptive_basic, basic_encoding=basic_encoding
        )
        self._configure(source, follow_redirects, max_redirects)

    @classmethod
    def from_netrc(
        cls,
        file: "Optional[Union[str, os.PathLike[str]]]" = None,
        *,
        schemes: Optional[Iterable[str]] = None,
        preemptive_basic: bool = False,
        basic_encoding: str = "utf-8",
        follow_redirects: bool = False,
        max_redirects: int = _DEFAULT_MAX_REDIRECTS,
    ) -> "ChallengeAuth":
        """Credentials per host from a netrc file (``file``, else ``$NETRC``, else
        ``~/.netrc``); a host the file does not name gets nothing. The other
        options are the constructor's. The file is read now."""
        source = CredentialSource.from_netrc(
            file, schemes=schemes, preemptive_basic=preemptive_basic, basic_encoding=basic_encoding
        )
        auth = cls.__new__(cls)
        auth._configure(source, follow_redirects, max_redirects)
        return auth

    def _configure(self, source: CredentialSource, follow_redirects: bool, max_redirects: int) -> None:
        self._source = source.restricted(unpinned_schemes(source.schemes, source.named, "httpx"))
        self._follow_redirects = bool(follow_redirects)
        if max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        self._max_redirects = max_redirects
        self._spaces = ProtectionSpaces()
        self._warned = threading.Event()

    @property
    def username(self) -> Optional[str]:
        """The user name, or None for netrc (per host) and the ticket cache."""
        return self._source.username

    def __repr__(self) -> str:
        return self._source.describe("ChallengeAuth")

    def __getstate__(self) -> Dict[str, Any]:
        return {"source": self._source, "follow_redirects": self._follow_redirects,
                "max_redirects": self._max_redirects}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self._configure(state["source"], state["follow_redirects"], state["max_redirects"])

    # -- httpx entry points: drive the one flow -----------------------------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self._flow(request)
        value: Any = None
        try:
            while True:
                try:
                    step = flow.send(value)
                except StopIteration:
                    return
                value = None
                if isinstance(step, httpx.Request):
                    value = yield step
                elif isinstance(step, _Discard):
                    _discard(step.response)
                elif isinstance(step, _Rewind):
                    step.body.rewind()
                elif isinstance(step, _Load):
                    pass  # a synchronous client reads files synchronously: nothing to load
                elif isinstance(step, _AwaitFirstContact):
                    step.spaces.wait_first_contact(step.contact, step.timeout)
                else:
                    step.body.mark()
        finally:
            flow.close()

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        flow = self._flow(request)
        value: Any = None
        try:
            while True:
                try:
                    step = flow.send(value)
                except StopIteration:
                    return
                value = None
                if isinstance(step, httpx.Request):
                    value = yield step
                elif isinstance(step, _Discard):
                    await _adiscard(step.response)
                elif isinstance(step, _Rewind):
                    await step.body.arewind()
                elif isinstance(step, _Load):
                    await step.body.aload()
                elif isinstance(step, _AwaitFirstContact):
                    await step.spaces.await_first_contact(step.contact, step.timeout)
                else:
                    await step.body.amark()
        finally:
            flow.close()

    # -- the flow -----------------------------------------------------------------------

    def _flow(self, request: httpx.Request) -> Generator[_Step, Any, None]:
        chain = request.extensions.get(_CHAIN_KEY)
        if not isinstance(chain, _Chain) or chain.owner is not self:
            origin = origin_of(str(request.url))
            chain = _Chain(self, origin, self._source.for_origin(origin))
        if request in _CARRYING:  # sent before, with credentials of a flow: never again
            _CARRYING.discard(request)
            request.headers.pop("Authorization", None)
        try:
            while True:
                response = yield from self._hop(chain, request)
                self._notice_copies(chain, response)
                following = response.next_request
                if following is None:
                    return
                following = self._next_hop(chain, following)
                response.next_request = following
                if not self._follow_redirects:
                    return
                chain.hops += 1
                if chain.hops > self._max_redirects:
                    raise httpx.TooManyRedirects("Exceeded maximum allowed redirects.", request=following)
                yield _Discard(response)  # httpx reads it whole when the flow goes on
                request = following
        finally:
            chain.close()

    def _hop(self, chain: _Chain, request: httpx.Request) -> Generator[_Step, Any, httpx.Response]:
        """One request of the chain: credentials up front, then each challenge answered."""
        body, sent_before = chain.body_for(request)
        if sent_before:
            if not body.replayable:
                raise UnrewindableBodyError(
                    "the request body cannot be sent again on the redirect; pass bytes or a seekable file"
                )
            yield _Rewind(body)
        elif body.kind == "afile":
            yield _Mark(body)  # an async tell()
        else:
            body.mark()
        dialogue, header = yield from self._up_front(chain, request, body)
        contact: Optional[FirstContact] = None
        if chain.cold:
            chain.cold = False
            if dialogue is not None and header is None:
                contact, dialogue, header = yield from self._first_contact(chain, request, body, dialogue)
        if header is not None:
            _put_authorization(request, self._placed(chain, header))
        chain.yielded.add(id(request))
        if contact is None:
            response: httpx.Response = yield request
            return (yield from self._answer(chain, request, body, dialogue, response))
        answered = False  # this request leads the origin's first exchange: it ends, whatever happens
        try:
            response = yield request
            answered = True
            return (yield from self._answer(chain, request, body, dialogue, response))
        finally:
            self._spaces.end_first_contact(contact, answered)

    def _up_front(
        self, chain: _Chain, request: httpx.Request, body: _Body
    ) -> Generator[_Step, Any, Tuple[Optional[Dialogue], Optional[str]]]:
        """The hop's dialogue and the credentials it sends up front (None: it goes bare)."""
        dialogue = self._dialogue(chain, request, body)
        if dialogue is None:
            return None, None
        header = dialogue.first()
        if body.wanted:  # auth-int over an async file: load it, then ask a fresh dialogue
            body.wanted = False
            yield _Load(body)
            dialogue = self._dialogue(chain, request, body)
            assert dialogue is not None
            header = dialogue.first()
        return dialogue, header

    def _first_contact(
        self, chain: _Chain, request: httpx.Request, body: _Body, dialogue: Dialogue
    ) -> Generator[_Step, Any, Tuple[Optional[FirstContact], Optional[Dialogue], Optional[str]]]:
        """Cold start, at send time (an auth flow runs when the request is sent): a chain's
        first request that would go out bare waits while another request's first exchange
        with the origin is under way (at most that exchange, or this request's own
        timeout), then goes with what that exchange taught the store: N concurrent first
        requests cost one challenge. Returns this request's turn when it leads (the
        caller ends it), and the dialogue and header to send with."""
        spaces = self._spaces
        mine, theirs = spaces.begin_first_contact(chain.origin)
        if theirs is None:
            return mine, dialogue, None  # the first to go (mine), or the origin answered before
        yield _AwaitFirstContact(spaces, theirs, _timeout_of(request))
        fresh, header = yield from self._up_front(chain, request, body)
        if header is None:  # that exchange failed (lead, unless another does), or taught nothing
            mine, _ = spaces.begin_first_contact(chain.origin)
        return mine, fresh, header

    def _answer(
        self, chain: _Chain, request: httpx.Request, body: _Body, dialogue: Optional[Dialogue],
        response: httpx.Response,
    ) -> Generator[_Step, Any, httpx.Response]:
        """Each challenge to the hop's request answered, as its dialogue says."""
        while dialogue is not None:
            raw = response.headers.raw
            if response.status_code == ORIGIN.status:
                challenges = header_lines(raw, ORIGIN.challenge_header)
                if body.needs_loading and any("auth-int" in c.lower() for c in challenges):
                    yield _Load(body)
                reply = Reply(response.status_code, challenges, (), None)
            else:
                reply = Reply(response.status_code, (), header_lines(raw, ORIGIN.info_header), None)
            action = dialogue.on_reply(reply)
            if isinstance(action, Send) and getattr(action, "pinned", False):
                # A handshake leg bound to one connection (NTLM inside SPNEGO): httpx may send
                # it on another, where it can only fail. Leave the challenge to the caller.
                log.debug("not answering the %d: its handshake needs one connection", response.status_code)
                break
            if isinstance(action, Send):
                if not body.replayable:
                    raise UnrewindableBodyError(
                        "the request body cannot be sent again after the challenge; pass bytes or a seekable file"
                    )
                yield _Discard(response)
                yield _Rewind(body)
                retry = _replace_authorization(request, self._placed(chain, action.header))
                chain.yielded.add(id(retry))
                _with_challenge_cookies(retry, response)
                request = retry
                response = yield retry
                continue
            if isinstance(action, GiveUp):
                if action.mutual:
                    raise MutualAuthenticationError(action.reason, response=response)
                log.debug("returning the %d: %s", response.status_code, action.reason)
            elif isinstance(action, Done) and action.body_check is not None:
                response.stream = _CheckedStream(response.stream, action.body_check, response)
            break
        return response

    def _dialogue(self, chain: _Chain, request: httpx.Request, body: _Body) -> Optional[Dialogue]:
        url = str(request.url)
        if origin_of(url) != chain.origin:
            log.debug("%s is another origin than %s: no credentials for it", _show(origin_of(url)), _show(chain.origin))
            return None
        if chain.offer is None:
            return None
        credentials, schemes = chain.offer
        target = RequestTarget(request.method, request.url.raw_path.decode("ascii"), url, body.chunks)
        return Dialogue(ORIGIN, credentials, target, self._spaces, schemes=schemes,
                        preemptive_basic=self._source.preemptive_basic)

    @staticmethod
    def _placed(chain: _Chain, header: str) -> bytes:
        """The octets of a credentials header this flow is about to send, noted in the chain."""
        octets = header_octets(header)
        chain.placed.add(octets)
        return octets

    def _next_hop(self, chain: _Chain, following: httpx.Request) -> httpx.Request:
        """The request httpx built for the next hop, without the credentials it copied
        from this one, and with a note of the chain for the flow that sends it."""
        current = [value for key, value in following.headers.raw if key.lower() == b"authorization"]
        if current and any(value in chain.placed for value in current):
            following = _replace_authorization(following, None)
        following.extensions[_CHAIN_KEY] = chain
        return following

    def _notice_copies(self, chain: _Chain, response: httpx.Response) -> None:
        """httpx followed redirects itself and copied credentials of ours onto a hop."""
        if not response.history or not chain.placed or self._warned.is_set():
            return
        for each in (*response.history, response):
            request = each.request
            if id(request) in chain.yielded:
                continue
            values = [value for key, value in request.headers.raw if key.lower() == b"authorization"]
            if any(value in chain.placed for value in values):
                self._warned.set()
                log.warning(
                    "httpx followed a redirect itself and copied credentials computed for another request onto"
                    " %s %s; use follow_redirects=False on the client and ChallengeAuth(..., follow_redirects=True)",
                    request.method, request.url.raw_path.decode("ascii"),
                )
                return

