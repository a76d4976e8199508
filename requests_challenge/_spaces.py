"""The protection-space store: where credentials may be sent up front, and the next nonce count.

A protection space (RFC 9110 §11.5) is remembered after a successful answer:
an origin, a realm, and the URL path prefixes it covers.

- Digest: the ``domain`` URIs on the same origin when given, else the whole
  origin (Apache sends no domain and expects that, RFC 7616 §3.3).
- Basic: the directory of the challenged URL and below, as browsers do.

Prefixes match whole path segments, so ``/foo`` never covers ``/foobar``
(urllib leaked credentials that way, bpo-46756).

This is only a store: origin, scheme and realm -> prefixes, the responder for
the current nonce and the next nonce count. Computing credentials belongs to
the responders (`_schemes`); deciding when to use the store belongs to the
dialogue (`_dialogue`). All state that outlives one request lives here, behind
one lock; everything else in the package is immutable or owned by one hop.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from ._ranking import Choice
from ._schemes import Responder

__all__ = ["Origin", "SpaceKey", "Claim", "FirstContact", "origin_of", "ProtectionSpaces", "space_prefixes"]

Origin = Tuple[str, str, int]  # scheme, lower-case host, port
SpaceKey = Tuple[Origin, str, str]  # origin, lower-case scheme, realm
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
    """Whole path segments only: ``/foo`` covers ``/foo`` and ``/foo/x``, never ``/foobar``."""
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


def _covers_length(prefixes: Tuple[str, ...], path: str) -> int:
    """Length of the longest prefix covering ``path``, or -1."""
    best = -1
    for prefix in prefixes:  # a loop, not max() over a generator: this runs per request
        if len(prefix) > best and _covers(prefix, path):
            best = len(prefix)
    return best


# A remembered space's key and responder, and a nonce count reserved for one request.
# A plain tuple, which the caller unpacks: one is made per request sent up front.
Claim = Tuple[SpaceKey, Responder, int]


class _Entry:
    __slots__ = ("prefixes", "responder")

    def __init__(self, prefixes: Tuple[str, ...], responder: Responder) -> None:
        self.prefixes = prefixes
        self.responder = responder


class FirstContact:
    """The first exchange with an origin, under way: requests that would go out bare
    meanwhile wait for its end, then carry what it learnt (see `ProtectionSpaces.begin_first_contact`)."""

    __slots__ = ("origin", "over", "callbacks")

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.over = False
        self.callbacks: List[Callable[[], None]] = []  # for waiters that cannot block (event loops)

    def __repr__(self) -> str:
        return f"<FirstContact {self.origin[0]}://{self.origin[1]}:{self.origin[2]}{' over' if self.over else ''}>"


class ProtectionSpaces:
    """The remembered spaces of one auth object or adapter, and every nonce count: bounded, one lock.

    Nonce counts are kept per (origin, nonce), not per space: a server may hand
    the same nonce to every challenge for a while (Apache: within a second), so
    concurrent first answers share it, and each must take the next count.

    Cold start: until an origin has answered once, one request to it leads and
    the others that know no credentials for it wait for that first exchange to
    end (`begin_first_contact`), so N concurrent first requests cost one
    challenge, not N. Origins that have answered are remembered (``max_met``)
    and never wait again.

    Which space covers a URL is found once, then remembered per URL until the
    spaces change (``_found``, at most ``max_urls``): a Session asks about the
    same few URLs over and over, and this is asked before every request.
    """

    def __init__(
        self, limit: int = 64, max_prefixes: int = 16, max_nonces: int = 1024, max_urls: int = 256, max_met: int = 1024
    ) -> None:
        self._lock = threading.Lock()
        self._ended = threading.Condition(self._lock)  # a first contact ended: the same one lock
        self._contacts: Dict[Origin, FirstContact] = {}  # first exchanges under way
        self._met: "OrderedDict[Origin, None]" = OrderedDict()  # origins that have answered
        self._max_met = max_met
        self._entries: "OrderedDict[SpaceKey, _Entry]" = OrderedDict()
        # The last nc handed out per (origin, nonce), least recently used first.
        self._counts: Dict[Tuple[Origin, str], int] = {}
        self._found: Dict[str, Optional[SpaceKey]] = {}  # URL -> the space covering it; emptied on change
        self._limit = limit
        self._max_prefixes = max_prefixes
        self._max_nonces = max_nonces
        self._max_urls = max_urls

    def __len__(self) -> int:
        return len(self._entries)

    def _next_count(self, origin: Origin, nonce: Optional[str]) -> int:
        """The next nc for ``nonce`` at ``origin``; call with the lock held."""
        if nonce is None:
            return 1  # Basic: no count
        key = (origin, nonce)
        counts = self._counts
        count = counts.pop(key, 0) + 1
        counts[key] = count  # most recently used last
        if len(counts) > self._max_nonces:
            del counts[next(iter(counts))]
        return count

    def claim(self, url: str) -> Optional[Claim]:
        """``(key, responder, nonce_count)``: the space covering ``url`` (longest prefix,
        most recent on a tie) and a fresh nonce count for its nonce; None when none covers it.

        Counts are reserved under the lock, so threads sharing a nonce never
        send the same nc twice and each sees them increase.
        """
        with self._lock:
            try:
                key = self._found[url]
            except KeyError:
                key = self._covering(url)
                if len(self._found) >= self._max_urls:
                    self._found.clear()
                self._found[url] = key
            if key is None:
                return None
            responder = self._entries[key].responder
            return key, responder, self._next_count(key[0], responder.nonce)

    def _covering(self, url: str) -> Optional[SpaceKey]:
        """The key of the space covering ``url``; call with the lock held."""
        origin = origin_of(url)
        path = _path_of(url)
        best_key: Optional[SpaceKey] = None
        best_length = -1
        for key, entry in reversed(self._entries.items()):
            if key[0] != origin:
                continue
            length = _covers_length(entry.prefixes, path)
            if length > best_length:
                best_key, best_length = key, length
        return best_key

    def reserve(self, origin: Origin, responder: Responder) -> int:
        """A nonce count for answering a fresh challenge: another request may be using its nonce."""
        with self._lock:
            return self._next_count(origin, responder.nonce)

    def remember(self, origin: Origin, prefixes: Tuple[str, ...], responder: Responder) -> SpaceKey:
        """Keep the space ``responder`` answered. The same origin, scheme and realm is one
        space: its responder is replaced and its prefixes accumulate (the newest kept)."""
        choice: Choice = responder.choice
        key = (origin, choice.scheme, choice.challenge.params.get("realm", ""))
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                merged = tuple(p for p in old.prefixes if p not in prefixes) + prefixes
                prefixes = merged[-self._max_prefixes :]
            self._entries[key] = _Entry(prefixes, responder)
            while len(self._entries) > self._limit:
                self._entries.popitem(last=False)
            self._found.clear()
        return key

    def forget(self, key: SpaceKey, responder: Responder) -> None:
        """Drop the space, unless another request has already replaced its responder."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.responder is responder:
                del self._entries[key]
                self._found.clear()

    def renew_nonce(self, key: SpaceKey, responder: Responder, nonce: str) -> None:
        """``nextnonce`` (RFC 7616 §3.5): the next request uses it, its counts from 1."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.responder is not responder:
                return  # replaced or renewed meanwhile: theirs is newer
            if responder.nonce is None or responder.nonce == nonce:
                return
            entry.responder = responder.with_nonce(nonce)

    # -- cold start: one first exchange per origin at a time ---------------------------

    def begin_first_contact(self, origin: Origin) -> Tuple[Optional[FirstContact], Optional[FirstContact]]:
        """For a request about to go out with no credentials: ``(mine, None)`` when it is the
        first to ``origin`` (send it, then `end_first_contact`), ``(None, theirs)`` when
        another one's first exchange is under way (wait for it, then look for credentials
        again), ``(None, None)`` when ``origin`` has answered before: go, never wait."""
        with self._lock:
            if origin in self._met:
                return None, None
            theirs = self._contacts.get(origin)
            if theirs is not None:
                return None, theirs
            mine = self._contacts[origin] = FirstContact(origin)
            return mine, None

    def end_first_contact(self, contact: FirstContact, answered: bool) -> None:
        """``contact``'s exchange ended: ``answered`` when the origin replied (even a
        challenge left unanswered), False when it failed, so that another request leads.
        Idempotent: the transport may end it from a hook and from a finaliser."""
        with self._lock:
            if contact.over:
                return
            contact.over = True
            if self._contacts.get(contact.origin) is contact:
                del self._contacts[contact.origin]
            if answered:
                self._met[contact.origin] = None
                self._met.move_to_end(contact.origin)
                if len(self._met) > self._max_met:
                    self._met.popitem(last=False)
            callbacks, contact.callbacks = contact.callbacks, []
            self._ended.notify_all()
        for callback in callbacks:
            callback()

    def wait_first_contact(self, contact: FirstContact, timeout: Optional[float]) -> None:
        """Block until ``contact`` ends, or ``timeout`` seconds (None: no limit) pass."""
        with self._lock:
            self._ended.wait_for(lambda: contact.over, timeout)

    async def await_first_contact(self, contact: FirstContact, timeout: Optional[float]) -> None:
        """`wait_first_contact` for an asyncio task: await ``contact``'s end, or ``timeout``
        seconds, without blocking the loop. Under another event loop (trio), no wait."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        ended: "asyncio.Future[None]" = loop.create_future()

        def settle() -> None:
            if not ended.done():
                ended.set_result(None)

        def wake() -> None:  # from whichever thread ends the contact
            try:
                loop.call_soon_threadsafe(settle)
            except RuntimeError:  # that loop has closed: nobody waits there any more
                pass

        if not self.when_first_contact_ends(contact, wake):
            return
        try:
            await asyncio.wait_for(ended, timeout)
        except asyncio.TimeoutError:
            pass

    def when_first_contact_ends(self, contact: FirstContact, callback: Callable[[], None]) -> bool:
        """Call ``callback`` (from whichever thread ends it) when ``contact`` ends; False
        when it has ended already. For event loops, which must not block."""
        with self._lock:
            if contact.over:
                return False
            contact.callbacks.append(callback)
            return True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counts.clear()
            self._found.clear()
            self._met.clear()

    def snapshot(self) -> Dict[SpaceKey, Tuple[str, ...]]:
        """What is remembered (keys and prefixes, no secrets), for debugging and tests."""
        with self._lock:
            return {key: entry.prefixes for key, entry in self._entries.items()}
