"""RFC 7616 Digest credentials (with RFC 2617 / RFC 2069 compatibility).

Expected values are the RFCs' published ones, or derived here with hashlib from
the RFC formulas (`reference_response`), never by calling the code under test.
"""

import dataclasses
import hashlib
import importlib.util
import os
import re
import sys

import pytest

import requests_challenge
from requests_challenge._digest import (
    DigestAlgorithm,
    DigestOffer,
    UnsupportedChallenge,
    digest_authorization,
    expected_rspauth,
    find_algorithm,
    new_cnonce,
    session_ha1,
)
from requests_challenge._grammar import parse_challenges
from requests_challenge._sha512_256 import SHA512_256, sha512_256_hexdigest

HASHLIB_NAMES = {"MD5": "md5", "SHA": "sha1", "SHA-256": "sha256", "SHA-512": "sha512", "SHA-512-256": "sha512_256"}


def H(name, data):
    """hexdigest with hashlib; ``name`` is a Digest algorithm name (without -sess)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        return hashlib.new(HASHLIB_NAMES[name], data).hexdigest()
    except ValueError:  # pragma: no cover - an OpenSSL without SHA-512/256
        pytest.skip(f"hashlib has no {name}")


def reference_response(algorithm, username, realm, password, nonce, method, uri,
                       qop=None, nc="00000001", cnonce=None, body=b""):
    """RFC 7616 §3.4.1-3.4.3, written out independently of the package."""
    base = algorithm[:-5] if algorithm.upper().endswith("-SESS") else algorithm
    base = base.upper()
    ha1 = H(base, f"{username}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = H(base, f"{ha1}:{nonce}:{cnonce}")
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + H(base, body)
    ha2 = H(base, a2)
    if qop is None:
        return H(base, f"{ha1}:{nonce}:{ha2}")
    return H(base, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def offer(header):
    (challenge,) = parse_challenges(header)
    return DigestOffer.from_challenge(challenge)


def sent(answer):
    """The Authorization value read back: credentials share the challenge grammar."""
    (credentials,) = parse_challenges(answer.header)
    assert credentials.scheme == "Digest"
    return credentials.params


def unquoted(header, name, value):
    return re.search(rf"(?:^Digest |, ){re.escape(name)}={re.escape(value)}(?:,|$)", header) is not None


# --- RFC 7616 §3.9.1 -------------------------------------------------------------

RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_CHALLENGES = [
    "Digest\r\n    realm=\"http-auth@example.org\",\r\n    qop=\"auth, auth-int\",\r\n"
    f"    algorithm={algorithm},\r\n    nonce=\"{RFC7616_NONCE}\",\r\n    opaque=\"{RFC7616_OPAQUE}\""
    for algorithm in ("SHA-256", "MD5")
]


@pytest.mark.parametrize(
    "index, algorithm, response",
    [
        (0, "SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        (1, "MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ],
)
def test_rfc7616_section_3_9_1(index, algorithm, response):
    challenges = parse_challenges(RFC7616_CHALLENGES)
    the_offer = DigestOffer.from_challenge(challenges[index])
    answer = digest_authorization(the_offer, "Mufasa", "Circle of Life", "GET", "/dir/index.html",
                                  nonce_count=1, cnonce=RFC7616_CNONCE)
    assert sent(answer) == {
        "username": "Mufasa",
        "realm": "http-auth@example.org",
        "uri": "/dir/index.html",
        "algorithm": algorithm,
        "nonce": RFC7616_NONCE,
        "nc": "00000001",
        "cnonce": RFC7616_CNONCE,
        "qop": "auth",
        "response": response,
        "opaque": RFC7616_OPAQUE,
    }
    for name, value in (("algorithm", algorithm), ("qop", "auth"), ("nc", "00000001")):
        assert unquoted(answer.header, name, value), answer.header
    assert f'response="{response}"' in answer.header
    assert answer.nonce_count == "00000001"
    assert answer.cnonce == RFC7616_CNONCE


def test_rfc2617_section_3_5():
    the_offer = offer(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    answer = digest_authorization(the_offer, "Mufasa", "Circle Of Life", "GET", "/dir/index.html",
                                  nonce_count=1, cnonce="0a4f113b")
    assert sent(answer) == {
        "username": "Mufasa",
        "realm": "testrealm@host.com",
        "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "uri": "/dir/index.html",
        "qop": "auth",
        "nc": "00000001",
        "cnonce": "0a4f113b",
        "response": "6629fae49393a05397450978507c4ef1",
        "opaque": "5ccc069c403ebaf9f0171e9517f40e41",
    }
    assert "algorithm" not in answer.header  # the challenge had none


def test_rfc7616_section_3_9_2_userhash_sha512_256_utf8():
    # RFC 7616 §3.9.2. Its printed userhash (488869477bf2...) and response
    # (ae66e67d6b42...) do not reproduce from the inputs it states (RFC errata
    # 4897 reports the example), so both are recomputed here from the formulas
    # of §3.4.1 and §3.4.4 with hashlib.
    username = "J\u00e4s\u00f8n Doe"
    realm = "api@example.org"
    nonce = "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK"
    cnonce = "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v"
    opaque = "HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS"
    password = "Secret, or not?"
    the_offer = offer(
        f'Digest realm="{realm}", qop="auth", algorithm=SHA-512-256, nonce="{nonce}", '
        f'opaque="{opaque}", charset=UTF-8, userhash=true'
    )
    assert the_offer.userhash and the_offer.utf8
    answer = digest_authorization(the_offer, username, password, "GET", "/doe.json", cnonce=cnonce)

    userhash = H("SHA-512-256", "J\u00e4s\u00f8n Doe:api@example.org".encode("utf-8"))
    ha1 = H("SHA-512-256", "J\u00e4s\u00f8n Doe:api@example.org:Secret, or not?".encode("utf-8"))
    ha2 = H("SHA-512-256", b"GET:/doe.json")
    response = H("SHA-512-256", f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}".encode("ascii"))
    assert sent(answer) == {
        "username": userhash,
        "realm": realm,
        "uri": "/doe.json",
        "algorithm": "SHA-512-256",
        "nonce": nonce,
        "nc": "00000001",
        "cnonce": cnonce,
        "qop": "auth",
        "response": response,
        "opaque": opaque,
        "userhash": "true",
    }
    assert "username*" not in answer.header
    assert unquoted(answer.header, "userhash", "true")


# --- vectors derived here with hashlib ----------------------------------------

DERIVED = [
    ("MD5-sess", "auth"),
    ("SHA-256-sess", "auth"),
    ("SHA-512-256", "auth"),
    ("SHA-512-256-sess", "auth"),
    ("SHA-512", "auth"),
    ("SHA-512-sess", "auth"),
    ("SHA", "auth"),
    ("SHA-256", "auth-int"),
    ("MD5", "auth-int"),
    ("MD5-sess", "auth-int"),
    ("md5-Sess", "auth"),
    ("sha-256", "auth"),
]


@pytest.mark.parametrize("algorithm, qop", DERIVED)
def test_derived_vectors(algorithm, qop):
    nonce, cnonce, realm = "bm9uY2U=/x+y", "c0ffee", "derived@example.org"
    body = b'{"name": "value"}\n'
    the_offer = offer(f'Digest realm="{realm}", nonce="{nonce}", qop="{qop}", algorithm={algorithm}')
    answer = digest_authorization(the_offer, "Mufasa", "Circle of Life", "POST", "/api?x=1&y=2",
                                  nonce_count=3, cnonce=cnonce, body=body)
    expected = reference_response(algorithm, "Mufasa", realm, "Circle of Life", nonce, "POST", "/api?x=1&y=2",
                                  qop=qop, nc="00000003", cnonce=cnonce, body=body)
    params = sent(answer)
    assert params["response"] == expected
    assert params["algorithm"] == algorithm
    assert params["qop"] == qop
    assert params["nc"] == "00000003"


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256", "SHA-512-256"])
def test_auth_int_hashes_the_body(algorithm):
    the_offer = offer(f'Digest realm="r", nonce="n", qop="auth-int", algorithm={algorithm}')
    one = digest_authorization(the_offer, "u", "p", "PUT", "/x", cnonce="c", body=b"one")
    two = digest_authorization(the_offer, "u", "p", "PUT", "/x", cnonce="c", body=b"two")
    empty = digest_authorization(the_offer, "u", "p", "PUT", "/x", cnonce="c")
    assert sent(one)["response"] == reference_response(algorithm, "u", "r", "p", "n", "PUT", "/x",
                                                       qop="auth-int", cnonce="c", body=b"one")
    assert sent(empty)["response"] == reference_response(algorithm, "u", "r", "p", "n", "PUT", "/x",
                                                         qop="auth-int", cnonce="c", body=b"")
    assert len({sent(one)["response"], sent(two)["response"], sent(empty)["response"]}) == 3


@pytest.mark.parametrize("algorithm", [None, "MD5", "SHA-256"])
def test_no_qop_is_the_rfc2069_response(algorithm):
    header = 'Digest realm="r@h", nonce="abc123"' + (f", algorithm={algorithm}" if algorithm else "")
    answer = digest_authorization(offer(header), "Mufasa", "pw", "GET", "/dir/", cnonce="unused")
    params = sent(answer)
    assert params["response"] == reference_response(algorithm or "MD5", "Mufasa", "r@h", "pw", "abc123", "GET", "/dir/")
    assert "qop" not in params and "nc" not in params and "cnonce" not in params
    assert "unused" not in answer.header


def test_rfc2069_literal_vector():
    # RFC 2069 §2.4: no qop, MD5, password "CircleOfLife".
    the_offer = offer('Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
                      'opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    answer = digest_authorization(the_offer, "Mufasa", "CircleOfLife", "GET", "/dir/index.html")
    assert sent(answer)["response"] == "1949323746fe6a43ef61f9606e7febea"


# --- rspauth -----------------------------------------------------------------------


@pytest.mark.parametrize("algorithm, qop", [("MD5", "auth"), ("MD5-sess", "auth"), ("SHA-256", "auth-int"),
                                            ("SHA-512-256-sess", "auth"), ("SHA-256", None)])
def test_expected_rspauth(algorithm, qop):
    nonce, cnonce = "nonce-1", "cnonce-1"
    qop_param = f', qop="{qop}"' if qop else ""
    the_offer = offer(f'Digest realm="r", nonce="{nonce}", algorithm={algorithm}{qop_param}')
    answer = digest_authorization(the_offer, "user", "pass", "POST", "/p", nonce_count=7, cnonce=cnonce,
                                  body=b"request body")
    # rspauth: the response with A2 = ":" uri (":" H(body) for auth-int), RFC 7616 §3.5.
    base = algorithm.upper().replace("-SESS", "")
    ha1 = H(base, "user:r:pass")
    if algorithm.endswith("-sess"):
        ha1 = H(base, f"{ha1}:{nonce}:{cnonce}")
    a2 = ":/p" + (":" + H(base, b"response body") if qop == "auth-int" else "")
    if qop:
        expected = H(base, f"{ha1}:{nonce}:00000007:{cnonce}:{qop}:{H(base, a2)}")
    else:
        expected = H(base, f"{ha1}:{nonce}:{H(base, a2)}")
    assert expected_rspauth(answer, b"response body") == expected
    assert expected != sent(answer)["response"]


def test_rspauth_for_rfc2617_example():
    the_offer = offer('Digest realm="testrealm@host.com", qop="auth", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093"')
    answer = digest_authorization(the_offer, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", cnonce="0a4f113b")
    ha1 = hashlib.md5(b"Mufasa:testrealm@host.com:Circle Of Life").hexdigest()
    ha2 = hashlib.md5(b":/dir/index.html").hexdigest()
    expected = hashlib.md5(f"{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}".encode()).hexdigest()
    assert expected_rspauth(answer) == expected


# --- header format -------------------------------------------------------------


@pytest.mark.parametrize("count, nc", [(1, "00000001"), (10, "0000000a"), (255, "000000ff"), (0xFFFFFFFF, "ffffffff")])
def test_nonce_count_is_eight_hex_digits_unquoted(count, nc):
    the_offer = offer('Digest realm="r", nonce="n", qop="auth"')
    answer = digest_authorization(the_offer, "u", "p", "GET", "/", nonce_count=count, cnonce="c")
    assert unquoted(answer.header, "nc", nc)
    assert answer.nonce_count == nc
    assert sent(answer)["response"] == reference_response("MD5", "u", "r", "p", "n", "GET", "/",
                                                          qop="auth", nc=nc, cnonce="c")


def test_qop_and_algorithm_are_unquoted():
    answer = digest_authorization(offer('Digest realm="r", nonce="n", qop="auth", algorithm="SHA-256"'),
                                  "u", "p", "GET", "/", cnonce="c")
    assert unquoted(answer.header, "qop", "auth")
    assert unquoted(answer.header, "algorithm", "SHA-256")
    assert 'qop="' not in answer.header and 'algorithm="' not in answer.header


def test_opaque_echoed_even_when_empty():
    answer = digest_authorization(offer('Digest realm="r", nonce="n", opaque=""'), "u", "p", "GET", "/")
    assert 'opaque=""' in answer.header
    assert sent(answer)["opaque"] == ""


def test_opaque_absent_when_the_challenge_had_none():
    answer = digest_authorization(offer('Digest realm="r", nonce="n"'), "u", "p", "GET", "/")
    assert "opaque" not in answer.header


@pytest.mark.parametrize("spelling", ["md5", "MD5", "Md5", "MD5-sess", "md5-SESS", "sha-256", "SHA-512-256"])
def test_algorithm_echoed_exactly_as_spelled(spelling):
    answer = digest_authorization(offer(f'Digest realm="r", nonce="n", qop=auth, algorithm={spelling}'),
                                  "u", "p", "GET", "/", cnonce="c")
    assert unquoted(answer.header, "algorithm", spelling)
    assert sent(answer)["algorithm"] == spelling


def test_algorithm_absent_when_the_challenge_had_none():
    answer = digest_authorization(offer('Digest realm="r", nonce="n", qop=auth'), "u", "p", "GET", "/", cnonce="c")
    assert "algorithm" not in sent(answer)
    assert sent(answer)["response"] == reference_response("MD5", "u", "r", "p", "n", "GET", "/", qop="auth", cnonce="c")


def test_cnonce_is_random_hex_when_not_given():
    the_offer = offer('Digest realm="r", nonce="n", qop="auth"')
    first = digest_authorization(the_offer, "u", "p", "GET", "/")
    second = digest_authorization(the_offer, "u", "p", "GET", "/")
    assert first.cnonce != second.cnonce
    for answer in (first, second):
        assert re.fullmatch(r"[0-9a-f]{16,}", answer.cnonce)
        assert sent(answer)["cnonce"] == answer.cnonce
        assert sent(answer)["response"] == reference_response("MD5", "u", "r", "p", "n", "GET", "/",
                                                              qop="auth", cnonce=answer.cnonce)


def test_cnonces_are_64_random_bits_each_handed_out_once():
    """Drawn from os.urandom a batch at a time: past a batch's end they stay fresh."""
    drawn = [new_cnonce() for _ in range(3 * 256 + 7)]
    assert all(re.fullmatch(r"[0-9a-f]{16}", c) for c in drawn)
    assert len(set(drawn)) == len(drawn)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_repeats_its_parents_cnonces():
    new_cnonce()  # a batch drawn, most of it not handed out yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, "".join(new_cnonce() for _ in range(8)).encode("ascii"))
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    parents = [new_cnonce() for _ in range(8)]
    assert len(child) == 8 * 16 and not {child[i : i + 16] for i in range(0, len(child), 16)} & set(parents)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_h_a2_is_cached_per_method_and_uri(method):
    the_offer = offer('Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256')
    for count in (1, 2):
        for uri in ("/a", "/b?x=1"):
            answer = digest_authorization(the_offer, "u", "p", method, uri, nonce_count=count, cnonce="c")
            assert sent(answer)["response"] == reference_response(
                "SHA-256", "u", "r", "p", "n", method, uri, qop="auth", nc=f"{count:08x}", cnonce="c"
            )


