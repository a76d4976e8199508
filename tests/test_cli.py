"""The command line, run as a user runs it (``python -m requests_challenge``) against
the embedded server: exit codes, what reaches stdout and stderr, and that no secret does."""

import hashlib
import os
import selectors
import signal
import socket
import subprocess
import sys
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
        (["get", "URL", "--scheme", "ntlm"], "unsupported schemes ['ntlm']"),
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
