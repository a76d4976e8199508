"""The RFC 9110 §11 challenge grammar, as real servers write it."""

import dataclasses
import re
import sys
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from requests_challenge import _abnf
from requests_challenge._grammar import (
    Challenge,
    ChallengeParseError,
    _challenge,
    _ChallengeList,
    _read_short,
    parse_auth_params,
    parse_challenges,
    parse_challenges_lenient,
    quote_string,
)
from requests_challenge._ranking import rank_challenges


def C(scheme, params=None, token68=None):
    return Challenge(scheme, dict(params or {}), token68)


# --- the examples ------------------------------------------------------


def test_two_challenges_in_one_value():
    assert parse_challenges('Digest realm="x", nonce="y", Basic realm="z"') == [
        Challenge("Digest", {"realm": "x", "nonce": "y"}, None),
        Challenge("Basic", {"realm": "z"}, None),
    ]


def test_several_header_lines_parse_as_the_lines_joined_by_commas():
    lines = ['Bearer realm="k",', 'error="invalid_token"']
    expected = [C("Bearer", {"realm": "k", "error": "invalid_token"})]
    assert parse_challenges(lines) == expected
    assert parse_challenges(", ".join(lines)) == expected
    assert parse_challenges([line.encode("latin-1") for line in lines]) == expected


def test_lines_of_separate_challenges():
    lines = ['Digest realm="a", nonce="n"', 'Basic realm="b"']
    assert parse_challenges(lines) == [C("Digest", {"realm": "a", "nonce": "n"}), C("Basic", {"realm": "b"})]


def test_bytes_are_read_as_latin_1_header_text():
    assert parse_challenges(b'Basic realm="caf\xe9"') == [C("Basic", {"realm": "caf\xe9"})]


# --- what real servers send ------------------------------------------------------

REAL_SERVERS = [
    # no space after commas
    ('Digest realm="a",qop="auth",nonce="n"', [C("Digest", {"realm": "a", "qop": "auth", "nonce": "n"})]),
    # "=" inside values, base64 nonces, quoted and not
    ('Digest realm="r", nonce="dOCOyDLiBQA=7fe7"', [C("Digest", {"realm": "r", "nonce": "dOCOyDLiBQA=7fe7"})]),
    ("Digest realm=r, nonce=dOCOyDLiBQA=7fe7", [C("Digest", {"realm": "r", "nonce": "dOCOyDLiBQA=7fe7"})]),
    ("Digest nonce=dOCOyDLiBQA=7fe7, realm=r", [C("Digest", {"nonce": "dOCOyDLiBQA=7fe7", "realm": "r"})]),
    ('Digest realm="r", nonce="YWJj=="', [C("Digest", {"realm": "r", "nonce": "YWJj=="})]),
    # a comma, or the word Digest, inside a quoted value
    (
        'Bearer realm="Digest realm required", Digest realm="Protected"',
        [C("Bearer", {"realm": "Digest realm required"}), C("Digest", {"realm": "Protected"})],
    ),
    ('Basic realm="Unit, Organization"', [C("Basic", {"realm": "Unit, Organization"})]),
    (
        'Digest realm="Unit, Organization", nonce="n", Basic realm="x, Basic realm=y"',
        [C("Digest", {"realm": "Unit, Organization", "nonce": "n"}), C("Basic", {"realm": "x, Basic realm=y"})],
    ),
    # upper-case scheme and names: the scheme keeps its spelling, names are lower-cased
    ('DIGEST REALM="R"', [C("DIGEST", {"realm": "R"})]),
    ('Digest Realm="R", NONCE="N", Qop="auth"', [C("Digest", {"realm": "R", "nonce": "N", "qop": "auth"})]),
    # stale, qop and algorithm, quoted or not
    ('Digest realm="r", nonce="n", stale="FALSE"', [C("Digest", {"realm": "r", "nonce": "n", "stale": "FALSE"})]),
    ('Digest realm="r", nonce="n", stale=FALSE', [C("Digest", {"realm": "r", "nonce": "n", "stale": "FALSE"})]),
    ('Digest realm="r", nonce="n", qop=auth', [C("Digest", {"realm": "r", "nonce": "n", "qop": "auth"})]),
    ('Digest realm="r", nonce="n", algorithm="MD5"', [C("Digest", {"realm": "r", "nonce": "n", "algorithm": "MD5"})]),
    # empty values
    ('Basic realm=""', [C("Basic", {"realm": ""})]),
    ("Basic realm=", [C("Basic", {"realm": ""})]),
    ("Digest realm=", [C("Digest", {"realm": ""})]),
    (
        'Digest realm=, qop="auth", nonce="n"',
        [C("Digest", {"realm": "", "qop": "auth", "nonce": "n"})],
    ),
    ('Digest nonce="n", realm=, qop="auth"', [C("Digest", {"nonce": "n", "realm": "", "qop": "auth"})]),
    ('Digest nonce="n", realm=', [C("Digest", {"nonce": "n", "realm": ""})]),
    ('Digest realm="r", nonce="n", opaque=""', [C("Digest", {"realm": "r", "nonce": "n", "opaque": ""})]),
    ('Bearer realm=, error="invalid_token"', [C("Bearer", {"realm": "", "error": "invalid_token"})]),
    # empty list elements
    ('Bearer realm="k",, error="invalid_token"', [C("Bearer", {"realm": "k", "error": "invalid_token"})]),
    (', ,Basic realm="k" , ,, ', [C("Basic", {"realm": "k"})]),
    # the CR LF HTAB of a folded line are whitespace
    (
        'Digest\r\n\trealm="xxxx",nonce="xxxx",algorithm=MD5,qop="auth"',
        [C("Digest", {"realm": "xxxx", "nonce": "xxxx", "algorithm": "MD5", "qop": "auth"})],
    ),
    ('Basic\trealm="x",\r\n Digest\r\n realm="y"', [C("Basic", {"realm": "x"}), C("Digest", {"realm": "y"})]),
    # schemes without parameters, and token68, beside others
    ('NTLM, Digest realm="r", nonce="n"', [C("NTLM"), C("Digest", {"realm": "r", "nonce": "n"})]),
    ('NTLM,Basic realm=""', [C("NTLM"), C("Basic", {"realm": ""})]),
    ("Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEFoQMCAQ6iBwMFACAAAACjggSJ==", [
        C("Negotiate", token68="YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEFoQMCAQ6iBwMFACAAAACjggSJ==")
    ]),
    (
        'Negotiate YIIG+/ab==, Basic realm="r", Negotiate',
        [C("Negotiate", token68="YIIG+/ab=="), C("Basic", {"realm": "r"}), C("Negotiate")],
    ),
    ("Negotiate abc=", [C("Negotiate", token68="abc=")]),
    ('Negotiate abc=, Basic realm="r"', [C("Negotiate", token68="abc="), C("Basic", {"realm": "r"})]),
    ("Negotiate abc", [C("Negotiate", token68="abc")]),
    # quoted-pair
    ('Basic realm="Login to \\"apps\\""', [C("Basic", {"realm": 'Login to "apps"'})]),
    ('Basic realm="back\\\\slash \\x"', [C("Basic", {"realm": "back\\slash x"})]),
    ('Basic realm="tab\\\there"', [C("Basic", {"realm": "tab\there"})]),
    # BWS around "="
    ('Digest realm = "x" , nonce\t=\ty', [C("Digest", {"realm": "x", "nonce": "y"})]),
    ('Basic realm ="x"', [C("Basic", {"realm": "x"})]),
    ('Basic realm= "x"', [C("Basic", {"realm": "x"})]),
    # obs-text (octets >= 0x80 as latin-1 characters) is kept
    ('Basic realm="caf\xc3\xa9"', [C("Basic", {"realm": "caf\xc3\xa9"})]),
    # only a scheme
    ("Basic", [C("Basic")]),
]


