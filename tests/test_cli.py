"""The command line, run as a user runs it (``python -m requests_challenge``) against
the embedded server: exit codes, what reaches stdout and stderr, and that no secret does."""

import hashlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from requests_challenge import parse_challenges
from requests_challenge._cli import main, redact_credentials
from requests_challenge.testing import DEMO_PASSWORD, Basic, ChallengeServer, Digest

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "pw-Xq7-unguessable"  # distinctive, so a leak anywhere in the output is found
USERS = {"alice": PASSWORD}


def run(*args, env=None, input=None, timeout=30):
    """``python -m requests_challenge ARGS`` with no terminal, no proxies from the environment."""
    environment = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith("REQUESTS_CHALLENGE")}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    environment.update(env or {})
    stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
    return subprocess.run(
        [sys.executable, "-m", "requests_challenge", *args], env=environment, capture_output=True,
        timeout=timeout, start_new_session=True, **stdin,  # no controlling terminal: getpass reads stdin
    )


@pytest.fixture
def server():
    with ChallengeServer(USERS, [Digest("SHA-256"), Basic()]) as s:
        yield s


def one_line_error(result, code, text):
    """Exit ``code``, and exactly one line on stderr that says ``text``."""
    err = result.stderr.decode()
    assert result.returncode == code, err
    assert err.count("\n") == 1 and text in err and "Traceback" not in err, err


def assert_no_secrets(result, server):
    """Neither the password nor a Digest response nor Basic credentials reached the output."""
    output = result.stdout + result.stderr
    assert PASSWORD.encode() not in output
    for sent in filter(None, (e.authorization for e in server.exchanges)):
        if sent.startswith("Digest"):
            secret = parse_challenges(sent)[0].params["response"]
        else:
            secret = sent.split()[1]
        assert secret.encode() not in output


def test_demo():
    result = run("demo")
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert "1. Digest" in out and "2. Basic" in out
    assert "answerable, strongest first: Digest SHA-256 > Basic" in out
    assert "chosen: Digest SHA-256 (the strongest answerable)" in out
    assert 'response="…"' in out and 'rspauth="…"' in out and "nc=00000002" in out
    assert "OK: 2 requests, 3 exchanges" in out
    assert DEMO_PASSWORD not in out and result.stderr == b""


def test_get_digest_verbose_redacts(server):
    result = run("get", server.url + "/v?q=1", "-u", f"alice:{PASSWORD}", "-v")
    assert result.returncode == 0, result.stderr.decode()
    assert b'"user": "alice"' in result.stdout
    err = result.stderr.decode()
    assert "< 401 Unauthorized" in err and "chosen: Digest SHA-256" in err and "< 200 OK" in err
    assert '> Authorization: Digest username="alice"' in err and 'response="…"' in err
    assert 'rspauth="…"' in err
    assert_no_secrets(result, server)


def test_get_basic_verbose_redacts(server):
    result = run("get", server.url, "-u", f"alice:{PASSWORD}", "--scheme", "basic", "-v")
    assert result.returncode == 0, result.stderr.decode()
    assert "> Authorization: Basic <redacted>" in result.stderr.decode()
    assert "skipped 1. Digest" in result.stderr.decode()
    assert_no_secrets(result, server)


def test_password_from_the_environment(server):
    result = run("get", server.url, "-u", "alice", env={"REQUESTS_CHALLENGE_PASSWORD": PASSWORD})
    assert result.returncode == 0, result.stderr.decode()


def test_password_prompted_on_the_terminal(server):
    pty = pytest.importorskip("pty", reason="needs a pseudo-terminal")
    terminal, child_side = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    environment["PYTHONPATH"] = str(ROOT)
    environment.pop("REQUESTS_CHALLENGE_PASSWORD", None)
    command = [sys.executable, "-m", "requests_challenge", "get", server.url, "-u", "alice"]
    process = subprocess.Popen(command, stdin=child_side, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=environment, start_new_session=True)  # no /dev/tty: getpass uses stdin
    os.close(child_side)
    try:
        prompt = b""
        with selectors.DefaultSelector() as selector:
            selector.register(process.stderr, selectors.EVENT_READ)
            while b"Password for alice: " not in prompt and selector.select(timeout=20):
                chunk = os.read(process.stderr.fileno(), 100)
                if not chunk:
                    break
                prompt += chunk
        os.write(terminal, PASSWORD.encode() + b"\n")  # only now: getpass flushes earlier input
        out, err = process.communicate(timeout=30)
    finally:
        os.close(terminal)
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert prompt == b"Password for alice: "
    assert process.returncode == 0, err.decode()
    assert b'"user": "alice"' in out and PASSWORD.encode() not in out + err


