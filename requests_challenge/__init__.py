"""HTTP challenge authentication for requests: Basic (RFC 7617) and Digest (RFC 7616).

    import requests
    from requests_challenge import ChallengeAuth
    requests.get(url, auth=ChallengeAuth("user", "password"))
"""

from ._auth import ChallengeAuth
from ._basic import basic_authorization
from ._digest import (
    DigestAlgorithm,
    DigestAnswer,
    DigestOffer,
    digest_authorization,
    expected_rspauth,
    find_algorithm,
)
from ._errors import (
    AuthenticationError,
    ChallengeParseError,
    MutualAuthenticationError,
    ProxyAuthenticationError,
    UnsupportedChallenge,
)
from ._grammar import Challenge, parse_auth_params, parse_challenges
from ._ranking import Choice, choose_challenge, rank_challenges
from ._tunnel import ChallengeAdapter

__version__ = "0.1.0"

__all__ = [
    "ChallengeAuth",
    "AuthenticationError",
    "MutualAuthenticationError",
    "ChallengeAdapter",
    "ProxyAuthenticationError",
    "Challenge",
    "ChallengeParseError",
    "parse_challenges",
    "parse_auth_params",
    "basic_authorization",
    "DigestAlgorithm",
    "DigestAnswer",
    "DigestOffer",
    "UnsupportedChallenge",
    "digest_authorization",
    "expected_rspauth",
    "find_algorithm",
    "Choice",
    "choose_challenge",
    "rank_challenges",
    "__version__",
]
