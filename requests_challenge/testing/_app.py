"""The built-in routes, as a plain WSGI application (PEP 3333).

    /redirect?to=URL[&status=307]   a redirect to URL (301, 302 (default), 303, 307, 308)
    /status/CODE                    an empty answer with that status
    anything else                   200, JSON: method, path, target, user, scheme,
                                    algorithm, body_length, body_sha256

The JSON echo proves what arrived: the body whole (its length and SHA-256) and
who `ChallengeMiddleware` let in (its ``requests_challenge.*`` environ keys).
"""

from __future__ import annotations

import hashlib
import json
from http import HTTPStatus
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple
from urllib.parse import parse_qs, quote, urlsplit

__all__ = ["echo_app", "request_target", "json_reply"]

Environ = Dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_REDIRECTS = {"301", "302", "303", "307", "308"}


def request_target(environ: Environ) -> str:
    """The request-target as the client sent it, query included.

    PEP 3333 has no such key: servers that keep it say ``RAW_URI`` or
    ``REQUEST_URI`` (ours, werkzeug's, gunicorn's; some without the query);
    else it is rebuilt from SCRIPT_NAME, PATH_INFO and QUERY_STRING.
    """
    query = environ.get("QUERY_STRING", "")
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        raw = quote(path.encode("latin-1"), safe="/!$&'()*+,;=:@~") or "/"
    if query and "?" not in raw:
        raw += "?" + query
    return str(raw)


def json_reply(
    start_response: StartResponse, status: int, data: object, headers: Optional[List[Tuple[str, str]]] = None
) -> List[bytes]:
    """Answer with ``data`` as JSON, framed by Content-Length."""
    payload = json.dumps(data, sort_keys=True).encode("utf-8") + b"\n"
    start_response(
        _status_line(status),
        [*(headers or []), ("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
    )
    return [payload]


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def _empty(start_response: StartResponse, status: int, headers: List[Tuple[str, str]]) -> List[bytes]:
    framing = [] if status in (204, 304) else [("Content-Length", "0")]
    start_response(_status_line(status), headers + framing)
    return []


def _body(environ: Environ) -> bytes:
    """The request body: CONTENT_LENGTH octets, or to the end where the server says it ends
    (``wsgi.input_terminated``); the server has bounded it."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if environ.get("wsgi.input_terminated"):
        return bytes(stream.read())
    length = str(environ.get("CONTENT_LENGTH") or "0").strip()
    return bytes(stream.read(int(length))) if length.isascii() and length.isdigit() and int(length) else b""


def echo_app(environ: Environ, start_response: StartResponse) -> List[bytes]:
    """The default application of `ChallengeServer`: the routes above."""
    target = request_target(environ)
    parts = urlsplit(target)
    path = parts.path or "/"
    if path == "/redirect":
        query = parse_qs(parts.query)
        to, status = query.get("to", [""])[0], query.get("status", ["302"])[0]
        if not to or status not in _REDIRECTS:
            return json_reply(start_response, 400, {"status": 400, "error": "use /redirect?to=URL[&status=30x]"})
        return _empty(start_response, int(status), [("Location", to)])
    if path.startswith("/status/"):
        code = path[len("/status/") :]
        if code.isascii() and code.isdigit() and 200 <= int(code) <= 599:
            return _empty(start_response, int(code), [])
        return json_reply(start_response, 400, {"status": 400, "error": "use /status/CODE with 200 <= CODE <= 599"})
    body = _body(environ)
    echo = {
        "method": environ.get("REQUEST_METHOD", "GET"),
        "path": path,
        "target": target,
        "user": environ.get("requests_challenge.user"),
        "scheme": environ.get("requests_challenge.scheme"),
        "algorithm": environ.get("requests_challenge.algorithm"),
        "body_length": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }
    return json_reply(start_response, 200, echo)
