"""The ``detector`` command: thin; each subcommand parses its arguments and calls one module.

Local-only subcommands import ``detector.local`` lazily so the runtime never loads it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from detector.errors import DetectorError

if TYPE_CHECKING:
    from detector.model.keys import UserKeySource

Command = Callable[[argparse.Namespace], int]


EXIT_OK = 0
EXIT_SOME_FAILED = 1  # at least one image could not be processed
EXIT_UNUSABLE = 2  # the model (or another input every image needs) could not be used


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="detector", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_detect(commands)
    _add_token(commands)
    _add_event(commands)
    _add_invoke(commands)
    _add_pack(commands)
    _add_inspect(commands)
    _add_upload(commands)
    _add_keygen(commands)
    _add_fetch_samples(commands)
    _add_serve(commands)
    _add_demo(commands)
    _add_backfill(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; the return value is the process exit code."""
    args = build_parser().parse_args(argv)
    command: Command = args.func
    return command(args)


def _run(
    name: str,
    action: Callable[[], int | None],
    *,
    failed: int = 1,
    errors: tuple[type[Exception], ...] = (DetectorError,),
) -> int:
    """The action's exit code (None: 0); a typed error is one line on stderr and exit ``failed``."""
    try:
        return action() or EXIT_OK
    except errors as error:
        print(f"{name}: {getattr(error, 'message', error)}", file=sys.stderr)
        return failed


def _output(result: object, output: Path | None = None) -> int:
    """Write the result (JSON unless it is text) to ``output`` or stdout; exit code 0."""
    text = (result if isinstance(result, str) else json.dumps(result, indent=2)) + "\n"
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


# --- detect --------------------------------------------------------------------------------
def _add_detect(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "detect",
        help="detect objects in image files with an ONNX model",
        description="Print one JSON object per image, one per line. Exit code 1 when any "
        "image failed, 2 when the model could not be used.",
    )
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    parser.add_argument("--model", required=True, type=Path, help="a plain .onnx file")
    parser.add_argument("--names", type=Path, help="class names, one per line")
    parser.add_argument("--family", help="force the model family instead of detecting it")
    parser.add_argument("--conf", type=float, default=0.25, help="score threshold (0.25)")
    parser.add_argument("--iou", type=float, default=0.45, help="NMS IoU threshold (0.45)")
    parser.add_argument("--max-det", type=int, default=300, help="detections kept (300)")
    parser.add_argument("--agnostic", action="store_true", help="NMS across classes")
    parser.add_argument("--threads", type=int, help="onnxruntime threads (the CPUs we may use)")
    parser.set_defaults(func=_detect)


def _detect(args: argparse.Namespace) -> int:
    from detector import batch  # noqa: PLC0415 - keep --help fast
    from detector.pipeline.engine import DetectOptions  # noqa: PLC0415

    return _run(
        "detector",
        lambda: (
            EXIT_OK
            if batch.detect_files(
                args.model,
                args.images,
                out=sys.stdout,
                options=DetectOptions(
                    conf=args.conf, iou=args.iou, max_det=args.max_det, agnostic=args.agnostic
                ),
                names_file=args.names,
                family=args.family,
                threads=args.threads,
            )
            else EXIT_SOME_FAILED
        ),
        failed=EXIT_UNUSABLE,
    )


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
    from detector.auth import mint_token  # noqa: PLC0415 - keep --help fast

    return _run(
        "detector token",
        lambda: _output(
            mint_token(
                subject=args.sub,
                key_file=args.key,
                secret=args.secret,
                scope=args.scope,
                ttl_seconds=args.ttl,
                issuer=args.iss,
                audience=args.aud,
                key_id=args.kid,
            )
        ),
        failed=2,
    )


