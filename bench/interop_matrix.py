#!/usr/bin/env python
"""Interop matrix: four Digest/Basic handlers against real lighttpd and Apache.

    python bench/interop_matrix.py [-v] [--keep]

Starts lighttpd and Apache httpd with the integration suite's own machinery
(``tests/integration/servers.py``: same configuration, same users, same
access-log helpers), runs the same cases with every contender, each case once
for the ASCII and once for the non-ASCII user of ``servers.USERS``, and prints
a pass/fail matrix, why every failing cell failed, a summary per contender and
the matrix once more as a reStructuredText table (after a line ``RST:``).

Contenders, each the handler a user would pick for Digest:

* ours      ``requests_challenge.ChallengeAuth`` (this working tree)
* requests  ``requests.auth.HTTPDigestAuth``
* toolbelt  ``requests_toolbelt.auth.guess.GuessAuth``
* httpx     ``httpx.DigestAuth`` with an ``httpx.Client``
* aiohttp   ``aiohttp.DigestAuthMiddleware`` with an ``aiohttp.ClientSession``
* ours-httpx    ``requests_challenge.httpx.ChallengeAuth`` with an ``httpx.Client``
* ours-aiohttp  ``requests_challenge.aiohttp.ChallengeMiddleware`` with a ``ClientSession``

Every cell gets a fresh Session/Client and a fresh auth object; every request
has a timeout; an exception in a cell is that cell's FAIL, never the end of
the run.  Servers are stopped in a ``finally``.  The exit status is 0 when the
matrix could be produced (whatever it shows), 2 when a server cannot run.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # this working tree's package and test servers

import asyncio  # noqa: E402

import aiohttp  # noqa: E402
import httpx  # noqa: E402
import requests  # noqa: E402
import requests_toolbelt  # type: ignore[import-untyped]  # noqa: E402
import urllib3  # noqa: E402
from requests.auth import HTTPDigestAuth  # noqa: E402
from requests.utils import parse_dict_header  # noqa: E402
from requests_toolbelt.auth.guess import GuessAuth  # type: ignore[import-untyped]  # noqa: E402

import requests_challenge  # noqa: E402
from requests_challenge import ChallengeAuth  # noqa: E402
from requests_challenge.aiohttp import ChallengeMiddleware  # noqa: E402
from requests_challenge.httpx import ChallengeAuth as HttpxChallengeAuth  # noqa: E402
from tests.integration import servers as servers_module  # noqa: E402
from tests.integration.servers import (  # noqa: E402
    USERS,
    Apache,
    Lighttpd,
    MARKER_PREFIX,
    ServerProcess,
    ServerStartError,
    find_program,
    parse_echo,
)

TIMEOUT = 5.0  # seconds, connect and read, for every request a contender makes
BUDGET = 170.0  # seconds; cells not started by then are skipped (limit: 3 min)
SESSION_REQUESTS = 5
POST_SIZE = 300 * 1024 + 7
STRONGEST = "SHA-512-256"  # the strongest algorithm /multi/ offers


# --------------------------------------------------------------------------
# Contenders: one small client interface over requests and httpx
# --------------------------------------------------------------------------


@dataclass
class Reply:
    """One logical request as the contender's caller sees it."""

    status: int
    content: bytes
    #: Per exchange, in order: the Authorization header as it went on the
    #: wire (bytes), or None when the exchange carried none.
    sent: List[Optional[bytes]]
    #: Per exchange, in order: the WWW-Authenticate header(s) of its response.
    challenges: List[List[str]]

    @property
    def answer(self) -> Optional[bytes]:
        """The credentials of the last exchange (what the server judged)."""
        return self.sent[-1] if self.sent else None


def _wire(value: Optional[str]) -> Optional[bytes]:
    # http.client (below urllib3) encodes str header values as Latin-1;
    # this is exactly what requests put on the wire.
    return None if value is None else value.encode("latin-1", errors="replace")


