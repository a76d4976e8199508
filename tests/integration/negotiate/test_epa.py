"""Extended Protection (channel binding) over https, against a strict acceptor.

mod_auth_gssapi cannot check channel bindings, so ``epa_server`` (support.EpaServer,
test support code wrapping pyspnego's acceptor) plays an IIS with Extended
Protection set to "Required": a Kerberos or NTLM token without the RFC 5929
``tls-server-end-point`` binding of its certificate, or with a wrong one, gets a
401 (test_smoke proves that with pyspnego's client).  ChallengeAuth must bind
its tokens to the TLS connection it sends them on.

The server offers ``WWW-Authenticate: Negotiate`` and ``WWW-Authenticate: NTLM``
and answers 200 with JSON (user, protocol, channel_bound, body_length,
body_sha256).  It is addressed as https://localhost:PORT with a certificate
for localhost that the client trusts (``verify=``).
"""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
import requests

from requests_challenge import ChallengeAuth

from ..servers import REQUEST_TIMEOUT
from ..tagging import exchanges, retag
from .support import BODY_48K, KERBEROS_PASSWORD, KERBEROS_USER, NTLM_PASSWORD, NTLM_USER, EpaServer

pytestmark = pytest.mark.integration


def _get(epa_server: EpaServer, session: requests.Session, auth: ChallengeAuth, path: str = "/epa") -> requests.Response:
    session.verify = epa_server.ca_file
    return session.get(epa_server.url(path), auth=auth, timeout=REQUEST_TIMEOUT)


def test_kerberos_with_channel_binding(epa_server: EpaServer, session: requests.Session) -> None:
    tag = retag(session)
    r = _get(epa_server, session, ChallengeAuth(KERBEROS_USER, KERBEROS_PASSWORD))
    assert r.status_code == 200, epa_server.verdicts(tag)
    assert r.json()["protocol"] == "kerberos" and r.json()["user"] == KERBEROS_USER
    assert r.json()["channel_bound"] is True
    assert exchanges(epa_server, tag) == Counter({(401, "GET", "/epa", None): 1, (200, "GET", "/epa", KERBEROS_USER): 1})
    assert epa_server.verdicts(tag) == []


def test_kerberos_from_the_ticket_cache_with_channel_binding(epa_server: EpaServer, ticket_cache: str,
                                                             session: requests.Session) -> None:
    tag = retag(session)
    r = _get(epa_server, session, ChallengeAuth())
    assert r.status_code == 200, epa_server.verdicts(tag)
    assert r.json()["protocol"] == "kerberos" and r.json()["user"] == ticket_cache


def test_ntlm_with_channel_binding(epa_server: EpaServer, session: requests.Session) -> None:
    tag = retag(session)
    r = _get(epa_server, session, ChallengeAuth(NTLM_USER, NTLM_PASSWORD))
    assert r.status_code == 200, epa_server.verdicts(tag)
    assert r.json()["protocol"] == "ntlm" and r.json()["user"] == NTLM_USER
    assert r.json()["channel_bound"] is True
    assert exchanges(epa_server, tag) == Counter({(401, "GET", "/epa", None): 2, (200, "GET", "/epa", NTLM_USER): 1})
    assert epa_server.verdicts(tag) == []


@pytest.mark.parametrize("user,password,protocol", [
    pytest.param(KERBEROS_USER, KERBEROS_PASSWORD, "kerberos", id="kerberos"),
    pytest.param(NTLM_USER, NTLM_PASSWORD, "ntlm", id="ntlm"),
])
def test_several_requests_and_a_post_body(epa_server: EpaServer, session: requests.Session, user: str, password: str,
                                          protocol: str) -> None:
    """A Session keeps passing the strict check: GETs, then a 48 KiB POST."""
    session.auth = ChallengeAuth(user, password)
    session.verify = epa_server.ca_file
    tag = retag(session)
    for _ in range(3):
        r = session.get(epa_server.url("/epa"), timeout=REQUEST_TIMEOUT)
        assert r.status_code == 200, epa_server.verdicts(tag)
        assert r.json()["protocol"] == protocol
    r = session.post(epa_server.url("/epa/post"), data=BODY_48K, timeout=REQUEST_TIMEOUT)
    assert r.status_code == 200, epa_server.verdicts(tag)
    assert r.json()["body_length"] == len(BODY_48K)
    assert r.json()["body_sha256"] == hashlib.sha256(BODY_48K).hexdigest()
    assert epa_server.verdicts(tag) == []
    lines = exchanges(epa_server, tag)
    assert lines[(200, "GET", "/epa", user)] == 3 and lines[(200, "POST", "/epa/post", user)] == 1


def test_a_final_kerberos_token_that_does_not_verify_raises(epa_server: EpaServer, session: requests.Session) -> None:
    """RFC 4559 §5: the server's last Negotiate token proves it knows the service key; one
    that does not verify raises MutualAuthenticationError, and the answer is not believed."""
    from requests_challenge import MutualAuthenticationError

    retag(session)
    with pytest.raises(MutualAuthenticationError, match="Negotiate"):
        _get(epa_server, session, ChallengeAuth(KERBEROS_USER, KERBEROS_PASSWORD), path="/impostor")
    r = _get(epa_server, session, ChallengeAuth(KERBEROS_USER, KERBEROS_PASSWORD))
    assert r.status_code == 200