# --- event ------------------------------------------------------------------------------------
def _add_event(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
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
        help="REST API (1.0), HTTP API (2.0) or Function URL",
    )
    api.add_argument("--method", help="default: POST with a body, GET without")
    api.add_argument("--path", default="/detect")
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
    api.set_defaults(func=_event_api)

    s3 = kinds.add_parser("s3", help="an S3 ObjectCreated event")
    s3.add_argument("--bucket", required=True)
    s3.add_argument("--key", required=True, help="the key as it is (it is URL-encoded for you)")
    s3.add_argument("--via", choices=["direct", "sqs", "eventbridge"], default="direct")
    s3.add_argument("--version-id")
    s3.add_argument("--etag")
    s3.add_argument("--size", type=int, default=0)
    s3.add_argument("--output", "-o", type=Path, help="write here instead of stdout")
    s3.set_defaults(func=_event_s3)


def _event_api(args: argparse.Namespace) -> int:
    from detector.local import events  # noqa: PLC0415 - local tooling, loaded on demand

    options = dict(item.split("=", 1) for item in args.option)
    return _run(
        "detector event",
        lambda: _output(
            events.request_event(
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
            ),
            args.output,
        ),
    )


def _event_s3(args: argparse.Namespace) -> int:
    from detector.local import events  # noqa: PLC0415 - local tooling, loaded on demand

    event = events.upload_event(
        args.via,
        args.bucket,
        args.key,
        size=args.size,
        etag=args.etag,
        version_id=args.version_id,
    )
    return _output(event, args.output)


# --- invoke -----------------------------------------------------------------------------------
def _add_invoke(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "invoke",
        help="run a handler in-process on an event file",
        description="Run detector.handlers.<api|s3>.lambda_handler on the event with a local "
        "Lambda context and print its response. Settings come from the environment, as in "
        "Lambda (MODEL_URI, JWT_SECRET, ...).",
    )
    parser.add_argument("--event", type=Path, required=True, help="event JSON file ('-' for stdin)")
    parser.add_argument("--handler", choices=["api", "s3"], help="default: from the event's shape")
    parser.add_argument(
        "--body-out", type=Path, help="also write the API response body here, base64-decoded"
    )
    parser.set_defaults(func=_invoke)


def _invoke(args: argparse.Namespace) -> int:
    from detector.local import invoke  # noqa: PLC0415 - local tooling

    return _output(invoke.invoke(args.event, args.handler, body_out=args.body_out))


# --- sealed models: pack, inspect, upload, keygen -------------------------------------------
def _add_pack(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "pack",
        help="compress and encrypt an ONNX model into a sealed artifact",
        description="Seal MODEL.onnx: zstd (or zlib) compressed, AES-256-GCM encrypted with "
        "a KMS data key (--kms-key-id) or a 256-bit key of your own.",
    )
    parser.add_argument("model", type=Path, help="the ONNX model")
    parser.add_argument("-o", "--output", type=Path, help="default: MODEL with .sealed")
    key = parser.add_mutually_exclusive_group(required=True)
    key.add_argument("--kms-key-id", help="KMS key id, ARN or alias (envelope encryption)")
    _add_user_key_options(key)
    parser.add_argument("--names", type=Path, help="class names file, one a line")
    parser.add_argument("--family", help="force the model family instead of detecting it")
    parser.add_argument("--model-id", help="default: the file name and its sha256 prefix")
    parser.add_argument("--compression", choices=["zstd", "zlib"], default="zstd")
    parser.add_argument("--level", type=int, help="compression level")
    parser.add_argument("--upload", metavar="S3_URI", help="also put it at s3://bucket/key")
    parser.set_defaults(func=_pack)


def _pack(args: argparse.Namespace) -> int:
    from detector import sealing  # noqa: PLC0415 - keep --help fast
    from detector.model.artifact import Compression  # noqa: PLC0415

    return _run(
        "detector pack",
        lambda: _output(
            sealing.pack(
                args.model,
                args.output or args.model.with_suffix(".sealed"),
                kms_key_id=args.kms_key_id,
                user_key=_user_key_source(args),
                names_file=args.names,
                family=args.family,
                model_id=args.model_id,
                compression=Compression[args.compression.upper()],
                level=args.level,
                upload_to=args.upload,
            )
        ),
    )


