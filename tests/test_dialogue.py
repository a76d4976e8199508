"""The dialogue without sockets: replies in, actions out, for the origin and a proxy alike."""

from __future__ import annotations

import hashlib
from typing import List, Optional, Sequence

import pytest

from requests_challenge import parse_auth_params
from requests_challenge._dialogue import (
    MAX_LEGS,
    ORIGIN,
    PROXY,
    Budget,
    Dialogue,
    Done,
    GiveUp,
    Party,
    Reply,
    RequestTarget,
    Send,
    credentials_up_front,
)
from requests_challenge._errors import UnsendableBody
from requests_challenge._grammar import Challenge
from requests_challenge._ranking import Choice
from requests_challenge._schemes import Answer, Credentials
from requests_challenge._spaces import ProtectionSpaces, origin_of

USER, PASSWORD = "Mufasa", "Circle of Life"
CREDENTIALS = Credentials(USER, PASSWORD)
URL = "http://h.example/dir/index.html"
PROXY_URL = "http://proxy.example:3128/"

DIGEST = 'Digest realm="r", nonce="n1", qop="auth", algorithm=SHA-256'
STALE = 'Digest realm="r", nonce="n2", qop="auth", algorithm=SHA-256, stale=true'
ROTATED = 'Digest realm="r", nonce="n3", qop="auth", algorithm=SHA-256'
BASIC = 'Basic realm="r"'

PARTIES = pytest.mark.parametrize("party", [ORIGIN, PROXY], ids=["origin", "proxy"])


def target_for(party: Party, body=lambda: b"") -> RequestTarget:
    if party is ORIGIN:
        return RequestTarget("GET", "/dir/index.html", URL, body)
    return RequestTarget("CONNECT", "api.example:443", PROXY_URL, body)


def dialogue_for(party: Party, spaces: Optional[ProtectionSpaces] = None, credentials=CREDENTIALS, **kwargs) -> Dialogue:
    return Dialogue(party, credentials, target_for(party, kwargs.pop("body", lambda: b"")),
                    ProtectionSpaces() if spaces is None else spaces, **kwargs)


def challenge(party: Party, *lines: str) -> Reply:
    return Reply(party.status, lines)


def ok(*info: str, body: bytes = b"") -> Reply:
    return Reply(200, (), info, lambda: body)


def fields(header: str) -> dict:
    scheme, _, rest = header.partition(" ")
    assert scheme == "Digest"
    return parse_auth_params(rest)


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- the table ------------------------------------------------------------------------------

#: (name, replies, expected actions). Replies are challenge header lines for the
#: party's status, or None for a 200. Every dialogue starts with nothing known.
TABLE = [
    ("answer then accepted", [[DIGEST], None], [Send, Done]),
    ("refused answer is not repeated", [[DIGEST], [DIGEST]], [Send, GiveUp]),
    ("stale nonce answered once more", [[DIGEST], [STALE], None], [Send, Send, Done]),
    ("stale twice exhausts the budget", [[DIGEST], [STALE], [STALE]], [Send, Send, GiveUp]),
    ("nothing answerable", [['Bearer realm="x"', 'HOBA challenge="abc"']], [GiveUp]),
    ("no challenge at all", [[]], [GiveUp]),
    ("malformed challenges dropped, good one answered", [['Digest realm="a" nonce="b"', BASIC], None], [Send, Done]),
    ("not challenged: nothing to do", [None], [Done]),
]


@PARTIES
@pytest.mark.parametrize("name,replies,expected", TABLE, ids=[row[0] for row in TABLE])
def test_table(party: Party, name: str, replies: List[Optional[Sequence[str]]], expected: list) -> None:
    dialogue = dialogue_for(party)
    assert dialogue.first() is None
    actions = [dialogue.on_reply(ok() if lines is None else challenge(party, *lines)) for lines in replies]
    assert [type(action) for action in actions] == expected
    assert sum(isinstance(action, Send) for action in actions) <= Budget().credentialed


