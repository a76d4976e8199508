"""The ``requests-challenge`` command: demo, get and serve.

Exit codes of ``get``: 0 success, 1 an HTTP error status, 2 usage, 3 authentication
failed (a final 401 or 407), 4 no answer (connection refused, timeout, TLS, proxy).
Messages are one line on stderr; the body goes to stdout, streamed (or to ``-o FILE``,
with a progress display when stderr is a terminal); ``-i`` puts the final response's
status line and headers before it on stdout; ``-v`` shows every request and response
header of every leg (each challenge answered, each redirect hop) on stderr with every
secret (Basic credentials, Digest ``response`` and ``rspauth``, cookies, any URL's
userinfo) redacted.

Credentials come from ``-u`` or, per host, from a netrc file (``--netrc``), and from
nowhere else: requests' own netrc lookup, which would send Basic whatever
``--scheme`` says, is switched off (``_Session``), and so is its use of the URL's
``user:password`` (the userinfo is taken off the URL before anything is sent).
"""

from __future__ import annotations

import argparse
import getpass
import netrc
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from typing import IO, TYPE_CHECKING, Any, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple, Union

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from requests.utils import get_auth_from_url, select_proxy

from ._abnf import TOKEN
from ._digest import DIGEST_CHALLENGE_TOKENS, DIGEST_CREDENTIAL_TOKENS, DIGEST_INFO_TOKENS
from ._grammar import Challenge, parse_auth_params, parse_challenges_lenient, render_auth_params
from ._ranking import SUPPORTED_SCHEMES, allowed_schemes, rank_challenges
from ._spaces import Origin, origin_of

if TYPE_CHECKING:
    from . import ChallengeAuth

__all__ = ["main"]

PROG = "requests-challenge"
PASSWORD_ENV = "REQUESTS_CHALLENGE_PASSWORD"
PROXY_PASSWORD_ENV = "REQUESTS_CHALLENGE_PROXY_PASSWORD"

OK, HTTP_ERROR, USAGE, AUTH_FAILED, NO_ANSWER = 0, 1, 2, 3, 4

_SECRET_FIELDS = frozenset({"response", "rspauth"})
# A URL's userinfo in free text: after "//", up to the authority's last "@". Any
# character but the authority's ends may be in it (even an unencoded "@" or a quote),
# so a message may lose a little more than the userinfo; never less.
_USERINFO = re.compile(r"(?<=//)[^/?#\s]*@")
# Where a single URL's authority starts: after "scheme://" or "//", else (no scheme,
# or "scheme:" without "//", as a user may type it) at the very start.
_AUTHORITY_START = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://|//")


class _Usage(Exception):
    """A mistake in the command line: exit 2 with this message."""


# -- showing an exchange without its secrets ------------------------------------------


def redact_credentials(value: str) -> str:
    """An Authorization value fit to print: Digest without ``response``, others hidden."""
    scheme = value.split(None, 1)[0] if value.strip() else ""
    if scheme.lower() == "digest":
        parsed, errors = parse_challenges_lenient(value)
        if len(parsed) == 1 and not errors and parsed[0].token68 is None:
            return f"{scheme} {_render_params(parsed[0].params, DIGEST_CREDENTIAL_TOKENS)}"
    return f"{scheme} <redacted>" if TOKEN.fullmatch(scheme) else "<redacted>"


def _redact_info(value: str) -> str:
    """Authentication-Info without ``rspauth`` (it is as guessable as ``response``)."""
    try:
        return _render_params(parse_auth_params(value), DIGEST_INFO_TOKENS)
    except ValueError:
        return "<unreadable, not shown>"


def _render_params(params: Dict[str, str], tokens: FrozenSet[str]) -> str:
    """The fields as RFC 7616 writes them, with the secret ones elided."""
    return render_auth_params(
        ((name, "…") if name in _SECRET_FIELDS else (name, value) for name, value in params.items()), tokens
    )


def _redact(text: str) -> str:
    """Free text with every URL's userinfo hidden: ``http://user:password@host`` and
    ``http://token@host`` -> ``http://…@host``. The user part goes too: it may be a token."""
    return _USERINFO.sub("…@", text)


def _userinfo_end(url: str) -> Tuple[int, int]:
    """(start, end) of a single URL's userinfo and its "@", or (start, start) if none.
    The authority ends at the first "/", "?" or "#"; its last "@" ends the userinfo."""
    found = _AUTHORITY_START.match(url)
    start = found.end() if found else 0
    end = start
    while end < len(url) and url[end] not in "/?#":
        end += 1
    at = url.rfind("@", start, end)
    return start, (at + 1 if at >= 0 else start)


def _redact_url(url: str) -> str:
    """A single URL (the command line's, a request's, a Location) fit to print."""
    start, end = _userinfo_end(url)
    shown = url[:start] + "…@" + url[end:] if end > start else url
    return _redact(shown)  # and any URL inside it, such as ?next=http://token@host


def _without_userinfo(url: str) -> Tuple[str, bool]:
    """The URL to request, without its userinfo; and whether it had one. requests
    would send it as Basic (and, through a proxy, in the request line)."""
    start, end = _userinfo_end(url)
    return url[:start] + url[end:], end > start


