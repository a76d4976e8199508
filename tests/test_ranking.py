"""Choosing the strongest challenge this client can answer."""

import pytest

from requests_challenge._grammar import Challenge, parse_challenges
from requests_challenge._ranking import SUPPORTED_SCHEMES, allowed_schemes, choose_challenge, rank_challenges


def digest(algorithm=None, realm="r", nonce="n", qop="auth"):
    params = {"realm": realm, "nonce": nonce}
    if qop is not None:
        params["qop"] = qop
    if algorithm is not None:
        params["algorithm"] = algorithm
    return Challenge("Digest", params)


BASIC = Challenge("Basic", {"realm": "r"})


def names(choices):
    return [choice.describe() for choice in choices]


def test_strength_order():
    offered = [BASIC, digest("MD5"), digest("SHA"), digest("SHA-256"), digest("SHA-512"), digest("SHA-512-256")]
    usable, skipped = rank_challenges(offered)
    assert names(usable) == ["Digest SHA-512-256", "Digest SHA-512", "Digest SHA-256", "Digest SHA", "Digest MD5",
                             "Basic"]
    assert [choice.challenge for choice in usable] == offered[::-1]
    assert skipped == []


@pytest.mark.parametrize("order", [[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [3, 0, 5, 1, 4, 2]])
def test_strength_order_whatever_the_server_order(order):
    ladder = [digest("SHA-512-256"), digest("SHA-512"), digest("SHA-256"), digest("SHA"), digest("MD5"), BASIC]
    usable, _ = rank_challenges([ladder[i] for i in order])
    assert [choice.challenge for choice in usable] == ladder
    assert choose_challenge([ladder[i] for i in order]).challenge is ladder[0]


def test_missing_algorithm_is_md5():
    usable, _ = rank_challenges([BASIC, digest(None)])
    assert names(usable) == ["Digest MD5", "Basic"]


def test_sess_ranks_with_its_base_and_the_server_order_wins_between_equals():
    sess, plain = digest("MD5-sess", nonce="1"), digest("MD5", nonce="2")
    assert [c.challenge for c in rank_challenges([sess, plain])[0]] == [sess, plain]
    assert [c.challenge for c in rank_challenges([plain, sess])[0]] == [plain, sess]
    strong_sess = digest("SHA-256-sess")
    assert [c.challenge for c in rank_challenges([plain, strong_sess, sess])[0]] == [strong_sess, plain, sess]
    assert [c.challenge for c in rank_challenges([digest("SHA-256"), digest("SHA-512-sess")])[0]][0] == digest(
        "SHA-512-sess"
    )


def test_equal_challenges_keep_the_server_order():
    first, second = digest("SHA-256", realm="one"), digest("sha-256", realm="two")
    assert choose_challenge([first, second]).challenge is first
    assert choose_challenge([second, first]).challenge is second
    basic_one, basic_two = Challenge("Basic", {"realm": "1"}), Challenge("basic", {"realm": "2"})
    assert [c.challenge for c in rank_challenges([basic_one, basic_two])[0]] == [basic_one, basic_two]


@pytest.mark.parametrize("scheme", ["Bearer", "Mutual", "HOBA", "SCRAM-SHA-256", "Newauth"])
def test_unknown_schemes_are_skipped_with_a_reason(scheme):
    other = Challenge(scheme, {"realm": "r"})
    usable, skipped = rank_challenges([other, BASIC])
    assert [c.challenge for c in usable] == [BASIC]
    assert skipped == [(other, f"scheme {scheme} is not supported")]
    assert skipped[0][0] is other


def test_token68_forms_are_skipped():
    negotiate = Challenge("Negotiate", {}, "YIIG==")
    basic_token68 = Challenge("Basic", {}, "abc")
    usable, skipped = rank_challenges([negotiate, basic_token68])
    assert usable == []
    assert skipped == [
        (negotiate, "Negotiate challenge in token68 form"),
        (basic_token68, "Basic challenge in token68 form"),
    ]


@pytest.mark.parametrize("algorithm", ["SHA3-256", "AKAv1-MD5", "MD4", "SHA-256-sess-x"])
def test_unsupported_algorithms_are_skipped_with_a_reason(algorithm):
    unsupported = digest(algorithm)
    usable, skipped = rank_challenges([unsupported, digest("MD5")])
    assert names(usable) == ["Digest MD5"]
    assert skipped == [(unsupported, f"unsupported Digest algorithm {algorithm!r}")]


def test_digest_without_nonce_is_skipped():
    no_nonce = Challenge("Digest", {"realm": "r", "qop": "auth", "algorithm": "SHA-256"})
    usable, skipped = rank_challenges([no_nonce, BASIC])
    assert names(usable) == ["Basic"]
    assert skipped == [(no_nonce, "Digest challenge without a nonce")]


def test_unanswerable_digest_is_skipped():
    sess_without_qop, auth_conf = digest("MD5-sess", qop=None), digest("MD5", qop="auth-conf")
    usable, skipped = rank_challenges([sess_without_qop, auth_conf])
    assert usable == []
    assert skipped == [(sess_without_qop, "MD5-SESS without qop"), (auth_conf, "unsupported qop 'auth-conf'")]


def test_nothing_answerable_gives_none():
    assert choose_challenge([]) is None
    assert choose_challenge([Challenge("Bearer"), Challenge("Mutual"), digest("SHA3-256")]) is None


def test_allowed_schemes_digest_forbids_basic():
    digest_only = allowed_schemes(("digest",))
    assert digest_only == frozenset({"digest"})
    assert choose_challenge([BASIC], digest_only) is None
    usable, skipped = rank_challenges([BASIC, digest("MD5")], digest_only)
    assert names(usable) == ["Digest MD5"]
    assert skipped == [(BASIC, "scheme Basic is not allowed by schemes=")]
    # and the reverse
    basic_only = allowed_schemes(["Basic"])
    assert choose_challenge([digest("SHA-256"), BASIC], basic_only).challenge is BASIC


def test_allowed_schemes_forms():
    assert allowed_schemes(None) == frozenset(SUPPORTED_SCHEMES) == frozenset({"negotiate", "ntlm", "digest", "basic"})
    assert allowed_schemes("Digest") == frozenset({"digest"})
    assert allowed_schemes(["DIGEST", "basic"]) == frozenset({"digest", "basic"})
    assert allowed_schemes(iter(["basic"])) == frozenset({"basic"})


@pytest.mark.parametrize("schemes", [("digest", "bearer"), ("Mutual",), "bearer", ("dgest",)])
def test_allowed_schemes_rejects_unknown_names(schemes):
    with pytest.raises(ValueError, match="unsupported schemes"):
        allowed_schemes(schemes)


def test_allowed_schemes_rejects_nothing():
    with pytest.raises(ValueError):
        allowed_schemes(())


def test_lighttpd_offer_picks_sha512_256():
    header = [
        'Digest realm="Restricted", charset="UTF-8", algorithm=SHA-512-256, nonce="65a1b2c3:8f1e2d", qop="auth"',
        'Digest realm="Restricted", charset="UTF-8", algorithm=SHA-256, nonce="65a1b2c3:8f1e2d", qop="auth"',
        'Digest realm="Restricted", charset="UTF-8", algorithm=MD5, nonce="65a1b2c3:8f1e2d", qop="auth"',
    ]
    challenges = parse_challenges(header)
    choice = choose_challenge(challenges)
    assert choice.challenge is challenges[0]
    assert choice.scheme == "digest"
    assert choice.describe() == "Digest SHA-512-256"
    assert choice.digest.utf8 and choice.digest.qop == "auth"
    assert names(rank_challenges(challenges[::-1])[0]) == ["Digest SHA-512-256", "Digest SHA-256", "Digest MD5"]


def test_iis_offer_picks_digest_md5_sess():
    header = [
        'Digest qop="auth",algorithm=MD5-sess,nonce="+Upgraded+v18bdb7da",charset=utf-8,realm="testrealm"',
        'Basic realm="localhost"',
        "Negotiate",
        "NTLM",
    ]
    challenges = parse_challenges(header)
    # Negotiate and NTLM ranked too need the optional extra: leave them out here.
    digest_or_basic = allowed_schemes(("digest", "basic"))
    usable, skipped = rank_challenges(challenges, digest_or_basic)
    assert [c.challenge for c in usable] == challenges[:2]
    assert skipped == [(challenges[2], "scheme Negotiate is not allowed by schemes="),
                       (challenges[3], "scheme NTLM is not allowed by schemes=")]
    choice = choose_challenge(challenges, digest_or_basic)
    assert choice.describe() == "Digest MD5-SESS"
    assert choice.digest.algorithm_token == "MD5-sess"
    assert choice.digest.nonce == "+Upgraded+v18bdb7da"


def test_basic_choice_has_no_digest_offer():
    choice = choose_challenge([BASIC])
    assert (choice.scheme, choice.digest, choice.describe()) == ("basic", None, "Basic")
    assert choice.strength < choose_challenge([digest("MD5")]).strength