def test_a_cnonce_beyond_ascii_is_hashed_as_the_octets_of_one_string():
    """KD continues from a copy of the hash state after H(A1) ":" nonce ":" only where
    that gives the octets one string would: not for a caller's latin-1 cnonce."""
    the_offer = offer('Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256')
    answer = digest_authorization(the_offer, "u", "p", "GET", "/", cnonce="caf\u00e9")
    ha1, ha2 = H("SHA-256", "u:r:p"), H("SHA-256", "GET:/")
    expected = hashlib.sha256(f"{ha1}:n:00000001:caf\u00e9:auth:{ha2}".encode("latin-1")).hexdigest()
    assert sent(answer)["response"] == expected


@pytest.mark.parametrize("qop", [None, "auth", "auth-int"])
def test_the_pure_sha512_256_answers_as_hashlibs(qop):
    """The pure-Python SHA-512/256 (for an OpenSSL without it) has no ``copy``: KD is
    hashed whole there, to the same value."""
    header = 'Digest realm="r", nonce="n", algorithm=SHA-512-256' + (f", qop={qop}" if qop else "")
    hashlib_offer = offer(header)
    pure = DigestAlgorithm("SHA-512-256", False, 50, sha512_256_hexdigest, SHA512_256)
    pure_offer = dataclasses.replace(hashlib_offer, algorithm=pure)
    answers = [
        digest_authorization(o, "u", "p", "PUT", "/x", nonce_count=3, cnonce="c", body=b"body")
        for o in (hashlib_offer, pure_offer)
    ]
    assert sent(answers[0])["response"] == sent(answers[1])["response"] == reference_response(
        "SHA-512-256", "u", "r", "p", "n", "PUT", "/x", qop=qop, nc="00000003", cnonce="c", body=b"body"
    )


