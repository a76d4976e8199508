"""Servers that issue Basic and Digest challenges, for testing clients.

    import requests
    from requests_challenge import ChallengeAuth
    from requests_challenge.testing import Basic, ChallengeServer, Digest

    with ChallengeServer(users={"alice": "secret"},
                         challenges=[Digest("SHA-256"), Digest("MD5"), Basic()]) as server:
        r = requests.get(server.url + "/private", auth=ChallengeAuth("alice", "secret"))
        assert r.json()["user"] == "alice"
        assert [e.status for e in server.exchanges] == [401, 200]

Three layers, each usable alone:

- `Verifier` (``_verifier.py``): pure. Renders the challenges and judges
  credentials (RFC 7617; RFC 7616 §3.3-3.5; RFC 8187 for ``username*``) with
  its own code for nonces, nonce counts, user lookup and the response, so that
  it judges a client instead of agreeing with it: only the hash functions and
  the header grammar are shared with the client side. Returns a `Verdict`.
- `ChallengeMiddleware` (``_middleware.py``): the verifier in front of any WSGI
  application (PEP 3333), Flask's or Django's included; logs every exchange.
- `ChallengeServer` (``_server.py``): serves a WSGI application behind the
  middleware on 127.0.0.1, HTTP/1.1 keep-alive, http or https (``tls=True``).

Two more ways to put the verifier in front of something:

- `ChallengeProxy` (``_proxy.py``): a forward proxy on 127.0.0.1 that answers
  407 with Proxy-Authenticate (RFC 9110 §11.7.1) and judges
  Proxy-Authorization, for plain-http requests (absolute-form, forwarded
  without the proxy's credentials) and CONNECT tunnels (RFC 9110 §9.3.6), to
  loopback origins only. ``on_407=`` picks what it does with the connection
  after a 407 ("keep-alive", "close", "drop", "http/1.0"); CONNECTs are logged
  with the authority as ``path``; ``proxy.connections`` counts connections.
- `requests_challenge.testing.httpserver.protect` (not imported here: it is
  for pytest-httpserver, an optional dependency): the middleware in front of a
  running pytest-httpserver server, so a 401 consumes none of its expectations.

And what they use: the offers `Basic`, `Digest`, `Raw` (``_offers.py``); the
built-in routes `echo_app` (``_app.py``); `Exchange` / `ExchangeLog`
(``_log.py``); `self_signed_certificate` (``_certificates.py``).

Routes of `echo_app`, the default application. Paths under ``protected``
(default: all) and not under ``open_paths`` need credentials first; then:

    /redirect?to=URL[&status=307]   a redirect to URL
    /status/CODE                    an empty answer with that status
    anything else                   200, JSON: method, path, target, user, scheme,
                                    algorithm, body_length, body_sha256

Every exchange is recorded in ``server.exchanges`` (method, path, Authorization
received, status, user, and why credentials were refused); ``.clear()`` empties it.

pytest: the ``challenge_server`` fixture yields a started server with the user
``DEMO_USER`` / ``DEMO_PASSWORD``. Options are ChallengeServer keyword arguments
given in a marker:

    @pytest.mark.challenge_server(challenges=[Digest("MD5", qop=None)], strict_nc=True)
    def test_rfc2069(challenge_server):
        requests.get(challenge_server.url, auth=...)

    @pytest.mark.challenge_server(tls=True)
    def test_https(challenge_server):
        requests.get(challenge_server.url, verify=challenge_server.certificate.cafile, auth=...)

The package's ``pytest11`` entry point provides it; without the entry point, add
``pytest_plugins = ["requests_challenge._pytest_plugin"]`` to a root conftest.py.
For several servers in one test, use ``with ChallengeServer(...)`` directly.
"""

from ._app import echo_app
from ._certificates import SelfSignedCertificate, self_signed_certificate
from ._log import Exchange, ExchangeLog
from ._middleware import ChallengeMiddleware
from ._offers import DEFAULT_REALM, Basic, Digest, Raw
from ._proxy import ChallengeProxy
from ._server import ChallengeServer
from ._verifier import DEMO_PASSWORD, DEMO_USER, Outcome, Verdict, Verifier

__all__ = [
    "DEFAULT_REALM",
    "DEMO_USER",
    "DEMO_PASSWORD",
    "Basic",
    "Digest",
    "Raw",
    "Exchange",
    "ExchangeLog",
    "Outcome",
    "Verdict",
    "Verifier",
    "ChallengeMiddleware",
    "ChallengeServer",
    "ChallengeProxy",
    "echo_app",
    "SelfSignedCertificate",
    "self_signed_certificate",
]
