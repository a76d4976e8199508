"""Real Kerberos, SPNEGO and NTLM servers from Debian packages, for the interop tests.

Everything runs from a private temporary directory on 127.0.0.1 (addressed as
``localhost``, because the one service principal is ``HTTP/localhost``) and is
stopped by its own PID; nothing under /etc is read or written:

* :class:`KerberosRealm`: an MIT KDC (``krb5kdc -n``) for the throwaway realm
  ``EXAMPLE.TEST``, made with ``kdb5_util create -s`` from a private
  ``kdc.conf`` (``KRB5_KDC_PROFILE``), with a private ``krb5.conf``
  (``KRB5_CONFIG``) and ticket cache (``KRB5CCNAME``) for the clients, the
  keytab of ``HTTP/localhost`` and gss-ntlmssp's users file
  (``NTLM_USER_FILE``: ``DOMAIN:user:password`` lines).
* :class:`GssApache`: Apache httpd with mod_auth_gssapi as an origin:
  ``/krb/`` (Negotiate, Kerberos only), ``/ntlm/`` (NTLM through gss-ntlmssp,
  connection-bound), ``/all/`` (Kerberos, NTLM and Basic, connection-bound).
* :class:`GssApacheProxy`: the same Apache as a forward proxy (mod_proxy_http,
  mod_proxy_connect) demanding Negotiate/NTLM in ``<Proxy *>``.
* :class:`NegotiateSquid`: squid with ``negotiate_kerberos_auth`` and/or
  ``ntlm_fake_auth`` (which accepts any password).
* :class:`EpaServer`: ``epa_server.py``, a strict TLS acceptor (pyspnego) that
  requires the ``tls-server-end-point`` channel binding.

Each server process gets the Kerberos/NTLM environment it needs on its own
command line (``env KRB5_KTNAME=... NTLM_USER_FILE=... apache2 ...``), with
copies of the files it may read in its own runtime directory (Apache and squid
switch to an unprivileged account when started as root): the keytab and the
NTLM users never reach the test process's environment.  Apache is started
with ``-f`` and its own ``ServerRoot``, so the ``auth_gssapi`` module that the
Debian package enables in the system's Apache is never read.

Besides the suite's common access log (``status method target user tag``, see
servers.py), every server writes ``tokens.log``: ``tag|status|method|
Authorization|Proxy-Authorization`` exactly as received, so tests can inspect
the tokens a client sent (:meth:`TokenLog.seen`) and prove, e.g., that no NTLM
token ever went out.
"""

from __future__ import annotations

import base64
import grp
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import unquote

from requests_challenge.testing import SelfSignedCertificate

from ..servers import (
    ECHO_CGI,
    HOST,
    LOG_TIMEOUT,
    PROBE_TIMEOUT,
    STOP_TIMEOUT,
    TAG_HEADER,
    ServerProcess,
    ServerStartError,
    find_program,
    free_port,
    http_status,
    render,
    tail,
    wait_until_ready,
)

# --------------------------------------------------------------------------
# Who is who
# --------------------------------------------------------------------------

REALM = "EXAMPLE.TEST"
NTLM_DOMAIN = "EXAMPLE"
#: Every Kerberos-protected server is addressed by this name: the keytab holds
#: HTTP/localhost@EXAMPLE.TEST only.
SERVICE_HOST = "localhost"
SERVICE_PRINCIPAL = f"HTTP/{SERVICE_HOST}@{REALM}"

#: A Kerberos principal (created with +requires_preauth, so that a wrong
#: password is a PREAUTH_FAILED at the KDC, not a ticket nobody can read).
#: alice is in the NTLM users file too, as a domain user would be.
KERBEROS_USER = f"alice@{REALM}"
KERBEROS_PASSWORD = "alice-Kerb-Pa55"

#: An NTLM-only user: no Kerberos principal, only gss-ntlmssp's users file.
NTLM_USER = f"{NTLM_DOMAIN}\\bob"
NTLM_PASSWORD = "bob-Ntlm-Pa55"
#: The spellings of bob a client may be given.  NTLM carries (domain, user):
#: ``EXAMPLE\\bob`` goes as (EXAMPLE, bob), ``bob`` as ("", bob) and the UPN
#: ``bob@EXAMPLE`` as ("", bob@EXAMPLE); the users file has a line for each
#: (gss-ntlmssp treats an empty domain as a wildcard, a UPN as a user name).
NTLM_USER_FORMS = (NTLM_USER, f"bob@{NTLM_DOMAIN}", "bob")

#: As an AD domain controller does, the domain field may carry the NetBIOS
#: name (EXAMPLE) or the DNS name (EXAMPLE.TEST), and a UPN may come whole in
#: the user field with an empty domain: a client may split ``alice@EXAMPLE.TEST``
#: into (EXAMPLE.TEST, alice) or send it as it is.
NTLM_USERS_FILE_LINES = (
    f"{NTLM_DOMAIN}:bob:{NTLM_PASSWORD}",
    f"{REALM}:bob:{NTLM_PASSWORD}",
    f":bob@{NTLM_DOMAIN}:{NTLM_PASSWORD}",
    f"{NTLM_DOMAIN}:alice:{KERBEROS_PASSWORD}",
    f"{REALM}:alice:{KERBEROS_PASSWORD}",
    f":{KERBEROS_USER}:{KERBEROS_PASSWORD}",
)

MASTER_PASSWORD = "master-key-of-a-throwaway-realm"

