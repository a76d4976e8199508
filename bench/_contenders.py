"""The auth handlers under comparison, behind one small client interface.

A `Client` is one Session (httpx: one Client; aiohttp: one ClientSession on an
event loop of its own) with one auth object. ``get`` returns what the
exchange-counting measurements need; ``get_status`` is the lean call the
throughput loop makes, the same for every contender of a library.
"""

from __future__ import annotations

import asyncio
import io
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, FrozenSet, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # measure the working tree, installed or not

import aiohttp  # noqa: E402
import httpx  # noqa: E402
import requests  # noqa: E402
import requests.adapters  # noqa: E402
import requests_toolbelt  # noqa: E402
from requests.auth import HTTPBasicAuth, HTTPDigestAuth  # noqa: E402
from requests_toolbelt.auth.guess import GuessAuth  # noqa: E402
from urllib3 import HTTPResponse  # noqa: E402
from urllib3._collections import HTTPHeaderDict  # noqa: E402

import requests_challenge  # noqa: E402
from requests_challenge import ChallengeAdapter, ChallengeAuth  # noqa: E402
from requests_challenge.aiohttp import ChallengeMiddleware  # noqa: E402
from requests_challenge.httpx import ChallengeAuth as HttpxChallengeAuth  # noqa: E402

DIGEST, BASIC = "digest", "basic"


@dataclass
class Result:
    """One logical request: final status, and the Authorization sent on each exchange."""

    status: int
    authorizations: List[Optional[str]]  # one per exchange, oldest first

    @property
    def exchanges(self) -> int:
        return len(self.authorizations)


class Client:
    def get(self, url: str) -> Result:
        raise NotImplementedError

    def get_status(self, url: str) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class RequestsClient(Client):
    def __init__(self, auth: Optional[requests.auth.AuthBase], adapter: Optional[requests.adapters.BaseAdapter] = None):
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy or netrc from the environment
        if adapter is not None:
            self.session.mount("http://", adapter)
        self.session.auth = auth

    def get(self, url: str) -> Result:
        response = self.session.get(url)
        chain = [*response.history, response]
        return Result(response.status_code, [r.request.headers.get("Authorization") for r in chain])

    def get_status(self, url: str) -> int:
        return self.session.get(url).status_code

    def close(self) -> None:
        self.session.close()


class HttpxClient(Client):
    def __init__(self, auth: Optional[httpx.Auth], transport: Optional[httpx.BaseTransport] = None):
        # httpx's auth flow sends the 401'd Request object again, its headers changed,
        # so the history cannot say what went out first: a request hook records each
        # Authorization as it is sent (per thread, for the threaded measurement).
        self._sent = threading.local()
        self.client = httpx.Client(auth=auth, transport=transport, trust_env=False,
                                   event_hooks={"request": [self._record]})
        self._lean = httpx.Client(auth=auth, transport=transport, trust_env=False)

    def _record(self, request: httpx.Request) -> None:
        self._sent.values.append(request.headers.get("Authorization"))

    def get(self, url: str) -> Result:
        self._sent.values = []
        response = self.client.get(url)
        return Result(response.status_code, self._sent.values)

    def get_status(self, url: str) -> int:
        return self._lean.get(url).status_code

    def close(self) -> None:
        self.client.close()
        self._lean.close()


