"""The protection-space store: origins, covered paths, and the shared nonce count."""

import sys
import threading
from typing import List

import pytest

from requests_challenge._grammar import parse_challenges
from requests_challenge._ranking import choose_challenge
from requests_challenge._dialogue import responder_for
from requests_challenge._schemes import Credentials
from requests_challenge._spaces import ProtectionSpaces, _covers_length, origin_of, space_prefixes

CREDENTIALS = Credentials("user", "password")


def choice(header):
    result = choose_challenge(parse_challenges(header))
    assert result is not None
    return result


BASIC = 'Basic realm="r"'
DIGEST = 'Digest realm="r", nonce="n1", qop="auth"'


def remember(spaces, url, header=DIGEST, prefixes=None):
    """Remember the space ``header`` opens at ``url``, as a dialogue does; (key, responder)."""
    the_choice = choice(header)
    responder = responder_for(the_choice, CREDENTIALS)
    key = spaces.remember(origin_of(url), prefixes or space_prefixes(the_choice, url), responder)
    return key, responder


def responder_at(spaces, url):
    """The responder of the space ``url`` is claimed in (a claim is (key, responder, nonce_count))."""
    _, responder, _ = spaces.claim(url)
    return responder


def nonce_count(spaces, url):
    _, _, count = spaces.claim(url)
    return count


# --- origins ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, origin",
    [
        ("http://example.com/x", ("http", "example.com", 80)),
        ("http://example.com:80/x", ("http", "example.com", 80)),
        ("HTTP://Example.COM/x", ("http", "example.com", 80)),
        ("https://example.com", ("https", "example.com", 443)),
        ("https://EXAMPLE.com:443/a?b#c", ("https", "example.com", 443)),
        ("http://example.com:8080/", ("http", "example.com", 8080)),
        ("https://example.com:80/", ("https", "example.com", 80)),
        ("http://user:pw@example.com/", ("http", "example.com", 80)),
        ("http://[::1]:8443/", ("http", "::1", 8443)),
    ],
)
def test_origin_of(url, origin):
    assert origin_of(url) == origin


def test_http_and_https_are_different_origins():
    assert origin_of("http://example.com/") != origin_of("https://example.com/")
    assert origin_of("http://example.com:443/") != origin_of("https://example.com/")
    assert origin_of("http://example.com/") != origin_of("http://example.com:8080/")
    assert origin_of("http://example.com/") != origin_of("http://www.example.com/")


# --- prefixes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, prefix",
    [
        ("http://h/a/b/c.html", "/a/b/"),
        ("http://h/a/b/", "/a/b/"),
        ("http://h/a/b", "/a/"),
        ("http://h/file", "/"),
        ("http://h/", "/"),
        ("http://h", "/"),
        ("http://h/a/b?next=/x/y/z", "/a/"),
        ("http://h/a/b#/x/y", "/a/"),
    ],
)
def test_basic_covers_the_directory_of_the_challenged_url(url, prefix):
    assert space_prefixes(choice(BASIC), url) == (prefix,)


@pytest.mark.parametrize("header", [DIGEST, DIGEST + ', domain=""', DIGEST + ", domain="])
def test_digest_without_domain_covers_the_whole_origin(header):
    assert space_prefixes(choice(header), "http://h/deep/path/file") == ("/",)


def test_digest_domain_relative_and_absolute_on_the_same_origin():
    header = DIGEST + ', domain="/private/ http://h/other/ http://H:80/third  HTTP://h/fourth?x=1 /"'
    assert space_prefixes(choice(header), "http://h/private/x") == ("/private/", "/other/", "/third", "/fourth", "/")
    assert space_prefixes(choice(DIGEST + ', domain="http://h"'), "http://h/x") == ("/",)


def test_digest_domain_on_other_origins_is_ignored():
    header = DIGEST + ', domain="/a/ https://h/b/ http://evil.example/c/ http://h:8080/d/ //h/e/ ftp://h/f/"'
    assert space_prefixes(choice(header), "http://h/a/x") == ("/a/",)


@pytest.mark.parametrize("domain", ["::", "httpsHost", "relative/path", "http://other/ ::", "http://[::1"])
def test_junk_domain_falls_back_to_the_whole_origin(domain):
    assert space_prefixes(choice(DIGEST + f', domain="{domain}"'), "http://h/x/y") == ("/",)


def test_junk_beside_a_good_domain_uri_is_ignored():
    assert space_prefixes(choice(DIGEST + ', domain=":: /api/ httpsHost"'), "http://h/api/x") == ("/api/",)