#: The password of each NTLM spelling the users file knows.
NTLM_PASSWORDS = {
    **{form: NTLM_PASSWORD for form in NTLM_USER_FORMS},
    KERBEROS_USER: KERBEROS_PASSWORD,
    f"{NTLM_DOMAIN}\\alice": KERBEROS_PASSWORD,
}

#: REMOTE_USER of an NTLM login as Apache's access log shows it (``%u``
#: escapes a backslash as ``\\``): gss-ntlmssp gives ``DOMAIN\user``,
#: ``\user@DOMAIN`` for a UPN (sent with an empty domain), ``user`` when no
#: domain was sent.  A Kerberos login logs the principal, ``alice@EXAMPLE.TEST``.
APACHE_LOGGED_NTLM_USER = {
    NTLM_USER: "EXAMPLE\\\\bob",
    f"bob@{NTLM_DOMAIN}": "\\\\bob@EXAMPLE",
    "bob": "bob",
    KERBEROS_USER: "\\\\alice@EXAMPLE.TEST",
    f"{NTLM_DOMAIN}\\alice": "EXAMPLE\\\\alice",
}

#: Every way Apache may log an NTLM login of each spelling, whichever split of
#: the name a client sends (pyspnego sends the name as given: the first one).
APACHE_NTLM_USER_SPELLINGS = {
    NTLM_USER: {"EXAMPLE\\\\bob"},
    f"bob@{NTLM_DOMAIN}": {"\\\\bob@EXAMPLE", "EXAMPLE\\\\bob"},
    "bob": {"bob"},
    KERBEROS_USER: {"\\\\alice@EXAMPLE.TEST", "EXAMPLE.TEST\\\\alice", "EXAMPLE\\\\alice"},
    f"{NTLM_DOMAIN}\\alice": {"EXAMPLE\\\\alice"},
}

#: SPNEGO NegTokenResp {negState reject} (a1 07 30 05 a0 03 0a 01 02): how
#: mod_auth_gssapi answers a refused SPNEGO exchange -- a 401 carrying
#: ``WWW-Authenticate: Negotiate oQcwBaADCgEC`` and NO fresh challenges.
SPNEGO_REJECT = "oQcwBaADCgEC"

#: A 48 KiB request body with every byte value.
BODY_48K = bytes(range(256)) * 192

#: Debian packages, for skip messages and .ci/run.
APACHE_GSS_PACKAGES = "apache2 libapache2-mod-auth-gssapi gss-ntlmssp"

# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def _write(path: Path, content, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    path.chmod(mode)
    return path


def gssntlmssp_module() -> Optional[str]:
    """gss-ntlmssp's mechanism module (registered in /etc/gss/mech.d by its package)."""
    for base in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"):
        candidate = os.path.join(base, "gssntlmssp", "gssntlmssp.so")
        if os.path.exists(candidate):
            return candidate
    import glob

    found = glob.glob("/usr/lib/*/gssntlmssp/gssntlmssp.so")
    return found[0] if found else None


def env_command(env: Mapping[str, str], argv: Sequence[str]) -> List[str]:
    """``argv`` run with ``env`` added (``/usr/bin/env`` execs the program, so
    the PID Popen reports is the server's own)."""
    return ["/usr/bin/env", *(f"{k}={v}" for k, v in env.items()), *argv]


def _wait_for_port(port: int, proc: "subprocess.Popen[bytes]", what: str, diagnostics: Callable[[], str]) -> None:
    def probe() -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=PROBE_TIMEOUT):
                return True
        except OSError:
            return False

    wait_until_ready(probe, proc, what, diagnostics)


def _stop(proc: Optional["subprocess.Popen[bytes]"]) -> None:
    """SIGTERM our child, wait, then SIGKILL its own process group."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=STOP_TIMEOUT)


# --------------------------------------------------------------------------
# The KDC
# --------------------------------------------------------------------------

KDC_CONF = """\
[kdcdefaults]
    kdc_listen = @host@:@port@
    kdc_tcp_listen = @host@:@port@

[realms]
    @realm@ = {
        database_name = @root@/principal
        key_stash_file = @root@/stash
        acl_file = @root@/kadm5.acl
        kdc_listen = @host@:@port@
        kdc_tcp_listen = @host@:@port@
        max_life = 10h 0m 0s
        max_renewable_life = 1d 0h 0m 0s
    }

[logging]
    kdc = FILE:@root@/logs/kdc.log
    admin_server = FILE:@root@/logs/kadmin.log
    default = FILE:@root@/logs/krb5lib.log
"""

#: The clients' and servers' krb5.conf: the realm's only KDC is ours, no DNS.
KRB5_CONF = """\
[libdefaults]
    default_realm = @realm@
    dns_canonicalize_hostname = false
    rdns = false
    dns_lookup_realm = false
    dns_lookup_kdc = false
    udp_preference_limit = 1
    forwardable = false

[realms]
    @realm@ = {
        kdc = @host@:@port@
        admin_server = @host@:@port@
        default_domain = localhost
    }

[domain_realm]
    localhost = @realm@
    .localhost = @realm@
