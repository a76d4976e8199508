"""Protection spaces: origins, covered paths, and the shared Digest nonce count."""

import sys
import threading

import pytest

from requests_challenge._grammar import parse_challenges
from requests_challenge._ranking import choose_challenge
from requests_challenge._spaces import ProtectionSpace, ProtectionSpaces, origin_of, space_prefixes


def choice(header):
    result = choose_challenge(parse_challenges(header))
    assert result is not None
    return result


BASIC = 'Basic realm="r"'
DIGEST = 'Digest realm="r", nonce="n1", qop="auth"'


def space_for(url, header=DIGEST, prefixes=None):
    the_choice = choice(header)
    return ProtectionSpace(origin_of(url), prefixes or space_prefixes(the_choice, url), the_choice)


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
    space = space_for("http://h/", prefixes=("/foo",))
    origin = origin_of("http://h/")
    assert space.covers(origin, "/foo") == 4
    assert space.covers(origin, "/foo/") == 4
    assert space.covers(origin, "/foo/bar") == 4
    assert space.covers(origin, "/foobar") == -1
    assert space.covers(origin, "/fo") == -1
    assert space.covers(origin, "/") == -1
    directory = space_for("http://h/", prefixes=("/foo/",))
    assert directory.covers(origin, "/foo/bar") == 5
    assert directory.covers(origin, "/foobar") == -1
    assert directory.covers(origin, "/foo") == -1


def test_claim_respects_whole_segments():
    spaces = ProtectionSpaces()
    spaces.remember(space_for("http://h/", prefixes=("/foo",)))
    assert spaces.claim("http://h/foobar") is None
    assert spaces.claim("http://h/foo-bar/x") is None
    assert spaces.claim("http://h/foo/bar") is not None
    assert spaces.claim("http://h/foo?x=1") is not None


def test_basic_space_covers_below_its_directory_only():
    spaces = ProtectionSpaces()
    url = "http://h/docs/guide/index.html"
    spaces.remember(space_for(url, BASIC))
    assert spaces.claim("http://h/docs/guide/other.html") is not None
    assert spaces.claim("http://h/docs/guide/sub/deeper") is not None
    assert spaces.claim("http://h/docs/other.html") is None
    assert spaces.claim("http://h/docs/guidebook/") is None


# --- claims and nonce counts ---------------------------------------------------------


def test_claim_returns_the_space_its_choice_and_increasing_counts():
    spaces = ProtectionSpaces()
    space = space_for("http://h/")
    spaces.remember(space)
    claimed = [spaces.claim("http://h/a") for _ in range(3)]
    assert [c[0] for c in claimed] == [space] * 3
    assert [c[1] for c in claimed] == [space.choice] * 3
    assert [c[2] for c in claimed] == [1, 2, 3]


def test_claims_are_unique_and_increasing_across_threads():
    spaces = ProtectionSpaces()
    spaces.remember(space_for("http://h/"))
    threads, per_thread = 8, 200
    seen = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads)

    def work(index):
        barrier.wait()
        for _ in range(per_thread):
            seen[index].append(spaces.claim("http://h/resource")[2])

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
    space = space_for("http://h/")
    spaces.remember(space)
    assert [spaces.claim("http://h/")[2] for _ in range(2)] == [1, 2]
    spaces.renew_nonce(space, "n2")
    _, the_choice, count = spaces.claim("http://h/")
    assert count == 1
    assert the_choice.digest.nonce == "n2"
    assert space.choice.digest.nonce == "n2"
    assert the_choice.digest.realm == "r" and the_choice.digest.qop == "auth"
    assert spaces.claim("http://h/")[2] == 2


def test_renew_with_the_same_nonce_keeps_counting():
    spaces = ProtectionSpaces()
    space = space_for("http://h/")
    spaces.remember(space)
    spaces.claim("http://h/")
    spaces.renew_nonce(space, "n1")
    assert spaces.claim("http://h/")[2] == 2