class RequestsClient:
    def __init__(self, auth: requests.auth.AuthBase):
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies, netrc or CA bundle from env
        self.session.auth = auth

    def request(self, method: str, url: str, body: Optional[IO[bytes]] = None) -> Reply:
        r = self.session.request(method, url, data=body, timeout=TIMEOUT)
        chain = [*r.history, r]
        return Reply(
            r.status_code,
            r.content,
            [_wire(h.request.headers.get("Authorization")) for h in chain],
            [h.raw.headers.getlist("WWW-Authenticate") if h.raw is not None else [] for h in chain],
        )

    def close(self) -> None:
        self.session.close()


class HttpxClient:
    def __init__(self, auth: httpx.Auth):
        self.client = httpx.Client(auth=auth, trust_env=False, timeout=TIMEOUT)

    def request(self, method: str, url: str, body: Optional[IO[bytes]] = None) -> Reply:
        r = self.client.request(method, url, content=body)  # type: ignore[arg-type]
        chain = [*r.history, r]
        return Reply(
            r.status_code,
            r.content,
            [_raw_header(h.request.headers.raw, b"authorization") for h in chain],
            [h.headers.get_list("www-authenticate") for h in chain],
        )

    def close(self) -> None:
        self.client.close()


class AiohttpClient:
    """One ClientSession with one auth middleware, run on an event loop of its own.

    aiohttp keeps no response of a retry a middleware made, so an inner
    middleware notes every exchange: the Authorization that went out (aiohttp
    encodes header text as UTF-8) and the challenges that came back."""

    def __init__(self, middleware: object):
        self.loop = asyncio.new_event_loop()
        self.exchanges: List[Tuple[Optional[bytes], List[str]]] = []

        async def make() -> aiohttp.ClientSession:
            return aiohttp.ClientSession(middlewares=(middleware, self._note), trust_env=False,  # type: ignore[arg-type]
                                         timeout=aiohttp.ClientTimeout(total=TIMEOUT))

        self.session = self.loop.run_until_complete(make())

    async def _note(self, request: aiohttp.ClientRequest, handler) -> aiohttp.ClientResponse:  # type: ignore[no-untyped-def]
        sent = request.headers.get("Authorization")
        response = await handler(request)
        self.exchanges.append((None if sent is None else sent.encode("utf-8"),
                               response.headers.getall("WWW-Authenticate", [])))
        return response

    def request(self, method: str, url: str, body: Optional[IO[bytes]] = None) -> Reply:
        self.exchanges = []

        async def go() -> Tuple[int, bytes]:
            async with self.session.request(method, url, data=body) as r:
                return r.status, await r.read()

        status, content = self.loop.run_until_complete(go())
        return Reply(status, content, [e[0] for e in self.exchanges], [e[1] for e in self.exchanges])

    def close(self) -> None:
        self.loop.run_until_complete(self.session.close())
        self.loop.close()


def _raw_header(raw: Sequence[Tuple[bytes, bytes]], name: bytes) -> Optional[bytes]:
    for key, value in raw:
        if key.lower() == name:
            return value
    return None


@dataclass(frozen=True)
class Contender:
    key: str
    handler: str  # what the user writes
    short: str  # column header of the RST table
    version: str
    schemes: Tuple[str, ...]  # schemes its handler can answer
    make: Callable[[str, str], "RequestsClient | HttpxClient | AiohttpClient"]


