"""Negotiate and NTLM proxy authentication: plain HTTP and CONNECT.

Acceptance tests for the API:

    ChallengeAuth(u, p, proxy_auth=(pu, pp))   # a plain-HTTP proxy's 407 with Negotiate/NTLM too
    ChallengeAdapter(proxy_auth=(pu, pp))      # the 407 to CONNECT with Negotiate/NTLM (mounted for https://)

Proxies (all addressed as ``http://localhost:PORT``, the SPN being HTTP/localhost):

* ``gss_proxy``: Apache mod_proxy + mod_auth_gssapi, ``407`` with
  ``Proxy-Authenticate: Negotiate`` and ``Proxy-Authenticate: NTLM``; real
  checks for both (KDC, gss-ntlmssp users file), connection-bound.
* ``squid_kerberos``: squid with negotiate_kerberos_auth, ``Proxy-Authenticate:
  Negotiate`` only (Kerberos only: it refuses NTLM wrapped in SPNEGO).
* ``squid_ntlm``: squid with ntlm_fake_auth, ``Proxy-Authenticate: NTLM`` only;
  ANY password passes, so it serves NTLM happy paths only, and it garbles the
  user name it reports (only "some user" is checked).
* ``squid_negotiate_ntlm``: squid offering Negotiate, then NTLM.

The origins ask for nothing: ``open_origin`` (http://127.0.0.1) and
``tls_origin`` (https://127.0.0.1, a self-signed certificate the client trusts).
Each CONNECT test's adapter tags its CONNECTs (tagging.TaggingChallengeAdapter).
Both proxies log a tunnel only when it closes -- Apache only once the CLIENT
closed it, even after the origin hung up.  With urllib3 2.x ``Session.close()``
does not close pooled connections (``PoolManager.clear()`` drops its pools
without closing them; a pool closes when garbage-collected, and a Response keeps
its pool alive), so :func:`tunnel_session` closes the adapter's pools itself
before counting: nothing depends on the garbage collector.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple

import pytest
import requests
import requests.adapters

from requests_challenge import ChallengeAuth, ProxyAuthenticationError
from requests_challenge.testing import ChallengeServer, SelfSignedCertificate

from ..servers import REQUEST_TIMEOUT, WRONG_PASSWORD, new_tag
from ..tagging import TaggingChallengeAdapter, exchanges, retag, tagged_session
from .support import (
    KERBEROS_PASSWORD,
    KERBEROS_USER,
    NTLM_PASSWORD,
    NTLM_USER,
    SeenToken,
)

pytestmark = pytest.mark.integration

KERBEROS = (KERBEROS_USER, KERBEROS_PASSWORD)
NTLM = (NTLM_USER, NTLM_PASSWORD)
#: A refused proxy login: the request without credentials, then at most two
#: NTLM handshakes of two legs each (Kerberos needs fewer).
MAX_REFUSED_EXCHANGES = 5


def _proxy(request: pytest.FixtureRequest, name: str):
    return request.getfixturevalue(name)


def _no_ntlm(tokens: "list[SeenToken]") -> None:
    """Where NTLM is not allowed: no NTLM message, not even the NTLM OID in
    SPNEGO's mechTypes."""
    assert not [t for t in tokens if t.carries_ntlm], f"NTLM went to the proxy: {tokens}"


def _no_ntlm_message(tokens: "list[SeenToken]") -> None:
    """Where NTLM is allowed but Kerberos works: no NTLM message was needed."""
    assert not [t for t in tokens if t.ntlm_message], f"an NTLM message went to the proxy: {tokens}"


def _check_logged_user(users: "list[Optional[str]]", expected: Optional[str]) -> None:
    """One authenticated line, as ``expected`` -- or, for ntlm_fake_auth (which
    garbles names: pyspnego's EXAMPLE\\bob is logged as E\\b), as anyone."""
    assert len(users) == 1, users
    if expected is None:
        assert users[0] is not None
    else:
        assert users[0] == expected


def _authorizations(origin: ChallengeServer, path: str) -> "list[Optional[str]]":
    return [e.authorization for e in origin.exchanges.snapshot() if e.path == path]


# --------------------------------------------------------------------------
# Plain HTTP through the proxy: ChallengeAuth(..., proxy_auth=...)
# --------------------------------------------------------------------------

PLAIN_CASES = [
    pytest.param("gss_proxy", KERBEROS, 1, KERBEROS_USER, id="apache-kerberos"),
    pytest.param("gss_proxy", NTLM, 2, "EXAMPLE\\\\bob", id="apache-ntlm"),
    pytest.param("squid_kerberos", KERBEROS, 1, KERBEROS_USER, id="squid-kerberos"),
    pytest.param("squid_ntlm", NTLM, 2, None, id="squid-ntlm"),
]


