"""Helpers for the CONNECT tests: a certificate, an https origin, squid's tunnel lines.

The origin is the package's own `ChallengeServer` with TLS, on a fresh port for
every test, so the squid log lines of one test (``CONNECT 127.0.0.1:<port>``)
never mix with another's. squid logs a tunnel when it *closes*, after the
client let go of it, so `tunnel_lines` waits for the lines a test expects
instead of trusting the first read.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Mapping, Sequence


from requests_challenge.testing import ChallengeServer, SelfSignedCertificate, self_signed_certificate

from .servers import LOG_TIMEOUT, LogLine, Squid, unavailable

#: Who the https origin knows (the proxy's users are servers.USERS).
ORIGIN_USER, ORIGIN_PASSWORD = "origin-user", "origin-password"


def make_certificate(directory: Path) -> SelfSignedCertificate:
    """The origin's certificate; a missing openssl follows the servers' skip/require rule."""
    try:
        return self_signed_certificate(directory)
    except FileNotFoundError as exc:
        unavailable(str(exc))
        raise


@contextmanager
def https_origin(
    certificate: SelfSignedCertificate, challenges: Sequence[Any], users: Mapping[str, str] = {ORIGIN_USER: ORIGIN_PASSWORD}
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