def test_no_password_and_no_terminal_is_a_usage_error(server):
    one_line_error(run("get", server.url, "-u", "alice"), 2, "no password for alice")
    assert len(server.exchanges) == 0


def test_method_data_file_and_headers(server, tmp_path):
    body = bytes(range(256)) * 10
    (tmp_path / "body.bin").write_bytes(body)
    result = run("get", server.url + "/up", "-u", f"alice:{PASSWORD}", "-X", "put", "-d", f"@{tmp_path / 'body.bin'}",
                 "-H", "X-Test: 1", "--header", "Content-Type: application/octet-stream")
    assert result.returncode == 0, result.stderr.decode()
    assert hashlib.sha256(body).hexdigest().encode() in result.stdout and b'"method": "PUT"' in result.stdout
    assert [e.method for e in server.exchanges] == ["PUT", "PUT"]


def test_explain_sends_no_credentials(server):
    result = run("get", server.url, "--explain", "-u", f"alice:{PASSWORD}")
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert "-> 401 Unauthorized (no credentials sent)" in out
    assert "answerable, strongest first: Digest SHA-256 > Basic" in out and "chosen: Digest SHA-256" in out
    assert [e.authorization for e in server.exchanges] == [None]


def test_explain_without_an_answerable_challenge():
    with ChallengeServer(USERS, [Basic()]) as server:
        result = run("get", server.url, "--explain", "--scheme", "digest")
    assert result.returncode == 3
    assert "skipped 1. Basic" in result.stdout.decode() and "chosen: none" in result.stdout.decode()


def test_exit_1_for_an_http_error(server):
    result = run("get", server.url + "/status/404", "-u", f"alice:{PASSWORD}")
    one_line_error(result, 1, "HTTP error: 404 Not Found")


@pytest.mark.parametrize(
    "args, text",
    [
        ([], "the following arguments are required"),
        (["fetch"], "invalid choice"),
        (["get", "URL", "--scheme", "bearer"], "unsupported schemes ['bearer']"),
        (["get", "URL", "-H", "Authorization Bearer t0ken"], "--header number 1 is not 'Name: value'"),
        (["get", "not-a-url", "-u", "a:b"], "No scheme supplied"),
        (["get", "URL", "-u", "a:b", "-d", "@/nonexistent/file"], "cannot read --data @/nonexistent/file"),
        (["get", "URL", "--proxy-user", "p:q"], "--proxy-user needs --proxy and -u USER"),
        (["get", "URL", "--timeout", "x"], "invalid float value"),
    ],
)
def test_exit_2_for_usage(server, args, text):
    result = run(*[server.url if a == "URL" else a for a in args])
    assert result.returncode == 2 and text in result.stderr.decode() and b"Traceback" not in result.stderr
    assert b"t0ken" not in result.stderr


@pytest.mark.parametrize(
    "args, text",
    [
        (["-u", "alice:wrong"], "401 Unauthorized: Digest SHA-256 credentials refused"),
        ([], "no credentials given (-u USER)"),
    ],
)
def test_exit_3_for_failed_authentication(server, args, text):
    one_line_error(run("get", server.url, *args), 3, text)


def test_exit_3_when_the_server_cannot_prove_it_knows_the_password(capsys):
    responses = pytest.importorskip("responses")
    challenge = 'Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"'
    with responses.RequestsMock() as mock:
        mock.get("http://impostor.test/", status=401, headers={"WWW-Authenticate": challenge})
        mock.get("http://impostor.test/", status=200, headers={"Authentication-Info": 'rspauth="bad-proof"'})
        code = main(["get", "http://impostor.test/", "-u", f"alice:{PASSWORD}", "-v"])
    out, err = capsys.readouterr()
    assert code == 3 and "authentication failed: the server's rspauth does not match" in err
    assert 'rspauth="…"' in err and "bad-proof" not in err and PASSWORD not in out + err


