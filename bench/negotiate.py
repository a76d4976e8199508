"""Negotiate (Kerberos) and NTLM: requests-challenge beside the handlers users pick today.

    python bench/negotiate.py            # about 30 s on 2 cores
    python bench/negotiate.py --quick    # about 15 s, fewer rounds and repetitions

Handlers, each on its own requests.Session (``trust_env`` off):

  Kerberos  requests-challenge ChallengeAuth(user, password) and ChallengeAuth()
            (ticket cache); requests-gssapi HTTPSPNEGOAuth() and
            HTTPSPNEGOAuth(opportunistic_auth=True); requests-kerberos
            HTTPKerberosAuth(principal=..., password=...), HTTPKerberosAuth() and
            HTTPKerberosAuth(force_preemptive=True). The ticket-cache handlers
            start each from a fresh ``kinit`` of alice into the private cache.
  NTLM      requests-challenge ChallengeAuth("EXAMPLE\\bob", password);
            requests-ntlm HttpNtlmAuth("EXAMPLE\\bob", password).
  Proxy     ours: ChallengeAdapter(proxy_auth=...) mounted for https:// (CONNECT)
            and ChallengeAuth(..., proxy_auth=...) (plain http://); the peers:
            their auth object as session.auth, the only thing they offer.

Servers: the integration suite's own (tests/integration/negotiate/support.py),
started here in a temporary directory and stopped by their PIDs: a throwaway MIT
KDC for EXAMPLE.TEST (private KRB5_CONFIG and KRB5CCNAME, set in this process
only), Apache httpd with mod_auth_gssapi at http://localhost:PORT (/krb/: Kerberos
Negotiate; /ntlm/: NTLM through gss-ntlmssp, connection-bound; /open/: no auth),
the same Apache as a forward proxy (Negotiate + NTLM, connection-bound), and
ChallengeServer origins that ask for nothing (https for CONNECT, http for plain
proxying). The benchmark's Apache differs from the suite's only in keep-alive
limits (300 s, 100000 requests) and log level (warn, not auth_gssapi:debug).

Exchanges are counted on the server: every request of one measurement carries one
X-Test-Tag value (tests/integration/tagging.py's scheme), which Apache writes in
its access log; CONNECTs carry it in the proxy headers.

  1. Kerberos /krb/: exchanges (and 401s) for 10 sequential requests on one Session,
     and the requests the KDC answered meanwhile (AS_REQ, TGS_REQ lines of its log)
  2. Kerberos /krb/: req/s with the handler ÷ req/s of /open/ on the same Apache,
     sequential on one Session with keep-alive; rounds interleaved (A B C, C B A),
     medians and quartiles of the per-round ratios
  3. NTLM /ntlm/: exchanges for 10 sequential requests; 8 threads x 10 requests on
     one Session and one auth object: success rate, exchanges per request, failure
     kinds; a wrong password: the status or exception, and its exchanges
  4. Through the Apache forward proxy, NTLM and Kerberos: CONNECT to a local TLS
     origin (5 requests), and plain http:// (5 requests): what each handler gets
     and the exchanges the proxy logged

Ratios and counts are printed; nothing is asserted, no time is a pass or a fail.
A peer that is not installed, or that raises, gets that as its result.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(HERE), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)  # bench helpers, and the working tree, installed or not

import requests  # noqa: E402
import requests.adapters  # noqa: E402
import urllib3  # noqa: E402

import requests_challenge  # noqa: E402
from requests_challenge import ChallengeAdapter, ChallengeAuth  # noqa: E402
from requests_challenge.testing import ChallengeServer, self_signed_certificate  # noqa: E402

from _report import machine, section, table  # noqa: E402
from _timing import median, spread  # noqa: E402


# --------------------------------------------------------------------------
# The integration suite's servers, imported as a package of our own name
# --------------------------------------------------------------------------

INTEGRATION = ROOT / "tests" / "integration"
_PACKAGE = "_rc_bench_integration"


def _load_integration() -> Tuple[types.ModuleType, types.ModuleType]:
    """(servers, negotiate.support) from tests/integration, which is never edited
    here. support.py imports ``..servers``: the directory becomes a package of its
    own name, so nothing named ``tests`` on sys.path can shadow it."""
    if _PACKAGE not in sys.modules:
        package = types.ModuleType(_PACKAGE)
        package.__path__ = [str(INTEGRATION)]  # type: ignore[attr-defined]
        package.__package__ = _PACKAGE
        sys.modules[_PACKAGE] = package
    servers = importlib.import_module(f"{_PACKAGE}.servers")
    support = importlib.import_module(f"{_PACKAGE}.negotiate.support")
    return servers, support


servers, support = _load_integration()
TAG_HEADER: str = servers.TAG_HEADER
TIMEOUT: float = servers.REQUEST_TIMEOUT  # every request: connect and read, seconds
WRONG_PASSWORD: str = servers.WRONG_PASSWORD
KERBEROS = (support.KERBEROS_USER, support.KERBEROS_PASSWORD)
NTLM = (support.NTLM_USER, support.NTLM_PASSWORD)


def _settings(conf: Path, replacements: Dict[str, str]) -> None:
    text = conf.read_text(encoding="utf-8")
    for old, new in replacements.items():
        if old not in text:
            raise RuntimeError(f"{conf}: expected {old!r} to adjust")
        text = text.replace(old, new)
    conf.write_text(text, encoding="utf-8")


#: Keep every connection for the whole run (contenders idle while others take
#: their turn), and do not write auth_gssapi's debug lines on every request.
_APACHE_BENCH_SETTINGS = {"KeepAliveTimeout 15": "KeepAliveTimeout 300",
                          "MaxKeepAliveRequests 1000": "MaxKeepAliveRequests 100000"}


class BenchGssApache(support.GssApache):  # type: ignore[misc, name-defined]
    log_level = "warn"

    def write_files(self) -> None:
        super().write_files()
        _settings(self.conf_path, _APACHE_BENCH_SETTINGS)


class BenchGssApacheProxy(support.GssApacheProxy):  # type: ignore[misc, name-defined]
    log_level = "warn"

    def write_files(self) -> None:
        super().write_files()
        _settings(self.conf_path, _APACHE_BENCH_SETTINGS)


# --------------------------------------------------------------------------
# Handlers
# --------------------------------------------------------------------------


def _dist_version(dist: str) -> Optional[str]:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


@dataclass
class Handler:
    key: str
    label: str
    dist: str  # the distribution that provides it
    make: Callable[[], Any]  # -> a requests auth object
    note: str = ""
    unavailable: Optional[str] = None  # why it cannot run here
    uses_cache: bool = False  # takes alice's ticket from the (kinit) ticket cache

    @property
    def ours(self) -> bool:
        return self.dist == "requests-challenge"


def _peer(key: str, label: str, dist: str, module: str, factory: Callable[[Any], Any], note: str = "",
          uses_cache: bool = False) -> Handler:
    """A peer handler; when its package is missing or fails to import, that is its result."""
    try:
        imported = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - an unusable peer is a result, not a crash
        reason = "not installed" if isinstance(exc, ImportError) else f"import fails: {type(exc).__name__}"
        return Handler(key, label, dist, lambda: None, note, unavailable=f"{reason} (pip install {dist})",
                       uses_cache=uses_cache)
    return Handler(key, label, dist, lambda: factory(imported), note, uses_cache=uses_cache)


OURS_KRB_PASSWORD = Handler("ours-pw", "ChallengeAuth(user, password)", "requests-challenge",
                            lambda: ChallengeAuth(*KERBEROS), "no kinit; mutual auth verified")
OURS_KRB_CACHE = Handler("ours-cache", "ChallengeAuth() (ticket cache)", "requests-challenge",
                         lambda: ChallengeAuth(), "mutual auth verified", uses_cache=True)
GSSAPI = _peer("gssapi", "HTTPSPNEGOAuth()", "requests-gssapi", "requests_gssapi",
               lambda m: m.HTTPSPNEGOAuth(), "mutual auth off by default", uses_cache=True)
GSSAPI_OPP = _peer("gssapi-opp", "HTTPSPNEGOAuth(opportunistic_auth=True)", "requests-gssapi", "requests_gssapi",
                   lambda m: m.HTTPSPNEGOAuth(opportunistic_auth=True), "token sent unasked", uses_cache=True)
KERBEROS_AUTH = _peer("kerberos", "HTTPKerberosAuth()", "requests-kerberos", "requests_kerberos",
                      lambda m: m.HTTPKerberosAuth(), "mutual auth required", uses_cache=True)
KERBEROS_PRE = _peer("kerberos-pre", "HTTPKerberosAuth(force_preemptive=True)", "requests-kerberos",
                     "requests_kerberos", lambda m: m.HTTPKerberosAuth(force_preemptive=True), "", uses_cache=True)
KERBEROS_PASSWORD = _peer("kerberos-pw", "HTTPKerberosAuth(principal=user, password=password)", "requests-kerberos",
                          "requests_kerberos",
                          lambda m: m.HTTPKerberosAuth(principal=KERBEROS[0], password=KERBEROS[1]), "no kinit")
KERBEROS_HANDLERS = [OURS_KRB_PASSWORD, KERBEROS_PASSWORD, OURS_KRB_CACHE, GSSAPI, GSSAPI_OPP, KERBEROS_AUTH,
                     KERBEROS_PRE]

OURS_NTLM = Handler("ours-ntlm", "ChallengeAuth(r'EXAMPLE\\bob', password)", "requests-challenge",
                    lambda: ChallengeAuth(*NTLM))
REQUESTS_NTLM = _peer("ntlm", "HttpNtlmAuth(r'EXAMPLE\\bob', password)", "requests-ntlm", "requests_ntlm",
                      lambda m: m.HttpNtlmAuth(*NTLM))
NTLM_HANDLERS = [OURS_NTLM, REQUESTS_NTLM]


# --------------------------------------------------------------------------
# Sessions that tag and count what they send
# --------------------------------------------------------------------------

SENT: "Counter[str]" = Counter()  # requests sent through a counting adapter, per tag
_SENT_LOCK = threading.Lock()


class _Counting:
    """Adapter mix-in: count each request sent per tag, and tag CONNECTs too
    (proxy headers are asked for once, when the proxy's manager is built)."""

    tag = ""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        value = request.headers.get(TAG_HEADER)
        if value:
            with _SENT_LOCK:
                SENT[value if isinstance(value, str) else value.decode("latin-1")] += 1
        return super().send(request, *args, **kwargs)  # type: ignore[misc]

    def proxy_headers(self, proxy: str) -> Dict[str, str]:
        headers = super().proxy_headers(proxy)  # type: ignore[misc]
        headers[TAG_HEADER] = self.tag
        return headers


class CountingAdapter(_Counting, requests.adapters.HTTPAdapter):
    __attrs__ = [*requests.adapters.HTTPAdapter.__attrs__, "tag"]  # kept by ChallengeAuth's NTLM copy

    def __init__(self, tag: str, **kwargs: Any) -> None:
        self.tag = tag
        super().__init__(**kwargs)


class CountingChallengeAdapter(_Counting, ChallengeAdapter):
    __attrs__ = [*ChallengeAdapter.__attrs__, "tag"]

    def __init__(self, tag: str, **kwargs: Any) -> None:
        self.tag = tag
        super().__init__(**kwargs)


def tagged_session(tag: str, auth: Any = None, https: Optional[requests.adapters.HTTPAdapter] = None) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy, netrc or CA bundle from the environment
    session.mount("http://", CountingAdapter(tag))
    session.mount("https://", https if https is not None else CountingAdapter(tag))
    session.headers[TAG_HEADER] = tag
    session.auth = auth
    return session


def close_pools(session: requests.Session) -> None:
    """Close every pooled connection now (urllib3 2.x's Session.close() leaves
    proxied ones to the garbage collector; Apache logs a tunnel when it closes)."""
    for adapter in session.adapters.values():
        for manager in [getattr(adapter, "poolmanager", None), *getattr(adapter, "proxy_manager", {}).values()]:
            if manager is None:
                continue
            for key in list(manager.pools.keys()):
                pool = manager.pools.get(key)
                if pool is not None:
                    pool.close()
    session.close()


def logged(server: Any, tag: str, at_least: Optional[int] = None) -> List[Any]:
    """The exchanges ``server`` logged with ``tag``: at least as many as were sent
    (waited for, up to the suite's LOG_TIMEOUT)."""
    return server.log.tagged(tag, at_least=SENT[tag] if at_least is None else at_least)


def logged_settled(server: Any, tag: str, quiet: float = 0.6, limit: float = 10.0) -> List[Any]:
    """For CONNECTs, which the client does not count: wait until a line is there and
    no new one came for ``quiet`` seconds."""
    deadline = time.monotonic() + limit
    lines = server.log.tagged(tag, at_least=1)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        again = server.log.tagged(tag, at_least=0)
        if len(again) == len(lines):
            return again
        lines = again
    return lines


def _error(exc: BaseException) -> str:
    return type(exc).__name__


def _short_row(label: str, message: str, width: int) -> List[str]:
    """A table row for a handler with one message and no figures."""
    return [label, message, *["-"] * (width - 2)]


def _fmt_failures(kinds: "Counter[str]") -> str:
    return ", ".join(f"{k} x{v}" for k, v in kinds.most_common(3)) or "-"


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------


@dataclass
class Sequential:
    ok: int = 0
    n: int = 0
    exchanges: int = 0
    challenges: int = 0
    failures: "Counter[str]" = field(default_factory=Counter)


def sequential(server: Any, handler: Handler, path: str, n: int) -> Sequential:
    tag = servers.new_tag()
    out = Sequential(n=n)
    session = tagged_session(tag, handler.make())
    url = server.url(path)
    try:
        for _ in range(n):
            try:
                r = session.get(url, timeout=TIMEOUT)
                r.content  # noqa: B018 - read the body, as a user would
            except Exception as exc:  # noqa: BLE001 - a failure is a figure
                out.failures[_error(exc)] += 1
                continue
            if r.status_code == 200:
                out.ok += 1
            else:
                out.failures[f"HTTP {r.status_code}"] += 1
    finally:
        close_pools(session)
    lines = logged(server, tag) if SENT[tag] else []
    out.exchanges = len(lines)
    out.challenges = sum(1 for line in lines if line.status == 401)
    return out


class KdcLog:
    """Requests the KDC answered (AS_REQ, TGS_REQ lines of its log) after a mark."""

    def __init__(self, realm: Any) -> None:
        self.path = realm.logdir / "kdc.log"

    def _data(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""

    def mark(self) -> int:
        return len(self._data())

    def since(self, mark: int, quiet: float = 0.3) -> Counter:
        data = self._data()[mark:]
        while True:  # krb5kdc writes a line as it answers: wait until nothing new comes
            time.sleep(quiet)
            again = self._data()[mark:]
            if len(again) == len(data):
                break
            data = again
        return Counter(kind for kind in ("AS_REQ", "TGS_REQ") for _ in range(data.count(kind.encode())))


def kerberos_exchanges(apache: Any, realm: Any, handlers: Sequence[Handler], n: int) -> Dict[str, str]:
    section(f"1. Kerberos on /krb/: {n} sequential requests, one Session (exchanges from Apache's access log, "
            "KDC requests from its log)")
    kdc = KdcLog(realm)
    rows, summary = [], {}
    for h in handlers:
        if h.unavailable:
            rows.append([h.label, h.dist, "-", "-", "-", "-", h.unavailable])
            summary[h.key] = h.unavailable
            continue
        if h.uses_cache:  # each starts from a fresh TGT and no service ticket
            realm.kdestroy()
            realm.kinit(*KERBEROS)
        mark = kdc.mark()
        try:
            s = sequential(apache, h, "/krb/hello.txt", n)
        except Exception as exc:  # noqa: BLE001
            rows.append([h.label, h.dist, "-", "-", "-", "-", f"crashed: {_error(exc)}"])
            summary[h.key] = f"crashed: {_error(exc)}"
            continue
        asked = kdc.since(mark)
        kdc_cell = f"{sum(asked.values())} ({asked['AS_REQ']} AS, {asked['TGS_REQ']} TGS)"
        rows.append([h.label, h.dist, f"{s.ok}/{s.n}", s.exchanges, s.challenges, kdc_cell, _fmt_failures(s.failures)])
        summary[h.key] = f"{s.exchanges}" if s.ok == n else f"{s.exchanges} ({s.ok}/{n} ok)"
        summary[h.key + ":kdc"] = f"{sum(asked.values())}"
    print(table(["handler", "package", "200s", "exchanges", "401s", "KDC requests", "failures"], rows))
    print(f"  limit for a handler that waits for the first challenge: N+1 = {n + 1}. Ticket-cache handlers start "
          "each from a fresh kinit (a TGT, no service ticket); an AS exchange with pre-authentication is two AS_REQs.")
    return summary


def kerberos_throughput(apache: Any, handlers: Sequence[Handler], rounds: int, per_block: int) -> Dict[str, str]:
    section("2. Kerberos on /krb/: req/s with the handler ÷ req/s of /open/ (same Apache, one Session, keep-alive)")
    baseline = Handler("open", "no auth, /open/", "requests", lambda: None)
    runnable: List[Handler] = [baseline]
    summary: Dict[str, str] = {}
    clients: Dict[str, Tuple[requests.Session, str, str]] = {}
    bad: Dict[str, Counter] = {}
    for h in handlers:
        if h.unavailable:
            summary[h.key] = h.unavailable
            continue
        runnable.append(h)
    for h in runnable:
        tag = servers.new_tag()
        path = "/open/hello.txt" if h is baseline else "/krb/hello.txt"
        clients[h.key] = (tagged_session(tag, h.make()), apache.url(path), tag)
        bad[h.key] = Counter()

    def block(h: Handler, n: int) -> Tuple[float, int]:
        session, url, _ = clients[h.key]
        start = time.perf_counter()
        done = 0
        for _ in range(n):
            try:
                r = session.get(url, timeout=TIMEOUT)
                r.content  # noqa: B018
            except Exception as exc:  # noqa: BLE001
                bad[h.key][_error(exc)] += 1
                continue
            done += 1
            if r.status_code != 200:
                bad[h.key][f"HTTP {r.status_code}"] += 1
        return n / (time.perf_counter() - start), done

    samples: Dict[str, List[float]] = {h.key: [] for h in runnable}
    made: Counter = Counter()
    try:
        for h in list(runnable):  # warm up: connection open, first challenge paid, tickets fetched
            _, done = block(h, 5)
            made[h.key] += 5
            if bad[h.key] and not done:
                summary[h.key] = f"crashed: {_fmt_failures(bad[h.key])}"
                runnable.remove(h)
        for round_ in range(rounds):
            for h in (runnable if round_ % 2 == 0 else runnable[::-1]):
                rps, _ = block(h, per_block)
                samples[h.key].append(rps)
                made[h.key] += per_block
    finally:
        for session, _, _ in clients.values():
            close_pools(session)
    rows = []
    for h in runnable:
        tag = clients[h.key][2]
        lines = logged(apache, tag)
        per_request = len(lines) / made[h.key]
        rps = samples[h.key]
        if h is baseline:
            rows.append([h.label, f"{median(rps):.0f}", "1", "", f"{per_request:.2f}", _fmt_failures(bad[h.key])])
            continue
        ratio = [a / b for a, b in zip(rps, samples[baseline.key])]
        lo, hi = spread(ratio)
        rows.append([h.label, f"{median(rps):.0f}", f"{median(ratio):.3f}", f"[{lo:.3f}, {hi:.3f}]",
                     f"{per_request:.2f}", _fmt_failures(bad[h.key])])
        summary[h.key] = f"{median(ratio):.2f}" + ("" if not bad[h.key] else f" ({_fmt_failures(bad[h.key])})")
    print(f"  {rounds} rounds x {per_block} requests per handler, turns interleaved; medians of per-round figures")
    print(table(["handler", "req/s", "ratio vs /open/", "quartiles", "exchanges/request", "failures"], rows))
    return summary


@dataclass
class Threaded:
    ok: int
    n: int
    exchanges: int
    failures: "Counter[str]"


def threaded(apache: Any, handler: Handler, path: str, threads: int, each: int) -> Threaded:
    tag = servers.new_tag()
    session = tagged_session(tag, handler.make())  # one Session, one auth object, shared
    url = apache.url(path)
    statuses: List[int] = []
    failures: Counter = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker() -> None:
        try:
            barrier.wait(timeout=TIMEOUT)
        except threading.BrokenBarrierError:
            pass
        for _ in range(each):
            try:
                r = session.get(url, timeout=TIMEOUT)
                r.content  # noqa: B018
            except Exception as exc:  # noqa: BLE001
                with lock:
                    failures[_error(exc)] += 1
                continue
            with lock:
                statuses.append(r.status_code)
                if r.status_code != 200:
                    failures[f"HTTP {r.status_code}"] += 1

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join(each * 3 * TIMEOUT)
    finally:
        close_pools(session)
    lines = logged(apache, tag) if SENT[tag] else []
    return Threaded(statuses.count(200), threads * each, len(lines), failures)


def wrong_password(apache: Any, make: Callable[[], Any], path: str) -> Tuple[str, int]:
    tag = servers.new_tag()
    session = tagged_session(tag, make())
    try:
        try:
            r = session.get(apache.url(path), timeout=TIMEOUT)
            outcome = f"{r.status_code}"
        except Exception as exc:  # noqa: BLE001
            outcome = _error(exc)
    finally:
        close_pools(session)
    return outcome, len(logged(apache, tag)) if SENT[tag] else 0


def ntlm(apache: Any, handlers: Sequence[Handler], n: int, threads: int, each: int, reps: int) -> Dict[str, Dict[str, str]]:
    section(f"3. NTLM on /ntlm/ (connection-bound): {n} sequential requests; {threads} threads x {each} "
            f"requests on one Session ({reps} run{'s' if reps > 1 else ''}); a wrong password")
    seq_rows, thr_rows, bad_rows = [], [], []
    summary: Dict[str, Dict[str, str]] = {}
    wrong_makers = {OURS_NTLM.key: lambda: ChallengeAuth(NTLM[0], WRONG_PASSWORD)}
    if not REQUESTS_NTLM.unavailable:
        module = importlib.import_module("requests_ntlm")
        wrong_makers[REQUESTS_NTLM.key] = lambda: module.HttpNtlmAuth(NTLM[0], WRONG_PASSWORD)
    for h in handlers:
        summary[h.key] = {}
        if h.unavailable:
            for rows, width in ((seq_rows, 5), (thr_rows, 7), (bad_rows, 3)):
                rows.append(_short_row(h.label, h.unavailable, width))
            summary[h.key] = {k: h.unavailable for k in ("sequential", "threads", "per_request", "wrong")}
            continue
        try:
            s = sequential(apache, h, "/ntlm/hello.txt", n)
            seq_rows.append([h.label, f"{s.ok}/{s.n}", s.exchanges, s.challenges, _fmt_failures(s.failures)])
            summary[h.key]["sequential"] = f"{s.exchanges}" if s.ok == n else f"{s.exchanges} ({s.ok}/{n} ok)"
        except Exception as exc:  # noqa: BLE001
            seq_rows.append(_short_row(h.label, f"crashed: {_error(exc)}", 5))
            summary[h.key]["sequential"] = f"crashed: {_error(exc)}"
        runs: List[Threaded] = []
        try:
            for _ in range(reps):
                runs.append(threaded(apache, h, "/ntlm/hello.txt", threads, each))
        except Exception as exc:  # noqa: BLE001
            summary[h.key]["threads"] = f"crashed: {_error(exc)}"
            thr_rows.append(_short_row(h.label, f"crashed: {_error(exc)}", 7))
            runs = []
        if runs:
            ok, total = sum(r.ok for r in runs), sum(r.n for r in runs)
            kinds: Counter = Counter()
            for r in runs:
                kinds.update(r.failures)
            per_request = [r.exchanges / r.n for r in runs]
            per_ok = [r.exchanges / r.ok for r in runs if r.ok]
            thr_rows.append([
                h.label, f"{ok}/{total}", f"{100 * ok / total:.0f}%", " ".join(f"{r.ok}" for r in runs),
                f"{median(per_request):.2f}", f"{median(per_ok):.2f}" if per_ok else "-", _fmt_failures(kinds),
            ])
            summary[h.key]["threads"] = f"{100 * ok / total:.0f}%"
            summary[h.key]["per_request"] = f"{median(per_request):.2f}"
        try:
            outcome, exchanged = wrong_password(apache, wrong_makers[h.key], "/ntlm/hello.txt")
            bad_rows.append([h.label, outcome, exchanged])
            summary[h.key]["wrong"] = f"{outcome} ({exchanged} exchanges)"
        except Exception as exc:  # noqa: BLE001
            bad_rows.append([h.label, f"crashed: {_error(exc)}", "-"])
            summary[h.key]["wrong"] = f"crashed: {_error(exc)}"
    print(f"\n  {n} sequential requests, one Session (a whole handshake on every request: 3 x {n} = {3 * n}):")
    print(table(["handler", "200s", "exchanges", "401s", "failures"], seq_rows))
    print(f"\n  {threads} threads x {each} requests, one Session and one auth object, released together:")
    print(table(["handler", "200s", "success", "200s per run", "exchanges/request", "exchanges/200", "failures (all runs)"],
                thr_rows))
    print("\n  wrong password (one GET):")
    print(table(["handler", "result", "exchanges"], bad_rows))
    return summary


@dataclass
class ProxyOutcome:
    result: str
    lines: "Counter[int]"

    def cell(self) -> str:
        logged_ = ", ".join(f"{v}x{k}" for k, v in sorted(self.lines.items()))
        return f"{self.result} [{logged_ or 'nothing logged'}]"


def through_proxy(proxy: Any, origin_url: str, handler_kind: str, credentials: Tuple[str, str], peer: Optional[Handler],
                  *, https: bool, verify: Optional[str], n: int) -> ProxyOutcome:
    """``n`` GETs through the proxy; ours when ``peer`` is None."""
    tag = servers.new_tag()
    if peer is None:
        auth = ChallengeAuth(*credentials, proxy_auth=credentials) if not https else None
        adapter = CountingChallengeAdapter(tag, proxy_auth=credentials) if https else None
    else:
        auth, adapter = peer.make(), None
    session = tagged_session(tag, auth, https=adapter)
    session.proxies = {"https" if https else "http": proxy.proxy_url}
    if verify:
        session.verify = verify
    outcomes: Counter = Counter()
    try:
        for i in range(n):
            try:
                r = session.get(f"{origin_url}/{handler_kind}/{tag}/{i}", timeout=TIMEOUT)
                r.content  # noqa: B018
                outcomes[str(r.status_code)] += 1
            except Exception as exc:  # noqa: BLE001
                outcomes[_error(exc)] += 1
    finally:
        close_pools(session)
    lines = logged_settled(proxy, tag) if https else logged(proxy, tag)
    result = ", ".join(f"{k}" + (f" x{v}" if v > 1 else "") for k, v in outcomes.most_common())
    if outcomes.get("200") == n:
        result = f"{n}/{n} 200"
    return ProxyOutcome(result, Counter(line.status for line in lines))


def proxies(proxy: Any, tls_origin: Any, tls_cert: str, plain_origin: Any, n: int) -> Dict[str, Dict[str, str]]:
    section(f"4. Through the Apache forward proxy (Negotiate + NTLM, connection-bound): {n} GETs each")
    cases = [
        ("NTLM", NTLM, [REQUESTS_NTLM]),
        ("Kerberos", KERBEROS, [GSSAPI, KERBEROS_AUTH]),
    ]
    rows = []
    summary: Dict[str, Dict[str, str]] = {}
    for kind, credentials, peers in cases:
        entries: List[Tuple[str, str, Optional[Handler]]] = [
            ("ours: ChallengeAdapter(proxy_auth=...) / ChallengeAuth(..., proxy_auth=...)", "requests-challenge", None)]
        entries += [(p.label, p.dist, p) for p in peers]
        for label, dist, peer in entries:
            key = f"{kind}:{'ours' if peer is None else peer.key}"
            summary[key] = {}
            if peer is not None and peer.unavailable:
                rows.append([kind, label, peer.unavailable, peer.unavailable])
                summary[key] = {"connect": peer.unavailable, "plain": peer.unavailable}
                continue
            cells = []
            for https in (True, False):
                try:
                    out = through_proxy(proxy, tls_origin.url.rstrip("/") if https else plain_origin.url.rstrip("/"),
                                        "tunnel" if https else "plain", credentials, peer, https=https,
                                        verify=tls_cert if https else None, n=n)
                    cell = out.cell()
                    summary[key]["connect" if https else "plain"] = out.result
                    summary[key]["connect_lines" if https else "plain_lines"] = ", ".join(
                        f"{v}x{k}" for k, v in sorted(out.lines.items()))
                except Exception as exc:  # noqa: BLE001
                    cell = f"crashed: {_error(exc)}"
                    summary[key]["connect" if https else "plain"] = cell
                cells.append(cell)
            rows.append([kind, label, *cells])
    print(table(["proxy auth", "handler", "https:// (CONNECT) [proxy log]", "http:// (plain) [proxy log]"], rows))
    print("  [proxy log]: the statuses the proxy logged for the run's tag (CONNECTs, or proxied GETs).")
    return summary


# --------------------------------------------------------------------------
# Machine, versions, the run
# --------------------------------------------------------------------------


def _debian(package: str) -> Optional[str]:
    dpkg = shutil.which("dpkg-query")
    if dpkg is None:
        return None
    try:
        result = subprocess.run([dpkg, "-W", "-f", "${Version}", package], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def versions() -> Dict[str, str]:
    found = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "requests-challenge": requests_challenge.__version__,
        "requests": requests.__version__,
        "urllib3": urllib3.__version__,
    }
    for dist in ("pyspnego", "gssapi", "krb5", "requests-gssapi", "requests-kerberos", "requests-ntlm"):
        found[dist] = _dist_version(dist) or "not installed"
    for package in ("apache2", "libapache2-mod-auth-gssapi", "gss-ntlmssp", "krb5-kdc"):
        found[package] = _debian(package) or "?"
    return found


def _missing_servers() -> Optional[str]:
    return (support.KerberosRealm.missing() or BenchGssApache.missing() or BenchGssApacheProxy.missing())


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and repetitions")
    args = parser.parse_args(argv)
    quick = args.quick
    started = time.perf_counter()

    print("requests-challenge Negotiate/NTLM comparison" + (" (--quick)" if quick else ""))
    print(f"machine: {machine()}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    reason = _missing_servers()
    if reason:
        print(f"cannot run: {reason}")
        return 2

    # SIGTERM (and SIGHUP) run the finally blocks: every server is stopped by its PID.
    def _terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)

    results: Dict[str, Any] = {}
    saved_env = {name: os.environ.get(name) for name in ("KRB5_CONFIG", "KRB5CCNAME")}
    with ExitStack() as stack:
        # Entered first, so removed last: every server below is stopped (and has copied its
        # logs back) before the directory goes.
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rc-bench-negotiate-")))
        realm = support.KerberosRealm(work / "kdc")
        stack.callback(realm.stop)
        realm.start()

        def restore_env() -> None:
            for name, value in saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

        stack.callback(restore_env)
        os.environ.update(realm.client_env)  # this process only: private krb5.conf and ticket cache
        stack.callback(realm.kdestroy)

        apache = BenchGssApache(work / "apache", realm)
        stack.callback(apache.stop)
        apache.start()
        proxy = BenchGssApacheProxy(work / "proxy", realm)
        stack.callback(proxy.stop)
        proxy.start()
        certificate = self_signed_certificate(str(_mkdir(work / "origin-tls")))
        tls_origin = stack.enter_context(ChallengeServer(protected=(), ssl_context=certificate.server_context()))
        plain_origin = stack.enter_context(ChallengeServer(protected=()))
        print(f"servers: KDC 127.0.0.1:{realm.port}; Apache {apache.url('/')} (origin); proxy {proxy.proxy_url}; "
              f"TLS origin {tls_origin.url}; plain origin {plain_origin.url}")

        kinit = realm.kinit(*KERBEROS)
        if kinit.returncode != 0:
            print(f"kinit failed ({kinit.stderr.strip()}): the ticket-cache handlers will fail")
        else:
            print(f"kinit {KERBEROS[0]}: ChallengeAuth() and the peers given no password use the private ticket cache")

        results["krb_exchanges"] = kerberos_exchanges(apache, realm, KERBEROS_HANDLERS, 10)
        results["krb_ratio"] = kerberos_throughput(apache, KERBEROS_HANDLERS, rounds=5 if quick else 15,
                                                   per_block=30 if quick else 60)
        results["ntlm"] = ntlm(apache, NTLM_HANDLERS, 10, 8, 10, reps=1 if quick else 3)
        results["proxy"] = proxies(proxy, tls_origin, certificate.cert, plain_origin, 5)
    summary(results)
    print(f"\nall servers stopped; finished in {time.perf_counter() - started:.0f} s")
    return 0


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def summary(results: Dict[str, Any]) -> None:
    section("Summary")
    krb_e, krb_r = results["krb_exchanges"], results["krb_ratio"]
    rows = [[h.label, h.dist, krb_e.get(h.key, "-"), krb_e.get(h.key + ":kdc", "-"), krb_r.get(h.key, "-")]
            for h in KERBEROS_HANDLERS]
    print(table(["Kerberos (/krb/)", "package", "exchanges, 10 requests", "KDC requests", "req/s ÷ open"], rows))
    print()
    nt = results["ntlm"]
    rows = [[h.label, h.dist, nt[h.key].get("sequential", "-"), nt[h.key].get("threads", "-"),
             nt[h.key].get("per_request", "-"), nt[h.key].get("wrong", "-")] for h in NTLM_HANDLERS]
    print(table(["NTLM (/ntlm/)", "package", "exchanges, 10 seq.", "8x10 threads ok", "exchanges/req (threads)",
                 "wrong password"], rows))
    print()
    rows = [[key.split(":")[0], key.split(":")[1], v.get("connect", "-"), v.get("connect_lines", "-"),
             v.get("plain", "-"), v.get("plain_lines", "-")] for key, v in results["proxy"].items()]
    print(table(["proxy", "handler", "CONNECT result", "CONNECTs logged", "plain result", "proxy lines"], rows))


if __name__ == "__main__":
    sys.exit(main())
