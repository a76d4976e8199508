"""ChallengeMiddleware in front of WSGI applications: with werkzeug's test Client and
hand-built environs (no socket), and a Flask application served by ChallengeServer and
logged into with requests and ChallengeAuth."""

import base64
import hashlib
import io
import sys
from typing import Dict, List, Optional

import pytest
import requests

from requests_challenge import ChallengeAuth, parse_auth_params, parse_challenges
from requests_challenge.testing import (
    Basic,
    ChallengeMiddleware,
    ChallengeServer,
    Digest,
    Exchange,
    Verifier,
    echo_app,
)

werkzeug_test = pytest.importorskip("werkzeug.test")

USERS = {"alice": "secret"}
BASIC = "Basic " + base64.b64encode(b"alice:secret").decode()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def digest_credentials(challenge: Dict[str, str], method: str, uri: str, qop: str = "auth", body: bytes = b"",
                       nc: str = "00000001") -> str:
    """RFC 7616 §3.4 by hand, MD5, for alice."""
    ha1 = md5(f"alice:{challenge['realm']}:secret".encode())
    ha2 = md5(f"{method}:{uri}".encode() + (b":" + md5(body).encode() if qop == "auth-int" else b""))
    answer = md5(f"{ha1}:{challenge['nonce']}:{nc}:0a4f113b:{qop}:{ha2}".encode())
    return (f'Digest username="alice", realm="{challenge["realm"]}", nonce="{challenge["nonce"]}", uri="{uri}", '
            f'algorithm=MD5, qop={qop}, nc={nc}, cnonce="0a4f113b", response="{answer}"')


def expected_rspauth(challenge: Dict[str, str], uri: str, qop: str, body: bytes, nc: str = "00000001") -> str:
    """RFC 7616 §3.5: A2 = ":" uri [":" H(response body)]."""
    ha1 = md5(f"alice:{challenge['realm']}:secret".encode())
    ha2 = md5(f":{uri}".encode() + (b":" + md5(body).encode() if qop == "auth-int" else b""))
    return md5(f"{ha1}:{challenge['nonce']}:{nc}:0a4f113b:{qop}:{ha2}".encode())


