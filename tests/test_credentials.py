"""What cannot be sent is refused when it is given, with a clear error and no secret in it."""

from __future__ import annotations

import pytest

from requests_challenge import (
    ChallengeAdapter,
    ChallengeAuth,
    DigestOffer,
    digest_authorization,
    find_algorithm,
    parse_challenges,
    rank_challenges,
)


@pytest.mark.parametrize("password", ["pw\udc80", "\ud800", "a\udfffb"])
def test_a_lone_surrogate_is_refused_at_construction(password: str) -> None:
    for make in (
        lambda: ChallengeAuth("user", password),
        lambda: ChallengeAuth(password, "p"),
        lambda: ChallengeAuth("user", "p", proxy_auth=("puser", password)),
        lambda: ChallengeAdapter(proxy_auth=("puser", password)),
    ):
        with pytest.raises(ValueError, match="lone surrogate") as info:
            make()
        assert password not in str(info.value)


@pytest.mark.parametrize("bad", ["ab", ("a",), ("a", "b", "c"), ("a", b"b"), None.__class__, 42])
def test_proxy_auth_must_be_a_pair_of_str(bad: object) -> None:
    with pytest.raises(TypeError, match="tuple of two str"):
        ChallengeAuth("u", "p", proxy_auth=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tuple of two str"):
        ChallengeAdapter(proxy_auth=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("username", ["a\x01b", "a\x7fb", "\x1b[31mred", "a\x0bb"])
def test_control_characters_in_a_user_name_are_refused_at_construction(username: str) -> None:
    with pytest.raises(ValueError, match="control character"):
        ChallengeAuth(username, "p")
    with pytest.raises(ValueError, match="control character"):
        ChallengeAdapter(proxy_auth=(username, "p"))


def test_a_tab_in_a_user_name_is_sendable_in_a_quoted_string() -> None:
    offer = DigestOffer.from_challenge(parse_challenges('Digest realm="r", nonce="n", qop="auth"')[0])
    assert 'username="a\tb"' in digest_authorization(offer, "a\tb", "p", "GET", "/").header
    ChallengeAuth("a\tb", "p")


def test_the_ha1_never_shows_in_a_repr() -> None:
    offer = DigestOffer.from_challenge(parse_challenges('Digest realm="r", nonce="n", qop="auth"')[0])
    answer = digest_authorization(offer, "user", "Circle Of Life", "GET", "/")
    assert answer.ha1 not in repr(answer) and "Circle Of Life" not in repr(answer)


@pytest.mark.parametrize("spelling", ["MD5-seß", "ＭＤ5", "SHA-256\u0130", "md5-sess\u212a", "MD5\xa0", "\x85SHA-256",
                                      "MD5\u2003"])
def test_algorithm_tokens_match_as_ascii(spelling: str) -> None:
    """'ß'.upper() == 'SS' and 'ı'.upper() == 'I': a non-ASCII token is no algorithm."""
    assert find_algorithm(spelling) is None
    usable, skipped = rank_challenges(parse_challenges(f'Digest realm="r", nonce="n", algorithm="{spelling}"'))
    assert not usable and "unsupported Digest algorithm" in skipped[0][1]
    assert find_algorithm(" md5-sess ") is not None and find_algorithm("sha-256").name == "SHA-256"


@pytest.mark.parametrize("header", ['Digest realm="r\udc80", nonce="n"', ['Basic realm="x"', 'Digest realm="\ud800"']])
def test_a_challenge_with_a_lone_surrogate_is_a_parse_error(header) -> None:
    from requests_challenge import ChallengeParseError, parse_auth_params

    with pytest.raises(ChallengeParseError, match="lone surrogate"):
        parse_challenges(header)
    with pytest.raises(ChallengeParseError, match="lone surrogate"):
        parse_auth_params(header)


def test_the_lenient_parser_hands_back_the_surrogate_error() -> None:
    from requests_challenge._grammar import parse_challenges_lenient

    challenges, errors = parse_challenges_lenient('Basic realm="\udc80"')
    assert challenges == [] and "lone surrogate" in str(errors[0])