CONTENDERS = [
    Contender(
        "ours", "requests_challenge.ChallengeAuth", "ChallengeAuth",
        f"requests-challenge {requests_challenge.__version__}", ("digest", "basic"),
        lambda u, p: RequestsClient(ChallengeAuth(u, p)),
    ),
    Contender(
        "requests", "requests.auth.HTTPDigestAuth", "HTTPDigestAuth",
        f"requests {requests.__version__} (urllib3 {urllib3.__version__})", ("digest",),
        lambda u, p: RequestsClient(HTTPDigestAuth(u, p)),
    ),
    Contender(
        "toolbelt", "requests_toolbelt.auth.guess.GuessAuth", "GuessAuth",
        f"requests-toolbelt {requests_toolbelt.__version__}", ("digest", "basic"),
        lambda u, p: RequestsClient(GuessAuth(u, p)),
    ),
    Contender(
        "httpx", "httpx.DigestAuth (httpx.Client)", "httpx.DigestAuth",
        f"httpx {httpx.__version__}", ("digest",),
        lambda u, p: HttpxClient(httpx.DigestAuth(u, p)),
    ),
    Contender(
        "aiohttp", "aiohttp.DigestAuthMiddleware (aiohttp.ClientSession)", "aiohttp Digest",
        f"aiohttp {aiohttp.__version__}", ("digest",),
        lambda u, p: AiohttpClient(aiohttp.DigestAuthMiddleware(u, p)),
    ),
    Contender(
        "ours-httpx", "requests_challenge.httpx.ChallengeAuth (httpx.Client)", "ours, httpx",
        f"requests-challenge {requests_challenge.__version__}, httpx {httpx.__version__}", ("digest", "basic"),
        lambda u, p: HttpxClient(HttpxChallengeAuth(u, p)),
    ),
    Contender(
        "ours-aio", "requests_challenge.aiohttp.ChallengeMiddleware (aiohttp.ClientSession)", "ours, aiohttp",
        f"requests-challenge {requests_challenge.__version__}, aiohttp {aiohttp.__version__}", ("digest", "basic"),
        lambda u, p: AiohttpClient(ChallengeMiddleware(u, p)),
    ),
]


# --------------------------------------------------------------------------
# What a contender sent, in words
# --------------------------------------------------------------------------


def _encoding_of(raw: bytes, text: str) -> str:
    if raw == text.encode("utf-8"):
        return "UTF-8"
    if raw == text.encode("latin-1", errors="replace"):
        return "Latin-1"
    return "garbled"


def digest_params(answer: Optional[bytes]) -> Dict[str, str]:
    """Parameters of a ``Digest`` answer (values as Latin-1 text = raw bytes)."""
    if not answer or not answer[:7].lower() == b"digest ":
        return {}
    text = answer[7:].decode("latin-1")
    return {k.lower(): v for k, v in parse_dict_header(text).items()}


def algorithm_of(answer: Optional[bytes]) -> Optional[str]:
    params = digest_params(answer)
    if not params:
        return None
    return params.get("algorithm", "MD5").upper()


def describe_answer(answer: Optional[bytes], user: str, password: str) -> str:
    """The credentials a contender sent, e.g. 'Digest MD5, username Latin-1'."""
    if answer is None:
        return "no credentials sent"
    if answer[:6].lower() == b"basic ":
        try:
            decoded = base64.b64decode(answer[6:].strip(), validate=True)
        except ValueError:
            return "Basic, undecodable token"
        return f"Basic, user-pass {_encoding_of(decoded, f'{user}:{password}')}"
    params = digest_params(answer)
    if params:
        words = [f"Digest {params.get('algorithm', 'MD5 (implied)')}"]
        if params.get("userhash", "").lower() == "true":
            words.append("userhash")
        elif "username*" in params:
            words.append("username* (RFC 8187)")
        elif "username" in params:
            words.append(f"username {_encoding_of(params['username'].encode('latin-1'), user)}")
        return ", ".join(words)
    return answer.split(b" ", 1)[0].decode("latin-1", errors="replace")


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------


@dataclass
class Cell:
    passed: bool
    short: str  # the matrix cell: "pass" or the failure in a word or two
    detail: str = ""  # why, with the exchanges the server logged
    notes: List[str] = field(default_factory=list)
    #: Not the contender's failure: this script or a server misbehaved.
    harness_error: bool = False

    @property
    def mark(self) -> str:
        return "PASS" if self.passed else "ERROR" if self.harness_error else "FAIL"


@dataclass
class Env:
    lighttpd: Lighttpd
    apache: Apache
    upload: Path  # a file of POST_SIZE random bytes


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    server: str  # "lighttpd" or "apache": the Env attribute it talks to
    scheme: str  # "digest" or "basic": which handler the case needs
    run: Callable[[Env, "RequestsClient | HttpxClient | AiohttpClient", str, str], Cell]