def _add_inspect(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "inspect",
        help="print a sealed model's header as JSON; with a key, verify all of it",
        description="Print the header of a sealed model (a file or s3:// URI; never a key). "
        "With --verify (KMS-wrapped) or a key option, decrypt and check the whole artifact.",
    )
    parser.add_argument("sealed", help="a sealed model: path or s3://bucket/key")
    parser.add_argument("--verify", action="store_true", help="decrypt and check everything")
    _add_user_key_options(parser.add_mutually_exclusive_group())
    parser.set_defaults(func=_inspect)


def _inspect(args: argparse.Namespace) -> int:
    from detector import sealing  # noqa: PLC0415 - keep --help fast

    return _run(
        "detector inspect",
        lambda: _output(
            sealing.inspect(args.sealed, verify=args.verify, user_key=_user_key_source(args))
        ),
    )


def _add_upload(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("upload", help="put a sealed model in S3")
    parser.add_argument("sealed", type=Path, help="a sealed model made by `detector pack`")
    parser.add_argument("uri", help="s3://bucket/key")
    parser.set_defaults(func=_upload)


def _upload(args: argparse.Namespace) -> int:
    from detector import sealing  # noqa: PLC0415 - keep --help fast

    return _run("detector upload", lambda: _output(sealing.upload(args.sealed, args.uri)))


def _add_keygen(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "keygen",
        help="make a random 256-bit model key (base64)",
        description="Print a new key, or write it to a file only you can read. Keep it in "
        "Secrets Manager or an SSM SecureString for the function.",
    )
    parser.add_argument("-o", "--output", type=Path, help="write it here (never overwritten)")
    parser.set_defaults(func=_keygen)


def _keygen(args: argparse.Namespace) -> int:
    from detector import sealing  # noqa: PLC0415 - keep --help fast

    return _run("detector keygen", lambda: _output(sealing.keygen(args.output)))


def _add_user_key_options(group: argparse._MutuallyExclusiveGroup) -> None:
    group.add_argument("--key-file", type=Path, help="file holding a base64 key")
    group.add_argument("--key-env", metavar="VAR", help="environment variable with a base64 key")
    group.add_argument("--key-secret-id", help="Secrets Manager secret holding the key")
    group.add_argument("--key-parameter", help="SSM SecureString parameter holding the key")


def _user_key_source(args: argparse.Namespace) -> UserKeySource | None:
    from detector.model import keys  # noqa: PLC0415 - keep --help fast

    return keys.UserKeySource.from_options(
        key_file=args.key_file,
        key_env=args.key_env,
        secret_id=args.key_secret_id,
        parameter=args.key_parameter,
    )


# --- local tooling (detector.local, imported lazily) -------------------------------------
def _add_fetch_samples(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "fetch-samples",
        help="find (or download and check) the sample model and image",
        description="Print the paths of the sample model, image and class names; download "
        "and check them first when they are neither in ../shared nor in the cache.",
    )
    parser.set_defaults(func=_fetch_samples)


def _fetch_samples(args: argparse.Namespace) -> int:
    from detector.local import samples  # noqa: PLC0415 - local tooling

    return _run("detector", lambda: samples.print_paths(sys.stdout))


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "serve",
        help="serve the API handler and the demo page locally, as `sam local start-api` would",
        description="Each request becomes an API Gateway HTTP API event for the real handler. "
        "Without MODEL_URI the sample model is served; without JWT settings a secret is made "
        "for this session and a token printed. Ctrl-C stops it.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="port (3000; 0 = a free one)")
    parser.add_argument("--model", type=Path, help="a sealed model or a plain .onnx file")
    parser.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from detector.local import serve  # noqa: PLC0415 - local tooling

    return _run(
        "detector serve",
        lambda: serve.serve_session(os.environ, args.host, args.port, model=args.model),
        errors=(DetectorError, OSError),
    )


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
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
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from detector.local import demo  # noqa: PLC0415 - local tooling (moto)

    return demo.run(args.output_dir, out=sys.stdout)


def _add_backfill(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from detector import backfill  # noqa: PLC0415 - its heavy imports wait for run()

    backfill.register(commands)
    commands.choices["backfill"].set_defaults(
        func=lambda args: _run("detector backfill", lambda: backfill.run(args), failed=2)
    )


if __name__ == "__main__":
    sys.exit(main())
