"""Smoke tests: every fixture proven with independent clients.

Nothing of requests_challenge takes part here: kinit and curl (GSS-API/SPNEGO
from MIT krb5), and pyspnego's client contexts driven over raw sockets
(support.RawConnection), so that a failure in the acceptance tests can be told
apart from a broken server.  These must pass whatever the scheme code does.

curl's own NTLM cannot serve here: gss-ntlmssp 1.2 refuses curl's 32-byte
NEGOTIATE message (``Invalid token was supplied (Failed to decode data)`` in
Apache's error log), so NTLM against mod_auth_gssapi is driven with
pyspnego's NTLM client instead.  Against squid's ntlm_fake_auth curl works.
"""

from __future__ import annotations

import ssl
from collections import Counter
from typing import List, Optional

import pytest
import spnego
from spnego.channel_bindings import GssChannelBindings

from ..servers import HOST, WRONG_PASSWORD, new_tag
from ..tagging import exchanges, logged_lines
from .support import (
    APACHE_LOGGED_NTLM_USER,
    BODY_48K,
    KERBEROS_PASSWORD,
    KERBEROS_USER,
    NTLM_PASSWORD,
    NTLM_PASSWORDS,
    NTLM_USER,
    SERVICE_HOST,
    SPNEGO_REJECT,
    EpaServer,
    GssApache,
    GssApacheProxy,
    KerberosRealm,
    NegotiateSquid,
    RawConnection,
    RawExchange,
    curl,
    gss_handshake,
)

pytestmark = pytest.mark.integration

#: What mod_auth_gssapi 1.6 sends, per location (exact header values, in order).
APACHE_CHALLENGES = {
    "krb": ["Negotiate"],
    "ntlm": ["Negotiate", "NTLM"],
    "all": ["Negotiate", "NTLM", 'Basic realm="all realm"'],
}
def _client(user: str, password: str, protocol: str, bindings: Optional[bytes] = None):
    return spnego.client(
        user, password, hostname=SERVICE_HOST, service="HTTP", protocol=protocol,
        channel_bindings=GssChannelBindings(application_data=bindings) if bindings is not None else None,
    )


def _host(port: int) -> dict:
    return {"Host": f"{SERVICE_HOST}:{port}"}


# --------------------------------------------------------------------------
# The KDC
# --------------------------------------------------------------------------


def test_kdc_issues_alice_a_ticket_and_refuses_a_wrong_password(kerberos_realm: KerberosRealm) -> None:
    assert kerberos_realm.cached_principal() is None
    ok = kerberos_realm.kinit(KERBEROS_USER, KERBEROS_PASSWORD)
    assert ok.returncode == 0, ok.stderr
    assert kerberos_realm.cached_principal() == KERBEROS_USER
    kerberos_realm.kdestroy()

    wrong = kerberos_realm.kinit(KERBEROS_USER, WRONG_PASSWORD)
    assert wrong.returncode != 0
    assert "Password incorrect" in wrong.stderr
    assert kerberos_realm.cached_principal() is None
    # +requires_preauth: the KDC itself refuses the password (not a ticket
    # only the right password could have read).
    assert f"PREAUTH_FAILED: {KERBEROS_USER}" in kerberos_realm.kdc_log()


def test_bob_has_no_kerberos_principal(kerberos_realm: KerberosRealm) -> None:
    result = kerberos_realm.kinit(f"bob@{kerberos_realm.realm}", NTLM_PASSWORD)
    assert result.returncode != 0
    assert "not found in Kerberos database" in result.stderr


def test_private_configuration_is_in_the_environment(kerberos_realm: KerberosRealm) -> None:
    import os

    assert os.environ["KRB5_CONFIG"] == str(kerberos_realm.krb5_conf)
    assert os.environ["KRB5CCNAME"] == f"FILE:{kerberos_realm.ccache}"
    assert "KRB5_KTNAME" not in os.environ and "NTLM_USER_FILE" not in os.environ
    conf = kerberos_realm.krb5_conf.read_text()
    assert "dns_canonicalize_hostname = false" in conf and "rdns = false" in conf