def _statuses(server: ServerProcess, mark: int) -> List[int]:
    return server.log.statuses_since(mark)


def _fmt(statuses: Sequence[int]) -> str:
    return "[" + " ".join(map(str, statuses)) + "]"


def _failed_status(reply: Reply, user: str, password: str, logged: Sequence[int]) -> Cell:
    """A non-200 final answer, explained by what was (or was not) sent."""
    sent = describe_answer(reply.answer, user, password)
    why = "credentials rejected" if reply.answer is not None else "gave up"
    return Cell(False, str(reply.status), f"{why} ({sent}); server logged {_fmt(logged)}")


def get_case(server_name: str, path: str) -> Callable[..., Cell]:
    """GET a protected hello.txt: pass = 200 with the file's content."""

    def run(env: Env, client, user: str, password: str) -> Cell:
        server: ServerProcess = getattr(env, server_name)
        location = path.strip("/").split("/")[0]
        expected = f"hello from {server.name} /{location}/\n".encode()
        mark = server.log.mark()
        reply = client.request("GET", server.url(path))
        logged = _statuses(server, mark)
        if reply.status != 200:
            return _failed_status(reply, user, password, logged)
        if reply.content != expected:
            return Cell(False, "wrong body", f"200 but body {reply.content[:60]!r}")
        notes = []
        if location == "userhash" and "userhash" not in describe_answer(reply.answer, user, password):
            notes.append(
                "authenticated without userhash: user name sent in clear "
                f"({describe_answer(reply.answer, user, password)})"
            )
        if len(logged) != 2:
            notes.append(f"{len(logged)} exchanges {_fmt(logged)}, not 2")
        return Cell(True, "pass", f"{describe_answer(reply.answer, user, password)}; "
                    f"server logged {_fmt(logged)}", notes)

    return run


def multi_case(env: Env, client, user: str, password: str) -> Cell:
    """/multi/ offers SHA-512-256, SHA-256, MD5: pass = 200 answering SHA-512-256."""
    server = env.lighttpd
    mark = server.log.mark()
    reply = client.request("GET", server.url("/multi/hello.txt"))
    logged = _statuses(server, mark)
    offered: List[str] = next((c for c in reply.challenges if c), [])
    algorithm = algorithm_of(reply.answer)
    sent = describe_answer(reply.answer, user, password)
    where = f"{len(offered)} challenges offered; server logged {_fmt(logged)}"
    if reply.status == 200 and algorithm == STRONGEST:
        return Cell(True, "pass", f"{sent}; {where}")
    if algorithm is not None and algorithm != STRONGEST:
        status = "" if reply.status == 200 else f", {reply.status}"
        return Cell(False, f"{algorithm} (downgrade){status}",
                    f"{reply.status} answering {sent} instead of {STRONGEST}; {where}")
    if reply.status != 200:
        cell = _failed_status(reply, user, password, logged)
        cell.detail += f"; {len(offered)} challenges offered"
        return cell
    return Cell(False, f"200 via {algorithm}", f"{sent}; {where}")


def post_file_case(env: Env, client, user: str, password: str) -> Cell:
    """POST an open file to lighttpd /md5/echo.cgi: the body must arrive whole
    on the retry after the 401 (the CGI answers its length and SHA-256)."""
    server = env.lighttpd
    body = env.upload.read_bytes()
    mark = server.log.mark()
    with env.upload.open("rb") as f:
        reply = client.request("POST", server.url("/md5/echo.cgi"), f)
    logged = _statuses(server, mark)
    if reply.status != 200:
        return _failed_status(reply, user, password, logged)
    echoed = parse_echo(reply.content)
    length = int(echoed.get("length", -1))
    if echoed.get("sha256") != hashlib.sha256(body).hexdigest() or echoed.get("method") != "POST":
        return Cell(False, f"body {length}/{len(body)} B",
                    f"200 but the CGI received {length} of {len(body)} bytes "
                    f"(sha256 {'ok' if length == len(body) else 'differs'}); "
                    f"server logged {_fmt(logged)}")
    return Cell(True, "pass", f"{length} bytes arrived whole; server logged {_fmt(logged)}")