@pytest.mark.parametrize("header, expected", REAL_SERVERS, ids=[h for h, _ in REAL_SERVERS])
def test_real_server_headers(header, expected):
    assert parse_challenges(header) == expected
    challenges, errors = parse_challenges_lenient(header)
    assert (challenges, errors) == (expected, [])


def test_newauth_example_is_two_challenges():
    # httpwg/http-core#136: the RFC 7235 example is Newauth (three params) and Basic.
    header = 'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"'
    assert parse_challenges(header) == [
        C("Newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}),
        C("Basic", {"realm": "simple"}),
    ]


# --- a comma right after the scheme (RFC 9110 §11.2) --------------------------------
#
# challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]: parameters follow the
# scheme after a space. In 'Basic, realm="foo"' the comma ends the Basic challenge, and
# realm="foo" is an element of the header's #challenge list that is no challenge: an
# error, not Basic's realm. (Before, it was read as Basic's realm, which no rule allows.)
# 'Basic , realm="foo"' is Basic with its realm: 1*SP, then an empty list element.
# Cases from Julian Reschke's suite, http://test.greenbytes.de/tech/tc/httpauth/,
# under its names; "errors" is how many elements were malformed.

GREENBYTES = {
    "simplebasic": ('Basic realm="foo"', [C("Basic", {"realm": "foo"})], 0),
    "simplebasiclf": ('Basic\r\n realm="foo"', [C("Basic", {"realm": "foo"})], 0),
    "simplebasicucase": ('BASIC REALM="foo"', [C("BASIC", {"realm": "foo"})], 0),
    "simplebasictok": ("Basic realm=foo", [C("Basic", {"realm": "foo"})], 0),
    # a backslash is in no token: a parse error, not the realm \foo
    "simplebasictokbs": ("Basic realm=\\f\\o\\o", [], 1),
    "simplebasicsq": ("Basic realm='foo'", [C("Basic", {"realm": "'foo'"})], 0),
    "simplebasicpct": ('Basic realm="foo%20bar"', [C("Basic", {"realm": "foo%20bar"})], 0),
    "simplebasiccomma": ('Basic , realm="foo"', [C("Basic", {"realm": "foo"})], 0),
    "simplebasiccomma2": ('Basic, realm="foo"', [C("Basic")], 1),
    "simplebasicnorealm": ("Basic", [C("Basic")], 0),
    "simplebasic2realms": ('Basic realm="foo", realm="bar"', [], 1),
    "simplebasicwsrealm": ('Basic realm = "foo"', [C("Basic", {"realm": "foo"})], 0),
    "simplebasicrealmsqc": ('Basic realm="\\f\\o\\o"', [C("Basic", {"realm": "foo"})], 0),
    "simplebasicrealmsqc2": ('Basic realm="\\"foo\\""', [C("Basic", {"realm": '"foo"'})], 0),
    "simplebasicnewparam1": (
        'Basic realm="foo", bar="xyz",, a=b,,,c=d',
        [C("Basic", {"realm": "foo", "bar": "xyz", "a": "b", "c": "d"})], 0),
    "simplebasicnewparam2": ('Basic bar="xyz", realm="foo"', [C("Basic", {"bar": "xyz", "realm": "foo"})], 0),
    "simplebasicrealmiso88591": (b'Basic realm="foo-\xe4"', [C("Basic", {"realm": "foo-\xe4"})], 0),
    "simplebasicrealmutf8": (b'Basic realm="foo-\xc3\xa4"', [C("Basic", {"realm": "foo-\xc3\xa4"})], 0),
    "simplebasicrealmrfc2047": (
        'Basic realm="=?ISO-8859-1?Q?foo-=E4?="', [C("Basic", {"realm": "=?ISO-8859-1?Q?foo-=E4?="})], 0),
    "multibasicunknown": (
        'Basic realm="basic", Newauth realm="newauth"',
        [C("Basic", {"realm": "basic"}), C("Newauth", {"realm": "newauth"})], 0),
    "multibasicunknownnoparam": ('Basic realm="basic", Newauth', [C("Basic", {"realm": "basic"}), C("Newauth")], 0),
    "multibasicunknown2": (
        'Newauth realm="newauth", Basic realm="basic"',
        [C("Newauth", {"realm": "newauth"}), C("Basic", {"realm": "basic"})], 0),
    "multibasicunknown2np": ('Newauth, Basic realm="basic"', [C("Newauth"), C("Basic", {"realm": "basic"})], 0),
    "multibasicunknown2mf": (
        ['Newauth realm="newauth"', 'Basic realm="basic"'],
        [C("Newauth", {"realm": "newauth"}), C("Basic", {"realm": "basic"})], 0),
    "multibasicempty": (',Basic realm="basic"', [C("Basic", {"realm": "basic"})], 0),
    "multibasicqs": (
        'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple" ',
        [C("Newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}), C("Basic", {"realm": "simple"})],
        0),
    "multidisgscheme": (
        'Newauth realm="Newauth Realm", basic=foo, Basic realm="Basic Realm" ',
        [C("Newauth", {"realm": "Newauth Realm", "basic": "foo"}), C("Basic", {"realm": "Basic Realm"})], 0),
    "unknown": ('Newauth param="value"', [C("Newauth", {"param": "value"})], 0),
    "parametersnotrequired": ("A, B", [C("A"), C("B")], 0),
    "disguisedrealm": (
        'Basic foo="realm=nottherealm", realm="basic"', [C("Basic", {"foo": "realm=nottherealm", "realm": "basic"})],
        0),
    "disguisedrealm2": (
        'Basic nottherealm="nottherealm", realm="basic"',
        [C("Basic", {"nottherealm": "nottherealm", "realm": "basic"})], 0),
    "missingquote": ('Basic realm="basic', [], 1),
    # and around the comma cases
    "two Basic realms": (
        'Basic realm="foo", Basic realm="bar"', [C("Basic", {"realm": "foo"}), C("Basic", {"realm": "bar"})], 0),
    "Basic, then Basic with a realm": ('Basic, Basic realm="x"', [C("Basic"), C("Basic", {"realm": "x"})], 0),
    "comma without spaces": ('Basic,realm="foo",charset="UTF-8"', [C("Basic")], 2),
    "comma then a folded line": ('Basic,\r\n realm="foo"', [C("Basic")], 1),
    "space, comma, no space": ('Basic ,realm="foo"', [C("Basic", {"realm": "foo"})], 0),
    "tab, comma": ('Basic\t, realm="foo"', [C("Basic", {"realm": "foo"})], 0),
    "two lines": (["Basic", 'realm="foo"'], [C("Basic")], 1),
    "Digest, then its params": ('Digest, realm="r", nonce="n"', [C("Digest")], 2),
    "after a token68": ('Negotiate abc, realm="r"', [C("Negotiate", token68="abc")], 1),
}


@pytest.mark.parametrize("name", GREENBYTES)
def test_greenbytes_httpauth_cases(name):
    header, expected, error_count = GREENBYTES[name]
    challenges, errors = parse_challenges_lenient(header)
    assert challenges == expected
    assert len(errors) == error_count


def test_a_parameter_after_a_comma_right_after_the_scheme_belongs_to_no_challenge():
    header = 'Basic, realm="foo"'
    challenges, errors = parse_challenges_lenient(header)
    assert challenges == [C("Basic")]
    assert [e.position for e in errors] == [header.index("realm")]
    assert errors[0].reason == "parameter 'realm' belongs to no challenge: 'Basic' ended with the comma right after it"
    assert parse_challenges(header) == [C("Basic")]  # a challenge is left: no exception
    _, errors = parse_challenges_lenient('Negotiate abc, realm="r"')
    assert errors[0].reason == "parameter 'realm' belongs to no challenge: 'Negotiate' ended with its token68"


def test_basic_ended_by_a_comma_still_authenticates_without_a_realm():
    # RFC 7617 §2 wants a realm, but a Basic answer needs none: the protection space
    # is then the origin's realm "" (_spaces), as for a plain "Basic".
    usable, skipped = rank_challenges(parse_challenges('Basic, realm="foo"'))
    assert [(choice.scheme, choice.challenge) for choice in usable] == [("basic", C("Basic"))]
    assert skipped == []


# --- the RFC's rules, one by one (_abnf) -------------------------------------------
# rule: (RFC section, texts it matches in full, texts it does not)

ABNF_RULES = {
    "tchar": ("RFC 9110 §5.6.2", ["!", "#", "'", "~", "|", "0", "a", "Z"],
              ["", "(", '"', ",", "/", "=", " ", "\xe9", "aa"]),
    "token": ("RFC 9110 §5.6.2", ["Basic", "SHA-256", "!#$%&'*+-.^_`|~09azAZ"],
              ["", "a b", "a=b", "a/b", 'a"', "a,b", "\u212a"]),
    "auth_scheme": ("RFC 9110 §11.1", ["Basic", "Digest", "Newauth", "x-Y.1"], ["", "Neg/otiate", "Basic realm"]),
    "OWS": ("RFC 9110 §5.6.3", ["", " ", "\t", " \t "], ["\r\n", "x"]),
    "RWS": ("RFC 9110 §5.6.3", [" ", "\t "], ["", "\r\n "]),
    "BWS": ("RFC 9110 §5.6.3", ["", "  "], ["\n"]),
    "obs_text": ("RFC 9110 §5.5", ["\x80", "\xe9", "\xff"], ["\x7f", "a", "\u0100"]),
    "qdtext": ("RFC 9110 §5.6.4", ["a", " ", "\t", "!", "#", "[", "]", "~", "\xe9"],
               ['"', "\\", "\x00", "\x7f", "\r", "\u0100"]),
    "quoted_pair": ("RFC 9110 §5.6.4", ['\\"', "\\\\", "\\a", "\\\t", "\\ ", "\\\xe9"],
                    ["\\", "\\\x00", "\\\n", "\\\x7f", "a"]),
    "quoted_string": ("RFC 9110 §5.6.4", ['""', '"foo"', '"a, b=c"', '"Login to \\"apps\\""', '"\\\\"', '"caf\xe9"'],
                      ['"', "foo", '"a"b"', '"\\"', '"a\nb"', '"\\\x01"', '"\u212a"']),
    "token68": ("RFC 9110 §11.2", ["abc", "YIIG+/ab==", "a-._~+/", "abc="], ["", "=", "ab%c", "a=b", "ab c"]),
    "auth_param": ("RFC 9110 §11.2", ['realm="x"', "algorithm=SHA-256", 'realm = "x"', 'title="Login to \\"apps\\""'],
                   ["realm", "realm=", "realm=a=b", 'realm="x', "=x", "realm==x", "realm=\\foo"]),
    "challenge": ("RFC 9110 §11.2", [
        "Basic", "Basic ", 'Basic realm="simple"', "Negotiate YIIG+/ab==", "Negotiate abc",
        'Newauth realm="apps", type=1, title="Login to \\"apps\\""',
        'Basic , realm="foo"', 'Basic realm="foo", , a=b ,c=d', 'Bearer realm="k",',
    ], [
        'Basic, realm="foo"', 'Basic realm="a" nonce="b"', 'Basic\trealm="x"', "Basic realm x",
        "Basic realm==x", 'Basic realm="a", Basic realm="b"', "Negotiate ab%c", "",
    ]),
    # The package's lenient rules, each beside the RFC rule it widens.
    "lenient_OWS": ("RFC 9112 §5.2 obs-fold", ["", " ", "\t", "\r\n ", " \r\n\t"], ["x", ",", "\x0b"]),
    "lenient_RWS": ("RFC 9112 §5.2 obs-fold", [" ", "\r\n\t"], ["", "x"]),
    "lenient_BWS": ("RFC 9112 §5.2 obs-fold", ["", "\n"], ["="]),
    "lenient_obs_text": ("RFC 9110 §5.5, wider", ["\x80", "\xff", "\u0100", "\u212a"], ["\x7f", "a"]),
    "lenient_quoted_string": ("RFC 9110 §5.6.4, wider", ['"\u212a"', '"caf\xe9"', '"\\\u212a"'], ['"\x01"', '"\x85', '"a"b"']),
    "lenient_value": ("token, wider", ["", "foo", "dOCOyDLiBQA=7fe7", "=abc=", "caf\xe9", "a;b/c", "'foo'"],
                      ["a b", "a,b", 'a"', "a\\b", "\x01", "a\tb"]),
}


def test_every_named_rule_has_cases():
    rules = {name for name in _abnf.__all__ if isinstance(getattr(_abnf, name), str)}
    assert set(ABNF_RULES) == rules


@pytest.mark.parametrize(
    "rule, text, matches",
    [(rule, text, True) for rule, (_, yes, _) in ABNF_RULES.items() for text in yes]
    + [(rule, text, False) for rule, (_, _, no) in ABNF_RULES.items() for text in no],
    ids=repr,
)
def test_abnf_rule(rule, text, matches):
    assert (re.fullmatch(getattr(_abnf, rule), text) is not None) is matches


def test_token_is_compiled_for_full_match_checks():
    # The name other modules (command line, test server) check tokens with.
    assert _abnf.TOKEN.fullmatch("SHA-256") and not _abnf.TOKEN.fullmatch("a b")
    assert _abnf.TOKEN68.fullmatch("YIIG+/ab==") and not _abnf.TOKEN68.fullmatch("a=b")


def test_the_strict_rules_are_what_the_lenient_ones_widen():
    for strict, lenient in [("token", "lenient_value"), ("OWS", "lenient_OWS"), ("RWS", "lenient_RWS"),
                            ("obs_text", "lenient_obs_text"), ("quoted_string", "lenient_quoted_string")]:
        for text in ABNF_RULES[strict][1]:
            assert re.fullmatch(getattr(_abnf, lenient), text), (lenient, text)


# --- corpus of headers from real devices ---------------------------------------

CORPUS = [
    (
        'DIGEST realm="DLI LPC92601002528", nonce="NZAeQHhoCNifFjFa"',
        [C("DIGEST", {"realm": "DLI LPC92601002528", "nonce": "NZAeQHhoCNifFjFa"})],
    ),
    (
        'DIGEST realm="BroadWorks",qop="auth",nonce="BroadWorksXh6gnwBdbTdzm0oc",algorithm=MD5',
        [C("DIGEST", {"realm": "BroadWorks", "qop": "auth", "nonce": "BroadWorksXh6gnwBdbTdzm0oc", "algorithm": "MD5"})],
    ),
    (
        [
            'Digest qop="auth",algorithm=MD5,realm="monero-rpc",nonce="PfLdSGoqjOOSMw5bmJOv/g==",stale=false',
            'Digest qop="auth",algorithm=MD5-sess,realm="monero-rpc",nonce="PfLdSGoqjOOSMw5bmJOv/g==",stale=false',
        ],
        [
            C("Digest", {"qop": "auth", "algorithm": "MD5", "realm": "monero-rpc",
                         "nonce": "PfLdSGoqjOOSMw5bmJOv/g==", "stale": "false"}),
            C("Digest", {"qop": "auth", "algorithm": "MD5-sess", "realm": "monero-rpc",
                         "nonce": "PfLdSGoqjOOSMw5bmJOv/g==", "stale": "false"}),
        ],
    ),
    (
        'Digest realm="DVRNVRDVS", domain="httpsHost", qop="auth", nonce="7676767677:676767676767", '
        'opaque="", algorithm="MD5", stale="FALSE"',
        [C("Digest", {"realm": "DVRNVRDVS", "domain": "httpsHost", "qop": "auth",
                      "nonce": "7676767677:676767676767", "opaque": "", "algorithm": "MD5", "stale": "FALSE"})],
    ),
    (
        'Digest realm="fe12f37bd", domain="::", qop="auth", nonce="300b7e88:1685", opaque="", '
        'algorithm="MD5", stale="FALSE"',
        [C("Digest", {"realm": "fe12f37bd", "domain": "::", "qop": "auth", "nonce": "300b7e88:1685",
                      "opaque": "", "algorithm": "MD5", "stale": "FALSE"})],
    ),
    (
        'Digest realm="DH_00408CA5EA04", nonce="000562fdY631973ef04f77a3ede7c1832ff48720ef95ad", '
        'stale=FALSE, qop="auth"',
        [C("Digest", {"realm": "DH_00408CA5EA04", "nonce": "000562fdY631973ef04f77a3ede7c1832ff48720ef95ad",
                      "stale": "FALSE", "qop": "auth"})],
    ),
    (
        'Digest qop=auth, realm="Jedi-API", nonce="aadab65eef44b3a2f6e3744de03fb88a"',
        [C("Digest", {"qop": "auth", "realm": "Jedi-API", "nonce": "aadab65eef44b3a2f6e3744de03fb88a"})],
    ),
    (
        'Digest realm="Please log in with a valid username",nonce="752a",opaque="",stale=FALSE,algorithm=MD5',
        [C("Digest", {"realm": "Please log in with a valid username", "nonce": "752a", "opaque": "",
                      "stale": "FALSE", "algorithm": "MD5"})],
    ),
    (
        'Digest algorithm=MD5,realm="local",nonce="11111111:222222aaaaaa333333bbbbbb44444"',
        [C("Digest", {"algorithm": "MD5", "realm": "local", "nonce": "11111111:222222aaaaaa333333bbbbbb44444"})],
    ),
    (
        [
            'Digest qop="auth",algorithm=MD5-sess,nonce="+Upgraded+v18bdb7da",charset=utf-8,realm="testrealm"',
            'Basic realm="localhost"',
            "Negotiate",
            "NTLM",
        ],
        [
            C("Digest", {"qop": "auth", "algorithm": "MD5-sess", "nonce": "+Upgraded+v18bdb7da",
                         "charset": "utf-8", "realm": "testrealm"}),
            C("Basic", {"realm": "localhost"}),
            C("Negotiate"),
            C("NTLM"),
        ],
    ),
    (
        'Digest realm="onvif", qop="auth,auth-int", nonce="5dcd4c06ca893ade7254", opaque="528eacb9"',
        [C("Digest", {"realm": "onvif", "qop": "auth,auth-int", "nonce": "5dcd4c06ca893ade7254",
                      "opaque": "528eacb9"})],
    ),
    (
        'Digest realm="http-auth@example.org",qop="auth",nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",'
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",stale=false,algorithm=SHA-256',
        [C("Digest", {"realm": "http-auth@example.org", "qop": "auth",
                      "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                      "opaque": "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", "stale": "false",
                      "algorithm": "SHA-256"})],
    ),
    (
        'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"',
        [C("Newauth", {"realm": "apps", "type": "1", "title": 'Login to "apps"'}), C("Basic", {"realm": "simple"})],
    ),
]


@pytest.mark.parametrize("header, expected", CORPUS, ids=[str(i) for i in range(len(CORPUS))])
def test_device_corpus(header, expected):
    assert parse_challenges_lenient(header) == (expected, [])


# --- malformed input -------------------------------------------------------------

MALFORMED = [
    # (header, position of the error, words of the reason)
    ('Basic realm="abc', 12, "unterminated"),
    ('Basic realm="abc\\', 12, "unterminated"),
    ('Basic realm="a" nonce="b"', 16, "expected ','"),
    ("=x", 0, "scheme or parameter name"),
    ('"quoted"', 0, "scheme or parameter name"),
    ('realm="x"', 0, "before any auth-scheme"),
    ("Basic realm x", 12, "expected '='"),
    ('Basic realm="a", realm="b"', 17, "twice"),
    ('Basic realm="a", REALM="b"', 17, "twice"),
    ("Basic realm==x", 6, "'=='"),
    ("Neg/otiate abc", 0, "invalid auth-scheme"),
    ("Basic@ x", 0, "invalid auth-scheme"),
    ("Negotiate abc/def=x", 10, "invalid parameter name"),
    ("Negotiate ab%c", 10, "invalid token68"),
    ('Basic realm="a\x00b"', 14, "control character"),
]


@pytest.mark.parametrize("header, position, reason", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_input_raises_with_position_and_reason(header, position, reason):
    with pytest.raises(ChallengeParseError) as info:
        parse_challenges(header)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.position == position
    assert reason in error.reason
    assert f"at character {position}" in str(error)
    challenges, errors = parse_challenges_lenient(header)
    assert challenges == []
    assert errors and errors[0].position == position


@pytest.mark.parametrize(
    "header",
    [
        'Basic realm="a\x00b"',
        'Basic realm="a\x01b"',
        'Basic realm="a\x1fb"',
        'Basic realm="a\x7fb"',
        'Basic realm="a\rb"',
        'Basic realm="a\nb"',
        'Basic realm="a\r\nX-Injected: 1"',
        # the same behind a backslash: a quoted-pair may escape HTAB, SP and visible
        # characters only (RFC 9110 §5.6.4)
        'Basic realm="a\\\x00b"',
        'Basic realm="a\\\x01b"',
        'Basic realm="a\\\x1bb"',
        'Basic realm="a\\\x7fb"',
        'Basic realm="a\\\rb"',
        'Basic realm="a\\\nb"',
    ],
    ids=repr,
)
def test_control_characters_in_quoted_strings_are_errors(header):
    with pytest.raises(ChallengeParseError, match="control character"):
        parse_challenges(header)
    with pytest.raises(ChallengeParseError, match="control character"):
        parse_auth_params(header[len("Basic "):])


def test_control_character_after_a_bare_value_is_an_error():
    with pytest.raises(ChallengeParseError):
        parse_challenges("Basic realm=a\x01b")


# Letters that only case-fold to ASCII: "\u017f".upper() == "S" (LONG S), "\u212a".lower()
# == "k" (KELVIN SIGN), "\u0131".upper() == "I" (DOTLESS I), "\xdf".upper() == "SS" (SHARP
# S, a latin-1 octet). Tokens are ASCII (RFC 9110 §5.6.2), so none of them is a tchar and
# no lower() or upper() of a name can turn a non-token into a token.
NON_ASCII_NAMES = [
    ('Ba\u017fic realm="r"', "ba\u017fic=x"),
    ('\u212aerberos realm="r"', "\u212aey=x"),
    ('Digest realm="r", nonce="n", algor\u0131thm=MD5', "algor\u0131thm=MD5"),
    ('Ba\xdfic realm="r"', "qop=auth, \xdf=x"),
]


@pytest.mark.parametrize("header, auth_info", NON_ASCII_NAMES, ids=ascii)
def test_scheme_and_parameter_names_are_ascii_tokens(header, auth_info):
    challenges, errors = parse_challenges_lenient(header)
    assert challenges == [] and errors
    with pytest.raises(ChallengeParseError, match="expected"):
        parse_auth_params(auth_info)


def test_non_ascii_values_are_kept_as_they_are():
    # Values are header text, not tokens: obs-text stays, un-folded, for the scheme code to judge.
    assert parse_challenges('Digest realm="r", nonce="n", algorithm=MD5-se\xdf') == [
        C("Digest", {"realm": "r", "nonce": "n", "algorithm": "MD5-se\xdf"})
    ]
    assert parse_auth_params("qop=\u212a") == {"qop": "\u212a"}


def test_htab_is_allowed_in_quoted_strings():
    assert parse_challenges('Basic realm="a\tb"') == [C("Basic", {"realm": "a\tb"})]


def test_malformed_challenge_is_dropped_and_the_good_ones_kept():
    header = 'Basic realm="a", Digest realm="b" junk, nonce="n", Basic realm="c", Negotiate ab%c, Bearer'
    assert parse_challenges(header) == [C("Basic", {"realm": "a"}), C("Basic", {"realm": "c"}), C("Bearer")]
    challenges, errors = parse_challenges_lenient(header)
    assert challenges == [C("Basic", {"realm": "a"}), C("Basic", {"realm": "c"}), C("Bearer")]
    assert [e.position for e in errors] == [header.index("junk"), header.index("ab%c")]
    assert all(isinstance(e, ChallengeParseError) for e in errors)
    assert "expected ','" in errors[0].reason


def test_unterminated_quote_drops_its_challenge_only():
    header = 'Basic realm="a", Digest realm="b'
    challenges, errors = parse_challenges_lenient(header)
    assert challenges == [C("Basic", {"realm": "a"})]
    assert [e.position for e in errors] == [header.index('"b')]
    assert "unterminated" in errors[0].reason


def test_recovery_resumes_after_a_bad_quoted_string():
    # The bad string is read to its closing quote, so its ", Basic realm=" is not
    # mistaken for a challenge and the next element is read in phase.
    header = 'Digest realm="a\x01, Basic realm=", Basic realm="ok"'
    challenges, errors = parse_challenges_lenient(header)
    assert challenges == [C("Basic", {"realm": "ok"})]
    assert [e.position for e in errors] == [header.index("\x01")]


def test_recovery_skips_quoted_commas_of_the_bad_element():
    # After "junk", recovery must not stop at the comma inside the quoted value.
    header = 'Basic realm="a" junk="x, Digest realm=y, ", Basic realm="ok"'
    challenges, errors = parse_challenges_lenient(header)
    assert challenges == [C("Basic", {"realm": "ok"})]
    assert [e.position for e in errors] == [header.index("junk")]


def test_duplicate_parameter_drops_that_challenge():
    header = 'Digest realm="a", nonce="1", Nonce="2", qop="auth", Basic realm="b"'
    challenges, errors = parse_challenges_lenient(header)
    assert challenges == [C("Basic", {"realm": "b"})]
    assert len(errors) == 1
    assert "'nonce' given twice" in errors[0].reason
    assert errors[0].position == header.index("Nonce")
    assert parse_challenges(header) == [C("Basic", {"realm": "b"})]


def test_duplicate_first_parameter_drops_that_challenge():
    assert parse_challenges('Basic realm="a", realm="b", Digest nonce="n"') == [C("Digest", {"nonce": "n"})]


def test_only_malformed_challenges_raise_the_first_error():
    header = 'Basic realm="a" x, Digest realm="b", realm="c"'
    with pytest.raises(ChallengeParseError) as info:
        parse_challenges(header)
    assert info.value.position == header.index("x,")


def test_empty_header_is_no_challenges():
    assert parse_challenges("") == []
    assert parse_challenges(" , ,\t") == []
    assert parse_challenges([]) == []


def test_non_header_values_raise_challenge_parse_error():
    with pytest.raises(ChallengeParseError):
        parse_challenges(None)  # type: ignore[arg-type]
    with pytest.raises(ChallengeParseError):
        parse_challenges(["Basic", 1])  # type: ignore[list-item]


# --- linear time -------------------------------------------------------------------
#
# Nothing here reads a clock (a loaded machine must not fail the suite): the parser's
# work is counted instead, in lines of _grammar.py run and characters spanned by its
# regex matches, which a parser gone quadratic multiplies by 16 when the header grows
# 4 times. `python bench/hostile_headers.py` prints the time.

KIB = 1 << 10
MIB = 1 << 20


def _fill(head, unit, tail=""):
    """A header of ``size`` characters at most: ``head``, as many ``unit`` as fit, ``tail``."""
    return lambda size: head + unit * max(0, (size - len(head) - len(tail)) // len(unit)) + tail


def _numbered(head, unit):
    """``head`` then ``unit(0)``, ``unit(1)``, ... as many as fit in ``size`` characters."""
    def make(size):
        parts, length, i = [head], len(head), 0
        while length + len(unit(i)) <= size:
            parts.append(unit(i))
            length += len(unit(i))
            i += 1
        return "".join(parts)
    return make


def _outcome(function, header):
    """What a header parses to, in short: (challenges, params, errors, first error's reason)."""
    if function is parse_auth_params:
        try:
            return (None, len(parse_auth_params(header)), 0, None)
        except ChallengeParseError as exc:
            return (None, 0, 1, exc.reason)
    challenges, errors = parse_challenges_lenient(header)
    params = sum(len(c.params) for c in challenges)
    return (len(challenges), params, len(errors), errors[0].reason if errors else None)


LENIENT, STRICT = parse_challenges_lenient, parse_auth_params
EVERY = "one param per element"  # as many params as the header has "="
NO_SCHEME = "expected a scheme or parameter name, found "
TOO_MANY = "more than 128 challenges, the rest ignored"

# name: (function, make(size), what 1 MiB of it parses to, as _outcome says)
HOSTILE = {
    "params": (LENIENT, _fill("Digest ", "a="), (1, 1, 0, None)),
    "quotes": (LENIENT, _fill("", '"'), (0, 0, 1, NO_SCHEME + "'\"'")),
    "backslashes": (LENIENT, _fill("", "\\"), (0, 0, 1, NO_SCHEME + "'\\\\'")),
    "commas": (LENIENT, _fill("", ", "), (0, 0, 0, None)),
    "words": (LENIENT, _fill("", "a "), (0, 0, 1, "expected '=' after parameter name 'a'")),
    "unterminated quote": (LENIENT, _fill('Digest realm="', "x"), (0, 0, 1, "unterminated quoted string")),
    "escaped quotes": (LENIENT, _fill('Digest realm="', '\\"'), (0, 0, 1, "unterminated quoted string")),
    "escaped backslashes": (LENIENT, _fill('Digest realm="', "\\\\", "\\"), (0, 0, 1, "unterminated quoted string")),
    "quote after backslashes": (LENIENT, _fill('Basic realm="a", ', '\\"'), (0, 0, 1, NO_SCHEME + "'\\\\'")),
    "quoted pairs": (LENIENT, _fill('Digest realm="', '\\"', '"'), (1, 1, 0, None)),
    "quote soup": (LENIENT, _fill("Digest realm=", '"a'), (0, 0, 1, "expected ',' between list elements, found 'a'")),
    "empty params": (LENIENT, _fill("Bearer ", "a=, "), (0, 0, 1, "parameter 'a' given twice")),
    "equals and commas": (LENIENT, _fill("", "=,"), (0, 0, 64, NO_SCHEME + "'='")),
    "params before a scheme": (LENIENT, _fill("", "a=,"), (0, 0, 64, "parameter before any auth-scheme")),
    "params after a comma-ended challenge": (LENIENT, _fill("Basic, ", "a=b, "),
                                             (1, 0, 64, "parameter 'a' belongs to no challenge: "
                                                        "'Basic' ended with the comma right after it")),
    "missing commas": (LENIENT, _fill("Digest ", "a=b c, "),
                       (0, 0, 64, "expected ',' between list elements, found 'c'")),
    "bad schemes": (LENIENT, _fill('Basic realm="a", ', 'x"y", '), (0, 0, 64, "invalid auth-scheme 'x'")),
    "duplicates": (LENIENT, _fill("Digest ", "a=1, "), (0, 0, 1, "parameter 'a' given twice")),
    "control characters": (LENIENT, _fill("", 'Digest realm="\x01'),
                           (0, 0, 1, "control character '\\x01' in quoted string")),
    "lone quote in params": (LENIENT, _fill('Digest a="', ', b="'), (0, 0, 1, "parameter 'b' given twice")),
    "many schemes": (LENIENT, _fill("", "A, "), (128, 0, 1, TOO_MANY)),
    "many token68 or empty params": (LENIENT, _fill("", "a a=, "), (128, 0, 1, TOO_MANY)),
    "many token68 before a lookahead": (LENIENT, _fill("", "Negotiate a=, "), (128, 0, 1, TOO_MANY)),
    "many distinct params": (LENIENT, _numbered("Digest ", lambda i: f"a{i}=b, "), (1, EVERY, 0, None)),
    "many distinct quoted params": (LENIENT, _numbered("Digest ", lambda i: f'a{i}="\\"", '), (1, EVERY, 0, None)),
    "Authentication-Info quoted pairs": (STRICT, _fill('rspauth="', "\\x", '"'), (None, 1, 0, None)),
    "Authentication-Info escaped quotes": (STRICT, _fill('nextnonce="', '\\"', '"'), (None, 1, 0, None)),
    "Authentication-Info duplicates": (STRICT, _fill("", "a=1, "), (None, 0, 1, "parameter 'a' given twice")),
    "Authentication-Info distinct params": (STRICT, _numbered("", lambda i: f"a{i}=b, "), (None, EVERY, 0, None)),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_megabyte_parses_to_what_it_should(name):
    function, make, expected = HOSTILE[name]
    header = make(MIB)
    if expected[1] == EVERY:
        expected = (expected[0], header.count("="), *expected[2:])
    assert _outcome(function, header) == expected


def test_long_quoted_pairs_are_unescaped_whole():
    n = 10_000
    assert parse_challenges('Digest realm="' + '\\"' * n + '\\\\' * n + '\\x' * n + '"') == [
        C("Digest", {"realm": '"' * n + "\\" * n + "x" * n})
    ]
    assert parse_auth_params('rspauth="' + '\\x' * n + '", nc=1') == {"rspauth": "x" * n, "nc": "1"}


class _Tally:
    """Work done by _grammar.py: lines of it run, and characters its regex matches span."""

    def __init__(self):
        self.lines = 0
        self.chars = 0


class _CountedPattern:
    """A compiled pattern standing in for one of _grammar's, counting what its matches span."""

    def __init__(self, pattern, tally):
        self._pattern = pattern
        self._tally = tally

    def _counted(self, match):
        if match is not None:
            self._tally.chars += match.end() - match.start()
        return match

    def match(self, *args):
        return self._counted(self._pattern.match(*args))

    def fullmatch(self, *args):
        return self._counted(self._pattern.fullmatch(*args))

    def finditer(self, *args):
        for match in self._pattern.finditer(*args):
            yield self._counted(match)

    def findall(self, *args):
        # What findall returns (several groups: a tuple each, "" where one did not
        # take part), counted match by match.
        return [
            tuple("" if group is None else group for group in self._counted(match).groups())
            for match in self._pattern.finditer(*args)
        ]


def _work(monkeypatch, function, header):
    """(lines of _grammar.py run, characters spanned by its regex matches) parsing ``header``."""
    import requests_challenge._grammar as grammar

    tally = _Tally()
    with monkeypatch.context() as patch:
        for name, value in vars(grammar).items():
            if isinstance(value, re.Pattern):
                patch.setattr(grammar, name, _CountedPattern(value, tally))

        def count_lines(frame, event, arg):
            if event == "line":
                tally.lines += 1
            return count_lines

        def in_grammar(frame, event, arg):
            return count_lines if frame.f_code.co_filename == grammar.__file__ else None

        previous = sys.gettrace()
        sys.settrace(in_grammar)
        try:
            _outcome(function, header)
        finally:
            sys.settrace(previous)
    return tally.lines, tally.chars


@pytest.mark.parametrize("name", HOSTILE)
def test_parse_work_grows_linearly_with_the_header(monkeypatch, name):
    function, make, _ = HOSTILE[name]
    small, large = make(16 * KIB), make(64 * KIB)
    (small_lines, small_chars), (large_lines, large_chars) = (
        _work(monkeypatch, function, small), _work(monkeypatch, function, large))
    # Linear: 4 times the header, at most about 4 times the work (less where a cut-off
    # stops it); a quadratic parser would do 16 times. Counts, not time: no flakes.
    assert large_lines <= 4.5 * small_lines
    assert large_chars <= 4.5 * small_chars
    # And a bounded amount per character: each is read a few times at most, and a
    # line of Python runs per character only where elements are a few characters long.
    assert large_chars <= 4 * len(large)
    assert large_lines <= 3 * len(large)


def test_work_counting_sees_every_regex_and_line(monkeypatch):
    # The measure itself: a valid header is seen in full, by lines and by matches.
    header = 'Digest realm="r", nonce="n", ' + "".join(f"p{i}=v, " for i in range(100))
    lines, chars = _work(monkeypatch, LENIENT, header)
    assert lines > 100 and chars >= len(header)
    assert parse_challenges(header)[0].params["p99"] == "v"  # the patterns are back


def test_good_challenge_kept_before_a_flood_of_malformed_elements():
    header = "Negotiate abc, " + "=, " * (MIB // 3)
    challenges, errors = parse_challenges_lenient(header)
    assert challenges == [C("Negotiate", token68="abc")]
    assert len(errors) == 64  # then recovery gives up
    assert [e.position for e in errors[:2]] == [15, 18]


# --- Authentication-Info -----------------------------------------------------------


def test_authentication_info_params():
    value = 'nextnonce="YWJjZGVm", qop=auth, rspauth="6629fae49393a05397450978507c4ef1", cnonce="0a4f113b", nc=00000001'
    assert parse_auth_params(value) == {
        "nextnonce": "YWJjZGVm",
        "qop": "auth",
        "rspauth": "6629fae49393a05397450978507c4ef1",
        "cnonce": "0a4f113b",
        "nc": "00000001",
    }


def test_authentication_info_lenient_spacing_and_lines():
    assert parse_auth_params(['NextNonce = "a=b" ,,', "qop=auth"]) == {"nextnonce": "a=b", "qop": "auth"}
    assert parse_auth_params("") == {}


@pytest.mark.parametrize(
    "value",
    ['rspauth="abc', "rspauth", 'qop=auth qop=auth', 'qop=auth, QOP=auth', '"x"', "nextnonce=a b", "Digest realm=x"],
)
def test_authentication_info_is_strict(value):
    with pytest.raises(ChallengeParseError):
        parse_auth_params(value)


# --- rendering ---------------------------------------------------------------------


def test_quote_string_escapes_quote_and_backslash_only():
    assert quote_string("plain") == '"plain"'
    assert quote_string("") == '""'
    assert quote_string('a "b" \\c') == '"a \\"b\\" \\\\c"'
    assert quote_string("a,b=c") == '"a,b=c"'


def test_str_renders_header_syntax():
    assert str(C("Basic", {"realm": 'a "b"'})) == 'Basic realm="a \\"b\\""'
    assert str(C("Digest", {"realm": "r", "qop": "auth"})) == 'Digest realm="r", qop="auth"'
    assert str(C("Negotiate", token68="abc==")) == "Negotiate abc=="
    assert str(C("NTLM")) == "NTLM"


# --- properties --------------------------------------------------------------------

_TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TOKEN68_CHAR = "-._~+/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

tokens = st.text(alphabet=_TCHAR, min_size=1, max_size=12)
names = tokens.map(str.lower)
# Printable text incl. '"', '\\' and HTAB; no control characters or surrogates.
values = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from('"\\\t ,='),
    max_size=20,
)
token68s = st.builds(
    lambda body, pad: body + "=" * pad, st.text(alphabet=_TOKEN68_CHAR, min_size=1, max_size=20), st.integers(0, 3)
)


@st.composite
def challenges(draw):
    scheme = draw(tokens)
    if draw(st.booleans()):
        token68 = draw(token68s)
        if scheme.lower() in ("basic", "digest") and token68.endswith("=") and not token68.endswith("=="):
            # These schemes never use token68, so "Basic abc=" reads as abc="" (as for
            # "Digest realm="); the round trip cannot hold for this one shape.
            token68 = token68 + "="
        return Challenge(scheme, {}, token68)
    params = draw(st.dictionaries(names, values, max_size=5))
    return Challenge(scheme, params, None)


@settings(max_examples=200, deadline=None)
@given(st.lists(challenges(), max_size=5))
def test_render_then_parse_round_trips(cs):
    assert parse_challenges(", ".join(str(c) for c in cs)) == cs


@settings(max_examples=200, deadline=None)
@given(challenges())
def test_render_then_parse_round_trips_one(c):
    assert parse_challenges(str(c)) == [c]


# The liberties real servers take: BWS around "=", OWS and empty elements around
# commas (obs-fold CR LF too), any case in names, bare tokens for values.
_OWS_SAMPLES = st.sampled_from(["", " ", "\t", "  ", "\r\n "])
_SP_SAMPLES = st.sampled_from([" ", "  ", "\t", "\r\n\t"])
_COMMAS = st.sampled_from([",", ", ", " ,", ",,", ", ,\t", "\r\n ,"])


def _render_param(draw, name, value, bare_empty):
    spelled = draw(st.sampled_from([name, name.upper(), name.capitalize()]))
    if value and all(ch in _TCHAR for ch in value) and draw(st.booleans()):
        rendered = value
    elif value == "" and bare_empty and draw(st.booleans()):
        rendered = ""
    else:
        rendered = quote_string(value)
    return f"{spelled}{draw(_OWS_SAMPLES)}={draw(_OWS_SAMPLES)}{rendered}{draw(_OWS_SAMPLES)}"


def _render_list(draw, elements):
    return draw(st.sampled_from(["", ", "])) + "".join(e + draw(_COMMAS) for e in elements[:-1]) + (
        elements[-1] + draw(st.sampled_from(["", ",", " , "])) if elements else "")


def _render_challenge(draw, c):
    if c.token68 is not None:
        return f"{c.scheme}{draw(_SP_SAMPLES)}{c.token68}"
    if not c.params:
        return c.scheme
    params = [_render_param(draw, name, value, bare_empty=False) for name, value in c.params.items()]
    return c.scheme + draw(_SP_SAMPLES) + draw(_COMMAS).join(params)


@settings(max_examples=300, deadline=None)
@given(st.lists(challenges(), max_size=4), st.data())
def test_rendered_with_server_liberties_parses_back(cs, data):
    header = _render_list(data.draw, [_render_challenge(data.draw, c) for c in cs])
    assert parse_challenges_lenient(header) == (cs, [])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(names, values, max_size=6), st.data())
def test_auth_params_render_then_parse_round_trips(params, data):
    assert parse_auth_params(", ".join(f"{name}={quote_string(value)}" for name, value in params.items())) == params
    rendered = [_render_param(data.draw, name, value, bare_empty=True) for name, value in params.items()]
    assert parse_auth_params(_render_list(data.draw, rendered)) == params


_ALPHABET = st.sampled_from(
    list(' \t\r\n,="\\/abcDIGESTbasic\x00\x01\x7f\xe9') + ["Digest ", "Basic ", "realm", "nonce", "a=", '\\"', "=="]
)
_ANY_TEXT = st.one_of(st.text(), st.lists(_ALPHABET, max_size=40).map("".join))
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")  # a token in lower case


def _valid_value(value):
    return not any(ch < " " and ch != "\t" or ch == "\x7f" for ch in value)


@settings(max_examples=300, deadline=None)
@example('Digest realm="a", nonce=b, Basic x')
@example('Basic realm="a" x, Digest realm="b", realm="c"')
@example("Negotiate abc=, Basic realm=")
@given(_ANY_TEXT)
def test_any_text_gives_challenges_or_challenge_parse_error(text):
    challenges, errors = parse_challenges_lenient(text)
    try:
        result = parse_challenges(text)
    except ChallengeParseError as exc:
        # Raised only when nothing usable is left, and it is the first problem met.
        assert challenges == [] and errors
        assert (exc.position, exc.reason) == (errors[0].position, errors[0].reason)
    else:
        assert result == challenges
        assert challenges or not errors
    positions = [e.position for e in errors]
    assert positions == sorted(positions) and all(0 <= p <= len(text) for p in positions)
    assert all(e.reason for e in errors) and len(errors) <= 64 and len(challenges) <= 128
    for c in challenges:
        assert re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", c.scheme)
        assert all(_NAME.fullmatch(name) and _valid_value(value) for name, value in c.params.items())
        assert c.token68 is None or (not c.params and re.fullmatch(r"[A-Za-z0-9\-._~+/]+=*", c.token68))
        assert c.scheme in text
    # What was read renders back to header syntax that reads the same.
    assert parse_challenges(", ".join(str(c) for c in challenges)) == challenges


@settings(max_examples=300, deadline=None)
@example('nextnonce="a\\"b", qop=auth')
@example("qop=auth, QOP=auth-int")
@example('rspauth="abc')
@given(_ANY_TEXT)
def test_any_text_gives_auth_params_or_challenge_parse_error(text):
    try:
        result = parse_auth_params(text)
    except ChallengeParseError as exc:
        assert 0 <= exc.position <= len(text) and exc.reason
    else:
        assert all(_NAME.fullmatch(name) and _valid_value(value) for name, value in result.items())
        assert parse_auth_params(", ".join(f"{k}={quote_string(v)}" for k, v in result.items())) == result


AUTH_INFO_CASES = [
    ("", {}),
    (" , ,\t", {}),
    ("qop=auth", {"qop": "auth"}),
    ('QOP = "auth" ,nc=00000001', {"qop": "auth", "nc": "00000001"}),
    ("nextnonce=", {"nextnonce": ""}),
    ("nextnonce=,qop=auth", {"nextnonce": "", "qop": "auth"}),
    ("nextnonce= , qop=auth", {"nextnonce": "", "qop": "auth"}),
    ("nextnonce==abc=", {"nextnonce": "=abc="}),
    ('rspauth="a\\"b\\\\c\\d"', {"rspauth": 'a"b\\cd'}),
    ('rspauth="a,b=c", cnonce="x"', {"rspauth": "a,b=c", "cnonce": "x"}),
    ("a=1,\r\n b=2", {"a": "1", "b": "2"}),
    ('a="\t"', {"a": "\t"}),
    ("a=caf\xe9", {"a": "caf\xe9"}),
]


@pytest.mark.parametrize("value, expected", AUTH_INFO_CASES, ids=[v for v, _ in AUTH_INFO_CASES])
def test_authentication_info_cases(value, expected):
    assert parse_auth_params(value) == expected


def test_a_header_of_thousands_of_challenges_keeps_the_first():
    header = "A, " * (1 << 19)  # 1.5 MiB of scheme-only challenges
    challenges, errors = parse_challenges_lenient(header)
    assert challenges == [C("A")] * 128
    assert len(errors) == 1 and errors[0].reason == "more than 128 challenges, the rest ignored"
    assert errors[0].position >= 128 * len("A, ")  # somewhere after the 128th


# --- the fast paths read as the rule functions do ---------------------------------------


def _by_the_rules_only(text):
    """What the rule functions alone make of ``text``: no findall, no finditer runs."""
    with mock.patch("requests_challenge._grammar._SHORT_HEADER", -1), \
            mock.patch.object(_ChallengeList, "well_formed_run", lambda self, pos: pos):
        return parse_challenges_lenient(text)


_RENDERED = st.lists(challenges(), max_size=4).map(lambda cs: ", ".join(str(c) for c in cs))


@settings(max_examples=300, deadline=None)
@example('Basic, realm="foo"')
@example('Basic , realm="foo", Basic, Negotiate abc=, Digest realm=, nonce="n", A,B ,C')
@example('Digest realm="a", Realm="b", Basic realm="c"')
@example("A, " * 130)
@given(st.one_of(_ANY_TEXT, _RENDERED))
def test_fast_paths_agree_with_the_rule_functions(text):
    challenges, errors = parse_challenges_lenient(text)
    by_rules, errors_by_rules = _by_the_rules_only(text)
    assert challenges == by_rules
    assert [(e.position, e.reason) for e in errors] == [(e.position, e.reason) for e in errors_by_rules]
    short = _read_short(text)
    assert short is None or (short == challenges and not errors)


def test_typical_headers_take_the_whole_header_fast_path():
    # Not a timing: which reader runs. bench/run.py --only parse times it.
    for header in (REAL_SERVERS[0][0], CORPUS[2][0][0], 'NTLM, Negotiate, Basic realm="r", charset="UTF-8"'):
        assert _read_short(header) == parse_challenges(header)
    assert _read_short('Negotiate abc==') is None  # a token68 needs the rule functions


def test_challenges_built_by_the_parser_are_ordinary_challenges():
    built, made = _challenge("Digest", {"realm": "r"}), Challenge("Digest", {"realm": "r"})
    assert built == made and repr(built) == repr(made) and vars(built) == vars(made)
    assert [f.name for f in dataclasses.fields(Challenge)] == list(vars(built))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.scheme = "Basic"  # type: ignore[misc]
