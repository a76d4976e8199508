"""Count a test's own exchanges in a server's access log by a request header.

Every server logs the value of :data:`~.servers.TAG_HEADER` (see
servers.py).  A test step sends one fresh value on every request it makes,
and afterwards counts the lines logged with that value, as a multiset:

    tag = retag(session)                 # this step's exchanges from here on
    r = session.get(url, auth=ChallengeAuth(user, password))
    assert exchanges(server, tag) == Counter({
        (401, "GET", "/md5/hello.txt", None): 1,
        (200, "GET", "/md5/hello.txt", user): 1,
    })

Nothing depends on where a line lands in the log or on the order of lines:
servers write lines from different connections in no fixed order (Apache's
worker threads; squid logs a tunnel when it closes), and readiness probes or
other tests' requests carry no tag or another one.

Every exchange of one call carries the tag: it is a session header, which
requests copies onto each redirect hop, and ChallengeAuth's retries copy the
request's headers.  A CONNECT request gets its headers from the adapter's
proxy headers instead, so :class:`TaggingChallengeAdapter` adds the tag there
(``HTTPAdapter.proxy_headers``; ChallengeAdapter passes urllib3's tunnel
headers on, Proxy-Authorization aside) and squid logs it on each CONNECT.

When is everything logged?  A server writes a line only after its response
went out, so the lines can trail the responses.  :class:`TaggingAdapter`
counts every request it sends per tag (redirect hops and ChallengeAuth's
retries go through ``adapter.send`` too); :func:`exchanges` waits until the
server logged at least that many lines with the tag.  An exchange the client
made but should not have is therefore waited for and seen, not raced past.
Where the client's count does not apply (an origin behind a proxy, the
proxy's CONNECTs) the caller says how many lines to wait for.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Optional, Tuple, Union

import requests
from requests.adapters import HTTPAdapter

from requests_challenge import ChallengeAdapter

from .servers import TAG_HEADER, LogLine, ServerProcess, new_tag

__all__ = [
    "TAG_HEADER", "SENT", "TaggingAdapter", "TaggingChallengeAdapter",
    "tagged_session", "retag", "logged_lines", "exchanges",
]

#: How many requests went out per tag, counted by the tagging adapters.
SENT: "Counter[str]" = Counter()

#: (status, method, target, user) -- or without the user, see exchanges().
Exchange = Union[Tuple[int, str, str, Optional[str]], Tuple[int, str, str]]


class _CountsSends:
    """Adapter mix-in: count each request sent, by its tag."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        tag = request.headers.get(TAG_HEADER)
        if tag:
            SENT[tag if isinstance(tag, str) else tag.decode("latin-1")] += 1
        return super().send(request, *args, **kwargs)  # type: ignore[misc]


class TaggingAdapter(_CountsSends, HTTPAdapter):
    """A plain HTTPAdapter that counts what it sends per tag."""


class TaggingChallengeAdapter(_CountsSends, ChallengeAdapter):
    """ChallengeAdapter that counts what it sends and tags its CONNECTs.

    The tag goes into the proxy headers, which requests asks for once, when
    it first builds the proxy manager of a proxy: one adapter, one tag.
    """

    def __init__(self, tag: str, **kwargs: Any) -> None:
        self.tag = tag
        super().__init__(**kwargs)

    def proxy_headers(self, proxy: str) -> dict:
        headers = super().proxy_headers(proxy)
        headers[TAG_HEADER] = self.tag
        return headers


def tagged_session(tag: Optional[str] = None, https: Optional[HTTPAdapter] = None) -> requests.Session:
    """A Session that ignores the environment and sends ``tag`` (or a fresh
    one) on every request, through counting adapters (``https`` replaces
    the one for https:// URLs, e.g. a :class:`TaggingChallengeAdapter`)."""
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", TaggingAdapter())
    session.mount("https://", https if https is not None else TaggingAdapter())
    session.headers[TAG_HEADER] = tag or new_tag()
    return session


def retag(session: requests.Session) -> str:
    """Give ``session`` a fresh tag and return it: the exchanges counted
    under it are the ones from here on.  (A TaggingChallengeAdapter's
    CONNECTs keep the tag the adapter was made with.)"""
    tag = new_tag()
    session.headers[TAG_HEADER] = tag
    return tag


def logged_lines(server: ServerProcess, tag: str, *, at_least: Optional[int] = None) -> "list[LogLine]":
    """The lines ``server`` logged with ``tag``, in no meaningful order.

    Waits until there are at least ``at_least`` of them; by default as many
    as the client sent with ``tag`` -- right for a server that sees every
    request (an origin reached directly, or squid for plain-HTTP requests).
    """
    if at_least is None:
        at_least = SENT[tag]
        if at_least == 0:
            raise ValueError(
                f"no request with tag {tag} went through a tagging adapter; "
                "say how many lines to wait for (at_least=)"
            )
    return server.log.tagged(tag, at_least=at_least)


def exchanges(
    server: ServerProcess, tag: str, *, users: bool = True, at_least: Optional[int] = None
) -> "Counter[Exchange]":
    """The exchanges ``server`` logged with ``tag`` as a multiset of
    ``(status, method, target, user)``, or ``(status, method, target)`` with
    ``users=False`` (what a server logs as the user of a refused request is
    its own business).  Waits as :func:`logged_lines` does."""
    lines = logged_lines(server, tag, at_least=at_least)
    if users:
        return Counter((line.status, line.method, line.target, line.user) for line in lines)
    return Counter((line.status, line.method, line.target) for line in lines)
