"""The ``challenge_server`` and ``challenge_proxy`` pytest fixtures (entry point ``pytest11``).

Kept apart from `requests_challenge.testing` so that loading the plugin in every
pytest run costs almost nothing: the server module is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from .testing import ChallengeProxy, ChallengeServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "challenge_server(**options): ChallengeServer keyword arguments for the challenge_server fixture"
        " (e.g. tls=True for https)",
    )
    config.addinivalue_line(
        "markers",
        "challenge_proxy(**options): ChallengeProxy keyword arguments for the challenge_proxy fixture",
    )


@pytest.fixture
def challenge_server(request: pytest.FixtureRequest) -> Iterator["ChallengeServer"]:
    """A started `ChallengeServer` for this test; user ``DEMO_USER`` / ``DEMO_PASSWORD``.

    Options: ``@pytest.mark.challenge_server(challenges=[Digest("MD5")], strict_nc=True)``;
    ``tls=True`` serves https, trusted with ``verify=challenge_server.certificate.cafile``.
    """
    from .testing import ChallengeServer

    marker = request.node.get_closest_marker("challenge_server")
    with ChallengeServer(**(marker.kwargs if marker else {})) as server:
        yield server


@pytest.fixture
def challenge_proxy(request: pytest.FixtureRequest) -> Iterator["ChallengeProxy"]:
    """A started `ChallengeProxy` (407 for absolute-form requests and CONNECT) for this test;
    user ``DEMO_USER`` / ``DEMO_PASSWORD``. Options: ``@pytest.mark.challenge_proxy(on_407="close")``."""
    from .testing import ChallengeProxy

    marker = request.node.get_closest_marker("challenge_proxy")
    with ChallengeProxy(**(marker.kwargs if marker else {})) as proxy:
        yield proxy