def test_exit_3_when_no_offered_scheme_is_allowed():
    with ChallengeServer(USERS, [Basic()]) as server:
        result = run("get", server.url, "-u", f"alice:{PASSWORD}", "--scheme", "digest")
    one_line_error(result, 3, "no challenge this client can answer")
    assert [e.authorization for e in server.exchanges] == [None]  # Basic was never sent


def test_proxy_authentication():
    with ChallengeServer(USERS, [Digest("SHA-256")], proxy=True) as proxy:
        ok = run("get", "http://origin.test/p", "--proxy", proxy.url, "-u", "x:y", "--proxy-user", f"alice:{PASSWORD}", "-v")
        refused = run("get", "http://origin.test/p", "--proxy", proxy.url, "-u", "x:y")
    assert ok.returncode == 0, ok.stderr.decode()
    assert "> Proxy-Authorization: Digest" in ok.stderr.decode() and PASSWORD.encode() not in ok.stderr
    one_line_error(refused, 3, "407 Proxy Authentication Required: the proxy wants credentials")


def test_exit_4_when_nothing_listens():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    one_line_error(run("get", f"http://127.0.0.1:{port}/", "-u", "a:b"), 4, "Connection refused")


def test_exit_4_on_timeout():
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        result = run("get", f"http://127.0.0.1:{silent.getsockname()[1]}/", "-u", "a:b", "--timeout", "0.3")
    one_line_error(result, 4, "timed out")


def test_serve_until_interrupted():
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "requests_challenge", "serve", "--user", f"bob:{PASSWORD}", "--algorithm", "MD5"]
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = process.stdout.readline().decode().split()[1]
        assert process.stdout.readline() == b"offers: Digest MD5, Basic\n"
        result = run("get", url + "/hi", "-u", f"bob:{PASSWORD}")
        assert result.returncode == 0, result.stderr.decode()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, err.decode()
    assert b"GET /hi -> 401 (no credentials)\nGET /hi -> 200 user bob\n" in out and out.endswith(b"stopped\n")
    assert PASSWORD.encode() not in out + err


def test_main_in_process():
    assert main(["--help"]) == 0
    assert main(["get"]) == 2


@pytest.mark.parametrize(
    "value, shown",
    [
        ("Basic YWxpY2U6c2VjcmV0", "Basic <redacted>"),
        ('Digest username="a", response="abc", nc=00000001', 'Digest username="a", response="…", nc=00000001'),
        # A crafted uri cannot smuggle the real response past the redaction.
        ('Digest uri="/?response=", response="abc"', 'Digest uri="/?response=", response="…"'),
        ('Digest response="abc", response="abc"', "Digest <redacted>"),
        ("Bearer abc.def", "Bearer <redacted>"),
        ("\x00abc", "<redacted>"),
    ],
)
def test_redact_credentials(value, shown):
    assert redact_credentials(value) == shown


# -- no secret in a URL's userinfo is ever printed ----------------------------------------------

