"""A local AWS endpoint seeded for `sam local invoke` and `sam local start-api`.

    .venv/bin/python infra/local_endpoint.py             # moto on 0.0.0.0:5000; Ctrl-C stops it
    sam local invoke DetectApi -e /tmp/detect.json       # samconfig.toml adds infra/env.json

It starts moto's server (S3, KMS, Secrets Manager) through detector.local.s3server.LocalAws
and seeds it with detector.local.endpoint.seed: the bucket, the sample model sealed with a
KMS key where infra/env.json's MODEL_URI points, a fresh JWT signing secret under the name
its JWT_SECRET_ID gives; then prints a token. The container reaches the endpoint as
host.docker.internal (samconfig.toml maps that name to the host), which is why the server
listens on every interface by default: it holds only the sample model, dummy credentials
and a throwaway secret.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
from pathlib import Path

from detector.local import samples
from detector.local.endpoint import seed
from detector.local.s3server import LocalAws

ENV_JSON = Path(__file__).with_name("env.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (0.0.0.0)")
    parser.add_argument("--port", type=int, default=5000, help="the port infra/env.json names")
    args = parser.parse_args()
    env = json.loads(ENV_JSON.read_text())["DetectApi"]
    # Only moto accepts LocalAws's credentials: nothing here can reach a real account.
    with LocalAws(host=args.host, port=args.port) as aws, aws.activated():
        token = seed(env)
        image = samples.sample_image_path()
        print(f"local endpoint on {args.host}:{args.port}, seeded for infra/env.json. Then:")
        print(
            f"  detector event api --kind http --image {image} --token {token} -o /tmp/detect.json"
        )
        print("  sam local invoke DetectApi -e /tmp/detect.json")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
