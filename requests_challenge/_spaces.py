"""Protection spaces: where credentials may be sent up front, and the Digest state.

A protection space (RFC 9110 §11.5) is remembered after a successful answer:
an origin, a realm, and the URL path prefixes it covers.

- Digest: the ``domain`` URIs on the same origin when given, else the whole
  origin (Apache sends no domain and expects that, RFC 7616 §3.3).
- Basic: the directory of the challenged URL and below, as browsers do.

Prefixes match whole path segments, so ``/foo`` never covers ``/foobar``
(urllib leaked credentials that way, bpo-46756). All mutable state lives here,
behind one lock; everything else in the package is immutable.
"""

from __future__ import annotations

import dataclasses
import functools
import secrets
import threading
from collections import OrderedDict
from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit

from ._basic import basic_authorization
from ._digest import DigestAnswer, DigestTemplate, session_ha1
from ._ranking import Choice

__all__ = ["Origin", "origin_of", "ProtectionSpace", "ProtectionSpaces", "space_prefixes"]

Origin = Tuple[str, str, int]  # scheme, lower-case host, port
_DEFAULT_PORTS = {"http": 80, "https": 443}


@functools.lru_cache(maxsize=256)  # a Session asks about the same few URLs over and over
def origin_of(url: str) -> Origin:
    """(scheme, host, port) of an absolute URL; https and http on one host differ."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme, 0)


def _path_of(url_or_path: str) -> str:
    path = urlsplit(url_or_path).path
    return path if path.startswith("/") else "/" + path


def _covers(prefix: str, path: str) -> bool:
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


def space_prefixes(choice: Choice, url: str) -> Tuple[str, ...]:
    """The path prefixes on ``url``'s origin that ``choice``'s protection space covers."""
    if choice.scheme == "basic":
        path = _path_of(url)
        return (path[: path.rindex("/") + 1],)
    domain = choice.challenge.params.get("domain")
    if not domain:
        return ("/",)
    origin = origin_of(url)
    prefixes = []
    for uri in domain.split():
        try:
            parts = urlsplit(uri)
            if parts.scheme or parts.netloc:
                # Credentials stay on the origin they were given for.
                if origin_of(uri) != origin:
                    continue
            elif not uri.startswith("/"):
                continue  # neither absolute nor an absolute path: "::", "httpsHost"
        except ValueError:
            continue
        prefixes.append(parts.path or "/")
    return tuple(prefixes) or ("/",)


class ProtectionSpace:
    """One remembered space: its challenge, and for Digest the nonce in use and its count."""

    __slots__ = ("origin", "prefixes", "choice", "nonce_count", "base_ha1", "session_cnonce", "authorization", "digest_template")

    def __init__(self, origin: Origin, prefixes: Tuple[str, ...], choice: Choice) -> None:
        self.origin = origin
        self.prefixes = prefixes
        self.choice = choice
        self.nonce_count = 0  # the last nc sent with this nonce
        self.base_ha1: Optional[str] = None  # Digest H(user:realm:pass), cached
        # -sess: one cnonce per nonce, so A1 is the same whether the server caches
        # it from the first request (RFC 7616 §3.4.2) or recomputes it each time.
        self.session_cnonce: Optional[str] = None
        self.authorization: Optional[str] = None  # Basic header, cached
        self.digest_template: Optional[DigestTemplate] = None  # for choice.digest, built once

    @property
    def key(self) -> Tuple[Origin, str, str]:
        return self.origin, self.choice.scheme, self.choice.challenge.params.get("realm", "")

    def credentials(
        self,
        choice: Choice,
        username: str,
        password: str,
        method: str,
        uri: str,
        nonce_count: int,
        *,
        body: bytes = b"",
        basic_encoding: str = "utf-8",
    ) -> Tuple[str, Optional[DigestAnswer]]:
        """The credentials header value for one request in this space, and for
        Digest what verifying ``rspauth`` needs; the parts that never change
        (Basic's header, Digest's H(user:realm:password)) are computed once."""
        if choice.digest is None:
            if self.authorization is None:
                self.authorization = basic_authorization(
                    username, password, basic_encoding, charset=choice.challenge.params.get("charset")
                )
            return self.authorization, None
        offer = choice.digest
        if self.base_ha1 is None:
            self.base_ha1 = session_ha1(offer.algorithm, username, offer.realm, password)
        cnonce = None
        if offer.algorithm.session:
            if self.session_cnonce is None:
                self.session_cnonce = secrets.token_hex(16)
            cnonce = self.session_cnonce
        template = self.digest_template
        if template is None or template.offer is not offer:  # first use, or a nextnonce
            template = self.digest_template = DigestTemplate(offer, username)
        answer = template.answer(self.base_ha1, method, uri, nonce_count, cnonce, body)
        return answer.header, answer

    def covers(self, origin: Origin, path: str) -> int:
        """Length of the longest matching prefix, or -1."""
        if origin != self.origin:
            return -1
        best = -1
        for prefix in self.prefixes:  # a loop, not max() over a generator: this runs per request
            if len(prefix) > best and _covers(prefix, path):
                best = len(prefix)
        return best


class ProtectionSpaces:
    """The remembered spaces of one auth object, bounded and thread-safe."""

    def __init__(self, limit: int = 64) -> None:
        self._lock = threading.Lock()
        self._spaces: "OrderedDict[Tuple[Origin, str, str], ProtectionSpace]" = OrderedDict()
        self._limit = limit
    def __len__(self) -> int:
        return len(self._spaces)

    def claim(self, url: str) -> Optional[Tuple[ProtectionSpace, Choice, int]]:
        """The space covering ``url``, its current challenge, and a fresh nonce count.

        Counts are reserved under the lock, so threads sharing a nonce never
        send the same nc twice and each sees them increase.
        """
        origin = origin_of(url)
        path = _path_of(url)
        with self._lock:
            best: Optional[ProtectionSpace] = None
            best_length = -1
            for space in reversed(self._spaces.values()):  # most recent first wins ties
                length = space.covers(origin, path)
                if length > best_length:
                    best, best_length = space, length
            if best is None:
                return None
            best.nonce_count += 1
            return best, best.choice, best.nonce_count

    def remember(self, space: ProtectionSpace) -> None:
        """Keep ``space``, replacing the one for the same origin, scheme and realm."""
        with self._lock:
            self._spaces.pop(space.key, None)
            self._spaces[space.key] = space
            while len(self._spaces) > self._limit:
                self._spaces.popitem(last=False)

    def forget(self, space: ProtectionSpace) -> None:
        with self._lock:
            if self._spaces.get(space.key) is space:
                del self._spaces[space.key]

    def renew_nonce(self, space: ProtectionSpace, nonce: str) -> None:
        """``nextnonce`` from Authentication-Info: switch nonce, restart nc at 1."""
        with self._lock:
            offer = space.choice.digest
            if offer is None or offer.nonce == nonce:
                return
            space.choice = dataclasses.replace(space.choice, digest=dataclasses.replace(offer, nonce=nonce))
            space.nonce_count = 0
            space.session_cnonce = None

    def clear(self) -> None:
        with self._lock:
            self._spaces.clear()

    def snapshot(self) -> Dict[Tuple[Origin, str, str], Tuple[str, ...]]:
        """What is remembered (keys and prefixes, no secrets), for debugging and tests."""
        with self._lock:
            return {key: space.prefixes for key, space in self._spaces.items()}