@PARTIES
def test_the_strongest_challenge_is_answered_with_credentials_for_the_target(party: Party) -> None:
    dialogue = dialogue_for(party)
    action = dialogue.on_reply(challenge(party, BASIC, 'Digest realm="r", nonce="m", qop="auth"', DIGEST))
    assert isinstance(action, Send)
    p = fields(action.header)
    assert p["algorithm"] == "SHA-256" and p["nonce"] == "n1" and p["nc"] == "00000001"
    method, uri = (("GET", "/dir/index.html") if party is ORIGIN else ("CONNECT", "api.example:443"))
    assert p["uri"] == uri
    ha1 = h(f"{USER}:r:{PASSWORD}")
    assert p["response"] == h(f"{ha1}:n1:00000001:{p['cnonce']}:auth:{h(f'{method}:{uri}')}")


@PARTIES
def test_a_refusal_names_the_scheme_and_realm_and_never_the_password(party: Party) -> None:
    dialogue = dialogue_for(party)
    dialogue.on_reply(challenge(party, DIGEST))
    action = dialogue.on_reply(challenge(party, DIGEST))
    assert isinstance(action, GiveUp) and not action.mutual
    assert action.reason == f"the {party.noun} refused the Digest SHA-256 credentials (realm 'r')"
    assert PASSWORD not in action.reason
    assert dialogue.on_reply(challenge(party, DIGEST)) == Done()  # over: nothing more is sent
    assert dialogue.resend() is None


# -- up front, the store, and the budget ----------------------------------------------------


def answered_once(party: Party, spaces: ProtectionSpaces) -> None:
    dialogue = dialogue_for(party, spaces)
    assert isinstance(dialogue.on_reply(challenge(party, DIGEST)), Send)
    assert dialogue.on_reply(ok()) == Done()


@PARTIES
def test_an_accepted_answer_is_sent_up_front_next_time_with_the_next_nc(party: Party) -> None:
    spaces = ProtectionSpaces()
    answered_once(party, spaces)
    counts = []
    for _ in range(3):
        dialogue = dialogue_for(party, spaces)
        header = dialogue.first()
        assert header is not None
        counts.append(fields(header)["nc"])
        assert dialogue.on_reply(ok()) == Done()
    assert counts == ["00000002", "00000003", "00000004"]


@PARTIES
def test_refused_up_front_credentials_are_forgotten_and_the_challenge_answered_once(party: Party) -> None:
    spaces = ProtectionSpaces()
    answered_once(party, spaces)
    dialogue = dialogue_for(party, spaces)
    assert dialogue.first() is not None
    action = dialogue.on_reply(challenge(party, ROTATED))  # a silent rotation: not stale
    assert isinstance(action, Send) and fields(action.header)["nonce"] == "n3"
    assert len(spaces) == 0  # the spent nonce is never sent up front again
    assert isinstance(dialogue.on_reply(challenge(party, ROTATED)), GiveUp)


@PARTIES
def test_item_8_every_dialogue_sends_credentials_at_most_twice(party: Party) -> None:
    """One success, then every later answer refused as stale: two credentialed
    requests per dialogue, for the origin and the proxy alike."""
    spaces = ProtectionSpaces()
    answered_once(party, spaces)
    for _ in range(3):
        dialogue = dialogue_for(party, spaces)
        sent = 1 if dialogue.first() is not None else 0
        for _ in range(10):
            action = dialogue.on_reply(challenge(party, STALE))
            if not isinstance(action, Send):
                break
            sent += 1
        assert isinstance(action, GiveUp) and sent == 2
        spaces.clear()
        answered_once(party, spaces)


@PARTIES
def test_a_smaller_budget_is_one_value(party: Party) -> None:
    spaces = ProtectionSpaces()
    answered_once(party, spaces)
    dialogue = dialogue_for(party, spaces, budget=Budget(credentialed=1))
    assert dialogue.first() is not None and dialogue.budget.exhausted
    assert isinstance(dialogue.on_reply(challenge(party, STALE)), GiveUp)


