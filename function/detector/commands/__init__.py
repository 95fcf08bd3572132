"""The ``detector`` command line: one module per group of subcommands, one exception boundary.

Each module here has ``register(subcommands)``, which adds its subcommands with a ``run``
function each; ``run`` returns an exit code or raises our typed errors, and ``main`` alone
turns an error into one line on stderr and an exit code. A new command group is a new
module and one line in ``GROUPS``.

Tooling for a person's machine: the Lambda image leaves this package out, and nothing in
the runtime imports it. Modules load what they need when their command runs, so that
``detector --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from detector import __version__
from detector.commands import backfill, detect, events, model, samples, serve, token
from detector.commands.options import KEY_OPTIONS
from detector.commands.outcome import EXIT_FAILED, EXIT_INTERRUPTED
from detector.errors import DetectorError, KeySourceMissingError

GROUPS = (samples, serve, detect, token, model, events, backfill)

Run = Callable[[argparse.Namespace], int]

DESCRIPTION = """\
YOLO object detection as an AWS Lambda function, and the tools around it: try it on this
machine (demo, serve, detect), seal a model for S3 (keygen, pack, inspect, upload), mint
tokens for its API (token), run its handlers on Lambda events (event, invoke), and run
detection over images already in S3 (backfill).
`detector COMMAND --help` says more about each command.
"""
EPILOG = """\
exit status: 0 done; 1 the command ran but something it ran on failed (detect: an image;
invoke: the function); 2 the command could not do its work (the reason is on stderr).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="detector",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subcommands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", title="commands"
    )
    for group in GROUPS:
        group.register(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; the return value is the process exit code."""
    args = build_parser().parse_args(argv)
    run: Run = args.run
    try:
        return run(args)
    except KeySourceMissingError:  # its own message names the function's settings
        return _fail(args.command, f"the model is sealed with a key of your own: {KEY_OPTIONS}")
    except DetectorError as error:
        return _fail(args.command, error.message)
    except OSError as error:  # a file or a port of the user's machine, named in the message
        return _fail(args.command, _describe(error))
    except KeyboardInterrupt:  # Ctrl-C: the user knows why; what was printed stays valid
        print(f"\ndetector {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _fail(command: str, message: str) -> int:
    print(f"detector {command}: {message}", file=sys.stderr)
    return EXIT_FAILED


def _describe(error: OSError) -> str:
    reason = error.strerror or str(error)
    return f"{error.filename}: {reason}" if error.filename else reason
