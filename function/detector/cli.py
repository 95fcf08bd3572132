"""The ``detector`` command: thin; each subcommand parses its arguments and calls one module.

Local-only subcommands import ``detector.local`` lazily so the runtime never loads it.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from detector.auth import issue_token
from detector.errors import ConfigurationError, DetectorError
from detector.settings import Settings

if TYPE_CHECKING:
    from detector.keys import UserKeySource

Command = Callable[[argparse.Namespace], int]


class FileReadError(DetectorError):
    """A file named on the command line could not be read."""

    code = "unreadable_file"


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; the return value is the process exit code."""
    args = build_parser().parse_args(argv)
    command: Command = args.func
    return command(args)


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
    from detector.engine import DetectOptions, Detector  # noqa: PLC0415 - keep --help fast
    from detector.families import parse_names  # noqa: PLC0415

    try:
        options = DetectOptions(
            conf=args.conf, iou=args.iou, max_det=args.max_det, agnostic=args.agnostic
        )
        names = parse_names(_read(args.names).decode("utf-8", "replace")) if args.names else None
        detector = Detector.from_bytes(
            _read(args.model), family=args.family, names=names, threads=args.threads
        )
    except DetectorError as exc:
        print(f"detector: {exc.message}", file=sys.stderr)
        return EXIT_UNUSABLE
    failed = False
    for path in args.images:
        line: dict[str, object] = {"image": str(path)}
        try:
            result = detector.detect(_read(path), options)
        except DetectorError as exc:
            failed = True
            line["error"] = {"code": exc.code, "message": exc.message}
        else:
            line.update(result.to_json(detector.info.class_names))
        print(json.dumps(line), flush=True)
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FileReadError(f"cannot read {path}: {exc.strerror or exc}") from None


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


# --- event ------------------------------------------------------------------------------------
IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}


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
    body: bytes | None = None
    content_type = None
    query = options
    if args.image and not args.json:
        body, content_type = args.image.read_bytes(), _image_type(args.image)
    elif args.image or args.s3:
        document: dict[str, object] = dict(options)
        if args.image:
            document["image"] = base64.b64encode(args.image.read_bytes()).decode()
        else:
            bucket, _, key = args.s3.partition("/")
            document["s3"] = {"bucket": bucket, "key": key}
        body, content_type, query = json.dumps(document).encode(), "application/json", {}
    event = events.api_event(
        args.kind,
        args.method or ("POST" if body is not None else "GET"),
        args.path,
        body=body,
        content_type=content_type,
        token=None if args.no_token else _event_token(args),
        query=query,
        headers={"accept": args.accept} if args.accept else None,
    )
    return _write_event(event, args.output)


def _event_token(args: argparse.Namespace) -> str | None:
    if args.token:
        return str(args.token)
    secret = args.secret or Settings.from_env().jwt_secret
    settings = Settings.from_env()
    if not secret:
        return None
    return issue_token(
        secret,
        subject="local",
        scope=settings.jwt_required_scope or "detect",
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )


def _event_s3(args: argparse.Namespace) -> int:
    from detector.local import events  # noqa: PLC0415 - local tooling, loaded on demand

    shape = {
        "bucket": args.bucket,
        "key": args.key,
        "size": args.size,
        "etag": args.etag,
        "version_id": args.version_id,
    }
    if args.via == "eventbridge":
        event = events.eventbridge_event(**shape)
    else:
        event = events.s3_notification(**shape)
        if args.via == "sqs":
            event = events.sqs_event([event])
    return _write_event(event, args.output)


def _image_type(path: Path) -> str:
    media_type = IMAGE_TYPES.get(path.suffix.lower())
    if media_type is None:
        raise SystemExit(f"detector event: {path.suffix} is not .jpg, .png or .webp")
    return media_type