@PARTIES
def test_credentials_up_front_are_first_without_a_dialogue(party: Party) -> None:
    """What ``first()`` sends, computed without a Dialogue; a dialogue made afterwards with
    ``sent=`` judges the reply as if it had sent them (budget spent, refusal forgotten)."""
    spaces = ProtectionSpaces()
    answered_once(party, spaces)
    target = target_for(party)
    sent = credentials_up_front(spaces, target.method, target.uri, target.space_url, target.body)
    assert sent is not None and sent.up_front and sent.nonce_count == 2
    assert fields(sent.answer.header)["nc"] == "00000002"
    assert sent.read_on_success(party) == party.info_header  # Digest: rspauth, nextnonce
    dialogue = Dialogue(party, CREDENTIALS, target, spaces, sent=sent)
    assert dialogue.budget == Budget(credentialed=1)
    action = dialogue.on_reply(challenge(party, ROTATED))
    assert isinstance(action, Send) and fields(action.header)["nonce"] == "n3"
    assert len(spaces) == 0  # refused up front: forgotten, as after first()
    assert credentials_up_front(spaces, target.method, target.uri, target.space_url) is None


def test_preemptive_basic_up_front_reads_nothing_on_success() -> None:
    target = target_for(ORIGIN)
    sent = credentials_up_front(
        None, "GET", target.uri, target.space_url, credentials=CREDENTIALS, preemptive_basic=True
    )
    assert sent is not None and sent.answer.header.startswith("Basic ")
    assert sent.read_on_success(ORIGIN) is None
    assert credentials_up_front(None, "GET", target.uri, target.space_url, credentials=CREDENTIALS) is None


def test_without_a_store_nothing_is_sent_up_front_or_kept() -> None:
    dialogue = Dialogue(PROXY, CREDENTIALS, target_for(PROXY), None)
    assert dialogue.first() is None
    assert isinstance(dialogue.on_reply(challenge(PROXY, DIGEST)), Send)
    assert dialogue.on_reply(ok()) == Done()
    assert fields(dialogue.resend() or "")["nc"] == "00000002"  # its own count, for this hop only


@PARTIES
def test_resend_gives_the_next_nc_never_the_same_pair(party: Party) -> None:
    spaces = ProtectionSpaces()
    dialogue = dialogue_for(party, spaces)
    assert dialogue.resend() is None  # nothing sent yet
    first = dialogue.on_reply(challenge(party, DIGEST))
    assert isinstance(first, Send)
    second = dialogue.resend()
    assert second is not None and fields(second)["nc"] == "00000002"
    dialogue.on_reply(ok())  # accepted: now in the store, shared with other requests
    other = dialogue_for(party, spaces)
    assert fields(other.first() or "")["nc"] == "00000003"
    assert fields(dialogue.resend() or "")["nc"] == "00000004"


def test_preemptive_basic_is_up_front_and_a_refusal_is_answered() -> None:
    dialogue = dialogue_for(ORIGIN, preemptive_basic=True)
    header = dialogue.first()
    assert header is not None and header.startswith("Basic ")
    assert isinstance(dialogue.on_reply(challenge(ORIGIN, DIGEST)), Send)


# -- what cannot be sent ----------------------------------------------------------------------


@PARTIES
def test_a_basic_user_name_with_a_colon_falls_back_or_says_why(party: Party) -> None:
    colon = Credentials("domain:user", "p")
    action = dialogue_for(party, credentials=colon).on_reply(challenge(party, BASIC, DIGEST))
    assert isinstance(action, Send) and action.header.startswith("Digest ")
    action = dialogue_for(party, credentials=colon).on_reply(challenge(party, BASIC))
    assert isinstance(action, GiveUp) and "':'" in action.reason and "Basic" in action.reason


@PARTIES
def test_auth_int_with_a_body_that_cannot_be_read_falls_back(party: Party) -> None:
    def unreadable() -> bytes:
        raise UnsendableBody("a generator")

    auth_int = 'Digest realm="r", nonce="n", qop="auth-int", algorithm=SHA-256'
    dialogue = dialogue_for(party, body=unreadable)
    action = dialogue.on_reply(challenge(party, auth_int, 'Digest realm="r", nonce="m", algorithm=MD5, qop="auth"'))
    assert isinstance(action, Send) and fields(action.header)["algorithm"] == "MD5"
    action = dialogue_for(party, body=unreadable).on_reply(challenge(party, auth_int))
    assert isinstance(action, GiveUp) and "a generator" in action.reason


