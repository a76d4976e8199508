"""ChallengeServer judged from the client's seat: credentials are built by hand here,
with hashlib and the RFCs' formulas, so the server is checked against the RFCs and
not against the package's own client code (except in the ChallengeAuth tests at the end)."""

import base64
import hashlib
import http.client
import os
import shutil
import socket
import ssl
import threading
from typing import Callable, Dict, Optional, Tuple
from urllib.parse import quote

import pytest
import requests

from requests_challenge import ChallengeAuth, parse_auth_params, parse_challenges
from requests_challenge.testing import Basic, ChallengeServer, Digest, Exchange, Raw, self_signed_certificate

pytest_plugins = ["pytester"]

USERS = {"alice": "secret", "Jäsøn": "Sëcret€"}
_HASHLIB = {"MD5": "md5", "SHA": "sha1", "SHA-256": "sha256", "SHA-512": "sha512", "SHA-512-256": "sha512_256"}


@pytest.fixture
def serve():
    """Start ChallengeServers with USERS; all are stopped after the test."""
    servers = []

    def start(*challenges, **options) -> ChallengeServer:
        options.setdefault("users", USERS)
        if challenges:
            options["challenges"] = challenges
        server = ChallengeServer(**options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def send(server, path="/", authorization=None, method="GET", **kwargs) -> requests.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    return requests.request(method, server.url + path, headers=headers, timeout=5, **kwargs)


def challenges_of(response, header="WWW-Authenticate"):
    return parse_challenges(response.raw.headers.getlist(header))


def digest_challenge(response, index=0) -> Dict[str, str]:
    return [c.params for c in challenges_of(response) if c.scheme == "Digest"][index]


def h(algorithm: str, data: bytes) -> str:
    name = _HASHLIB[algorithm.upper().replace("-SESS", "")]
    try:
        return hashlib.new(name, data).hexdigest()
    except ValueError:  # an OpenSSL without SHA-512/256
        from requests_challenge._sha512_256 import sha512_256_hexdigest

        return sha512_256_hexdigest(data)


def digest_credentials(
    challenge: Dict[str, str],
    user: str,
    password: str,
    method: str = "GET",
    uri: str = "/",
    *,
    qop: Optional[str] = "auth",
    nc: str = "00000001",
    cnonce: str = "0a4f113b",
    body: bytes = b"",
    username_field: Optional[str] = None,
) -> Tuple[str, Callable[[bytes], str]]:
    """RFC 7616 §3.4 by hand: the Authorization value, and the rspauth expected back (§3.5)."""
    algorithm = challenge.get("algorithm", "MD5")
    nonce = challenge["nonce"]
    ha1 = h(algorithm, user.encode() + b":" + challenge["realm"].encode("latin-1") + b":" + password.encode())
    if algorithm.upper().endswith("-SESS"):
        ha1 = h(algorithm, f"{ha1}:{nonce}:{cnonce}".encode())

    def response(a2: str, entity: bytes) -> str:
        if qop == "auth-int":
            a2 += ":" + h(algorithm, entity)
        ha2 = h(algorithm, a2.encode())
        data = f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}" if qop else f"{ha1}:{nonce}:{ha2}"
        return h(algorithm, data.encode())

    fields = [
        username_field or f'username="{user}"',
        f'realm="{challenge["realm"]}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
        f'response="{response(f"{method}:{uri}", body)}"',
    ]
    if "algorithm" in challenge:
        fields.append(f"algorithm={challenge['algorithm']}")
    if "opaque" in challenge:
        fields.append(f'opaque="{challenge["opaque"]}"')
    if qop:
        fields.append(f'qop={qop}, nc={nc}, cnonce="{cnonce}"')
    return "Digest " + ", ".join(fields), lambda entity: response(f":{uri}", entity)


def basic_credentials(user: str, password: str, encoding: str = "utf-8") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode(encoding)).decode()


# -- Basic (RFC 7617) ------------------------------------------------------------


