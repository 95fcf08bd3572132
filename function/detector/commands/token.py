"""``detector token``: a signed JWT for trying the API."""

from __future__ import annotations

import argparse
from pathlib import Path

from detector.commands.options import Subcommands, positive_int
from detector.commands.outcome import print_result


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "token",
        help="mint a JWT for local testing",
        description="Print a signed JWT: HS256 with --secret (default: JWT_SECRET from the "
        "environment, else the secret of the `detector serve` running now), or RS256/ES256 "
        "with --key, a PEM private key file.",
    )
    key = parser.add_mutually_exclusive_group()
    key.add_argument("--secret", help="HS256 secret (at least 32 bytes)")
    key.add_argument("--key", type=Path, help="PEM private key file (RSA -> RS256, EC -> ES256)")
    parser.add_argument("--sub", default="local-user", help="the subject: who calls (%(default)s)")
    parser.add_argument(
        "--scope", default="detect", help="space-separated scopes; '' for none (%(default)s)"
    )
    parser.add_argument(
        "--ttl", type=positive_int, default=3600, help="seconds until it expires (%(default)s)"
    )
    parser.add_argument("--iss", help="issuer claim (default: JWT_ISSUER)")
    parser.add_argument("--aud", help="audience claim (default: JWT_AUDIENCE)")
    parser.add_argument("--kid", help="key id header, for JWKS verification")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from detector.local.tokens import mint_token  # noqa: PLC0415 - keep --help fast

    token = mint_token(
        subject=args.sub,
        key_file=args.key,
        secret=args.secret,
        scope=args.scope,
        ttl_seconds=args.ttl,
        issuer=args.iss,
        audience=args.aud,
        key_id=args.kid,
    )
    return print_result(token)
