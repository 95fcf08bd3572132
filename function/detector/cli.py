"""The ``detector`` command: thin; each subcommand parses its arguments and calls one module.

Local-only subcommands import ``detector.local`` lazily so the runtime never loads it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="detector", description=__doc__)
    parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; the return value is the process exit code."""
    args = build_parser().parse_args(argv)
    command: Command = args.func
    return command(args)


if __name__ == "__main__":
    sys.exit(main())
