"""``detector serve``: the real API handler and the demo page on a local HTTP server."""

from __future__ import annotations

import argparse
import os

from detector.commands.options import (
    Subcommands,
    add_model_options,
    port_number,
    user_key_source,
)
from detector.commands.outcome import EXIT_OK


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "serve",
        help="serve the API handler and the demo page locally, as `sam local start-api` would",
        description="Each request becomes an API Gateway HTTP API event for the real handler. "
        "The model is loaded before serving starts (a model that cannot be served stops it "
        "with the reason). Without MODEL_URI or --model the sample model is served; without "
        "JWT settings a secret is made for this session and a token printed, and `detector "
        "token` mints more while it runs. One line per request goes to stderr; --verbose adds "
        "the function's own logs and metrics. Ctrl-C stops it.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (%(default)s)")
    parser.add_argument(
        "--port", type=port_number, default=3000, help="port (%(default)s; 0 picks a free one)"
    )
    add_model_options(parser, required=False, default="MODEL_URI, else the sample model")
    parser.add_argument(
        "--verbose", action="store_true", help="also show the function's JSON logs and metrics"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from detector.local import serve  # noqa: PLC0415 - local tooling

    serve.serve_session(
        os.environ,
        args.host,
        args.port,
        model=args.model,
        user_key=user_key_source(args),
        verbose=args.verbose,
    )
    return EXIT_OK