def _header_lines(response: "requests.Response", name: str) -> List[str]:
    from ._auth import _header_lines as lines

    return lines(response, name)


def explain_challenges(lines: Sequence[str], schemes: FrozenSet[str], indent: str = "") -> List[str]:
    """The challenges offered, which this client could answer (strongest first), and why not the rest."""
    challenges, errors = parse_challenges_lenient(lines)
    out = [f"{indent}offered: {len(challenges)} challenge{'s' if len(challenges) != 1 else ''}"]
    out += [f"{indent}  {n}. {_show_challenge(c)}" for n, c in enumerate(challenges, 1)]
    out += [f"{indent}  malformed, ignored: {error}" for error in errors]
    usable, skipped = rank_challenges(challenges, schemes)
    number = {id(c): n for n, c in enumerate(challenges, 1)}
    out += [f"{indent}skipped {number[id(c)]}. {c.scheme}: {reason}" for c, reason in skipped]
    if usable:
        ranking = " > ".join(choice.describe() for choice in usable)
        out.append(f"{indent}answerable, strongest first: {ranking}")
        why = "the strongest answerable" if len(usable) > 1 else "the only answerable"
        out.append(f"{indent}chosen: {usable[0].describe()} ({why})")
    else:
        out.append(f"{indent}chosen: none: no challenge this client can answer")
    return out


def _show_challenge(challenge: Challenge) -> str:
    if challenge.token68 is not None:
        return f"{challenge.scheme} <token68>"
    return f"{challenge.scheme} {_render_params(challenge.params, DIGEST_CHALLENGE_TOKENS)}".rstrip()


def describe_exchange(response: "requests.Response", schemes: FrozenSet[str]) -> List[str]:
    """Every request and response of ``response``'s history, curl -v style, secrets redacted."""
    out: List[str] = []
    for step in [*response.history, response]:
        request = step.request
        out.append(f"> {request.method} {_redact_url(request.url or '')}")
        for name in ("Authorization", "Proxy-Authorization"):
            value = request.headers.get(name)
            if value is not None:
                text = value.decode("latin-1") if isinstance(value, bytes) else value
                out.append(f"> {name}: {redact_credentials(text)}")
        out.append(f"< {step.status_code} {step.reason}")
        for name in ("WWW-Authenticate", "Proxy-Authenticate"):
            lines = _header_lines(step, name)
            if lines:
                out.append(f"< {name}:")
                out += explain_challenges(lines, schemes, indent="*   ")
        for name in ("Authentication-Info", "Proxy-Authentication-Info"):
            if name in step.headers:
                out.append(f"< {name}: {_redact_info(step.headers[name])}")
        if "Location" in step.headers and step is not response:
            out.append(f"< Location: {_redact_url(step.headers['Location'])}")
    return out


# Header names whose values are credentials of some kind, wherever they appear: shown
# as "<redacted>" (Authorization and Proxy-Authorization: the scheme and Digest's
# non-secret fields stay). Cookies keep their names, never their values.
_SECRET_HEADER_WORDS = ("token", "secret", "password", "passwd", "api-key", "apikey", "session", "key")
_SHOWN_AS_IS = frozenset({"www-authenticate", "proxy-authenticate"})  # challenges: nothing of ours
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _printable(text: str) -> str:
    """No terminal control characters from a server or a header: ``\\x1b`` shown as such."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _text(value: Union[str, bytes]) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _redact_cookies(value: str, set_cookie: bool) -> str:
    """``a=1; b=2`` -> ``a=…; b=…``; a Set-Cookie keeps its attributes (Path, HttpOnly)."""
    parts = value.split(";")
    shown = []
    for number, part in enumerate(parts):
        name, equals, _ = part.partition("=")
        if equals and (number == 0 or not set_cookie):
            shown.append(f"{name}=…")
        else:
            shown.append(part)
    return ";".join(shown)


def redact_header(name: str, value: Union[str, bytes]) -> str:
    """A request's or a response's header value fit to print: credentials, cookies, tokens
    and any URL's userinfo taken out."""
    text = _text(value)
    lower = name.lower()
    if lower in ("authorization", "proxy-authorization"):
        return _printable(redact_credentials(text))
    if lower in ("authentication-info", "proxy-authentication-info"):
        return _printable(_redact_info(text))
    if lower in ("cookie", "set-cookie"):
        return _printable(_redact_cookies(text, lower == "set-cookie"))
    if lower in ("location", "content-location"):
        return _printable(_redact_url(text))
    if lower not in _SHOWN_AS_IS and ("auth" in lower or any(word in lower for word in _SECRET_HEADER_WORDS)):
        return "<redacted>"
    return _printable(_redact(text))


def _response_headers(response: "requests.Response") -> List[Tuple[str, str]]:
    """Every header line as received, in order, a repeated header once per line."""
    raw_headers = getattr(response.raw, "headers", None)
    if raw_headers is not None and hasattr(raw_headers, "items"):
        try:
            return [(str(name), _text(value)) for name, value in raw_headers.items()]
        except Exception:  # a stand-in raw (a test double): fall back to requests' view
            pass
    return [(name, _text(value)) for name, value in response.headers.items()]