class AiohttpClient(Client):
    """One ClientSession with one auth middleware (or none), driven from this thread.

    aiohttp keeps no response of a retry a middleware made, so an inner middleware
    records the Authorization of every exchange (for ``get``); ``get_status`` goes
    through a second session with the same middleware object and no recorder."""

    def __init__(self, middleware: Optional[object]):
        self._loop = asyncio.new_event_loop()
        self._sent: List[Optional[str]] = []
        outer = (middleware,) if middleware is not None else ()

        async def make(middlewares: tuple) -> aiohttp.ClientSession:
            return aiohttp.ClientSession(middlewares=middlewares, trust_env=False,
                                         timeout=aiohttp.ClientTimeout(total=30))

        self.session = self._loop.run_until_complete(make((*outer, self._record)))
        self._lean = self._loop.run_until_complete(make(outer))

    async def _record(self, request: aiohttp.ClientRequest, handler) -> aiohttp.ClientResponse:  # type: ignore[no-untyped-def]
        value = request.headers.get("Authorization")
        self._sent.append(None if value is None else value.encode("utf-8").decode("latin-1"))  # the octets sent
        return await handler(request)

    @staticmethod
    async def _get(session: aiohttp.ClientSession, url: str) -> int:
        async with session.get(url) as response:
            await response.read()
            return response.status

    def get(self, url: str) -> Result:
        self._sent = []
        status = self._loop.run_until_complete(self._get(self.session, url))
        return Result(status, list(self._sent))

    def get_status(self, url: str) -> int:
        return self._loop.run_until_complete(self._get(self._lean, url))

    def close(self) -> None:
        self._loop.run_until_complete(self.session.close())
        self._loop.run_until_complete(self._lean.close())
        self._loop.close()


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    library: str  # "requests", "httpx" or "aiohttp": which no-auth baseline it is compared with
    version: str
    schemes: FrozenSet[str]  # what it can answer
    make_auth: Callable[[str, str, str], object]  # (user, password, scheme) -> auth object
    preemptive_only: bool = False  # sends credentials unasked: no challenge at all
    make_adapter: Optional[Callable[[], requests.adapters.BaseAdapter]] = None  # mounted for http://

    def client(self, user: str, password: str, scheme: str, transport: object = None) -> Client:
        auth = self.make_auth(user, password, scheme)
        if transport is None and self.make_adapter is not None:
            transport = self.make_adapter()
        if self.library == "httpx":
            return HttpxClient(auth, transport)  # type: ignore[arg-type]
        if self.library == "aiohttp":
            return AiohttpClient(auth)
        return RequestsClient(auth, transport)  # type: ignore[arg-type]


def _httpx_version() -> str:
    return httpx.__version__


OURS = Contender("ours", "requests-challenge ChallengeAuth", "requests", requests_challenge.__version__,
                 frozenset({DIGEST, BASIC}), lambda u, p, s: ChallengeAuth(u, p))
# The same, with ChallengeAdapter mounted: concurrent first requests wait for one handshake.
OURS_ADAPTER = Contender("ours-adapter", "requests-challenge ChallengeAuth + ChallengeAdapter", "requests",
                         requests_challenge.__version__, frozenset({DIGEST, BASIC}), lambda u, p, s: ChallengeAuth(u, p),
                         make_adapter=lambda: ChallengeAdapter())
REQUESTS_DIGEST = Contender("requests", "requests HTTPDigestAuth", "requests", requests.__version__,
                            frozenset({DIGEST}), lambda u, p, s: HTTPDigestAuth(u, p))
GUESS = Contender("guess", "requests-toolbelt GuessAuth", "requests", requests_toolbelt.__version__,
                  frozenset({DIGEST, BASIC}), lambda u, p, s: GuessAuth(u, p))
HTTPX_DIGEST = Contender("httpx", "httpx DigestAuth", "httpx", _httpx_version(),
                         frozenset({DIGEST}), lambda u, p, s: httpx.DigestAuth(u, p))
OURS_HTTPX = Contender("ours-httpx", "requests-challenge httpx ChallengeAuth", "httpx", requests_challenge.__version__,
                       frozenset({DIGEST, BASIC}), lambda u, p, s: HttpxChallengeAuth(u, p))
AIOHTTP_DIGEST = Contender("aiohttp", "aiohttp DigestAuthMiddleware", "aiohttp", aiohttp.__version__,
                           frozenset({DIGEST}), lambda u, p, s: aiohttp.DigestAuthMiddleware(u, p))
OURS_AIOHTTP = Contender("ours-aiohttp", "requests-challenge aiohttp ChallengeMiddleware", "aiohttp",
                         requests_challenge.__version__, frozenset({DIGEST, BASIC}),
                         lambda u, p, s: ChallengeMiddleware(u, p))
# References for Basic: they send credentials on every request without being asked.
REQUESTS_BASIC = Contender("requests-basic", "requests HTTPBasicAuth (pre-emptive)", "requests", requests.__version__,
                           frozenset({BASIC}), lambda u, p, s: HTTPBasicAuth(u, p), preemptive_only=True)
HTTPX_BASIC = Contender("httpx-basic", "httpx BasicAuth (pre-emptive)", "httpx", _httpx_version(),
                        frozenset({BASIC}), lambda u, p, s: httpx.BasicAuth(u, p), preemptive_only=True)
# No-auth baselines of the throughput ratio.
REQUESTS_NONE = Contender("requests-none", "requests, no auth", "requests", requests.__version__,
                          frozenset(), lambda u, p, s: None)
HTTPX_NONE = Contender("httpx-none", "httpx, no auth", "httpx", _httpx_version(), frozenset(), lambda u, p, s: None)
AIOHTTP_NONE = Contender("aiohttp-none", "aiohttp, no auth", "aiohttp", aiohttp.__version__, frozenset(),
                         lambda u, p, s: None)
