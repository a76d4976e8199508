"""The Verifier alone: no socket, no thread, no WSGI. Credentials are built by hand here
(hashlib and the RFCs' formulas) or taken from the RFCs' own examples, so the server side
is judged against the RFCs and not against the package's client code."""

import base64
import hashlib
from typing import Dict, List, Optional
from urllib.parse import quote

import pytest

from requests_challenge import parse_auth_params, parse_challenges
from requests_challenge.testing import Basic, Digest, Outcome, Raw, Verdict, Verifier

_HASHLIB = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}


def h(algorithm: str, data: bytes) -> str:
    name = _HASHLIB[algorithm.upper().replace("-SESS", "")]
    try:
        return hashlib.new(name, data).hexdigest()
    except ValueError:  # an OpenSSL without SHA-512/256
        from requests_challenge._sha512_256 import sha512_256_hexdigest

        return sha512_256_hexdigest(data)


def challenge_params(verifier: Verifier, index: int = 0, stale: bool = False) -> Dict[str, str]:
    values = [value for _, value in verifier.challenge_headers(stale)]
    return [c.params for c in parse_challenges(values) if c.scheme == "Digest"][index]


def response(algorithm: str, user: str, realm: str, password: str, method: str, uri: str, nonce: str,
             nc: str = "00000001", cnonce: str = "0a4f113b", qop: Optional[str] = "auth", body: bytes = b"") -> str:
    """RFC 7616 §3.4.1-3.4.3 by hand."""
    ha1 = h(algorithm, f"{user}:{realm}:{password}".encode())
    if algorithm.upper().endswith("-SESS"):
        ha1 = h(algorithm, f"{ha1}:{nonce}:{cnonce}".encode())
    a2 = f"{method}:{uri}" + (":" + h(algorithm, body) if qop == "auth-int" else "")
    ha2 = h(algorithm, a2.encode())
    data = f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}" if qop else f"{ha1}:{nonce}:{ha2}"
    return h(algorithm, data.encode())


def credentials(challenge: Dict[str, str], user: str, password: str, method: str = "GET", uri: str = "/",
                nc: str = "00000001", qop: Optional[str] = "auth", body: bytes = b"", **extra: str) -> str:
    algorithm = challenge.get("algorithm", "MD5")
    fields = {
        "username": f'"{user}"', "realm": f'"{challenge["realm"]}"', "nonce": f'"{challenge["nonce"]}"',
        "uri": f'"{uri}"', "algorithm": algorithm,
        "response": '"%s"' % response(algorithm, user, challenge["realm"], password, method, uri,
                                      challenge["nonce"], nc=nc, qop=qop, body=body),
    }
    if qop:
        fields.update(qop=qop, nc=nc, cnonce='"0a4f113b"')
    if "opaque" in challenge:
        fields["opaque"] = f'"{challenge["opaque"]}"'
    fields.update(extra)
    return "Digest " + ", ".join(f"{k}={v}" for k, v in fields.items() if v is not None)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- RFC 7616 §3.9.1: the Mufasa example, checked from the server's seat ---------------------------

RFC_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC_RESPONSES = {
    "SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
    "MD5": "8ca523f5e9506fed4657c9700eebdbec",
}


def rfc_verifier(algorithm: str) -> Verifier:
    offer = Digest(algorithm, qop="auth, auth-int", realm="http-auth@example.org", opaque=RFC_OPAQUE)
    return Verifier({"Mufasa": "Circle of Life"}, [offer], make_nonce=lambda: RFC_NONCE)


