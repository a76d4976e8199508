"""Session fixtures: a Kerberos realm and the Negotiate/NTLM servers around it.

Every server starts at most once per session, only when a test asks for it,
on 127.0.0.1 (addressed as ``localhost``), and is stopped by its PID.  Missing
Debian packages skip, or fail under REQUESTS_CHALLENGE_REQUIRE_SERVERS=1 (see
servers.unavailable).

``kerberos_realm`` puts the realm's private ``KRB5_CONFIG`` and ``KRB5CCNAME``
into os.environ for the rest of the session (the clients -- curl, kinit,
pyspnego, requests_challenge -- read them from there) and restores the old
values at teardown.  /etc/krb5.conf is never read by anything here.  The
keytab and the NTLM users file never enter the test process's environment:
each server gets them on its own command line.

Fixtures (all session-scoped unless said otherwise):

=====================  =====================================================
kerberos_realm         support.KerberosRealm: the KDC of EXAMPLE.TEST
ticket_cache           (function) kinit alice into the private ccache; yields
                       her principal; kdestroy afterwards
gss_apache             support.GssApache: origin, /krb/ /ntlm/ /all/ /open/
gss_proxy              support.GssApacheProxy: forward proxy, Negotiate+NTLM
squid_kerberos         support.NegotiateSquid offering Negotiate only
squid_ntlm             support.NegotiateSquid offering NTLM only (fake check)
squid_negotiate_ntlm   support.NegotiateSquid offering Negotiate, then NTLM
epa_server             support.EpaServer: https, channel bindings required
open_origin            ChallengeServer(protected=()) on http://127.0.0.1
tls_origin             (ChallengeServer(protected=(), ssl_context=...),
                       SelfSignedCertificate) on https://127.0.0.1
=====================  =====================================================
"""

from __future__ import annotations

import os
from typing import Iterator, Tuple, Type

import pytest

from requests_challenge.testing import ChallengeServer, SelfSignedCertificate, self_signed_certificate

from ..servers import ServerProcess, unavailable
from .support import (
    KERBEROS_PASSWORD,
    KERBEROS_USER,
    EpaServer,
    GssApache,
    GssApacheProxy,
    KerberosRealm,
    NegotiateSquid,
    localhost_certificate,
)


def _serve(cls: Type[ServerProcess], factory: pytest.TempPathFactory, *args: object, **kwargs: object) -> Iterator[ServerProcess]:
    reason = cls.missing()
    if reason:
        unavailable(reason)
    server = cls(factory.mktemp(cls.name), *args, **kwargs)  # type: ignore[call-arg]
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kerberos_realm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KerberosRealm]:
    reason = KerberosRealm.missing()
    if reason:
        unavailable(reason)
    realm = KerberosRealm(tmp_path_factory.mktemp("kdc"))
    realm.start()
    saved = {name: os.environ.get(name) for name in realm.client_env}
    os.environ.update(realm.client_env)
    try:
        yield realm
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        realm.stop()


@pytest.fixture(autouse=True)
def _empty_ticket_cache(kerberos_realm: KerberosRealm) -> Iterator[None]:
    """Every test starts with an empty private ticket cache: a test that
    authenticates from a password must not be rescued by a ticket."""
    kerberos_realm.kdestroy()
    yield
    kerberos_realm.kdestroy()


@pytest.fixture
def ticket_cache(kerberos_realm: KerberosRealm) -> str:
    """alice's TGT in the private cache (``kinit``); yields her principal."""
    result = kerberos_realm.kinit(KERBEROS_USER, KERBEROS_PASSWORD)
    assert result.returncode == 0, f"kinit failed: {result.stderr}\n{kerberos_realm.diagnostics()}"
    assert kerberos_realm.cached_principal() == KERBEROS_USER
    return KERBEROS_USER


@pytest.fixture(scope="session")
def gss_apache(tmp_path_factory: pytest.TempPathFactory, kerberos_realm: KerberosRealm) -> Iterator[GssApache]:
    yield from _serve(GssApache, tmp_path_factory, kerberos_realm)  # type: ignore[misc]


@pytest.fixture(scope="session")
def gss_proxy(tmp_path_factory: pytest.TempPathFactory, kerberos_realm: KerberosRealm) -> Iterator[GssApacheProxy]:
    yield from _serve(GssApacheProxy, tmp_path_factory, kerberos_realm)  # type: ignore[misc]


@pytest.fixture(scope="session")
def squid_kerberos(tmp_path_factory: pytest.TempPathFactory, kerberos_realm: KerberosRealm) -> Iterator[NegotiateSquid]:
    """squid offering ``Proxy-Authenticate: Negotiate`` only (Kerberos)."""
    yield from _serve(NegotiateSquid, tmp_path_factory, kerberos_realm, schemes=("negotiate",))  # type: ignore[misc]


@pytest.fixture(scope="session")
def squid_ntlm(tmp_path_factory: pytest.TempPathFactory, kerberos_realm: KerberosRealm) -> Iterator[NegotiateSquid]:
    """squid offering ``Proxy-Authenticate: NTLM`` only (ntlm_fake_auth: any password)."""
    yield from _serve(NegotiateSquid, tmp_path_factory, kerberos_realm, schemes=("ntlm",))  # type: ignore[misc]


@pytest.fixture(scope="session")
def squid_negotiate_ntlm(tmp_path_factory: pytest.TempPathFactory, kerberos_realm: KerberosRealm) -> Iterator[NegotiateSquid]:
    """squid offering Negotiate first, then NTLM."""
    yield from _serve(NegotiateSquid, tmp_path_factory, kerberos_realm, schemes=("negotiate", "ntlm"))  # type: ignore[misc]


@pytest.fixture(scope="session")
def epa_server(tmp_path_factory: pytest.TempPathFactory, kerberos_realm: KerberosRealm) -> Iterator[EpaServer]:
    reason = EpaServer.missing()
    if reason:
        unavailable(reason)
    try:
        certificate = localhost_certificate(tmp_path_factory.mktemp("epa-tls"))
    except FileNotFoundError as exc:
        unavailable(str(exc))
        raise
    yield from _serve(EpaServer, tmp_path_factory, kerberos_realm, certificate)  # type: ignore[misc]


@pytest.fixture(scope="session")
def open_origin() -> Iterator[ChallengeServer]:
    """A plain-HTTP origin that asks for nothing, for the proxies to reach."""
    with ChallengeServer(protected=()) as server:
        yield server


@pytest.fixture(scope="session")
def tls_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[ChallengeServer, SelfSignedCertificate]]:
    """An https origin (127.0.0.1, its own self-signed certificate) that asks
    for nothing, for CONNECT through the proxies; yields (server, certificate)."""
    try:
        certificate = self_signed_certificate(tmp_path_factory.mktemp("origin-tls"))
    except FileNotFoundError as exc:
        unavailable(str(exc))
        raise
    with ChallengeServer(protected=(), ssl_context=certificate.server_context()) as server:
        yield server, certificate