def _host_header(url: str) -> Optional[str]:
    """The Host header http.client adds (it is not in the prepared request)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    shown = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return shown if port is None or port == default else f"{shown}:{port}"


def status_line(response: "requests.Response") -> str:
    """``HTTP/1.1 200 OK``, as received."""
    version = getattr(response.raw, "version", 11)
    shown = {9: "HTTP/0.9", 10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}.get(version, "HTTP/1.1")
    return _printable(f"{shown} {response.status_code} {response.reason or ''}".rstrip())


def describe_legs(legs: Sequence[Tuple["requests.PreparedRequest", "requests.Response"]],
                  schemes: FrozenSet[str]) -> List[str]:
    """Every request and response header of every leg (each challenge answered, each
    redirect hop), curl -v style, with the challenges explained and secrets redacted."""
    out: List[str] = []
    for request, response in legs:
        url = request.url or ""
        out.append(f"> {request.method} {_printable(_redact_url(url))}")
        host = _host_header(url)
        if host is not None and "Host" not in request.headers:
            out.append(f"> Host: {_printable(host)}")
        for name, value in request.headers.items():
            out.append(f"> {_printable(name)}: {redact_header(name, value)}")
        out.append(f"< {response.status_code} {_printable(response.reason or '')}".rstrip())
        for name, value in _response_headers(response):
            out.append(f"< {_printable(name)}: {redact_header(name, value)}")
        for name in ("WWW-Authenticate", "Proxy-Authenticate"):
            lines = _header_lines(response, name)
            if lines:
                out.append(f"* {name}:")
                out += explain_challenges(lines, schemes, indent="*   ")
    return out


class _Recorder(HTTPAdapter):
    """The transport adapter, noting each (request, response) it sends: ChallengeAuth
    resends through ``response.connection`` (this adapter, or a copy of it that shares
    ``legs``), and requests follows redirects through it, so every leg is here, which
    ``response.history`` does not keep (requests replaces it on each redirect hop)."""

    __attrs__ = [*HTTPAdapter.__attrs__, "legs"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.legs: List[Tuple[requests.PreparedRequest, requests.Response]] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        response = super().send(request, *args, **kwargs)
        self.legs.append((request, response))
        return response


# -- requests without its netrc ------------------------------------------------------------


class _NoCredentials(AuthBase):
    """An explicit "no credentials". With an auth object, requests reads neither
    ~/.netrc (``Session.prepare_request``) nor the URL's userinfo
    (``PreparedRequest.prepare_auth``)."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class _Session(requests.Session):
    """requests' Session without its two netrc lookups, and with the rest of
    ``trust_env`` (the environment's proxies, ``NO_PROXY``, the CA bundle) kept.

    With ``trust_env``, requests sends netrc's Basic credentials (1) in
    ``prepare_request`` when a request has no auth, and (2) in ``rebuild_auth``
    on every redirect hop, whatever the auth. (1): the session's default auth is
    ``_NoCredentials``, used when ``-u``/``--netrc`` give none. (2): ``rebuild_auth``
    keeps only its other step, dropping Authorization when a redirect leaves the host.
    """

    def __init__(self) -> None:
        super().__init__()
        self.auth = _NoCredentials()
        self.recorder = _Recorder()
        self.mount("https://", self.recorder)
        self.mount("http://", self.recorder)

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        headers = prepared_request.headers
        if "Authorization" in headers and self.should_strip_auth(response.request.url or "", prepared_request.url or ""):
            del headers["Authorization"]


def _credentials_sent(session: requests.Session, response: requests.Response,
                      proxies: Optional[Dict[str, str]]) -> List[str]:
    """The credentials requests really sent on this exchange, read off each hop's
    request, and the proxy URL's user:password, which requests sends the proxy."""
    sent: List[str] = []
    for step in [*response.history, response]:
        request = step.request
        url = request.url or ""
        for name in ("Authorization", "Proxy-Authorization"):
            if name in request.headers and name not in sent:
                sent.append(name)
        settings = session.merge_environment_settings(url, dict(proxies or {}), None, None, None)
        proxy = select_proxy(url, settings["proxies"])
        if proxy and any(get_auth_from_url(proxy)) and "Proxy-Authorization" not in sent:
            sent.append("Proxy-Authorization")
    return sent