@pytest.mark.parametrize(
    "user, password, encoding, status, reason",
    [
        ("alice", "secret", "utf-8", 200, ""),
        ("alice", "wrong", "utf-8", 401, "wrong password"),
        ("mallory", "secret", "utf-8", 401, "unknown user"),
        ("Jäsøn", "Sëcret€", "utf-8", 200, ""),
    ],
)
def test_basic(serve, user, password, encoding, status, reason):
    server = serve(Basic())
    r = send(server, "/b", basic_credentials(user, password, encoding))
    assert (r.status_code, server.exchanges[-1].reason) == (status, reason)
    if status == 200:
        assert r.json()["user"] == user and r.json()["scheme"] == "Basic"
    else:
        assert [str(c) for c in challenges_of(r)] == ['Basic realm="requests-challenge"']


def test_basic_latin1_is_accepted_unless_charset_utf8_was_offered(serve):
    legacy = basic_credentials("Jäsøn", "Sëcret", "latin-1")
    server = serve(Basic(), users={"Jäsøn": "Sëcret"})
    assert send(server, "/", legacy).status_code == 200
    strict = serve(Basic(charset=True), users={"Jäsøn": "Sëcret"})
    r = send(strict, "/", legacy)
    assert r.status_code == 401 and strict.exchanges[-1].reason == "malformed Basic credentials"
    assert r.headers["WWW-Authenticate"] == 'Basic realm="requests-challenge", charset="UTF-8"'


@pytest.mark.parametrize("value", ["Basic", "Basic !!!", "Basic YWxpY2U=", "Basic a b"])
def test_malformed_basic_is_refused(serve, value):
    server = serve(Basic())
    assert send(server, "/", value).status_code == 401
    assert server.exchanges[-1].reason == "malformed Basic credentials"


def test_basic_is_refused_when_only_digest_was_offered(serve):
    server = serve(Digest())
    assert send(server, "/", basic_credentials("alice", "secret")).status_code == 401
    assert server.exchanges[-1].reason == "Basic was not offered"


# -- Digest (RFC 7616) -------------------------------------------------------------


@pytest.mark.parametrize(
    "algorithm", ["MD5", "md5", "SHA", "SHA-256", "SHA-512", "SHA-512-256", "MD5-sess", "SHA-256-sess", None]
)
def test_digest_each_algorithm_with_rspauth(serve, algorithm):
    server = serve(Digest(algorithm))
    challenge = digest_challenge(send(server, "/d?q=1"))
    assert challenge.get("algorithm") == algorithm and challenge["qop"] == "auth"
    header, rspauth = digest_credentials(challenge, "alice", "secret", uri="/d?q=1")
    r = send(server, "/d?q=1", header)
    assert r.status_code == 200, server.exchanges[-1].reason
    assert r.json()["algorithm"] == (algorithm or "MD5").upper()
    info = parse_auth_params(r.headers["Authentication-Info"])
    assert info == {"rspauth": rspauth(r.content), "qop": "auth", "nc": "00000001", "cnonce": "0a4f113b"}


def test_digest_wrong_password(serve):
    server = serve(Digest())
    header, _ = digest_credentials(digest_challenge(send(server)), "alice", "wrong")
    r = send(server, "/", header)
    assert r.status_code == 401 and server.exchanges[-1].reason == "wrong response"
    assert "stale" not in digest_challenge(r)


def test_auth_int_covers_both_bodies(serve):
    server = serve(Digest("SHA-256", qop="auth-int"))
    challenge = digest_challenge(send(server, "/up", method="POST", data=b"x"))
    header, rspauth = digest_credentials(challenge, "alice", "secret", "POST", "/up", qop="auth-int", body=b"payload")
    r = send(server, "/up", header, "POST", data=b"payload")
    assert r.status_code == 200
    assert r.json()["body_sha256"] == hashlib.sha256(b"payload").hexdigest()
    assert parse_auth_params(r.headers["Authentication-Info"])["rspauth"] == rspauth(r.content)
    # The same credentials with another body: the entity hash no longer matches.
    assert send(server, "/up", header, "POST", data=b"tampered").status_code == 401


