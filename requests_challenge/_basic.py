"""RFC 7617 Basic credentials, and the checks every credential goes through."""

from __future__ import annotations

import base64
import re
from typing import Optional

__all__ = ["basic_authorization", "reject_control_characters", "reject_unsendable_username"]

_FORBIDDEN = re.compile(r"[\r\n\x00]")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # RFC 9110 §5.5: no CTL but HTAB in a field value


def reject_control_characters(value: str, what: str) -> None:
    """CR, LF and NUL could split or truncate the header they end up in, and a lone
    surrogate cannot be encoded at all: refused when the value is given, not when sent."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, not {type(value).__name__}")
    # Never echo the value itself: it may be a secret.
    if _FORBIDDEN.search(value):
        raise ValueError(f"{what} contains CR, LF or NUL")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{what} contains a lone surrogate, which no encoding can send") from None


def reject_unsendable_username(username: str, what: str = "username") -> None:
    """A user name is echoed inside a Digest quoted-string, where strict servers
    refuse control characters (400): refuse them here too, HTAB aside."""
    reject_control_characters(username, what)
    if _CONTROL.search(username):
        raise ValueError(f"{what} contains a control character")


def basic_authorization(
    username: str, password: str, encoding: str = "utf-8", charset: Optional[str] = None
) -> str:
    """The ``Basic`` credentials for an Authorization header value (RFC 7617 §2).

    UTF-8 is what browsers and curl send, and a challenge's ``charset="UTF-8"``
    (the only value RFC 7617 §2.1 allows) forces it; ``encoding="latin-1"`` is
    for legacy servers, falling back to UTF-8 for what latin-1 cannot encode.
    """
    reject_unsendable_username(username)
    reject_control_characters(password, "password")
    if ":" in username:
        raise ValueError("a Basic username cannot contain ':' (RFC 7617 §2)")
    if charset is not None and charset.lower() == "utf-8":
        encoding = "utf-8"
    user_pass = f"{username}:{password}"
    try:
        octets = user_pass.encode(encoding)
    except UnicodeEncodeError:
        octets = user_pass.encode("utf-8")
    return "Basic " + base64.b64encode(octets).decode("ascii")