def test_renew_on_a_basic_space_changes_nothing():
    spaces = ProtectionSpaces()
    space = space_for("http://h/", BASIC)
    spaces.remember(space)
    before = space.choice
    spaces.claim("http://h/")
    spaces.renew_nonce(space, "n2")
    assert space.choice is before
    assert spaces.claim("http://h/")[2] == 2


# --- which space -----------------------------------------------------------------------


def test_a_different_origin_never_matches():
    spaces = ProtectionSpaces()
    spaces.remember(space_for("http://h/"))
    for url in ("https://h/", "http://h:8080/", "http://other/", "http://h.evil/", "http://sub.h/", "ftp://h/"):
        assert spaces.claim(url) is None, url
    assert spaces.claim("HTTP://H:80/x") is not None


def test_longest_prefix_wins():
    spaces = ProtectionSpaces()
    root = space_for("http://h/", DIGEST, prefixes=("/",))
    api = space_for("http://h/", 'Digest realm="api", nonce="n"', prefixes=("/api/",))
    spaces.remember(api)
    spaces.remember(root)
    assert spaces.claim("http://h/api/x")[0] is api
    assert spaces.claim("http://h/apix")[0] is root
    assert spaces.claim("http://h/")[0] is root


def test_most_recent_wins_ties():
    spaces = ProtectionSpaces()
    one = space_for("http://h/", 'Digest realm="one", nonce="n"')
    two = space_for("http://h/", 'Digest realm="two", nonce="n"')
    spaces.remember(one)
    spaces.remember(two)
    assert spaces.claim("http://h/x")[0] is two
    spaces.remember(one)  # remembered again: now the most recent
    assert spaces.claim("http://h/x")[0] is one


def test_same_origin_scheme_and_realm_replace():
    spaces = ProtectionSpaces()
    old = space_for("http://h/")
    new = space_for("http://h/", 'Digest realm="r", nonce="fresh"')
    spaces.remember(old)
    spaces.remember(new)
    assert len(spaces) == 1
    assert spaces.claim("http://h/")[0] is new
    basic = space_for("http://h/", BASIC)
    spaces.remember(basic)  # same realm, other scheme: kept apart
    assert len(spaces) == 2


def test_limit_evicts_the_oldest():
    spaces = ProtectionSpaces(limit=2)
    first = space_for("http://one/")
    second = space_for("http://two/")
    third = space_for("http://three/")
    spaces.remember(first)
    spaces.remember(second)
    spaces.remember(third)
    assert len(spaces) == 2
    assert spaces.claim("http://one/") is None
    assert spaces.claim("http://two/")[0] is second
    assert spaces.claim("http://three/")[0] is third
    spaces.remember(second)  # refreshed: now third is the oldest
    spaces.remember(space_for("http://four/"))
    assert spaces.claim("http://three/") is None
    assert spaces.claim("http://two/")[0] is second
    assert set(spaces.snapshot()) == {(("http", "two", 80), "digest", "r"), (("http", "four", 80), "digest", "r")}


def test_forget_and_clear():
    spaces = ProtectionSpaces()
    space = space_for("http://h/")
    other = space_for("http://h/", 'Digest realm="r", nonce="other"')
    spaces.remember(space)
    spaces.forget(other)  # not the one remembered: nothing happens
    assert spaces.claim("http://h/")[0] is space
    spaces.forget(space)
    assert spaces.claim("http://h/") is None and len(spaces) == 0
    spaces.remember(space)
    spaces.clear()
    assert spaces.claim("http://h/") is None and len(spaces) == 0


def test_snapshot_shows_keys_and_prefixes():
    spaces = ProtectionSpaces()
    spaces.remember(space_for("https://H:443/a/b", BASIC))
    assert spaces.snapshot() == {(("https", "h", 443), "basic", "r"): ("/a/",)}
