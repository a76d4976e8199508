"""In-process measurements, no network: parse speed (4) and CPU per request (5)."""

from __future__ import annotations

import hashlib
import re
import os
import secrets
import threading
import time
from typing import Callable, Dict, List, Tuple

import httpx
import requests
from requests.structures import CaseInsensitiveDict
from requests.utils import parse_dict_header
from urllib3 import HTTPResponse
from urllib3._collections import HTTPHeaderDict
from werkzeug.datastructures import WWWAuthenticate
import www_authenticate

from _contenders import (  # first: it puts the working tree on sys.path
    CANNED_BODY,
    CANNED_CHALLENGE,
    GUESS,
    HTTPX_DIGEST,
    HTTPX_NONE,
    OURS,
    REQUESTS_DIGEST,
    REQUESTS_NONE,
    CannedAdapter,
    RequestsClient,
    canned_client,
)
from requests_challenge import digest_authorization, parse_challenges, rank_challenges
from _report import Target, fmt_us, section, table
from _timing import calibrate, interleaved, median, spread

USER, PASSWORD = "alice", "secret"
URL = "http://127.0.0.1:8080/sha256/hello.txt"

# -- (4) parse speed ----------------------------------------------------------------

# RFC 7616 §3.9.1's example challenge.
TYPICAL = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
THREE = (
    'Negotiate, Digest realm="http-auth@example.org", qop="auth", algorithm=SHA-256, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", Basic realm="http-auth@example.org", charset="UTF-8"'
)
# What lighttpd's mod_auth sends for Digest SHA-256 with userhash; its nonce is
# the time in hex, ":" and a SHA-256 hex digest (73 characters, as captured).
LIGHTTPD = (
    'Digest realm="lt", charset="UTF-8", algorithm=SHA-256, '
    'nonce="6b0c99ca:e9d8eaff894916c4815e25f36593148937db0ed248bee0d5ba62bcb6a66c3a0b", qop="auth", userhash=true'
)
# Targets: parse_challenges at most this fraction of a peer's time on the same header.
PEER_RATIO = 0.5
PEER_TARGETS = ("requests parse_dict_header (as HTTPDigestAuth)", "werkzeug WWWAuthenticate.from_header")
HOSTILE_64_KIB_LIMIT = 10e-3  # seconds: the slowest hostile 64 KiB header
KIB = 1024


def _repeat_to(head: str, unit: Callable[[int], str], size: int) -> str:
    """``head`` plus numbered units, as many whole ones as fit in ``size`` characters."""
    parts, length, i = [head], len(head), 0
    while True:
        piece = unit(i)
        if length + len(piece) > size:
            return "".join(parts)
        parts.append(piece)
        length += len(piece)
        i += 1


