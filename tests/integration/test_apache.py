"""ChallengeAuth against Apache httpd's mod_auth_digest and mod_auth_basic.

Apache is the most widely deployed Digest server and speaks the RFC 2617
dialect: MD5 only, ``qop="auth"``, a ``domain`` list, no ``charset`` and
no ``username*``.  It is also the easy way to get a short nonce lifetime
(``AuthDigestNonceLifetime``) and so a real ``stale=true`` challenge.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from requests_challenge import ChallengeAuth

from .servers import REQUEST_TIMEOUT, WRONG_PASSWORD, Apache, auth_params, parse_echo
from .tagging import exchanges, retag

pytestmark = pytest.mark.integration


def test_digest_md5_qop_auth(apache: Apache, session: requests.Session, credentials) -> None:
    """The classic: MD5 with qop=auth, nc and cnonce; one 401, then 200."""
    user, password = credentials
    path = "/digest/hello.txt"
    tag = retag(session)
    r = session.get(
        apache.url(path),
        auth=ChallengeAuth(user, password),
        timeout=REQUEST_TIMEOUT,
    )
    assert r.status_code == 200, r.history[0].headers if r.history else r.headers
    assert r.text == "hello from apache /digest/\n"
    sent = auth_params(r.request.headers["Authorization"])
    assert sent.get("algorithm", "MD5").upper() == "MD5"
    assert sent["qop"] == "auth"
    assert sent["nc"] == "00000001"
    assert sent["cnonce"]
    assert exchanges(apache, tag) == Counter({(401, "GET", path, None): 1, (200, "GET", path, user): 1})


def test_basic(apache: Apache, session: requests.Session, credentials) -> None:
    """Apache sends no charset; UTF-8 is what its user file holds and what
    every current browser sends."""
    user, password = credentials
    path = "/basic/hello.txt"
    tag = retag(session)
    r = session.get(
        apache.url(path),
        auth=ChallengeAuth(user, password),
        timeout=REQUEST_TIMEOUT,
    )
    assert r.status_code == 200
    token = base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
    assert r.request.headers["Authorization"] == f"Basic {token}"
    assert exchanges(apache, tag) == Counter({(401, "GET", path, None): 1, (200, "GET", path, user): 1})


def test_stale_nonce_costs_one_extra_exchange(
    apache: Apache, session: requests.Session, credentials
) -> None:
    """Once the nonce has expired Apache answers ``stale=true``; the client
    must retry with the fresh nonce without giving up (same password).
    Each request is its own tagged step: one 401 for the first, one (the
    stale one) for the second."""
    user, password = credentials
    session.auth = ChallengeAuth(user, password)
    path = "/stale/hello.txt"
    url = apache.url(path)

    first_tag = retag(session)
    first = session.get(url, timeout=REQUEST_TIMEOUT)
    assert first.status_code == 200
    time.sleep(apache.nonce_lifetime + 1.0)  # let the nonce expire (not a measurement)
    second_tag = retag(session)
    second = session.get(url, timeout=REQUEST_TIMEOUT)

    assert second.status_code == 200
    assert len(second.history) == 1
    assert "stale=true" in second.history[0].headers["WWW-Authenticate"].replace(" ", "")
    # Whom Apache logs for the stale 401 (the request named a user) is its business.
    one_challenge = Counter({(401, "GET", path): 1, (200, "GET", path): 1})
    assert exchanges(apache, first_tag, users=False) == one_challenge
    assert exchanges(apache, second_tag, users=False) == one_challenge


@pytest.mark.parametrize("kind", ["bytes", "file"])
def test_post_body_arrives_whole(
    apache: Apache, session: requests.Session, credentials, kind, tmp_path: Path
) -> None:
    """The retry after the 401 carries the complete body, also when the
    body is a file object the first send already read to its end."""
    user, password = credentials
    body = os.urandom(200 * 1024 + 3)
    target = "/digest/cgi/echo"
    tag = retag(session)
    if kind == "file":
        path = tmp_path / "upload.bin"
        path.write_bytes(body)
        with path.open("rb") as f:
            r = session.post(
                apache.url(target), data=f,
                auth=ChallengeAuth(user, password), timeout=REQUEST_TIMEOUT,
            )
    else:
        r = session.post(
            apache.url(target), data=body,
            auth=ChallengeAuth(user, password), timeout=REQUEST_TIMEOUT,
        )
    assert r.status_code == 200, r.text
    echoed = parse_echo(r.content)
    assert echoed["method"] == "POST"
    assert int(echoed["length"]) == len(body)
    assert echoed["sha256"] == hashlib.sha256(body).hexdigest()
    assert echoed["user"] == user
    assert exchanges(apache, tag) == Counter({(401, "POST", target, None): 1, (200, "POST", target, user): 1})


@pytest.mark.parametrize("location", ["digest", "basic"])
def test_wrong_password_gives_up_after_one_retry(
    apache: Apache, session: requests.Session, credentials, location
) -> None:
    """Wrong password: the final answer is the 401, after two exchanges."""
    user, _ = credentials
    path = f"/{location}/hello.txt"
    tag = retag(session)
    r = session.get(
        apache.url(path),
        auth=ChallengeAuth(user, WRONG_PASSWORD),
        timeout=REQUEST_TIMEOUT,
    )
    assert r.status_code == 401
    assert len(r.history) == 1
    assert exchanges(apache, tag, users=False) == Counter({(401, "GET", path): 2})