# -- demo -----------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    """Two requests against the embedded server: challenged once, then sent up front."""
    from . import ChallengeAuth
    from .testing import DEMO_PASSWORD, DEMO_USER, Basic, ChallengeServer, Digest

    schemes = frozenset(SUPPORTED_SCHEMES)
    with ChallengeServer({DEMO_USER: DEMO_PASSWORD}, [Digest("SHA-256"), Basic()]) as server, \
            requests.Session() as session:
        session.trust_env = False  # nothing between us and 127.0.0.1
        auth = ChallengeAuth(DEMO_USER, DEMO_PASSWORD)
        print(f"embedded server {server.url}, offering Digest SHA-256 and Basic; user {DEMO_USER!r}")

        print("\n1. GET /demo/first: no credentials yet, so the server challenges")
        first = session.get(server.url + "/demo/first", auth=auth, timeout=args.timeout)
        print("\n".join(describe_exchange(first, schemes)))
        if first.status_code != 200 or [r.status_code for r in first.history] != [401]:
            return _fail(AUTH_FAILED, f"expected 401 then 200, got {[r.status_code for r in first.history]} then {first.status_code}")
        if first.json().get("scheme") != "Digest":
            return _fail(AUTH_FAILED, f"expected Digest to be chosen over Basic, the server saw {first.json().get('scheme')}")

        print("\n2. GET /demo/second: same protection space, so credentials go up front")
        second = session.get(server.url + "/demo/second", auth=auth, timeout=args.timeout)
        print("\n".join(describe_exchange(second, schemes)))
        logged = [e for e in server.exchanges if e.path == "/demo/second"]
        if second.status_code != 200 or second.history or [e.status for e in logged] != [200]:
            return _fail(AUTH_FAILED, "the second request was challenged again instead of sent up front")
        print(f"\nOK: 2 requests, {len(server.exchanges)} exchanges; the second had no 401 "
              "(no history, and one exchange in the server's log)")
    return OK


# -- get --------------------------------------------------------------------------------------


def _credentials(spec: str, env: str, prompt: str) -> Tuple[str, str]:
    """USER[:PASSWORD]; else the password from ``env``; else a prompt on the terminal."""
    user, colon, password = spec.partition(":")
    if colon:
        return user, password
    if os.environ.get(env) is not None:
        return user, os.environ[env]
    with warnings.catch_warnings():
        # getpass warns, then reads an echoed line from stdin, when there is no terminal.
        warnings.simplefilter("error", getpass.GetPassWarning)
        try:
            return user, getpass.getpass(f"{prompt} for {user}: ")
        except (getpass.GetPassWarning, EOFError):
            pass
    raise _Usage(f"no password for {user}: give USER:PASSWORD, set {env}, or run it in a terminal")


def _schemes(values: Optional[List[str]]) -> Optional[Tuple[str, ...]]:
    if not values:
        return None
    names = tuple(name.strip().lower() for value in values for name in value.split(",") if name.strip())
    try:
        allowed_schemes(names)
    except ValueError as exc:
        raise _Usage(str(exc)) from None
    return names


def _headers(values: Iterable[str]) -> Dict[str, str]:
    headers = {}
    for number, value in enumerate(values, 1):
        name, colon, text = value.partition(":")
        if not colon or not TOKEN.fullmatch(name.strip()) or any(c in text for c in "\r\n\0"):
            # The value is not echoed: it may be a token.
            raise _Usage(f"--header number {number} is not 'Name: value'")
        headers[name.strip()] = text.strip()
    return headers


def _data(value: Optional[str]) -> Optional[bytes]:
    if value is None:
        return None
    if not value.startswith("@"):
        return value.encode("utf-8")
    try:
        if value == "@-":
            return sys.stdin.buffer.read()
        with open(value[1:], "rb") as f:
            return f.read()
    except OSError as exc:
        raise _Usage(f"cannot read --data {value}: {exc.strerror or exc}") from None


def _wants_netrc(args: argparse.Namespace) -> bool:
    return bool(args.netrc) or args.netrc_file is not None


def _auth(args: argparse.Namespace, schemes: Optional[Tuple[str, ...]]) -> Optional["ChallengeAuth"]:
    from . import ChallengeAuth

    if args.proxy_user and not (args.proxy and (args.user or _wants_netrc(args))):
        raise _Usage("--proxy-user needs --proxy and -u USER (or --netrc)")
    if not args.user and not _wants_netrc(args):
        return None
    proxy_auth = _credentials(args.proxy_user, PROXY_PASSWORD_ENV, "Proxy password") if args.proxy_user else None
    if _wants_netrc(args):
        return _netrc_auth(args.netrc_file, schemes, proxy_auth)
    user, password = _credentials(args.user, PASSWORD_ENV, "Password")
    try:
        return ChallengeAuth(user, password, schemes=schemes, proxy_auth=proxy_auth)
    except ValueError as exc:  # CR, LF or NUL in a name or password; never echoed
        raise _Usage(str(exc)) from None


