"""A command line of subcommands, each a module with `add_arguments(parser)` and
`main(args) -> int`, imported only when used (so one command's dependencies never slow
or break another). Shared by `python -m edge` and `python -m gateway`."""
from __future__ import annotations

import argparse
import importlib
import sys


def dispatch(prog: str, description: str, commands: dict[str, tuple[str, str]], argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    argv = sys.argv[1:] if argv is None else argv
    chosen = argv[0] if argv and argv[0] in commands else None
    for name, (module, help_text) in commands.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            importlib.import_module(module).add_arguments(p)
        else:
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return int(importlib.import_module(commands[args.command][0]).main(args) or 0)
