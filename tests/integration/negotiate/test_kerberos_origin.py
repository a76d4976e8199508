"""ChallengeAuth with Negotiate (Kerberos) against Apache httpd + mod_auth_gssapi.

Acceptance tests for the API:

    ChallengeAuth("alice@EXAMPLE.TEST", "pw")    # Kerberos from the password, no kinit
    ChallengeAuth()                               # Negotiate from the ticket cache; nothing else
    ChallengeAuth(u, p, schemes=("negotiate", "digest"))  # a scheme not named is never used,
                                                           # not even inside SPNEGO

Locations (support.GssApache): ``/krb/`` offers ``Negotiate`` (Kerberos only);
``/ntlm/`` offers ``Negotiate`` and ``NTLM`` but takes NTLM only; ``/all/``
offers ``Negotiate``, ``NTLM`` and ``Basic realm="all realm"`` and takes all
three.  Every test starts with an empty ticket cache (conftest).

Exchanges are counted by tag in Apache's access log (tagging.exchanges); the
tokens the client sent are read from Apache's tokens log (support.SeenToken):
an NTLM message or the NTLM OID anywhere in a token counts as NTLM.
"""

from __future__ import annotations

from collections import Counter

import pytest
import requests

from requests_challenge import ChallengeAuth

from ..servers import REQUEST_TIMEOUT, WRONG_PASSWORD, parse_echo
from ..tagging import SENT, exchanges, retag
from .support import (
    BODY_48K,
    KERBEROS_PASSWORD,
    KERBEROS_USER,
    NTLM_PASSWORD,
    NTLM_USER,
    GssApache,
    KerberosRealm,
    SeenToken,
)

pytestmark = pytest.mark.integration

#: A refused login costs at most this many exchanges: the unauthenticated
#: request, and at most two requests carrying credentials (README: "at most
#: two requests of a hop carry credentials").
MAX_REFUSED_EXCHANGES = 3


def _no_ntlm(tokens: "list[SeenToken]") -> None:
    """Where NTLM is not allowed: no NTLM message, and NTLM not even listed in
    SPNEGO's mechTypes (which would let the server pick it)."""
    assert not [t for t in tokens if t.carries_ntlm], f"NTLM went out: {tokens}"


def _no_ntlm_message(tokens: "list[SeenToken]") -> None:
    """Where NTLM is allowed but Kerberos works: no NTLM message was needed
    (listing NTLM in SPNEGO's mechTypes is fine)."""
    assert not [t for t in tokens if t.ntlm_message], f"an NTLM message went out: {tokens}"


def _no_basic(tokens: "list[SeenToken]") -> None:
    assert not [t for t in tokens if t.scheme.lower() == "basic"], f"Basic went out: {tokens}"


# --------------------------------------------------------------------------
# Kerberos from a password, from the ticket cache
# --------------------------------------------------------------------------


@pytest.mark.parametrize("location", ["krb", "all"])
def test_kerberos_from_a_password(gss_apache: GssApache, kerberos_realm: KerberosRealm, session: requests.Session,
                                  location: str) -> None:
    tag = retag(session)
    path = f"/{location}/hello.txt"
    r = session.get(gss_apache.url(path), auth=ChallengeAuth(KERBEROS_USER, KERBEROS_PASSWORD), timeout=REQUEST_TIMEOUT)
    assert r.status_code == 200
    assert r.text == f"hello from apache-gssapi /{location}/\n"
    assert [h.status_code for h in r.history] == [401]
    assert exchanges(gss_apache, tag) == Counter({(401, "GET", path, None): 1, (200, "GET", path, KERBEROS_USER): 1})
    (sent,) = gss_apache.tokens.seen(tag)
    assert sent.scheme.lower() == "negotiate" and sent.carries_kerberos
    _no_ntlm_message([sent])
    # No kinit happened: the user's ticket cache was neither read nor filled.
    assert kerberos_realm.cached_principal() is None


def test_kerberos_from_the_ticket_cache(gss_apache: GssApache, ticket_cache: str, session: requests.Session) -> None:
    tag = retag(session)
    r = session.get(gss_apache.url("/krb/hello.txt"), auth=ChallengeAuth(), timeout=REQUEST_TIMEOUT)
    assert r.status_code == 200
    assert exchanges(gss_apache, tag) == Counter({
        (401, "GET", "/krb/hello.txt", None): 1, (200, "GET", "/krb/hello.txt", ticket_cache): 1,
    })


def test_ticket_cache_is_answered_with_negotiate_only(gss_apache: GssApache, ticket_cache: str,
                                                      session: requests.Session) -> None:
    """/all/ offers Negotiate, NTLM and Basic: ChallengeAuth() answers Negotiate."""
    tag = retag(session)
    r = session.get(gss_apache.url("/all/hello.txt"), auth=ChallengeAuth(), timeout=REQUEST_TIMEOUT)
    assert r.status_code == 200
    assert exchanges(gss_apache, tag)[(200, "GET", "/all/hello.txt", ticket_cache)] == 1
    tokens = gss_apache.tokens.seen(tag)
    assert tokens and all(t.scheme.lower() == "negotiate" for t in tokens)
    _no_ntlm_message(tokens)