def test_quoted_values_are_escaped_and_round_trip():
    realm, nonce, uri, opaque = 'a "b" c', 'n\\"x', '/path?q="1"', 'o"p'
    challenge = f"Digest realm={_q(realm)}, nonce={_q(nonce)}, qop=auth, opaque={_q(opaque)}"
    the_offer = offer(challenge)
    assert (the_offer.realm, the_offer.nonce, the_offer.opaque) == (realm, nonce, 'o"p')
    answer = digest_authorization(the_offer, 'us"er\\', "p", "GET", uri, cnonce="c")
    assert 'realm="a \\"b\\" c"' in answer.header
    params = sent(answer)
    assert params["realm"] == realm
    assert params["nonce"] == nonce
    assert params["uri"] == uri
    assert params["opaque"] == 'o"p'
    assert params["username"] == 'us"er\\'
    assert params["response"] == reference_response("MD5", 'us"er\\', realm, "p", nonce, "GET", uri,
                                                    qop="auth", cnonce="c")


def _q(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- user names -----------------------------------------------------------------------


@pytest.mark.parametrize("username", ["Mufasa", "J\u00e4s\u00f8n Doe", "\u5f20\u4e09"])
@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_userhash(username, algorithm):
    the_offer = offer(f'Digest realm="api@example.org", nonce="n", qop=auth, algorithm={algorithm}, userhash=true')
    answer = digest_authorization(the_offer, username, "pw", "GET", "/", cnonce="c")
    params = sent(answer)
    assert params["username"] == H(algorithm, f"{username}:api@example.org")
    assert params["userhash"] == "true"
    assert "username*" not in params
    # A1 still uses the name itself (RFC 7616 §3.4.4)
    assert params["response"] == reference_response(algorithm, username, "api@example.org", "pw", "n", "GET", "/",
                                                    qop="auth", cnonce="c")


def test_userhash_false_sends_the_name():
    answer = digest_authorization(offer('Digest realm="r", nonce="n", userhash=false'), "Mufasa", "p", "GET", "/")
    assert sent(answer)["username"] == "Mufasa"
    assert "userhash" not in answer.header


def test_non_ascii_name_with_charset_utf8_uses_username_star():
    the_offer = offer('Digest realm="r", nonce="n", qop=auth, charset=UTF-8')
    answer = digest_authorization(the_offer, "J\u00e4s\u00f8n", "pw", "GET", "/", cnonce="c")
    assert "username*=UTF-8''J%C3%A4s%C3%B8n" in answer.header
    params = sent(answer)
    assert params["username*"] == "UTF-8''J%C3%A4s%C3%B8n"
    assert "username" not in params
    assert params["response"] == reference_response("MD5", "J\u00e4s\u00f8n", "r", "pw", "n", "GET", "/",
                                                    qop="auth", cnonce="c")


def test_username_star_percent_encodes_space_and_specials():
    the_offer = offer('Digest realm="r", nonce="n", charset="utf-8"')
    answer = digest_authorization(the_offer, "J\u00e4s\u00f8n Doe/\"x\"", "pw", "GET", "/")
    assert sent(answer)["username*"] == "UTF-8''J%C3%A4s%C3%B8n%20Doe%2F%22x%22"


def test_non_ascii_name_without_charset_sends_utf8_octets():
    the_offer = offer('Digest realm="r", nonce="n", qop=auth')
    answer = digest_authorization(the_offer, "J\u00e4s\u00f8n", "pw", "GET", "/", cnonce="c")
    params = sent(answer)
    assert params["username"] == "J\u00c3\u00a4s\u00c3\u00b8n"  # b"J\xc3\xa4s\xc3\xb8n" as latin-1
    assert "username*" not in answer.header
    assert answer.header.encode("latin-1").count(b"J\xc3\xa4s\xc3\xb8n") == 1


@pytest.mark.parametrize("charset", [None, "UTF-8"])
def test_ascii_names_are_sent_plainly(charset):
    header = 'Digest realm="r", nonce="n"' + (f", charset={charset}" if charset else "")
    answer = digest_authorization(offer(header), "user@example.com", "pw", "GET", "/")
    assert 'username="user@example.com"' in answer.header
    assert "username*" not in answer.header


@pytest.mark.parametrize("field", ["username", "password"])
def test_control_characters_in_credentials_are_refused(field):
    kwargs = {"username": "u", "password": "p", field: "s3cr3t\r\nX: y"}
    with pytest.raises(ValueError) as info:
        digest_authorization(offer('Digest realm="r", nonce="n"'), method="GET", uri="/", **kwargs)
    assert "s3cr3t" not in str(info.value)


def test_base_ha1_is_reused():
    the_offer = offer('Digest realm="r", nonce="n", qop=auth, algorithm=SHA-256')
    base = session_ha1(the_offer.algorithm, "u", "r", "p")
    assert base == H("SHA-256", "u:r:p")
    answer = digest_authorization(the_offer, "u", "wrong password ignored", "GET", "/", cnonce="c", base_ha1=base)
    assert sent(answer)["response"] == reference_response("SHA-256", "u", "r", "p", "n", "GET", "/",
                                                          qop="auth", cnonce="c")


def test_non_ascii_realm_is_hashed_as_the_octets_received():
    # b'caf\xc3\xa9' arrives as the header text 'caf\xc3\xa9'; the server hashed b'caf\xc3\xa9'.
    (challenge,) = parse_challenges(b'Digest realm="caf\xc3\xa9", nonce="n", qop=auth')
    answer = digest_authorization(DigestOffer.from_challenge(challenge), "u", "p", "GET", "/", cnonce="c")
    ha1 = hashlib.md5(b"u:caf\xc3\xa9:p").hexdigest()
    ha2 = hashlib.md5(b"GET:/").hexdigest()
    assert sent(answer)["response"] == hashlib.md5(f"{ha1}:n:00000001:c:auth:{ha2}".encode()).hexdigest()


# --- reading the challenge ---------------------------------------------------------


@pytest.mark.parametrize(
    "qop, chosen",
    [("auth,auth-int", "auth"), ("auth-int, auth", "auth"), ("auth-int", "auth-int"), ("AUTH", "AUTH"),
     (" auth-int ,x-other", "auth-int"), ("x-other, auth", "auth")],
)
def test_qop_preference(qop, chosen):
    assert offer(f'Digest realm="r", nonce="n", qop="{qop}"').qop == chosen


def test_unknown_qop_only_is_unsupported():
    with pytest.raises(UnsupportedChallenge, match="qop"):
        offer('Digest realm="r", nonce="n", qop="auth-conf"')


@pytest.mark.parametrize("algorithm", ["MD5-sess", "SHA-256-sess"])
def test_sess_without_qop_is_unsupported(algorithm):
    with pytest.raises(UnsupportedChallenge, match="without qop"):
        offer(f'Digest realm="r", nonce="n", algorithm={algorithm}')


@pytest.mark.parametrize("header", ['Digest realm="r"', 'Digest realm="r", nonce=""', 'Digest realm="r", nonce='])
def test_missing_nonce_is_unsupported(header):
    with pytest.raises(UnsupportedChallenge, match="nonce"):
        offer(header)


def test_not_digest_is_unsupported():
    with pytest.raises(UnsupportedChallenge):
        offer('Basic realm="r", nonce="n"')


def test_unsupported_algorithm():
    with pytest.raises(UnsupportedChallenge, match="SHA3-256"):
        offer('Digest realm="r", nonce="n", algorithm=SHA3-256')
    assert issubclass(UnsupportedChallenge, ValueError)


@pytest.mark.parametrize("name", ["SHA3-256", "AKAv1-MD5", "", "MD4", "SHA-1", "MD5-sess-sess", "token"])
def test_find_algorithm_unknown(name):
    assert find_algorithm(name) is None


@pytest.mark.parametrize(
    "name, canonical, session",
    [(None, "MD5", False), ("md5", "MD5", False), ("MD5-sess", "MD5-SESS", True), (" sha-256 ", "SHA-256", False),
     ("SHA-512-256-SESS", "SHA-512-256-SESS", True), ("sha", "SHA", False), ("SHA-512", "SHA-512", False)],
)
def test_find_algorithm_known(name, canonical, session):
    algorithm = find_algorithm(name)
    assert algorithm.name == canonical
    assert algorithm.session is session
    base = canonical.replace("-SESS", "")
    assert algorithm.hash(b"abc") == H(base, b"abc")


def test_offer_reads_stale_userhash_charset_and_keeps_spellings():
    the_offer = offer('Digest realm="r", nonce="n", stale=TRUE, userhash="True", charset="utf-8", '
                      'algorithm=md5, domain="/a /b", opaque="o"')
    assert the_offer.stale and the_offer.userhash and the_offer.utf8
    assert the_offer.algorithm_token == "md5"
    assert the_offer.algorithm.name == "MD5"
    assert (the_offer.domain, the_offer.opaque, the_offer.realm) == ("/a /b", "o", "r")
    plain = offer('Digest nonce="n", stale=FALSE')
    assert not plain.stale and not plain.userhash and not plain.utf8
    assert (plain.algorithm_token, plain.opaque, plain.domain, plain.realm) == (None, None, None, "")


def test_public_names():
    assert requests_challenge.digest_authorization is digest_authorization
    assert requests_challenge.UnsupportedChallenge is UnsupportedChallenge


# --- FIPS: no MD5 ---------------------------------------------------------------------

_PACKAGE_DIR = os.path.dirname(requests_challenge.__file__)


def _load_copy(monkeypatch, module, alias):
    """A fresh copy of requests_challenge.<module>, run now, registered as <alias>."""
    name = f"requests_challenge.{alias}"
    spec = importlib.util.spec_from_file_location(name, os.path.join(_PACKAGE_DIR, f"{module}.py"))
    copy = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, copy)
    spec.loader.exec_module(copy)
    return copy


