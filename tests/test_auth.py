"""ChallengeAuth's request flow, with `responses` standing in for the network."""

import copy
import hashlib
import logging
import pickle
import threading

import pytest
import requests
import responses

from requests_challenge import (
    ChallengeAuth,
    MutualAuthenticationError,
    parse_challenges,
)

DIGEST_MD5 = 'Digest realm="r", nonce="n1", qop="auth", algorithm=MD5'
DIGEST_SHA256 = 'Digest realm="r", nonce="n1", qop="auth", algorithm=SHA-256'


def credentials_of(header):
    """An Authorization value read back with the same grammar (credentials share it)."""
    (parsed,) = parse_challenges(header)
    return parsed.params


class ScriptedServer:
    """Answers from a script: challenge unless the Authorization is acceptable."""

    def __init__(self, challenges=(DIGEST_SHA256,), accept=None, status=401, extra_headers=()):
        self.challenges = list(challenges)
        self.accept = accept or (lambda auth, request: auth is not None)
        self.status = status
        self.extra_headers = list(extra_headers)
        self.seen = []  # (method, path_url, Authorization, body)

    def __call__(self, request):
        auth = request.headers.get("Authorization")
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        self.seen.append((request.method, request.path_url, auth, body))
        if self.accept(auth, request):
            return 200, self.extra_headers, "ok"
        headers = [("WWW-Authenticate", value) for value in self.challenges]
        return self.status, headers, "denied"


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def serve(mock, server, url="http://example.com/", method=responses.GET):
    mock.add_callback(method, url, callback=server)
    return server


# -- the basic flow -------------------------------------------------------------


def test_401_is_answered_once_and_kept_in_history(mock):
    server = serve(mock, ScriptedServer())
    r = requests.get("http://example.com/", auth=ChallengeAuth("alice", "secret"), timeout=5)
    assert r.status_code == 200
    assert [h.status_code for h in r.history] == [401]
    assert len(server.seen) == 2 and server.seen[0][2] is None
    params = credentials_of(server.seen[1][2])
    assert params["username"] == "alice" and params["algorithm"] == "SHA-256"


def test_strongest_challenge_across_header_lines_wins(mock):
    server = serve(mock, ScriptedServer([DIGEST_MD5, 'Basic realm="r"', DIGEST_SHA256]))
    requests.get("http://example.com/", auth=ChallengeAuth("alice", "secret"), timeout=5)
    assert credentials_of(server.seen[1][2])["algorithm"] == "SHA-256"


def test_header_lines_are_read_in_any_name_case(mock):
    def handler(request):
        if "Authorization" in request.headers:
            return 200, [], "ok"
        return 401, [("www-AUTHENTICATE", DIGEST_MD5), ("WWW-Authenticate", DIGEST_SHA256)], ""

    mock.add_callback(responses.GET, "http://example.com/", callback=handler)
    r = requests.get("http://example.com/", auth=ChallengeAuth("alice", "secret"), timeout=5)
    assert "algorithm=SHA-256" in r.request.headers["Authorization"]


def test_schemes_forbid_basic(mock):
    server = serve(mock, ScriptedServer(['Basic realm="r"']))
    r = requests.get("http://example.com/", auth=ChallengeAuth("a", "b", schemes=("digest",)), timeout=5)
    assert r.status_code == 401 and len(server.seen) == 1


def test_only_401_and_407_are_answered(mock):
    server = serve(mock, ScriptedServer(status=403))
    r = requests.get("http://example.com/", auth=ChallengeAuth("a", "b"), timeout=5)
    assert r.status_code == 403 and len(server.seen) == 1


def test_uri_is_the_encoded_request_target(mock):
    url = "http://example.com/ws/2/artist;name=a%20b/x?q=%C3%A4&k=v"
    server = ScriptedServer()
    mock.add_callback(responses.GET, url, callback=server)
    requests.get(url, auth=ChallengeAuth("a", "b"), timeout=5)
    assert credentials_of(server.seen[1][2])["uri"] == "/ws/2/artist;name=a%20b/x?q=%C3%A4&k=v"


def test_wrong_password_returns_the_second_401(mock):
    server = serve(mock, ScriptedServer(accept=lambda auth, request: False))
    r = requests.get("http://example.com/", auth=ChallengeAuth("a", "wrong"), timeout=5)
    assert r.status_code == 401 and len(r.history) == 1 and len(server.seen) == 2