def test_client_chooses_one_qop_of_two(serve):
    server = serve(Digest("SHA-256", qop="auth,auth-int"))
    challenge = digest_challenge(send(server))
    assert challenge["qop"] == "auth,auth-int"
    for qop in ("auth", "auth-int"):
        header, _ = digest_credentials(challenge, "alice", "secret", qop=qop, nc=f"{len(qop):08x}")
        assert send(server, "/", header).status_code == 200


def test_rfc2069_no_qop(serve):
    server = serve(Digest("MD5", qop=None, opaque=""))
    challenge = digest_challenge(send(server))
    assert "qop" not in challenge and challenge["opaque"] == ""
    header, rspauth = digest_credentials(challenge, "alice", "secret", qop=None)
    r = send(server, "/", header)
    assert r.status_code == 200
    assert parse_auth_params(r.headers["Authentication-Info"]) == {"rspauth": rspauth(r.content)}
    with_qop, _ = digest_credentials(challenge, "alice", "secret", qop="auth")
    assert send(server, "/", with_qop).status_code == 401
    assert "RFC 2069" in server.exchanges[-1].reason


def test_userhash(serve):
    server = serve(Digest("SHA-256", userhash=True))
    challenge = digest_challenge(send(server))
    assert challenge["userhash"] == "true"
    hashed = h("SHA-256", "Jäsøn:requests-challenge".encode())
    header, _ = digest_credentials(challenge, "Jäsøn", "Sëcret€", username_field=f'username="{hashed}"')
    r = send(server, "/", header + ", userhash=true")
    assert r.status_code == 200 and r.json()["user"] == "Jäsøn"
    unhashed, _ = digest_credentials(challenge, "alice", "secret", nc="00000002")
    assert send(server, "/", unhashed).status_code == 200  # hashing is the client's choice


def test_userhash_needs_the_offer(serve):
    server = serve(Digest("SHA-256"))
    hashed = h("SHA-256", b"alice:requests-challenge")
    header, _ = digest_credentials(digest_challenge(send(server)), "alice", "secret", username_field=f'username="{hashed}"')
    assert send(server, "/", header + ", userhash=true").status_code == 401
    assert server.exchanges[-1].reason == "userhash was not offered"


@pytest.mark.parametrize(
    "field, status, reason",
    [
        ("username*=UTF-8''" + quote("Jäsøn"), 200, ""),
        ("username*=utf-8'de'" + quote("Jäsøn"), 200, ""),
        ("username*=ISO-8859-1''" + quote("Jäsøn", encoding="latin-1"), 200, ""),
        ('username="Jäsøn"', 200, ""),  # raw UTF-8 octets: the header is sent as UTF-8 below
        ("username*=UTF-8''%FF", 401, "malformed username*"),
        ("username*=''x", 401, "malformed username*"),
        ("username*=UTF-8''" + quote("Jäsøn") + ', username="x"', 401, "both username and username* (RFC 7616 §3.4.4)"),
    ],
)
def test_non_ascii_usernames(serve, field, status, reason):
    server = serve(Digest("SHA-256", charset=True))
    challenge = digest_challenge(send(server))
    assert challenge["charset"] == "UTF-8"
    header, _ = digest_credentials(challenge, "Jäsøn", "Sëcret€", username_field=field)
    r = requests.get(server.url, headers={"Authorization": header.encode("utf-8").decode("latin-1")}, timeout=5)
    assert (r.status_code, server.exchanges[-1].reason) == (status, reason)


