"""Helpers for the CONNECT tests: a certificate and an https origin.

The origin is the package's own `ChallengeServer` with TLS, on a fresh port for
every test (``CONNECT 127.0.0.1:<port>`` in squid's log). The tests find their
CONNECTs in squid's log by the tag their adapter sends in each CONNECT
(tagging.TaggingChallengeAdapter), not by position: squid logs a refused
CONNECT at once but a tunnel when it *closes*, after the client let go of it.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from requests_challenge.testing import ChallengeServer, SelfSignedCertificate, self_signed_certificate

from .servers import unavailable

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

