"""Real HTTP servers from Debian packages, run as child processes for tests.

Each class here renders its own configuration into a private directory,
starts the server binary directly in the foreground on 127.0.0.1 and a
free ephemeral port, waits until it answers, and stops it again by its own
PID.  Nothing under /etc is read, no system service is touched, and no
well-known port is used, so the suite can run next to a real lighttpd,
Apache or squid on the same machine.

Every server writes an access log in one format we parse ourselves
(``status method target user tag``), where *tag* is the value of the
request header :data:`TAG_HEADER` (``-`` when absent), so tests can count
how many HTTP exchanges a request cost.  Tests count by tag, never by a
line's position in the log: servers log an exchange only after its
response went out, and Apache's threads (and squid's tunnels, logged when
they close) write lines from different connections in no fixed order.
:meth:`AccessLog.tagged` therefore waits, without guessing with sleeps,
until as many tagged lines are there as the test knows were caused (see
tagging.py for the client side: one tag per test step, on every request).
"""

from __future__ import annotations

import base64
import grp
import hashlib
import http.client
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import pytest
from requests.utils import parse_dict_header

HOST = "127.0.0.1"
REQUIRE_SERVERS_ENV = "REQUESTS_CHALLENGE_REQUIRE_SERVERS"


def unavailable(reason: str) -> None:
    """Skip a test whose server is missing, or fail it when CI demands that every
    server runs (REQUESTS_CHALLENGE_REQUIRE_SERVERS=1): CI never passes by skipping."""
    if os.environ.get(REQUIRE_SERVERS_ENV) == "1":
        pytest.fail(f"{reason}; {REQUIRE_SERVERS_ENV}=1 forbids skipping", pytrace=False)
    pytest.skip(reason)

#: Test users: one plain ASCII, one whose name and password need UTF-8.
USERS: Dict[str, Tuple[str, str]] = {
    "ascii": ("alice", "secret"),
    "non-ascii": ("Jäsøn", "Sëcret€"),
}
WRONG_PASSWORD = "not-the-password"

START_TIMEOUT = 15.0  # seconds a server gets to answer its first request
STOP_TIMEOUT = 10.0  # seconds a server gets to exit after SIGTERM
LOG_TIMEOUT = 10.0  # seconds the lines a test waits for get to reach an access log
PROBE_TIMEOUT = 2.0  # seconds for one readiness/marker request
REQUEST_TIMEOUT = 10.0  # seconds (connect and read) for every test request

MARKER_PREFIX = "/__logmark__/"

#: Request header every server writes into its access log (the last field):
#: each test step sends its own value on every request, and counts the
#: exchanges logged with it.  lighttpd, Apache and squid all log ``-`` when
#: the header is absent (readiness probes, log markers).
TAG_HEADER = "X-Test-Tag"

#: Every redirect status requests follows; each has its own redirecting
#: locations on lighttpd and Apache (see ``redirect_path`` of each class).
REDIRECT_CODES = (301, 302, 303, 307, 308)

#: CGI program that proves a request body arrived whole: it answers with
#: the body's length and SHA-256 (and who the server authenticated).  Plain
#: /bin/sh and coreutils, so it does not depend on which Python the test
#: process runs, and works for both Content-Length and chunked bodies.
ECHO_CGI = """\
#!/bin/sh
tmp=$(mktemp) || exit 1
if [ -n "$CONTENT_LENGTH" ]; then head -c "$CONTENT_LENGTH"; else cat; fi >"$tmp"
len=$(($(wc -c <"$tmp")))
sum=$(sha256sum <"$tmp")
rm -f "$tmp"
printf 'Content-Type: text/plain; charset=utf-8\\r\\n\\r\\n'
printf 'method=%s\\nlength=%s\\nsha256=%s\\nuser=%s\\n' \\
    "$REQUEST_METHOD" "$len" "${sum%% *}" "$REMOTE_USER"
"""


class ServerStartError(RuntimeError):
    """A server binary exists but did not come up; carries its logs."""


# --------------------------------------------------------------------------
# Small shared helpers
# --------------------------------------------------------------------------


def free_port() -> int:
    """Pick a free ephemeral TCP port on the loopback interface.

    The port is released before the server binds it; the race with other
    processes is tiny and a lost race shows up as a clear start failure.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def find_program(name: str) -> Optional[str]:
    """Find a server binary, also in sbin directories a user's PATH lacks."""
    path = os.environ.get("PATH", os.defpath)
    return shutil.which(name, path=os.pathsep.join([path, "/usr/sbin", "/sbin"]))