def test_several_digest_challenges_each_on_its_own_line_with_own_nonce(serve):
    server = serve(Digest("SHA-256"), Digest("MD5"), Basic(), Raw('Bearer realm="api"'))
    r = send(server)
    lines = r.raw.headers.getlist("WWW-Authenticate")
    assert [line.split()[0] for line in lines] == ["Digest", "Digest", "Basic", "Bearer"]
    sha, md5 = digest_challenge(r, 0), digest_challenge(r, 1)
    assert sha["nonce"] != md5["nonce"] and sha["nonce"].endswith("==")
    # A nonce belongs to its challenge: the SHA-256 nonce cannot be answered with MD5.
    header, _ = digest_credentials(dict(md5, nonce=sha["nonce"]), "alice", "secret")
    assert send(server, "/", header).status_code == 401
    assert server.exchanges[-1].reason == "algorithm does not match the challenge"
    assert send(server, "/", "Bearer token").status_code == 401
    assert server.exchanges[-1].reason == "unsupported scheme 'bearer'"


def test_one_header_joins_the_challenges(serve):
    server = serve(Digest("SHA-256"), Basic(), one_header=True)
    r = send(server)
    assert len(r.raw.headers.getlist("WWW-Authenticate")) == 1
    assert [c.scheme for c in challenges_of(r)] == ["Digest", "Basic"]


def test_domain_and_opaque_are_offered_and_opaque_must_come_back(serve):
    server = serve(Digest(opaque="o p", domain=("/a", "/b/")))
    challenge = digest_challenge(send(server))
    assert challenge["domain"] == "/a /b/" and challenge["opaque"] == "o p"
    header, _ = digest_credentials(challenge, "alice", "secret")
    assert send(server, "/", header.replace('opaque="o p"', 'opaque="x"')).status_code == 401
    assert server.exchanges[-1].reason == "opaque does not match the challenge"
    assert send(server, "/", header.replace(', opaque="o p"', "")).status_code == 401
    assert send(server, "/", header).status_code == 200


@pytest.mark.parametrize(
    "change, status, reason",
    [
        (('uri="/"', 'uri="/other"'), 400, "uri does not match the request-target"),
        (('realm="requests-challenge"', 'realm="x"'), 401, "realm does not match the challenge"),
        (("algorithm=SHA-256", "algorithm=MD5"), 401, "algorithm does not match the challenge"),
        (("nc=00000001", "nc=1"), 401, "qop without a valid nc and cnonce"),
        (("nc=00000001", "nc=00000000"), 401, "qop without a valid nc and cnonce"),
        (("qop=auth", "qop=auth-int"), 401, "qop 'auth-int' was not offered"),
        (('response="', 'x="'), 400, "Digest credentials without response"),
        (('nonce="', 'nonce="x'), 401, "unknown nonce"),
        (('realm="', 'realm="a", realm="'), 400, "malformed Digest credentials"),
    ],
)
def test_digest_fields_are_checked(serve, change, status, reason):
    server = serve(Digest("SHA-256"))
    header, _ = digest_credentials(digest_challenge(send(server)), "alice", "secret")
    assert change[0] in header
    r = send(server, "/", header.replace(*change, 1))
    assert (r.status_code, server.exchanges[-1].reason) == (status, reason)
    assert ("WWW-Authenticate" in r.headers) == (status == 401)


# -- nonces --------------------------------------------------------------------------


def test_expired_nonce_is_stale_only_for_a_right_answer(serve):
    server = serve(Digest("SHA-256"))
    challenge = digest_challenge(send(server))
    header, _ = digest_credentials(challenge, "alice", "secret")
    assert send(server, "/", header).status_code == 200
    server.expire_nonces()
    header, _ = digest_credentials(challenge, "alice", "secret", nc="00000002")
    r = send(server, "/", header)
    assert r.status_code == 401 and server.exchanges[-1].reason == "stale nonce"
    assert digest_challenge(r)["stale"] == "true"
    wrong, _ = digest_credentials(challenge, "alice", "wrong", nc="00000003")
    r = send(server, "/", wrong)
    assert r.status_code == 401 and "stale" not in digest_challenge(r)


def test_nonce_lifetime(serve):
    server = serve(Digest("SHA-256"), nonce_lifetime=0.0)
    header, _ = digest_credentials(digest_challenge(send(server)), "alice", "secret")
    assert send(server, "/", header).status_code == 401
    assert server.exchanges[-1].reason == "stale nonce"