def _netrc_auth(file: Optional[str], schemes: Optional[Tuple[str, ...]],
                proxy_auth: Optional[Tuple[str, str]]) -> "ChallengeAuth":
    """``ChallengeAuth.from_netrc``, its errors made one usage line that quotes nothing from the file."""
    from . import ChallengeAuth

    path = file if file is not None else os.environ.get("NETRC") or os.path.join("~", ".netrc")
    try:
        return ChallengeAuth.from_netrc(file, schemes=schemes, proxy_auth=proxy_auth)
    except netrc.NetrcParseError as exc:
        # Its message may quote a token of the file ("bad follower token 'word'"),
        # which can be a password with a space in it: everything from the quote goes.
        what = re.split("['\"]", exc.msg, maxsplit=1)[0].strip(" :")
        line = f", line {exc.lineno}" if exc.lineno else ""
        raise _Usage(f"--netrc: cannot use {exc.filename or path}{line}: {what}") from None
    except OSError as exc:
        if exc.filename is None:  # from_netrc's own FileNotFoundError: "no netrc file at PATH"
            raise _Usage(f"--netrc: {exc}") from None
        raise _Usage(f"--netrc: cannot read {exc.filename}: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise _Usage(f"--netrc: cannot read {path}: not text in the expected encoding") from None
    except ValueError as exc:  # "password contains CR, LF or NUL": names the field, never the value
        raise _Usage(f"--netrc: cannot use {path}: {exc}") from None


_HAS_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


def _with_scheme(url: str) -> str:
    """As curl: a URL without ``scheme://`` is an ``http://`` one (``host:8080/x``, ``//host/x``)."""
    if _HAS_SCHEME.match(url):
        return url
    return ("http:" if url.startswith("//") else "http://") + url


def _remote_name(url: str) -> str:
    """-O: the URL's last path segment, as it is in the URL (not decoded: no "/" gets in)."""
    from urllib.parse import urlsplit

    name = urlsplit(url).path.rsplit("/", 1)[-1]
    if name in ("", ".", ".."):
        raise _Usage("-O: the URL's path has no file name to save to; use -o FILE")
    return name


def _readable(option: str, path: str) -> str:
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise _Usage(f"{option}: cannot read {path}")
    return path


def _verify(args: argparse.Namespace) -> Union[bool, str]:
    """-k: no verification; --cacert FILE: that bundle (not the environment's); else the default."""
    if args.insecure:
        return False
    if args.cacert is not None:
        return _readable("--cacert", args.cacert)
    return True


def _client_certificate(spec: Optional[str]) -> Union[None, str, Tuple[str, str]]:
    """--cert FILE (certificate and key in one PEM file) or FILE:KEY."""
    if spec is None:
        return None
    cert, key = spec, None
    if not os.path.isfile(spec) and ":" in spec:
        cert, _, key = spec.rpartition(":")
    _readable("--cert", cert)
    if key is not None:
        _readable("--cert", key)
    for path in filter(None, (cert, key)):
        with open(path, "rb") as f:
            if b"ENCRYPTED" in f.read(1 << 20):  # OpenSSL would prompt on the terminal
                raise _Usage(f"--cert: the key in {path} is encrypted; decrypt it first (openssl pkey)")
    return (cert, key) if key is not None else cert


def _get(args: argparse.Namespace) -> int:
    from . import AuthenticationError

    if args.user and _wants_netrc(args):
        raise _Usage("-u and --netrc exclude each other: give the credentials one way")
    if args.output is not None and args.remote_name:
        raise _Usage("-o and -O exclude each other")
    if args.explain and (args.output is not None or args.remote_name or args.include):
        raise _Usage("--explain only shows the challenges: not with -o, -O or -i")
    if args.location and args.no_location:
        raise _Usage("-L and --no-location exclude each other")
    if args.max_redirs < 0:
        raise _Usage("--max-redirs wants 0 or more")
    url, had_userinfo = _without_userinfo(_with_scheme(args.url))
    output = args.output if args.output is not None else _remote_name(url) if args.remote_name else None
    schemes = _schemes(args.scheme)
    headers = _headers(args.header or [])
    data = _data(args.data)
    method = (args.method or ("POST" if data is not None else "GET")).upper()
    proxy = _with_scheme(args.proxy) if args.proxy else None
    proxies = {"http": proxy, "https": proxy} if proxy else None
    verify = _verify(args)
    cert = _client_certificate(args.cert)
    auth = None if args.explain else _auth(args, schemes)
    if args.insecure:
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # asked for: no nagging

    shown = allowed_schemes(schemes)
    with _Session() as session:
        session.max_redirects = args.max_redirs

        def show_legs() -> None:
            if args.verbose:
                print("\n".join(describe_legs(session.recorder.legs, shown)), file=sys.stderr, flush=True)

        try:
            response = session.request(
                method, url, headers=headers, data=data, auth=auth, proxies=proxies, verify=verify, cert=cert,
                timeout=args.timeout, allow_redirects=not args.no_location, stream=True,
            )
        except (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader) as exc:
            raise _Usage(_one_line(exc)) from None
        except AuthenticationError as exc:
            show_legs()
            return _fail(AUTH_FAILED, f"authentication failed: {_one_line(exc)}")
        except requests.exceptions.TooManyRedirects:
            show_legs()
            return _fail(HTTP_ERROR, f"HTTP error: more than {args.max_redirs} redirects (--max-redirs)")
        except requests.exceptions.RequestException as exc:
            show_legs()
            return _fail(NO_ANSWER, f"no answer from {_redact_url(url)}: {_short_reason(exc)}")
        with response:
            show_legs()
            if args.explain:
                return _explain(response, shown, _credentials_sent(session, response, proxies))
            if args.include:
                head = [status_line(response),
                        *(f"{_printable(n)}: {redact_header(n, v)}" for n, v in _response_headers(response))]
                sys.stdout.write("\n".join(head) + "\n\n")
                sys.stdout.flush()
            failed = _write_body(response, output, url)
            if failed is not None:
                return failed

    status = response.status_code
    if status in (401, 407):
        header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
        usable, _ = rank_challenges(parse_challenges_lenient(_header_lines(response, header))[0], shown)
        if auth is None:
            why = "no credentials given (-u USER)" + ("; the URL's user:password is not used" if had_userinfo else "")
        elif status == 407 and not args.proxy_user:
            why = "the proxy wants credentials (--proxy-user USER)"
        elif not usable:
            why = "no challenge this client can answer (see --explain)"
        elif status == 401 and "Authorization" not in response.request.headers:
            why = _why_none_sent(url, response.url, _wants_netrc(args))
        else:
            why = f"{usable[0].describe()} credentials refused"
        return _fail(AUTH_FAILED, f"authentication failed: {status} {response.reason}: {why}")
    if status >= 400:
        return _fail(HTTP_ERROR, f"HTTP error: {status} {response.reason}")
    return OK


_CHUNK = 64 * 1024


def _known_length(response: "requests.Response") -> Optional[int]:
    """The body's length as it will be written: Content-Length, unless it is encoded
    (iter_content decodes gzip) or the request was HEAD."""
    length = response.headers.get("Content-Length", "").strip()
    if "Content-Encoding" in response.headers or response.request.method == "HEAD":
        return None
    return int(length) if length.isascii() and length.isdigit() else None


def _write_body(response: "requests.Response", path: Optional[str], url: str) -> Optional[int]:
    """The body to ``path`` (else stdout) in chunks, never whole in memory; a progress
    display on stderr when it is a terminal and the body does not go to that terminal.
    A file left incomplete (the connection broke, ``rspauth`` did not match) is removed.
    Returns an exit code on failure, else None."""
    from . import AuthenticationError

    to_terminal = path is None and _isatty(sys.stdout)
    progress = _Progress(_known_length(response), sys.stderr) if _isatty(sys.stderr) and not to_terminal else None
    where = path if path is not None else "stdout"
    target: Optional[IO[bytes]] = None
    failure: Optional[Tuple[int, str]] = None
    try:
        target = open(path, "wb") if path is not None else sys.stdout.buffer
        for chunk in response.iter_content(_CHUNK):
            target.write(chunk)
            if progress is not None:
                progress.update(len(chunk))
        target.flush()
    except AuthenticationError as exc:
        failure = (AUTH_FAILED, f"authentication failed: {_one_line(exc)}")
    except requests.exceptions.RequestException as exc:
        failure = (NO_ANSWER, f"no answer from {_redact_url(url)}: the body was cut short: {_short_reason(exc)}")
    except OSError as exc:
        if path is None and isinstance(exc, BrokenPipeError):
            _silence_stdout()
        failure = (USAGE, f"cannot write {where}: {exc.strerror or type(exc).__name__}")
    finally:
        if progress is not None:
            progress.finish()
        if path is not None and target is not None:
            target.close()
    if failure is None:
        return None
    if path is not None and target is not None:
        try:
            os.unlink(path)  # not kept: it would look complete, or unverified
        except OSError:
            pass
    return _fail(*failure)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _silence_stdout() -> None:
    """After EPIPE: stdout goes nowhere, so the interpreter's last flush does not fail too."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"  # not reached


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class _Progress:
    """One line on a terminal, redrawn at most 4 times a second: bytes so far (of the
    total and the percentage, when known), rate, and the time left (when known)."""

    INTERVAL = 0.25

    def __init__(self, total: Optional[int], stream: IO[str]) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.started = time.monotonic()
        self.shown_at = self.started
        self.width = 0

    def update(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.shown_at >= self.INTERVAL:
            self._show(now, final=False)

    def finish(self) -> None:
        self._show(time.monotonic(), final=True)
        self.stream.write("\n")
        self.stream.flush()

    def _show(self, now: float, final: bool) -> None:
        self.shown_at = now
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        parts = [_size(self.done)]
        if self.total:
            parts[0] += f" of {_size(self.total)} ({min(100, self.done * 100 // self.total)}%)"
        parts.append(f"{_size(rate)}/s")
        if final:
            parts.append(f"in {_duration(elapsed)}")
        elif self.total and rate > 0 and self.done < self.total:
            parts.append(f"ETA {_duration((self.total - self.done) / rate)}")
        line = "  ".join(parts)
        self.stream.write("\r" + line + " " * max(0, self.width - len(line)))
        self.width = len(line)
        self.stream.flush()


def _why_none_sent(asked: str, final: str, from_netrc: bool) -> str:
    """Why an answerable 401 got no credentials: none for that origin."""
    if origin_of(final) != origin_of(asked):
        return f"redirected to {_show_origin(origin_of(final))}; credentials go to {_show_origin(origin_of(asked))} only"
    return f"no credentials for {origin_of(final)[1]} in the netrc file" if from_netrc else "no credentials sent"


def _show_origin(origin: Origin) -> str:
    scheme, host, port = origin
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def _explain(response: "requests.Response", schemes: FrozenSet[str], sent: Sequence[str]) -> int:
    """What the server offers, ranked, and which credentials (normally none) went along."""
    status = response.status_code
    what = f"sent: {', '.join(sent)}" if sent else "no credentials sent"
    print(f"{response.request.method} {_redact_url(response.url)} -> {status} {response.reason} ({what})")
    if status not in (401, 407):
        print("no challenge: this URL needs no authentication")
        return OK if status < 400 else HTTP_ERROR
    header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    lines = _header_lines(response, header)
    print(f"{header}:")
    print("\n".join(explain_challenges(lines, schemes, indent="  ")))
    usable, _ = rank_challenges(parse_challenges_lenient(lines)[0], schemes)
    return OK if usable else AUTH_FAILED


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return _redact(text)


_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+")


def _short_reason(exc: BaseException) -> str:
    """urllib3 nests the reason three deep; the "[Errno 111] Connection refused" part says it,
    and for TLS the ssl module's own error, found in the chain."""
    tls = _tls_reason(exc)
    if tls is not None:
        return tls
    text = _one_line(exc)
    found = _ERRNO.search(text)
    reason = found.group().strip() if found else text
    return f"{type(exc).__name__}: {reason[:300]}"


_SSL_SOURCE = re.compile(r"\s*\(_ssl\.c:\d+\)")


def _tls_reason(exc: BaseException) -> Optional[str]:
    """One readable line for the ssl module's error inside requests' and urllib3's wrappers."""
    seen = set()
    todo: List[BaseException] = [exc]
    while todo:
        error = todo.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, ssl.SSLCertVerificationError):
            why = _SSL_SOURCE.sub("", str(error.verify_message or error.reason or "not trusted")).rstrip(". ")
            return f"TLS: certificate verify failed: {_redact(why)} (--cacert FILE trusts a CA; -k skips the check)"
        if isinstance(error, ssl.SSLEOFError):
            return "TLS: the connection ended during the handshake (does the server want a client certificate? --cert)"
        if isinstance(error, ssl.SSLError):
            why = error.reason or (error.args[1] if len(error.args) > 1 else str(error))
            why = _SSL_SOURCE.sub("", str(why))
            if why.isupper() or "_" in why and " " not in why:
                why = why.replace("_", " ").lower()  # TLSV13_ALERT_CERTIFICATE_REQUIRED
            return f"TLS: {_redact(' '.join(why.split()))}"
        for nested in (*getattr(error, "args", ()), getattr(error, "reason", None), error.__cause__, error.__context__):
            if isinstance(nested, BaseException):
                todo.append(nested)
    return None


