"""ChallengeAuth with NTLM against Apache httpd + mod_auth_gssapi + gss-ntlmssp.

Acceptance tests for the API:

    ChallengeAuth("EXAMPLE\\bob", "pw")   # NTLM user names: DOMAIN\\user, user@DOMAIN or user

bob has no Kerberos principal: only gss-ntlmssp's users file knows him.
``/ntlm/`` (support.GssApache) offers ``WWW-Authenticate: Negotiate`` and
``WWW-Authenticate: NTLM`` and takes NTLM only, raw or inside SPNEGO, with
``GssapiConnectionBound On``: the handshake's legs must share one connection,
and the connection stays authenticated afterwards.  A refused NTLM-in-SPNEGO
exchange is answered with ``401`` + ``WWW-Authenticate: Negotiate oQcwBaADCgEC``
(SPNEGO reject) and no fresh challenge; a refused raw NTLM one with
``401`` + ``Negotiate`` + ``NTLM``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from requests_challenge import ChallengeAuth

from ..servers import REQUEST_TIMEOUT, WRONG_PASSWORD, parse_echo
from ..tagging import exchanges, logged_lines, retag
from .support import (
    APACHE_LOGGED_NTLM_USER,
    APACHE_NTLM_USER_SPELLINGS,
    BODY_48K,
    KERBEROS_PASSWORD,
    KERBEROS_USER,
    NTLM_PASSWORDS,
    NTLM_USER,
    NTLM_USER_FORMS,
    GssApache,
)

pytestmark = pytest.mark.integration

PATH = "/ntlm/hello.txt"
#: A refused NTLM login: the unauthenticated request, then at most two
#: handshakes of two legs each (NEGOTIATE, AUTHENTICATE).
MAX_REFUSED_EXCHANGES = 5


@pytest.mark.parametrize("user", NTLM_USER_FORMS)
def test_ntlm_user_without_a_kerberos_principal(gss_apache: GssApache, session: requests.Session, user: str) -> None:
    tag = retag(session)
    r = session.get(gss_apache.url(PATH), auth=ChallengeAuth(user, NTLM_PASSWORDS[user]), timeout=REQUEST_TIMEOUT)
    assert r.status_code == 200
    assert r.text == "hello from apache-gssapi /ntlm/\n"
    # 401 (no credentials), 401 (the server's CHALLENGE), 200 (AUTHENTICATE).
    lines = logged_lines(gss_apache, tag)
    assert sorted(line.status for line in lines) == [200, 401, 401], lines
    assert {(line.method, line.target) for line in lines} == {("GET", PATH)}
    (logged,) = [line.user for line in lines if line.status == 200]
    assert logged in APACHE_NTLM_USER_SPELLINGS[user]
    tokens = gss_apache.tokens.seen(tag)
    assert len(tokens) == 2 and all(t.carries_ntlm for t in tokens), tokens


def test_kerberos_user_gets_ntlm_where_only_ntlm_is_taken(gss_apache: GssApache, session: requests.Session) -> None:
    """alice@EXAMPLE.TEST with the default schemes: /ntlm/ cannot take
    Kerberos, alice has NTLM credentials there (as a UPN), so NTLM it is."""
    tag = retag(session)
    r = session.get(gss_apache.url(PATH), auth=ChallengeAuth(KERBEROS_USER, KERBEROS_PASSWORD), timeout=REQUEST_TIMEOUT)
    assert r.status_code == 200
    lines = logged_lines(gss_apache, tag)
    (logged,) = [line.user for line in lines if line.status == 200]
    assert logged in APACHE_NTLM_USER_SPELLINGS[KERBEROS_USER]
    assert {line.status for line in lines} == {200, 401}
    assert any(b"NTLMSSP\x00\x03" in t.token for t in gss_apache.tokens.seen(tag))  # an AUTHENTICATE went out


def test_eight_threads_on_one_session(gss_apache: GssApache, session: requests.Session) -> None:
    """8 threads x 10 requests on one Session and one ChallengeAuth against
    connection-bound NTLM: every request succeeds, each handshake on the
    connection it started on."""
    session.auth = ChallengeAuth(NTLM_USER, NTLM_PASSWORDS[NTLM_USER])
    tag = retag(session)
    start = threading.Barrier(8)

    def worker(_: int) -> "list[int]":
        start.wait(timeout=REQUEST_TIMEOUT)
        return [session.get(gss_apache.url(PATH), timeout=REQUEST_TIMEOUT).status_code for _ in range(10)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [status for batch in pool.map(worker, range(8)) for status in batch]
    assert statuses.count(200) == 80, Counter(statuses)
    lines = exchanges(gss_apache, tag)
    assert lines[(200, "GET", PATH, APACHE_LOGGED_NTLM_USER[NTLM_USER])] == 80
    assert set(lines) <= {(200, "GET", PATH, APACHE_LOGGED_NTLM_USER[NTLM_USER]), (401, "GET", PATH, None)}


def test_post_body_arrives_whole(gss_apache: GssApache, session: requests.Session) -> None:
    """48 KiB, sent again on every leg of the handshake, arrives whole."""
    tag = retag(session)
    path = "/ntlm/cgi/echo"
    r = session.post(gss_apache.url(path), data=BODY_48K, auth=ChallengeAuth(NTLM_USER, NTLM_PASSWORDS[NTLM_USER]),
                     headers={"Content-Type": "application/octet-stream"}, timeout=REQUEST_TIMEOUT)
    assert r.status_code == 200
    assert parse_echo(r.content) == {
        "method": "POST", "length": str(len(BODY_48K)),
        "sha256": hashlib.sha256(BODY_48K).hexdigest(), "user": NTLM_USER,
    }
    assert exchanges(gss_apache, tag)[(200, "POST", path, APACHE_LOGGED_NTLM_USER[NTLM_USER])] == 1


def test_wrong_ntlm_password_returns_the_final_401(gss_apache: GssApache, session: requests.Session) -> None:
    tag = retag(session)
    r = session.get(gss_apache.url(PATH), auth=ChallengeAuth(NTLM_USER, WRONG_PASSWORD), timeout=REQUEST_TIMEOUT)
    assert r.status_code == 401
    lines = exchanges(gss_apache, tag)
    assert set(lines) == {(401, "GET", PATH, None)}
    assert sum(lines.values()) <= MAX_REFUSED_EXCHANGES, lines


def test_wrong_ntlm_password_on_a_post(gss_apache: GssApache, session: requests.Session) -> None:
    tag = retag(session)
    r = session.post(gss_apache.url("/ntlm/cgi/echo"), data=BODY_48K, auth=ChallengeAuth(NTLM_USER, WRONG_PASSWORD),
                     timeout=REQUEST_TIMEOUT)
    assert r.status_code == 401
    lines = exchanges(gss_apache, tag)
    assert set(lines) == {(401, "POST", "/ntlm/cgi/echo", None)}
    assert sum(lines.values()) <= MAX_REFUSED_EXCHANGES, lines


def test_ten_requests_handshake_once(gss_apache: GssApache, session: requests.Session) -> None:
    """GssapiConnectionBound: the connection that authenticated stays authenticated, so
    later requests are retried on it bare (401, 200) instead of handshaken anew."""
    tag = retag(session)
    session.auth = ChallengeAuth(NTLM_USER, NTLM_PASSWORDS[NTLM_USER])
    for _ in range(10):
        assert session.get(gss_apache.url(PATH), timeout=REQUEST_TIMEOUT).status_code == 200
    statuses = Counter(line.status for line in logged_lines(gss_apache, tag))
    assert statuses == {200: 10, 401: 11}  # the first handshake's two 401s, then one per request
    tokens = gss_apache.tokens.seen(tag)
    assert len(tokens) == 2 and all(t.carries_ntlm for t in tokens), tokens  # one NEGOTIATE, one AUTHENTICATE