# Header families, each at any size. "params" is well-formed (a long valid
# challenge); the others are what a hostile or broken server could send.
SHAPES: Dict[str, Tuple[str, Callable[[int], str]]] = {
    "params": ("valid Digest, many distinct params", lambda n: _repeat_to(TYPICAL, lambda i: f', p{i}="{"v" * 20}"', n)),
    "schemes": ("bare schemes 's0, s1, …'", lambda n: _repeat_to("Basic", lambda i: f", s{i}", n)),
    "commas": ("typical + '=,=,…'", lambda n: TYPICAL + ", " + "=," * ((n - len(TYPICAL) - 2) // 2)),
    "escapes": ("unterminated quoted '\\\"\\\"…'", lambda n: 'Digest realm="' + '\\"' * ((n - 14) // 2)),
    "quotes": ("'realm=\"a\"a\"a…' (quote soup)", lambda n: "Digest realm=" + '"a' * ((n - 13) // 2)),
    # The hardening audit's shapes; bench/hostile_headers.py times these and more, ours only.
    "pairs": ("quoted-pairs 'realm=\"\\\"\\\"…\"'", lambda n: 'Digest realm="' + '\\"' * ((n - 15) // 2) + '"'),
    "duplicates": ("duplicate params 'a=1, a=1, …'", lambda n: "Digest " + "a=1, " * ((n - 7) // 5)),
}
HOSTILE = ("schemes", "commas", "escapes", "quotes", "pairs", "duplicates")
SIZES_KIB = (1, 4, 16, 64)

_DIGEST_PREFIX = re.compile(r"digest ", flags=re.IGNORECASE)


def _requests_parse(header: str) -> object:
    # Exactly what requests' HTTPDigestAuth.handle_401 does with the header.
    return parse_dict_header(_DIGEST_PREFIX.sub("", header, count=1))


PARSERS: Dict[str, Callable[[str], object]] = {
    "requests-challenge parse_challenges": parse_challenges,
    "werkzeug WWWAuthenticate.from_header": WWWAuthenticate.from_header,
    "requests parse_dict_header (as HTTPDigestAuth)": _requests_parse,
    "www-authenticate parse": www_authenticate.parse,
}
OURS_PARSER = "requests-challenge parse_challenges"


def _calls(parser: Callable[[str], object], header: str) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            try:
                parser(header)
            except ValueError:  # a rejected hostile header costs what it costs
                pass

    return run


def _time_parsers(header: str, rounds: int, block: float) -> Dict[str, float]:
    runs = {}
    for name, parser in PARSERS.items():
        run = _calls(parser, header)
        runs[name] = (run, calibrate(run, block))
    samples = interleaved(runs, rounds)
    return {name: median([wall for wall, _ in s]) for name, s in samples.items()}


def parse_speed(quick: bool) -> List[Target]:
    section("4. Parse speed: one WWW-Authenticate value, µs per call (median, interleaved)")
    rounds, block = (5, 0.02) if quick else (15, 0.05)
    targets: List[Target] = []
    rows = []
    results = {}
    headers = {"typical": TYPICAL, "three challenges": THREE, "lighttpd": LIGHTTPD}
    for label, header in headers.items():
        results[label] = _time_parsers(header, rounds, block)
    for name in PARSERS:
        row = [name]
        for label in results:
            t = results[label][name]
            ours = results[label][OURS_PARSER]
            row += [fmt_us(t), "1" if name == OURS_PARSER else f"{t / ours:.2f}x"]
        rows.append(row)
    print(table(["parser", *(column for label in headers for column in (label, "vs ours"))], rows))
    print("  typical: RFC 7616 §3.9.1's challenge; three challenges: Negotiate + Digest SHA-256 + Basic; "
          "lighttpd: its Digest SHA-256 challenge with userhash.")
    print("  (vs ours > 1: slower than ours. requests parses only the params after 'Digest ', "
          "and werkzeug reads one challenge: both parse less.)")
    for peer in PEER_TARGETS:
        for label in ("typical", "lighttpd"):
            ours, theirs = results[label][OURS_PARSER], results[label][peer]
            targets.append(Target(
                f"4. parse_challenges / {peer.split(' (')[0]}, {label}",
                f"{ours / theirs:.2f}x ({fmt_us(ours)} vs {fmt_us(theirs)})",
                f"≤ {PEER_RATIO}x", ours <= PEER_RATIO * theirs))

    # Growth with size, ours and the others, per header family.
    big_rounds = 3 if quick else 5
    print()
    print(f"  Growth with size ({', '.join(f'{k} KiB' for k in SIZES_KIB)}): µs per call; "
          "'x16→64' is t(64 KiB)/t(16 KiB), 4 = linear")
    growth_rows = []
    ours_linear = True
    hostile_64: Dict[str, Dict[str, float]] = {}
    for shape, (description, make) in SHAPES.items():
        per_size: Dict[int, Dict[str, float]] = {}
        for kib in SIZES_KIB:
            header = make(kib * KIB)
            per_size[kib] = _time_parsers(header, big_rounds, block / 2)
        for name in PARSERS:
            times = [per_size[k][name] for k in SIZES_KIB]
            factor = times[-1] / times[-2]
            per_kib = times[-1] / SIZES_KIB[-1]
            short = name.split(" ")[0]
            growth_rows.append([f"{shape}: {short}", *(fmt_us(t) for t in times), fmt_us(per_kib), f"{factor:.1f}"])
            if name == OURS_PARSER and factor > 5.5:
                ours_linear = False
        if shape in HOSTILE:
            hostile_64[shape] = per_size[64]
    print(table(["family: parser", *(f"{k} KiB" for k in SIZES_KIB), "per KiB @64", "x16→64"], growth_rows))
    print("  families: " + "; ".join(f"{k} = {d}" for k, (d, _) in SHAPES.items()))
    worst = max(hostile_64, key=lambda s: hostile_64[s][OURS_PARSER])
    targets.append(Target("4. parse_challenges grows linearly (x16→64 ≤ 5.5 in every family)",
                          "yes" if ours_linear else "no", "linear", ours_linear))
    slowest = hostile_64[worst][OURS_PARSER]
    targets.append(Target("4. parse_challenges, slowest 64 KiB hostile header", f"{fmt_us(slowest)} ({worst})",
                          f"≤ {HOSTILE_64_KIB_LIMIT * 1e3:.0f} ms", slowest <= HOSTILE_64_KIB_LIMIT))
    return targets


# -- (5) CPU per authenticated request ---------------------------------------------


def _response_200(request: requests.PreparedRequest) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    headers = {"Content-Type": "text/plain", "Content-Length": str(len(CANNED_BODY))}
    response.headers = CaseInsensitiveDict(headers)
    response.raw = HTTPResponse(body=b"", headers=HTTPHeaderDict(headers), status=200, preload_content=False)
    response._content = CANNED_BODY  # type: ignore[attr-defined]
    response.request = request
    response.url = request.url or ""
    return response


def _one_block(run: Callable[[int], None], n: int) -> float:
    start = time.perf_counter()
    run(n)
    return time.perf_counter() - start


class _Prebuilt:
    """auth(request) + its hooks on a 200, for n prepared requests made before the clock starts."""

    def __init__(self, auth: requests.auth.AuthBase, template: requests.PreparedRequest) -> None:
        self.auth = auth
        self.template = template
        self.response = _response_200(template)
        self.copies: List[requests.PreparedRequest] = []

    def prepare(self, n: int) -> None:
        self.copies = []
        for _ in range(n):
            p = self.template.copy()
            p.hooks = {"response": []}
            self.copies.append(p)

    def __call__(self, n: int) -> None:
        auth, response = self.auth, self.response
        assert len(self.copies) == n, "prepare(n) first"
        for p in self.copies:
            auth(p)
            for hook in p.hooks["response"]:
                hook(response)


def _warm(contender, challenge: str = CANNED_CHALLENGE):
    """A contender's auth object after one real challenge (through the canned transport)."""
    client = canned_client(contender, USER, PASSWORD, challenge)
    client.get(URL)
    result = client.get(URL)
    assert result.exchanges == 1 and result.status == 200, (contender.key, result)
    return client


def _httpx_path(auth: httpx.Auth) -> Callable[[int], None]:
    request = httpx.Request("GET", URL)
    ok = httpx.Response(200, content=CANNED_BODY, request=request)

    def run(n: int) -> None:
        for _ in range(n):
            flow = auth.sync_auth_flow(request)
            next(flow)
            try:
                flow.send(ok)
            except StopIteration:
                pass

    return run


def _floor(with_cnonce: bool) -> Callable[[int], None]:
    ha1 = hashlib.sha256(b"alice:sha256 realm:secret").hexdigest()
    nonce = "6b05de37:39f6373cc265bb569e56aa45352fc63d916be43d9481fd2500008391d4597c3b"
    sha256 = hashlib.sha256

    def run(n: int) -> None:
        cnonce = "0123456789abcdef0123456789abcdef"
        for i in range(n):
            if with_cnonce:
                cnonce = secrets.token_hex(16)
            ha2 = sha256(b"GET:/sha256/hello.txt").hexdigest()
            sha256(f"{ha1}:{nonce}:{i + 1:08x}:{cnonce}:auth:{ha2}".encode()).hexdigest()

    return run


class _EssentialsAuth(requests.auth.AuthBase):
    """A reference, not a contender: the least a requests handler sending Digest up front
    can do per request, written by hand for the canned challenge. One lock for the nonce
    count, a batched 64-bit cnonce, H(A2) cached per (method, URL), the KD state hashed
    once and copied, one header string, and one shared bound-method hook that only looks
    for a challenge, a redirect or ``Authentication-Info``. No origin check, no protection
    space lookup, no netrc, no redirect chain, no way to answer anything: what any real
    handler adds on top of this is its own cost; this much is what requests' auth and
    hook model costs at least."""

    def __init__(self, challenge: str) -> None:
        offer = rank_challenges(parse_challenges(challenge))[0][0].digest
        assert offer is not None and offer.qop == "auth" and not offer.algorithm.session
        ha1 = offer.algorithm.hash(f"{USER}:{offer.realm}:{PASSWORD}".encode())
        self.state = offer.algorithm.new()
        self.state.update(f"{ha1}:{offer.nonce}:".encode())
        self.hash = offer.algorithm.hash
        self.lock = threading.Lock()
        self.count = 0
        self.cnonces: List[str] = []
        self.targets: Dict[Tuple[str, str], Tuple[str, str]] = {}
        self.head = f'Digest username="{USER}", realm="{offer.realm}", nonce="{offer.nonce}", uri="'
        self.tail = f'", algorithm={offer.algorithm.name}, qop=auth, nc='
        self.stop = frozenset({401, 407, 301, 302, 303, 307, 308})

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        with self.lock:
            self.count += 1
            nc = "%08x" % self.count
        try:
            cnonce = self.cnonces.pop()
        except IndexError:
            drawn = os.urandom(2048).hex()
            self.cnonces.extend(drawn[i:i + 16] for i in range(16, len(drawn), 16))
            cnonce = drawn[:16]
        key = (r.method or "GET", r.url or "")
        try:
            uri, ha2 = self.targets[key]
        except KeyError:
            uri = r.path_url
            uri, ha2 = self.targets[key] = uri, self.hash(f"{key[0]}:{uri}".encode())
        state = self.state.copy()
        state.update(f"{nc}:{cnonce}:auth:{ha2}".encode())
        r.headers["Authorization"] = (
            f'{self.head}{uri}", response="{state.hexdigest()}{self.tail}{nc}, cnonce="{cnonce}"'
        )
        r.hooks["response"].append(self.hook)
        return r

    def hook(self, response: requests.Response, **kwargs: object) -> requests.Response:
        if response.status_code in self.stop or "Authentication-Info" in response.raw.headers:
            raise NotImplementedError("a reference for the 200 path only")
        return response


def _ours_challenge_path(n: int) -> None:
    """What answering a fresh challenge costs: parse + rank + HA1 + hash + header build."""
    for _ in range(n):
        choice = rank_challenges(parse_challenges(CANNED_CHALLENGE))[0][0]
        digest_authorization(choice.digest, USER, PASSWORD, "GET", "/sha256/hello.txt", nonce_count=1)


def request_cost(quick: bool) -> List[Target]:
    section("5. CPU per authenticated request, in process (no network), µs (median, interleaved)")
    rounds, block = (5, 0.02) if quick else (15, 0.05)
    template = requests.Request("GET", URL).prepare()

    # (a) The auth handler alone: its __call__ and response hooks on a 200.
    prebuilt = {}
    for contender in (OURS, REQUESTS_DIGEST, GUESS):
        client = _warm(contender)
        prebuilt[contender.label] = _Prebuilt(client.session.auth, template)  # type: ignore[attr-defined]
    httpx_client = _warm(HTTPX_DIGEST)
    runs: Dict[str, Tuple[Callable[[int], None], int]] = {
        "floor: hashlib SHA-256 x2 (HA1 cached)": (_floor(False), 0),
        "floor + cnonce (secrets.token_hex(16))": (_floor(True), 0),
        "ours, answering a challenge (parse+rank+HA1+hash+build)": (_ours_challenge_path, 0),
    }
    for label, pre in prebuilt.items():
        runs[f"{label}, pre-emptive: auth(request) + hooks"] = (pre, 0)
    essentials = "reference: hand-written essentials only (no origin check, no spaces)"
    runs[essentials] = (_Prebuilt(_EssentialsAuth(CANNED_CHALLENGE), template), 0)
    runs[f"{HTTPX_DIGEST.label}, pre-emptive: auth flow"] = (_httpx_path(httpx_client.client.auth), 0)  # type: ignore[attr-defined]
    sized = {}
    for name, (run, _) in runs.items():
        if isinstance(run, _Prebuilt):
            run.prepare(1000)
            per_call = _one_block(run, 1000) / 1000
            n = max(100, min(20_000, int(block / per_call)))
        else:
            n = calibrate(run, block)
        sized[name] = (run, n)
    samples = interleaved(sized, rounds)
    medians = {name: median([w for w, _ in s]) for name, s in samples.items()}
    floor = medians["floor: hashlib SHA-256 x2 (HA1 cached)"]
    rows = [[name, fmt_us(t), f"{t / floor:.1f}x"] for name, t in medians.items()]
    print(table(["what (per request)", "µs", "vs floor"], rows))
    ours_pre = medians[f"{OURS.label}, pre-emptive: auth(request) + hooks"]
    theirs_pre = medians[f"{REQUESTS_DIGEST.label}, pre-emptive: auth(request) + hooks"]
    least = medians[essentials]

    # (b) The whole client stack, through a canned transport (no socket): a
    # Session.get with the auth minus one without, so the auth's full share.
    print()
    print("  Whole Session.get / Client.get through a canned transport (no socket), µs per request:")
    stack = {}
    for contender in (REQUESTS_NONE, OURS, REQUESTS_DIGEST, GUESS, HTTPX_NONE, HTTPX_DIGEST):
        client = _warm(contender) if contender.schemes else canned_client(contender, USER, PASSWORD, None)
        get = client.get_status

        def run(n: int, get=get) -> None:
            for _ in range(n):
                get(URL)

        stack[contender.label] = (run, calibrate(run, block))
    reference = RequestsClient(_EssentialsAuth(CANNED_CHALLENGE), CannedAdapter()).get_status

    def run_reference(n: int) -> None:
        for _ in range(n):
            reference(URL)

    stack[essentials] = (run_reference, calibrate(run_reference, block))
    samples = interleaved(stack, rounds, cpu=True)
    rows = []
    stack_delta = {}
    for label, library, has_auth in [(c.label, c.library, bool(c.schemes)) for c in (REQUESTS_NONE, OURS, REQUESTS_DIGEST, GUESS)] + [
        (essentials, "requests", True)
    ] + [(c.label, c.library, bool(c.schemes)) for c in (HTTPX_NONE, HTTPX_DIGEST)]:
        s = samples[label]
        base = samples[(HTTPX_NONE if library == "httpx" else REQUESTS_NONE).label]
        wall = median([w for w, _ in s])
        deltas = [w - b for (w, _), (b, _) in zip(s, base)]
        stack_delta[label] = median(deltas)
        lo, hi = spread(deltas)
        rows.append([label, fmt_us(wall),
                     "-" if not has_auth else f"{median(deltas) * 1e6:+.1f} µs",
                     "-" if not has_auth else f"[{lo * 1e6:+.1f}, {hi * 1e6:+.1f}]"])
    print(table(["client", "per request", "auth's share", "quartiles"], rows))
    ours_share, theirs_share = stack_delta[OURS.label], stack_delta[REQUESTS_DIGEST.label]
    least_share = stack_delta[essentials]
    share_ratio = ours_share / theirs_share
    return [
        Target("5. ours, pre-emptive: auth(request) + hooks, vs the hashlib floor",
               f"{fmt_us(ours_pre)} = {ours_pre / floor:.1f}x floor ({fmt_us(floor)})", "≤ 3x floor",
               ours_pre <= 3 * floor),
        Target("5. reference: a hand-written essentials-only hook, vs the floor",
               f"{fmt_us(least)} = {least / floor:.1f}x floor; ours {ours_pre / least:.2f}x it", "printed only", None),
        Target("5. ours, pre-emptive: auth(request) + hooks, vs HTTPDigestAuth",
               f"{ours_pre / theirs_pre:.2f}x ({fmt_us(theirs_pre)})", "≤ 0.5x", ours_pre <= 0.5 * theirs_pre),
        Target("5. reference: the essentials-only hook's share of a Session.get",
               f"{least_share / theirs_share:.2f}x HTTPDigestAuth's ({least_share * 1e6:+.1f} µs)", "printed only", None),
        Target("5. auth's share of a Session.get, vs HTTPDigestAuth's",
               f"{share_ratio:.2f}x ({ours_share * 1e6:+.1f} vs {theirs_share * 1e6:+.1f} µs)",
               "≤ 0.5x", share_ratio <= 0.5),
    ]