@pytest.mark.parametrize("rspauth", [True, False])
def test_nextnonce_is_valid_from_nc_1(serve, rspauth):
    server = serve(Digest("SHA-256"), nextnonce=True, rspauth=rspauth)
    challenge = digest_challenge(send(server))
    header, _ = digest_credentials(challenge, "alice", "secret")
    info = parse_auth_params(send(server, "/", header).headers["Authentication-Info"])
    assert ("rspauth" in info) == rspauth and info["nextnonce"] != challenge["nonce"]
    header, _ = digest_credentials(dict(challenge, nonce=info["nextnonce"]), "alice", "secret")
    assert send(server, "/", header).status_code == 200


def test_no_authentication_info_when_switched_off(serve):
    server = serve(Digest("SHA-256"), rspauth=False)
    header, _ = digest_credentials(digest_challenge(send(server)), "alice", "secret")
    assert "Authentication-Info" not in send(server, "/", header).headers


def test_one_time_nonces(serve):
    server = serve(Digest("SHA-256"), one_time_nonces=True)
    challenge = digest_challenge(send(server))
    header, _ = digest_credentials(challenge, "alice", "secret")
    info = parse_auth_params(send(server, "/", header).headers["Authentication-Info"])
    second, _ = digest_credentials(challenge, "alice", "secret", nc="00000002")
    r = send(server, "/", second)
    assert r.status_code == 401 and digest_challenge(r)["stale"] == "true"
    header, _ = digest_credentials(dict(challenge, nonce=info["nextnonce"]), "alice", "secret")
    assert send(server, "/", header).status_code == 200


@pytest.mark.parametrize("strict", [True, False])
def test_nonce_count_reuse(serve, strict):
    server = serve(Digest("SHA-256"), strict_nc=strict)
    challenge = digest_challenge(send(server))
    statuses = []
    for nc in ("00000001", "00000003", "00000002", "00000003"):  # out of order is fine, reuse is not
        header, _ = digest_credentials(challenge, "alice", "secret", nc=nc)
        statuses.append(send(server, "/", header).status_code)
    assert statuses == ([200, 200, 200, 401] if strict else [200] * 4)
    if strict:
        assert server.exchanges[-1].reason == "nonce count reused"


# -- cookies, routes, recording, connections ----------------------------------------------


def test_cookie_from_the_challenge_must_come_back(serve):
    server = serve(Digest("SHA-256"), cookie="sid=42")
    r = send(server)
    assert r.cookies["sid"] == "42"
    header, _ = digest_credentials(digest_challenge(r), "alice", "secret")
    assert send(server, "/", header).status_code == 401
    assert server.exchanges[-1].reason == "the cookie set with the challenge did not come back"
    assert send(server, "/", header, cookies={"sid": "42"}).status_code == 200


def test_routes_and_protection(serve):
    server = serve(Basic(), protected=["/private"], open_paths=["/private/open"])
    credentials = basic_credentials("alice", "secret")
    assert send(server, "/public").json()["user"] is None
    assert send(server, "/private/open/x").status_code == 200
    assert send(server, "/privateer").status_code == 200  # prefixes match whole segments
    assert send(server, "/private/x").status_code == 401
    r = send(server, "/private/redirect", credentials)
    assert r.status_code == 200  # /redirect only at the root
    r = send(server, "/redirect?to=/private/x&status=307", method="POST", allow_redirects=False)
    assert (r.status_code, r.headers["Location"]) == (307, "/private/x")
    assert send(server, "/redirect").status_code == 400
    assert send(server, "/status/404").status_code == 404
    assert send(server, "/status/204").content == b""
    assert send(server, "/status/99").status_code == 400


def test_echo_proves_the_body_arrived_whole(serve):
    server = serve(Basic(), protected=[])
    body = bytes(range(256)) * 1000
    echo = send(server, "/e?x=1", method="PUT", data=body).json()
    assert echo == {
        "method": "PUT", "path": "/e", "target": "/e?x=1", "user": None, "scheme": None, "algorithm": None,
        "body_length": len(body), "body_sha256": hashlib.sha256(body).hexdigest(),
    }
    chunked = send(server, "/c", method="POST", data=iter([body[:1000], body[1000:]])).json()
    assert chunked["body_sha256"] == echo["body_sha256"]