_PLACEHOLDER = re.compile(r"@([a-z_]+)@")


def render(template: str, **values: object) -> str:
    """Fill ``@name@`` placeholders of a configuration template.

    ``@name@`` is used instead of ``$name`` or ``{name}`` because the
    server configurations themselves contain ``$HTTP[...]`` and braces.
    A placeholder without a value is an error, never left in silently.
    """

    def substitute(match: "re.Match[str]") -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"no value for placeholder @{key}@")
        return str(values[key])

    return _PLACEHOLDER.sub(substitute, template)


def tail(path: Path, lines: int = 30) -> str:
    """Last lines of a log file for failure messages ("" if unreadable)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def http_status(port: int, target: str = "/", host: str = HOST) -> Optional[int]:
    """Status of one plain GET without auth, or None if nothing answered.

    Uses http.client directly so that proxy environment variables can
    never redirect readiness probes or log markers.
    """
    conn = http.client.HTTPConnection(host, port, timeout=PROBE_TIMEOUT)
    try:
        conn.request("GET", target, headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait_until_ready(
    probe: Callable[[], bool],
    proc: "subprocess.Popen[bytes]",
    what: str,
    diagnostics: Callable[[], str],
    timeout: float = START_TIMEOUT,
) -> None:
    """Poll ``probe`` until it succeeds, the process dies, or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise ServerStartError(
                f"{what} exited with status {proc.returncode} before it "
                f"answered a request\n{diagnostics()}"
            )
        if probe():
            return
        if time.monotonic() > deadline:
            raise ServerStartError(
                f"{what} did not answer within {timeout:.0f} s\n{diagnostics()}"
            )
        time.sleep(0.05)


def unescape_log_user(field: bytes) -> Optional[str]:
    r"""Turn a logged user name back into text.

    lighttpd and Apache log non-ASCII bytes as ``\xc3``, squid's ``%un``
    writes them raw; ``-`` means that no user was authenticated.
    """
    if field == b"-":
        return None
    raw = re.sub(
        rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), field
    )
    return raw.decode("utf-8", errors="replace")


def parse_echo(content: bytes) -> Dict[str, str]:
    """The ``key=value`` lines :data:`ECHO_CGI` answers with (UTF-8)."""
    text = content.decode("utf-8")
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def auth_params(header: str) -> Dict[str, str]:
    """Parameters of a sent ``Digest ...`` credentials header.

    Parsed with requests' own helper on purpose: checking the library's
    output with the library's parser would prove little.
    """
    scheme, _, rest = header.partition(" ")
    assert scheme.lower() == "digest", header
    return {k.lower(): v for k, v in parse_dict_header(rest).items()}


# --------------------------------------------------------------------------
# Access logs
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class LogLine:
    """One HTTP exchange as a server logged it."""

    status: int
    method: str
    target: str
    user: Optional[str]
    tag: Optional[str] = None  # the TAG_HEADER the request carried


def new_tag() -> str:
    """A fresh value for :data:`TAG_HEADER`: unique, and plain enough
    (letters, digits, ``-``) that every server logs it verbatim."""
    return f"t-{uuid.uuid4().hex}"


def parse_log_line(line: bytes) -> LogLine:
    """Parse our common ``status method target user tag`` access-log format.

    Status and method come first, user and tag last; whatever lies between
    is the target (split from both ends, so a target with a space in it
    cannot shift the other fields).
    """
    parts = line.split(b" ")
    if len(parts) < 5 or not parts[0].isdigit():
        raise ValueError(f"unexpected access log line: {line!r}")
    status, method, *target, user, tag = parts
    return LogLine(
        int(status), method.decode("ascii", errors="replace"),
        b" ".join(target).decode("utf-8", errors="replace"), unescape_log_user(user),
        None if tag == b"-" else tag.decode("ascii", errors="replace"),
    )


