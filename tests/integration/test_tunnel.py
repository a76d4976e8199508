"""ChallengeAdapter against squid: proxy auth in CONNECT, for https URLs.

squid (Debian's, run by servers.Squid with its own configuration: proxy auth
required, CONNECT allowed to any port) stands in front of an https origin on
127.0.0.1, a TLS `ChallengeServer` with a self-signed certificate that the
client verifies. squid's access log shows each CONNECT: ``407 CONNECT
127.0.0.1:<origin port> -`` for a refusal, ``200 CONNECT ... <user>`` for a
tunnel (logged when the tunnel closes). Each test step's adapter sends its own
tag in every CONNECT (tagging.TaggingChallengeAdapter, through the adapter's
proxy headers), and the test counts squid's lines with that tag as a
multiset: never by their position or order in the log.
"""

from __future__ import annotations

import logging
from collections import Counter
from contextlib import contextmanager
from typing import Iterator, Tuple

import pytest
import requests

from requests_challenge import ChallengeAuth, ProxyAuthenticationError
from requests_challenge.testing import Basic, Digest

from .servers import REQUEST_TIMEOUT, USERS, WRONG_PASSWORD, Lighttpd, Squid, new_tag
from .tagging import TaggingChallengeAdapter, exchanges, tagged_session
from .tunnel_support import (
    ORIGIN_PASSWORD,
    ORIGIN_USER,
    SelfSignedCertificate as Certificate,
    https_origin,
    make_certificate,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tunnel-tls"))


@contextmanager
def tunnel_session(
    squid: Squid, certificate: Certificate, proxy_auth: Tuple[str, str], *, tag: str, **adapter_kwargs: object
) -> Iterator[requests.Session]:
    """A Session whose https requests tunnel through ``squid`` with ChallengeAdapter.

    Every request, and every CONNECT, carries ``tag``. Closed on exit, so
    squid logs its tunnels (when they close) and the test can count them.
    """
    adapter = TaggingChallengeAdapter(tag, proxy_auth=proxy_auth, **adapter_kwargs)  # type: ignore[arg-type]
    session = tagged_session(tag, https=adapter)
    session.proxies = {"https": squid.proxy_url, "http": squid.proxy_url}
    session.verify = certificate.cert
    try:
        yield session
    finally:
        session.close()


def _target(url: str) -> str:
    return url.split("://", 1)[1].rstrip("/")


@pytest.mark.parametrize(
    "origin_offer,origin_scheme",
    [(Basic(), "basic"), (Digest("SHA-256"), "digest")],
    ids=["basic-origin", "digest-sha256-origin"],
)
def test_digest_proxy_in_front_of_an_authenticating_origin(
    squid_digest: Squid, certificate: Certificate, credentials, origin_offer, origin_scheme: str
) -> None:
    user, password = credentials
    tag = new_tag()
    with https_origin(certificate, [origin_offer]) as origin:
        target = _target(origin.url)
        with tunnel_session(squid_digest, certificate, (user, password), tag=tag) as s:
            s.auth = ChallengeAuth(ORIGIN_USER, ORIGIN_PASSWORD)
            r = s.get(origin.url + "/private", timeout=REQUEST_TIMEOUT)
            assert r.status_code == 200
            assert r.json()["user"] == ORIGIN_USER and r.json()["scheme"].lower() == origin_scheme
            if origin_scheme == "digest":
                assert r.json()["algorithm"] == "SHA-256"
            assert [h.status_code for h in r.history] == [401]
        seen = origin.exchanges.snapshot()
    # squid logs a tunnel once both ends closed: after the origin stopped.
    # squid: one refusal, then one tunnel for the 401 and its answer, as `user`.
    assert exchanges(squid_digest, tag, at_least=2) == Counter(
        {(407, "CONNECT", target, None): 1, (200, "CONNECT", target, user): 1}
    )
    # The origin saw its own credentials only (one connection, in its order).
    assert [e.status for e in seen] == [401, 200]
    assert seen[0].authorization is None
    assert seen[1].authorization.lower().startswith(origin_scheme)
    assert user not in seen[1].authorization


def test_basic_proxy(squid_basic: Squid, certificate: Certificate, credentials) -> None:
    user, password = credentials
    tag = new_tag()
    with https_origin(certificate, [Basic()]) as origin:
        target = _target(origin.url)
        with tunnel_session(squid_basic, certificate, (user, password), tag=tag) as s:
            r = s.get(origin.url + "/", auth=ChallengeAuth(ORIGIN_USER, ORIGIN_PASSWORD), timeout=REQUEST_TIMEOUT)
            assert r.status_code == 200 and r.json()["user"] == ORIGIN_USER
    assert exchanges(squid_basic, tag, at_least=2) == Counter(
        {(407, "CONNECT", target, None): 1, (200, "CONNECT", target, user): 1}
    )


def test_proxy_offering_basic_then_digest_gets_digest(
    squid_both: Squid, certificate: Certificate, caplog: pytest.LogCaptureFixture
) -> None:
    user, password = USERS["non-ascii"]
    tag = new_tag()
    with https_origin(certificate, [Basic()]) as origin:
        target = _target(origin.url)
        with caplog.at_level(logging.DEBUG, logger="requests_challenge"):
            with tunnel_session(squid_both, certificate, (user, password), tag=tag) as s:
                r = s.get(origin.url + "/", auth=ChallengeAuth(ORIGIN_USER, ORIGIN_PASSWORD), timeout=REQUEST_TIMEOUT)
                assert r.status_code == 200
    assert exchanges(squid_both, tag, at_least=2) == Counter(
        {(407, "CONNECT", target, None): 1, (200, "CONNECT", target, user): 1}
    )
    answers = [rec.getMessage() for rec in caplog.records if "answering the proxy's challenge" in rec.getMessage()]
    assert len(answers) == 1 and "with Digest MD5" in answers[0]
    assert password not in caplog.text


@pytest.mark.parametrize("fixture_name,scheme", [("squid_digest", "Digest MD5"), ("squid_basic", "Basic")])
def test_wrong_proxy_password(
    request: pytest.FixtureRequest, certificate: Certificate, credentials, fixture_name: str, scheme: str
) -> None:
    squid: Squid = request.getfixturevalue(fixture_name)
    user, _ = credentials
    tag = new_tag()
    with https_origin(certificate, [Basic()]) as origin:
        target = _target(origin.url)
        with tunnel_session(squid, certificate, (user, WRONG_PASSWORD), tag=tag) as s:
            with pytest.raises(requests.exceptions.ProxyError) as info:
                s.get(origin.url + "/", timeout=REQUEST_TIMEOUT)
        seen = origin.exchanges.snapshot()
    assert isinstance(info.value, ProxyAuthenticationError)
    message = str(info.value)
    assert "authentication failed" in message and scheme in message
    assert WRONG_PASSWORD not in message
    # exactly two CONNECTs, both refused
    assert exchanges(squid, tag, at_least=2, users=False) == Counter({(407, "CONNECT", target): 2})
    assert seen == []  # nothing reached the origin


@pytest.mark.parametrize("fixture_name", ["squid_digest", "squid_basic"])
def test_twenty_requests_cost_one_407(request: pytest.FixtureRequest, certificate: Certificate, fixture_name: str) -> None:
    """One Session: the tunnel is reused; and across new tunnels, the nonce is."""
    squid: Squid = request.getfixturevalue(fixture_name)
    user, password = USERS["ascii"]
    tag = new_tag()
    with https_origin(certificate, [Digest("SHA-256")]) as origin:
        target = _target(origin.url)
        with tunnel_session(squid, certificate, (user, password), tag=tag) as s:
            s.auth = ChallengeAuth(ORIGIN_USER, ORIGIN_PASSWORD)
            statuses = [s.get(origin.url + f"/item/{i}", timeout=REQUEST_TIMEOUT).status_code for i in range(20)]
    assert statuses == [200] * 20
    # one tunnel for all twenty
    assert exchanges(squid, tag, at_least=2) == Counter(
        {(407, "CONNECT", target, None): 1, (200, "CONNECT", target, user): 1}
    )

    tag = new_tag()
    with https_origin(certificate, [Digest("SHA-256")]) as origin:
        target = _target(origin.url)
        with tunnel_session(squid, certificate, (user, password), tag=tag) as s:
            s.auth = ChallengeAuth(ORIGIN_USER, ORIGIN_PASSWORD)
            adapter = s.get_adapter(origin.url)
            for i in range(20):
                assert s.get(origin.url + f"/fresh/{i}", timeout=REQUEST_TIMEOUT).status_code == 200
                adapter.close()  # the next request needs a new tunnel: credentials go up front
    # twenty tunnels, and only the very first CONNECT was refused
    assert exchanges(squid, tag, at_least=21) == Counter(
        {(407, "CONNECT", target, None): 1, (200, "CONNECT", target, user): 20}
    )


def test_plain_http_through_the_same_proxy_is_left_to_challenge_auth(
    squid_digest: Squid, lighttpd: Lighttpd, certificate: Certificate
) -> None:
    """One Session, both kinds of URL: https via CONNECT (ChallengeAdapter),
    http via the forwarding proxy (ChallengeAuth(proxy_auth=...))."""
    user, password = USERS["non-ascii"]
    tag = new_tag()
    url = lighttpd.url("/open/hello.txt")
    with https_origin(certificate, [Digest("SHA-256")]) as origin:
        target = _target(origin.url)
        with tunnel_session(squid_digest, certificate, (user, password), tag=tag) as s:
            s.auth = ChallengeAuth(ORIGIN_USER, ORIGIN_PASSWORD, proxy_auth=(user, password))
            secure = s.get(origin.url + "/", timeout=REQUEST_TIMEOUT)
            plain = s.get(url, timeout=REQUEST_TIMEOUT)
        assert secure.status_code == 200 and secure.json()["user"] == ORIGIN_USER
        assert [h.status_code for h in secure.history] == [401]  # the proxy's 407 was met in CONNECT
        assert plain.status_code == 200 and plain.text == "hello from lighttpd /open/\n"
        assert [h.status_code for h in plain.history] == [407]
        assert plain.request.headers["Proxy-Authorization"].startswith("Digest ")
        assert "Proxy-Authorization" not in secure.request.headers
    # squid, by this session's tag: the https URL cost one refused CONNECT and
    # one tunnel; the http URL one 407 and its answer, both as `user`.
    assert exchanges(squid_digest, tag, at_least=4) == Counter({
        (407, "CONNECT", target, None): 1, (200, "CONNECT", target, user): 1,
        (407, "GET", url, None): 1, (200, "GET", url, user): 1,
    })
