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
        (["get", "", "-u", "a:b"], "No host supplied"),  # "" is "http://", as in curl
        (["get", "ftp://127.0.0.1/x", "-u", "a:b"], "No connection adapters"),
        (["get", "URL", "-o", "f", "-O"], "-o and -O exclude each other"),
        (["get", "URL/", "-O"], "no file name"),
        (["get", "URL", "--explain", "-i"], "not with -o, -O or -i"),
        (["get", "URL", "--max-redirs", "-1"], "--max-redirs wants 0 or more"),
        (["get", "URL", "-L", "--no-location"], "-L and --no-location exclude each other"),
        (["get", "URL", "--cacert", "/nonexistent/ca.pem"], "--cacert: cannot read /nonexistent/ca.pem"),
        (["get", "URL", "--cert", "/nonexistent/c.pem:/nonexistent/k.pem"], "--cert: cannot read /nonexistent/c.pem"),
        (["serve", "--tls", "--host", "localhost"], "--tls makes a certificate for an IP address"),
        (["get", "URL", "-u", "a:b", "-d", "@/nonexistent/file"], "cannot read --data @/nonexistent/file"),
        (["get", "URL", "--proxy-user", "p:q"], "--proxy-user needs --proxy and -u USER"),
        (["get", "URL", "--timeout", "x"], "invalid float value"),
    ],
)
def test_exit_2_for_usage(server, args, text):
    result = run(*[a.replace("URL", server.url) for a in args])
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