def test_prefixes_match_whole_segments():
    assert _covers_length(("/foo",), "/foo") == 4
    assert _covers_length(("/foo",), "/foo/") == 4
    assert _covers_length(("/foo",), "/foo/bar") == 4
    assert _covers_length(("/foo",), "/foobar") == -1
    assert _covers_length(("/foo",), "/fo") == -1
    assert _covers_length(("/foo",), "/") == -1
    assert _covers_length(("/foo/",), "/foo/bar") == 5
    assert _covers_length(("/foo/",), "/foobar") == -1
    assert _covers_length(("/foo/",), "/foo") == -1
    assert _covers_length(("/", "/foo/"), "/foo/x") == 5


def test_claim_respects_whole_segments():
    spaces = ProtectionSpaces()
    remember(spaces, "http://h/", prefixes=("/foo",))
    assert spaces.claim("http://h/foobar") is None
    assert spaces.claim("http://h/foo-bar/x") is None
    assert spaces.claim("http://h/foo/bar") is not None
    assert spaces.claim("http://h/foo?x=1") is not None


def test_basic_space_covers_below_its_directory_only():
    spaces = ProtectionSpaces()
    remember(spaces, "http://h/docs/guide/index.html", BASIC)
    assert spaces.claim("http://h/docs/guide/other.html") is not None
    assert spaces.claim("http://h/docs/guide/sub/deeper") is not None
    assert spaces.claim("http://h/docs/other.html") is None
    assert spaces.claim("http://h/docs/guidebook/") is None


# --- claims and nonce counts ---------------------------------------------------------


def test_claim_returns_the_key_the_responder_and_increasing_counts():
    spaces = ProtectionSpaces()
    key, responder = remember(spaces, "http://h/")
    claimed = [spaces.claim("http://h/a") for _ in range(3)]
    assert [c[0] for c in claimed] == [key] * 3
    assert all(c[1] is responder for c in claimed)
    assert [c[2] for c in claimed] == [1, 2, 3]


def test_one_counter_per_nonce_for_fresh_answers_and_claims():
    """Apache hands one nonce to every challenge within a second: concurrent first
    answers, and the space remembered afterwards, all draw from one counter."""
    spaces = ProtectionSpaces()
    origin = origin_of("http://h/")
    responders = [responder_for(choice(DIGEST), CREDENTIALS) for _ in range(3)]
    assert [spaces.reserve(origin, r) for r in responders] == [1, 2, 3]
    remember(spaces, "http://h/")
    assert nonce_count(spaces, "http://h/") == 4
    other = responder_for(choice('Digest realm="r", nonce="other", qop="auth"'), CREDENTIALS)
    assert spaces.reserve(origin, other) == 1
    assert spaces.reserve(origin_of("http://elsewhere/"), responders[0]) == 1  # per origin


def test_nonce_counters_are_bounded():
    spaces = ProtectionSpaces(max_nonces=4)
    origin = origin_of("http://h/")
    for index in range(10):
        spaces.reserve(origin, responder_for(choice(f'Digest realm="r", nonce="n{index}", qop="auth"'), CREDENTIALS))
    assert len(spaces._counts) == 4


def test_one_realm_accumulates_its_directories_bounded():
    """Two directories under one Basic realm: both stay covered (not replacing each other)."""
    spaces = ProtectionSpaces(max_prefixes=3)
    remember(spaces, "http://h/a/x", BASIC)
    remember(spaces, "http://h/b/x", BASIC)
    assert spaces.claim("http://h/a/y") is not None and spaces.claim("http://h/b/y") is not None
    assert len(spaces) == 1
    for directory in "cde":
        remember(spaces, f"http://h/{directory}/x", BASIC)
    assert spaces.snapshot() == {(("http", "h", 80), "basic", "r"): ("/c/", "/d/", "/e/")}
    remember(spaces, "http://h/d/x", BASIC)  # known again: now the newest
    assert spaces.snapshot() == {(("http", "h", 80), "basic", "r"): ("/c/", "/e/", "/d/")}


def test_claims_are_unique_and_increasing_across_threads():
    spaces = ProtectionSpaces()
    remember(spaces, "http://h/")
    threads, per_thread = 8, 200
    seen = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads)

    def work(index):
        barrier.wait()
        for _ in range(per_thread):
            seen[index].append(nonce_count(spaces, "http://h/resource"))

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, to expose races
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
    finally:
        sys.setswitchinterval(interval)
    every = [count for counts in seen for count in counts]
    assert len(every) == threads * per_thread
    assert sorted(every) == list(range(1, threads * per_thread + 1))
    for counts in seen:
        assert counts == sorted(counts) and len(set(counts)) == len(counts)