"""


class KerberosRealm:
    """A throwaway MIT Kerberos realm with its KDC running.

    :attr:`client_env` is what the test session's clients need (``KRB5_CONFIG``
    and ``KRB5CCNAME``); the fixture puts it into ``os.environ`` for the
    session.  :meth:`server_env` copies what a server needs into the server's
    own directory and returns its environment.
    """

    name = "kdc"
    programs = {
        "krb5kdc": "krb5-kdc", "kdb5_util": "krb5-kdc", "kadmin.local": "krb5-admin-server",
        "kinit": "krb5-user", "kdestroy": "krb5-user", "klist": "krb5-user",
    }

    def __init__(self, workdir: Path, realm: str = REALM):
        self.root = workdir
        self.realm = realm
        self.port = 0
        self.proc: Optional["subprocess.Popen[bytes]"] = None
        self.krb5_conf = workdir / "krb5.conf"
        self.kdc_conf = workdir / "kdc.conf"
        self.keytab = workdir / "http.keytab"
        self.ntlm_users = workdir / "ntlm_users"
        self.ccache = workdir / "ccache"
        self.logdir = workdir / "logs"

    @classmethod
    def missing(cls) -> Optional[str]:
        absent = sorted({pkg for prog, pkg in cls.programs.items() if find_program(prog) is None})
        if gssntlmssp_module() is None:
            absent.append("gss-ntlmssp")
        if absent:
            return f"Kerberos/NTLM test servers need {', '.join(absent)} (apt-get install {' '.join(absent)})"
        return None

    # -- environments --------------------------------------------------------

    @property
    def client_env(self) -> Dict[str, str]:
        """For the test session: private krb5.conf and ticket cache."""
        return {"KRB5_CONFIG": str(self.krb5_conf), "KRB5CCNAME": f"FILE:{self.ccache}"}

    @property
    def admin_env(self) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env.update(self.client_env)
        env["KRB5_KDC_PROFILE"] = str(self.kdc_conf)
        env.setdefault("LANG", "C.UTF-8")
        return env

    def server_env(self, directory: Path) -> Dict[str, str]:
        """Copy krb5.conf, the keytab and the NTLM users into ``directory`` (a
        server's own runtime directory, handed to its account later) and return
        the environment the server process needs."""
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.krb5_conf, directory / "krb5.conf")
        shutil.copy(self.keytab, directory / "http.keytab")
        shutil.copy(self.ntlm_users, directory / "ntlm_users")
        (directory / "rcache").mkdir(exist_ok=True)
        for name in ("http.keytab", "ntlm_users"):
            (directory / name).chmod(0o600)
        return {
            "KRB5_CONFIG": str(directory / "krb5.conf"),
            "KRB5_KTNAME": f"FILE:{directory / 'http.keytab'}",
            "KRB5CCNAME": f"FILE:{directory / 'server.ccache'}",
            "KRB5RCACHEDIR": str(directory / "rcache"),
            "NTLM_USER_FILE": str(directory / "ntlm_users"),
            "NETBIOS_DOMAIN_NAME": NTLM_DOMAIN,
            "NETBIOS_COMPUTER_NAME": "LOCALHOST",
        }

    # -- life cycle ------------------------------------------------------------

    def _run(self, argv: Sequence[str], stdin: Optional[str] = None, check: bool = True) -> "subprocess.CompletedProcess[str]":
        result = subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, env=self.admin_env, timeout=60,
        )
        if check and result.returncode != 0:
            raise ServerStartError(
                f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result

    def kadmin(self, query: str) -> str:
        return self._run([find_program("kadmin.local") or "kadmin.local", "-r", self.realm, "-q", query]).stdout

    def start(self) -> None:
        self.port = free_port()
        self.logdir.mkdir(parents=True, exist_ok=True)
        values = dict(host=HOST, port=self.port, realm=self.realm, root=self.root)
        _write(self.kdc_conf, render(KDC_CONF, **values))
        _write(self.krb5_conf, render(KRB5_CONF, **values))
        _write(self.root / "kadm5.acl", "")
        _write(self.ntlm_users, "".join(line + "\n" for line in NTLM_USERS_FILE_LINES), 0o600)
        try:
            self._run([find_program("kdb5_util") or "kdb5_util", "-r", self.realm, "create", "-s", "-P", MASTER_PASSWORD])
            self.kadmin(f"addprinc +requires_preauth -pw {KERBEROS_PASSWORD} {KERBEROS_USER}")
            self.kadmin(f"addprinc -randkey {SERVICE_PRINCIPAL}")
            self.kadmin(f"ktadd -k {self.keytab} {SERVICE_PRINCIPAL}")
            with (self.logdir / "stdout.txt").open("wb") as out, (self.logdir / "stderr.txt").open("wb") as err:
                self.proc = subprocess.Popen(
                    [find_program("krb5kdc") or "krb5kdc", "-n", "-r", self.realm, "-P", str(self.root / "kdc.pid")],
                    cwd=self.root, env=self.admin_env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                    start_new_session=True,
                )
            _wait_for_port(self.port, self.proc, f"krb5kdc on port {self.port}", self.diagnostics)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        _stop(proc)

    def diagnostics(self) -> str:
        parts = []
        for path in (self.logdir / "stderr.txt", self.logdir / "kdc.log", self.logdir / "krb5lib.log"):
            text = tail(path)
            if text:
                parts.append(f"--- {path} ---\n{text}")
        return "\n".join(parts) or "(the KDC wrote nothing)"

    # -- client side -------------------------------------------------------------

    def kinit(self, principal: str = KERBEROS_USER, password: str = KERBEROS_PASSWORD) -> "subprocess.CompletedProcess[str]":
        """``kinit`` into the session's private ticket cache (check the return code)."""
        return self._run([find_program("kinit") or "kinit", principal], stdin=password + "\n", check=False)

    def kdestroy(self) -> None:
        self._run([find_program("kdestroy") or "kdestroy", "-q"], check=False)
        try:
            self.ccache.unlink()
        except FileNotFoundError:
            pass

    def cached_principal(self) -> Optional[str]:
        """The default principal of the private ticket cache, or None when it is empty."""
        result = self._run([find_program("klist") or "klist"], check=False)
        for line in result.stdout.splitlines():
            if line.startswith("Default principal:"):
                return line.split(":", 1)[1].strip()
        return None

    def kdc_log(self) -> str:
        try:
            return (self.logdir / "kdc.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""


# --------------------------------------------------------------------------
# What the clients sent: the tokens log
# --------------------------------------------------------------------------

NTLMSSP = b"NTLMSSP\x00"
#: DER encodings (tag, length, value) of the mechanism OIDs, as they appear in
#: SPNEGO's mechTypes and in a GSS initial-context token.
OID_NTLM = bytes.fromhex("060a2b06010401823702020a")  # 1.3.6.1.4.1.311.2.2.10
OID_KRB5 = bytes.fromhex("06092a864886f712010202")  # 1.2.840.113554.1.2.2
OID_MS_KRB5 = bytes.fromhex("06092a864882f712010202")  # 1.2.840.48018.1.2.2
OID_SPNEGO = bytes.fromhex("06062b0601050502")  # 1.3.6.1.5.5.2


@dataclass(frozen=True)
class SeenToken:
    """One credentials header a server received."""

    tag: Optional[str]
    status: int  # what the server answered to it
    method: str
    header: str  # "Authorization" or "Proxy-Authorization"
    scheme: str  # as sent, e.g. "Negotiate", "NTLM", "Basic"
    token: bytes  # the decoded token68 (b"" when it did not decode)

    @property
    def carries_ntlm(self) -> bool:
        """An NTLM message anywhere (raw ``NTLM``, raw under ``Negotiate``, or
        as a SPNEGO mechToken/responseToken), or the NTLM OID offered in a
        SPNEGO mechTypes list (a server could then pick NTLM)."""
        return NTLMSSP in self.token or OID_NTLM in self.token

    @property
    def ntlm_message(self) -> bool:
        """An NTLM message itself (raw or inside SPNEGO) -- NTLM really used,
        not merely listed among SPNEGO's mechTypes."""
        return NTLMSSP in self.token

    @property
    def carries_kerberos(self) -> bool:
        """A Kerberos GSS token or the Kerberos OID in a SPNEGO token."""
        return OID_KRB5 in self.token or OID_MS_KRB5 in self.token

    @property
    def is_spnego(self) -> bool:
        """A SPNEGO NegTokenInit (GSS framing 0x60 with the SPNEGO OID) or a
        NegTokenResp (context tag 0xa1)."""
        return (self.token[:1] == b"\x60" and OID_SPNEGO in self.token[:24]) or self.token[:1] == b"\xa1"

    @property
    def is_raw_ntlm(self) -> bool:
        return self.token.startswith(NTLMSSP)

    def __repr__(self) -> str:  # short: tests print lists of these
        kinds = [k for k, v in (("spnego", self.is_spnego), ("raw-ntlm", self.is_raw_ntlm),
                                ("ntlm-message", self.ntlm_message),
                                ("ntlm-oid", OID_NTLM in self.token), ("krb5", self.carries_kerberos)) if v]
        return f"<{self.status} {self.method} {self.header}: {self.scheme} {'+'.join(kinds) or '?'} ({len(self.token)} B)>"


def _decode_token(value: str) -> Tuple[str, bytes]:
    scheme, _, rest = value.strip().partition(" ")
    try:
        token = base64.b64decode(rest.strip(), validate=True) if rest.strip() else b""
    except ValueError:
        token = b""
    return scheme, token


class TokenLog:
    """``tokens.log``: ``tag|status|method|Authorization|Proxy-Authorization``."""

    def __init__(self, path_of: Callable[[], Path], url_encoded: bool = False):
        self._path_of = path_of
        self.url_encoded = url_encoded  # squid writes header values %-encoded

    def seen(self, tag: str, *, at_least: int = 0) -> List[SeenToken]:
        """The credentials the server received with ``tag``, in no meaningful
        order; waits (up to LOG_TIMEOUT) until ``at_least`` log lines with the
        tag are there -- servers write this log before the access log, so
        after :func:`tagging.exchanges` returned, no wait is needed."""
        deadline = time.monotonic() + LOG_TIMEOUT
        while True:
            lines = self._lines(tag)
            if len(lines) >= at_least or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        tokens = []
        for fields in lines:
            _, status, method, *headers = fields
            for name, value in zip(("Authorization", "Proxy-Authorization"), headers):
                if value in ("-", ""):
                    continue
                if self.url_encoded:
                    value = unquote(value)
                scheme, token = _decode_token(value)
                tokens.append(SeenToken(tag, int(status), method, name, scheme, token))
        return tokens

    def _lines(self, tag: str) -> List[List[str]]:
        try:
            data = self._path_of().read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        out = []
        for line in data.splitlines():
            fields = line.split("|")
            if len(fields) >= 5 and fields[0] == tag and fields[1].isdigit():
                out.append(fields[:5])
        return out


# --------------------------------------------------------------------------
# Apache httpd with mod_auth_gssapi
# --------------------------------------------------------------------------

APACHE_MODULE_DIR = "/usr/lib/apache2/modules"
GSS_APACHE_MODULES = {
    "mpm_event_module": "mod_mpm_event.so",
    "authz_core_module": "mod_authz_core.so",
    "authz_user_module": "mod_authz_user.so",
    "authn_core_module": "mod_authn_core.so",
    "auth_gssapi_module": "mod_auth_gssapi.so",
    "cgid_module": "mod_cgid.so",
    "alias_module": "mod_alias.so",
    "log_config_module": "mod_log_config.so",
    "mime_module": "mod_mime.so",
}
PROXY_MODULES = {
    "proxy_module": "mod_proxy.so",
    "proxy_http_module": "mod_proxy_http.so",
    "proxy_connect_module": "mod_proxy_connect.so",
}

#: The tokens log is declared before the access log: Apache writes a request's
#: lines in this order, so the tokens of every exchange a test counted in the
#: access log are already there.
GSS_APACHE_COMMON = r"""
ServerRoot "@root@"
DefaultRuntimeDir "@root@/run"
PidFile "@root@/run/httpd.pid"
Mutex file:@root@/run default
ServerName @service_host@
Listen @host@:@port@
@modules@
@account@
StartServers 1
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50
MinSpareThreads 1
MaxSpareThreads 50
KeepAlive On
KeepAliveTimeout 15
MaxKeepAliveRequests 1000
ErrorLog "@logdir@/error.log"
LogLevel @log_level@
LogFormat "%{@tag_header@}i|%>s|%m|%{Authorization}i|%{Proxy-Authorization}i" tokens
LogFormat "%>s %m %U %u %{@tag_header@}i" challenge
CustomLog "@logdir@/tokens.log" tokens
CustomLog "@logdir@/access.log" challenge
ScriptSock "@root@/run/cgid.sock"
TypesConfig /dev/null
AddType "text/plain; charset=utf-8" .txt
DocumentRoot "@docroot@"
<Directory />
  AllowOverride None
  Require all granted
</Directory>
"""

#: Origin locations.  /krb/: Negotiate with Kerberos only.  /ntlm/: NTLM only
#: (mod_auth_gssapi offers it as ``Negotiate`` *and* ``NTLM``; NTLM needs
#: GssapiConnectionBound, without it mod_auth_gssapi does not offer it at all).
#: /all/: Kerberos, NTLM and Basic (checked against the KDC).  No
#: GssapiCredStore: a ``keytab:`` cred store in a location that also allows
#: ntlmssp crashed Apache's child; the keytab comes from KRB5_KTNAME.
GSS_APACHE_ORIGIN = r"""
ScriptAlias /krb/cgi/ "@root@/cgi/"
ScriptAlias /ntlm/cgi/ "@root@/cgi/"
ScriptAlias /all/cgi/ "@root@/cgi/"

<Location "/krb/">
  AuthType GSSAPI
  AuthName "krb realm"
  GssapiAllowedMech krb5
  Require valid-user
</Location>

<Location "/ntlm/">
  AuthType GSSAPI
  AuthName "ntlm realm"
  GssapiAllowedMech ntlmssp
  GssapiConnectionBound On
  Require valid-user
</Location>

<Location "/all/">
  AuthType GSSAPI
  AuthName "all realm"
  GssapiAllowedMech krb5
  GssapiAllowedMech ntlmssp
  GssapiConnectionBound On
  GssapiBasicAuth On
  GssapiBasicAuthMech krb5
  Require valid-user
</Location>
"""

#: Forward proxy: plain-HTTP requests and CONNECT, both behind Negotiate/NTLM.
#: Only loopback destinations are proxied.
GSS_APACHE_PROXY = r"""
ProxyRequests On
ProxyVia Off
AllowCONNECT 1-65535
<Proxy *>
  AuthType GSSAPI
  AuthName "proxy realm"
  GssapiAllowedMech krb5
  GssapiAllowedMech ntlmssp
  GssapiConnectionBound On
  <RequireAll>
    Require valid-user
    Require expr "%{REQUEST_URI} =~ m#^(http://)?(127\.0\.0\.1|localhost)[:/]#"
  </RequireAll>
</Proxy>
"""


class _GssApacheBase(ServerProcess):
    """Apache httpd with mod_auth_gssapi, its own config only (``-f``)."""

    package = APACHE_GSS_PACKAGES
    binary = "apache2"
    accounts = ("www-data", "nobody")
    modules: Mapping[str, str] = GSS_APACHE_MODULES
    site = ""
    log_level = "info auth_gssapi:debug"

    def __init__(self, workdir: Path, realm: KerberosRealm):
        super().__init__(workdir)
        self.realm = realm
        self.host = HOST
        self.server_env: Dict[str, str] = {}
        self.tokens = TokenLog(lambda: self.logdir / "tokens.log")

    @classmethod
    def required_files(cls) -> Iterable[str]:
        return [
            f"{APACHE_MODULE_DIR}/{so}" for so in cls.modules.values() if so != "mod_log_config.so"
        ]

    @classmethod
    def missing(cls) -> Optional[str]:
        reason = super().missing() or KerberosRealm.missing()
        return reason

    def url(self, path: str = "/") -> str:
        """By name: the service principal is HTTP/localhost."""
        return f"http://{SERVICE_HOST}:{self.port}{path}"

    def write_files(self) -> None:
        docroot = self.root / "docroot"
        for location in ("krb", "ntlm", "all", "open"):
            _write(docroot / location / "hello.txt", f"hello from apache-gssapi /{location}/\n")
        _write(docroot / "index.txt", "apache-gssapi\n")
        _write(self.root / "cgi" / "echo", ECHO_CGI, 0o755)
        (self.root / "run").mkdir(exist_ok=True)
        self.server_env = self.realm.server_env(self.root / "krb")
        modules = "\n".join(
            f"<IfModule !{name}>\n  LoadModule {name} {APACHE_MODULE_DIR}/{so}\n</IfModule>"
            for name, so in self.modules.items()
        )
        account_lines = ""
        if self.account is not None:
            user, _, gid = self.account
            account_lines = f"User {user}\nGroup {grp.getgrgid(gid).gr_name}"
        conf = render(
            GSS_APACHE_COMMON + self.site, host=self.host, port=self.port, root=self.root,
            logdir=self.logdir, docroot=docroot, modules=modules, tag_header=TAG_HEADER,
            account=account_lines, service_host=SERVICE_HOST, log_level=self.log_level,
        )
        self.conf_path = _write(self.root / "httpd.conf", conf)

    def check_command(self, program: str) -> Optional[List[str]]:
        return env_command(self.server_env, [program, "-t", "-f", str(self.conf_path)])

    def command(self, program: str) -> List[str]:
        return env_command(self.server_env, [program, "-DFOREGROUND", "-f", str(self.conf_path)])

    def error_logs(self) -> List[Path]:
        return [self.logdir / "error.log"]

    def error_log(self) -> str:
        try:
            return (self.logdir / "error.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""


class GssApache(_GssApacheBase):
    """The origin: ``/krb/``, ``/ntlm/``, ``/all/`` (each with ``hello.txt`` and
    the body echo ``cgi/echo``), ``/open/`` unprotected."""

    name = "apache-gssapi"
    site = GSS_APACHE_ORIGIN
    locations = ("krb", "ntlm", "all")


class GssApacheProxy(_GssApacheBase):
    """A forward proxy demanding Negotiate (Kerberos) or NTLM: 407 with
    ``Proxy-Authenticate: Negotiate`` and ``Proxy-Authenticate: NTLM``.

    Its access log's target is the absolute URL of a proxied request and
    ``host:port`` for a CONNECT, as squid's is.
    """

    name = "apache-gssapi-proxy"
    modules = {**GSS_APACHE_MODULES, **PROXY_MODULES}
    site = GSS_APACHE_PROXY

    @property
    def proxy_url(self) -> str:
        return f"http://{SERVICE_HOST}:{self.port}"


# --------------------------------------------------------------------------
# squid with Negotiate (Kerberos) and NTLM (fake)
# --------------------------------------------------------------------------

SQUID_HELPERS = "/usr/lib/squid"

NEGOTIATE_SQUID_CONF = r"""
http_port @host@:@port@
udp_incoming_address @host@
visible_hostname requests-challenge-squid-negotiate
pid_filename @root@/squid.pid
coredump_dir @root@
cache_log @logdir@/cache.log
logformat tokens %{@tag_header@}>h|%>Hs|%rm|%{Authorization}>h|%{Proxy-Authorization}>h
logformat challenge %>Hs %rm %ru %un %{@tag_header@}>h
access_log stdio:@logdir@/tokens.log tokens
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
acl loopback_dst dst 127.0.0.1/32
acl authenticated proxy_auth REQUIRED
http_access deny !loopback_dst
http_access allow authenticated
http_access deny all
"""

NEGOTIATE_SQUID_AUTH = {
    # Kerberos only: squid's helper refuses NTLM wrapped in SPNEGO.
    "negotiate": (
        "auth_param negotiate program @helpers@/negotiate_kerberos_auth -s GSS_C_NO_NAME"
        " -k @krbdir@/http.keytab -c @krbdir@/rcache\n"
        "auth_param negotiate children 4 startup=1 idle=1\n"
        "auth_param negotiate keep_alive on\n"
    ),
    # ntlm_fake_auth accepts ANY password: for NTLM happy paths only.
    "ntlm": (
        "auth_param ntlm program @helpers@/ntlm_fake_auth\n"
        "auth_param ntlm children 4 startup=1 idle=1\n"
        "auth_param ntlm keep_alive on\n"
    ),
}


class NegotiateSquid(ServerProcess):
    """squid demanding Negotiate (``negotiate_kerberos_auth``) and/or NTLM
    (``ntlm_fake_auth``), in the order given (the order of its
    ``Proxy-Authenticate`` lines).  CONNECT to any loopback port.

    ntlm_fake_auth garbles Unicode NTLM user names in what it reports (pyspnego
    sends ``EXAMPLE\\bob`` and squid logs ``E\\b``): tests only check that some
    user was logged for NTLM.  Header values in tokens.log are %-encoded.
    """

    package = "squid"
    binary = "squid"
    accounts = ("proxy", "nobody")

    def __init__(self, workdir: Path, realm: KerberosRealm, schemes: Sequence[str] = ("negotiate", "ntlm")):
        super().__init__(workdir)
        self.realm = realm
        self.schemes = tuple(schemes)
        self.name = "squid-" + "+".join(self.schemes)
        self.server_env: Dict[str, str] = {}
        self.tokens = TokenLog(lambda: self.logdir / "tokens.log", url_encoded=True)

    @classmethod
    def required_files(cls) -> Iterable[str]:
        return [f"{SQUID_HELPERS}/negotiate_kerberos_auth", f"{SQUID_HELPERS}/ntlm_fake_auth"]

    @classmethod
    def missing(cls) -> Optional[str]:
        return super().missing() or KerberosRealm.missing()

    @property
    def proxy_url(self) -> str:
        return f"http://{SERVICE_HOST}:{self.port}"

    def write_files(self) -> None:
        krbdir = self.root / "krb"
        env = self.realm.server_env(krbdir)
        # negotiate_kerberos_auth is a Kerberos helper: keep gss-ntlmssp (which
        # its package registers in /etc/gss/mech.d for every GSS-API program)
        # out of its SPNEGO, as on a proxy without it -- else MIT's SPNEGO in
        # the helper would start NTLM handshakes (and squid 5.7 then sends
        # their continuation as "Negotiate token=<b64>").  GSS_MECH_CONFIG
        # replaces /etc/gss/mech and mech.d with this (empty) file.
        _write(krbdir / "gss-mech", "# no extra GSS-API mechanisms\n")
        self.server_env = {
            **{k: v for k, v in env.items() if not k.startswith(("NTLM_", "NETBIOS_"))},
            "GSS_MECH_CONFIG": str(krbdir / "gss-mech"),
        }
        auth = "".join(NEGOTIATE_SQUID_AUTH[scheme] for scheme in self.schemes)
        account = self.account
        conf = render(
            NEGOTIATE_SQUID_CONF.replace("@auth@", auth), host=self.host, port=self.port,
            root=self.root, logdir=self.logdir, helpers=SQUID_HELPERS, tag_header=TAG_HEADER,
            krbdir=krbdir, account=f"cache_effective_user {account[0]}" if account else "",
        )
        self.conf_path = _write(self.root / "squid.conf", conf)

    def check_command(self, program: str) -> Optional[List[str]]:
        return env_command(self.server_env, [program, "-k", "parse", "-f", str(self.conf_path)])

    def command(self, program: str) -> List[str]:
        return env_command(self.server_env, [program, "-N", "-f", str(self.conf_path)])

    def error_logs(self) -> List[Path]:
        return [self.logdir / "cache.log"]

    def _send_marker(self, token: str) -> None:
        if http_status(self.port, f"http://{HOST}:9{token}") is None:
            raise AssertionError(f"{self.name} did not answer the log marker")


# --------------------------------------------------------------------------
# The EPA server (channel bindings required)
# --------------------------------------------------------------------------

EPA_SCRIPT = Path(__file__).with_name("epa_server.py")


def localhost_certificate(directory: Path) -> SelfSignedCertificate:
    """A self-signed certificate (its own CA) for ``localhost`` and 127.0.0.1,
    ECDSA P-256 signed with SHA-256 (so tls-server-end-point hashes with
    SHA-256)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("openssl not installed (apt-get install openssl)")
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-sha256", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", f"/CN={SERVICE_HOST}",
            "-addext", f"subjectAltName=DNS:{SERVICE_HOST},IP:{HOST}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
        ],
        check=True, capture_output=True, timeout=60,
    )
    return SelfSignedCertificate(str(cert), str(key))


def tls_server_end_point(cert_path: str) -> bytes:
    """RFC 5929 ``tls-server-end-point`` channel binding data of a certificate
    (the hash of its DER form; MD5/SHA-1 signatures hash with SHA-256)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    pem = Path(cert_path).read_bytes()
    cert = x509.load_pem_x509_certificate(pem)
    algorithm = cert.signature_hash_algorithm
    if algorithm is None or isinstance(algorithm, (hashes.MD5, hashes.SHA1)):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(ssl.PEM_cert_to_DER_cert(pem.decode("ascii")))
    return b"tls-server-end-point:" + digest.finalize()


class EpaServer(ServerProcess):
    """``epa_server.py`` on https://localhost:PORT (see that file): Negotiate
    and NTLM through pyspnego's acceptor, 401 unless the token carries the
    right ``tls-server-end-point`` binding.  Answers 200 with JSON (method,
    path, user, protocol, body_length, body_sha256)."""

    name = "epa"
    package = "python3 (pyspnego[kerberos])"
    binary = sys.executable

    def __init__(self, workdir: Path, realm: KerberosRealm, certificate: SelfSignedCertificate):
        super().__init__(workdir)
        self.realm = realm
        self.certificate = certificate
        self.server_env: Dict[str, str] = {}
        self.tokens = TokenLog(lambda: self.logdir / "tokens.log")

    @classmethod
    def missing(cls) -> Optional[str]:
        try:
            import gssapi  # noqa: F401
            import spnego  # noqa: F401
        except ImportError as exc:
            return f"the EPA server needs pyspnego and gssapi ({exc}; pip install 'pyspnego[kerberos]')"
        return KerberosRealm.missing()

    def url(self, path: str = "/") -> str:
        return f"https://{SERVICE_HOST}:{self.port}{path}"

    @property
    def ca_file(self) -> str:
        return self.certificate.cert

    @property
    def channel_bindings_data(self) -> bytes:
        return tls_server_end_point(self.certificate.cert)

    def write_files(self) -> None:
        self.server_env = self.realm.server_env(self.root / "krb")
        self.server_env["PYTHONPATH"] = ""  # nothing of the suite is imported

    def command(self, program: str) -> List[str]:
        return env_command(self.server_env, [
            program, str(EPA_SCRIPT), "--host", HOST, "--port", str(self.port),
            "--cert", self.certificate.cert, "--key", self.certificate.key,
            "--log-dir", str(self.logdir), "--spn-host", SERVICE_HOST,
        ])

    def _https_status(self, target: str) -> Optional[int]:
        context = ssl.create_default_context(cafile=self.certificate.cert)
        conn = http.client.HTTPSConnection(HOST, self.port, timeout=PROBE_TIMEOUT, context=context)
        try:
            conn.request("GET", target, headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def ready(self) -> bool:
        return self._https_status("/") is not None

    def _send_marker(self, token: str) -> None:
        if self._https_status(token) is None:
            raise AssertionError(f"{self.name} did not answer the log marker")

    def verdicts(self, tag: str) -> List[str]:
        """Why the server refused requests with ``tag`` (one entry per refusal)."""
        try:
            data = (self.logdir / "verdicts.log").read_text(errors="replace")
        except FileNotFoundError:
            return []
        return [line.split("|", 2)[2] for line in data.splitlines() if line.startswith(tag + "|")]


# --------------------------------------------------------------------------
# Independent clients for the smoke tests (no requests_challenge code)
# --------------------------------------------------------------------------


@dataclass
class RawExchange:
    status: int
    headers: List[Tuple[str, str]]
    body: bytes

    def header_values(self, name: str) -> List[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


class RawConnection:
    """One keep-alive HTTP/1.1 connection on a plain socket, for handshakes
    that must stay on one connection (NTLM, CONNECT) without any client
    library deciding anything.  ``tls_context`` wraps it (with SNI/hostname
    ``server_hostname``)."""

    def __init__(self, host: str, port: int, *, tls_context: Optional[ssl.SSLContext] = None,
                 server_hostname: str = SERVICE_HOST, timeout: float = 10.0):
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls_context is not None:
            sock = tls_context.wrap_socket(sock, server_hostname=server_hostname)
        self.sock = sock
        self.file = sock.makefile("rb")

    def close(self) -> None:
        try:
            self.file.close()
        finally:
            self.sock.close()

    def __enter__(self) -> "RawConnection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def peer_certificate(self) -> Optional[bytes]:
        getpeercert = getattr(self.sock, "getpeercert", None)
        return getpeercert(binary_form=True) if getpeercert else None

    def exchange(self, method: str, target: str, headers: Mapping[str, str], body: bytes = b"",
                 *, expect_tunnel: bool = False) -> RawExchange:
        lines = [f"{method} {target} HTTP/1.1"]
        hdrs = dict(headers)
        if method != "CONNECT":
            hdrs.setdefault("Content-Length", str(len(body)))
        lines += [f"{k}: {v}" for k, v in hdrs.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        status_line = self.file.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        response_headers: List[Tuple[str, str]] = []
        while True:
            line = self.file.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            response_headers.append((name.strip(), value.strip()))
        result = RawExchange(status, response_headers, b"")
        if method == "CONNECT" and status == 200:
            return result  # the tunnel starts here
        if method == "HEAD":
            return result
        length = result.header_values("Content-Length")
        if length:
            result.body = self.file.read(int(length[0]))
        elif any(v.lower() == "chunked" for v in result.header_values("Transfer-Encoding")):
            chunks = []
            while True:
                size = int(self.file.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.file.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.file.read(size))
                self.file.readline()
            result.body = b"".join(chunks)
        return result


def gss_handshake(
    connection: RawConnection,
    method: str,
    target: str,
    context,  # a pyspnego client context
    *,
    scheme: str,
    proxy: bool = False,
    headers: Optional[Mapping[str, str]] = None,
    max_legs: int = 4,
) -> List[RawExchange]:
    """Drive a pyspnego client context over one connection: send its token
    with ``scheme``, feed the server's token back, until the server stops
    asking.  Returns every exchange (the last one is the outcome)."""
    request_header = "Proxy-Authorization" if proxy else "Authorization"
    reply_header = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
    challenge_status = 407 if proxy else 401
    token = context.step()
    results: List[RawExchange] = []
    for _ in range(max_legs):
        sent = {**(headers or {}), request_header: f"{scheme} {base64.b64encode(token).decode()}"}
        result = connection.exchange(method, target, sent)
        results.append(result)
        continuation = [
            v for v in result.header_values(reply_header)
            if v.lower().startswith(scheme.lower() + " ")
        ]
        if result.status != challenge_status or not continuation:
            if continuation and not context.complete and result.status < 400:
                context.step(base64.b64decode(continuation[0].split(" ", 1)[1]))  # mutual auth
            break
        try:
            token = context.step(base64.b64decode(continuation[0].split(" ", 1)[1]))
        except Exception:  # e.g. a SPNEGO reject: the server's answer is final
            break
        if token is None:
            break
    return results


def curl(*args: str, env: Optional[Mapping[str, str]] = None, timeout: float = 30.0) -> "subprocess.CompletedProcess[str]":
    """Run curl with no proxy environment and no ~/.curlrc (``-q``); the
    session's KRB5_CONFIG/KRB5CCNAME come from os.environ (or ``env``)."""
    program = shutil.which("curl")
    if program is None:
        raise FileNotFoundError("curl not installed (apt-get install curl)")
    environment = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    environment.update(env or {})
    return subprocess.run(
        [program, "-q", "--silent", "--show-error", "--max-time", "20", *args],
        capture_output=True, text=True, env=environment, timeout=timeout,
    )
