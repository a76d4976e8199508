"""`ChallengeMiddleware`: a `Verifier` in front of any WSGI application (PEP 3333).

A request to a protected path without valid credentials gets a 401 (407 as a
proxy) with the challenges, and the application is not called; with valid
ones the application runs with ``REMOTE_USER`` set and the answer gets
Authentication-Info when configured. Every exchange is logged.
"""

from __future__ import annotations

import io
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from ._app import Environ, StartResponse, WSGIApp, json_reply, request_target
from ._log import Exchange, ExchangeLog
from ._offers import Offer
from ._verifier import HeaderNames, Outcome, Verdict, Verifier

__all__ = ["ChallengeMiddleware"]

# environ keys set for an accepted request, beside REMOTE_USER and AUTH_TYPE (CGI, RFC 3875 §4.1)
USER_KEY = "requests_challenge.user"
SCHEME_KEY = "requests_challenge.scheme"
ALGORITHM_KEY = "requests_challenge.algorithm"
VERDICT_KEY = "requests_challenge.verdict"

_READ_SIZE = 64 * 1024


def _covers(prefix: str, path: str) -> bool:
    """Whether a protected/open prefix covers ``path``: "/a/" covers what starts with it;
    "/a" covers "/a" and "/a/..." but not "/ab" (whole segments)."""
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


class _Pending:
    """The exchange of one request, logged once: when the status is settled, before any octet goes out."""

    def __init__(self, log: ExchangeLog, method: str, target: str, authorization: Optional[str]) -> None:
        self._log = log
        self.method, self.target, self.authorization = method, target, authorization
        self.status: Optional[int] = None
        self.user: Optional[str] = None
        self.reason = ""
        self._logged = False

    def commit(self) -> None:
        if self._logged or self.status is None:
            return
        self._logged = True
        self._log.append(Exchange(self.method, self.target, self.authorization, self.status, self.user, self.reason))


class _Committing:
    """The application's body, logging the exchange before its first octet or at its end.

    PEP 3333 lets an application call start_response again (with exc_info)
    until the first octet is sent, so the status is final only then.
    """

    def __init__(self, result: Iterable[bytes], pending: _Pending) -> None:
        self._result = result
        self._pending = pending

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._result:
            if chunk:
                self._pending.commit()
            yield chunk
        self._pending.commit()

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._pending.commit()


def _status_code(status: str) -> int:
    return int(status.split(None, 1)[0])


