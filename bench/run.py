"""Compare requests-challenge with the other HTTP challenge-auth handlers, on this machine.

    python bench/run.py            # full run, about 70 s on 2 cores
    python bench/run.py --quick    # about 15 s, fewer rounds
    python bench/run.py --server embedded --only exchanges threads
    python bench/hotpath.py        # cProfile of ChallengeAuth's per-request path

Contenders: requests-challenge's ChallengeAuth, requests' HTTPDigestAuth,
requests-toolbelt's GuessAuth, httpx's DigestAuth, requests-challenge's httpx
ChallengeAuth, aiohttp's DigestAuthMiddleware and requests-challenge's aiohttp
ChallengeMiddleware (plus pre-emptive Basic references and a no-auth baseline
per library: each contender's throughput ratio and CPU are against its own
library without auth). Measured against lighttpd, started here on
127.0.0.1 with keep-alive (its access log counts the exchanges), or, where
lighttpd is absent, against the embedded ChallengeServer in a child process.

  1. exchanges for N sequential requests (Digest SHA-256, Basic); limit N+1
  2. the same from 8 threads sharing one Session and auth object: exchanges,
     failures, reused (nonce, nc) pairs (not for aiohttp: a session is one
     event loop's)
  3. throughput with Digest SHA-256 divided by throughput without auth
  4. parse speed of the challenge header, against werkzeug, requests and
     www-authenticate, and its growth with size up to 64 KiB
  5. CPU per authenticated request, beside the bare hashlib floor

Contenders take turns (A B C, C B A, …) and figures are medians over rounds.
Targets are printed as OK or MISSED; a missed target never fails the process.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

_NEEDED = {"httpx": "httpx", "aiohttp": "aiohttp", "requests_toolbelt": "requests-toolbelt", "werkzeug": "werkzeug",
           "www_authenticate": "www-authenticate"}
_missing = [dist for module, dist in _NEEDED.items() if importlib.util.find_spec(module) is None]
if _missing:
    sys.exit("bench/run.py compares against other packages; install them first:\n"
             f"    python -m pip install {' '.join(_missing)}")

from _contenders import ALL, versions  # noqa: E402  (puts the working tree on sys.path first)
import _micro  # noqa: E402
import _network  # noqa: E402
from _report import machine, section, table  # noqa: E402
from _servers import start_server  # noqa: E402

SECTIONS = ("exchanges", "threads", "throughput", "parse", "cost")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and repetitions (about 15 s)")
    parser.add_argument("--server", choices=("auto", "lighttpd", "embedded"), default="auto",
                        help="auto: lighttpd when installed, else the embedded ChallengeServer")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), metavar="SECTION",
                        help=f"run only these sections ({', '.join(SECTIONS)})")
    parser.add_argument("-n", type=int, default=200, help="sequential requests in section 1 (default 200)")
    args = parser.parse_args(argv)
    quick = args.quick
    started = time.perf_counter()

    print("requests-challenge comparison benchmark" + (" (--quick)" if quick else ""))
    print(f"machine: {machine()}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    print(table(["contender", "version"], [[c.label, c.version] for c in ALL]))

    targets = []
    needs_server = any(s in args.only for s in ("exchanges", "threads", "throughput"))
    server = None
    try:
        if needs_server:
            server, why = start_server(args.server)
            print(f"server: {server.description} [{why}]")
        if server is not None and "exchanges" in args.only:
            targets += _network.exchanges(server, args.n, reps=1 if quick else 3)
        if server is not None and "threads" in args.only:
            targets += _network.threads(server, 8, 50, reps=2 if quick else 5)
        if server is not None and "throughput" in args.only:
            targets += _network.throughput(server, rounds=7 if quick else 21, per_block=150 if quick else 400)
    finally:
        if server is not None:
            server.stop()
    if "parse" in args.only:
        targets += _micro.parse_speed(quick)
    if "cost" in args.only:
        targets += _micro.request_cost(quick)

    section("Targets (printed, never asserted)")
    print(table(["target", "measured", "goal", ""], [[t.what, t.measured, t.goal, t.verdict] for t in targets]))
    print(f"\nfinished in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
