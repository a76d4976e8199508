"""Helpers for the CONNECT tests: a certificate, an https origin, squid's tunnel lines.

The origin is the package's own `ChallengeServer` with TLS, on a fresh port for
every test, so the squid log lines of one test (``CONNECT 127.0.0.1:<port>``)
never mix with another's. squid logs a tunnel when it *closes*, after the
client let go of it, so `tunnel_lines` waits for the lines a test expects
instead of trusting the first read.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, List, Mapping, Sequence

import pytest

from requests_challenge.testing import ChallengeServer

from .servers import HOST, LOG_TIMEOUT, LogLine, Squid

REQUIRE_SERVERS_ENV = "REQUESTS_CHALLENGE_REQUIRE_SERVERS"

#: Who the https origin knows (the proxy's users are servers.USERS).
ORIGIN_USER, ORIGIN_PASSWORD = "origin-user", "origin-password"


def unavailable(reason: str) -> None:
    """Skip, or fail when CI demands that every server runs (as conftest does)."""
    if os.environ.get(REQUIRE_SERVERS_ENV) == "1":
        pytest.fail(f"{reason}; {REQUIRE_SERVERS_ENV}=1 forbids skipping", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 (subjectAltName IP), and its key."""

    cert: str
    key: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificate(directory: Path) -> Certificate:
    """With the openssl CLI (Debian's openssl package); the client verifies against it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        unavailable("openssl not installed (apt-get install openssl)")
    cert, key = directory / "origin-cert.pem", directory / "origin-key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={HOST}",
            "-addext", f"subjectAltName=IP:{HOST}",
            # A CA certificate that is its own trust anchor, acceptable to VERIFY_X509_STRICT.
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
        ],
        check=True, capture_output=True, timeout=60,
    )
    return Certificate(str(cert), str(key))


@contextmanager
def https_origin(
    certificate: Certificate, challenges: Sequence[Any], users: Mapping[str, str] = {ORIGIN_USER: ORIGIN_PASSWORD}
) -> Iterator[ChallengeServer]:
    """A started TLS ChallengeServer on a fresh port; everything under / is protected."""
    with ChallengeServer(users=dict(users), challenges=challenges, ssl_context=certificate.server_context()) as server:
        yield server


def tunnel_lines(squid: Squid, mark: int, target: str, *, tunnels: int) -> List[LogLine]:
    """squid's CONNECT lines for ``target`` since ``mark``, once ``tunnels`` 200s are logged.

    Refused CONNECTs are logged at once; accepted ones when their tunnel closes,
    which can be a moment after the client closed its end.
    """
    deadline = time.monotonic() + LOG_TIMEOUT
    while True:
        lines = [
            line for line in squid.log.lines_since(mark) if line.method == "CONNECT" and line.target == target
        ]
        if sum(1 for line in lines if line.status == 200) >= tunnels or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)