@PARTIES
def test_schemes_restriction_never_answers_basic(party: Party) -> None:
    action = dialogue_for(party, schemes=frozenset({"digest"})).on_reply(challenge(party, BASIC))
    assert isinstance(action, GiveUp) and "not allowed" in action.reason


# -- Authentication-Info (RFC 7616 §3.5) -------------------------------------------------------


def rspauth(header: str, method_less_a2: str) -> str:
    p = fields(header)
    ha1 = h(f"{USER}:r:{PASSWORD}")
    return h(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{h(':' + method_less_a2)}")


@PARTIES
def test_a_matching_rspauth_is_accepted_and_a_wrong_one_is_an_impostor(party: Party) -> None:
    spaces = ProtectionSpaces()
    dialogue = dialogue_for(party, spaces)
    action = dialogue.on_reply(challenge(party, DIGEST))
    assert isinstance(action, Send)
    assert dialogue.on_reply(ok(f'rspauth="{rspauth(action.header, dialogue.target.uri)}"')) == Done()
    other = dialogue_for(party, spaces)
    header = other.first() or ""
    verdict = other.on_reply(ok('rspauth="' + "0" * 64 + '"'))
    assert isinstance(verdict, GiveUp) and verdict.mutual and "rspauth" in verdict.reason
    assert len(spaces) == 0 and header  # an impostor's space is not used again


@PARTIES
def test_nextnonce_is_followed_with_nc_from_1(party: Party) -> None:
    spaces = ProtectionSpaces()
    dialogue = dialogue_for(party, spaces)
    dialogue.on_reply(challenge(party, DIGEST))
    dialogue.on_reply(ok('nextnonce="fresh"'))
    p = fields(dialogue_for(party, spaces).first() or "")
    assert (p["nonce"], p["nc"]) == ("fresh", "00000001")


def test_a_malformed_authentication_info_is_ignored() -> None:
    dialogue = dialogue_for(ORIGIN)
    dialogue.on_reply(challenge(ORIGIN, DIGEST))
    assert dialogue.on_reply(ok('rspauth="unterminated')) == Done()


# -- a scheme whose answer takes more than one leg -------------------------------------------


class TwoLegResponder:
    """Stands in for NTLM: a continuation token in the next challenge is not a refusal."""

    needs_body = False
    nonce = None
    pinned = True

    def __init__(self) -> None:
        self.choice = Choice(Challenge("Fake", {"realm": "r"}), "fake", 100)

    def answer(self, method: str, uri: str, nonce_count: int, body: bytes = b"") -> Answer:
        return Answer("Fake leg1")

    def with_nonce(self, nonce: str) -> "TwoLegResponder":
        return self

    def next_leg(self, challenges: Sequence[Challenge], session: object = None) -> Optional[Answer]:
        for item in challenges:
            if item.scheme == "Fake" and item.token68:
                return Answer(f"Fake after-{item.token68}", session=session)
        return None

    def verify(self, challenges: Sequence[Challenge], session: object = None) -> Optional[str]:
        return None

    def reusable(self, session: object = None) -> bool:
        return False


def test_a_continuation_leg_is_sent_without_spending_the_budget() -> None:
    spaces = ProtectionSpaces()
    spaces.remember(origin_of(URL), ("/",), TwoLegResponder())  # type: ignore[arg-type]
    dialogue = dialogue_for(ORIGIN, spaces)
    assert dialogue.first() == "Fake leg1"
    budget = dialogue.budget
    action = dialogue.on_reply(challenge(ORIGIN, "Fake token2"))
    assert action == Send("Fake after-token2", pinned=True) and dialogue.budget == budget
    assert dialogue.on_reply(ok()) == Done()


def test_continuation_legs_are_bounded() -> None:
    spaces = ProtectionSpaces()
    spaces.remember(origin_of(URL), ("/",), TwoLegResponder())  # type: ignore[arg-type]
    dialogue = dialogue_for(ORIGIN, spaces)
    dialogue.first()
    sends = 0
    for _ in range(MAX_LEGS * 2):
        if not isinstance(dialogue.on_reply(challenge(ORIGIN, "Fake again", DIGEST)), Send):
            break
        sends += 1
    assert sends <= MAX_LEGS + Budget().credentialed