def test_renew_nonce_resets_the_count():
    spaces = ProtectionSpaces()
    key, responder = remember(spaces, "http://h/")
    assert [nonce_count(spaces, "http://h/") for _ in range(2)] == [1, 2]
    spaces.renew_nonce(key, responder, "n2")
    _, renewed, count = spaces.claim("http://h/")
    assert count == 1
    offer = renewed.choice.digest
    assert offer.nonce == "n2" and offer.realm == "r" and offer.qop == "auth"
    assert 'nonce="n2"' in renewed.answer("GET", "/", 1).header
    assert responder.choice.digest.nonce == "n1"  # responders never change: a new one is stored
    assert nonce_count(spaces, "http://h/") == 2


def test_renew_from_a_replaced_responder_changes_nothing():
    spaces = ProtectionSpaces()
    key, old = remember(spaces, "http://h/")
    _, new = remember(spaces, "http://h/", 'Digest realm="r", nonce="fresh", qop="auth"')
    spaces.renew_nonce(key, old, "n2")  # old news: another request already replaced it
    assert responder_at(spaces, "http://h/") is new


def test_renew_with_the_same_nonce_keeps_counting():
    spaces = ProtectionSpaces()
    key, responder = remember(spaces, "http://h/")
    spaces.claim("http://h/")
    spaces.renew_nonce(key, responder, "n1")
    assert nonce_count(spaces, "http://h/") == 2


def test_renew_on_a_basic_space_changes_nothing():
    spaces = ProtectionSpaces()
    key, responder = remember(spaces, "http://h/", BASIC)
    spaces.claim("http://h/")
    spaces.renew_nonce(key, responder, "n2")
    assert responder_at(spaces, "http://h/") is responder  # Basic has no nonce, no count


# --- which space -----------------------------------------------------------------------


def test_a_different_origin_never_matches():
    spaces = ProtectionSpaces()
    remember(spaces, "http://h/")
    for url in ("https://h/", "http://h:8080/", "http://other/", "http://h.evil/", "http://sub.h/", "ftp://h/"):
        assert spaces.claim(url) is None, url
    assert spaces.claim("HTTP://H:80/x") is not None


def test_longest_prefix_wins():
    spaces = ProtectionSpaces()
    _, api = remember(spaces, "http://h/", 'Digest realm="api", nonce="n"', prefixes=("/api/",))
    _, root = remember(spaces, "http://h/", DIGEST, prefixes=("/",))
    assert responder_at(spaces, "http://h/api/x") is api
    assert responder_at(spaces, "http://h/apix") is root
    assert responder_at(spaces, "http://h/") is root


def test_most_recent_wins_ties():
    spaces = ProtectionSpaces()
    remember(spaces, "http://h/", 'Digest realm="one", nonce="n"')
    _, two = remember(spaces, "http://h/", 'Digest realm="two", nonce="n"')
    assert responder_at(spaces, "http://h/x") is two
    _, one = remember(spaces, "http://h/", 'Digest realm="one", nonce="n"')  # now the most recent
    assert responder_at(spaces, "http://h/x") is one


def test_same_origin_scheme_and_realm_replace():
    spaces = ProtectionSpaces()
    remember(spaces, "http://h/")
    _, new = remember(spaces, "http://h/", 'Digest realm="r", nonce="fresh"')
    assert len(spaces) == 1
    assert responder_at(spaces, "http://h/") is new
    remember(spaces, "http://h/", BASIC)  # same realm, other scheme: kept apart
    assert len(spaces) == 2


def test_limit_evicts_the_oldest():
    spaces = ProtectionSpaces(limit=2)
    remember(spaces, "http://one/")
    remember(spaces, "http://two/")
    _, third = remember(spaces, "http://three/")
    assert len(spaces) == 2
    assert spaces.claim("http://one/") is None
    assert responder_at(spaces, "http://three/") is third
    _, second = remember(spaces, "http://two/")  # refreshed: now third is the oldest
    remember(spaces, "http://four/")
    assert spaces.claim("http://three/") is None
    assert responder_at(spaces, "http://two/") is second
    assert set(spaces.snapshot()) == {(("http", "two", 80), "digest", "r"), (("http", "four", 80), "digest", "r")}


