"""ChallengeAdapter against squid: proxy auth in CONNECT, for https URLs.

squid (Debian's, run by servers.Squid with its own configuration: proxy auth
required, CONNECT allowed to any port) stands in front of an https origin on
127.0.0.1, a TLS `ChallengeServer` with a self-signed certificate that the
client verifies. squid's access log shows each CONNECT: ``407 CONNECT
127.0.0.1:<origin port> -`` for a refusal, ``200 CONNECT ... <user>`` for a
tunnel (logged when the tunnel closes).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator, Tuple

import pytest
import requests

from requests_challenge import ChallengeAuth
from requests_challenge._tunnel import ChallengeAdapter, ProxyAuthenticationError
from requests_challenge.testing import Basic, Digest

from .servers import REQUEST_TIMEOUT, USERS, WRONG_PASSWORD, Lighttpd, Squid
from .tunnel_support import (
    ORIGIN_PASSWORD,
    ORIGIN_USER,
    SelfSignedCertificate as Certificate,
    https_origin,
    make_certificate,
    tunnel_lines,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tunnel-tls"))


@contextmanager
def tunnel_session(
    squid: Squid, certificate: Certificate, proxy_auth: Tuple[str, str], **adapter_kwargs: object
) -> Iterator[requests.Session]:
    """A Session whose https requests tunnel through ``squid`` with ChallengeAdapter.

    Closed on exit, so squid logs its tunnels before the test counts them.
    """
    session = requests.Session()
    session.trust_env = False
    session.mount("https://", ChallengeAdapter(proxy_auth=proxy_auth, **adapter_kwargs))  # type: ignore[arg-type]
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
    with https_origin(certificate, [origin_offer]) as origin:
        mark = squid_digest.log.mark()
        target = _target(origin.url)
        with tunnel_session(squid_digest, certificate, (user, password)) as s:
            s.auth = ChallengeAuth(ORIGIN_USER, ORIGIN_PASSWORD)
            r = s.get(origin.url + "/private", timeout=REQUEST_TIMEOUT)
            assert r.status_code == 200
            assert r.json()["user"] == ORIGIN_USER and r.json()["scheme"].lower() == origin_scheme
            if origin_scheme == "digest":
                assert r.json()["algorithm"] == "SHA-256"
            assert [h.status_code for h in r.history] == [401]
        exchanges = origin.exchanges.snapshot()
    # squid logs a tunnel once both ends closed: after the origin stopped.
    lines = tunnel_lines(squid_digest, mark, target, tunnels=1)
    # squid: one refusal, then one tunnel for the 401 and its answer, as `user`.
    assert [(line.status, line.user) for line in lines] == [(407, None), (200, user)]
    # The origin saw its own credentials only.
    assert [e.status for e in exchanges] == [401, 200]
    assert exchanges[0].authorization is None
    assert exchanges[1].authorization.lower().startswith(origin_scheme)
    assert user not in exchanges[1].authorization


def test_basic_proxy(squid_basic: Squid, certificate: Certificate, credentials) -> None:
    user, password = credentials
    with https_origin(certificate, [Basic()]) as origin:
        mark = squid_basic.log.mark()
        target = _target(origin.url)
        with tunnel_session(squid_basic, certificate, (user, password)) as s:
            r = s.get(origin.url + "/", auth=ChallengeAuth(ORIGIN_USER, ORIGIN_PASSWORD), timeout=REQUEST_TIMEOUT)
            assert r.status_code == 200 and r.json()["user"] == ORIGIN_USER
    lines = tunnel_lines(squid_basic, mark, target, tunnels=1)
    assert [(line.status, line.user) for line in lines] == [(407, None), (200, user)]


def test_proxy_offering_basic_then_digest_gets_digest(
    squid_both: Squid, certificate: Certificate, caplog: pytest.LogCaptureFixture
) -> None:
    user, password = USERS["non-ascii"]
    with https_origin(certificate, [Basic()]) as origin:
        mark = squid_both.log.mark()
        target = _target(origin.url)
        with caplog.at_level(logging.DEBUG, logger="requests_challenge"):
            with tunnel_session(squid_both, certificate, (user, password)) as s:
                r = s.get(origin.url + "/", auth=ChallengeAuth(ORIGIN_USER, ORIGIN_PASSWORD), timeout=REQUEST_TIMEOUT)
                assert r.status_code == 200
    lines = tunnel_lines(squid_both, mark, target, tunnels=1)
    assert [(line.status, line.user) for line in lines] == [(407, None), (200, user)]
    answers = [rec.getMessage() for rec in caplog.records if "answering the proxy's challenge" in rec.getMessage()]
    assert len(answers) == 1 and "with Digest MD5" in answers[0]
    assert password not in caplog.text


@pytest.mark.parametrize("fixture_name,scheme", [("squid_digest", "Digest MD5"), ("squid_basic", "Basic")])
def test_wrong_proxy_password(
    request: pytest.FixtureRequest, certificate: Certificate, credentials, fixture_name: str, scheme: str
) -> None:
    squid: Squid = request.getfixturevalue(fixture_name)
    user, _ = credentials
    with https_origin(certificate, [Basic()]) as origin:
        mark = squid.log.mark()
        target = _target(origin.url)
        with tunnel_session(squid, certificate, (user, WRONG_PASSWORD)) as s:
            with pytest.raises(requests.exceptions.ProxyError) as info:
                s.get(origin.url + "/", timeout=REQUEST_TIMEOUT)
        exchanges = origin.exchanges.snapshot()
    lines = tunnel_lines(squid, mark, target, tunnels=0)
    assert isinstance(info.value, ProxyAuthenticationError)
    message = str(info.value)
    assert "authentication failed" in message and scheme in message
    assert WRONG_PASSWORD not in message
    assert [line.status for line in lines] == [407, 407]  # exactly two CONNECTs
    assert exchanges == []  # nothing reached the origin


@pytest.mark.parametrize("fixture_name", ["squid_digest", "squid_basic"])
def test_twenty_requests_cost_one_407(request: pytest.FixtureRequest, certificate: Certificate, fixture_name: str) -> None:
    """One Session: the tunnel is reused; and across new tunnels, the nonce is."""
    squid: Squid = request.getfixturevalue(fixture_name)
    user, password = USERS["ascii"]
    with https_origin(certificate, [Digest("SHA-256")]) as origin:
        mark = squid.log.mark()
        target = _target(origin.url)
        with tunnel_session(squid, certificate, (user, password)) as s:
            s.auth = ChallengeAuth(ORIGIN_USER, ORIGIN_PASSWORD)
            statuses = [s.get(origin.url + f"/item/{i}", timeout=REQUEST_TIMEOUT).status_code for i in range(20)]
    assert statuses == [200] * 20
    lines = tunnel_lines(squid, mark, target, tunnels=1)
    assert [line.status for line in lines] == [407, 200]  # one tunnel for all twenty

    with https_origin(certificate, [Digest("SHA-256")]) as origin:
        mark = squid.log.mark()
        target = _target(origin.url)
        with tunnel_session(squid, certificate, (user, password)) as s:
            s.auth = ChallengeAuth(ORIGIN_USER, ORIGIN_PASSWORD)
            adapter = s.get_adapter(origin.url)
            for i in range(20):
                assert s.get(origin.url + f"/fresh/{i}", timeout=REQUEST_TIMEOUT).status_code == 200
                adapter.close()  # the next request needs a new tunnel: credentials go up front
    lines = tunnel_lines(squid, mark, target, tunnels=20)
    assert [line.status for line in lines].count(407) == 1
    assert [line.status for line in lines].count(200) == 20
    assert {line.user for line in lines if line.status == 200} == {user}


def test_plain_http_through_the_same_proxy_is_left_to_challenge_auth(
    squid_digest: Squid, lighttpd: Lighttpd, certificate: Certificate
) -> None:
    """One Session, both kinds of URL: https via CONNECT (ChallengeAdapter),
    http via the forwarding proxy (ChallengeAuth(proxy_auth=...))."""
    user, password = USERS["non-ascii"]
    with https_origin(certificate, [Digest("SHA-256")]) as origin:
        with tunnel_session(squid_digest, certificate, (user, password)) as s:
            s.auth = ChallengeAuth(ORIGIN_USER, ORIGIN_PASSWORD, proxy_auth=(user, password))
            secure = s.get(origin.url + "/", timeout=REQUEST_TIMEOUT)
            plain = s.get(lighttpd.url("/open/hello.txt"), timeout=REQUEST_TIMEOUT)
        assert secure.status_code == 200 and secure.json()["user"] == ORIGIN_USER
        assert [h.status_code for h in secure.history] == [401]  # the proxy's 407 was met in CONNECT
        assert plain.status_code == 200 and plain.text == "hello from lighttpd /open/\n"
        assert [h.status_code for h in plain.history] == [407]
        assert plain.request.headers["Proxy-Authorization"].startswith("Digest ")
        assert "Proxy-Authorization" not in secure.request.headers
        mark = squid_digest.log.mark()
        target = _target(origin.url)
    tunnel_lines(squid_digest, mark, target, tunnels=1)  # logged before the next test
