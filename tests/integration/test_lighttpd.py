"""ChallengeAuth against lighttpd 1.4's mod_auth.

lighttpd implements the most of RFC 7616 among Debian's servers: Digest
with SHA-256 and SHA-512-256, one challenge per algorithm in a single 401,
``userhash``, ``username*`` and ``charset="UTF-8"`` for Basic and Digest.
So this is where the client's algorithm choice, userhash and UTF-8
handling meet a real implementation rather than our own expectations.

Every test also counts the exchanges in lighttpd's access log, because
"works, but with an extra round trip per request" is a real-world bug:
by the request header tag of the test's step (tagging.py), as a multiset.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections import Counter
from pathlib import Path

import pytest
import requests

from requests_challenge import ChallengeAuth

from .servers import REQUEST_TIMEOUT, WRONG_PASSWORD, Lighttpd, auth_params, parse_echo
from .tagging import exchanges, retag

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "location, algorithm", [("md5", "MD5"), ("sha256", "SHA-256")]
)
def test_digest_costs_one_challenge(
    lighttpd: Lighttpd, session: requests.Session, credentials, location, algorithm
) -> None:
    """One 401, one answer with the offered algorithm and qop=auth, 200."""
    user, password = credentials
    path = f"/{location}/hello.txt"
    tag = retag(session)

    r = session.get(
        lighttpd.url(path),
        auth=ChallengeAuth(user, password),
        timeout=REQUEST_TIMEOUT,
    )

    assert r.status_code == 200, r.headers
    assert r.text == f"hello from lighttpd /{location}/\n"
    assert [h.status_code for h in r.history] == [401]
    sent = auth_params(r.request.headers["Authorization"])
    assert sent["algorithm"].upper() == algorithm
    assert sent["qop"] == "auth"
    assert exchanges(lighttpd, tag) == Counter({(401, "GET", path, None): 1, (200, "GET", path, user): 1})


def test_digest_uri_with_query_string(
    lighttpd: Lighttpd, session: requests.Session, credentials
) -> None:
    """lighttpd compares the ``uri`` parameter with the request target,
    query string and percent-encoding included."""
    user, password = credentials
    r = session.get(
        lighttpd.url("/md5/hello.txt"),
        params={"q": "ä b", "x": "1"},
        auth=ChallengeAuth(user, password),
        timeout=REQUEST_TIMEOUT,
    )
    assert r.status_code == 200
    assert auth_params(r.request.headers["Authorization"])["uri"] == r.request.path_url


def test_multiple_challenges_pick_sha512_256(
    lighttpd: Lighttpd, session: requests.Session, credentials
) -> None:
    """/multi/ sends three WWW-Authenticate lines (SHA-512-256, SHA-256,
    MD5); the client must answer the strongest one."""
    user, password = credentials
    r = session.get(
        lighttpd.url("/multi/hello.txt"),
        auth=ChallengeAuth(user, password),
        timeout=REQUEST_TIMEOUT,
    )
    challenges = r.history[0].raw.headers.getlist("WWW-Authenticate") if r.history else []
    assert len(challenges) == 3, challenges
    assert r.status_code == 200
    assert auth_params(r.request.headers["Authorization"])["algorithm"].upper() == "SHA-512-256"


def test_userhash(lighttpd: Lighttpd, session: requests.Session, credentials) -> None:
    """With ``userhash=true`` offered, the user name travels only as
    H(username ":" realm), which lighttpd looks up in its htdigest file."""
    user, password = credentials
    r = session.get(
        lighttpd.url("/userhash/hello.txt"),
        auth=ChallengeAuth(user, password),
        timeout=REQUEST_TIMEOUT,
    )
    assert r.status_code == 200
    sent = auth_params(r.request.headers["Authorization"])
    assert sent.get("userhash", "").lower() == "true"
    expected = hashlib.sha256(f"{user}:{Lighttpd.userhash_realm}".encode()).hexdigest()
    assert sent["username"].lower() == expected
    assert "username*" not in sent


def test_basic_with_charset_utf8(
    lighttpd: Lighttpd, session: requests.Session, credentials
) -> None:
    """lighttpd announces ``charset="UTF-8"``; user-pass must be UTF-8."""
    user, password = credentials
    path = "/basic/hello.txt"
    tag = retag(session)
    r = session.get(
        lighttpd.url(path),
        auth=ChallengeAuth(user, password),
        timeout=REQUEST_TIMEOUT,
    )
    assert r.status_code == 200
    assert 'charset="UTF-8"' in r.history[0].headers["WWW-Authenticate"]
    token = base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
    assert r.request.headers["Authorization"] == f"Basic {token}"
    assert exchanges(lighttpd, tag) == Counter({(401, "GET", path, None): 1, (200, "GET", path, user): 1})


def _assert_echoed(r: requests.Response, body: bytes, user: str) -> None:
    assert r.status_code == 200, r.text
    echoed = parse_echo(r.content)
    assert echoed["method"] == "POST"
    assert int(echoed["length"]) == len(body)
    assert echoed["sha256"] == hashlib.sha256(body).hexdigest()
    assert echoed["user"] == user


def test_post_bytes_body_resent_after_challenge(
    lighttpd: Lighttpd, session: requests.Session, credentials
) -> None:
    """The body goes out twice (to the 401 and to the retry); the CGI
    proves the retry carried all of it."""
    user, password = credentials
    body = os.urandom(256 * 1024)
    path = "/md5/echo.cgi"
    tag = retag(session)
    r = session.post(
        lighttpd.url(path),
        data=body,
        auth=ChallengeAuth(user, password),
        timeout=REQUEST_TIMEOUT,
    )
    _assert_echoed(r, body, user)
    assert exchanges(lighttpd, tag) == Counter({(401, "POST", path, None): 1, (200, "POST", path, user): 1})


def test_post_file_body_rewound_after_challenge(
    lighttpd: Lighttpd, session: requests.Session, credentials, tmp_path: Path
) -> None:
    """A file object is consumed by the first send; the retry must rewind
    it, or the server gets an empty or short body."""
    user, password = credentials
    body = os.urandom(300 * 1024 + 7)
    path = tmp_path / "upload.bin"
    path.write_bytes(body)
    target = "/sha256/echo.cgi"
    tag = retag(session)
    with path.open("rb") as f:
        r = session.post(
            lighttpd.url(target),
            data=f,
            auth=ChallengeAuth(user, password),
            timeout=REQUEST_TIMEOUT,
        )
    _assert_echoed(r, body, user)
    assert exchanges(lighttpd, tag) == Counter({(401, "POST", target, None): 1, (200, "POST", target, user): 1})


def test_session_sends_credentials_up_front(
    lighttpd: Lighttpd, session: requests.Session, credentials
) -> None:
    """N requests in one Session cost N+1 exchanges: after the first
    challenge the client sends credentials up front (same nonce, next nc)."""
    user, password = credentials
    n = 5
    session.auth = ChallengeAuth(user, password)
    path = "/md5/hello.txt"
    tags, responses = [], []
    for _ in range(n):
        tags.append(retag(session))  # one tag per request: its own exchanges
        responses.append(session.get(lighttpd.url(path), timeout=REQUEST_TIMEOUT))
    assert [r.status_code for r in responses] == [200] * n
    assert [len(r.history) for r in responses] == [1] + [0] * (n - 1)
    challenged = Counter({(401, "GET", path, None): 1, (200, "GET", path, user): 1})
    up_front = Counter({(200, "GET", path, user): 1})
    assert [exchanges(lighttpd, tag) for tag in tags] == [challenged] + [up_front] * (n - 1)


@pytest.mark.parametrize("location", ["md5", "basic"])
def test_wrong_password_gives_up_after_one_retry(
    lighttpd: Lighttpd, session: requests.Session, credentials, location
) -> None:
    """A rejected answer is final: the 401 comes back after exactly two
    exchanges, never a retry loop."""
    user, _ = credentials
    path = f"/{location}/hello.txt"
    tag = retag(session)
    r = session.get(
        lighttpd.url(path),
        auth=ChallengeAuth(user, WRONG_PASSWORD),
        timeout=REQUEST_TIMEOUT,
    )
    assert r.status_code == 401
    assert len(r.history) == 1
    assert exchanges(lighttpd, tag, users=False) == Counter({(401, "GET", path): 2})
