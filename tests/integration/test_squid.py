"""ChallengeAuth's ``proxy_auth`` against squid, a real forward proxy.

Proxy authentication is the same dialogue with other names (407,
Proxy-Authenticate, Proxy-Authorization) and one twist: a request can
meet both a proxy and an origin challenge.  squid sits in front of the
lighttpd fixture over plain HTTP; its access log shows every exchange
between client and proxy, lighttpd's every exchange that got through.
Both are counted by the tag each test step sends (tagging.py): squid
passes the header on to lighttpd, so one tag finds the request in both.
"""

from __future__ import annotations

from collections import Counter
from typing import Tuple

import pytest
import requests

from requests_challenge import ChallengeAuth

from .servers import REQUEST_TIMEOUT, WRONG_PASSWORD, Lighttpd, Squid
from .tagging import exchanges, retag

pytestmark = pytest.mark.integration

PROXIES = [("squid_digest", "Digest"), ("squid_basic", "Basic")]


@pytest.fixture(params=PROXIES, ids=[scheme.lower() for _, scheme in PROXIES])
def proxy(request: pytest.FixtureRequest) -> tuple:
    """(squid fixture, the scheme it demands)."""
    fixture_name, scheme = request.param
    return request.getfixturevalue(fixture_name), scheme


def _via(squid: Squid) -> dict:
    return {"http": squid.proxy_url}


def _through(squid: Squid, origin: Lighttpd, tag: str, *, users: bool = True) -> Tuple[Counter, Counter]:
    """(squid's, lighttpd's) exchanges with ``tag``.

    squid logs every request the client sent; lighttpd every request squid
    passed on, which is each one squid did not answer itself with a 407 --
    so that is how many lighttpd lines to wait for.
    """
    proxied = exchanges(squid, tag, users=users)
    passed_on = sum(n for key, n in proxied.items() if key[0] != 407)
    return proxied, exchanges(origin, tag, users=users, at_least=passed_on)


def test_proxy_authentication(
    proxy, lighttpd: Lighttpd, session: requests.Session, credentials
) -> None:
    """407 + Proxy-Authenticate, one answer, 200 from the open origin."""
    squid, scheme = proxy
    user, password = credentials
    path = "/open/hello.txt"
    url = lighttpd.url(path)
    tag = retag(session)

    r = session.get(
        url,
        proxies=_via(squid),
        auth=ChallengeAuth("origin-user", "origin-password", proxy_auth=(user, password)),
        timeout=REQUEST_TIMEOUT,
    )

    assert r.status_code == 200
    assert r.text == "hello from lighttpd /open/\n"
    assert [h.status_code for h in r.history] == [407]
    assert r.request.headers["Proxy-Authorization"].startswith(f"{scheme} ")
    assert "Authorization" not in r.request.headers  # the origin never asked
    proxied, origin = _through(squid, lighttpd, tag)
    assert proxied == Counter({(407, "GET", url, None): 1, (200, "GET", url, user): 1})
    assert origin == Counter({(200, "GET", path, None): 1})


def test_proxy_offering_basic_and_digest_gets_digest(
    squid_both: Squid, lighttpd: Lighttpd, session: requests.Session, credentials
) -> None:
    """squid lists Basic first; the client must still choose Digest."""
    user, password = credentials
    r = session.get(
        lighttpd.url("/open/hello.txt"),
        proxies=_via(squid_both),
        auth=ChallengeAuth("origin-user", "origin-password", proxy_auth=(user, password)),
        timeout=REQUEST_TIMEOUT,
    )
    challenges = r.history[0].raw.headers.getlist("Proxy-Authenticate") if r.history else []
    assert [c.split()[0] for c in challenges] == ["Basic", "Digest"]
    assert r.status_code == 200
    assert r.request.headers["Proxy-Authorization"].startswith("Digest ")


def test_proxy_and_origin_challenge_in_one_request(
    proxy, lighttpd: Lighttpd, session: requests.Session, credentials
) -> None:
    """407 from squid, then 401 from lighttpd behind it, then 200: both
    credentials end up on the final request."""
    squid, scheme = proxy
    user, password = credentials
    path = "/md5/hello.txt"
    url = lighttpd.url(path)
    tag = retag(session)

    r = session.get(
        url,
        proxies=_via(squid),
        auth=ChallengeAuth(user, password, proxy_auth=(user, password)),
        timeout=REQUEST_TIMEOUT,
    )

    assert r.status_code == 200
    assert [h.status_code for h in r.history] == [407, 401]
    assert r.request.headers["Proxy-Authorization"].startswith(f"{scheme} ")
    assert r.request.headers["Authorization"].startswith("Digest ")
    proxied, origin = _through(squid, lighttpd, tag, users=False)
    assert proxied == Counter({(407, "GET", url): 1, (401, "GET", url): 1, (200, "GET", url): 1})
    assert origin == Counter({(401, "GET", path): 1, (200, "GET", path): 1})


def test_each_request_answers_the_proxy_challenge_once(
    proxy, lighttpd: Lighttpd, session: requests.Session, credentials
) -> None:
    """Proxy credentials are never sent up front by ChallengeAuth: when it runs,
    requests has not yet chosen the proxy, and a guess could hand them to an
    origin. So each request through the proxy costs one 407, never more."""
    squid, _ = proxy
    user, password = credentials
    n = 3
    session.auth = ChallengeAuth("origin-user", "origin-password", proxy_auth=(user, password))
    session.proxies = _via(squid)
    url = lighttpd.url("/open/hello.txt")
    tags, responses = [], []
    for _ in range(n):
        tags.append(retag(session))  # one tag per request: its own exchanges
        responses.append(session.get(url, timeout=REQUEST_TIMEOUT))
    assert [r.status_code for r in responses] == [200] * n
    assert all("Proxy-Authorization" not in r.history[0].request.headers for r in responses)
    once = Counter({(407, "GET", url, None): 1, (200, "GET", url, user): 1})
    assert [exchanges(squid, tag) for tag in tags] == [once] * n


def test_wrong_proxy_password_gives_up_after_one_retry(
    proxy, lighttpd: Lighttpd, session: requests.Session, credentials
) -> None:
    """The 407 is returned after exactly two exchanges with the proxy, and
    nothing reaches the origin."""
    squid, _ = proxy
    user, _ = credentials
    url = lighttpd.url("/open/hello.txt")
    tag = retag(session)
    r = session.get(
        url,
        proxies=_via(squid),
        auth=ChallengeAuth("origin-user", "origin-password", proxy_auth=(user, WRONG_PASSWORD)),
        timeout=REQUEST_TIMEOUT,
    )
    assert r.status_code == 407
    assert len(r.history) == 1
    proxied, origin = _through(squid, lighttpd, tag, users=False)
    assert proxied == Counter({(407, "GET", url): 2})
    assert origin == Counter()