def session_case(env: Env, client, user: str, password: str) -> Cell:
    """5 GETs in one Session/Client: pass = all 200 in exactly 6 exchanges."""
    server = env.lighttpd
    mark = server.log.mark()
    statuses = []
    for _ in range(SESSION_REQUESTS):
        statuses.append(client.request("GET", server.url("/md5/hello.txt")).status)
    logged = _statuses(server, mark)
    want = SESSION_REQUESTS + 1
    if statuses != [200] * SESSION_REQUESTS:
        return Cell(False, "/".join(map(str, statuses)),
                    f"final statuses {statuses}; server logged {_fmt(logged)}")
    if len(logged) != want:
        return Cell(False, f"{len(logged)} exchanges",
                    f"all 200 but {len(logged)} exchanges, not {want}: {_fmt(logged)}")
    return Cell(True, "pass", f"{want} exchanges {_fmt(logged)}")


def stale_case(env: Env, client, user: str, password: str) -> Cell:
    """Apache /stale/: request, sleep past the nonce lifetime, request again."""
    server = env.apache
    url = server.url("/stale/hello.txt")
    mark = server.log.mark()
    first = client.request("GET", url)
    logged = _statuses(server, mark)
    if first.status != 200:
        cell = _failed_status(first, user, password, logged)
        cell.short, cell.detail = f"1st {first.status}", "1st request: " + cell.detail
        return cell
    time.sleep(Apache.nonce_lifetime + 1.0)
    mark = server.log.mark()
    second = client.request("GET", url)
    logged = _statuses(server, mark)
    stale = any("stale=true" in c.lower().replace('"', "") for cs in second.challenges for c in cs)
    seen = "a stale=true challenge" if stale else "no stale=true challenge"
    if second.status != 200:
        cell = _failed_status(second, user, password, logged)
        cell.short = f"2nd {second.status}"
        cell.detail = f"2nd request after {seen}: {cell.detail}"
        return cell
    notes = [] if stale else [f"never met stale=true (it sent no credentials up front?): {_fmt(logged)}"]
    return Cell(True, "pass", f"2nd request met {seen}; server logged {_fmt(logged)}", notes)


def _get(key: str, title: str, server: str, scheme: str, path: str) -> Case:
    return Case(key, title, server, scheme, get_case(server, path))


CASES = [
    _get("l-md5", "lighttpd Digest MD5", "lighttpd", "digest", "/md5/hello.txt"),
    _get("l-sha256", "lighttpd Digest SHA-256", "lighttpd", "digest", "/sha256/hello.txt"),
    Case("l-multi", "lighttpd multi (SHA-512-256 wins)", "lighttpd", "digest", multi_case),
    _get("l-userhash", "lighttpd Digest userhash", "lighttpd", "digest", "/userhash/hello.txt"),
    _get("l-basic", "lighttpd Basic charset=UTF-8", "lighttpd", "basic", "/basic/hello.txt"),
    _get("a-md5", "Apache Digest MD5", "apache", "digest", "/digest/hello.txt"),
    _get("a-basic", "Apache Basic", "apache", "basic", "/basic/hello.txt"),
    Case("l-post", "lighttpd Digest POST file body", "lighttpd", "digest", post_file_case),
    Case("l-session", f"{SESSION_REQUESTS} requests = {SESSION_REQUESTS + 1} exchanges",
         "lighttpd", "digest", session_case),
    Case("a-stale", "Apache stale nonce recovery", "apache", "digest", stale_case),
]


def describe_exception(exc: BaseException) -> str:
    """``module.Class: message`` plus the innermost frame that raised it."""
    name = type(exc).__qualname__
    if type(exc).__module__ != "builtins":
        name = f"{type(exc).__module__}.{name}"
    message = str(exc).splitlines()[0][:160] if str(exc) else ""
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        path = Path(frames[-1].filename)
        short = "/".join(path.parts[-2:]) if "site-packages" in path.parts else path.name
        where = f" (at {short}:{frames[-1].lineno})"
    return f"{name}: {message}{where}"


