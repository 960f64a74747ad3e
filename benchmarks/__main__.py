"""Run every `benchmarks/bench_*.py` (or the ones named) and print their figures.

Each module exposes `run(console)`; figures are ratios against a baseline measured in the
same run wherever possible, so they mean the same on a slower or busier machine.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback

from rich.console import Console

import benchmarks


def main(argv: list[str]) -> int:
    console = Console() if sys.stdout.isatty() else Console(width=120)  # a log file gets whole tables
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in argv]
    unknown = set(wanted) - set(names)
    if unknown:
        console.print(f"[red]unknown benchmark(s): {', '.join(sorted(unknown))}; have: {', '.join(names)}")
        return 2
    failed = 0
    for name in wanted or names:
        console.rule(f"[bold]{name.removeprefix('bench_')}")
        t0 = time.perf_counter()
        try:
            importlib.import_module(f"benchmarks.{name}").run(console)
        except Exception:
            failed += 1
            console.print(f"[red]{name} failed:[/red]\n{traceback.format_exc()}")
        console.print(f"[dim]{name} took {time.perf_counter() - t0:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