def test_without_a_ticket_nothing_else_is_tried(gss_apache: GssApache, kerberos_realm: KerberosRealm,
                                                session: requests.Session) -> None:
    """ChallengeAuth() with an empty ticket cache: the final 401 comes back, and
    neither NTLM nor Basic was sent (there is nothing to send them with)."""
    assert kerberos_realm.cached_principal() is None
    tag = retag(session)
    r = session.get(gss_apache.url("/all/hello.txt"), auth=ChallengeAuth(), timeout=REQUEST_TIMEOUT)
    assert r.status_code == 401
    lines = exchanges(gss_apache, tag)
    assert set(lines) == {(401, "GET", "/all/hello.txt", None)}
    assert sum(lines.values()) <= MAX_REFUSED_EXCHANGES
    tokens = gss_apache.tokens.seen(tag)
    _no_ntlm_message(tokens)
    _no_basic(tokens)


def test_ticket_cache_never_does_ntlm(gss_apache: GssApache, ticket_cache: str, session: requests.Session) -> None:
    """/ntlm/ offers Negotiate and NTLM but takes NTLM only: a Kerberos ticket
    cannot help, and ChallengeAuth() has no NTLM credentials to fall back to."""
    tag = retag(session)
    r = session.get(gss_apache.url("/ntlm/hello.txt"), auth=ChallengeAuth(), timeout=REQUEST_TIMEOUT)
    assert r.status_code == 401
    lines = exchanges(gss_apache, tag)
    assert set(lines) == {(401, "GET", "/ntlm/hello.txt", None)}
    assert sum(lines.values()) <= MAX_REFUSED_EXCHANGES
    tokens = gss_apache.tokens.seen(tag)
    # No NTLM message (the OID alone in a SPNEGO mechTypes list is tolerated
    # here: nothing could be answered with it).
    _no_ntlm_message(tokens)


# --------------------------------------------------------------------------
# Cost and bodies
# --------------------------------------------------------------------------


def test_ten_requests_cost_at_most_eleven_exchanges(gss_apache: GssApache, session: requests.Session) -> None:
    session.auth = ChallengeAuth(KERBEROS_USER, KERBEROS_PASSWORD)
    tag = retag(session)
    statuses = [session.get(gss_apache.url("/krb/hello.txt"), timeout=REQUEST_TIMEOUT).status_code for _ in range(10)]
    assert statuses == [200] * 10
    assert SENT[tag] <= 11
    lines = exchanges(gss_apache, tag)
    assert lines[(200, "GET", "/krb/hello.txt", KERBEROS_USER)] == 10
    assert sum(lines.values()) <= 11, lines
    _no_ntlm_message(gss_apache.tokens.seen(tag))


@pytest.mark.parametrize("location", ["krb", "all"])
def test_post_body_arrives_whole(gss_apache: GssApache, session: requests.Session, location: str) -> None:
    import hashlib

    tag = retag(session)
    path = f"/{location}/cgi/echo"
    r = session.post(gss_apache.url(path), data=BODY_48K, auth=ChallengeAuth(KERBEROS_USER, KERBEROS_PASSWORD),
                     headers={"Content-Type": "application/octet-stream"}, timeout=REQUEST_TIMEOUT)
    assert r.status_code == 200
    assert parse_echo(r.content) == {
        "method": "POST", "length": str(len(BODY_48K)),
        "sha256": hashlib.sha256(BODY_48K).hexdigest(), "user": KERBEROS_USER,
    }
    assert exchanges(gss_apache, tag)[(200, "POST", path, KERBEROS_USER)] == 1


# --------------------------------------------------------------------------
# Wrong passwords: the final 401, bounded, no exception, no fallback
# --------------------------------------------------------------------------


def test_wrong_kerberos_password_returns_the_final_401(gss_apache: GssApache, kerberos_realm: KerberosRealm,
                                                       session: requests.Session) -> None:
    tag = retag(session)
    r = session.get(gss_apache.url("/krb/hello.txt"), auth=ChallengeAuth(KERBEROS_USER, WRONG_PASSWORD),
                    timeout=REQUEST_TIMEOUT)
    assert r.status_code == 401
    lines = exchanges(gss_apache, tag)
    assert set(lines) == {(401, "GET", "/krb/hello.txt", None)}
    assert sum(lines.values()) <= MAX_REFUSED_EXCHANGES
    assert f"PREAUTH_FAILED: {KERBEROS_USER}" in kerberos_realm.kdc_log()