TOKEN = "tok-Zr9-userinfo"  # a token as a URL's whole userinfo: the user part is the secret
TOKEN2 = "tok-Wq4-location"


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """In-process runs: no proxies, no password variables, and a HOME and NETRC of the
    test's own, so the real user's ~/.netrc is never read."""
    for name in list(os.environ):
        if "proxy" in name.lower() or name.startswith("REQUESTS_CHALLENGE") or name == "NETRC":
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    return home


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redirector():
    """A server that answers /start with a redirect to ``Location: LOCATION`` (its own
    URL with a token as userinfo), and anything else with 200: the Location's token
    is in no request the client makes, so it can only reach the output from the header."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/start":
                self.send_response(302)
                self.send_header("Location", f"http://{TOKEN2}@127.0.0.1:{self.server.server_port}/landed")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"landed " + self.path.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("userinfo", [TOKEN, f"{TOKEN}:", f"alice:{TOKEN}", f"{TOKEN}%40x:{TOKEN}%3A", f"x:{TOKEN}@x"])
def test_userinfo_in_the_url_and_a_location_is_never_printed(redirector, clean_env, capsys, userinfo):
    code = main(["get", f"http://{userinfo}@{redirector}/start", "-u", f"alice:{PASSWORD}", "-v"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == "landed /landed" and "< 302 Found" in err
    assert f"< Location: http://…@{redirector}/landed" in err and f"> GET http://…@{redirector}/landed" in err
    assert TOKEN not in out + err and TOKEN2 not in out + err and PASSWORD not in out + err


def test_userinfo_in_the_url_is_not_sent_as_credentials(server, clean_env, capsys):
    code = main(["get", server.url.replace("//", f"//alice:{PASSWORD}@"), "-v"])
    out, err = capsys.readouterr()
    assert code == 3 and "no credentials given (-u USER); the URL's user:password is not used" in err, err
    assert [e.authorization for e in server.exchanges] == [None] and PASSWORD not in out + err


@pytest.mark.parametrize(
    "args, code",
    [
        (["get", f"http://{TOKEN}@127.0.0.1:PORT/", "-u", "a:b"], 4),  # no answer
        (["get", f"http://{TOKEN}@127.0.0.1:PORT/", "--explain"], 4),
        (["get", f"{TOKEN}@127.0.0.1/x", "-u", "a:b"], 2),  # no scheme: requests echoes the URL
        (["get", f"ftp://{TOKEN}@127.0.0.1/x", "-u", "a:b"], 2),
        (["get", f"http://{TOKEN}@[::1/", "-u", "a:b"], 2),
        (["get", f"http://{TOKEN}@127.0.0.1:PORT/", "--netrc-file", "/nonexistent/netrc"], 2),
        (["get", "http://127.0.0.1:PORT/", "-u", "a:b", "--proxy", f"http://{TOKEN}@127.0.0.1:PORT"], 4),
    ],
)
def test_userinfo_is_never_in_an_error_message(clean_env, capsys, args, code):
    port = str(free_port())
    result = main([a.replace("PORT", port) for a in args])
    out, err = capsys.readouterr()
    assert result == code, err
    assert err.count("\n") == 1 and TOKEN not in out + err, err


@pytest.mark.parametrize(
    "url, shown",
    [
        ("http://tok@h/p", "http://…@h/p"),
        ("http://alice:pw@h:8080/p?q=a@b#f", "http://…@h:8080/p?q=a@b#f"),
        ("https://t%40k:p%3Aw@h/", "https://…@h/"),
        ("http://a:p@ss@h/", "http://…@h/"),  # an unencoded "@": the authority's last one
        ("http://to ken@h/", "http://…@h/"),  # as typed, or as a Location may carry it
        ("http://tok@[::1]:8080/x", "http://…@[::1]:8080/x"),
        ("http://[::1]:8080/x@y", "http://[::1]:8080/x@y"),
        ("HTTP://tok@h", "HTTP://…@h"),
        ("//tok@h/x", "//…@h/x"),  # a scheme-relative Location
        ("tok@h/x", "…@h/x"),  # no scheme: requests would echo it in its error
        ("tok:pw@h", "…@h"),
        ("http:tok@h", "…@h"),
        ("http://h/p", "http://h/p"),
    ],
)
def test_redact_url(url, shown):
    from requests_challenge._cli import _redact_url, _without_userinfo

    assert _redact_url(url) == shown
    assert _without_userinfo(url) == (shown.replace("…@", ""), "…@" in shown)


@pytest.mark.parametrize(
    "text, shown",
    [
        ("failed: 'http://a@h/' then 'https://b:c@[::1]/x', http://d@e", "failed: 'http://…@h/' then 'https://…@[::1]/x', http://…@e"),
        ("/relative?next=http://tok@h/", "/relative?next=http://…@h/"),
        ("No connection adapters were found for 'ftp://tok@h/x'", "No connection adapters were found for 'ftp://…@h/x'"),
        ("HTTPConnectionPool(host='h', port=80): Max retries exceeded with url: /x@y", None),
        ("no password for bob@example.com: give USER:PASSWORD", None),
    ],
)
def test_redact_free_text(text, shown):
    from requests_challenge._cli import _redact

    assert _redact(text) == (text if shown is None else shown)


# -- requests' own netrc lookup never adds credentials -----------------------------------------


@pytest.fixture
def netrc_file(tmp_path):
    def write(text, name="netrc"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        return path

    return write


@pytest.mark.parametrize(
    "mode",
    [
        [],  # no credentials: requests would send the netrc's Basic up front
        ["--explain"],  # and --explain would still say "no credentials sent"
        ["-u", f"alice:{PASSWORD}", "REDIRECT"],  # requests re-adds netrc Basic on a redirect hop
        ["--netrc"],  # ours: Basic is not allowed, so nothing
    ],
    ids=["no-credentials", "explain", "user-and-redirect", "netrc"],
)
def test_requests_own_netrc_never_adds_credentials(clean_env, netrc_file, monkeypatch, capsys, mode):
    path = netrc_file(f"machine 127.0.0.1 login alice password {PASSWORD}\n")
    monkeypatch.setenv("NETRC", str(path))
    (clean_env / ".netrc").write_text(path.read_text())
    (clean_env / ".netrc").chmod(0o600)
    with ChallengeServer(USERS, [Basic()], open_paths=["/redirect"]) as server:
        url = server.url + "/x"
        if "REDIRECT" in mode:
            url = server.url + "/redirect?to=%2Fx"
        code = main(["get", url, "--scheme", "digest", "-v", *[m for m in mode if m != "REDIRECT"]])
    out, err = capsys.readouterr()
    assert [e.authorization for e in server.exchanges] == [None] * len(server.exchanges), err
    assert code == 3, err
    assert PASSWORD not in out + err
    if "--explain" in mode:
        assert "(no credentials sent)" in out


# -- --netrc: credentials per host, for any scheme ----------------------------------------------


@pytest.mark.parametrize("how", ["--netrc-file", "--netrc"])
def test_netrc_answers_digest(server, clean_env, netrc_file, monkeypatch, capsys, how):
    path = netrc_file(f"machine elsewhere.example login bob password x\nmachine 127.0.0.1 login alice password {PASSWORD}\n")
    if how == "--netrc":
        monkeypatch.setenv("NETRC", str(path))
        args = ["--netrc"]
    else:
        args = ["--netrc-file", str(path)]
    code = main(["get", server.url + "/n", *args, "-v"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert '"user": "alice"' in out and '"scheme": "Digest"' in out
    assert '> Authorization: Digest username="alice"' in err and PASSWORD not in out + err
    assert [e.status for e in server.exchanges] == [401, 200]


def test_netrc_in_home_by_default(server, clean_env, capsys):
    (clean_env / ".netrc").write_text(f"machine 127.0.0.1 login alice password {PASSWORD}\n")
    (clean_env / ".netrc").chmod(0o600)
    assert main(["get", server.url, "--netrc"]) == 0, capsys.readouterr().err


def test_netrc_without_an_entry_for_the_host_is_exit_3(server, clean_env, netrc_file, capsys):
    path = netrc_file(f"machine elsewhere.example login alice password {PASSWORD}\n")
    code = main(["get", server.url, "--netrc-file", str(path)])
    out, err = capsys.readouterr()
    assert code == 3 and err.count("\n") == 1, err
    assert "no credentials for 127.0.0.1 in the netrc file" in err
    assert [e.authorization for e in server.exchanges] == [None]


@pytest.mark.parametrize(
    "args, text",
    [
        (["--netrc-file", "MISSING"], "no netrc file at"),
        (["--netrc"], "no netrc file at"),  # HOME has none
        (["--netrc", "-u", "alice:pw"], "-u and --netrc"),
        (["--netrc-file", "NETRC", "-u", "alice"], "-u and --netrc"),
        (["--netrc-file", "NETRC", "--explain", "-u", "alice"], "-u and --netrc"),
        (["--netrc-file", "MALFORMED"], "bad follower token"),  # without the token it quotes: the password
        (["--netrc-file", "NUL"], "password contains CR, LF or NUL"),
    ],
)
def test_netrc_usage_errors(server, clean_env, netrc_file, capsys, args, text):
    files = {
        "MISSING": str(clean_env / "absent"),
        "NETRC": str(netrc_file(f"machine 127.0.0.1 login alice password {PASSWORD}\n")),
        "MALFORMED": str(netrc_file(f"machine 127.0.0.1 login alice\npassword my {PASSWORD}\n", "bad")),
        "NUL": str(netrc_file(f'machine 127.0.0.1 login alice password "{PASSWORD}\\x00"\n'.replace("\\x00", "\x00"), "nul")),
    }
    code = main(["get", server.url, *[files.get(a, a) for a in args]])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and text in err and "Traceback" not in err, err
    assert PASSWORD not in out + err and "alice:pw" not in err
    assert len(server.exchanges) == 0


def test_explain_tells_what_the_proxy_url_sent(clean_env, capsys):
    with ChallengeServer(USERS, [Digest("SHA-256")], proxy=True) as proxy:
        proxy_url = proxy.url.replace("//", f"//puser:{TOKEN}@")
        code = main(["get", "http://origin.test/p", "--proxy", proxy_url, "--explain"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "(no credentials sent)" not in out and "Proxy-Authorization" in out.splitlines()[0]
    assert proxy.exchanges[0].authorization.startswith("Basic ")
    assert TOKEN not in out + err


def test_explain_tells_an_authorization_header_given_with_h(server, capsys, clean_env):
    code = main(["get", server.url, "--explain", "-H", f"Authorization: Bearer {TOKEN}"])
    out, err = capsys.readouterr()
    assert code == 0 and "(sent: Authorization)" in out and TOKEN not in out + err


@pytest.mark.parametrize(
    "mode, code, statuses",
    [
        ([], 3, [302, 401]),
        (["--explain"], 0, [302, 401]),
        (["-u", f"alice:{PASSWORD}"], 0, [302, 401, 200]),
        (["--netrc-file", "NETRC"], 0, [302, 401, 200]),
    ],
    ids=["no-credentials", "explain", "user", "netrc"],
)
def test_requests_netrc_lookup_is_never_called(clean_env, netrc_file, monkeypatch, capsys, mode, code, statuses):
    """Wherever requests would read netrc (a request without auth; every redirect hop)."""
    import requests.sessions

    def refuse(*args, **kwargs):
        raise AssertionError("requests' own netrc lookup was called")

    monkeypatch.setattr(requests.sessions, "get_netrc_auth", refuse)
    path = str(netrc_file(f"machine 127.0.0.1 login alice password {PASSWORD}\n"))
    with ChallengeServer(USERS, [Digest("SHA-256")], open_paths=["/redirect"]) as server:
        result = main(["get", server.url + "/redirect?to=%2Fx", *[path if m == "NETRC" else m for m in mode]])
        seen = [e.status for e in server.exchanges]
    assert result == code, capsys.readouterr().err
    assert seen == statuses


def test_the_environments_proxy_is_still_used(clean_env, monkeypatch, capsys):
    """Only netrc is taken from trust_env: HTTP_PROXY still applies."""
    with ChallengeServer(USERS, [Digest("SHA-256")], proxy=True) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        code = main(["get", "http://origin.test/p", "-u", "x:y"])
    err = capsys.readouterr().err
    assert code == 3 and "the proxy wants credentials" in err, err
    assert [e.path for e in proxy.exchanges] == ["http://origin.test/p"]


def test_the_environments_ca_bundle_is_still_used(clean_env, monkeypatch, capsys, tmp_path):
    """Only netrc is taken from trust_env: REQUESTS_CA_BUNDLE still applies."""
    from requests_challenge.testing import self_signed_certificate

    try:
        certificate = self_signed_certificate(tmp_path)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    with ChallengeServer(USERS, [Digest("SHA-256")], ssl_context=certificate.server_context()) as server:
        assert main(["get", server.url + "/tls", "-u", f"alice:{PASSWORD}"]) == 4  # not trusted
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", certificate.cert)
        code = main(["get", server.url + "/tls", "-u", f"alice:{PASSWORD}"])
    out, err = capsys.readouterr()
    assert code == 0 and '"user": "alice"' in out, err


def test_a_redirect_to_another_origin_is_not_called_refused_credentials(server, clean_env, capsys):
    with ChallengeServer(USERS, [Digest("SHA-256")], open_paths=["/redirect"]) as first:
        to = (server.url + "/x").replace(":", "%3A").replace("/", "%2F")
        code = main(["get", f"{first.url}/redirect?to={to}", "-u", f"alice:{PASSWORD}"])
        first_url = first.url
    err = capsys.readouterr().err
    assert code == 3 and f"redirected to {server.url}; credentials go to {first_url} only" in err, err
    assert [e.authorization for e in server.exchanges] == [None]