@pytest.mark.parametrize("proxy_name,proxy_auth,refusals,logged_user", PLAIN_CASES)
def test_plain_http_through_the_proxy(request: pytest.FixtureRequest, open_origin: ChallengeServer,
                                      session: requests.Session, proxy_name: str, proxy_auth: Tuple[str, str],
                                      refusals: int, logged_user: Optional[str]) -> None:
    proxy = _proxy(request, proxy_name)
    session.proxies = {"http": proxy.proxy_url}
    session.auth = ChallengeAuth(KERBEROS_USER, KERBEROS_PASSWORD, proxy_auth=proxy_auth)
    tag = retag(session)
    path = f"/plain/{tag}"
    url = open_origin.url + path
    r = session.get(url, timeout=REQUEST_TIMEOUT)
    assert r.status_code == 200 and r.json()["path"] == path
    # Kerberos: 407, then 200.  NTLM: 407, 407 (CHALLENGE), then 200.
    lines = exchanges(proxy, tag, users=False)
    assert lines == Counter({(407, "GET", url): refusals, (200, "GET", url): 1})
    users = [line.user for line in proxy.log.tagged(tag, at_least=refusals + 1) if line.status == 200]
    _check_logged_user(users, logged_user)
    # The origin asked for nothing and got nothing.
    assert _authorizations(open_origin, path) == [None]


@pytest.mark.parametrize("proxy_name", ["gss_proxy", "squid_negotiate_ntlm"])
def test_proxy_offering_negotiate_and_ntlm_gets_kerberos(request: pytest.FixtureRequest, open_origin: ChallengeServer,
                                                          session: requests.Session, proxy_name: str) -> None:
    proxy = _proxy(request, proxy_name)
    session.proxies = {"http": proxy.proxy_url}
    session.auth = ChallengeAuth(KERBEROS_USER, KERBEROS_PASSWORD, proxy_auth=KERBEROS)
    tag = retag(session)
    url = open_origin.url + f"/plain/{tag}"
    r = session.get(url, timeout=REQUEST_TIMEOUT)
    assert r.status_code == 200
    assert exchanges(proxy, tag) == Counter({(407, "GET", url, None): 1, (200, "GET", url, KERBEROS_USER): 1})
    tokens = proxy.tokens.seen(tag)
    assert [t.header for t in tokens] == ["Proxy-Authorization"] and tokens[0].carries_kerberos
    _no_ntlm_message(tokens)


@pytest.mark.parametrize("proxy_name,proxy_user", [
    pytest.param("gss_proxy", KERBEROS_USER, id="apache-kerberos"),
    pytest.param("gss_proxy", NTLM_USER, id="apache-ntlm"),
    pytest.param("squid_kerberos", KERBEROS_USER, id="squid-kerberos"),
])
def test_wrong_proxy_password_returns_the_final_407(request: pytest.FixtureRequest, open_origin: ChallengeServer,
                                                    session: requests.Session, proxy_name: str, proxy_user: str) -> None:
    proxy = _proxy(request, proxy_name)
    session.proxies = {"http": proxy.proxy_url}
    session.auth = ChallengeAuth(KERBEROS_USER, KERBEROS_PASSWORD, proxy_auth=(proxy_user, WRONG_PASSWORD))
    tag = retag(session)
    url = open_origin.url + f"/plain/{tag}"
    r = session.get(url, timeout=REQUEST_TIMEOUT)
    assert r.status_code == 407
    lines = exchanges(proxy, tag, users=False)
    assert set(lines) == {(407, "GET", url)}
    assert sum(lines.values()) <= MAX_REFUSED_EXCHANGES, lines
    assert _authorizations(open_origin, f"/plain/{tag}") == []  # never reached


# --------------------------------------------------------------------------
# CONNECT: ChallengeAdapter(proxy_auth=...)
# --------------------------------------------------------------------------


@contextmanager
def tunnel_session(proxy, certificate: SelfSignedCertificate, proxy_auth: Tuple[str, str], *, tag: str,
                   **adapter_kwargs: object) -> Iterator[requests.Session]:
    adapter = TaggingChallengeAdapter(tag, proxy_auth=proxy_auth, **adapter_kwargs)  # type: ignore[arg-type]
    session = tagged_session(tag, https=adapter)
    session.proxies = {"https": proxy.proxy_url}
    session.verify = certificate.cert
    try:
        yield session
    finally:
        close_tunnels(adapter)
        session.close()


def close_tunnels(adapter: requests.adapters.HTTPAdapter) -> None:
    """Close every pooled connection of the adapter's proxy managers now."""
    for manager in adapter.proxy_manager.values():
        for key in list(manager.pools.keys()):
            pool = manager.pools.get(key)
            if pool is not None:
                pool.close()


CONNECT_CASES = [
    pytest.param("gss_proxy", KERBEROS, 1, KERBEROS_USER, id="apache-kerberos"),
    pytest.param("gss_proxy", NTLM, 2, "EXAMPLE\\\\bob", id="apache-ntlm"),
    pytest.param("squid_kerberos", KERBEROS, 1, KERBEROS_USER, id="squid-kerberos"),
    pytest.param("squid_ntlm", NTLM, 2, None, id="squid-ntlm"),
]


