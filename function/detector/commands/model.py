"""``detector pack``, ``inspect``, ``upload`` and ``keygen``: sealed models.

The work is done by ``detector.local.packing``, loaded when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detector.commands.options import Subcommands, add_user_key_options, user_key_source
from detector.commands.outcome import print_result


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "keygen",
        help="make a random 256-bit model key (base64)",
        description="Print a new key, or write it to a file only you can read. Keep it in "
        "Secrets Manager or an SSM SecureString for the function.",
    )
    parser.add_argument("-o", "--output", type=Path, help="write it here (never overwritten)")
    parser.set_defaults(run=run_keygen)

    parser = subcommands.add_parser(
        "pack",
        help="compress and encrypt an ONNX model into a sealed artifact",
        description="Seal MODEL.onnx: zstd (or zlib) compressed, AES-256-GCM encrypted with "
        "a KMS data key (--kms-key-id) or a 256-bit key of your own.",
    )
    parser.add_argument("model", type=Path, help="the ONNX model")
    parser.add_argument(
        "-o", "--output", type=Path, help="the sealed file to write (default: MODEL.sealed)"
    )
    parser.add_argument("--force", action="store_true", help="replace --output if it exists")
    key = parser.add_mutually_exclusive_group(required=True)
    key.add_argument("--kms-key-id", help="KMS key id, ARN or alias (envelope encryption)")
    add_user_key_options(key)
    parser.add_argument("--names", type=Path, help="class names file, one a line")
    parser.add_argument("--family", help="force the model family instead of detecting it")
    parser.add_argument("--model-id", help="default: the file name and its sha256 prefix")
    parser.add_argument(
        "--compression",
        choices=["zstd", "zlib"],
        default="zstd",
        help="compressor (%(default)s; zlib opens slower but needs nothing beyond Python)",
    )
    parser.add_argument("--level", type=int, help="compression level (default: zstd 9, zlib 6)")
    parser.add_argument("--upload", metavar="S3_URI", help="also put it at s3://bucket/key")
    parser.set_defaults(run=run_pack)

    parser = subcommands.add_parser(
        "inspect",
        help="print a sealed model's header as JSON; with a key, verify all of it",
        description="Print the header of a sealed model (a file or s3:// URI; never a key). "
        "With --verify (KMS-wrapped) or a key option, decrypt and check the whole artifact.",
    )
    parser.add_argument("sealed", help="a sealed model: path or s3://bucket/key")
    parser.add_argument("--verify", action="store_true", help="decrypt and check everything")
    add_user_key_options(parser.add_mutually_exclusive_group())
    parser.set_defaults(run=run_inspect)

    parser = subcommands.add_parser(
        "upload",
        help="put a sealed model in S3",
        description="Put a sealed model where the function's MODEL_URI will point; a file "
        "that is not a sealed model is refused. `pack --upload` does this as it packs.",
    )
    parser.add_argument(
        "sealed", type=Path, metavar="SEALED", help="a sealed model made by `detector pack`"
    )
    parser.add_argument("uri", metavar="S3_URI", help="where to put it: s3://bucket/key")
    parser.set_defaults(run=run_upload)


def run_pack(args: argparse.Namespace) -> int:
    from detector.local import packing  # noqa: PLC0415 - keep --help fast
    from detector.model.artifact import Compression  # noqa: PLC0415

    summary = packing.pack(
        args.model,
        args.output or args.model.with_suffix(".sealed"),
        kms_key_id=args.kms_key_id,
        user_key=user_key_source(args),
        names_file=args.names,
        family=args.family,
        model_id=args.model_id,
        compression=Compression[args.compression.upper()],
        level=args.level,
        upload_to=args.upload,
        overwrite=args.force,
        warn=_warn,
    )
    return print_result(summary)


def _warn(message: str) -> None:
    print(f"detector pack: warning: {message}", file=sys.stderr)


def run_inspect(args: argparse.Namespace) -> int:
    from detector.local import packing  # noqa: PLC0415 - keep --help fast

    return print_result(
        packing.inspect(args.sealed, verify=args.verify, user_key=user_key_source(args))
    )


def run_upload(args: argparse.Namespace) -> int:
    from detector.local import packing  # noqa: PLC0415 - keep --help fast

    return print_result(packing.upload(args.sealed, args.uri))


def run_keygen(args: argparse.Namespace) -> int:
    from detector.local import packing  # noqa: PLC0415 - keep --help fast

    return print_result(packing.keygen(args.output))
