"""Session fixtures that run real lighttpd, Apache httpd and squid servers.

Each server starts at most once per test session (it takes well under a
second) and only when a test asks for it.  A server that is not installed
skips its tests with the Debian package to install -- unless
REQUESTS_CHALLENGE_REQUIRE_SERVERS=1, which CI sets so that a broken
installation can never turn into a green run made of skips.
"""

from __future__ import annotations

from typing import Iterator, Tuple, Type

import pytest
import requests

from .servers import USERS, Apache, Lighttpd, ServerProcess, Squid, unavailable
from .tagging import tagged_session

#: Environment variables through which requests would pick up a proxy or
#: bypass one; none of them may steer these tests.
PROXY_ENVIRONMENT = (
    "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
    "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: runs against real HTTP servers from Debian packages"
    )


def _serve(
    cls: Type[ServerProcess], factory: pytest.TempPathFactory, **kwargs: object
) -> Iterator[ServerProcess]:
    reason = cls.missing()
    if reason:
        unavailable(reason)
    server = cls(factory.mktemp(cls.name), **kwargs)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def lighttpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lighttpd]:
    yield from _serve(Lighttpd, tmp_path_factory)  # type: ignore[misc]


@pytest.fixture(scope="session")
def apache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apache]:
    yield from _serve(Apache, tmp_path_factory)  # type: ignore[misc]


@pytest.fixture(scope="session")
def squid_digest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Squid]:
    """squid demanding Digest proxy auth only."""
    yield from _serve(Squid, tmp_path_factory, schemes=("digest",))  # type: ignore[misc]


@pytest.fixture(scope="session")
def squid_basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Squid]:
    """squid demanding Basic proxy auth only."""
    yield from _serve(Squid, tmp_path_factory, schemes=("basic",))  # type: ignore[misc]


@pytest.fixture(scope="session")
def squid_both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Squid]:
    """squid offering Basic first and Digest second: the client must pick Digest."""
    yield from _serve(Squid, tmp_path_factory, schemes=("basic", "digest"))  # type: ignore[misc]


@pytest.fixture(params=sorted(USERS), ids=sorted(USERS))
def credentials(request: pytest.FixtureRequest) -> Tuple[str, str]:
    """(username, password), once ASCII and once non-ASCII."""
    return USERS[request.param]


@pytest.fixture(autouse=True)
def _no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the caller's proxy settings from rerouting or bypassing requests."""
    for name in PROXY_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    """A Session that ignores the environment (proxies, netrc, CA bundle) and
    tags every request it sends; ``tagging.retag(session)`` starts a step
    whose exchanges a test counts (see tagging.py)."""
    with tagged_session() as s:
        yield s
