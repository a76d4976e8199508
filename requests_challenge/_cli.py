"""The ``requests-challenge`` command: demo, get and serve.

Exit codes of ``get``: 0 success, 1 an HTTP error status, 2 usage, 3 authentication
failed (a final 401 or 407), 4 no answer (connection refused, timeout, TLS, proxy).
Messages are one line on stderr; the body goes to stdout; ``-v`` shows the exchange
on stderr with every secret (Basic credentials, Digest ``response`` and ``rspauth``,
any URL's userinfo) redacted.

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
import sys
import threading
import warnings
from typing import TYPE_CHECKING, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

import requests
from requests.auth import AuthBase
from requests.utils import get_auth_from_url, select_proxy

from ._grammar import Challenge, parse_auth_params, parse_challenges_lenient, quote_string
from ._ranking import SUPPORTED_SCHEMES, allowed_schemes, rank_challenges
from ._spaces import Origin, origin_of

if TYPE_CHECKING:
    from . import ChallengeAuth

__all__ = ["main"]

PROG = "requests-challenge"
PASSWORD_ENV = "REQUESTS_CHALLENGE_PASSWORD"
PROXY_PASSWORD_ENV = "REQUESTS_CHALLENGE_PROXY_PASSWORD"

OK, HTTP_ERROR, USAGE, AUTH_FAILED, NO_ANSWER = 0, 1, 2, 3, 4

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Fields RFC 7616 writes as tokens (§3.3 challenge, §3.4 credentials, §3.5 info); the rest quoted.
_CHALLENGE_TOKENS = frozenset({"algorithm", "stale", "charset", "userhash"})
_CREDENTIAL_TOKENS = frozenset({"algorithm", "qop", "nc", "userhash", "username*"})
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
            return f"{scheme} {_render_params(parsed[0].params, _CREDENTIAL_TOKENS)}"
    return f"{scheme} <redacted>" if _TOKEN.fullmatch(scheme) else "<redacted>"


def _redact_info(value: str) -> str:
    """Authentication-Info without ``rspauth`` (it is as guessable as ``response``)."""
    try:
        return _render_params(parse_auth_params(value), _CREDENTIAL_TOKENS)
    except ValueError:
        return "<unreadable, not shown>"


def _render_params(params: Dict[str, str], tokens: FrozenSet[str]) -> str:
    shown = []
    for name, value in params.items():
        if name in _SECRET_FIELDS:
            shown.append(f'{name}="…"')
        elif name in tokens and _TOKEN.fullmatch(value):
            shown.append(f"{name}={value}")
        else:
            shown.append(f"{name}={quote_string(value)}")
    return ", ".join(shown)


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
    return f"{challenge.scheme} {_render_params(challenge.params, _CHALLENGE_TOKENS)}".rstrip()


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
        if not colon or not _TOKEN.fullmatch(name.strip()) or any(c in text for c in "\r\n\0"):
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


def _get(args: argparse.Namespace) -> int:
    from . import AuthenticationError

    if args.user and _wants_netrc(args):
        raise _Usage("-u and --netrc exclude each other: give the credentials one way")
    url, had_userinfo = _without_userinfo(args.url)
    schemes = _schemes(args.scheme)
    headers = _headers(args.header or [])
    data = _data(args.data)
    method = (args.method or ("POST" if data is not None else "GET")).upper()
    proxies = {"http": args.proxy, "https": args.proxy} if args.proxy else None
    auth = None if args.explain else _auth(args, schemes)
    if args.insecure:
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # asked for: no nagging

    shown = allowed_schemes(schemes)
    with _Session() as session:
        try:
            response = session.request(
                method, url, headers=headers, data=data, auth=auth, proxies=proxies,
                verify=not args.insecure, timeout=args.timeout,
            )
        except (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader) as exc:
            raise _Usage(_one_line(exc)) from None
        except AuthenticationError as exc:
            if args.verbose and exc.response is not None:
                print("\n".join(describe_exchange(exc.response, shown)), file=sys.stderr)
            return _fail(AUTH_FAILED, f"authentication failed: {_one_line(exc)}")
        except requests.exceptions.RequestException as exc:
            return _fail(NO_ANSWER, f"no answer from {_redact_url(url)}: {_short_reason(exc)}")
        if args.verbose:
            print("\n".join(describe_exchange(response, shown)), file=sys.stderr)
        if args.explain:
            return _explain(response, shown, _credentials_sent(session, response, proxies))

    status = response.status_code
    sys.stdout.buffer.write(response.content)
    sys.stdout.flush()
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
    """urllib3 nests the reason three deep; the "[Errno 111] Connection refused" part says it."""
    text = _one_line(exc)
    found = _ERRNO.search(text)
    reason = found.group().strip() if found else text
    return f"{type(exc).__name__}: {reason[:300]}"


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

    server = ChallengeServer(users or {DEMO_USER: DEMO_PASSWORD}, offers, host=args.host, port=args.port, on_exchange=log)
    try:
        server.start()
    except OSError as exc:
        return _fail(NO_ANSWER, f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    try:
        print(f"serving {server.url} (Ctrl-C to stop)")
        print(f"offers: {', '.join(names)}")
        hint = f" (password {DEMO_PASSWORD!r})" if not users else ""  # the public demo password only
        print(f"users: {', '.join(sorted(server.users))}{hint}", flush=True)
        stop = threading.Event()
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        server.stop()
    return OK


# -- command line ------------------------------------------------------------------------------


def _fail(code: int, message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="HTTP Basic and Digest authentication for requests.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="show a challenge and its answer against the embedded server")
    demo.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    demo.set_defaults(run=_demo)

    get = commands.add_parser(
        "get", help="send one request, answering its challenge",
        epilog=f"exit codes: 0 ok, 1 HTTP error, 2 usage, 3 authentication failed, 4 no answer. "
               f"Passwords: USER:PASSWORD, else ${PASSWORD_ENV} (${PROXY_PASSWORD_ENV}), else a prompt. "
               f"Credentials come from -u or --netrc only: never from the URL, nor from netrc without --netrc.",
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
    get.add_argument("--proxy", metavar="URL")
    get.add_argument("--proxy-user", metavar="USER[:PASSWORD]", help="answer the proxy's 407 too")
    get.add_argument("-v", "--verbose", action="store_true", help="show the exchange on stderr, secrets redacted")
    get.add_argument("--explain", action="store_true", help="send no credentials; show the challenges, ranked")
    get.add_argument("-k", "--insecure", action="store_true", help="do not verify TLS certificates")
    get.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    get.set_defaults(run=_get)

    serve = commands.add_parser("serve", help="run the embedded challenge server until Ctrl-C")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="default: a free port")
    serve.add_argument("--user", action="append", metavar="USER:PASSWORD", help="repeatable; default a demo user")
    serve.add_argument("--scheme", action="append", metavar="digest,basic", help="offered in this order")
    serve.add_argument("--algorithm", action="append", metavar="ALG", help="Digest algorithm; repeatable (SHA-256)")
    serve.add_argument("--qop", choices=["auth", "auth-int", "auth,auth-int", "none"], default="auth")
    serve.add_argument("--realm", default="requests-challenge")
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