def test_stale_nonce_gets_one_more_try(mock):
    nonces = iter(["n1", "n2"])

    def accept(auth, request):
        return auth is not None and 'nonce="n2"' in auth

    server = ScriptedServer(accept=accept)
    server.challenges = None

    def handler(request):
        auth = request.headers.get("Authorization")
        server.seen.append(auth)
        if accept(auth, request):
            return 200, [], "ok"
        stale = ', stale=true' if auth else ''
        return 401, [("WWW-Authenticate", f'Digest realm="r", qop="auth", nonce="{next(nonces)}"{stale}')], ""

    mock.add_callback(responses.GET, "http://example.com/", callback=handler)
    r = requests.get("http://example.com/", auth=ChallengeAuth("a", "b"), timeout=5)
    assert r.status_code == 200 and len(server.seen) == 3


def test_every_request_is_bounded(mock):
    count = []

    def handler(request):
        count.append(1)
        return 401, [("WWW-Authenticate", f'Digest realm="r", qop="auth", nonce="n{len(count)}", stale=true')], ""

    mock.add_callback(responses.GET, "http://example.com/", callback=handler)
    r = requests.get("http://example.com/", auth=ChallengeAuth("a", "b"), timeout=5)
    assert r.status_code == 401 and len(count) == 3


def test_malformed_challenge_returns_the_401_and_logs_why(mock, caplog):
    serve(mock, ScriptedServer(['Digest realm="unterminated']))
    with caplog.at_level(logging.DEBUG, logger="requests_challenge"):
        r = requests.get("http://example.com/", auth=ChallengeAuth("a", "b"), timeout=5)
    assert r.status_code == 401
    assert "unterminated quoted string" in caplog.text


def test_unsupported_challenge_returns_the_401(mock):
    serve(mock, ScriptedServer(['Bearer realm="api"', 'Digest realm="r", nonce="n", algorithm=SHA3-512']))
    r = requests.get("http://example.com/", auth=ChallengeAuth("a", "b"), timeout=5)
    assert r.status_code == 401 and not r.history


def test_cookie_set_on_the_401_is_sent_on_the_retry(mock):
    def handler(request):
        if "Authorization" in request.headers:
            assert request.headers.get("Cookie") == "session=nonce-holder"
            return 200, [], "ok"
        return 401, [("WWW-Authenticate", DIGEST_MD5), ("Set-Cookie", "session=nonce-holder; Path=/")], ""

    mock.add_callback(responses.GET, "http://example.com/", callback=handler)
    r = requests.get("http://example.com/", auth=ChallengeAuth("a", "b"), timeout=5)
    assert r.status_code == 200


def test_basic_with_charset_is_utf8(mock):
    server = serve(mock, ScriptedServer(['Basic realm="r", charset="UTF-8"']))
    requests.get("http://example.com/", auth=ChallengeAuth("test", "123£"), timeout=5)
    assert server.seen[1][2] == "Basic dGVzdDoxMjPCow=="


def test_basic_latin1_option_for_legacy_servers(mock):
    server = serve(mock, ScriptedServer(['Basic realm="r"']))
    requests.get("http://example.com/", auth=ChallengeAuth("test", "123£", basic_encoding="latin-1"), timeout=5)
    assert server.seen[1][2] == "Basic dGVzdDoxMjOj"


# -- pre-emptive credentials -------------------------------------------------------


def test_n_requests_cost_n_plus_one_exchanges_with_increasing_nc(mock):
    server = serve(mock, ScriptedServer(), url="http://example.com/")
    session = requests.Session()
    session.auth = ChallengeAuth("alice", "secret")
    for _ in range(5):
        assert session.get("http://example.com/", timeout=5).status_code == 200
    assert len(server.seen) == 6
    counts = [credentials_of(seen[2])["nc"] for seen in server.seen[1:]]
    assert counts == [f"{n:08x}" for n in range(1, 6)]


def test_digest_without_domain_covers_the_whole_origin(mock):
    server = ScriptedServer()
    for path in ("/a/b", "/elsewhere"):
        mock.add_callback(responses.GET, "http://example.com" + path, callback=server)
    mock.add_callback(responses.GET, "http://other.example/", callback=server)
    auth = ChallengeAuth("a", "b")
    requests.get("http://example.com/a/b", auth=auth, timeout=5)
    requests.get("http://example.com/elsewhere", auth=auth, timeout=5)
    requests.get("http://other.example/", auth=auth, timeout=5)
    assert [seen[2] is not None for seen in server.seen] == [False, True, True, False, True]