@pytest.fixture
def without_md5(monkeypatch):
    """_digest and _ranking as imported on a hashlib that refuses MD5 even not-for-security.

    The package's own modules are left alone; copies are imported with hashlib
    patched, and the ranking copy imports the digest copy.
    """
    real_new = hashlib.new

    def refusing_new(name, *args, **kwargs):
        if name.lower() == "md5":
            raise ValueError("[digital envelope routines] unsupported")
        return real_new(name, *args, **kwargs)

    def refusing_md5(*args, **kwargs):
        raise ValueError("[digital envelope routines] unsupported")

    monkeypatch.setattr(hashlib, "new", refusing_new)
    monkeypatch.setattr(hashlib, "md5", refusing_md5)
    digest = _load_copy(monkeypatch, "_digest", "_digest_without_md5")
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "requests_challenge._digest", digest)
        ranking = _load_copy(monkeypatch, "_ranking", "_ranking_without_md5")
    assert sys.modules["requests_challenge._digest"] is not digest
    return digest, ranking


def test_without_md5_the_table_has_no_md5(without_md5):
    digest, _ = without_md5
    for name in ("MD5", "MD5-sess", None):
        assert digest.find_algorithm(name) is None
    assert digest.find_algorithm("SHA-256").hash(b"x") == hashlib.sha256(b"x").hexdigest()
    with pytest.raises(digest.UnsupportedChallenge, match="algorithm"):
        digest.DigestOffer.from_challenge(parse_challenges('Digest realm="r", nonce="n"')[0])
    # the package's own table is untouched
    assert find_algorithm("MD5") is not None


