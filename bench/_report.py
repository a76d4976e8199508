"""Plain-text tables and the target checklist (printed, never asserted)."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import List, Optional, Sequence


def machine() -> str:
    """The machine a run measured, printed beside its figures."""
    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load average %.2f %.2f %.2f" % os.getloadavg()
    return f"{_cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}{load}"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  ") -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: List[str]) -> str:
        # First column left-aligned (names), the others right-aligned (figures).
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        return indent + "  ".join(parts).rstrip()

    rule = indent + "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def section(title: str) -> None:
    print()
    print(title)
    print("=" * len(title))


@dataclass
class Target:
    what: str
    measured: str
    goal: str
    ok: Optional[bool]  # None: a figure printed for context, not a target

    @property
    def verdict(self) -> str:
        if self.ok is None:
            return "(info)"
        return "OK" if self.ok else "MISSED"


def fmt_us(seconds: float) -> str:
    us = seconds * 1e6
    if us >= 10_000:
        return f"{us / 1000:.1f} ms"
    if us >= 100:
        return f"{us:.0f} µs"
    return f"{us:.2f} µs"