def rfc_authorization(algorithm: str, response: str) -> str:
    return (f'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
            f'algorithm={algorithm}, nonce="{RFC_NONCE}", nc=00000001, cnonce="{RFC_CNONCE}", qop=auth, '
            f'response="{response}", opaque="{RFC_OPAQUE}"')


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_rfc7616_example_is_accepted(algorithm):
    verifier = rfc_verifier(algorithm)
    (challenge,) = verifier.challenge_headers()
    assert challenge == ("WWW-Authenticate", f'Digest realm="http-auth@example.org", nonce="{RFC_NONCE}", '
                                             f'opaque="{RFC_OPAQUE}", algorithm={algorithm}, qop="auth, auth-int"')
    verdict = verifier.check("GET", "/dir/index.html", rfc_authorization(algorithm, RFC_RESPONSES[algorithm]))
    assert verdict.accepted and (verdict.user, verdict.scheme, verdict.algorithm) == ("Mufasa", "Digest", algorithm)
    # §3.5: rspauth is the response with A2 = ":" uri.
    ha1 = h(algorithm, b"Mufasa:http-auth@example.org:Circle of Life")
    rspauth = h(algorithm, f"{ha1}:{RFC_NONCE}:00000001:{RFC_CNONCE}:auth:{h(algorithm, b':/dir/index.html')}".encode())
    ((name, value),) = verdict.response_headers()
    assert name == "Authentication-Info"
    assert parse_auth_params(value) == {"rspauth": rspauth, "qop": "auth", "nc": "00000001", "cnonce": RFC_CNONCE}


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_rfc7616_example_changed_by_one_character_is_refused(algorithm):
    verifier = rfc_verifier(algorithm)
    verifier.challenge_headers()
    good = RFC_RESPONSES[algorithm]
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    verdict = verifier.check("GET", "/dir/index.html", rfc_authorization(algorithm, bad))
    assert (verdict.outcome, verdict.reason, verdict.user) == (Outcome.REFUSED, "wrong response", None)
    # The same answer for another method: A2 differs, so the response does.
    assert verifier.check("PUT", "/dir/index.html", rfc_authorization(algorithm, good)).reason == "wrong response"


# -- RFC 7616 §3.9.2: Jäsøn Doe, userhash and username* --------------------------------------------
# The RFC prints a userhash and a response that do not follow from its own inputs, so
# they are recomputed here from those inputs (user, password, realm, nonce, cnonce).

JASON, JASON_PASSWORD = "J\u00e4s\u00f8n Doe", "Secret, or not?"
N2, O2, C2 = ("5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", "HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS",
              "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v")


def jason_authorization(username_field: str, nc: str = "00000001") -> str:
    ha1 = h("SHA-512-256", f"{JASON}:api@example.org:{JASON_PASSWORD}".encode())
    ha2 = h("SHA-512-256", b"GET:/doe.json")
    answer = h("SHA-512-256", f"{ha1}:{N2}:{nc}:{C2}:auth:{ha2}".encode())
    return (f'Digest {username_field}, realm="api@example.org", uri="/doe.json", algorithm=SHA-512-256, '
            f'nonce="{N2}", nc={nc}, cnonce="{C2}", qop=auth, response="{answer}", opaque="{O2}"')


def test_rfc7616_userhash_and_username_star_example():
    offer = Digest("SHA-512-256", realm="api@example.org", opaque=O2, userhash=True, charset=True)
    verifier = Verifier({JASON: JASON_PASSWORD}, [offer], make_nonce=lambda: N2)
    ((_, challenge),) = verifier.challenge_headers()
    assert challenge.endswith("algorithm=SHA-512-256, qop=\"auth\", charset=UTF-8, userhash=true")
    userhash = h("SHA-512-256", f"{JASON}:api@example.org".encode())  # §3.4.4
    verdict = verifier.check("GET", "/doe.json", jason_authorization(f'username="{userhash}", userhash=true'))
    assert verdict.accepted and verdict.user == JASON
    star = "username*=UTF-8''J%C3%A4s%C3%B8n%20Doe"  # as §3.9.2 writes it (RFC 8187)
    assert verifier.check("GET", "/doe.json", jason_authorization(star, nc="00000002")).user == JASON


# -- RFC 7617: Basic ---------------------------------------------------------------------------------


