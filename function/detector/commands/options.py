"""Arguments that several commands share, defined once so they read the same everywhere."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from detector.model.keys import UserKeySource

# What ``register`` adds its subcommands to (a string: not subscriptable at run time on 3.11).
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_user_key_options(group: argparse._MutuallyExclusiveGroup) -> None:
    group.add_argument("--key-file", type=Path, help="file holding a base64 key")
    group.add_argument("--key-env", metavar="VAR", help="environment variable with a base64 key")
    group.add_argument("--key-secret-id", help="Secrets Manager secret holding the key")
    group.add_argument("--key-parameter", help="SSM SecureString parameter holding the key")


def user_key_source(args: argparse.Namespace) -> UserKeySource | None:
    from detector.model import keys  # noqa: PLC0415 - keep --help fast

    return keys.UserKeySource.from_options(
        key_file=args.key_file,
        key_env=args.key_env,
        secret_id=args.key_secret_id,
        parameter=args.key_parameter,
    )