_HARNESS_FILES = {Path(__file__).resolve(), Path(servers_module.__file__).resolve()}


def _raised_by_harness(exc: BaseException) -> bool:
    """True when the innermost frame is this script or servers.py (a log
    marker that never arrived, a bug here), not the contender's library."""
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and Path(frames[-1].filename).resolve() in _HARNESS_FILES


def run_cell(env: Env, case: Case, contender: Contender, user: str, password: str) -> Cell:
    client = None
    server: ServerProcess = getattr(env, case.server)
    try:
        mark = server.log.mark()
        client = contender.make(user, password)
        cell = case.run(env, client, user, password)
    except Exception as exc:  # a crash of the contender is its FAIL
        if _raised_by_harness(exc):
            return Cell(False, "harness error", f"raised {describe_exception(exc)}",
                        harness_error=True)
        logged = [
            line.status for line in server.log.lines_since(mark)
            if not line.target.startswith(MARKER_PREFIX)
        ]
        cell = Cell(False, type(exc).__name__,
                    f"raised {describe_exception(exc)}; server logged {_fmt(logged)}")
    finally:
        if client is not None:
            try:
                client.close()
            except Exception:
                pass
    if case.scheme not in contender.schemes:
        cell.detail += f" -- N/A: {contender.short} has no {case.scheme.title()} handler"
        if not cell.passed:
            cell.short += " (N/A)"
    return cell


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------


def command_output(argv: List[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"({' '.join(argv)} failed: {exc})"
    return (result.stdout or result.stderr).strip()


def tree_version() -> str:
    head = command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = command_output(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "requests_challenge"])
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, rows)])


def rst_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A reStructuredText simple table (every cell non-empty, one line)."""
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    rule = "  ".join("=" * w for w in widths)
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([rule, line(headers), rule, *map(line, rows), rule])


LEGEND = """\
Legend:
  PASS / pass      the case's criterion held (see Criteria below)
  FAIL: 401        the final HTTP status was not 200
  FAIL: KeyError   the contender raised this exception: a crash, caught per cell
  MD5 (downgrade)  /multi/ offers SHA-512-256, SHA-256 and MD5 in three
                   WWW-Authenticate lines; answering anything but SHA-512-256,
                   the strongest, is a downgrade and a FAIL even with a 200
  (N/A)            the contender has no handler for the location's scheme
                   (HTTPDigestAuth and httpx.DigestAuth on Basic-only
                   locations).  Still a FAIL: the user asked it to authenticate
                   and it can't.  httpx has a separate BasicAuth, but the
                   contender here is the Digest handler a user would pick.
  1st 401/2nd 401  stale case: which of its two requests failed