# -- serve ------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    """The embedded server in the foreground, logging each exchange, until Ctrl-C."""
    from .testing import DEMO_PASSWORD, DEMO_USER, Basic, ChallengeServer, Digest

    users: Dict[str, str] = {}
    for spec in args.user or []:
        user, colon, password = spec.partition(":")
        if not colon or not user:
            raise _Usage(f"--user wants USER:PASSWORD, not {user!r}")
        users[user] = password
    qop = None if args.qop == "none" else args.qop
    offers: list = []
    names: List[str] = []
    for scheme in _schemes(args.scheme) or ("digest", "basic"):
        if scheme == "basic":
            offers.append(Basic(realm=args.realm))
            names.append("Basic")
            continue
        for algorithm in args.algorithm or ["SHA-256"]:
            try:
                offers.append(Digest(algorithm, qop=qop, realm=args.realm))
            except ValueError as exc:
                raise _Usage(str(exc)) from None
            names.append(f"Digest {algorithm}")

    def log(exchange) -> None:  # type: ignore[no-untyped-def]
        who = f" user {exchange.user}" if exchange.user else ""
        why = f" ({exchange.reason})" if exchange.reason else ""
        print(f"{exchange.method} {exchange.path} -> {exchange.status}{who}{why}", flush=True)

    directory = certificate = None
    if args.tls:
        directory, certificate, failed = _tls_certificate(args.host)
        if failed is not None:
            return failed
    try:
        context = None if certificate is None else certificate.server_context()
        server = ChallengeServer(users or {DEMO_USER: DEMO_PASSWORD}, offers, host=args.host, port=args.port,
                                 on_exchange=log, ssl_context=context)
        try:
            server.start()
        except OSError as exc:
            return _fail(NO_ANSWER, f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
        try:
            print(f"serving {server.url} (Ctrl-C to stop)")
            print(f"offers: {', '.join(names)}")
            hint = f" (password {DEMO_PASSWORD!r})" if not users else ""  # the public demo password only
            print(f"users: {', '.join(sorted(server.users))}{hint}")
            if certificate is not None:
                print(f"certificate: {certificate.cert} (self-signed, until stopped: "
                      f"{PROG} get --cacert {certificate.cert} {server.url}/)")
            sys.stdout.flush()
            stop = threading.Event()
            while not stop.wait(3600):
                pass
        except KeyboardInterrupt:
            print("stopped", flush=True)
        finally:
            server.stop()
    finally:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
    return OK


def _tls_certificate(host: str) -> Tuple[Optional[str], Any, Optional[int]]:
    """serve --tls: a self-signed certificate for ``host`` in a directory of its own
    (removed when the server stops); or the exit code when none can be made."""
    import ipaddress

    from .testing import self_signed_certificate

    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise _Usage(f"--tls makes a certificate for an IP address: --host {host} is not one") from None
    directory = tempfile.mkdtemp(prefix="requests-challenge-tls-")
    try:
        return directory, self_signed_certificate(directory, host), None
    except (OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(directory, ignore_errors=True)
        return None, None, _fail(NO_ANSWER, f"--tls: cannot make a certificate: {exc}")


# -- command line ------------------------------------------------------------------------------


def _fail(code: int, message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


def _version() -> str:
    import platform

    import urllib3

    from . import __version__

    versions = {name: getattr(module, "__version__", "?") for name, module in (("requests", requests), ("urllib3", urllib3))}
    return (f"{PROG} {__version__} (requests {versions['requests']}, urllib3 {versions['urllib3']}, "
            f"{platform.python_implementation()} {platform.python_version()})")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="HTTP challenge authentication (Negotiate, NTLM, Digest, Basic) for requests.")
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="show a challenge and its answer against the embedded server")
    demo.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    demo.set_defaults(run=_demo)

    get = commands.add_parser(
        "get", help="send one request, answering its challenge",
        epilog=f"exit codes: 0 ok, 1 HTTP error, 2 usage, 3 authentication failed, 4 no answer. "
               f"Passwords: USER:PASSWORD, else ${PASSWORD_ENV} (${PROXY_PASSWORD_ENV}), else a prompt. "
               f"Credentials come from -u or --netrc only: never from the URL, nor from netrc without --netrc. "
               f"A URL without a scheme is an http:// one.",
    )
    get.add_argument("url")
    get.add_argument("-u", "--user", metavar="USER[:PASSWORD]")
    get.add_argument("--netrc", action="store_true",
                     help="credentials per host from $NETRC, else ~/.netrc, for any allowed scheme")
    get.add_argument("--netrc-file", metavar="FILE", help="--netrc from FILE")
    get.add_argument("-X", "--method", help="default GET, or POST with --data")
    get.add_argument("-d", "--data", metavar="DATA|@FILE", help="request body; @FILE reads a file, @- stdin")
    get.add_argument("-H", "--header", action="append", metavar="'NAME: VALUE'", help="repeatable")
    get.add_argument("--scheme", action="append", metavar="digest,basic", help="schemes allowed; repeatable")
    get.add_argument("-o", "--output", metavar="FILE", help="write the body to FILE (streamed; progress on a terminal)")
    get.add_argument("-O", "--remote-name", action="store_true", help="-o with the URL's last path segment as FILE")
    get.add_argument("-i", "--include", action="store_true",
                     help="the response's status line and headers on stdout before the body")
    get.add_argument("-L", "--location", action="store_true", help="follow redirects (the default)")
    get.add_argument("--no-location", action="store_true", help="do not follow redirects: the 3xx is the answer")
    get.add_argument("--max-redirs", type=int, default=30, metavar="N",
                     help="follow at most N redirects (default 30); more is exit 1")
    get.add_argument("-x", "--proxy", metavar="URL")
    get.add_argument("--proxy-user", metavar="USER[:PASSWORD]", help="answer the proxy's 407 too")
    get.add_argument("--cacert", metavar="FILE", help="trust the CA certificates in FILE (PEM) instead of the default")
    get.add_argument("-E", "--cert", metavar="FILE[:KEY]",
                     help="client certificate (PEM), with its key in FILE or in KEY (not encrypted)")
    get.add_argument("-k", "--insecure", action="store_true", help="do not verify TLS certificates")
    get.add_argument("-v", "--verbose", action="store_true",
                     help="every request and response header of every leg on stderr, secrets redacted")
    get.add_argument("--explain", action="store_true", help="send no credentials; show the challenges, ranked")
    get.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    get.set_defaults(run=_get)

    serve = commands.add_parser("serve", help="run the embedded challenge server until Ctrl-C")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="default: a free port")
    serve.add_argument("--user", action="append", metavar="USER:PASSWORD", help="repeatable; default a demo user")
    serve.add_argument("--scheme", action="append", metavar="digest,basic", help="offered in this order")
    serve.add_argument("--algorithm", action="append", metavar="ALG", help="Digest algorithm; repeatable (SHA-256)")
    serve.add_argument("--qop", choices=["auth", "auth-int", "auth,auth-int", "none"], default="auth", metavar="QOP",
                       help="Digest qop offered: auth (default), auth-int, both as 'auth,auth-int', or none (RFC 2069)")
    serve.add_argument("--realm", default="requests-challenge")
    serve.add_argument("--tls", action="store_true",
                       help="https, with a self-signed certificate made for --host (needs openssl); "
                            "its path is printed, for get --cacert")
    serve.set_defaults(run=_serve)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code (never raises for a user's mistake)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage, or --help
        return exc.code if isinstance(exc.code, int) else USAGE
    try:
        return args.run(args)
    except _Usage as exc:
        return _fail(USAGE, _redact(str(exc)))
    except KeyboardInterrupt:
        return 130