def test_rfc7617_aladdin_example():
    verifier = Verifier({"Aladdin": "open sesame"}, [Basic(realm="WallyWorld")])
    assert verifier.challenge_headers() == [("WWW-Authenticate", 'Basic realm="WallyWorld"')]
    verdict = verifier.check("GET", "/", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")  # §2
    assert verdict == Verdict(Outcome.ACCEPTED, user="Aladdin", scheme="Basic")
    assert verdict.response_headers() == []
    wrong = verifier.check("GET", "/", "Basic " + base64.b64encode(b"Aladdin:open sesamE").decode())
    assert (wrong.outcome, wrong.reason) == (Outcome.REFUSED, "wrong password")


def test_rfc7617_charset_utf8_example():
    strict = Verifier({"test": "123\u00a3"}, [Basic(realm="foo", charset=True)])
    assert strict.challenge_headers() == [("WWW-Authenticate", 'Basic realm="foo", charset="UTF-8"')]
    assert strict.check("GET", "/", "Basic dGVzdDoxMjPCow==").user == "test"  # §2.1, in UTF-8
    latin1 = "Basic " + base64.b64encode("test:123\u00a3".encode("latin-1")).decode()
    assert strict.check("GET", "/", latin1).reason == "malformed Basic credentials"
    lenient = Verifier({"test": "123\u00a3"}, [Basic(realm="foo")])
    assert lenient.check("GET", "/", latin1).user == "test"  # no charset offered: ISO-8859-1 is read too


@pytest.mark.parametrize(
    "authorization, reason",
    [
        ("Basic", "malformed Basic credentials"),
        ("Basic !!!", "malformed Basic credentials"),
        ("Basic YWxpY2U=", "malformed Basic credentials"),  # no colon
        ("Basic " + base64.b64encode(b"mallory:x").decode(), "unknown user"),
        ("Bearer abc", "unsupported scheme 'bearer'"),
        ("", "unsupported scheme ''"),
        (None, "no credentials"),
        ([], "no credentials"),
    ],
)
def test_basic_refusals_say_why(authorization, reason):
    verifier = Verifier({"alice": "secret"}, [Basic(), Raw('Bearer realm="api"')])
    verdict = verifier.check("GET", "/", authorization)
    assert (verdict.outcome, verdict.reason, verdict.user) == (Outcome.REFUSED, reason, None)


def test_basic_when_only_digest_was_offered():
    verdict = Verifier({"alice": "secret"}, [Digest()]).check("GET", "/", "Basic YWxpY2U6c2VjcmV0")
    assert (verdict.reason, verdict.scheme) == ("Basic was not offered", "Basic")


def test_two_authorization_lines_are_a_bad_request():
    verdict = Verifier({"alice": "secret"}, [Basic()]).check("GET", "/", ["Basic YWxpY2U6c2VjcmV0"] * 2)
    assert (verdict.outcome, verdict.reason) == (Outcome.BAD_REQUEST, "more than one Authorization header")


# -- Digest fields ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, outcome, reason",
    [
        (('realm="requests-challenge"', 'realm="other"'), Outcome.REFUSED, "realm does not match the challenge"),
        (('uri="/a?b"', 'uri="/a"'), Outcome.BAD_REQUEST, "uri does not match the request-target"),
        (("algorithm=SHA-256", "algorithm=MD5"), Outcome.REFUSED, "algorithm does not match the challenge"),
        (("algorithm=SHA-256", "algorithm=SHA-3"), Outcome.REFUSED, "algorithm does not match the challenge"),
        (('username="alice"', 'username="mallory"'), Outcome.REFUSED, "unknown user"),
        (('username="alice", ', ""), Outcome.BAD_REQUEST, "Digest credentials without username"),
        (('nonce="', 'nonce="x'), Outcome.REFUSED, "unknown nonce"),
        (("nc=00000001", "nc=0001"), Outcome.REFUSED, "qop without a valid nc and cnonce"),
        (("qop=auth", "qop=auth-int"), Outcome.REFUSED, "qop 'auth-int' was not offered"),
        (('realm="', 'realm="a", realm="'), Outcome.BAD_REQUEST, "malformed Digest credentials"),
        (("Digest ", "Digest abc=="), Outcome.BAD_REQUEST, "malformed Digest credentials"),
        (('response="', 'response="0'), Outcome.REFUSED, "wrong response"),
    ],
)
def test_digest_fields_are_checked(change, outcome, reason):
    verifier = Verifier({"alice": "secret"}, [Digest("SHA-256")])
    header = credentials(challenge_params(verifier), "alice", "secret", uri="/a?b")
    assert change[0] in header
    verdict = verifier.check("GET", "/a?b", header.replace(*change, 1))
    assert (verdict.outcome, verdict.reason, verdict.scheme, verdict.user) == (outcome, reason, "Digest", None)
    assert verifier.check("GET", "/a?b", header).accepted  # the unchanged answer still passes


