"""``detector serve``: the real API handler and the demo page on a local HTTP server."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from detector.commands.options import Subcommands
from detector.commands.outcome import EXIT_OK


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "serve",
        help="serve the API handler and the demo page locally, as `sam local start-api` would",
        description="Each request becomes an API Gateway HTTP API event for the real handler. "
        "Without MODEL_URI the sample model is served; without JWT settings a secret is made "
        "for this session and a token printed. Ctrl-C stops it.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="port (3000; 0 = a free one)")
    parser.add_argument("--model", type=Path, help="a sealed model or a plain .onnx file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from detector.local import serve  # noqa: PLC0415 - local tooling

    serve.serve_session(os.environ, args.host, args.port, model=args.model)
    return EXIT_OK
