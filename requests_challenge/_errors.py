"""Every exception the package raises, in one place.

The parsing and scheme errors are ``ValueError``s: bad input. The
authentication errors are ``requests.RequestException``s, so code that already
handles requests' failures handles them too. No message ever carries a secret.
"""

from __future__ import annotations

from requests.exceptions import ProxyError, RequestException

__all__ = [
    "ChallengeParseError",
    "UnsupportedChallenge",
    "UnsendableBody",
    "AuthenticationError",
    "MutualAuthenticationError",
    "ProxyAuthenticationError",
]


class ChallengeParseError(ValueError):
    """A header value that is not a list of challenges, with where and why."""

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(f"{message} (at character {position})")
        self.position = position
        self.reason = message


class UnsupportedChallenge(ValueError):
    """A challenge this client cannot answer; the message says why."""


class UnsendableBody(ValueError):
    """qop=auth-int needs the body's bytes, and this body cannot give them twice."""


class AuthenticationError(RequestException):
    """Base of the errors this package raises while authenticating a request."""


class MutualAuthenticationError(AuthenticationError):
    """The server's ``rspauth`` does not prove it knows the password: possible impostor."""


class ProxyAuthenticationError(ProxyError, AuthenticationError):
    """The proxy refused the tunnel's credentials, or asked for a scheme we cannot answer.

    A `requests.exceptions.ProxyError`, so code that handles proxy failures keeps
    working; the message names the scheme that was tried and never a secret.
    """