@pytest.mark.parametrize("value", ["Digest", "Digest realm=", 'Digest username="a", username="b"', "Digest ,,,=="])
def test_malformed_digest_is_a_bad_request(value):
    verdict = Verifier({"alice": "secret"}, [Digest()]).check("GET", "/", value)
    assert verdict.outcome is Outcome.BAD_REQUEST and verdict.reason.startswith(("malformed", "Digest credentials"))


def test_rfc2069_answer_and_its_refusal_of_qop():
    verifier = Verifier({"alice": "secret"}, [Digest("MD5", qop=None)])
    challenge = challenge_params(verifier)
    assert verifier.check("GET", "/", credentials(challenge, "alice", "secret", qop=None)).accepted
    verdict = verifier.check("GET", "/", credentials(challenge, "alice", "secret", qop="auth"))
    assert "RFC 2069" in verdict.reason and not verdict.accepted


def test_auth_int_covers_both_bodies():
    verifier = Verifier({"alice": "secret"}, [Digest("SHA-256", qop="auth-int")])
    challenge = challenge_params(verifier)
    header = credentials(challenge, "alice", "secret", "POST", "/up", qop="auth-int", body=b"payload")
    assert verifier.check("POST", "/up", header, b"tampered").reason == "wrong response"
    verdict = verifier.check("POST", "/up", header, b"payload")
    assert verdict.accepted and verdict.needs_response_body
    one, two = (parse_auth_params(verdict.response_headers(body)[0][1])["rspauth"] for body in (b"one", b"two"))
    assert one != two


# -- nonces ------------------------------------------------------------------------------------------


def test_expired_nonce_is_stale_only_for_a_right_answer():
    verifier = Verifier({"alice": "secret"}, [Digest("SHA-256")])
    challenge = challenge_params(verifier)
    assert verifier.check("GET", "/", credentials(challenge, "alice", "secret")).accepted
    verifier.expire_nonces()
    stale = verifier.check("GET", "/", credentials(challenge, "alice", "secret", nc="00000002"))
    assert (stale.outcome, stale.reason, stale.stale) == (Outcome.STALE, "stale nonce", True)
    wrong = verifier.check("GET", "/", credentials(challenge, "alice", "wrong", nc="00000003"))
    assert (wrong.outcome, wrong.reason) == (Outcome.REFUSED, "wrong response")  # no hint for a guesser
    again = challenge_params(verifier, stale=True)
    assert again["stale"] == "true" and again["nonce"] != challenge["nonce"]


def test_nonce_lifetime_by_the_clock():
    clock = FakeClock()
    verifier = Verifier({"alice": "secret"}, [Digest("SHA-256")], nonce_lifetime=60.0, clock=clock)
    challenge = challenge_params(verifier)
    clock.now += 60.0
    assert verifier.check("GET", "/", credentials(challenge, "alice", "secret")).accepted  # the last moment
    clock.now += 0.001
    verdict = verifier.check("GET", "/", credentials(challenge, "alice", "secret", nc="00000002"))
    assert verdict.outcome is Outcome.STALE


@pytest.mark.parametrize("strict", [True, False])
def test_nonce_count_replay(strict):
    verifier = Verifier({"alice": "secret"}, [Digest("SHA-256")], strict_nc=strict)
    challenge = challenge_params(verifier)
    outcomes: List[Outcome] = []
    for nc in ("00000001", "00000003", "00000002", "00000003"):  # out of order is fine, reuse is not
        outcomes.append(verifier.check("GET", "/", credentials(challenge, "alice", "secret", nc=nc)).outcome)
    accepted, refused = Outcome.ACCEPTED, Outcome.REFUSED
    assert outcomes == ([accepted] * 3 + [refused] if strict else [accepted] * 4)