# --------------------------------------------------------------------------
# Apache origin (mod_auth_gssapi)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("location", sorted(APACHE_CHALLENGES))
def test_apache_challenges(gss_apache: GssApache, location: str) -> None:
    with RawConnection(HOST, gss_apache.port) as conn:
        reply = conn.exchange("GET", f"/{location}/hello.txt", _host(gss_apache.port))
    assert reply.status == 401
    assert reply.header_values("WWW-Authenticate") == APACHE_CHALLENGES[location]


@pytest.mark.parametrize("location", ["krb", "all"])
def test_curl_negotiate_with_a_ticket(gss_apache: GssApache, ticket_cache: str, location: str) -> None:
    tag = new_tag()
    result = curl("--negotiate", "-u", ":", "-H", f"X-Test-Tag: {tag}", gss_apache.url(f"/{location}/hello.txt"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"hello from apache-gssapi /{location}/\n"
    path = f"/{location}/hello.txt"
    # curl 7.88 sends its Negotiate token up front (no 401 first).
    assert exchanges(gss_apache, tag, at_least=1) == Counter({(200, "GET", path, KERBEROS_USER): 1})
    (sent,) = gss_apache.tokens.seen(tag)
    assert sent.scheme == "Negotiate" and sent.is_spnego and sent.carries_kerberos and not sent.carries_ntlm


def test_curl_negotiate_without_a_ticket_is_refused(gss_apache: GssApache, kerberos_realm: KerberosRealm) -> None:
    assert kerberos_realm.cached_principal() is None
    result = curl("--negotiate", "-u", ":", "-o", "/dev/null", "-w", "%{http_code}", gss_apache.url("/krb/hello.txt"))
    assert result.stdout == "401"


def test_kerberos_through_pyspnego(gss_apache: GssApache) -> None:
    tag = new_tag()
    with RawConnection(HOST, gss_apache.port) as conn:
        legs = gss_handshake(conn, "GET", "/krb/hello.txt", _client(KERBEROS_USER, KERBEROS_PASSWORD, "kerberos"),
                             scheme="Negotiate", headers={**_host(gss_apache.port), "X-Test-Tag": tag})
    assert [leg.status for leg in legs] == [200]
    assert legs[-1].header_values("WWW-Authenticate")[0].startswith("Negotiate ")  # mutual auth
    assert exchanges(gss_apache, tag, at_least=1) == Counter({(200, "GET", "/krb/hello.txt", KERBEROS_USER): 1})


def test_kerberos_from_the_ticket_cache_in_process(gss_apache: GssApache, ticket_cache: str) -> None:
    """The test process's own GSS-API finds the fixture's KRB5CCNAME: pyspnego
    with no credentials at all uses alice's ticket."""
    tag = new_tag()
    context = spnego.client(hostname=SERVICE_HOST, service="HTTP", protocol="kerberos")
    with RawConnection(HOST, gss_apache.port) as conn:
        legs = gss_handshake(conn, "GET", "/krb/hello.txt", context, scheme="Negotiate",
                             headers={**_host(gss_apache.port), "X-Test-Tag": tag})
    assert [leg.status for leg in legs] == [200]
    assert exchanges(gss_apache, tag, at_least=1) == Counter({(200, "GET", "/krb/hello.txt", ticket_cache): 1})


@pytest.mark.parametrize("user", sorted(NTLM_PASSWORDS))
@pytest.mark.parametrize("scheme,protocol", [("NTLM", "ntlm"), ("Negotiate", "negotiate")], ids=["raw-ntlm", "spnego-ntlm"])
def test_ntlm_through_pyspnego(gss_apache: GssApache, user: str, scheme: str, protocol: str) -> None:
    """Every user-name spelling the NTLM users file knows (bob has no Kerberos
    principal; alice, a Kerberos user, has NTLM credentials too)."""
    tag = new_tag()
    with RawConnection(HOST, gss_apache.port) as conn:
        legs = gss_handshake(conn, "GET", "/ntlm/hello.txt", _client(user, NTLM_PASSWORDS[user], protocol),
                             scheme=scheme, headers={**_host(gss_apache.port), "X-Test-Tag": tag})
        # pyspnego's SPNEGO for a user with a Kerberos principal offers
        # Kerberos first (with an optimistic AP-REQ); /ntlm/ selects NTLM
        # from its mechTypes instead, which costs one more leg.
        kerberos_first = protocol == "negotiate" and "@EXAMPLE.TEST" in user
        refusals = 2 if kerberos_first else 1
        assert [leg.status for leg in legs] == [401] * refusals + [200]
        assert legs[-1].body == b"hello from apache-gssapi /ntlm/\n"
        # GssapiConnectionBound: the connection stays authenticated.
        again = conn.exchange("GET", "/ntlm/hello.txt", {**_host(gss_apache.port), "X-Test-Tag": tag})
        assert again.status == 200
    logged = APACHE_LOGGED_NTLM_USER[user]
    assert exchanges(gss_apache, tag, at_least=refusals + 2) == Counter({
        (401, "GET", "/ntlm/hello.txt", None): refusals, (200, "GET", "/ntlm/hello.txt", logged): 2,
    })
    tokens = gss_apache.tokens.seen(tag)
    assert len(tokens) == refusals + 1
    assert all(t.carries_ntlm for t in tokens)
    assert [t.carries_kerberos for t in tokens] == [kerberos_first] + [False] * refusals


@pytest.mark.parametrize("scheme,protocol", [("NTLM", "ntlm"), ("Negotiate", "negotiate")], ids=["raw-ntlm", "spnego-ntlm"])
def test_ntlm_wrong_password_is_refused(gss_apache: GssApache, scheme: str, protocol: str) -> None:
    with RawConnection(HOST, gss_apache.port) as conn:
        legs = gss_handshake(conn, "GET", "/ntlm/hello.txt", _client(NTLM_USER, WRONG_PASSWORD, protocol),
                             scheme=scheme, headers=_host(gss_apache.port))
    assert [leg.status for leg in legs] == [401, 401]
    # Raw NTLM: the refusal is a fresh challenge.  NTLM in SPNEGO: the refusal
    # is a SPNEGO reject (negState=reject) and NO fresh challenge comes with it
    # (mod_auth_gssapi sends either an output token or the challenges).
    expected = APACHE_CHALLENGES["ntlm"] if scheme == "NTLM" else [f"Negotiate {SPNEGO_REJECT}"]
    assert legs[-1].header_values("WWW-Authenticate") == expected


def test_ntlm_is_not_offered_where_only_kerberos_is_allowed(gss_apache: GssApache) -> None:
    with RawConnection(HOST, gss_apache.port) as conn:
        legs = gss_handshake(conn, "GET", "/krb/hello.txt", _client(NTLM_USER, NTLM_PASSWORD, "ntlm"),
                             scheme="NTLM", headers=_host(gss_apache.port))
    assert [leg.status for leg in legs] == [401]
    assert legs[-1].header_values("WWW-Authenticate") == ["Negotiate"]


def test_basic_is_checked_against_the_kdc(gss_apache: GssApache) -> None:
    ok = curl("-u", f"{KERBEROS_USER}:{KERBEROS_PASSWORD}", gss_apache.url("/all/hello.txt"))
    assert ok.returncode == 0 and ok.stdout == "hello from apache-gssapi /all/\n", ok.stderr
    wrong = curl("-u", f"{KERBEROS_USER}:{WRONG_PASSWORD}", "-o", "/dev/null", "-w", "%{http_code}",
                 gss_apache.url("/all/hello.txt"))
    assert wrong.stdout == "401"


def test_cgi_echo_with_curl(gss_apache: GssApache, ticket_cache: str) -> None:
    import hashlib

    body = BODY_48K
    result = subprocess_curl_post(gss_apache.url("/krb/cgi/echo"), body)
    fields = dict(line.split("=", 1) for line in result.splitlines())
    assert fields == {
        "method": "POST", "length": str(len(body)),
        "sha256": hashlib.sha256(body).hexdigest(), "user": KERBEROS_USER,
    }


def subprocess_curl_post(url: str, body: bytes) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile() as f:
        f.write(body)
        f.flush()
        result = curl("--negotiate", "-u", ":", "--data-binary", f"@{f.name}",
                      "-H", "Content-Type: application/octet-stream", url)
    assert result.returncode == 0, result.stderr
    return result.stdout


# --------------------------------------------------------------------------
# Proxies
# --------------------------------------------------------------------------

PROXY_CHALLENGES = {
    "gss_proxy": ["Negotiate", "NTLM"],
    "squid_kerberos": ["Negotiate"],
    "squid_ntlm": ["NTLM"],
    "squid_negotiate_ntlm": ["Negotiate", "NTLM"],
}


@pytest.mark.parametrize("proxy_name", sorted(PROXY_CHALLENGES))
def test_proxy_challenges(request: pytest.FixtureRequest, proxy_name: str, open_origin, tls_origin) -> None:
    proxy = request.getfixturevalue(proxy_name)
    origin, _ = tls_origin
    target = origin.url.split("://", 1)[1]
    with RawConnection(HOST, proxy.port) as conn:
        plain = conn.exchange("GET", open_origin.url + "/x", {"Host": open_origin.url.split("://", 1)[1]})
    with RawConnection(HOST, proxy.port) as conn:
        tunnel = conn.exchange("CONNECT", target, {"Host": target})
    for reply in (plain, tunnel):
        assert reply.status == 407
        assert reply.header_values("Proxy-Authenticate") == PROXY_CHALLENGES[proxy_name]


@pytest.mark.parametrize("proxy_name", ["gss_proxy", "squid_kerberos", "squid_negotiate_ntlm"])
def test_curl_proxy_negotiate(request: pytest.FixtureRequest, proxy_name: str, ticket_cache: str, open_origin, tls_origin) -> None:
    proxy = request.getfixturevalue(proxy_name)
    tag = new_tag()
    plain = curl("-x", proxy.proxy_url, "--proxy-negotiate", "-U", ":", "-H", f"X-Test-Tag: {tag}",
                 open_origin.url + "/plain")
    assert plain.returncode == 0, plain.stderr
    assert '"path": "/plain"' in plain.stdout
    # curl sends its proxy Negotiate token up front.
    assert exchanges(proxy, tag, at_least=1) == Counter({
        (200, "GET", open_origin.url + "/plain", KERBEROS_USER): 1,
    })
    (sent,) = proxy.tokens.seen(tag)
    assert sent.header == "Proxy-Authorization" and sent.scheme == "Negotiate" and sent.carries_kerberos
    origin, certificate = tls_origin
    tunnel = curl("-p", "-x", proxy.proxy_url, "--proxy-negotiate", "-U", ":", "--cacert", certificate.cert,
                  "--proxy-header", f"X-Test-Tag: {tag}-connect", origin.url + "/tunnelled")
    assert tunnel.returncode == 0, tunnel.stderr
    assert '"path": "/tunnelled"' in tunnel.stdout
    target = origin.url.split("://", 1)[1]
    lines = exchanges(proxy, f"{tag}-connect", at_least=1)
    assert lines[(200, "CONNECT", target, KERBEROS_USER)] == 1
    assert set(lines) <= {(200, "CONNECT", target, KERBEROS_USER), (407, "CONNECT", target, None)}


def _ntlm_through_proxy(proxy, method: str, target: str, password: str, tag: str, host: str) -> List[RawExchange]:
    with RawConnection(HOST, proxy.port) as conn:
        return gss_handshake(conn, method, target, _client(NTLM_USER, password, "ntlm"), scheme="NTLM", proxy=True,
                             headers={"Host": host, "X-Test-Tag": tag})


@pytest.mark.parametrize("proxy_name", ["gss_proxy", "squid_ntlm", "squid_negotiate_ntlm"])
def test_ntlm_through_proxy_with_pyspnego(request: pytest.FixtureRequest, proxy_name: str, open_origin, tls_origin) -> None:
    proxy = request.getfixturevalue(proxy_name)
    tag = new_tag()
    url = open_origin.url + "/plain"
    legs = _ntlm_through_proxy(proxy, "GET", url, NTLM_PASSWORD, tag, open_origin.url.split("://", 1)[1])
    assert [leg.status for leg in legs] == [407, 200]
    origin, _ = tls_origin
    target = origin.url.split("://", 1)[1]
    legs = _ntlm_through_proxy(proxy, "CONNECT", target, NTLM_PASSWORD, tag, target)
    assert [leg.status for leg in legs] == [407, 200]
    lines = logged_lines(proxy, tag, at_least=4)
    assert sorted((line.status, line.method) for line in lines) == [
        (200, "CONNECT"), (200, "GET"), (407, "CONNECT"), (407, "GET"),
    ]
    assert all(line.user is not None for line in lines if line.status == 200)  # someone logged in


def test_apache_proxy_refuses_a_wrong_ntlm_password(gss_proxy: GssApacheProxy, open_origin, tls_origin) -> None:
    tag = new_tag()
    legs = _ntlm_through_proxy(gss_proxy, "GET", open_origin.url + "/plain", WRONG_PASSWORD, tag,
                               open_origin.url.split("://", 1)[1])
    assert [leg.status for leg in legs] == [407, 407]
    assert legs[-1].header_values("Proxy-Authenticate") == ["Negotiate", "NTLM"]
    origin, _ = tls_origin
    target = origin.url.split("://", 1)[1]
    legs = _ntlm_through_proxy(gss_proxy, "CONNECT", target, WRONG_PASSWORD, tag, target)
    assert [leg.status for leg in legs] == [407, 407]


def test_curl_proxy_ntlm_through_squid(squid_ntlm: NegotiateSquid, open_origin) -> None:
    result = curl("-x", squid_ntlm.proxy_url, "--proxy-ntlm", "-U", f"{NTLM_USER}:{NTLM_PASSWORD}",
                  open_origin.url + "/plain")
    assert result.returncode == 0, result.stderr
    assert '"path": "/plain"' in result.stdout


def test_squid_kerberos_refuses_ntlm_wrapped_in_negotiate(squid_kerberos: NegotiateSquid, open_origin) -> None:
    with RawConnection(HOST, squid_kerberos.port) as conn:
        legs = gss_handshake(conn, "GET", open_origin.url + "/plain", _client(NTLM_USER, NTLM_PASSWORD, "negotiate"),
                             scheme="Negotiate", proxy=True, headers={"Host": open_origin.url.split("://", 1)[1]})
    assert legs[-1].status == 407


# --------------------------------------------------------------------------
# The EPA server
# --------------------------------------------------------------------------


def _epa(epa_server: EpaServer, user: str, password: str, protocol: str, scheme: str,
         bindings: Optional[bytes], tag: str) -> List[RawExchange]:
    context = ssl.create_default_context(cafile=epa_server.ca_file)
    with RawConnection(HOST, epa_server.port, tls_context=context) as conn:
        return gss_handshake(conn, "GET", "/epa", _client(user, password, protocol, bindings), scheme=scheme,
                             headers={**_host(epa_server.port), "X-Test-Tag": tag})


EPA_CASES = [
    pytest.param(KERBEROS_USER, KERBEROS_PASSWORD, "kerberos", "Negotiate", "kerberos", id="kerberos"),
    pytest.param(KERBEROS_USER, KERBEROS_PASSWORD, "negotiate", "Negotiate", "kerberos", id="spnego-kerberos"),
    pytest.param(NTLM_USER, NTLM_PASSWORD, "ntlm", "NTLM", "ntlm", id="ntlm"),
    pytest.param(NTLM_USER, NTLM_PASSWORD, "negotiate", "Negotiate", "ntlm", id="spnego-ntlm"),
]


@pytest.mark.parametrize("user,password,protocol,scheme,mechanism", EPA_CASES)
def test_epa_accepts_the_right_channel_binding(epa_server: EpaServer, user, password, protocol, scheme, mechanism) -> None:
    import json

    tag = new_tag()
    legs = _epa(epa_server, user, password, protocol, scheme, epa_server.channel_bindings_data, tag)
    assert legs[-1].status == 200, epa_server.verdicts(tag)
    answer = json.loads(legs[-1].body)
    assert answer["protocol"] == mechanism and answer["channel_bound"] is True
    assert answer["user"] == (KERBEROS_USER if mechanism == "kerberos" else NTLM_USER)


@pytest.mark.parametrize("user,password,protocol,scheme,mechanism", EPA_CASES)
@pytest.mark.parametrize("bindings", [None, b"tls-server-end-point:" + b"\x00" * 32], ids=["no-bindings", "wrong-bindings"])
def test_epa_refuses_tokens_without_the_right_binding(epa_server: EpaServer, user, password, protocol, scheme,
                                                      mechanism, bindings) -> None:
    tag = new_tag()
    legs = _epa(epa_server, user, password, protocol, scheme, bindings, tag)
    assert legs[-1].status == 401
    assert legs[-1].header_values("WWW-Authenticate") == ["Negotiate", "NTLM"]
    (verdict,) = epa_server.verdicts(tag)
    if bindings is None:
        assert "missing" in verdict or "all zero" in verdict, verdict
    else:
        assert "match" in verdict or "BadBindings" in verdict or "Bindings" in verdict, verdict