class AccessLog:
    """A server's access log.

    Tests count exchanges with :meth:`tagged`: the lines whose request
    carried a given :data:`TAG_HEADER` value, whatever their position.

    :meth:`mark` / :meth:`lines_since` (a marker request on each side) are
    kept for the benchmarks in ``bench/`` only.  They assume that a server
    logs its exchanges in the order they happened, which Apache's worker
    threads do not guarantee (a line from another connection can land
    after the marker's); no test may count with them.
    """

    def __init__(self, path: Path, send_marker: Callable[[str], None]):
        self.path = path
        self._send_marker = send_marker

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def _read_from(self, offset: int) -> bytes:
        try:
            with self.path.open("rb") as f:
                f.seek(offset)
                return f.read()
        except FileNotFoundError:
            return b""

    def _sync(self, offset: int) -> Tuple[List[bytes], int]:
        """Send a marker and wait for its line.

        Returns the complete lines logged after ``offset`` and before the
        marker, and the offset just past the marker's line.
        """
        token = f"{MARKER_PREFIX}{uuid.uuid4().hex}"
        self._send_marker(token)
        needle = token.encode("ascii")
        deadline = time.monotonic() + LOG_TIMEOUT
        while True:
            data = self._read_from(offset)
            at = data.find(needle)
            line_end = data.find(b"\n", at) if at >= 0 else -1
            if line_end >= 0:
                before = data[: data.rfind(b"\n", 0, at) + 1]
                return before.splitlines(), offset + line_end + 1
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"log marker {token} did not reach {self.path} within "
                    f"{LOG_TIMEOUT:.0f} s; new log data so far: {data!r}"
                )
            time.sleep(0.02)

    def tagged(self, tag: str, *, at_least: int) -> List[LogLine]:
        """The exchanges logged with ``tag``, once at least ``at_least`` are.

        A server writes a line only after its response went out (squid's
        tunnels when they close), so a test that already holds every
        response still waits here for the lines it caused.  Gives up after
        LOG_TIMEOUT and returns what is there: the caller's comparison then
        fails and shows it.  Order carries no meaning.
        """
        needle = f" {tag}\n".encode("ascii")
        deadline = time.monotonic() + LOG_TIMEOUT
        while True:
            data = self._read_from(0)
            lines = [
                parse_log_line(line)
                for line in data.splitlines(keepends=True)
                if line.endswith(needle)
            ]
            if len(lines) >= at_least or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def mark(self) -> int:
        """A point in the log after everything that happened so far
        (benchmarks only, see the class)."""
        return self._sync(self._size())[1]

    def lines_since(self, mark: int) -> List[LogLine]:
        """All exchanges logged after ``mark`` (marker requests excluded);
        benchmarks only, see the class."""
        lines, _ = self._sync(mark)
        return [parse_log_line(line) for line in lines]

    def statuses_since(self, mark: int) -> List[int]:
        """Status codes of the exchanges logged after ``mark``, in log
        order (not necessarily the order they happened); benchmarks only."""
        return [line.status for line in self.lines_since(mark)]


# --------------------------------------------------------------------------
# Server process base class
# --------------------------------------------------------------------------


def _service_account(candidates: Sequence[str]) -> Optional[Tuple[str, int, int]]:
    """The unprivileged account a server switches to when we are root.

    Apache refuses to serve as root and squid always drops privileges, so
    when the tests run as root the server's files must be readable by that
    account.  Returns None when not root (servers then keep our identity).
    """
    if os.geteuid() != 0:
        return None
    for name in candidates:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_name, entry.pw_uid, entry.pw_gid
    raise ServerStartError(f"none of the accounts {list(candidates)} exists")


def _hand_over(root: Path, uid: int, gid: int) -> None:
    """Give a server's runtime directory to its unprivileged account."""
    for path in [root, *root.rglob("*")]:
        os.chown(path, uid, gid, follow_symlinks=False)