def test_digest_domain_limits_the_space(mock):
    server = serve(mock, ScriptedServer(['Digest realm="r", nonce="n", qop="auth", domain="/api /v2/x"']), "http://h/api/one")
    for path in ("/api/two", "/apiary", "/v2/x/y"):
        mock.add_callback(responses.GET, "http://h" + path, callback=server)
    auth = ChallengeAuth("a", "b")
    for path in ("/api/one", "/api/two", "/apiary", "/v2/x/y"):
        requests.get("http://h" + path, auth=auth, timeout=5)
    sent_up_front = {seen[1]: seen[2] is not None for seen in server.seen}
    assert [seen[1] for seen in server.seen] == ["/api/one", "/api/one", "/api/two", "/apiary", "/apiary", "/v2/x/y"]
    assert sent_up_front["/api/two"] and sent_up_front["/v2/x/y"]


def test_basic_space_is_the_directory_and_below(mock):
    server = ScriptedServer(['Basic realm="r"'])
    for path in ("/docs/a", "/docs/sub/b", "/other"):
        mock.add_callback(responses.GET, "http://h" + path, callback=server)
    auth = ChallengeAuth("a", "b")
    for path in ("/docs/a", "/docs/sub/b", "/other"):
        requests.get("http://h" + path, auth=auth, timeout=5)
    assert [(seen[1], seen[2] is not None) for seen in server.seen] == [
        ("/docs/a", False), ("/docs/a", True), ("/docs/sub/b", True), ("/other", False), ("/other", True),
    ]


def test_401_after_preemptive_is_a_fresh_challenge(mock):
    current = {"nonce": "n1"}

    def handler(request):
        auth = request.headers.get("Authorization")
        if auth and f'nonce="{current["nonce"]}"' in auth:
            return 200, [], "ok"
        return 401, [("WWW-Authenticate", f'Digest realm="r", qop="auth", nonce="{current["nonce"]}"')], ""

    mock.add_callback(responses.GET, "http://example.com/", callback=handler)
    session = requests.Session()
    session.auth = ChallengeAuth("a", "b")
    assert session.get("http://example.com/", timeout=5).status_code == 200
    current["nonce"] = "n2"  # rotated, no stale=true
    r = session.get("http://example.com/", timeout=5)
    assert r.status_code == 200 and len(r.history) == 1
    r = session.get("http://example.com/", timeout=5)
    assert r.status_code == 200 and not r.history and 'nonce="n2"' in r.request.headers["Authorization"]


def test_preemptive_basic_needs_no_challenge(mock):
    server = serve(mock, ScriptedServer(accept=lambda auth, request: auth == "Basic YTpi"))
    r = requests.get("http://example.com/", auth=ChallengeAuth("a", "b", preemptive_basic=True), timeout=5)
    assert r.status_code == 200 and len(server.seen) == 1


def test_preemptive_basic_is_not_sent_to_another_origin_after_redirect(mock):
    mock.add(responses.GET, "http://example.com/", status=302, headers={"Location": "http://evil.example/"})
    evil = serve(mock, ScriptedServer(['Basic realm="r"']), "http://evil.example/")
    r = requests.get("http://example.com/", auth=ChallengeAuth("a", "b", preemptive_basic=True), timeout=5)
    assert r.status_code == 401
    assert [seen[2] for seen in evil.seen] == [None]


# -- Authentication-Info -------------------------------------------------------------


