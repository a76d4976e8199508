"""Parse time of hostile headers at 1, 4, 16 and 64 KiB, in µs per KiB, side by side.

    python bench/hostile_headers.py                     # the working tree, about 15 s
    python bench/hostile_headers.py --baseline 0fc28bf  # and _grammar.py as of a git revision (30 s)

Every shape is built at each size (whole units only, so a little under it), and
every (shape, size, parser) takes its turn in each round (A B, B A, ...); a figure
is the median over the rounds. "64 KiB" is the time of one 64 KiB header in ms;
"x16→64" is t(64 KiB) / t(16 KiB): 4 is linear, less is a cut-off (errors,
challenges) at work. Nothing is asserted: the test suite counts work instead
(tests/test_grammar.py, linear-time section); this prints time.

With --baseline, the other revision's _grammar.py is loaded beside the working
tree's (same _errors module), so before and after come from one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable, Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # measure the working tree, installed or not
sys.path.insert(1, str(Path(__file__).resolve().parent))

import requests_challenge._grammar as grammar  # noqa: E402
from _report import table  # noqa: E402
from _timing import calibrate, interleaved, median  # noqa: E402

KIB = 1024
SIZES_KIB = (1, 4, 16, 64)
# Parameter names are case-insensitive: distinct ones are made from lower case only.
NAME_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"


def _fill(head: str, unit: str, tail: str, size: int) -> str:
    """``head`` + as many ``unit`` as fit + ``tail``, at most ``size`` characters."""
    return head + unit * max(0, (size - len(head) - len(tail)) // len(unit)) + tail


def _distinct_names():
    """Every 1-, 2-, 3-character name, shortest first: the densest valid parameter list."""
    for a in NAME_CHARS:
        yield a
    for a in NAME_CHARS:
        for b in NAME_CHARS:
            yield a + b
    for a in NAME_CHARS:
        for b in NAME_CHARS:
            for c in NAME_CHARS:
                yield a + b + c


def _distinct(head: str, unit: Callable[[str], str], size: int) -> str:
    parts, length = [head], len(head)
    for name in _distinct_names():
        piece = unit(name)
        if length + len(piece) > size:
            break
        parts.append(piece)
        length += len(piece)
    return "".join(parts)


CHALLENGES, AUTH_INFO = "parse_challenges", "parse_auth_params"

# name: (function, make(size) -> header). The first three are the hardening
# issue's audit; then bench/_micro.py's hostile families (the README's earlier
# claim), then the densest lists of valid elements, which cost most per byte.
SHAPES: Dict[str, Tuple[str, Callable[[int], str]]] = {
    "quoted pairs 'realm=\"\\\"\\\"…\"'": (CHALLENGES, lambda n: _fill('Digest realm="', '\\"', '"', n)),
    "duplicate params 'a=1, a=1, …'": (CHALLENGES, lambda n: _fill("Digest ", "a=1, ", "", n)),
    "Auth-Info 'rspauth=\"\\x\\x…\"'": (AUTH_INFO, lambda n: _fill('rspauth="', "\\x", '"', n)),
    "Auth-Info 'nextnonce=\"\\\"\\\"…\"'": (AUTH_INFO, lambda n: _fill('nextnonce="', '\\"', '"', n)),
    "Auth-Info duplicates 'a=1, a=1, …'": (AUTH_INFO, lambda n: _fill("", "a=1, ", "", n)),
    "bare schemes 's0, s1, …'": (CHALLENGES, lambda n: _distinct("Basic", lambda s: f", s{s}", n)),
    "typical + '=,=,…'": (CHALLENGES, lambda n: _fill('Digest realm="r", nonce="n", ', "=,", "", n)),
    "unterminated '\"\\\"\\\"…'": (CHALLENGES, lambda n: _fill('Digest realm="', '\\"', "", n)),
    "quote soup 'realm=\"a\"a\"a…'": (CHALLENGES, lambda n: _fill("Digest realm=", '"a', "", n)),
    "missing commas 'a=b c, …'": (CHALLENGES, lambda n: _fill("Digest ", "a=b c, ", "", n)),
    "control characters": (CHALLENGES, lambda n: _fill("", 'Digest realm="\x01', "", n)),
    "distinct params 'a=,b=,…'": (CHALLENGES, lambda n: _distinct("Digest ", lambda s: f"{s}=,", n)),
    "distinct quoted 'a=\"\",b=\"\",…'": (CHALLENGES, lambda n: _distinct("Digest ", lambda s: f'{s}="",', n)),
    "Auth-Info distinct 'a=,b=,…'": (AUTH_INFO, lambda n: _distinct("", lambda s: f"{s}=,", n)),
}


def _load_baseline(revision: str) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{revision}:requests_challenge/_grammar.py"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    name = "requests_challenge._grammar_baseline"
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    module.__package__ = "requests_challenge"  # its "from ._errors import" finds ours
    sys.modules[name] = module  # dataclasses looks the module up
    exec(compile(source, f"{revision}:requests_challenge/_grammar.py", "exec"), module.__dict__)
    return module


def _calls(parse: Callable[[str], object], header: str) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            try:
                parse(header)
            except ValueError:  # rejecting a hostile header costs what it costs
                pass

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", metavar="REV", help="also time _grammar.py as of this git revision")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--block", type=float, default=0.02, help="seconds per timed block")
    args = parser.parse_args()

    versions: Dict[str, ModuleType] = {}
    if args.baseline:
        versions[args.baseline] = _load_baseline(args.baseline)
    versions["working tree"] = grammar

    runs = {}
    for shape, (function, make) in SHAPES.items():
        for kib in SIZES_KIB:
            header = make(kib * KIB)
            for label, module in versions.items():
                run = _calls(getattr(module, function), header)
                runs[(shape, kib, label)] = (run, calibrate(run, args.block))
    samples = interleaved(runs, args.rounds)
    seconds = {key: median([wall for wall, _ in s]) for key, s in samples.items()}

    print(f"Parse time per KiB of header, µs (median of {args.rounds} interleaved rounds); "
          f"Python {sys.version.split()[0]}")
    rows: List[List[str]] = []
    worst: Dict[str, Tuple[float, str]] = {}
    for shape, (function, _) in SHAPES.items():
        for label in versions:
            times = [seconds[(shape, kib, label)] for kib in SIZES_KIB]
            name = shape if len(versions) == 1 else f"{shape} [{label}]"
            rows.append([name, *(f"{t * 1e6 / kib:.1f}" for t, kib in zip(times, SIZES_KIB)),
                         f"{times[-1] * 1e3:.2f}", f"{times[-1] / times[-2]:.1f}"])
            if times[-1] > worst.get(label, (0.0, ""))[0]:
                worst[label] = (times[-1], shape)
    print(table(["shape", *(f"{k} KiB" for k in SIZES_KIB), "64 KiB, ms", "x16→64"], rows))
    print("  functions: " + "; ".join(f"{s}: {f}" for s, (f, _) in SHAPES.items() if f != CHALLENGES))
    print("  (every other shape: parse_challenges)")
    for label, (t, shape) in worst.items():
        print(f"slowest 64 KiB header, {label}: {t * 1e3:.2f} ms ({shape})")


if __name__ == "__main__":
    main()