def test_oversized_body_is_refused_and_the_connection_closed(serve):
    server = serve(Basic(), max_body=10)
    r = send(server, "/", method="POST", data=b"x" * 11)
    assert r.status_code == 413 and r.headers["Connection"] == "close"


def test_exchanges_are_recorded_and_cleared(serve):
    server = serve(Basic())
    send(server, "/a?b")
    send(server, "/a", basic_credentials("alice", "secret"), "DELETE")
    assert list(server.exchanges) == [
        Exchange("GET", "/a?b", None, 401, None, "no credentials"),
        Exchange("DELETE", "/a", basic_credentials("alice", "secret"), 200, "alice", ""),
    ]
    assert server.exchanges[-1].user == "alice" and len(server.exchanges) == 2
    server.exchanges.clear()
    assert list(server.exchanges) == []


def test_keep_alive_and_content_length_on_every_reply(serve):
    server = serve(Digest("SHA-256"))
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("GET", "/k")
        first = connection.getresponse()
        first.read()
        sock = connection.sock
        header, _ = digest_credentials(digest_challenge_from(first), "alice", "secret", uri="/k")
        connection.request("GET", "/k", headers={"Authorization": header})
        second = connection.getresponse()
        second.read()
        assert (first.status, second.status) == (401, 200)
        assert connection.sock is sock  # the same connection carried both
        assert first.getheader("Content-Length") and second.getheader("Content-Length")
    finally:
        connection.close()


def digest_challenge_from(response: http.client.HTTPResponse) -> Dict[str, str]:
    (challenge,) = parse_challenges(response.msg.get_all("WWW-Authenticate"))
    return challenge.params


def test_stop_ends_idle_keep_alive_connections_and_closes_the_socket(serve):
    server = serve(Basic(), timeout=30)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("GET", "/")
    connection.getresponse().read()
    port = server.port
    server.stop()  # returns at once, though a connection idles with a 30 s timeout
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises((http.client.HTTPException, OSError)):
        connection.request("GET", "/")
        connection.getresponse()
    connection.close()
    server.stop()  # twice is harmless


def test_proxy_mode_uses_407_and_proxy_headers(serve):
    server = serve(Digest("SHA-256"), proxy=True)
    proxies = {"http": server.url}
    r = requests.get("http://origin.test/p", proxies=proxies, timeout=5)
    assert r.status_code == 407 and "WWW-Authenticate" not in r.headers
    (challenge,) = challenges_of(r, "Proxy-Authenticate")
    header, _ = digest_credentials(challenge.params, "alice", "secret", uri="http://origin.test/p")
    r = requests.get("http://origin.test/p", proxies=proxies, headers={"Proxy-Authorization": header}, timeout=5)
    assert r.status_code == 200 and "rspauth" in r.headers["Proxy-Authentication-Info"]
    assert r.json()["target"] == "http://origin.test/p"


def test_nothing_reaches_stderr(serve, capfd):
    server = serve(Basic())
    send(server, "/", basic_credentials("alice", "secret"))
    send(server, "/", basic_credentials("alice", "wrong"))
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(b"NONSENSE\r\n\r\n")
        raw.recv(1000)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_repr_names_users_but_never_passwords(serve):
    server = serve(Basic())
    assert "secret" not in repr(server) and "alice" in repr(server)


@pytest.mark.parametrize(
    "make", [lambda: Digest("SHA-3"), lambda: Digest("MD5-sess", qop=None), lambda: Digest(qop="auth-conf")]
)
def test_invalid_offers_are_refused_early(make):
    with pytest.raises(ValueError):
        make()


# -- TLS -------------------------------------------------------------------------------