def _rspauth(auth_header, password="b"):
    params = credentials_of(auth_header)
    ha1 = hashlib.md5(f"{params['username']}:{params['realm']}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f":{params['uri']}".encode()).hexdigest()
    data = f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:{params['qop']}:{ha2}"
    return hashlib.md5(data.encode()).hexdigest(), params


def test_nextnonce_replaces_the_nonce_and_restarts_nc(mock):
    def handler(request):
        auth = request.headers.get("Authorization")
        if auth is None:
            return 401, [("WWW-Authenticate", DIGEST_MD5)], ""
        rspauth, params = _rspauth(auth)
        info = f'nextnonce="fresh", qop=auth, rspauth="{rspauth}", cnonce="{params["cnonce"]}", nc={params["nc"]}'
        return 200, [("Authentication-Info", info)], "ok"

    mock.add_callback(responses.GET, "http://example.com/", callback=handler)
    session = requests.Session()
    session.auth = ChallengeAuth("a", "b")
    session.get("http://example.com/", timeout=5)
    r = session.get("http://example.com/", timeout=5)
    params = credentials_of(r.request.headers["Authorization"])
    assert params["nonce"] == "fresh" and params["nc"] == "00000001"


def test_rspauth_mismatch_raises_mutual_authentication_error(mock):
    def handler(request):
        if "Authorization" not in request.headers:
            return 401, [("WWW-Authenticate", DIGEST_MD5)], ""
        return 200, [("Authentication-Info", 'rspauth="00000000000000000000000000000000"')], "ok"

    mock.add_callback(responses.GET, "http://example.com/", callback=handler)
    with pytest.raises(MutualAuthenticationError) as excinfo:
        requests.get("http://example.com/", auth=ChallengeAuth("a", "pw-secret"), timeout=5)
    assert "rspauth" in str(excinfo.value) and "pw-secret" not in str(excinfo.value)


def test_correct_rspauth_is_accepted(mock):
    def handler(request):
        auth = request.headers.get("Authorization")
        if auth is None:
            return 401, [("WWW-Authenticate", DIGEST_MD5)], ""
        rspauth, params = _rspauth(auth)
        return 200, [("Authentication-Info", f'rspauth="{rspauth}", cnonce="{params["cnonce"]}", nc={params["nc"]}, qop=auth')], "ok"

    mock.add_callback(responses.GET, "http://example.com/", callback=handler)
    assert requests.get("http://example.com/", auth=ChallengeAuth("a", "b"), timeout=5).status_code == 200


def test_rspauth_is_checked_on_requests_sent_up_front_too(mock):
    """The hook's fast path still reads Authentication-Info when Digest went up front."""
    replies = iter(["right", "right", "wrong"])

    def handler(request):
        auth = request.headers.get("Authorization")
        if auth is None:
            return 401, [("WWW-Authenticate", DIGEST_MD5)], ""
        rspauth, params = _rspauth(auth)
        if next(replies) == "wrong":
            rspauth = "0" * 32
        info = f'rspauth="{rspauth}", cnonce="{params["cnonce"]}", nc={params["nc"]}, qop=auth'
        return 200, [("Authentication-Info", info)], "ok"

    mock.add_callback(responses.GET, "http://example.com/", callback=handler)
    with requests.Session() as session:
        session.auth = ChallengeAuth("a", "b")
        assert session.get("http://example.com/", timeout=5).status_code == 200  # answered
        r = session.get("http://example.com/", timeout=5)  # up front, rspauth right
        assert r.status_code == 200 and not r.history
        with pytest.raises(MutualAuthenticationError):
            session.get("http://example.com/", timeout=5)  # up front, rspauth wrong


def test_nextnonce_on_a_request_sent_up_front_is_followed(mock):
    nonces = iter(["n2", "n3", "n4"])

    def handler(request):
        auth = request.headers.get("Authorization")
        if auth is None:
            return 401, [("WWW-Authenticate", DIGEST_MD5)], ""
        return 200, [("Authentication-Info", f'nextnonce="{next(nonces)}"')], "ok"

    mock.add_callback(responses.GET, "http://example.com/", callback=handler)
    with requests.Session() as session:
        session.auth = ChallengeAuth("a", "b")
        sent = [session.get("http://example.com/", timeout=5).request.headers["Authorization"] for _ in range(3)]
    assert [(credentials_of(a)["nonce"], credentials_of(a)["nc"]) for a in sent] == [
        ("n1", "00000001"), ("n2", "00000001"), ("n3", "00000001")
    ]


def test_a_plain_200_to_credentials_sent_up_front_makes_no_dialogue(mock, monkeypatch):
    """Dialogues (and their targets and budgets) are made when a reply calls for one:
    a 200 with nothing for the credentials sent is returned as it is."""
    import requests_challenge._auth as glue

    made = []

    class CountedDialogue(glue.Dialogue):
        def __init__(self, *args, **kwargs):
            made.append(args[0].name)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(glue, "Dialogue", CountedDialogue)
    server = serve(mock, ScriptedServer())
    with requests.Session() as session:
        session.auth = ChallengeAuth("alice", "secret", proxy_auth=("p", "q"))
        session.get("http://example.com/", timeout=5)
        assert made == ["origin"]  # the hop that met the 401 (no proxy chosen: none for it)
        made.clear()
        for _ in range(3):
            assert session.get("http://example.com/", timeout=5).status_code == 200
    assert made == []
    assert [credentials_of(auth)["nc"] for _, _, auth, _ in server.seen[2:]] == ["00000002", "00000003", "00000004"]


# -- proxies -------------------------------------------------------------------------


def test_407_through_a_plain_http_proxy_is_answered(mock):
    seen = []

    def handler(request):
        seen.append(request.headers.get("Proxy-Authorization"))
        if request.headers.get("Proxy-Authorization"):
            return 200, [], "ok"
        return 407, [("Proxy-Authenticate", 'Digest realm="proxy", nonce="p", qop="auth"')], ""

    mock.add_callback(responses.GET, "http://example.com/x", callback=handler)
    auth = ChallengeAuth("a", "b", proxy_auth=("puser", "ppass"))
    r = requests.get("http://example.com/x", auth=auth, proxies={"http": "http://proxy.test:3128"}, timeout=5)
    assert r.status_code == 200
    params = credentials_of(seen[1])
    assert params["username"] == "puser" and params["uri"] == "http://example.com/x"
    assert "Authorization" not in r.request.headers


def test_407_without_a_proxy_gets_no_proxy_credentials(mock):
    def handler(request):
        assert "Proxy-Authorization" not in request.headers
        return 407, [("Proxy-Authenticate", 'Basic realm="fake"')], ""

    mock.add_callback(responses.GET, "http://example.com/", callback=handler)
    auth = ChallengeAuth("a", "b", proxy_auth=("puser", "ppass"))
    r = requests.get("http://example.com/", auth=auth, proxies={}, timeout=5)
    assert r.status_code == 407 and not r.history


def test_proxy_and_origin_challenges_in_one_chain(mock):
    def handler(request):
        if not request.headers.get("Proxy-Authorization"):
            return 407, [("Proxy-Authenticate", 'Basic realm="proxy"')], ""
        if not request.headers.get("Authorization"):
            return 401, [("WWW-Authenticate", DIGEST_SHA256)], ""
        return 200, [], "ok"

    mock.add_callback(responses.GET, "http://example.com/", callback=handler)
    auth = ChallengeAuth("a", "b", proxy_auth=("puser", "ppass"))
    r = requests.get("http://example.com/", auth=auth, proxies={"http": "http://proxy.test:3128"}, timeout=5)
    assert r.status_code == 200 and [h.status_code for h in r.history] == [407, 401]


# -- security --------------------------------------------------------------------------


def test_redirect_to_another_origin_that_challenges_gets_nothing(mock):
    mock.add(responses.GET, "http://example.com/", status=302, headers={"Location": "http://evil.example/"})
    evil = serve(mock, ScriptedServer(['Basic realm="r"']), "http://evil.example/")
    r = requests.get("http://example.com/", auth=ChallengeAuth("a", "b"), timeout=5)
    assert r.status_code == 401 and [seen[2] for seen in evil.seen] == [None]


def test_https_to_http_on_the_same_host_is_another_origin(mock):
    mock.add(responses.GET, "https://example.com/", status=302, headers={"Location": "http://example.com/"})
    plain = serve(mock, ScriptedServer(), "http://example.com/")
    r = requests.get("https://example.com/", auth=ChallengeAuth("a", "b"), timeout=5)
    assert r.status_code == 401 and [seen[2] for seen in plain.seen] == [None]


def test_same_origin_redirect_that_challenges_is_answered(mock):
    mock.add(responses.GET, "http://example.com/old", status=301, headers={"Location": "/new"})
    new = serve(mock, ScriptedServer(), "http://example.com/new")
    r = requests.get("http://example.com/old", auth=ChallengeAuth("a", "b"), timeout=5)
    assert r.status_code == 200 and credentials_of(new.seen[1][2])["uri"] == "/new"


@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "a\x00b"])
def test_control_characters_are_rejected_at_construction(bad):
    with pytest.raises(ValueError) as excinfo:
        ChallengeAuth("user", bad)
    assert bad not in str(excinfo.value)
    with pytest.raises(ValueError):
        ChallengeAuth(bad, "password")
    with pytest.raises(ValueError):
        ChallengeAuth("user", "password", proxy_auth=("p", bad))