NO_AUTH = {"requests": REQUESTS_NONE, "httpx": HTTPX_NONE, "aiohttp": AIOHTTP_NONE}  # baseline per library

CHALLENGE_DRIVEN = (OURS, REQUESTS_DIGEST, GUESS, HTTPX_DIGEST, OURS_HTTPX, AIOHTTP_DIGEST, OURS_AIOHTTP)
ALL = (OURS, OURS_ADAPTER, REQUESTS_DIGEST, GUESS, HTTPX_DIGEST, OURS_HTTPX, AIOHTTP_DIGEST, OURS_AIOHTTP, REQUESTS_BASIC,
       HTTPX_BASIC, REQUESTS_NONE, HTTPX_NONE, AIOHTTP_NONE)


def for_scheme(scheme: str) -> List[Contender]:
    return [c for c in ALL if scheme in c.schemes]


# -- nonce-count reuse --------------------------------------------------------

_NONCE = re.compile(r'nonce="([^"]*)"')
_NC = re.compile(r"\bnc=([0-9A-Fa-f]+)")


def nonce_count_pair(authorization: Optional[str]) -> Optional[Tuple[str, int]]:
    """(nonce, nc) of a sent Digest Authorization, read with a bench-local regex."""
    if not authorization or not authorization[:7].lower() == "digest ":
        return None
    nonce, nc = _NONCE.search(authorization), _NC.search(authorization)
    if nonce is None or nc is None:
        return None
    return nonce.group(1), int(nc.group(1), 16)


def duplicate_nonce_counts(authorizations: List[Optional[str]]) -> int:
    """How many Authorization headers repeated a (nonce, nc) pair sent before."""
    pairs = [p for p in map(nonce_count_pair, authorizations) if p is not None]
    return len(pairs) - len(set(pairs))


# -- canned transports: the whole client path without a network ------------------

CANNED_CHALLENGE = (
    'Digest realm="sha256 realm", charset="UTF-8", algorithm=SHA-256, '
    'nonce="6b05de37:39f6373cc265bb569e56aa45352fc63d916be43d9481fd2500008391d4597c3b", qop="auth"'
)
CANNED_BASIC = 'Basic realm="basic realm", charset="UTF-8"'
CANNED_BODY = b"hello from lighttpd /sha256/\n"


class CannedAdapter(requests.adapters.HTTPAdapter):
    """Answers like lighttpd without a socket: 401 + challenge unless credentials came.

    Credentials are not checked: this measures the client's own work only.
    """

    def __init__(self, challenge: Optional[str] = CANNED_CHALLENGE) -> None:
        super().__init__()
        self.challenge = challenge

    def send(self, request, **kwargs):  # type: ignore[override]
        if self.challenge is not None and "Authorization" not in request.headers:
            status, headers = 401, {"WWW-Authenticate": self.challenge, "Content-Length": "0"}
            body = b""
        else:
            status, body = 200, CANNED_BODY
            headers = {"Content-Type": "text/plain", "Content-Length": str(len(body))}
        raw = HTTPResponse(body=io.BytesIO(body), headers=HTTPHeaderDict(headers), status=status,
                           reason="OK" if status == 200 else "Unauthorized", preload_content=False,
                           decode_content=False)
        return self.build_response(request, raw)


def canned_httpx_transport(challenge: Optional[str] = CANNED_CHALLENGE) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if challenge is not None and "authorization" not in request.headers:
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return httpx.Response(200, content=CANNED_BODY, headers={"Content-Type": "text/plain"})

    return httpx.MockTransport(handler)


def canned_client(contender: Contender, user: str, password: str, challenge: Optional[str] = CANNED_CHALLENGE) -> Client:
    if contender.library == "httpx":
        return contender.client(user, password, DIGEST, canned_httpx_transport(challenge))
    return contender.client(user, password, DIGEST, CannedAdapter(challenge))


def versions() -> Dict[str, str]:
    import platform

    from importlib.metadata import version

    import urllib3

    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "requests-challenge": requests_challenge.__version__,
        "requests": requests.__version__,
        "urllib3": urllib3.__version__,
        "requests-toolbelt": requests_toolbelt.__version__,
        "httpx": httpx.__version__,
        "aiohttp": aiohttp.__version__,
        "werkzeug": version("werkzeug"),
        "www-authenticate": version("www-authenticate"),
    }
