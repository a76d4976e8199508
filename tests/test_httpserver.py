"""requests_challenge.testing.httpserver: pytest-httpserver's expectations behind the Verifier.

The ``httpserver`` fixture is pytest-httpserver's own (an optional test
dependency: without it this module is skipped). Each test checks what a user
relies on: a 401 consumes no expectation and adds no assertion, so
``httpserver.check_assertions()`` stays clean and ordered requests still match.
"""

from __future__ import annotations

import pytest
import requests

pytest.importorskip("pytest_httpserver")

from requests_challenge import ChallengeAuth  # noqa: E402
from requests_challenge.testing import Basic, Digest  # noqa: E402
from requests_challenge.testing.httpserver import protect  # noqa: E402

USERS = {"alice": "secret"}
TIMEOUT = 10


@pytest.fixture(scope="session")
def httpserver_listen_address():  # type: ignore[no-untyped-def]
    """pytest-httpserver's own hook: 127.0.0.1 rather than its default "localhost"."""
    return ("127.0.0.1", 0)


@pytest.fixture
def session():  # type: ignore[no-untyped-def]
    with requests.Session() as s:
        s.trust_env = False  # 127.0.0.1 directly, whatever proxy the environment names
        yield s


def test_a_protected_handler_is_answered_after_a_digest_login(httpserver, session) -> None:  # type: ignore[no-untyped-def]
    guard = protect(httpserver, users=USERS, challenges=[Digest("SHA-256")])
    httpserver.expect_request("/api").respond_with_json({"ok": True})
    r = session.get(httpserver.url_for("/api"), auth=ChallengeAuth("alice", "secret"), timeout=TIMEOUT)
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert "rspauth=" in r.headers["Authentication-Info"]  # checked by ChallengeAuth too
    assert [(e.status, e.user) for e in guard.exchanges] == [(401, None), (200, "alice")]
    assert len(httpserver.log) == 1  # the 401 never reached pytest-httpserver
    httpserver.check_assertions()


def test_ordered_requests_match_in_order_and_401s_do_not_count(httpserver, session) -> None:  # type: ignore[no-untyped-def]
    guard = protect(httpserver, users=USERS, challenges=[Digest("SHA-256"), Basic()])
    httpserver.expect_ordered_request("/items", method="POST", json={"name": "a"}).respond_with_json({"id": 1})
    httpserver.expect_ordered_request("/items/1", method="GET").respond_with_json({"name": "a"})
    session.auth = ChallengeAuth("alice", "secret")
    with httpserver.wait(raise_assertions=True, stop_on_nohandler=True, timeout=TIMEOUT):
        created = session.post(httpserver.url_for("/items"), json={"name": "a"}, timeout=TIMEOUT)
        fetched = session.get(httpserver.url_for("/items/1"), timeout=TIMEOUT)
    assert created.json() == {"id": 1} and fetched.json() == {"name": "a"}
    # The first request was challenged; the second carried Digest credentials up front.
    assert [e.status for e in guard.exchanges] == [401, 200, 200]
    assert not httpserver.ordered_handlers
    httpserver.check_assertions()


def test_a_wrong_password_gets_401_and_leaves_the_expectation_for_later(httpserver, session) -> None:  # type: ignore[no-untyped-def]
    guard = protect(httpserver, users=USERS, challenges=[Digest("SHA-256")])
    httpserver.expect_ordered_request("/api", method="POST").respond_with_json({"ok": True})
    r = session.post(httpserver.url_for("/api"), auth=ChallengeAuth("alice", "wrong"), timeout=TIMEOUT)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Digest ")
    assert [e.reason for e in guard.exchanges] == ["no credentials", "wrong response"]
    assert len(httpserver.ordered_handlers) == 1 and httpserver.log == []
    httpserver.check_assertions()  # no "no handler" assertion either
    r = session.post(httpserver.url_for("/api"), auth=ChallengeAuth("alice", "secret"), timeout=TIMEOUT)
    assert r.json() == {"ok": True} and not httpserver.ordered_handlers
    httpserver.check_assertions()


def test_handlers_see_the_user(httpserver, session) -> None:  # type: ignore[no-untyped-def]
    from werkzeug import Response

    protect(httpserver, users=USERS, challenges=[Basic()])
    httpserver.expect_request("/me").respond_with_handler(lambda request: Response(request.remote_user or "-"))
    r = session.get(httpserver.url_for("/me"), auth=ChallengeAuth("alice", "secret"), timeout=TIMEOUT)
    assert r.text == "alice"


def test_open_paths_and_removal(httpserver, session) -> None:  # type: ignore[no-untyped-def]
    httpserver.expect_request("/health").respond_with_data("up")
    httpserver.expect_request("/api").respond_with_data("data")
    with protect(httpserver, users=USERS, challenges=[Basic()], open_paths=["/health"]) as guard:
        assert session.get(httpserver.url_for("/health"), timeout=TIMEOUT).text == "up"
        assert session.get(httpserver.url_for("/api"), timeout=TIMEOUT).status_code == 401
        assert guard.active and "secret" not in repr(guard)
        with pytest.raises(RuntimeError, match="already protected"):
            protect(httpserver, users=USERS)
    assert not guard.active
    assert session.get(httpserver.url_for("/api"), timeout=TIMEOUT).text == "data"
    httpserver.check_assertions()


def test_clear_removes_the_protection(httpserver, session) -> None:  # type: ignore[no-untyped-def]
    """The httpserver fixture clears the server before each test: no protection leaks into the next."""
    guard = protect(httpserver, users=USERS, challenges=[Basic()])
    httpserver.clear()
    assert not guard.active
    httpserver.expect_request("/api").respond_with_data("data")
    assert session.get(httpserver.url_for("/api"), timeout=TIMEOUT).text == "data"
    protect(httpserver, users=USERS).remove()  # can be protected again


def test_a_stopped_server_cannot_be_protected() -> None:
    from pytest_httpserver import HTTPServer

    with pytest.raises(RuntimeError, match="start the server first"):
        protect(HTTPServer(host="127.0.0.1"), users=USERS)