def test_secrets_stay_out_of_repr_and_logs(mock, caplog):
    server = serve(mock, ScriptedServer([DIGEST_SHA256, 'Basic realm="r"']))
    auth = ChallengeAuth("alice", "hunter2-password", proxy_auth=("puser", "proxy-pass-9"))
    assert "hunter2" not in repr(auth) and "proxy-pass-9" not in repr(auth)
    with caplog.at_level(logging.DEBUG):
        requests.get("http://example.com/", auth=auth, timeout=5)
    response_digest = credentials_of(server.seen[1][2])["response"]
    assert "hunter2" not in caplog.text and response_digest not in caplog.text


# -- bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"\x00binary\xffpayload", "text body"])
def test_bytes_and_str_bodies_are_resent(mock, body):
    server = serve(mock, ScriptedServer(), method=responses.POST)
    requests.post("http://example.com/", data=body, auth=ChallengeAuth("a", "b"), timeout=5)
    assert server.seen[0][3] == server.seen[1][3] == body


def test_generator_body_cannot_be_resent_silently(mock):
    serve(mock, ScriptedServer(), method=responses.POST)

    def chunks():
        yield b"part1"
        yield b"part2"

    with pytest.raises(requests.exceptions.UnrewindableBodyError) as excinfo:
        requests.post("http://example.com/", data=chunks(), auth=ChallengeAuth("a", "b"), timeout=5)
    assert excinfo.value.response.status_code == 401