class Recorder:
    """A WSGI application that remembers what it was called with."""

    def __init__(self, status: str = "200 OK", body: bytes = b"hello") -> None:
        self.status, self.body = status, body
        self.environs: List[dict] = []
        self.bodies: List[bytes] = []

    def __call__(self, environ, start_response):
        self.environs.append(environ)
        self.bodies.append(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        start_response(self.status, [("Content-Type", "text/plain"), ("Content-Length", str(len(self.body)))])
        return [self.body]


def client(middleware: ChallengeMiddleware):
    return werkzeug_test.Client(middleware)


def first_challenge(response, header: str = "WWW-Authenticate") -> Dict[str, str]:
    return parse_challenges(response.headers.getlist(header))[0].params


# -- refusing: the application is not called ------------------------------------------------------


def test_no_credentials_get_the_challenges_and_the_app_is_not_called():
    app = Recorder()
    middleware = ChallengeMiddleware(app, USERS, [Digest("MD5"), Basic()])
    r = client(middleware).get("/private?x=1")
    assert r.status_code == 401 and app.environs == []
    assert [c.scheme for c in parse_challenges(r.headers.getlist("WWW-Authenticate"))] == ["Digest", "Basic"]
    assert r.json == {"status": 401, "error": "no credentials"}
    assert list(middleware.exchanges) == [Exchange("GET", "/private?x=1", None, 401, None, "no credentials")]


def test_wrong_credentials_are_refused_and_logged():
    app = Recorder()
    middleware = ChallengeMiddleware(app, USERS, [Basic()])
    wrong = "Basic " + base64.b64encode(b"alice:wrong").decode()
    r = client(middleware).get("/", headers={"Authorization": wrong})
    assert r.status_code == 401 and app.environs == []
    assert middleware.exchanges[-1] == Exchange("GET", "/", wrong, 401, None, "wrong password")


def test_malformed_digest_is_a_400_without_challenge():
    middleware = ChallengeMiddleware(Recorder(), USERS, [Digest("MD5")])
    r = client(middleware).get("/", headers={"Authorization": "Digest realm="})
    assert r.status_code == 400 and "WWW-Authenticate" not in r.headers


# -- accepting: the application runs with the user in its environ ------------------------------------


def test_basic_reaches_the_app_with_remote_user():
    app = Recorder(status="404 Not Found")
    middleware = ChallengeMiddleware(app, USERS, [Basic()])
    r = client(middleware).get("/a", headers={"Authorization": BASIC})
    assert (r.status_code, r.get_data()) == (404, b"hello")  # the app's own answer, whatever its status
    (environ,) = app.environs
    assert (environ["REMOTE_USER"], environ["AUTH_TYPE"]) == ("alice", "Basic")
    assert (environ["requests_challenge.user"], environ["requests_challenge.scheme"]) == ("alice", "Basic")
    assert environ["requests_challenge.verdict"].accepted
    assert middleware.exchanges[-1] == Exchange("GET", "/a", BASIC, 404, "alice", "")


def test_digest_auth_int_hands_the_body_on_and_signs_the_answer():
    app = Recorder(body=b"the answer")
    middleware = ChallengeMiddleware(app, USERS, [Digest("MD5", qop="auth-int")])
    c = client(middleware)
    challenge = first_challenge(c.post("/up", data=b"first"))
    header = digest_credentials(challenge, "POST", "/up", "auth-int", b"payload")
    r = c.post("/up", data=b"payload", headers={"Authorization": header})
    assert r.status_code == 200 and app.bodies == [b"payload"]  # read for the check, not lost for the app
    info = parse_auth_params(r.headers["Authentication-Info"])
    assert info["rspauth"] == expected_rspauth(challenge, "/up", "auth-int", b"the answer")
    assert c.post("/up", data=b"tampered", headers={"Authorization": header}).status_code == 401


def test_a_streamed_answer_is_logged_once_and_closed():
    closed = []

    class Body:
        def __iter__(self):
            yield b"a"
            yield b""
            yield b"b"

        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()

    middleware = ChallengeMiddleware(app, USERS, [Digest("MD5")])
    c = client(middleware)
    challenge = first_challenge(c.get("/s"))
    r = c.get("/s", headers={"Authorization": digest_credentials(challenge, "GET", "/s")})
    assert r.get_data() == b"ab"
    r.close()
    assert closed == [True]
    info = parse_auth_params(r.headers["Authentication-Info"])
    assert info["rspauth"] == expected_rspauth(challenge, "/s", "auth", b"")
    assert [e.status for e in middleware.exchanges] == [401, 200]


def test_the_status_logged_is_the_one_sent_after_an_error():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("broken")
        except ValueError:
            start_response("500 Internal Server Error", [("Content-Length", "3")], sys.exc_info())
        return [b"bad"]

    middleware = ChallengeMiddleware(app, USERS, [Basic()])
    status, _, body = call(middleware, environ("/", authorization=BASIC))  # werkzeug's client re-raises exc_info
    assert (status, body) == ("500 Internal Server Error", b"bad")
    assert [e.status for e in middleware.exchanges] == [500]


def test_paths_protected_and_open():
    app = Recorder()
    middleware = ChallengeMiddleware(app, USERS, [Basic()], protected=["/private"], open_paths=["/private/open"])
    c = client(middleware)
    assert c.get("/public").status_code == 200
    assert c.get("/privateer").status_code == 200  # prefixes match whole segments
    assert c.get("/private/open/x").status_code == 200
    assert c.get("/private/x").status_code == 401
    assert "REMOTE_USER" not in app.environs[0]
    assert [e.user for e in middleware.exchanges] == [None] * 4


def test_a_body_over_max_body_is_refused_before_the_app():
    app = Recorder()
    middleware = ChallengeMiddleware(app, USERS, [Basic()], max_body=4)
    r = client(middleware).post("/", data=b"12345", headers={"Authorization": BASIC})
    assert r.status_code == 413 and app.environs == []
    assert middleware.exchanges[-1].reason == "body too large"
    assert client(middleware).post("/", data=b"1234", headers={"Authorization": BASIC}).status_code == 200


def test_cookie_set_with_the_challenge_must_come_back():
    middleware = ChallengeMiddleware(Recorder(), USERS, [Basic()], cookie="sid=42")
    c = werkzeug_test.Client(middleware, use_cookies=False)
    r = c.get("/")
    assert "sid=42" in r.headers["Set-Cookie"]
    assert c.get("/", headers={"Authorization": BASIC, "Cookie": "other=1"}).status_code == 401
    assert middleware.exchanges[-1].reason == "the cookie set with the challenge did not come back"
    assert c.get("/", headers={"Authorization": BASIC, "Cookie": "other=1; sid=42"}).status_code == 200


def test_proxy_mode_uses_407_and_proxy_headers():
    middleware = ChallengeMiddleware(Recorder(), USERS, [Digest("MD5")], proxy=True)
    c = client(middleware)
    r = c.get("/p")
    assert r.status_code == 407 and "WWW-Authenticate" not in r.headers
    challenge = first_challenge(r, "Proxy-Authenticate")
    header = digest_credentials(challenge, "GET", "/p")
    assert c.get("/p", headers={"Authorization": header}).status_code == 407  # the origin's header: not ours
    r = c.get("/p", headers={"Proxy-Authorization": header})
    assert r.status_code == 200 and "rspauth" in r.headers["Proxy-Authentication-Info"]


@pytest.mark.parametrize("qop", ["auth", "auth-int"])
def test_both_sides_keep_to_pep_3333(qop):
    """wsgiref's validator between server and middleware, and between middleware and app."""
    from wsgiref.validate import validator

    middleware = ChallengeMiddleware(validator(echo_app), USERS, [Digest("MD5", qop=qop), Basic()])
    c = werkzeug_test.Client(validator(middleware))
    refused = c.post("/v", data=b"body")
    challenge = first_challenge(refused)
    refused.close()
    r = c.post("/v", data=b"body", headers={"Authorization": digest_credentials(challenge, "POST", "/v", qop, b"body")})
    assert r.status_code == 200 and r.json["body_length"] == 4
    r.close()


# -- hand-built environs -------------------------------------------------------------------------------


def environ(path: str, query: str = "", authorization: Optional[str] = None, **extra) -> dict:
    """A minimal PEP 3333 environ, without RAW_URI/REQUEST_URI, as some servers give."""
    env = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
           "SERVER_NAME": "test", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.version": (1, 0),
           "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""), "wsgi.errors": io.StringIO(),
           "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False}
    if authorization is not None:
        env["HTTP_AUTHORIZATION"] = authorization
    env.update(extra)
    return env


def call(app, env: dict):
    started = []
    body = b"".join(app(env, lambda status, headers, exc_info=None: started.append((status, headers))))
    return started[-1][0], dict(started[-1][1]), body


def test_the_request_target_is_rebuilt_when_the_server_does_not_keep_it():
    middleware = ChallengeMiddleware(echo_app, USERS, [Digest("MD5")])
    status, headers, _ = call(middleware, environ("/a b", "x=1"))
    assert status.startswith("401")
    challenge = parse_challenges(headers["WWW-Authenticate"])[0].params
    status, _, body = call(middleware, environ("/a b", "x=1", digest_credentials(challenge, "GET", "/a%20b?x=1")))
    assert status == "200 OK" and b'"target": "/a%20b?x=1"' in body


def test_chunked_bodies_are_read_to_their_end_and_bounded():
    app = Recorder()
    middleware = ChallengeMiddleware(app, USERS, [Basic()], max_body=10)
    body = io.BytesIO(b"0123456789")
    status, _, _ = call(middleware, environ("/", authorization=BASIC, **{"wsgi.input": body,
                                                                          "wsgi.input_terminated": True}))
    assert status == "200 OK" and app.bodies == [b"0123456789"]
    over = io.BytesIO(b"0123456789!")
    status, _, _ = call(middleware, environ("/", authorization=BASIC, **{"wsgi.input": over,
                                                                          "wsgi.input_terminated": True}))
    assert status.startswith("413")


def test_a_shared_verifier_and_its_options_are_not_mixed():
    verifier = Verifier(USERS, [Basic()])
    first, second = ChallengeMiddleware(Recorder(), verifier=verifier), ChallengeMiddleware(echo_app, verifier=verifier)
    assert first.verifier is second.verifier and first.users == USERS
    with pytest.raises(TypeError):
        ChallengeMiddleware(echo_app, USERS, verifier=verifier)
    with pytest.raises(TypeError):
        ChallengeMiddleware(echo_app, strict_nc=True, verifier=verifier)
    with pytest.raises(ValueError):
        ChallengeMiddleware(echo_app, cookie="no-equals-sign")


# -- ChallengeServer(app=...) -----------------------------------------------------------------------


def test_server_serves_a_middleware_as_it_is():
    middleware = ChallengeMiddleware(Recorder(body=b"mine"), USERS, [Basic()])
    with ChallengeServer(app=middleware) as server:
        assert server.exchanges is middleware.exchanges and server.users == USERS
        r = requests.get(server.url + "/x", auth=ChallengeAuth("alice", "secret"), timeout=5)
        assert r.content == b"mine"
    assert [e.status for e in middleware.exchanges] == [401, 200]
    with pytest.raises(TypeError):
        ChallengeServer(USERS, app=middleware)


def test_server_wraps_a_plain_app():
    app = Recorder(body=b"plain")
    with ChallengeServer(USERS, [Digest("SHA-256")], app=app, strict_nc=True) as server:
        r = requests.get(server.url + "/x", auth=ChallengeAuth("alice", "secret"), timeout=5)
        assert r.content == b"plain" and app.environs[0]["REMOTE_USER"] == "alice"
        assert isinstance(server.middleware, ChallengeMiddleware) and server.verifier.strict_nc


# -- Flask -----------------------------------------------------------------------------------------


def test_flask_app_behind_the_middleware_with_a_digest_login():
    flask = pytest.importorskip("flask")
    app = flask.Flask("behind-challenge")

    @app.route("/hello/<name>", methods=["GET", "POST"])
    def hello(name):
        return {"hello": name, "user": flask.request.remote_user, "body": flask.request.get_data().decode()}

    middleware = ChallengeMiddleware(app.wsgi_app, USERS, [Digest("SHA-256", qop="auth-int"), Basic()])
    app.wsgi_app = middleware  # the Flask way to add WSGI middleware
    with ChallengeServer(app=middleware) as server, requests.Session() as session:
        auth = ChallengeAuth("alice", "secret")
        r = session.post(server.url + "/hello/world", data=b"payload", auth=auth, timeout=5)
        assert r.status_code == 200, server.exchanges[-1].reason
        assert r.json() == {"hello": "world", "user": "alice", "body": "payload"}
        assert "rspauth" in r.headers["Authentication-Info"]  # over Flask's answer: auth-int
        assert session.get(server.url + "/nowhere", auth=auth, timeout=5).status_code == 404
    assert [e.status for e in server.exchanges] == [401, 200, 404]
    assert [e.user for e in server.exchanges] == [None, "alice", "alice"]
    # Flask's own test client goes through the same middleware.
    assert app.test_client().get("/hello/x").status_code == 401