def test_wrong_password_is_not_rescued_by_the_ticket_cache(gss_apache: GssApache, ticket_cache: str,
                                                           session: requests.Session) -> None:
    """Given a password, ChallengeAuth uses that password: alice's ticket in the
    cache must not turn a wrong password into a login."""
    tag = retag(session)
    r = session.get(gss_apache.url("/krb/hello.txt"), auth=ChallengeAuth(KERBEROS_USER, WRONG_PASSWORD),
                    timeout=REQUEST_TIMEOUT)
    assert r.status_code == 401
    assert set(exchanges(gss_apache, tag)) == {(401, "GET", "/krb/hello.txt", None)}


def test_negotiate_only_never_falls_back_to_ntlm(gss_apache: GssApache, session: requests.Session) -> None:
    """/all/ offers NTLM too, and alice has NTLM credentials there: with
    schemes=("negotiate",) a failed Kerberos login must not become NTLM, not
    even inside SPNEGO."""
    tag = retag(session)
    r = session.get(gss_apache.url("/all/hello.txt"),
                    auth=ChallengeAuth(KERBEROS_USER, WRONG_PASSWORD, schemes=("negotiate",)), timeout=REQUEST_TIMEOUT)
    assert r.status_code == 401
    lines = exchanges(gss_apache, tag)
    assert set(lines) == {(401, "GET", "/all/hello.txt", None)}
    assert sum(lines.values()) <= MAX_REFUSED_EXCHANGES
    tokens = gss_apache.tokens.seen(tag)
    _no_ntlm(tokens)
    _no_basic(tokens)


# --------------------------------------------------------------------------
# schemes=: a scheme not named is never used
# --------------------------------------------------------------------------


def test_negotiate_and_digest_named_kerberos_used(gss_apache: GssApache, session: requests.Session) -> None:
    tag = retag(session)
    r = session.get(gss_apache.url("/all/hello.txt"),
                    auth=ChallengeAuth(KERBEROS_USER, KERBEROS_PASSWORD, schemes=("negotiate", "digest")),
                    timeout=REQUEST_TIMEOUT)
    assert r.status_code == 200
    assert exchanges(gss_apache, tag)[(200, "GET", "/all/hello.txt", KERBEROS_USER)] == 1
    tokens = gss_apache.tokens.seen(tag)
    assert tokens and all(t.scheme.lower() == "negotiate" and t.carries_kerberos for t in tokens)
    _no_ntlm(tokens)
    _no_basic(tokens)


def test_ntlm_not_named_is_not_used_inside_spnego(gss_apache: GssApache, session: requests.Session) -> None:
    """bob has no Kerberos principal, only NTLM credentials; /all/ would take
    NTLM, raw or in SPNEGO.  schemes=("negotiate", "digest") does not name
    NTLM, so he gets the final 401 and no NTLM message or OID goes out."""
    tag = retag(session)
    r = session.get(gss_apache.url("/all/hello.txt"),
                    auth=ChallengeAuth(NTLM_USER, NTLM_PASSWORD, schemes=("negotiate", "digest")),
                    timeout=REQUEST_TIMEOUT)
    assert r.status_code == 401
    lines = exchanges(gss_apache, tag)
    assert set(lines) == {(401, "GET", "/all/hello.txt", None)}
    assert sum(lines.values()) <= MAX_REFUSED_EXCHANGES
    tokens = gss_apache.tokens.seen(tag)
    _no_ntlm(tokens)
    _no_basic(tokens)


def test_ntlm_named_alone_is_answered_with_ntlm_only(gss_apache: GssApache, session: requests.Session) -> None:
    """schemes=("ntlm",) against Negotiate+NTLM+Basic: the NTLM scheme, never
    Negotiate (not even SPNEGO carrying NTLM) and never Basic."""
    tag = retag(session)
    r = session.get(gss_apache.url("/all/hello.txt"),
                    auth=ChallengeAuth(KERBEROS_USER, KERBEROS_PASSWORD, schemes=("ntlm",)), timeout=REQUEST_TIMEOUT)
    assert r.status_code == 200
    tokens = gss_apache.tokens.seen(tag)
    assert tokens and all(t.scheme.upper() == "NTLM" and t.is_raw_ntlm for t in tokens), tokens
    assert not [t for t in tokens if t.carries_kerberos]


def test_basic_named_alone_is_answered_with_basic(gss_apache: GssApache, session: requests.Session) -> None:
    """mod_auth_gssapi checks Basic against the KDC (GssapiBasicAuthMech krb5)."""
    tag = retag(session)
    r = session.get(gss_apache.url("/all/hello.txt"),
                    auth=ChallengeAuth(KERBEROS_USER, KERBEROS_PASSWORD, schemes=("basic",)), timeout=REQUEST_TIMEOUT)
    assert r.status_code == 200
    assert exchanges(gss_apache, tag) == Counter({
        (401, "GET", "/all/hello.txt", None): 1, (200, "GET", "/all/hello.txt", KERBEROS_USER): 1,
    })
    tokens = gss_apache.tokens.seen(tag)
    assert [t.scheme.lower() for t in tokens] == ["basic"]