def test_auth_int_hashes_the_exact_body(mock):
    body = b'{"exact": "bytes"}'
    server = serve(mock, ScriptedServer(['Digest realm="r", nonce="n", qop="auth-int"']), method=responses.POST)
    requests.post("http://example.com/", data=body, auth=ChallengeAuth("a", "b"), timeout=5)
    params = credentials_of(server.seen[1][2])
    assert params["qop"] == "auth-int"
    ha1 = hashlib.md5(b"a:r:b").hexdigest()
    ha2 = hashlib.md5(b"POST:/:" + hashlib.md5(body).hexdigest().encode()).hexdigest()
    expected = hashlib.md5(f"{ha1}:n:{params['nc']}:{params['cnonce']}:auth-int:{ha2}".encode()).hexdigest()
    assert params["response"] == expected


# -- sharing, threads, pickling ------------------------------------------------------------


def test_request_prepared_in_one_thread_sent_in_another(mock):
    serve(mock, ScriptedServer())
    session = requests.Session()
    prepared = session.prepare_request(requests.Request("GET", "http://example.com/", auth=ChallengeAuth("a", "b")))
    result = {}
    worker = threading.Thread(target=lambda: result.update(r=session.send(prepared, timeout=5)))
    worker.start()
    worker.join(10)
    assert result["r"].status_code == 200


def test_a_deep_copy_of_a_prepared_request_keeps_one_chain_and_one_store(mock):
    """The hook is shared by copies, as a function hook would be: no second auth object."""
    server = serve(mock, ScriptedServer())
    auth = ChallengeAuth("alice", "secret")
    with requests.Session() as session:
        session.auth = auth
        session.get("http://example.com/", timeout=5)
        prepared = session.prepare_request(requests.Request("GET", "http://example.com/"))
        clone = copy.deepcopy(prepared)
        assert clone.hooks["response"] == prepared.hooks["response"]
        assert session.send(clone, timeout=5).status_code == 200
    assert [credentials_of(a)["nc"] for _, _, a, _ in server.seen[1:]] == ["00000001", "00000002"]


def test_pickle_and_deepcopy_start_with_no_remembered_nonce(mock):
    server = serve(mock, ScriptedServer())
    session = requests.Session()
    session.auth = ChallengeAuth("a", "b", schemes=("digest",), proxy_auth=("p", "q"))
    session.get("http://example.com/", timeout=5)
    for clone in (pickle.loads(pickle.dumps(session)), copy.deepcopy(session)):
        assert repr(clone.auth) == repr(session.auth)
        before = len(server.seen)
        clone.get("http://example.com/", timeout=5)
        assert server.seen[before][2] is None  # challenged afresh
    restored = pickle.loads(pickle.dumps(session.auth))
    assert isinstance(restored, ChallengeAuth) and restored.username == "a"


