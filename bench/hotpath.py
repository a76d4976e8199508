"""Profile requests-challenge's per-request path (cProfile; pyinstrument with --pyinstrument).

    python bench/hotpath.py [--calls 20000] [--top 25] [--pyinstrument]

Three paths, none touching the network:
  preemptive  ChallengeAuth(request) + its response hook on a 200, space known
  session     Session.get through a canned transport, ChallengeAuth pre-emptive
  challenge   parse_challenges + rank_challenges + digest_authorization
For each: the functions with the most own time, the share of the total
spent inside requests_challenge, and how many distinct Python functions run
per call. That last count matters beyond its µs here: inside a whole
Session.get each function's code and data come back cold, so the auth's
share there grows with how many things it touches, not only with its
cost in a tight loop.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _micro  # noqa: E402  (puts the working tree on sys.path)
from _contenders import OURS  # noqa: E402

import requests  # noqa: E402

PACKAGE_DIR = str(Path(__file__).resolve().parent.parent / "requests_challenge")


def _paths(calls: int):
    template = requests.Request("GET", _micro.URL).prepare()
    client = _micro._warm(OURS)
    pre = _micro._Prebuilt(client.session.auth, template)  # type: ignore[attr-defined]
    pre.prepare(calls)

    def preemptive() -> None:
        pre(calls)

    def session() -> None:
        for _ in range(calls):
            client.get_status(_micro.URL)

    def challenge() -> None:
        _micro._ours_challenge_path(calls)

    return {"preemptive": preemptive, "session": session, "challenge": challenge}


def _short(path: str) -> str:
    for marker in ("site-packages" + os.sep, "lib" + os.sep + "python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return os.path.relpath(path, str(Path(PACKAGE_DIR).parent)) if path.startswith("/") else path


def profile(name: str, run, calls: int, top: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    ours = sum(v[2] for k, v in stats.stats.items() if k[0].startswith(PACKAGE_DIR))  # type: ignore[attr-defined]
    # Python functions run at least once per call (builtins, shown as "~", aside).
    each = [k for k, v in stats.stats.items() if v[1] >= calls and k[0] != "~"]  # type: ignore[attr-defined]
    ours_each = sum(k[0].startswith(PACKAGE_DIR) for k in each)
    print(f"\n== {name}: {calls} calls, {total / calls * 1e6:.1f} µs per call under cProfile; "
          f"own time inside requests_challenge: {ours / total:.0%}; "
          f"Python functions run per call: {len(each)} ({ours_each} of requests_challenge)")
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]  # type: ignore[attr-defined]
    print(f"  {'own µs/call':>11} {'cum µs/call':>11} {'calls/call':>10}  function")
    for (filename, line, func), (cc, nc, tt, ct, _) in rows:
        print(f"  {tt / calls * 1e6:11.2f} {ct / calls * 1e6:11.2f} {nc / calls:10.1f}  {_short(filename)}:{line}({func})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--pyinstrument", action="store_true", help="also print pyinstrument's call tree")
    parser.add_argument("paths", nargs="*", default=["preemptive", "session", "challenge"])
    args = parser.parse_args()
    paths = _paths(args.calls)
    for name in args.paths:
        profile(name, paths[name], args.calls, args.top)
    if args.pyinstrument:
        from pyinstrument import Profiler

        paths = _paths(args.calls)
        for name in args.paths:
            profiler = Profiler(interval=0.0001)
            profiler.start()
            paths[name]()
            profiler.stop()
            out = io.StringIO()
            out.write(profiler.output_text(unicode=True, color=False, show_all=False))
            print(f"\n== pyinstrument: {name}\n{out.getvalue()}")


if __name__ == "__main__":
    main()