def test_without_md5_ranking_skips_md5_challenges(without_md5):
    _, ranking = without_md5
    challenges = parse_challenges([
        'Digest realm="r", nonce="n", qop=auth, algorithm=MD5',
        'Digest realm="r", nonce="n", qop=auth',
        'Digest realm="r", nonce="n", qop=auth, algorithm=MD5-sess',
        'Basic realm="r"',
    ])
    usable, skipped = ranking.rank_challenges(challenges)
    assert [choice.challenge for choice in usable] == [challenges[3]]
    assert [challenge for challenge, _ in skipped] == challenges[:3]
    assert all("algorithm" in reason for _, reason in skipped)
    assert ranking.choose_challenge(challenges).scheme == "basic"
    assert ranking.choose_challenge(challenges[:3]) is None
    best = ranking.choose_challenge(parse_challenges(
        'Digest realm="r", nonce="n", algorithm=MD5, Digest realm="r", nonce="n", algorithm=SHA-256'))
    assert best.digest.algorithm.name == "SHA-256"


# --- SHA-512/256 fallback ------------------------------------------------------------


@pytest.mark.parametrize("data, digest", [
    (b"abc", "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"),
    (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "3928e184fb8690f840da3988121d31be65cb9d3ef83ee6146feac861e19b563a"),
    (b"", "c672b8d1ef56ed28ab87c3622c5114069bdd3ad7b8f9737498d0c01ecef0967a"),
])
def test_sha512_256_fallback_fips_180_4_examples(data, digest):
    assert sha512_256_hexdigest(data) == digest