def _write_event(event: dict[str, object], output: Path | None) -> int:
    text = json.dumps(event, indent=2) + "\n"
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


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
    from detector.local.context import LocalContext  # noqa: PLC0415 - local tooling
    from detector.local.events import handler_kind  # noqa: PLC0415

    text = sys.stdin.read() if str(args.event) == "-" else args.event.read_text()
    event = json.loads(text)
    # The function's own output (JSON logs, EMF metrics) goes to stderr, as in `sam local
    # invoke`, so stdout holds only the response.
    with contextlib.redirect_stdout(sys.stderr):
        module = f"detector.handlers.{args.handler or handler_kind(event)}"
        response = importlib.import_module(module).lambda_handler(event, LocalContext())
    if args.body_out and isinstance(response, dict) and "body" in response:
        body = response["body"]
        raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
        args.body_out.write_bytes(raw)
    sys.stdout.write(json.dumps(response, indent=2) + "\n")
    return 0


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
    from detector.artifact import Compression  # noqa: PLC0415

    return _report(
        "pack",
        lambda: sealing.pack(
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

    return _report(
        "inspect",
        lambda: sealing.inspect(args.sealed, verify=args.verify, user_key=_user_key_source(args)),
    )


def _add_upload(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("upload", help="put a sealed model in S3")
    parser.add_argument("sealed", type=Path, help="a sealed model made by `detector pack`")
    parser.add_argument("uri", help="s3://bucket/key")
    parser.set_defaults(func=_upload)


def _upload(args: argparse.Namespace) -> int:
    from detector import sealing  # noqa: PLC0415 - keep --help fast

    return _report("upload", lambda: sealing.upload(args.sealed, args.uri))


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

    return _report("keygen", lambda: sealing.keygen(args.output))


def _add_user_key_options(group: argparse._MutuallyExclusiveGroup) -> None:
    group.add_argument("--key-file", type=Path, help="file holding a base64 key")
    group.add_argument("--key-env", metavar="VAR", help="environment variable with a base64 key")
    group.add_argument("--key-secret-id", help="Secrets Manager secret holding the key")
    group.add_argument("--key-parameter", help="SSM SecureString parameter holding the key")


def _user_key_source(args: argparse.Namespace) -> UserKeySource | None:
    from detector.keys import UserKeySource  # noqa: PLC0415 - keep --help fast

    if args.key_file:
        try:
            return UserKeySource(value=args.key_file.read_text(), value_origin=str(args.key_file))
        except OSError as exc:
            raise ConfigurationError(f"cannot read {args.key_file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigurationError(
                f"{args.key_file} is not a key file: it should hold the base64 text of the key"
            ) from None
    if args.key_env:
        value = os.environ.get(args.key_env)
        if not value:
            raise ConfigurationError(f"the environment variable {args.key_env} is not set")
        return UserKeySource(value=value, value_origin=f"environment variable {args.key_env}")
    if args.key_secret_id or args.key_parameter:
        return UserKeySource(secret_id=args.key_secret_id, parameter=args.key_parameter)
    return None


def _report(name: str, action: Callable[[], object]) -> int:
    """Print the result (JSON unless it is text), or the error; the exit code."""
    try:
        result = action()
    except DetectorError as error:
        print(f"detector {name}: {error.message}", file=sys.stderr)
        return 1
    print(result if isinstance(result, str) else json.dumps(result, indent=2))
    return 0


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

    try:
        print(f"model: {samples.sample_model_path()}")
        print(f"image: {samples.sample_image_path()}")
        print(f"names: {samples.sample_names_path()}")
    except DetectorError as exc:
        print(f"detector: {exc.message}", file=sys.stderr)
        return 1
    return 0


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

    try:
        token = serve.configure(os.environ, model=args.model)
        server = serve.make_server(args.host, args.port, log=sys.stderr)
    except (DetectorError, OSError) as exc:
        print(f"detector serve: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1
    print(f"Serving the API handler on {server.url} (the page: {server.url}/); Ctrl-C stops it.")
    if token:
        print(f"A token for this session (valid 1 hour):\n{token}")
    sys.stdout.flush()
    serve.serve_forever(server)
    print("Stopped.")
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
