"""The ``requests-challenge`` command: demo, get and serve.

Exit codes of ``get``: 0 success, 1 an HTTP error status, 2 usage, 3 authentication
failed (a final 401 or 407), 4 no answer (connection refused, timeout, TLS, proxy).
Messages are one line on stderr; the body goes to stdout; ``-v`` shows the exchange
on stderr with every secret (Basic credentials, Digest ``response`` and ``rspauth``)
redacted.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
import threading
import warnings
from typing import TYPE_CHECKING, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

from ._grammar import Challenge, parse_auth_params, parse_challenges_lenient, quote_string
from ._ranking import SUPPORTED_SCHEMES, allowed_schemes, rank_challenges

if TYPE_CHECKING:
    import requests

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
_USERINFO = re.compile(r"(//[^/@\s:]*):[^/\s]*@")  # up to the authority's last "@"


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


def _redact_url(text: str) -> str:
    """``scheme://user:password@host`` -> ``scheme://user:…@host`` in any message."""
    return _USERINFO.sub(r"\1:…@", text)


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


# -- demo -----------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    """Two requests against the embedded server: challenged once, then sent up front."""
    import requests

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


def _auth(args: argparse.Namespace, schemes: Optional[Tuple[str, ...]]) -> Optional["ChallengeAuth"]:
    from . import ChallengeAuth

    if args.proxy_user and not (args.proxy and args.user):
        raise _Usage("--proxy-user needs --proxy and -u USER")
    if not args.user:
        return None
    user, password = _credentials(args.user, PASSWORD_ENV, "Password")
    proxy_auth = _credentials(args.proxy_user, PROXY_PASSWORD_ENV, "Proxy password") if args.proxy_user else None
    try:
        return ChallengeAuth(user, password, schemes=schemes, proxy_auth=proxy_auth)
    except ValueError as exc:  # CR, LF or NUL in a name or password; never echoed
        raise _Usage(str(exc)) from None


def _get(args: argparse.Namespace) -> int:
    import requests

    from . import AuthenticationError

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
    try:
        response = requests.request(
            method, args.url, headers=headers, data=data, auth=auth, proxies=proxies,
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
        return _fail(NO_ANSWER, f"no answer from {_redact_url(args.url)}: {_short_reason(exc)}")
    if args.verbose:
        print("\n".join(describe_exchange(response, shown)), file=sys.stderr)

    if args.explain:
        return _explain(response, shown)
    status = response.status_code
    sys.stdout.buffer.write(response.content)
    sys.stdout.flush()
    if status in (401, 407):
        header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
        usable, _ = rank_challenges(parse_challenges_lenient(_header_lines(response, header))[0], shown)
        if auth is None:
            why = "no credentials given (-u USER)"
        elif status == 407 and not args.proxy_user:
            why = "the proxy wants credentials (--proxy-user USER)"
        elif not usable:
            why = "no challenge this client can answer (see --explain)"
        else:
            why = f"{usable[0].describe()} credentials refused"
        return _fail(AUTH_FAILED, f"authentication failed: {status} {response.reason}: {why}")
    if status >= 400:
        return _fail(HTTP_ERROR, f"HTTP error: {status} {response.reason}")
    return OK


def _explain(response: "requests.Response", schemes: FrozenSet[str]) -> int:
    """What the server offers to a request without credentials, ranked; nothing is sent."""
    status = response.status_code
    print(f"{response.request.method} {_redact_url(response.url)} -> {status} {response.reason} (no credentials sent)")
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
    return _redact_url(text)


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
               f"Passwords: USER:PASSWORD, else ${PASSWORD_ENV} (${PROXY_PASSWORD_ENV}), else a prompt.",
    )
    get.add_argument("url")
    get.add_argument("-u", "--user", metavar="USER[:PASSWORD]")
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
        return _fail(USAGE, _redact_url(str(exc)))
    except KeyboardInterrupt:
        return 130
