"""Arguments that several commands share, defined once so they read the same everywhere."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from detector.model.keys import KeyResolver, UserKeySource
    from detector.model.store import LoadedModel

# What ``register`` adds its subcommands to (a string: not subscriptable at run time on 3.11).
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

KEY_OPTIONS = (
    "give its key with --key-file FILE, --key-env VAR, --key-secret-id ID or --key-parameter "
    "NAME (or set MODEL_KEY_B64, MODEL_KEY_SECRET_ID or MODEL_KEY_PARAMETER)"
)


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_user_key_options(group: argparse._MutuallyExclusiveGroup) -> None:
    group.add_argument("--key-file", type=Path, metavar="FILE", help="file holding a base64 key")
    group.add_argument("--key-env", metavar="VAR", help="environment variable with a base64 key")
    group.add_argument("--key-secret-id", metavar="ID", help="Secrets Manager secret with the key")
    group.add_argument("--key-parameter", metavar="NAME", help="SSM SecureString with the key")


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 meaning any free one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {value}")
    return value


def add_model_options(
    parser: argparse.ArgumentParser, *, required: bool, default: str | None = None
) -> None:
    """``--model`` (plain or sealed, a path or s3:// URI) and the key options of a sealed one;
    ``default`` says what is used without ``--model``."""
    parser.add_argument(
        "--model",
        required=required,
        metavar="MODEL",
        help="a plain .onnx file, or a sealed model (`detector pack`): a path or "
        f"s3://bucket/key{f' (default: {default})' if default else ''}",
    )
    keys = parser.add_argument_group(
        "the key of a sealed model",
        "A model sealed with KMS needs none (KMS unwraps its key); one sealed with a key of "
        "your own needs one of these (default: MODEL_KEY_* from the environment).",
    )
    add_user_key_options(keys.add_mutually_exclusive_group())


def user_key_source(args: argparse.Namespace) -> UserKeySource | None:
    """The key source the options name; None when none is given."""
    from detector.model import keys  # noqa: PLC0415 - keep --help fast

    return keys.UserKeySource.from_options(
        key_file=args.key_file,
        key_env=args.key_env,
        secret_id=args.key_secret_id,
        parameter=args.key_parameter,
    )


def model_keys(args: argparse.Namespace) -> KeyResolver:
    """Finds a sealed model's key: the key options, else MODEL_KEY_* settings, else KMS."""
    from detector.aws import AwsClients  # noqa: PLC0415 - keep --help fast
    from detector.model.keys import KeyResolver, UserKeySource  # noqa: PLC0415
    from detector.settings import Settings  # noqa: PLC0415

    source = user_key_source(args) or UserKeySource.from_settings(Settings.from_env())
    return KeyResolver(AwsClients(), source)


def load_model(
    args: argparse.Namespace,
    *,
    family: str | None = None,
    names: Path | None = None,
    threads: int | None = None,
) -> LoadedModel:
    """The model ``--model`` names, opened as the function opens it (plain or sealed).

    ``family``, ``names`` and ``threads`` win over MODEL_FAMILY, MODEL_NAMES_FILE and
    ORT_THREADS; a sealed model's own names and family win over ``names`` and the detection.
    """
    from dataclasses import replace  # noqa: PLC0415

    from detector.aws import AwsClients  # noqa: PLC0415 - keep --help fast
    from detector.model import store  # noqa: PLC0415
    from detector.settings import Settings  # noqa: PLC0415

    configured = Settings.from_env()
    settings = replace(
        configured,
        model_uri=args.model,
        model_family=family or configured.model_family,
        model_names_file=names or configured.model_names_file,
        ort_threads=threads or configured.ort_threads,
    )
    return store.load_model(settings, AwsClients(), model_keys(args))
