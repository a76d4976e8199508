"""`ChallengeServer`: a WSGI application behind `ChallengeMiddleware`, served on a real socket.

HTTP/1.1 with keep-alive, so that clients reuse connections and exchanges count
as they would in production; http or https. What a client sends is bounded:
the request line and header fields by http.server (64 KiB a line, 100 fields),
the body by ``max_body``, the connections by ``max_connections``. `stop` ends
idle keep-alive connections and joins every thread it started, each wait
bounded by ``timeout``.

The socket half (`_Handler`) only moves bytes: it reads a request, builds the
PEP 3333 environ, runs the application and frames its answer.
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Type, TypeVar, Union
from urllib.parse import unquote_to_bytes, urlsplit

from ._app import Environ, WSGIApp, echo_app, json_reply
from ._certificates import SelfSignedCertificate, self_signed_certificate
from ._log import Exchange
from ._middleware import ChallengeMiddleware, FrontsMiddleware
from ._offers import Offer

__all__ = ["ChallengeServer"]

log = logging.getLogger("requests_challenge")

_CHUNK_SIZE_LINE = 1024  # RFC 9112 §7.1 chunk-size [ chunk-ext ] CRLF, bounded
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")  # chunk-size = 1*HEXDIG, at most 60 bits here
_MAX_TRAILER_FIELDS = 100
_NO_BODY_STATUSES = frozenset({204, 304})


_Server = TypeVar("_Server", bound="ChallengeServer")  # start() and `with` give back the subclass too


class ChallengeServer(FrontsMiddleware):
    """An HTTP/1.1 server on 127.0.0.1 that challenges, verifies and records.

    It serves ``app`` (any WSGI application; default: the built-in routes of
    `echo_app`) behind a `ChallengeMiddleware` made from ``users``,
    ``challenges`` and ``**options`` (``protected``, ``open_paths``,
    ``cookie``, ``proxy``, ``on_exchange``, and the `Verifier`'s:
    ``nonce_lifetime``, ``one_time_nonces``, ``nextnonce``, ``rspauth``,
    ``strict_nc``, ``shared_nonces``, ``one_header``). An ``app`` that is
    already a ChallengeMiddleware is served as it is.

    ``tls=True`` serves https with a self-signed certificate made at `start`
    (``server.certificate.cafile`` is what clients pass as ``verify=``; removed
    at `stop`); ``tls=`` a `SelfSignedCertificate` uses that one;
    ``ssl_context=`` any server context. ``timeout`` bounds every socket wait
    and `stop`'s joins.
    """

    _handler_class: Type["_Handler"]  # set below _Handler; a subclass may serve more methods (CONNECT)

    def __init__(
        self,
        users: Optional[Mapping[str, str]] = None,
        challenges: Optional[Sequence[Offer]] = None,
        *,
        app: Optional[WSGIApp] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: Union[bool, SelfSignedCertificate] = False,
        ssl_context: Optional[ssl.SSLContext] = None,
        timeout: float = 10.0,
        max_body: int = 16 * 1024 * 1024,
        max_connections: int = 64,
        **options: Any,
    ) -> None:
        if isinstance(app, ChallengeMiddleware):
            if users is not None or challenges is not None or options:
                raise TypeError("app is a ChallengeMiddleware: give it users, challenges and options, not the server")
            self.middleware = app
        else:
            self.middleware = ChallengeMiddleware(
                echo_app if app is None else app, users, challenges, max_body=max_body, **options
            )
        if tls and ssl_context is not None:
            raise ValueError("give tls= or ssl_context=, not both")
        self.tls = tls
        self.certificate: Optional[SelfSignedCertificate] = tls if isinstance(tls, SelfSignedCertificate) else None
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.max_body = max_body
        self.max_connections = max_connections
        self._made_certificate: Optional[str] = None  # the directory of a certificate made at start()
        self._httpd: Optional[_HTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- life cycle ---------------------------------------------------------

    def start(self: "_Server") -> "_Server":
        """Bind (port 0 picks a free one) and serve in a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("server already started")
        if self.tls and self.ssl_context is None:
            if self.certificate is None:
                self._made_certificate = tempfile.mkdtemp(prefix="requests-challenge-tls-")
                try:
                    self.certificate = self_signed_certificate(self._made_certificate, self.host)
                except BaseException:
                    self._remove_certificate()
                    raise
            self.ssl_context = self.certificate.server_context()
        try:
            httpd = _HTTPServer((self.host, self.port), self, self._handler_class)
        except BaseException:
            self._remove_certificate()
            raise
        self.port = httpd.server_address[1]
        self._httpd = httpd
        # serve_forever notices shutdown() only between polls: poll often, so stop() is quick.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, name=f"ChallengeServer:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end open connections, join the threads and close the socket."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._httpd = self._thread = None
        deadline = time.monotonic() + self.timeout
        try:
            httpd.shutdown()
            if thread is not None:
                thread.join(self.timeout)
        finally:
            httpd.close_connections()
            httpd.server_close()
            httpd.join_connection_threads(deadline)
            self._remove_certificate()

    def _remove_certificate(self) -> None:
        if self._made_certificate is not None:
            shutil.rmtree(self._made_certificate, ignore_errors=True)
            self._made_certificate = None
            self.certificate = self.ssl_context = None

    def __enter__(self: "_Server") -> "_Server":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"{'https' if self.ssl_context else 'http'}://{self.host}:{self.port}"

    def __repr__(self) -> str:
        state = f"url={self.url!r}" if self._httpd else "stopped"
        return f"<ChallengeServer {state} users={sorted(self.users)!r}>"  # never the passwords


