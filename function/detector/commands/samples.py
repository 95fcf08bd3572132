"""``detector fetch-samples`` and ``detector demo``: the sample model and image, and the
product end to end on them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detector.commands.options import Subcommands
from detector.commands.outcome import EXIT_FAILED, EXIT_OK


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "demo",
        help="run the product end to end on this machine: local S3, sealed model, API, upload",
        description="Start a local AWS endpoint (moto), seal and upload the sample model, "
        "send the sample image through the real API handler and the S3 upload handler, "
        "print what comes back and write the annotated images.",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("demo-output"),
        help="where the annotated images and results go (./demo-output)",
    )
    parser.set_defaults(run=run_demo)

    parser = subcommands.add_parser(
        "fetch-samples",
        help="find (or download and check) the sample model and image",
        description="Print the paths of the sample model, image and class names; download "
        "and check them first when they are neither in ../shared nor in the cache.",
    )
    parser.set_defaults(run=run_fetch_samples)


def run_fetch_samples(args: argparse.Namespace) -> int:
    from detector.local import samples  # noqa: PLC0415 - local tooling

    samples.print_paths(sys.stdout)
    return EXIT_OK


def run_demo(args: argparse.Namespace) -> int:
    from detector.local import demo  # noqa: PLC0415 - local tooling (moto)

    return EXIT_OK if demo.run(args.output_dir, out=sys.stdout) else EXIT_FAILED