class ServerProcess:
    """Common life cycle: render files, Popen, wait until ready, stop.

    ``workdir`` comes from pytest's ``tmp_path_factory``.  The server's files
    live there too, except when we are root and the server drops its
    privileges (Apache, squid): pytest keeps its temporary root directory
    at mode 0700 -- and resets it to 0700 whenever another pytest run
    starts -- so the unprivileged account could not reliably reach it.
    Such a server runs from a ``mkdtemp`` directory of its own instead,
    whose configuration and logs are copied back into ``workdir`` when it
    stops.
    """

    name = "server"  # human name, also the temp directory's name
    package = "?"  # Debian package providing the binary
    binary = "?"  # program name looked up in PATH and sbin
    #: Accounts a server started as root switches to, in order of
    #: preference; empty for servers that keep running as root.
    accounts: Sequence[str] = ()

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.root = workdir  # where the server's files are while it runs
        self.account: Optional[Tuple[str, int, int]] = None
        self.host = HOST
        self.port = 0
        self.proc: Optional["subprocess.Popen[bytes]"] = None
        self.log = AccessLog(self.logdir / "access.log", self._send_marker)

    @property
    def logdir(self) -> Path:
        return self.root / "logs"

    @property
    def stdout_path(self) -> Path:
        return self.logdir / "stdout.txt"

    @property
    def stderr_path(self) -> Path:
        return self.logdir / "stderr.txt"

    # -- to be provided by subclasses ------------------------------------

    @classmethod
    def required_files(cls) -> Iterable[str]:
        """Modules and helpers the configuration loads (besides binary)."""
        return ()

    def write_files(self) -> None:
        """Render configuration, user files and content below ``root``."""
        raise NotImplementedError

    def check_command(self, program: str) -> Optional[List[str]]:
        """A command that validates the configuration, if there is one."""
        return None

    def command(self, program: str) -> List[str]:
        raise NotImplementedError

    def error_logs(self) -> List[Path]:
        return []

    def _send_marker(self, token: str) -> None:
        if http_status(self.port, token) is None:
            raise AssertionError(f"{self.name} did not answer the log marker")

    def ready(self) -> bool:
        return http_status(self.port, "/") is not None

    # -- shared machinery -------------------------------------------------

    @classmethod
    def missing(cls) -> Optional[str]:
        """Why this server cannot run here, or None when it can."""
        hint = f"(apt-get install {cls.package})"
        if find_program(cls.binary) is None:
            return f"{cls.binary} not installed {hint}"
        absent = [f for f in cls.required_files() if not os.path.exists(f)]
        if absent:
            return f"{cls.binary} is missing {', '.join(absent)} {hint}"
        return None

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def diagnostics(self) -> str:
        parts = []
        for path in [self.stderr_path, self.stdout_path, *self.error_logs()]:
            text = tail(path)
            if text:
                parts.append(f"--- {path} ---\n{text}")
        return "\n".join(parts) or "(the server wrote no output)"

    def start(self) -> None:
        program = find_program(self.binary)
        if program is None:
            raise ServerStartError(self.missing() or self.binary)
        self.account = _service_account(self.accounts) if self.accounts else None
        if self.account is not None:
            self.root = Path(tempfile.mkdtemp(prefix=f"requests-challenge-{self.name}-"))
        self.log = AccessLog(self.logdir / "access.log", self._send_marker)
        self.port = free_port()
        try:
            self.logdir.mkdir(parents=True, exist_ok=True)
            self.write_files()
            self._check_config(program)
            if self.account is not None:
                _hand_over(self.root, self.account[1], self.account[2])
            env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
            env.setdefault("LANG", "C.UTF-8")
            with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
                self.proc = subprocess.Popen(
                    self.command(program),
                    cwd=self.root,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,  # its own process group, see stop()
                )
            wait_until_ready(
                self.ready, self.proc, f"{self.name} on port {self.port}",
                self.diagnostics,
            )
        except ServerStartError as exc:
            self.stop()
            raise ServerStartError(
                f"{exc}\n(configuration and logs are kept in {self.workdir})"
            ) from None
        except BaseException:
            self.stop()
            raise

    def _check_config(self, program: str) -> None:
        check = self.check_command(program)
        if check is None:
            return
        result = subprocess.run(check, capture_output=True, timeout=30)
        if result.returncode != 0:
            output = (result.stderr + result.stdout).decode(errors="replace")
            raise ServerStartError(
                f"{self.name} rejected its configuration ({' '.join(check)}):\n"
                + output[-3000:]
            )

    def stop(self) -> None:
        """SIGTERM our child, wait, then SIGKILL what is left of it."""
        proc, self.proc = self.proc, None
        try:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    # The process group is the one start_new_session created
                    # for this child: only its own workers and helpers.
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    proc.wait(timeout=STOP_TIMEOUT)
        finally:
            self._release_root()

    def _release_root(self) -> None:
        """Keep configuration and logs of a private runtime directory in
        ``workdir``, then remove it."""
        if self.root == self.workdir:
            return
        root, self.root = self.root, self.workdir
        try:
            if (root / "logs").is_dir():
                shutil.copytree(root / "logs", self.logdir, dirs_exist_ok=True)
            for conf in root.glob("*.conf"):
                shutil.copy(conf, self.workdir / conf.name)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> "ServerProcess":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _write(path: Path, content, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    path.chmod(mode)
    return path


# --------------------------------------------------------------------------
# lighttpd
# --------------------------------------------------------------------------

LIGHTTPD_CONF = r"""
server.document-root = "@docroot@"
server.bind = "@host@"
server.port = @port@
server.errorlog = "@logdir@/error.log"
server.pid-file = "@root@/lighttpd.pid"
# mod_auth before mod_redirect: both act in the same request phase
# (uri-clean), in this order, so a redirecting protected URL is challenged
# first and redirects only once the credentials were accepted.
server.modules = ("mod_auth", "mod_authn_file", "mod_accesslog", "mod_cgi", "mod_redirect")
server.upload-dirs = ("@root@")
mimetype.assign = (".txt" => "text/plain; charset=utf-8")

# mod_accesslog buffers lines written to a file and flushes them only
# every few seconds; a piped logger receives each line right away.
accesslog.filename = "|exec /bin/cat >> '@logdir@/access.log'"
accesslog.format = "%s %m %U %u %{@tag_header@}i"

cgi.assign = (".cgi" => "")

auth.backend = "plain"
auth.backend.plain.userfile = "@root@/users.plain"

auth.require = (
  "/md5/" => ("method" => "digest", "realm" => "md5 realm",
              "algorithm" => "MD5", "require" => "valid-user"),
  "/sha256/" => ("method" => "digest", "realm" => "sha256 realm",
                 "algorithm" => "SHA-256", "require" => "valid-user"),
  "/multi/" => ("method" => "digest", "realm" => "multi realm",
                "algorithm" => "SHA-512-256|SHA-256|MD5",
                "require" => "valid-user"),
  "/userhash/" => ("method" => "digest", "realm" => "userhash realm",
                   "algorithm" => "SHA-256", "userhash" => "enable",
                   "require" => "valid-user"),
  "/basic/" => ("method" => "basic", "realm" => "basic realm",
                "require" => "valid-user"),
)

# The plain backend cannot look users up by userhash; htdigest can
# (4th field: H(username ":" realm)).
$HTTP["url"] =~ "^/userhash/" {
  auth.backend = "htdigest"
  auth.backend.htdigest.userfile = "@root@/users.htdigest"
}
@redirects@"""

#: One block per status: ``/LOC/rCODE/REST`` and ``/LOC/rCODE-REST`` (LOC
#: protected) and ``/open/LOC/rCODE/REST`` (not protected) all answer
#: CODE with ``Location: /LOC/REST`` (query string kept).  mod_auth checks
#: the first two before mod_redirect sees them (see server.modules).
LIGHTTPD_REDIRECT = r"""
$HTTP["url"] =~ "^/(open/)?(md5|sha256|basic)/r@code@[-/]" {
  url.redirect = ("^/(?:open/)?(md5|sha256|basic)/r@code@[-/](.*)$" => "/$1/$2")
  url.redirect-code = @code@
}
"""


class Lighttpd(ServerProcess):
    """lighttpd 1.4 with mod_auth: Digest MD5/SHA-256/multi/userhash, Basic.

    Every location holds ``hello.txt`` and the ``echo.cgi`` body echo;
    ``/open/`` holds the same without protection.  ``md5``, ``sha256`` and
    ``basic`` also redirect (after authentication), see :meth:`redirect_path`.
    """

    name = "lighttpd"
    package = "lighttpd"
    binary = "lighttpd"
    locations = ("md5", "sha256", "multi", "userhash", "basic")
    open_location = "open"  # not protected: an origin for proxy-only tests
    userhash_realm = "userhash realm"
    redirect_locations = ("md5", "sha256", "basic")

    @staticmethod
    def redirect_path(location: str, code: int, rest: str, style: str = "child") -> str:
        """A URL path that answers ``code`` with ``Location: /location/rest``.

        ``style`` "child": ``/location/rCODE/rest``, a directory below the
        target's (protected, so challenged first); "sibling":
        ``/location/rCODE-rest``, in the target's own directory; "open":
        ``/open/location/rCODE/rest``, not protected at all.
        """
        return _redirect_path(location, code, rest, style)

    @classmethod
    def required_files(cls) -> Iterable[str]:
        # mod_redirect is compiled into lighttpd >= 1.4.56 (no .so to check).
        return [
            f"/usr/lib/lighttpd/{m}.so"
            for m in ("mod_auth", "mod_authn_file", "mod_accesslog", "mod_cgi")
        ]

    def write_files(self) -> None:
        docroot = self.root / "docroot"
        for location in (*self.locations, self.open_location):
            _write(docroot / location / "hello.txt", f"hello from lighttpd /{location}/\n")
            _write(docroot / location / "echo.cgi", ECHO_CGI, 0o755)
        _write(
            self.root / "users.plain",
            "".join(f"{user}:{password}\n" for user, password in USERS.values()),
            0o600,
        )
        realm = self.userhash_realm
        _write(
            self.root / "users.htdigest",
            "".join(
                f"{user}:{realm}:{_sha256(f'{user}:{realm}:{password}')}"
                f":{_sha256(f'{user}:{realm}')}\n"
                for user, password in USERS.values()
            ),
            0o600,
        )
        conf = render(
            LIGHTTPD_CONF, host=self.host, port=self.port, docroot=docroot,
            root=self.root, logdir=self.logdir, tag_header=TAG_HEADER,
            redirects="".join(render(LIGHTTPD_REDIRECT, code=code) for code in REDIRECT_CODES),
        )
        self.conf_path = _write(self.root / "lighttpd.conf", conf)

    def check_command(self, program: str) -> Optional[List[str]]:
        return [program, "-tt", "-f", str(self.conf_path)]

    def command(self, program: str) -> List[str]:
        return [program, "-D", "-f", str(self.conf_path)]

    def error_logs(self) -> List[Path]:
        return [self.logdir / "error.log"]


def _redirect_path(location: str, code: int, rest: str, style: str) -> str:
    if code not in REDIRECT_CODES:
        raise ValueError(f"no redirecting location for status {code}")
    if style == "child":
        return f"/{location}/r{code}/{rest}"
    if style == "sibling":
        return f"/{location}/r{code}-{rest}"
    if style == "open":
        return f"/open/{location}/r{code}/{rest}"
    raise ValueError(f"unknown redirect style {style!r}")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------
# Apache httpd
# --------------------------------------------------------------------------

APACHE_MODULES = {
    "mpm_event_module": "mod_mpm_event.so",
    "authz_core_module": "mod_authz_core.so",
    "authz_user_module": "mod_authz_user.so",
    "authn_core_module": "mod_authn_core.so",
    "authn_file_module": "mod_authn_file.so",
    "auth_digest_module": "mod_auth_digest.so",
    "auth_basic_module": "mod_auth_basic.so",
    "cgid_module": "mod_cgid.so",
    "alias_module": "mod_alias.so",
    "rewrite_module": "mod_rewrite.so",
    "log_config_module": "mod_log_config.so",
    "mime_module": "mod_mime.so",
}
APACHE_MODULE_DIR = "/usr/lib/apache2/modules"

APACHE_CONF = r"""
ServerRoot "@root@"
DefaultRuntimeDir "@root@/run"
PidFile "@root@/run/httpd.pid"
Mutex file:@root@/run default
ServerName @host@
Listen @host@:@port@
@modules@
@account@
StartServers 1
ServerLimit 2
ThreadsPerChild 16
MaxRequestWorkers 32
MinSpareThreads 1
MaxSpareThreads 32
KeepAliveTimeout 5
ErrorLog "@logdir@/error.log"
LogLevel info
LogFormat "%>s %m %U %u %{@tag_header@}i" challenge
CustomLog "@logdir@/access.log" challenge
ScriptSock "@root@/run/cgid.sock"
TypesConfig /dev/null
AddType "text/plain; charset=utf-8" .txt
DocumentRoot "@docroot@"
<Directory />
  AllowOverride None
  Require all granted
</Directory>
ScriptAlias /digest/cgi/ "@root@/cgi/"
ScriptAlias /basic/cgi/ "@root@/cgi/"

<Location "/digest/">
  AuthType Digest
  AuthName "@digest_realm@"
  AuthDigestDomain /digest/
  AuthDigestProvider file
  AuthUserFile "@root@/users.htdigest"
  AuthDigestQop auth
  Require valid-user
</Location>

# Nonces die after @nonce_lifetime@ s, so a later request meets stale=true.
<Location "/stale/">
  AuthType Digest
  AuthName "@stale_realm@"
  AuthDigestDomain /stale/
  AuthDigestProvider file
  AuthUserFile "@root@/users.htdigest"
  AuthDigestQop auth
  AuthDigestNonceLifetime @nonce_lifetime@
  Require valid-user
</Location>

<Location "/basic/">
  AuthType Basic
  AuthName "basic realm"
  AuthBasicProvider file
  AuthUserFile "@root@/users.htpasswd"
  Require valid-user
</Location>
@redirects@"""

#: Redirects that run after authentication.  mod_alias's ``Redirect`` would
#: answer in the translate-name phase, before any credentials are checked;
#: mod_rewrite in per-directory context acts in the fixups phase, after
#: authentication and authorization, so ``/LOC/rCODE/REST`` and
#: ``/LOC/rCODE-REST`` are challenged first and only then answer CODE with
#: ``Location: http://host:port/LOC/REST`` (query string kept).  ``/open/``
#: is not protected: ``/open/LOC/rCODE/REST`` redirects at once.
APACHE_REDIRECT_DIR = r"""
<Directory "@docroot@/@location@">
  RewriteEngine On
@rules@</Directory>
"""
APACHE_REDIRECT_RULE = '  RewriteRule "^r@code@[-/](.*)$" "/@location@/$1" [R=@code@,L]\n'
APACHE_OPEN_REDIRECT_RULE = '  RewriteRule "^(digest|basic)/r@code@/(.*)$" "/$1/$2" [R=@code@,L]\n'


class Apache(ServerProcess):
    """Apache httpd with mod_auth_digest (/digest/, /stale/) and Basic.

    ``/digest/cgi/echo`` and ``/basic/cgi/echo`` run the body echo behind
    the respective protection.  ``digest`` and ``basic`` also redirect
    (after authentication), see :meth:`redirect_path`; ``/open/`` is not
    protected.
    """

    name = "apache"
    package = "apache2"
    binary = "apache2"
    accounts = ("www-data", "nobody")
    locations = ("digest", "stale", "basic")
    digest_realm = "digest realm"
    stale_realm = "stale realm"
    nonce_lifetime = 2  # seconds (AuthDigestNonceLifetime of /stale/)
    redirect_locations = ("digest", "basic")
    open_location = "open"

    @staticmethod
    def redirect_path(location: str, code: int, rest: str, style: str = "child") -> str:
        """A URL path that answers ``code`` with a Location of ``/location/rest``;
        ``style`` as for :meth:`Lighttpd.redirect_path`."""
        return _redirect_path(location, code, rest, style)

    @classmethod
    def required_files(cls) -> Iterable[str]:
        # mod_log_config and a few others may be compiled in; checked at
        # load time with <IfModule>, so only the always-shared ones here.
        return [
            f"{APACHE_MODULE_DIR}/{so}"
            for so in APACHE_MODULES.values()
            if so != "mod_log_config.so"
        ]

    def write_files(self) -> None:
        docroot = self.root / "docroot"
        for location in (*self.locations, self.open_location):
            _write(docroot / location / "hello.txt", f"hello from apache /{location}/\n")
        _write(self.root / "cgi" / "echo", ECHO_CGI, 0o755)
        (self.root / "run").mkdir(exist_ok=True)
        _write(
            self.root / "users.htdigest",
            "".join(
                f"{user}:{realm}:{_md5(f'{user}:{realm}:{password}')}\n"
                for user, password in USERS.values()
                for realm in (self.digest_realm, self.stale_realm)
            ),
        )
        # {SHA} is base64(sha1(password)), which mod_authn_file accepts.
        _write(
            self.root / "users.htpasswd",
            "".join(
                f"{user}:{{SHA}}{_b64sha1(password)}\n"
                for user, password in USERS.values()
            ),
        )
        modules = "\n".join(
            f"<IfModule !{name}>\n  LoadModule {name} {APACHE_MODULE_DIR}/{so}\n</IfModule>"
            for name, so in APACHE_MODULES.items()
        )
        account_lines = ""
        if self.account is not None:
            user, _, gid = self.account
            account_lines = f"User {user}\nGroup {grp.getgrgid(gid).gr_name}"
        conf = render(
            APACHE_CONF, host=self.host, port=self.port, root=self.root,
            logdir=self.logdir, docroot=docroot, modules=modules, tag_header=TAG_HEADER,
            account=account_lines, digest_realm=self.digest_realm,
            stale_realm=self.stale_realm, nonce_lifetime=self.nonce_lifetime,
            redirects=self._redirect_config(docroot),
        )
        self.conf_path = _write(self.root / "httpd.conf", conf)

    def _redirect_config(self, docroot: Path) -> str:
        blocks = [
            render(
                APACHE_REDIRECT_DIR, docroot=docroot, location=location,
                rules="".join(
                    render(APACHE_REDIRECT_RULE, code=code, location=location)
                    for code in REDIRECT_CODES
                ),
            )
            for location in self.redirect_locations
        ]
        blocks.append(render(
            APACHE_REDIRECT_DIR, docroot=docroot, location=self.open_location,
            rules="".join(render(APACHE_OPEN_REDIRECT_RULE, code=code) for code in REDIRECT_CODES),
        ))
        return "".join(blocks)

    def check_command(self, program: str) -> Optional[List[str]]:
        return [program, "-t", "-f", str(self.conf_path)]

    def command(self, program: str) -> List[str]:
        return [program, "-DFOREGROUND", "-f", str(self.conf_path)]

    def error_logs(self) -> List[Path]:
        return [self.logdir / "error.log"]


def _b64sha1(password: str) -> str:
    return base64.b64encode(hashlib.sha1(password.encode("utf-8")).digest()).decode()


# --------------------------------------------------------------------------
# squid
# --------------------------------------------------------------------------

SQUID_HELPERS = "/usr/lib/squid"

SQUID_CONF = r"""
http_port @host@:@port@
udp_incoming_address @host@
visible_hostname requests-challenge-squid
pid_filename @root@/squid.pid
coredump_dir @root@
cache_log @logdir@/cache.log
logformat challenge %>Hs %rm %ru %un %{@tag_header@}>h
access_log stdio:@logdir@/access.log challenge
buffered_logs off
logfile_rotate 0
cache deny all
cache_mem 8 MB
netdb_filename none
pinger_enable off
shutdown_lifetime 0 seconds
@account@
@auth@
acl authenticated proxy_auth REQUIRED
http_access allow authenticated
http_access deny all
"""

SQUID_AUTH = {
    # digest_file_auth -c reads "user:realm:HA1" lines.
    "digest": (
        "auth_param digest program @helpers@/digest_file_auth -c @root@/users.digest\n"
        "auth_param digest children 2 startup=1 idle=1\n"
        'auth_param digest realm @digest_realm@\n'
    ),
    # basic_ncsa_auth accepts an unsalted MD5 hex digest as password hash;
    # casesensitive keeps squid from lower-casing "Jäsøn".
    "basic": (
        "auth_param basic program @helpers@/basic_ncsa_auth @root@/users.htpasswd\n"
        "auth_param basic children 2 startup=1 idle=1\n"
        "auth_param basic realm @basic_realm@\n"
        "auth_param basic casesensitive on\n"
    ),
}


class Squid(ServerProcess):
    """squid forward proxy demanding proxy auth with the given schemes.

    ``schemes`` is the order of the ``auth_param`` blocks, which is also
    the order of the Proxy-Authenticate challenges squid sends.
    """

    name = "squid"
    package = "squid"
    binary = "squid"
    accounts = ("proxy", "nobody")
    digest_realm = "squid digest realm"
    basic_realm = "squid basic realm"

    def __init__(self, workdir: Path, schemes: Sequence[str] = ("digest",)):
        super().__init__(workdir)
        self.schemes = tuple(schemes)
        self.name = "squid-" + "+".join(self.schemes)

    @classmethod
    def required_files(cls) -> Iterable[str]:
        return [f"{SQUID_HELPERS}/digest_file_auth", f"{SQUID_HELPERS}/basic_ncsa_auth"]

    @property
    def proxy_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def write_files(self) -> None:
        _write(
            self.root / "users.digest",
            "".join(
                f"{user}:{self.digest_realm}:"
                f"{_md5(f'{user}:{self.digest_realm}:{password}')}\n"
                for user, password in USERS.values()
            ),
        )
        _write(
            self.root / "users.htpasswd",
            "".join(f"{user}:{_md5(password)}\n" for user, password in USERS.values()),
        )
        auth = "".join(SQUID_AUTH[scheme] for scheme in self.schemes)
        account = self.account
        conf = render(
            SQUID_CONF.replace("@auth@", auth), host=self.host, port=self.port,
            root=self.root, logdir=self.logdir, helpers=SQUID_HELPERS, tag_header=TAG_HEADER,
            digest_realm=self.digest_realm, basic_realm=self.basic_realm,
            account=f"cache_effective_user {account[0]}" if account else "",
        )
        self.conf_path = _write(self.root / "squid.conf", conf)

    def check_command(self, program: str) -> Optional[List[str]]:
        return [program, "-k", "parse", "-f", str(self.conf_path)]

    def command(self, program: str) -> List[str]:
        return [program, "-N", "-f", str(self.conf_path)]

    def error_logs(self) -> List[Path]:
        return [self.logdir / "cache.log"]

    def _send_marker(self, token: str) -> None:
        # A proxy request without credentials: squid answers 407 and logs
        # it without contacting the (never used) discard port.
        if http_status(self.port, f"http://{HOST}:9{token}") is None:
            raise AssertionError(f"{self.name} did not answer the log marker")