def test_one_time_nonces_hand_out_the_next_in_nextnonce():
    verifier = Verifier({"alice": "secret"}, [Digest("SHA-256")], one_time_nonces=True)
    challenge = challenge_params(verifier)
    first = verifier.check("GET", "/", credentials(challenge, "alice", "secret"))
    info = parse_auth_params(first.response_headers()[0][1])
    assert info["nextnonce"] != challenge["nonce"]
    second = verifier.check("GET", "/", credentials(challenge, "alice", "secret", nc="00000002"))
    assert second.outcome is Outcome.STALE
    following = credentials(dict(challenge, nonce=info["nextnonce"]), "alice", "secret")
    assert verifier.check("GET", "/", following).accepted


def test_no_authentication_info_without_rspauth_or_nextnonce():
    verifier = Verifier({"alice": "secret"}, [Digest("SHA-256")], rspauth=False)
    verdict = verifier.check("GET", "/", credentials(challenge_params(verifier), "alice", "secret"))
    assert verdict.accepted and verdict.response_headers() == []


def test_shared_nonces_until_they_expire():
    verifier = Verifier({"alice": "secret"}, [Digest("SHA-256")], shared_nonces=True)
    first, second = challenge_params(verifier), challenge_params(verifier)
    assert first["nonce"] == second["nonce"]
    verifier.expire_nonces()
    assert challenge_params(verifier)["nonce"] != first["nonce"]


def test_each_digest_offer_has_its_own_nonce_and_keeps_it():
    verifier = Verifier({"alice": "secret"}, [Digest("SHA-256"), Digest("MD5")])
    sha, md5 = challenge_params(verifier, 0), challenge_params(verifier, 1)
    assert sha["nonce"] != md5["nonce"]
    crossed = verifier.check("GET", "/", credentials(dict(md5, nonce=sha["nonce"]), "alice", "secret"))
    assert crossed.reason == "algorithm does not match the challenge"


# -- names, one header, secrets ----------------------------------------------------------------------


def test_proxy_names():
    verifier = Verifier({"alice": "secret"}, [Digest("SHA-256"), Basic()], proxy=True)
    assert [name for name, _ in verifier.challenge_headers()] == ["Proxy-Authenticate"] * 2
    assert verifier.names.status == 407 and verifier.proxy
    verdict = verifier.check("GET", "http://origin.test/", credentials(challenge_params(verifier), "alice", "secret",
                                                                      uri="http://origin.test/"))
    assert [name for name, _ in verdict.response_headers()] == ["Proxy-Authentication-Info"]
    two = verifier.check("GET", "/", ["Basic x", "Basic y"])
    assert two.reason == "more than one Proxy-Authorization header"


def test_one_header_joins_the_challenges():
    verifier = Verifier({"alice": "secret"}, [Digest("SHA-256"), Basic()], one_header=True)
    ((name, value),) = verifier.challenge_headers()
    assert [c.scheme for c in parse_challenges(value)] == ["Digest", "Basic"]


def test_no_secret_in_a_repr():
    verifier = Verifier({"alice": "secret"}, [Digest("SHA-256")])
    verdict = verifier.check("GET", "/", credentials(challenge_params(verifier), "alice", "secret"))
    ha1 = h("SHA-256", b"alice:requests-challenge:secret")
    for text in (repr(verifier), repr(verdict)):
        assert "secret" not in text and ha1 not in text
    assert "alice" in repr(verifier)


def test_username_star_and_username_together_are_refused():
    verifier = Verifier({"J\u00e4s\u00f8n": "pw"}, [Digest("SHA-256", charset=True)])
    field = "username*=UTF-8''" + quote("J\u00e4s\u00f8n")
    header = credentials(challenge_params(verifier), "J\u00e4s\u00f8n", "pw", username=None)
    assert verifier.check("GET", "/", header.replace("Digest ", f"Digest {field}, ")).accepted
    both = header.replace("Digest ", f'Digest {field}, username="x", ')
    assert verifier.check("GET", "/", both).reason == "both username and username* (RFC 7616 §3.4.4)"