def interruptible():
    """In the child: Ctrl-C's default, even when this runs in a background job of a
    non-interactive shell, which starts with SIGINT ignored (Python then never raises
    KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_serve_until_interrupted():
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "requests_challenge", "serve", "--user", f"bob:{PASSWORD}", "--algorithm", "MD5"]
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=interruptible)
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
        (["get", f"{TOKEN}@127.0.0.1:PORT/x", "-u", "a:b"], 4),  # no scheme: http://, as in curl
        (["get", f"{TOKEN}@[::1/x", "-u", "a:b"], 2),  # no scheme, and invalid: requests echoes the URL
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


# -- what a curl or httpie user expects ------------------------------------------------------------
#
# Each option run through the installed command (the console script beside this Python,
# else ``python -m requests_challenge``) against the embedded server, or a TLS one.

import io
import shutil
import ssl
import sysconfig
import tracemalloc


def command():
    """The ``requests-challenge`` console script pip installed with this Python, if any."""
    script = Path(sysconfig.get_path("scripts")) / "requests-challenge"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "requests_challenge"]


def cli(*args, cwd=None, env=None, timeout=60):
    """The installed command with no terminal, no proxies from the environment, a HOME of its own."""
    environment = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith("REQUESTS_CHALLENGE")}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    environment.pop("NETRC", None)
    environment.update(env or {})
    return subprocess.run([*command(), *args], env=environment, capture_output=True, timeout=timeout,
                          cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True)


def assert_clean(result, server=None, *secrets):
    """No password, Digest response, Basic credentials (or other given secret) anywhere."""
    output = result.stdout + result.stderr
    assert PASSWORD.encode() not in output and b"Traceback" not in output
    for secret in secrets:
        assert secret.encode() not in output
    if server is not None:
        assert_no_secrets(result, server)


def test_version():
    from requests_challenge import __version__

    result = cli("--version")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().startswith(f"requests-challenge {__version__} (requests ")


def test_output_file(server, tmp_path):
    target = tmp_path / "out.json"
    result = cli("get", server.url + "/o", "-u", f"alice:{PASSWORD}", "-o", str(target))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"" and result.stderr == b""  # no terminal: no progress display
    assert b'"user": "alice"' in target.read_bytes() and b'"path": "/o"' in target.read_bytes()
    assert_clean(result, server)


def test_remote_name(server, tmp_path):
    result = cli("get", server.url + "/files/report.json?x=1", "-u", f"alice:{PASSWORD}", "-O", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"" and result.stderr == b""
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    assert b'"path": "/files/report.json"' in (tmp_path / "report.json").read_bytes()
    assert_clean(result, server)


def test_output_file_of_a_failed_request_is_the_body_and_exit_3(server, tmp_path):
    target = tmp_path / "out"
    result = cli("get", server.url, "-u", "alice:wrong", "-o", str(target))
    one_line_error(result, 3, "Digest SHA-256 credentials refused")
    assert b'"status": 401' in target.read_bytes()  # as curl: the answer's body, whatever its status


def test_output_to_an_unwritable_place_is_a_usage_error(server, tmp_path):
    result = cli("get", server.url, "-u", f"alice:{PASSWORD}", "-o", str(tmp_path / "no" / "such" / "dir"))
    one_line_error(result, 2, "cannot write")


@pytest.fixture(scope="module")
def bulk():
    """tests/bulk_server.py in its own process: Digest qop=auth-int and big bodies."""
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "bulk_server.py")],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{int(process.stdout.readline())}"
    finally:
        process.kill()
        process.wait(timeout=30)


def test_output_is_streamed_to_disk_never_whole_in_memory(bulk, clean_env, tmp_path, capsys):
    size = 32 << 20
    target = tmp_path / "big"
    tracemalloc.start()
    try:
        code = main(["get", f"{bulk}/big-200?size={size}", "-u", "bulk:bulk-password", "-o", str(target),
                     "--timeout", "60"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 0, capsys.readouterr().err
    assert target.stat().st_size == size  # rspauth over the auth-int body checked as it was written
    assert peak < 4 << 20, f"{peak} octets at the peak for a {size}-octet body"


def test_a_body_whose_rspauth_is_wrong_is_not_kept(bulk, tmp_path):
    target = tmp_path / "big"
    result = cli("get", f"{bulk}/big-200?size=300000&wrong=1", "-u", "bulk:bulk-password", "-o", str(target))
    one_line_error(result, 3, "authentication failed")
    assert not target.exists()
    assert_clean(result, None, "bulk-password")


def run_with_a_terminal(*args, stdout_too=False):
    """The command with stderr (and stdout) on a pseudo-terminal: (exit code, stdout, what the terminal got)."""
    pty = pytest.importorskip("pty", reason="needs a pseudo-terminal")
    terminal, child_side = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith("REQUESTS_CHALLENGE")}
    environment["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen([*command(), *args], stdin=subprocess.DEVNULL,
                               stdout=child_side if stdout_too else subprocess.PIPE,
                               stderr=child_side, env=environment, start_new_session=True)
    os.close(child_side)
    seen = b""
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(terminal, selectors.EVENT_READ)
            while selector.select(timeout=60):
                try:
                    chunk = os.read(terminal, 4096)
                except OSError:  # EIO: the child side is closed, the command has ended
                    break
                if not chunk:
                    break
                seen += chunk
        out = process.communicate(timeout=60)[0]
    finally:
        os.close(terminal)
        if process.poll() is None:
            process.kill()
            process.wait(10)
    return process.returncode, out or b"", seen.decode()


def last_progress_line(terminal):
    return terminal.replace("\r\n", "\n").rstrip("\n").split("\r")[-1]


def test_progress_on_a_terminal(bulk, tmp_path):
    size = 3 << 20
    code, out, terminal = run_with_a_terminal(
        "get", f"{bulk}/big-200?size={size}", "-u", "bulk:bulk-password", "-o", str(tmp_path / "big"))
    assert code == 0, terminal
    assert out == b"" and (tmp_path / "big").stat().st_size == size
    last = last_progress_line(terminal)
    assert last.startswith("3.0 MiB of 3.0 MiB (100%)  ") and "/s  in " in last, terminal
    assert terminal.endswith("\n") and "bulk-password" not in terminal


def test_progress_when_stdout_is_a_pipe_and_none_when_it_is_the_terminal(server):
    """As curl: ``get URL | tool`` shows progress on the terminal; a body printed on the
    terminal itself is not mixed with one."""
    code, out, terminal = run_with_a_terminal("get", server.url + "/p", "-u", f"alice:{PASSWORD}")
    assert code == 0 and b'"user": "alice"' in out
    assert last_progress_line(terminal).startswith("210 B of 210 B (100%)"), terminal
    code, out, terminal = run_with_a_terminal("get", server.url + "/p", "-u", f"alice:{PASSWORD}", stdout_too=True)
    assert code == 0 and '"user": "alice"' in terminal
    assert "%" not in terminal and "/s" not in terminal and PASSWORD not in terminal


def test_progress_display():
    from requests_challenge._cli import _Progress

    known, unknown = io.StringIO(), io.StringIO()
    progress = _Progress(4 << 20, known)
    progress.update(1 << 20)
    progress.INTERVAL = 0  # the next update redraws whatever the clock says
    progress.update(1 << 20)
    assert known.getvalue().startswith("\r2.0 MiB of 4.0 MiB (50%)  ") and "/s" in known.getvalue()
    progress.update(2 << 20)
    progress.finish()
    assert known.getvalue().split("\r")[-1].startswith("4.0 MiB of 4.0 MiB (100%)")
    assert known.getvalue().endswith("\n")
    progress = _Progress(None, unknown)
    progress.update(1536)
    progress.finish()
    line = unknown.getvalue().split("\r")[-1]
    assert line.startswith("1.5 KiB  ") and "%" not in line and "ETA" not in line


def test_include(server):
    result = cli("get", server.url + "/i", "-u", f"alice:{PASSWORD}", "-i")
    assert result.returncode == 0, result.stderr.decode()
    head, _, body = result.stdout.decode().partition("\n\n")
    lines = head.split("\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    assert "Content-Type: application/json" in lines and "Server: requests-challenge-testing" in lines
    assert any(line.startswith('Authentication-Info: rspauth="…"') for line in lines), head
    assert '"user": "alice"' in body
    assert_clean(result, server)


def test_verbose_shows_every_header_of_every_leg_through_a_redirect():
    """401, then the authenticated 302, then the next hop's request: the first leg's
    401 is kept, and every header of every leg is shown, secrets redacted."""
    with ChallengeServer(USERS, [Digest("SHA-256"), Basic()], cookie=f"sid={TOKEN}") as server:
        result = cli("get", server.url + "/redirect?to=%2Fx", "-u", f"alice:{PASSWORD}", "-v",
                     "-H", f"X-Api-Key: {TOKEN2}")
        statuses = [e.status for e in server.exchanges]
    assert result.returncode == 0, result.stderr.decode()
    assert statuses == [401, 302, 200]
    err = result.stderr.decode()
    legs = [line for line in err.splitlines() if line.startswith(("> GET", "< 4", "< 3", "< 2"))]
    assert [leg.split(" ")[1] for leg in legs] == ["GET", "401", "GET", "302", "GET", "200"], err
    assert err.count("> User-Agent: python-requests/") == 3 and err.count("> Host: 127.0.0.1:") == 3
    assert err.count("< Server: requests-challenge-testing") == 3 and err.count("< Content-Length: ") == 3
    assert "< Location: /x" in err and "chosen: Digest SHA-256" in err
    assert err.count('> Authorization: Digest username="alice"') == 2 and err.count('response="…"') == 2
    assert "< Set-Cookie: sid=…; Path=/; HttpOnly" in err and "> Cookie: sid=…" in err
    assert "> X-Api-Key: <redacted>" in err
    assert_clean(result, server, TOKEN, TOKEN2)


def test_no_location():
    with ChallengeServer(USERS, [Digest("SHA-256")]) as server:
        result = cli("get", server.url + "/redirect?to=%2Fx", "-u", f"alice:{PASSWORD}", "--no-location", "-i")
        statuses = [e.status for e in server.exchanges]
    assert result.returncode == 0, result.stderr.decode()
    assert statuses == [401, 302]  # authenticated, and not followed
    out = result.stdout.decode()
    assert out.startswith("HTTP/1.1 302 Found\n") and "\nLocation: /x\n" in out
    assert_clean(result, server)


@pytest.mark.parametrize("limit, code, statuses", [("2", 0, [401, 302, 302, 200]), ("1", 1, [401, 302, 302])])
def test_max_redirs(limit, code, statuses):
    """Two redirects; each hop carries its own credentials (one challenge for the chain)."""
    with ChallengeServer(USERS, [Digest("SHA-256")]) as server:
        twice = "/redirect?to=" + "/redirect?to=%2Fx".replace("%", "%25").replace("?", "%3F").replace("=", "%3D").replace("/", "%2F")
        result = cli("get", server.url + twice, "-u", f"alice:{PASSWORD}", "--max-redirs", limit)
        exchanges = list(server.exchanges)
    assert result.returncode == code, result.stderr.decode()
    assert [e.status for e in exchanges] == statuses
    assert all(e.authorization.startswith("Digest ") for e in exchanges[1:])
    if code:
        one_line_error(result, 1, "HTTP error: more than 1 redirects (--max-redirs)")
    assert_clean(result, server)


def test_a_url_without_a_scheme_is_http(server):
    result = cli("get", server.url.replace("http://", "") + "/bare", "-u", f"alice:{PASSWORD}")
    assert result.returncode == 0, result.stderr.decode()
    assert b'"path": "/bare"' in result.stdout


def test_x_is_the_proxy():
    with ChallengeServer(USERS, [Digest("SHA-256")], proxy=True) as proxy:
        result = cli("get", "http://origin.test/p", "-x", proxy.url, "-u", "x:y", "--proxy-user", f"alice:{PASSWORD}")
        assert [e.status for e in proxy.exchanges] == [407, 200]
    assert result.returncode == 0, result.stderr.decode()
    assert_clean(result, proxy)


@pytest.fixture
def tls(tmp_path):
    """A TLS ChallengeServer whose certificate the client must be told to trust, and that
    asks for a client certificate (trusted: ``client``) without requiring one."""
    from requests_challenge.testing import self_signed_certificate

    try:
        (tmp_path / "server").mkdir()
        (tmp_path / "client").mkdir()
        server_certificate = self_signed_certificate(tmp_path / "server")
        client = self_signed_certificate(tmp_path / "client")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    context = server_certificate.server_context()
    context.load_verify_locations(client.cert)

    def start(require_client_certificate=False):
        context.verify_mode = ssl.CERT_REQUIRED if require_client_certificate else ssl.CERT_NONE
        return ChallengeServer(USERS, [Digest("SHA-256")], ssl_context=context)

    return server_certificate, client, start


def test_cacert(tls):
    certificate, _, start = tls
    with start() as server:
        untrusted = cli("get", server.url + "/t", "-u", f"alice:{PASSWORD}")
        trusted = cli("get", server.url + "/t", "-u", f"alice:{PASSWORD}", "--cacert", certificate.cert)
        insecure = cli("get", server.url + "/t", "-u", f"alice:{PASSWORD}", "-k")
        hostname = cli("get", server.url.replace("127.0.0.1", "localhost") + "/t", "-u", f"alice:{PASSWORD}",
                       "--cacert", certificate.cert)
    one_line_error(untrusted, 4, "TLS: certificate verify failed: self-signed certificate (--cacert FILE")
    one_line_error(hostname, 4, "TLS: certificate verify failed: Hostname mismatch")
    for result in (untrusted, hostname):  # one readable line, not urllib3's nested message
        assert b"Max retries" not in result.stderr and b"SSLError(" not in result.stderr
    assert trusted.returncode == 0 and b'"user": "alice"' in trusted.stdout, trusted.stderr.decode()
    assert insecure.returncode == 0 and insecure.stderr == b"", insecure.stderr.decode()
    for result in (untrusted, trusted, insecure, hostname):
        assert_clean(result, server)


def test_client_certificate(tls, tmp_path):
    certificate, client, start = tls
    combined = tmp_path / "combined.pem"
    combined.write_text(Path(client.cert).read_text() + Path(client.key).read_text())
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
    common = ["-u", f"alice:{PASSWORD}", "--cacert", certificate.cert]
    with start(require_client_certificate=True) as server:
        with_key = cli("get", server.url + "/c", *common, "--cert", f"{client.cert}:{client.key}")
        in_one_file = cli("get", server.url + "/c", *common, "-E", str(combined))
        without = cli("get", server.url + "/c", *common)
        wrong = cli("get", server.url + "/c", *common, "--cert", f"{certificate.cert}:{certificate.key}")
        mismatched = cli("get", server.url + "/c", *common, "--cert", f"{client.cert}:{certificate.key}")
        locked = cli("get", server.url + "/c", *common, "--cert", f"{client.cert}:{encrypted}")
        assert [e.status for e in server.exchanges] == [401, 200, 401, 200]  # nothing from the others
    for result in (with_key, in_one_file):
        assert result.returncode == 0 and b'"user": "alice"' in result.stdout, result.stderr.decode()
    one_line_error(without, 4, "TLS: ")
    one_line_error(wrong, 4, "TLS: ")
    one_line_error(mismatched, 4, "TLS: key values mismatch")
    one_line_error(locked, 2, "is encrypted")
    for result in (with_key, in_one_file, without, wrong, mismatched, locked):
        assert_clean(result, server)
        assert b"PRIVATE KEY" not in result.stdout + result.stderr


def test_serve_qop_help_lists_each_choice_once():
    result = cli("serve", "--help")
    out = result.stdout.decode()
    assert result.returncode == 0 and "--qop QOP" in out
    assert "{auth,auth-int,auth,auth-int,none}" not in out and "auth-int, both as 'auth,auth-int', or none" in " ".join(out.split())


def test_serve_tls():
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed (apt-get install openssl)")
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([*command(), "serve", "--tls", "--user", f"bob:{PASSWORD}"], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                               preexec_fn=interruptible)
    try:
        url = process.stdout.readline().decode().split()[1]
        process.stdout.readline(), process.stdout.readline()  # offers, users
        line = process.stdout.readline().decode()
        assert url.startswith("https://127.0.0.1:") and line.startswith("certificate: "), line
        cert = line.split()[1]
        assert f"get --cacert {cert} {url}/" in line
        ok = cli("get", url + "/hi", "-u", f"bob:{PASSWORD}", "--cacert", cert)
        untrusted = cli("get", url + "/hi", "-u", f"bob:{PASSWORD}")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert ok.returncode == 0 and b'"user": "bob"' in ok.stdout, ok.stderr.decode()
    one_line_error(untrusted, 4, "TLS: certificate verify failed")
    assert process.returncode == 0, err.decode()
    assert b"GET /hi -> 200 user bob\n" in out and out.endswith(b"stopped\n")
    assert not os.path.exists(cert)  # its directory goes with the server
    assert PASSWORD.encode() not in out + err + ok.stdout + ok.stderr


def test_every_leg_is_recorded_on_a_pinned_connection_too():
    """NTLM's legs go through a one-connection copy of the adapter: it records into the same list."""
    from requests_challenge._auth import _single_connection
    from requests_challenge._cli import _Session

    with _Session() as session:
        copy = _single_connection(session.recorder)
        assert copy is not session.recorder and copy.legs is session.recorder.legs
        copy.close()


@pytest.mark.parametrize(
    "name, value, shown",
    [
        ("Authorization", "Basic YWxpY2U6c2VjcmV0", "Basic <redacted>"),
        ("Cookie", "sid=abc; theme=dark", "sid=…; theme=…"),
        ("Set-Cookie", "sid=abc; Path=/; HttpOnly", "sid=…; Path=/; HttpOnly"),
        ("X-Auth-Token", "abc", "<redacted>"),
        ("X-Api-Key", "abc", "<redacted>"),
        ("Location", "http://tok@h/x", "http://…@h/x"),
        ("Link", "<http://tok@h/next>; rel=next", "<http://…@h/next>; rel=next"),
        ("X-Evil", "a\x1b[2Jb", "a\\x1b[2Jb"),  # no terminal escapes from a server
        ("Content-Type", "text/plain", "text/plain"),
    ],
)
def test_redact_header(name, value, shown):
    from requests_challenge._cli import redact_header

    assert redact_header(name, value) == shown