def test_forget_only_the_responder_that_was_refused_and_clear():
    spaces = ProtectionSpaces()
    key, old = remember(spaces, "http://h/")
    _, new = remember(spaces, "http://h/", 'Digest realm="r", nonce="other"')
    spaces.forget(key, old)  # replaced meanwhile: the newer one stays
    assert responder_at(spaces, "http://h/") is new
    spaces.forget(key, new)
    assert spaces.claim("http://h/") is None and len(spaces) == 0
    remember(spaces, "http://h/")
    spaces.clear()
    assert spaces.claim("http://h/") is None and len(spaces) == 0


def test_the_space_found_for_a_url_follows_every_change():
    """claim() remembers which space covers a URL; remember, forget and clear change that."""
    spaces = ProtectionSpaces()
    assert spaces.claim("http://h/api/x") is None  # nothing yet, and remembered as nothing
    _, root = remember(spaces, "http://h/")
    assert responder_at(spaces, "http://h/api/x") is root
    key, api = remember(spaces, "http://h/api/", 'Digest realm="api", nonce="n2", qop="auth"', ("/api/",))
    assert responder_at(spaces, "http://h/api/x") is api  # the longer prefix, now
    spaces.forget(key, api)
    assert responder_at(spaces, "http://h/api/x") is root
    spaces.clear()
    assert spaces.claim("http://h/api/x") is None


def test_the_urls_remembered_are_bounded():
    spaces = ProtectionSpaces(max_urls=4)
    _, responder = remember(spaces, "http://h/")
    for i in range(10):
        assert responder_at(spaces, f"http://h/page{i}") is responder
    assert len(spaces._found) <= 4


def test_snapshot_shows_keys_and_prefixes():
    spaces = ProtectionSpaces()
    remember(spaces, "https://H:443/a/b", BASIC)
    assert spaces.snapshot() == {(("https", "h", 443), "basic", "r"): ("/a/",)}


# -- cold start: first contact -------------------------------------------------------

ORIGIN_A = ("http", "a.example", 80)


def test_the_first_request_to_an_origin_leads_and_the_others_wait_for_it() -> None:
    spaces = ProtectionSpaces()
    mine, theirs = spaces.begin_first_contact(ORIGIN_A)
    assert mine is not None and theirs is None
    assert spaces.begin_first_contact(ORIGIN_A) == (None, mine)
    assert spaces.begin_first_contact(("http", "b.example", 80))[0] is not None  # another origin: its own turn
    spaces.end_first_contact(mine, answered=True)
    assert spaces.begin_first_contact(ORIGIN_A) == (None, None)  # answered once: nobody waits again


def test_a_failed_first_contact_lets_the_next_request_lead() -> None:
    spaces = ProtectionSpaces()
    mine, _ = spaces.begin_first_contact(ORIGIN_A)
    assert mine is not None
    spaces.end_first_contact(mine, answered=False)
    spaces.end_first_contact(mine, answered=True)  # idempotent: a finaliser may end it again
    again, theirs = spaces.begin_first_contact(ORIGIN_A)
    assert again is not None and again is not mine and theirs is None


def test_waiters_wake_when_the_first_contact_ends() -> None:
    spaces = ProtectionSpaces()
    mine, _ = spaces.begin_first_contact(ORIGIN_A)
    assert mine is not None
    woken: List[str] = []
    assert spaces.when_first_contact_ends(mine, lambda: woken.append("callback"))
    waiter = threading.Thread(target=lambda: (spaces.wait_first_contact(mine, 30), woken.append("thread")))
    waiter.start()
    spaces.end_first_contact(mine, answered=True)
    waiter.join(timeout=30)
    assert sorted(woken) == ["callback", "thread"]
    assert not spaces.when_first_contact_ends(mine, lambda: woken.append("late"))  # over: not kept
    spaces.wait_first_contact(mine, None)  # over: returns at once, whatever the timeout


def test_a_wait_ends_at_its_timeout_when_the_first_contact_never_does() -> None:
    spaces = ProtectionSpaces()
    mine, _ = spaces.begin_first_contact(ORIGIN_A)
    assert mine is not None
    spaces.wait_first_contact(mine, 0)
    assert not mine.over


def test_origins_that_answered_are_remembered_bounded() -> None:
    spaces = ProtectionSpaces(max_met=2)
    for host in ("a", "b", "c"):
        mine, _ = spaces.begin_first_contact(("http", host, 80))
        assert mine is not None
        spaces.end_first_contact(mine, answered=True)
    assert spaces.begin_first_contact(("http", "c", 80)) == (None, None)
    assert spaces.begin_first_contact(("http", "a", 80))[0] is not None  # forgotten: leads again
