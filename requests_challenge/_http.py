"""Small pure HTTP helpers that every transport adapter needs, and nothing else.

No I/O and no client library here: plain values in, plain values out.

- `request_target`: the origin-form request-target of a URL (RFC 9112 §3.2.1),
  Digest's ``uri`` for a request sent straight to its origin.
- `redirect_method` and `redirect_keeps_body`: the method and body of the
  request that follows a redirect (RFC 9110 §15.4), as browsers and the
  Python clients do it.
- `header_octets` and the reverse `header_text`: the core reads and writes header
  values as text with one character per octet (ISO-8859-1), which is how
  requests and http.client hand them over; httpx and aiohttp do not.
- `MAX_CHALLENGE_BODY`: how much of a challenge's body is read before the retry.
- `unpinned_schemes`: the schemes a transport that cannot pin a connection answers.
"""

from __future__ import annotations

from typing import FrozenSet, Iterable, List, Optional, Tuple
from urllib.parse import urlsplit

__all__ = [
    "REDIRECT_STATUSES",
    "MAX_CHALLENGE_BODY",
    "request_target",
    "redirect_method",
    "redirect_keeps_body",
    "header_octets",
    "header_text",
    "header_lines",
    "content_length",
    "PINNED_SCHEMES",
    "unpinned_schemes",
]

#: RFC 9110 §15.4: the statuses a client follows with ``Location``.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

#: Octets of a challenge's body read before the retry, so its connection can carry the
#: retry. A longer (or endless) body is not read: its connection is dropped instead.
MAX_CHALLENGE_BODY = 64 * 1024


def request_target(url: str) -> str:
    """The origin-form request-target of an absolute URL: path (``/`` when empty)
    and ``?query`` when there is one; never the fragment (RFC 9112 §3.2.1)."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def redirect_method(method: str, status: int) -> str:
    """The method of the request that follows a ``status`` redirect (RFC 9110 §15.4).

    303 turns every method but HEAD into GET (§15.4.4); 301 and 302 turn POST
    into GET, as every browser does and §15.4.2-3 allow; 307 and 308 keep it.
    """
    method = method.upper()
    if status == 303 and method != "HEAD":
        return "GET"
    if status in (301, 302) and method == "POST":
        return "GET"
    return method


def redirect_keeps_body(method: str, status: int) -> bool:
    """Whether the request that follows a ``status`` redirect resends the body:
    only when the method stays what it was (307, 308; 301/302 for PUT and the like)."""
    return redirect_method(method, status) == method.upper() and status in REDIRECT_STATUSES


def header_octets(text: str) -> bytes:
    """The octets of a header value the core produced (one character per octet).

    ValueError for a character above U+00FF, which no header value of the core
    contains: the core writes user names as UTF-8 octets or in RFC 8187 form.
    """
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("a header value must be one character per octet (ISO-8859-1 text)") from None


def header_text(octets: bytes) -> str:
    """Header octets as the core reads them: one character per octet."""
    return octets.decode("latin-1")


def header_lines(raw_headers: Iterable[Tuple[bytes, bytes]], name: str) -> List[str]:
    """Every value of the header ``name`` (any case), in order, as the core reads them,
    from a response's raw ``(name, value)`` octet pairs."""
    wanted = name.lower().encode("ascii")
    return [header_text(value) for key, value in raw_headers if key.lower() == wanted]


def content_length(raw_headers: Iterable[Tuple[bytes, bytes]]) -> Optional[int]:
    """The body length a response announces, or None when it announces none or
    several different ones (then only reading tells)."""
    lengths = {value.strip() for key, value in raw_headers if key.lower() == b"content-length"}
    if len(lengths) != 1:
        return None
    (length,) = lengths
    return int(length) if length.isdigit() else None


#: Schemes whose handshake must stay on one connection (NTLM, RFC 4559 §6): a transport
#: that cannot pin a connection leaves them out of its default and refuses them by name.
PINNED_SCHEMES = frozenset({"ntlm"})


def unpinned_schemes(allowed: FrozenSet[str], requested: bool, transport: str) -> FrozenSet[str]:
    """``allowed`` (a validated ``schemes=``) for a transport that cannot pin a connection:
    the pinned schemes dropped from the default, and a ValueError when asked for by name."""
    pinned = allowed & PINNED_SCHEMES
    if pinned and requested:
        raise ValueError(
            f"{', '.join(sorted(pinned))} needs its handshake on one connection, and {transport}"
            " offers no public way to pin one"
        )
    return allowed - PINNED_SCHEMES