def test_tls(serve, tmp_path):
    try:
        certificate = self_signed_certificate(tmp_path)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    cert = certificate.cert
    server = serve(Digest("SHA-256"), ssl_context=certificate.server_context())
    assert server.url.startswith("https://127.0.0.1:")
    r = requests.get(server.url + "/tls", auth=ChallengeAuth("alice", "secret"), verify=cert, timeout=5)
    assert r.status_code == 200 and r.json()["user"] == "alice"
    # A client that fails the handshake costs one connection, not the server.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(server.url, timeout=5)
    assert requests.get(server.url, verify=cert, timeout=5).status_code == 401


def test_tls_true_makes_a_certificate_for_the_life_of_the_server():
    server = ChallengeServer(USERS, [Digest("SHA-256")], tls=True)
    try:
        server.start()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    try:
        assert server.url.startswith("https://127.0.0.1:")
        cafile = server.certificate.cafile
        r = requests.get(server.url + "/tls", auth=ChallengeAuth("alice", "secret"), verify=cafile, timeout=5)
        assert r.status_code == 200 and r.json()["user"] == "alice"
    finally:
        server.stop()
    assert not os.path.exists(cafile) and server.certificate is None  # removed with the server


def test_tls_and_ssl_context_together_are_refused(tmp_path):
    with pytest.raises(ValueError):
        ChallengeServer(tls=True, ssl_context=ssl.create_default_context())


# -- any WSGI application: framing, failures, threads ------------------------------------------