class _BodyError(Exception):
    """A request body that cannot be read; the connection is closed after the answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Handler(BaseHTTPRequestHandler):
    """The I/O half: read a request, run the WSGI application, frame and write its answer."""

    protocol_version = "HTTP/1.1"  # keep-alive: every answer is framed (Content-Length or chunked)
    # Headers and body go out in two writes; with Nagle's algorithm the body would
    # wait for the client's delayed ACK, about 40 ms a request on Linux.
    disable_nagle_algorithm = True
    server: "_HTTPServer"

    def version_string(self) -> str:
        return "requests-challenge-testing"

    def setup(self) -> None:
        self.timeout = self.server.owner.timeout  # type: ignore[misc]  # applied to the socket by setup()
        super().setup()
        self.server.track(self.connection, open_=True)
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()  # here, in the connection's thread, not in accept()
            except BaseException:
                self.server.track(self.connection, open_=False)
                raise

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, open_=False)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: http.server would write every request line to stderr."""

    def _serve(self) -> None:
        owner = self.server.owner
        try:
            body = self._read_body(owner.max_body)
        except _BodyError as exc:
            self.close_connection = True
            middleware = owner.middleware
            authorization = self.headers.get(middleware.names.authorization)
            # Logged before the answer: a client that got the answer finds it logged.
            middleware.exchanges.append(Exchange(self.command, self.path, authorization, exc.status, None, exc.reason))
            status, reason = exc.status, exc.reason
        else:
            self._run(owner.middleware, self._environ(body))
            return
        self._run(lambda environ, start: json_reply(start, status, {"status": status, "error": reason},
                                                    [("Connection", "close")]), {})

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    # -- the request --------------------------------------------------------

    def _environ(self, body: bytes) -> Environ:
        """PEP 3333's environ; ``RAW_URI`` and ``REQUEST_URI`` keep the request-target as sent."""
        target = self.path
        if target.startswith("/"):
            path, _, query = target.partition("?")
        else:  # absolute-form, as a proxy gets it (RFC 9112 §3.2.2), or "*"
            parts = urlsplit(target)
            path, query = parts.path or ("*" if target == "*" else "/"), parts.query
        owner = self.server.owner
        environ: Environ = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": target,
            "REQUEST_URI": target,
            "SERVER_NAME": owner.host,
            "SERVER_PORT": str(owner.port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": str(self.client_address[0]),
            "REMOTE_PORT": str(self.client_address[1]),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if isinstance(self.connection, ssl.SSLSocket) else "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name in {name.lower() for name in self.headers.keys()}:
            if "_" in name or name in ("content-length", "transfer-encoding"):
                continue  # "_" would read as "-": a client could pass for a proxy's header (as werkzeug refuses)
            values = self.headers.get_all(name) or []
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ[key] = values[-1]
            else:  # RFC 9110 §5.3 combines field lines with ","; Cookie lines with ";" (RFC 6265 §5.4)
                environ["HTTP_" + key] = ("; " if key == "COOKIE" else ", ").join(values)
        return environ

    def _read_body(self, limit: int) -> bytes:
        encoding = self.headers.get("Transfer-Encoding")
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise _BodyError(501, "unsupported Transfer-Encoding")
            return self._read_chunked(limit)
        length = self.headers.get("Content-Length", "0").strip()
        if not (length.isascii() and length.isdigit()):
            raise _BodyError(400, "invalid Content-Length")
        if int(length) > limit:
            raise _BodyError(413, "body too large")
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            raise _BodyError(400, "body shorter than Content-Length")
        return body

    def _read_chunked(self, limit: int) -> bytes:
        """RFC 9112 §7.1, bounded: requests sends generator bodies this way."""
        chunks: List[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(_CHUNK_SIZE_LINE)
            size = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not _CHUNK_SIZE.fullmatch(size):
                raise _BodyError(400, "invalid chunk size line")
            if int(size, 16) == 0:
                break
            total += int(size, 16)
            if total > limit:
                raise _BodyError(413, "body too large")
            chunk = self.rfile.read(int(size, 16))
            if len(chunk) != int(size, 16) or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BodyError(400, "truncated chunk")
            chunks.append(chunk)
        for _ in range(_MAX_TRAILER_FIELDS):  # trailer section, ignored
            if self.rfile.readline(65537) in (b"\r\n", b"\n", b""):
                return b"".join(chunks)
        raise _BodyError(400, "too many trailer fields")

    # -- the answer ---------------------------------------------------------

    def _run(self, app: WSGIApp, environ: Environ) -> None:
        """Run a WSGI application and write its answer (PEP 3333's server side)."""
        answer = _Answer(self)

        def start_response(
            status: str, headers: List[Tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info is not None:
                try:
                    if answer.started:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None  # no reference cycle through the traceback
            elif answer.status is not None:
                raise AssertionError("start_response called a second time without exc_info")
            answer.status, answer.headers = status, list(headers)
            return answer.write

        try:
            result: Iterable[bytes] = app(environ, start_response)
            try:
                for chunk in result:
                    answer.write(chunk)
                answer.end()
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except _ClientGone:
            self.close_connection = True
        except Exception as exc:  # the application's failure: answer 500 when still possible, and say why
            log.error("the WSGI application raised %s on %s %s", type(exc).__name__, self.command, self.path,
                      exc_info=True)
            self.close_connection = True
            if not answer.started:
                answer.status, answer.headers = "500 Internal Server Error", [("Content-Type", "text/plain")]
                answer.write(f"the WSGI application raised {type(exc).__name__}\n".encode())
                answer.end()


class _ClientGone(Exception):
    """The client hung up while we wrote: its business, not the application's failure."""


class _Answer:
    """One answer's framing: Content-Length when the application gives one, else
    chunked (HTTP/1.1) or the connection's end (HTTP/1.0); none for HEAD, 1xx, 204, 304."""

    def __init__(self, handler: _Handler) -> None:
        self.handler = handler
        self.status: Optional[str] = None
        self.headers: List[Tuple[str, str]] = []
        self.started = False
        self._bodyless = False
        self._chunked = False
        self._length: Optional[int] = None
        self._sent = 0

    def _start(self) -> None:
        if self.status is None:
            raise AssertionError("the WSGI application wrote before calling start_response")
        handler = self.handler
        code, _, phrase = self.status.partition(" ")
        handler.send_response(int(code), phrase or None)
        names = set()
        for name, value in self.headers:
            lower = name.lower()
            if lower == "transfer-encoding":
                continue  # the framing is ours
            if lower == "content-length":
                self._length = int(value)
            names.add(lower)
            handler.send_header(name, value)  # "Connection: close" also closes ours
        self._bodyless = handler.command == "HEAD" or int(code) < 200 or int(code) in _NO_BODY_STATUSES
        if self._length is None and not self._bodyless:
            if handler.request_version == "HTTP/1.1":
                handler.send_header("Transfer-Encoding", "chunked")
                self._chunked = True
            else:
                handler.close_connection = True  # HTTP/1.0: the body ends with the connection
        self.started = True
        try:
            handler.end_headers()
        except OSError as exc:
            raise _ClientGone() from exc

    def write(self, data: bytes) -> None:
        if not self.started:
            if not data:
                return  # headers wait for the first octet (PEP 3333), so start_response may still change
            self._start()
        if self._bodyless or not data:
            return
        if self._length is not None:
            data = data[: max(0, self._length - self._sent)]  # never past Content-Length
            self._sent += len(data)
        elif self._chunked:
            data = b"%X\r\n%s\r\n" % (len(data), data)
        self._send(data)

    def _send(self, data: bytes) -> None:
        try:
            if data:
                self.handler.wfile.write(data)
        except OSError as exc:
            raise _ClientGone() from exc

    def end(self) -> None:
        if not self.started:
            if self.status is not None and not any(n.lower() == "content-length" for n, _ in self.headers):
                code = int(self.status.split(None, 1)[0])
                if code >= 200 and code not in _NO_BODY_STATUSES:
                    self.headers.append(("Content-Length", "0"))
            self._start()
        if self._chunked:
            self._send(b"0\r\n\r\n")
        elif self._length is not None and self._sent != self._length and not self._bodyless:
            self.handler.close_connection = True  # shorter than announced: the client must not wait for more


ChallengeServer._handler_class = _Handler


class _HTTPServer(socketserver.TCPServer):
    """A thread per connection, a cap on connections, TLS, and threads that stop() can join."""

    allow_reuse_address = True
    request_queue_size = 64  # socketserver's 5 would refuse bursts of concurrent connects

    def __init__(self, address: Tuple[str, int], owner: ChallengeServer, handler: Type[_Handler]) -> None:
        self.owner = owner
        self._slots = threading.BoundedSemaphore(owner.max_connections)
        self._lock = threading.Lock()
        self._connections: Set[socket.socket] = set()
        self._threads: Set[threading.Thread] = set()
        self._closing = False
        super().__init__(address, handler)

    def get_request(self) -> Tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.owner.ssl_context is not None:
            sock = self.owner.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # over the cap: refuse rather than queue without bound
            return
        thread = threading.Thread(target=self._serve_connection, args=(request, client_address),
                                  name=f"ChallengeServer:{self.owner.port}:{client_address}", daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._slots.release()
            with self._lock:
                self._threads.discard(threading.current_thread())

    def handle_error(self, request: object, client_address: object) -> None:
        """Silent: a client that hangs up or fails the TLS handshake is not the test's failure."""

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._lock:
            if not open_:
                self._connections.discard(connection)
                return
            self._connections.add(connection)
            closing = self._closing
        if closing:
            _shut(connection)

    def close_connections(self) -> None:
        """Wake the threads idling on keep-alive connections, so they end now."""
        with self._lock:
            self._closing = True
            connections = list(self._connections)
        for connection in connections:
            _shut(connection)

    def join_connection_threads(self, deadline: float) -> None:
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _shut(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