Criteria: GETs pass on 200 with the file's content; /multi/ also needs a
  SHA-512-256 answer; POST passes when the CGI echo received the whole file
  (length and SHA-256), the open file passed as data= (requests) or content=
  (httpx); the session case passes when {n} requests in one Session/Client
  all get 200 in exactly {n1} logged exchanges; the stale case passes when a
  request made after the {life} s nonce lifetime gets 200."""


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true",
                        help="keep server configurations and logs (path printed)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also print what every passing cell sent and the server logged")
    args = parser.parse_args(argv)
    started = time.monotonic()

    for cls in (Lighttpd, Apache):
        reason = cls.missing()
        if reason:
            print(f"cannot run: {reason}", file=sys.stderr)
            return 2

    print("requests-challenge interop matrix")
    print(f"  Python {platform.python_version()}")
    print(f"  lighttpd: {command_output([find_program('lighttpd') or 'lighttpd', '-v'])}")
    apache_v = command_output([find_program("apache2") or "apache2", "-v"]).splitlines()
    print(f"  apache2:  {'; '.join(l.strip() for l in apache_v)}")
    for c in CONTENDERS:
        extra = f", working tree {tree_version()}" if c.key.startswith("ours") else ""
        print(f"  {c.key:<9} {c.handler}  [{c.version}{extra}]")

    workdir = Path(tempfile.mkdtemp(prefix="interop-matrix-"))
    servers: List[ServerProcess] = []
    results: Dict[Tuple[str, str, str], Cell] = {}
    try:
        lighttpd = Lighttpd(workdir / "lighttpd")
        servers.append(lighttpd)
        lighttpd.start()
        apache = Apache(workdir / "apache")
        servers.append(apache)
        apache.start()
        upload = workdir / "upload.bin"
        upload.write_bytes(os.urandom(POST_SIZE))
        env = Env(lighttpd, apache, upload)
        print(f"  servers on {lighttpd.url()} and {apache.url()}")

        for case in CASES:
            for who in sorted(USERS):
                user, password = USERS[who]
                for c in CONTENDERS:
                    if time.monotonic() - started > BUDGET:
                        results[case.key, who, c.key] = Cell(
                            False, "skipped", f"not run: the {BUDGET:.0f} s time budget was spent",
                            harness_error=True)
                        continue
                    results[case.key, who, c.key] = run_cell(env, case, c, user, password)
    except ServerStartError as exc:
        print(f"cannot run: {exc}", file=sys.stderr)
        return 2
    finally:
        for server in reversed(servers):
            try:
                server.stop()
            except Exception as exc:  # still stop the others
                print(f"  stopping {server.name} failed: {exc!r}", file=sys.stderr)
        if args.keep:
            print(f"  kept configurations and logs in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    keys = [c.key for c in CONTENDERS]
    rows = []
    for case in CASES:
        for n, who in enumerate(sorted(USERS)):
            rows.append([case.title if n == 0 else "", USERS[who][0],
                         *(results[case.key, who, k].mark for k in keys)])
    print()
    print(text_table(["case", "user", *keys], rows))

    print("\nWhat went wrong (failing cells):")
    for case in CASES:
        if all(results[case.key, who, k].passed for who in USERS for k in keys):
            continue
        print(f"  {case.title}")
        for who in sorted(USERS):
            for k in keys:
                cell = results[case.key, who, k]
                if not cell.passed:
                    print(f"    {USERS[who][0]:<6} {k:<9} {cell.short}: {cell.detail}")

    if args.verbose:
        print("\nPassing cells:")
        for case in CASES:
            for who in sorted(USERS):
                for k in keys:
                    cell = results[case.key, who, k]
                    if cell.passed:
                        print(f"  {case.title}, {USERS[who][0]}, {k}: {cell.detail}")

    notes = [
        f"  {case.title}, {USERS[who][0]}, {k}: {note}"
        for case in CASES for who in sorted(USERS) for k in keys
        for note in results[case.key, who, k].notes
    ]
    if notes:
        print("\nNotes on passing cells:")
        print("\n".join(notes))

    print()
    print(LEGEND.format(n=SESSION_REQUESTS, n1=SESSION_REQUESTS + 1, life=Apache.nonce_lifetime))

    total = len(CASES) * len(USERS)
    print("\nSummary:")
    for c in CONTENDERS:
        passed = sum(results[case.key, who, c.key].passed for case in CASES for who in USERS)
        print(f"  {c.key:<9} {c.handler}: {passed}/{total} cases passed")
    errors = sum(cell.harness_error for cell in results.values())
    if errors:
        print(f"  ({errors} cells ERROR: harness error or time budget spent, "
              "no verdict on the contender; not counted as passed)")
    print(f"  (finished in {time.monotonic() - started:.1f} s)")

    rst_rows = []
    for case in CASES:
        for who in sorted(USERS):
            rst_rows.append([
                case.title, USERS[who][0],  # a blank first cell would continue the row above
                *(results[case.key, who, k].short if results[case.key, who, k].passed
                  else f"{results[case.key, who, k].mark}: {results[case.key, who, k].short}"
                  for k in keys),
            ])
    headers = ["Case", "User", *(c.short for c in CONTENDERS)]
    print("\nRST:")
    print(rst_table(headers, rst_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