def test_preemptive_credentials_do_not_follow_http_to_https_on_the_same_host(mock):
    """requests keeps Authorization on this 'upgrade'; it is another origin all the same."""
    mock.add(responses.GET, "http://example.com/", status=301, headers={"Location": "https://example.com/"})
    secure = serve(mock, ScriptedServer(['Basic realm="r"']), "https://example.com/")
    r = requests.get("http://example.com/", auth=ChallengeAuth("a", "b", preemptive_basic=True), timeout=5)
    assert r.status_code == 401 and [seen[2] for seen in secure.seen] == [None]
    assert r.history[0].request.url == "http://example.com/"


def test_preemptive_credentials_follow_a_same_origin_redirect(mock):
    mock.add(responses.GET, "http://example.com/old", status=302, headers={"Location": "/new"})
    new = serve(mock, ScriptedServer(accept=lambda auth, request: auth == "Basic YTpi"), "http://example.com/new")
    r = requests.get("http://example.com/old", auth=ChallengeAuth("a", "b", preemptive_basic=True), timeout=5)
    assert r.status_code == 200 and [seen[2] for seen in new.seen] == ["Basic YTpi"]


def test_a_challenge_that_cannot_be_answered_falls_back_to_the_next(mock):
    """A ':' is fine in a Digest name but impossible in Basic (RFC 7617 §2)."""
    server = serve(mock, ScriptedServer(['Basic realm="r"', 'Digest realm="r", nonce="n", qop="auth-int"']),
                   method=responses.POST)

    def stream():
        yield b"chunk"

    r = requests.post("http://example.com/", data=b"x", auth=ChallengeAuth("domain:user", "p"), timeout=5)
    assert r.status_code == 200 and credentials_of(server.seen[1][2])["username"] == "domain:user"
    # Neither can be sent with a one-shot body (auth-int hashes it): the 401 comes back as is.
    r = requests.post("http://example.com/", data=stream(), auth=ChallengeAuth("domain:user", "p"), timeout=5)
    assert r.status_code == 401 and not r.history


def test_nothing_answerable_returns_the_401_without_raising(mock):
    serve(mock, ScriptedServer(['Basic realm="r"']))
    r = requests.get("http://example.com/", auth=ChallengeAuth("domain:user", "p"), timeout=5)
    assert r.status_code == 401 and not r.history


def test_proxy_credentials_do_not_ride_along_on_a_redirect(mock):
    """The 407 is answered on the retry only; the redirect hop starts without them."""
    seen = []

    def first(request):
        seen.append(("first", request.headers.get("Proxy-Authorization")))
        if request.headers.get("Proxy-Authorization"):
            return 302, [("Location", "http://other.example/next")], ""
        return 407, [("Proxy-Authenticate", 'Basic realm="proxy"')], ""

    def hop(request):
        seen.append(("hop", request.headers.get("Proxy-Authorization")))
        return 200, [], "ok"

    mock.add_callback(responses.GET, "http://example.com/", callback=first)
    mock.add_callback(responses.GET, "http://other.example/next", callback=hop)
    auth = ChallengeAuth("a", "b", proxy_auth=("puser", "ppass"))
    r = requests.get("http://example.com/", auth=auth, proxies={"http": "http://proxy.test:3128"}, timeout=5)
    assert r.status_code == 200
    assert seen[0] == ("first", None) and seen[1][1].startswith("Basic ") and seen[2] == ("hop", None)


def test_item_8_credentials_are_sent_at_most_twice_per_request_when_every_answer_is_stale(mock):
    """After one success, a server that calls every later answer stale gets two
    credentialed requests per call (up front, then one answer), as the tunnel does."""
    state = {"accepted": 0}

    def accept(auth, request):
        if auth is not None and state["accepted"] == 0:
            state["accepted"] += 1
            return True
        return False

    stale = 'Digest realm="r", nonce="n2", qop="auth", algorithm=SHA-256, stale=true'
    server = serve(mock, ScriptedServer([stale], accept=accept))
    with requests.Session() as session:
        session.auth = ChallengeAuth("a", "b")
        assert session.get("http://example.com/", timeout=5).status_code == 200
        for _ in range(3):
            server.seen.clear()
            r = session.get("http://example.com/", timeout=5)
            assert r.status_code == 401
            assert sum(auth is not None for _, _, auth, _ in server.seen) == 2, server.seen