def streaming_app(environ, start_response):
    """No Content-Length: the server frames the answer itself."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return iter([b"one ", b"", b"two"])


def test_an_answer_without_content_length_is_chunked_on_a_kept_connection(serve):
    server = serve(Basic(), app=streaming_app, protected=[])
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("GET", "/")
        first = connection.getresponse()
        assert first.getheader("Transfer-Encoding") == "chunked" and first.read() == b"one two"
        sock = connection.sock
        connection.request("HEAD", "/")
        head = connection.getresponse()
        assert head.read() == b"" and head.getheader("Transfer-Encoding") is None
        connection.request("GET", "/")
        assert connection.getresponse().read() == b"one two" and connection.sock is sock
    finally:
        connection.close()


def test_an_http10_client_gets_the_answer_until_the_connection_ends(serve):
    server = serve(Basic(), app=streaming_app, protected=[])
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.0\r\n\r\n")
        received = b""
        for _ in range(100):  # bounded: the server closes after the body
            part = raw.recv(4096)
            if not part:
                break
            received += part
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"chunked" not in head and body == b"one two"


def test_a_failing_application_gets_a_500_and_a_log_line_not_stderr(serve, caplog, capfd):
    def broken(environ, start_response):
        raise RuntimeError("boom")

    server = serve(Basic(), app=broken, protected=[])
    r = send(server, "/b")
    assert r.status_code == 500 and "RuntimeError" in r.text
    assert any("RuntimeError" in record.getMessage() for record in caplog.records)
    assert capfd.readouterr().err == ""


def test_stop_joins_the_connection_threads(serve):
    server = serve(Basic(), timeout=30)
    connections = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=5) for _ in range(3)]
    for connection in connections:
        connection.request("GET", "/")
        connection.getresponse().read()
    prefix = f"ChallengeServer:{server.port}"
    assert any(t.name.startswith(prefix) for t in threading.enumerate())
    server.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith(prefix)]
    for connection in connections:
        connection.close()


def test_a_burst_of_concurrent_connections_is_served(serve):
    server = serve(Basic(), protected=[])
    statuses = []

    def one():
        with requests.Session() as session:
            statuses.append(session.get(server.url, timeout=10).status_code)

    threads = [threading.Thread(target=one) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * 32


# -- with ChallengeAuth ----------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"challenges": [Digest("SHA-256"), Digest("MD5"), Basic()]}, id="three offers"),
        pytest.param({"challenges": [Digest("SHA-512-256-sess", qop="auth-int", opaque="")]}, id="sess auth-int"),
        pytest.param({"challenges": [Digest("SHA-256", userhash=True, charset=True)]}, id="userhash"),
        pytest.param({"challenges": [Digest("MD5", qop=None)], "one_time_nonces": True}, id="rfc2069 one-time"),
        pytest.param({"challenges": [Digest()], "strict_nc": True, "cookie": "sid=1"}, id="strict nc cookie"),
        pytest.param({"challenges": [Basic(charset=True)]}, id="basic utf-8"),
    ],
)
@pytest.mark.parametrize("user", sorted(USERS))
def test_challenge_auth_passes_every_configuration(serve, options, user):
    server = serve(**options)
    with requests.Session() as session:
        auth = ChallengeAuth(user, USERS[user])
        for body in (b"one", b"two"):
            r = session.post(server.url + "/x?y", data=body, auth=auth, timeout=5)
            assert r.status_code == 200, server.exchanges[-1].reason
            assert r.json()["user"] == user and r.json()["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert [e.status for e in server.exchanges] == [401, 200, 200]  # the second went up front


def test_concurrent_clients(serve):
    server = serve(Digest("SHA-256"), strict_nc=True)
    auth = ChallengeAuth("alice", "secret")
    results = []

    def work():
        with requests.Session() as session:
            results.extend(session.get(server.url, auth=auth, timeout=5).status_code for _ in range(10))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [200] * 40


# -- the pytest fixture ------------------------------------------------------------------


def test_fixture_with_and_without_options(pytester):
    pytester.makepyfile(
        """
        import pytest, requests
        from requests_challenge.testing import DEMO_PASSWORD, DEMO_USER, Basic

        def test_default(challenge_server):
            r = requests.get(challenge_server.url, auth=(DEMO_USER, DEMO_PASSWORD), timeout=5)
            assert r.status_code == 200 and r.json()["user"] == DEMO_USER

        @pytest.mark.challenge_server(users={"bob": "pw"}, challenges=[Basic(realm="r")], protected=["/p"])
        def test_options(challenge_server):
            assert requests.get(challenge_server.url + "/open", timeout=5).status_code == 200
            assert requests.get(challenge_server.url + "/p", auth=("bob", "pw"), timeout=5).status_code == 200
            assert challenge_server.exchanges[-1].user == "bob"

        @pytest.mark.challenge_server(tls=True)
        def test_https(challenge_server):
            assert challenge_server.url.startswith("https://")
            r = requests.get(challenge_server.url, auth=(DEMO_USER, DEMO_PASSWORD),
                             verify=challenge_server.certificate.cafile, timeout=5)
            assert r.status_code == 200
        """
    )
    # By module name, and with the entry point's name blocked, so it loads once either way.
    result = pytester.runpytest("-p", "no:requests_challenge", "-p", "requests_challenge._pytest_plugin", "--strict-markers")
    result.assert_outcomes(passed=3 if shutil.which("openssl") else 2, errors=0 if shutil.which("openssl") else 1)


@pytest.mark.challenge_proxy(challenges=[Digest("SHA-256")])
def test_the_challenge_proxy_fixture_challenges_then_forwards(challenge_proxy, challenge_server) -> None:  # type: ignore[no-untyped-def]
    """Both fixtures at once: the proxy's 407 answered, then the origin's 401 through it."""
    from requests_challenge.testing import DEMO_PASSWORD, DEMO_USER

    with requests.Session() as session:
        session.trust_env = False  # no proxy settings from the environment
        session.proxies = {"http": challenge_proxy.url}
        session.auth = ChallengeAuth(DEMO_USER, DEMO_PASSWORD, proxy_auth=(DEMO_USER, DEMO_PASSWORD))
        assert session.get(challenge_server.url + "/through", timeout=30).status_code == 200
    proxied = challenge_proxy.exchanges.snapshot()
    assert proxied[0].status == 407 and proxied[-1].status == 200
    assert all(e.authorization is not None for e in proxied[1:])  # the proxy's credentials on every retry
    assert [e.status for e in challenge_server.exchanges.snapshot()] == [401, 200]