@pytest.mark.parametrize("proxy_name,proxy_auth,refusals,logged_user", CONNECT_CASES)
def test_connect_through_the_proxy(request: pytest.FixtureRequest, tls_origin, proxy_name: str,
                                   proxy_auth: Tuple[str, str], refusals: int, logged_user: Optional[str]) -> None:
    proxy = _proxy(request, proxy_name)
    origin, certificate = tls_origin
    target = origin.url.split("://", 1)[1].rstrip("/")
    tag = new_tag()
    path = f"/tunnel/{tag}"
    with tunnel_session(proxy, certificate, proxy_auth, tag=tag) as s:
        for _ in range(3):
            r = s.get(origin.url + path, timeout=REQUEST_TIMEOUT)
            assert r.status_code == 200 and r.json()["path"] == path
    # One tunnel, opened after `refusals` 407s; the three requests share it.
    lines = exchanges(proxy, tag, users=False, at_least=refusals + 1)
    assert lines == Counter({(407, "CONNECT", target): refusals, (200, "CONNECT", target): 1})
    users = [line.user for line in proxy.log.tagged(tag, at_least=refusals + 1) if line.status == 200]
    _check_logged_user(users, logged_user)
    assert _authorizations(origin, path) == [None, None, None]


def test_connect_offering_negotiate_and_ntlm_gets_kerberos(gss_proxy, tls_origin) -> None:
    origin, certificate = tls_origin
    target = origin.url.split("://", 1)[1].rstrip("/")
    tag = new_tag()
    with tunnel_session(gss_proxy, certificate, KERBEROS, tag=tag) as s:
        assert s.get(origin.url + f"/tunnel/{tag}", timeout=REQUEST_TIMEOUT).status_code == 200
    assert exchanges(gss_proxy, tag, at_least=2) == Counter({
        (407, "CONNECT", target, None): 1, (200, "CONNECT", target, KERBEROS_USER): 1,
    })
    tokens = gss_proxy.tokens.seen(tag)
    assert [t.header for t in tokens] == ["Proxy-Authorization"] and tokens[0].carries_kerberos
    _no_ntlm_message(tokens)


@pytest.mark.parametrize("proxy_name,proxy_user,schemes", [
    pytest.param("gss_proxy", KERBEROS_USER, {"negotiate"}, id="apache-kerberos"),
    pytest.param("gss_proxy", NTLM_USER, {"negotiate", "ntlm"}, id="apache-ntlm"),
    pytest.param("squid_kerberos", KERBEROS_USER, {"negotiate"}, id="squid-kerberos"),
])
def test_connect_with_a_wrong_password_raises_a_proxy_error(request: pytest.FixtureRequest, tls_origin,
                                                            proxy_name: str, proxy_user: str, schemes: set) -> None:
    """A ProxyError subclass that names the scheme it tried (bob may try NTLM
    raw or inside Negotiate: the Apache proxy offers and takes both)."""
    proxy = _proxy(request, proxy_name)
    origin, certificate = tls_origin
    target = origin.url.split("://", 1)[1].rstrip("/")
    tag = new_tag()
    with tunnel_session(proxy, certificate, (proxy_user, WRONG_PASSWORD), tag=tag) as s:
        with pytest.raises(requests.exceptions.ProxyError) as info:
            s.get(origin.url + f"/tunnel/{tag}", timeout=REQUEST_TIMEOUT)
    assert isinstance(info.value, ProxyAuthenticationError)
    message = str(info.value)
    assert WRONG_PASSWORD not in message
    lines = exchanges(proxy, tag, users=False, at_least=1)
    assert set(lines) == {(407, "CONNECT", target)}
    assert sum(lines.values()) <= MAX_REFUSED_EXCHANGES, lines
    tried = {t.scheme.lower() for t in proxy.tokens.seen(tag)}
    assert tried <= schemes, tried
    named = {scheme for scheme in schemes if scheme in message.lower()}
    # It names the scheme it sent (or, if it could send nothing -- no
    # Kerberos ticket for a wrong password -- the scheme it could not answer).
    assert named and (not tried or tried <= named), (message, tried)


def test_connect_negotiate_only_never_falls_back_to_ntlm(gss_proxy, tls_origin) -> None:
    """The Apache proxy takes NTLM too, and alice has NTLM credentials there:
    ChallengeAdapter(schemes=("negotiate",)) with a wrong password must fail
    without a single NTLM token."""
    origin, certificate = tls_origin
    tag = new_tag()
    with tunnel_session(gss_proxy, certificate, (KERBEROS_USER, WRONG_PASSWORD), tag=tag,
                        schemes=("negotiate",)) as s:
        with pytest.raises(ProxyAuthenticationError):
            s.get(origin.url + f"/tunnel/{tag}", timeout=REQUEST_TIMEOUT)
    lines = exchanges(gss_proxy, tag, users=False, at_least=1)
    assert sum(lines.values()) <= MAX_REFUSED_EXCHANGES, lines
    _no_ntlm(gss_proxy.tokens.seen(tag))
