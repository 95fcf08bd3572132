"""The ``detector`` command: thin; each subcommand parses its arguments and calls one module.

Local-only subcommands import ``detector.local`` lazily so the runtime never loads it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from detector.auth import issue_token
from detector.errors import DetectorError
from detector.settings import Settings

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="detector", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_token(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; the return value is the process exit code."""
    args = build_parser().parse_args(argv)
    command: Command = args.func
    return command(args)


# --- token ------------------------------------------------------------------------------------
def _add_token(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "token",
        help="mint a JWT for local testing",
        description="Print a signed JWT: HS256 with --secret (default: JWT_SECRET from the "
        "environment), or RS256/ES256 with --key, a PEM private key file.",
    )
    key = parser.add_mutually_exclusive_group()
    key.add_argument("--secret", help="HS256 secret (at least 32 bytes)")
    key.add_argument("--key", type=Path, help="PEM private key file (RSA -> RS256, EC -> ES256)")
    parser.add_argument("--sub", required=True, help="the subject (who calls)")
    parser.add_argument("--scope", default="detect", help="space-separated scopes; '' for none")
    parser.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    parser.add_argument("--iss", help="issuer claim (default: JWT_ISSUER)")
    parser.add_argument("--aud", help="audience claim (default: JWT_AUDIENCE)")
    parser.add_argument("--kid", help="key id header, for JWKS verification")
    parser.set_defaults(func=_token)


def _token(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    key = args.key.read_text() if args.key else args.secret or settings.jwt_secret
    if not key:
        print("detector token: give --secret, --key, or set JWT_SECRET", file=sys.stderr)
        return 2
    try:
        token = issue_token(
            key,
            subject=args.sub,
            scope=args.scope or None,
            ttl_seconds=args.ttl,
            issuer=args.iss or settings.jwt_issuer,
            audience=args.aud or settings.jwt_audience,
            key_id=args.kid,
        )
    except DetectorError as error:
        print(f"detector token: {error.message}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