@pytest.mark.parametrize("length", [0, 1, 55, 111, 112, 113, 127, 128, 129, 239, 240, 256, 1000])
def test_sha512_256_fallback_equals_hashlib(length):
    data = bytes((i * 131 + 7) % 256 for i in range(length))
    try:
        expected = hashlib.new("sha512_256", data).hexdigest()
    except ValueError:  # pragma: no cover
        pytest.skip("hashlib has no sha512_256")
    assert sha512_256_hexdigest(data) == expected
    assert sha512_256_hexdigest(b"x" * length) == hashlib.new("sha512_256", b"x" * length).hexdigest()


def test_empty_qop_reads_as_rfc2069_and_sends_no_qop():
    (challenge,) = parse_challenges('Digest realm="r", nonce="n", qop=""')
    offer = DigestOffer.from_challenge(challenge)
    assert offer.qop is None
    header = digest_authorization(offer, "u", "p", "GET", "/").header
    assert "qop=" not in header and "nc=" not in header and "cnonce=" not in header


def test_algorithm_is_echoed_without_surrounding_spaces():
    (challenge,) = parse_challenges('Digest realm="r", nonce="n", algorithm=" md5 "')
    header = digest_authorization(DigestOffer.from_challenge(challenge), "u", "p", "GET", "/").header
    assert "algorithm=md5," in header
