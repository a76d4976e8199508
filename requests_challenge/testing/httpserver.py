"""Challenge authentication in front of a pytest-httpserver server.

pytest-httpserver (an optional test dependency: this module never imports it)
lets a test declare the requests it expects and what to answer. `protect`
puts the same `Verifier` as `ChallengeServer` in front of such a server, so a
test keeps pytest-httpserver's expectations, matchers and ordered requests and
also checks that its client logs in:

    import requests
    from requests_challenge import ChallengeAuth
    from requests_challenge.testing import Digest
    from requests_challenge.testing.httpserver import protect

    def test_api(httpserver):
        guard = protect(httpserver, users={"alice": "secret"}, challenges=[Digest("SHA-256")])
        httpserver.expect_ordered_request("/api", method="POST").respond_with_json({"ok": True})
        r = requests.post(httpserver.url_for("/api"), auth=ChallengeAuth("alice", "secret"))
        assert r.json() == {"ok": True}
        assert [e.status for e in guard.exchanges] == [401, 200]
        httpserver.check_assertions()

How: a `ChallengeMiddleware` wraps the running server's WSGI application
(werkzeug's ``server.app``, which werkzeug reads for every request). A request
without valid credentials gets its 401 and challenges from the middleware and
never reaches pytest-httpserver: it consumes no expectation (ordered, oneshot
or permanent), adds no assertion and no ``httpserver.log`` entry, so
``assert_request_made`` counts authenticated requests only. An accepted one
reaches the handlers with ``REMOTE_USER`` set (``request.remote_user``), and
its answer gets Authentication-Info (``rspauth``, over the body for auth-int).
Why not a handler or post-hook: pytest-httpserver takes an ordered or oneshot
expectation off its list before calling its handler, so a handler that
answered 401 would use it up; a wrapped ``dispatch`` would still log each 401.

The protection lasts until ``guard.remove()``, the end of a ``with protect(...)``
block, or ``httpserver.clear()``, which the ``httpserver`` fixture calls before
each test: it never leaks into the next test. (A restarted server has a new
WSGI server object, and starts unprotected.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

from ._middleware import ChallengeMiddleware, FrontsMiddleware
from ._offers import Offer

if TYPE_CHECKING:  # pragma: no cover - types only; pytest-httpserver is optional
    from pytest_httpserver import HTTPServer

__all__ = ["Protection", "protect"]


class Protection(FrontsMiddleware):
    """A pytest-httpserver server's protection: its middleware, verifier and exchanges.

    ``exchanges`` lists every request the protection judged (method, path,
    Authorization, status, user, why refused), the 401s included.
    """

    def __init__(self, httpserver: "HTTPServer", middleware: ChallengeMiddleware) -> None:
        self.httpserver = httpserver
        self.middleware = middleware
        self._server: Any = httpserver.server
        self._app: Callable[..., Any] = middleware.app
        original_clear = httpserver.clear

        def clear() -> None:
            self.remove()
            original_clear()

        self._clear = clear

    @property
    def active(self) -> bool:
        return self._server.app is self.middleware

    def _install(self) -> None:
        self._server.app = self.middleware
        self.httpserver.clear = self._clear  # type: ignore[method-assign]  # instance attribute, undone by remove()

    def remove(self) -> None:
        """Serve without credentials again; harmless when already removed."""
        if self._server.app is self.middleware:
            self._server.app = self._app
        if vars(self.httpserver).get("clear") is self._clear:
            del self.httpserver.clear

    def __enter__(self) -> "Protection":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "active" if self.active else "removed"
        return f"<Protection {state} {self.verifier!r}>"  # the verifier's repr names users, never passwords


def protect(
    httpserver: "HTTPServer",
    users: Optional[Mapping[str, str]] = None,
    challenges: Optional[Sequence[Offer]] = None,
    **options: Any,
) -> Protection:
    """Challenge every request to the running ``httpserver`` before its handlers see it.

    ``users``, ``challenges`` and ``**options`` are `ChallengeMiddleware`'s
    (``protected``, ``open_paths``, ``cookie``, ``on_exchange``, ``verifier``,
    and the `Verifier`'s: ``strict_nc``, ``nextnonce``, ``nonce_lifetime``...).
    Raises RuntimeError when the server is not running (the ``httpserver``
    fixture's is) or is already protected.
    """
    server = getattr(httpserver, "server", None)
    app: Optional[Callable[..., Any]] = getattr(server, "app", None)
    if server is None or app is None:
        raise RuntimeError(
            "protect() wraps the running server's WSGI application: start the server first"
            " (the httpserver fixture's is started)"
        )
    if isinstance(app, ChallengeMiddleware):
        raise RuntimeError("this server is already protected: remove() that protection first")
    protection = Protection(httpserver, ChallengeMiddleware(app, users, challenges, **options))
    protection._install()
    return protection