class ChallengeMiddleware:
    """Challenge, verify and log in front of ``app``, any WSGI application.

    ``users``, ``challenges`` and ``**verifier_options`` (``nonce_lifetime``,
    ``strict_nc``, ``one_time_nonces``, ``nextnonce``, ``rspauth``,
    ``shared_nonces``, ``one_header``, ``clock``...) make its `Verifier`; or
    pass a ``verifier`` to share one. Paths under ``protected`` (default: all)
    and not under ``open_paths`` need credentials. ``cookie="name=value"`` is
    set with every challenge and must come back with the credentials.
    ``proxy=True`` plays a proxy: 407 and the Proxy-* headers.

    The request body is read here (Digest ``auth-int`` hashes it), at most
    ``max_body`` octets (413 past that), and handed on in a fresh ``wsgi.input``.
    An accepted request reaches ``app`` with ``REMOTE_USER``, ``AUTH_TYPE`` and
    ``requests_challenge.user`` / ``.scheme`` / ``.algorithm`` / ``.verdict``
    in its environ. Every exchange is appended to ``exchanges`` and passed to
    ``on_exchange``, before the client gets its answer.
    """

    def __init__(
        self,
        app: WSGIApp,
        users: Optional[Mapping[str, str]] = None,
        challenges: Optional[Sequence[Offer]] = None,
        *,
        protected: Sequence[str] = ("/",),
        open_paths: Sequence[str] = (),
        cookie: Optional[str] = None,
        proxy: bool = False,
        max_body: int = 16 * 1024 * 1024,
        on_exchange: Optional[Callable[[Exchange], None]] = None,
        verifier: Optional[Verifier] = None,
        **verifier_options: Any,
    ) -> None:
        if cookie is not None and "=" not in cookie:
            raise ValueError("cookie must be 'name=value'")
        if verifier is None:
            verifier = Verifier(users, challenges, proxy=proxy, **verifier_options)
        elif users is not None or challenges is not None or proxy or verifier_options:
            raise TypeError("give a verifier or the options to make one (users, challenges, proxy, ...), not both")
        self.app = app
        self.verifier = verifier
        self.protected = tuple(protected)
        self.open_paths = tuple(open_paths)
        self.cookie = cookie
        self.max_body = max_body
        self.exchanges = ExchangeLog(on_exchange=on_exchange)
        self._authorization_key = "HTTP_" + verifier.names.authorization.upper().replace("-", "_")

    @property
    def names(self) -> HeaderNames:
        return self.verifier.names

    @property
    def users(self) -> Mapping[str, str]:
        return self.verifier.users

    @property
    def challenges(self) -> Tuple[Offer, ...]:
        return self.verifier.challenges

    def expire_nonces(self) -> None:
        """Make every nonce issued so far stale, as if its lifetime had passed."""
        self.verifier.expire_nonces()

    def is_protected(self, path: str) -> bool:
        return any(_covers(p, path) for p in self.protected) and not any(_covers(p, path) for p in self.open_paths)

    def __repr__(self) -> str:
        return f"<ChallengeMiddleware {self.verifier!r} app={self.app!r}>"

    # -- one request --------------------------------------------------------

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        target = request_target(environ)
        authorization = environ.get(self._authorization_key)
        pending = _Pending(self.exchanges, method, target, authorization)
        if not self.is_protected(urlsplit(target).path or "/"):
            return self._call_app(environ, start_response, pending, None)

        body, error = self._read_body(environ)
        if error is not None:
            status, reason = error
            return self._answer(start_response, pending, status, reason, [])
        environ = dict(environ)  # the caller's stays as it was
        environ.update({"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})

        if authorization is not None and self.cookie is not None and not self._has_cookie(environ):
            verdict = Verdict(Outcome.REFUSED, "the cookie set with the challenge did not come back")
        else:
            verdict = self.verifier.check(method, target, authorization, body)
        if verdict.outcome is Outcome.BAD_REQUEST:
            return self._answer(start_response, pending, 400, verdict.reason, [])
        if not verdict.accepted:
            headers = self.verifier.challenge_headers(stale=verdict.stale)
            if self.cookie is not None:
                headers.append(("Set-Cookie", f"{self.cookie}; Path=/; HttpOnly"))
            return self._answer(start_response, pending, self.names.status, verdict.reason, headers)

        environ.update({
            "REMOTE_USER": verdict.user, "AUTH_TYPE": verdict.scheme,
            USER_KEY: verdict.user, SCHEME_KEY: verdict.scheme, ALGORITHM_KEY: verdict.algorithm, VERDICT_KEY: verdict,
        })
        pending.user = verdict.user
        return self._call_app(environ, start_response, pending, verdict)

    def _answer(
        self, start_response: StartResponse, pending: _Pending, status: int, reason: str, headers: List[Tuple[str, str]]
    ) -> List[bytes]:
        """Our own answer, the application not called: a JSON body that says why."""
        pending.status, pending.reason = status, reason
        pending.commit()
        return json_reply(start_response, status, {"status": status, "error": reason}, headers)

    def _call_app(
        self, environ: Environ, start_response: StartResponse, pending: _Pending, verdict: Optional[Verdict]
    ) -> Iterable[bytes]:
        if verdict is not None and verdict.needs_response_body:
            return self._call_app_buffered(environ, start_response, pending, verdict)
        extra = verdict.response_headers() if verdict is not None else []

        def start(status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
            pending.status = _status_code(status)
            write = start_response(status, list(headers) + extra, exc_info)

            def write_committed(data: bytes) -> object:  # the legacy write() sends at once (PEP 3333)
                pending.commit()
                return write(data)

            return write_committed

        return _Committing(self.app(environ, start), pending)

    def _call_app_buffered(
        self, environ: Environ, start_response: StartResponse, pending: _Pending, verdict: Verdict
    ) -> List[bytes]:
        """qop=auth-int: rspauth covers the answer's body (RFC 7616 §3.5), so it is
        collected whole, at most ``max_body`` octets, before the headers go out."""
        started: List[Tuple[str, List[Tuple[str, str]]]] = []
        chunks: List[bytes] = []
        size = 0

        def collect(data: bytes) -> None:
            nonlocal size
            size += len(data)
            if size <= self.max_body:
                chunks.append(data)

        def start(status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
            started.append((status, list(headers)))  # nothing sent yet: a later call simply wins
            return collect

        result = self.app(environ, start)
        try:
            for chunk in result:
                collect(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not started:
            raise RuntimeError("the WSGI application returned without calling start_response")
        if size > self.max_body:
            reason = f"an auth-int answer over max_body ({self.max_body} octets) cannot be signed with rspauth"
            return self._answer(start_response, pending, 500, reason, [])
        body = b"".join(chunks)
        status, headers = started[-1]
        pending.status = _status_code(status)
        pending.commit()
        start_response(status, headers + verdict.response_headers(body))
        return [body]

    # -- the request's parts ------------------------------------------------

    def _read_body(self, environ: Environ) -> Tuple[bytes, Optional[Tuple[int, str]]]:
        """The body, at most ``max_body`` octets; or (status, reason) when it cannot be read."""
        stream = environ.get("wsgi.input")
        if stream is None:
            return b"", None
        if environ.get("wsgi.input_terminated"):  # the server ends the stream: read to its end
            body = _read(stream, self.max_body + 1)
            return (b"", (413, "body too large")) if len(body) > self.max_body else (body, None)
        length = str(environ.get("CONTENT_LENGTH") or "0").strip()
        if not (length.isascii() and length.isdigit()):
            return b"", (400, "invalid Content-Length")
        if int(length) > self.max_body:
            return b"", (413, "body too large")
        body = _read(stream, int(length))
        if len(body) != int(length):
            return b"", (400, "body shorter than Content-Length")
        return body, None

    def _has_cookie(self, environ: Environ) -> bool:
        sent = environ.get("HTTP_COOKIE", "")
        return self.cookie is not None and self.cookie in {pair.strip() for pair in sent.split(";")}


def _read(stream: Any, limit: int) -> bytes:
    """Up to ``limit`` octets of ``stream``, a piece at a time (a read may return less)."""
    parts: List[bytes] = []
    left = limit
    while left > 0:
        part = stream.read(min(left, _READ_SIZE))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


class FrontsMiddleware:
    """What a server in front of a `ChallengeMiddleware` shows of it: its verifier's users and
    challenges, its exchange log, and stale nonces on demand (`ChallengeServer`, `Protection`)."""

    middleware: ChallengeMiddleware

    @property
    def verifier(self) -> Verifier:
        return self.middleware.verifier

    @property
    def users(self) -> Dict[str, str]:
        return self.middleware.verifier.users

    @property
    def challenges(self) -> Tuple[Offer, ...]:
        return self.middleware.verifier.challenges

    @property
    def exchanges(self) -> ExchangeLog:
        return self.middleware.exchanges

    def expire_nonces(self) -> None:
        """Make every nonce issued so far stale, as if its lifetime had passed."""
        self.middleware.expire_nonces()
