"""``detector event`` and ``detector invoke``: Lambda events as AWS sends them, and the real
handlers run on them in this process."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detector.commands.options import Subcommands
from detector.commands.outcome import EXIT_OK, EXIT_SOME_FAILED, print_result


def register(subcommands: Subcommands) -> None:
    _register_event(subcommands)
    _register_invoke(subcommands)


def _register_event(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "event",
        help="write a Lambda event shaped as AWS sends it",
        description="Write an API Gateway / Function URL request or an S3 upload event "
        "(direct, through SQS, or from EventBridge) as JSON, for `detector invoke` and "
        "`sam local invoke`.",
    )
    kinds = parser.add_subparsers(dest="source", required=True, metavar="SOURCE")
    api = kinds.add_parser("api", help="an HTTP request (POST /detect by default)")
    api.add_argument(
        "--kind",
        choices=["rest", "http", "url"],
        default="http",
        help="REST API (1.0), HTTP API (2.0) or Function URL (%(default)s)",
    )
    api.add_argument("--method", help="HTTP method (default: POST with a body, GET without)")
    api.add_argument("--path", default="/detect", help="the route (%(default)s)")
    body = api.add_mutually_exclusive_group()
    body.add_argument("--image", type=Path, help="image file to send")
    body.add_argument("--s3", metavar="BUCKET/KEY", help='send {"s3": {"bucket", "key"}}')
    api.add_argument("--json", action="store_true", help="send --image as base64 in JSON")
    api.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="detection option (query string for a raw image, else in the JSON)",
    )
    api.add_argument("--accept", help="Accept header, e.g. image/jpeg")
    token = api.add_mutually_exclusive_group()
    token.add_argument("--token", help="bearer token to send as it is")
    token.add_argument("--secret", help="mint a fresh HS256 token (default: JWT_SECRET if set)")
    api.add_argument("--no-token", action="store_true", help="send no Authorization header")
    api.add_argument("--output", "-o", type=Path, help="write here instead of stdout")
    api.set_defaults(run=run_event_api)

    s3 = kinds.add_parser("s3", help="an S3 ObjectCreated event")
    s3.add_argument("--bucket", required=True, help="the bucket the object was put in")
    s3.add_argument("--key", required=True, help="the key as it is (it is URL-encoded for you)")
    s3.add_argument(
        "--via",
        choices=["direct", "sqs", "eventbridge"],
        default="direct",
        help="an S3 notification as it is, in an SQS message, or from EventBridge (%(default)s)",
    )
    s3.add_argument("--version-id", help="the object's version, in a versioned bucket")
    s3.add_argument("--etag", help="the object's ETag, as S3 reports it")
    s3.add_argument("--size", type=int, default=0, help="the object's size in bytes (%(default)s)")
    s3.add_argument("--output", "-o", type=Path, help="write here instead of stdout")
    s3.set_defaults(run=run_event_s3)


def run_event_api(args: argparse.Namespace) -> int:
    from detector.local import events  # noqa: PLC0415 - local tooling, loaded on demand

    options = dict(item.split("=", 1) for item in args.option)
    event = events.request_event(
        args.kind,
        method=args.method,
        path=args.path,
        image=args.image,
        s3=args.s3,
        as_json=args.json,
        options=options,
        accept=args.accept,
        token=args.token,
        secret=args.secret,
        send_token=not args.no_token,
    )
    return print_result(event, args.output)


def run_event_s3(args: argparse.Namespace) -> int:
    from detector.local import events  # noqa: PLC0415 - local tooling, loaded on demand

    event = events.upload_event(
        args.via,
        args.bucket,
        args.key,
        size=args.size,
        etag=args.etag,
        version_id=args.version_id,
    )
    return print_result(event, args.output)


def _register_invoke(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "invoke",
        help="run a handler in-process on an event file",
        description="Run detector.handlers.<api|s3>.lambda_handler on the event with a local "
        "Lambda context and print its response. Settings come from the environment, as in "
        "Lambda (MODEL_URI, JWT_SECRET, ...). Exit code 1 when the function failed: it raised "
        "(the answer is then Lambda's errorType/errorMessage), answered 500 or more, or "
        "reported failed records; 2 when the event or the settings could not be used.",
    )
    parser.add_argument("--event", type=Path, required=True, help="event JSON file ('-' for stdin)")
    parser.add_argument("--handler", choices=["api", "s3"], help="default: from the event's shape")
    parser.add_argument(
        "--body-out", type=Path, help="also write the API response body here, base64-decoded"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show the function's JSON logs and metrics (stderr)"
    )
    parser.set_defaults(run=run_invoke)


def run_invoke(args: argparse.Namespace) -> int:
    from detector.local import invoke  # noqa: PLC0415 - local tooling

    response = invoke.invoke(args.event, args.handler, body_out=args.body_out, verbose=args.verbose)
    print_result(response)
    problem = invoke.failure(response)
    if problem is None:
        return EXIT_OK
    hint = "" if args.verbose else " (--verbose shows the function's log)"
    print(f"detector invoke: {problem}{hint}", file=sys.stderr)
    return EXIT_SOME_FAILED
