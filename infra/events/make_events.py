"""Regenerate the sample events in this folder: `python infra/events/make_events.py`.

Every file is built by ``detector.local.events`` (the builders behind ``detector event``)
with fixed request ids and times, so the files only change when the builders do. The API
events carry the placeholder token below, which no verifier accepts; for a working token run
``detector event api ... --secret S`` (or set JWT_SECRET) instead, see README.md.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "function"))

from detector.local import events  # noqa: E402

PLACEHOLDER_TOKEN = "REPLACE.WITH.TOKEN"
BUCKET = "detector-uploads-123456789012"
KEY = "uploads/street photos/dog+bike 1.jpg"
ARCHIVE_KEY = "archive/2019/street photos/dog+bike 1.jpg"


def build() -> dict[str, dict[str, Any]]:
    image = (HERE / "tiny.jpg").read_bytes()

    def api(name: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        request_id = f"c0ffee00-0000-4000-8000-{sum(name.encode()):012d}"
        return events.api_event("http", method, path, request_id=request_id, **kwargs)

    notification = events.s3_notification(
        BUCKET, KEY, size=len(image), version_id="3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    )
    return {
        "api-detect-jpeg": api(
            "api-detect-jpeg",
            "POST",
            "/detect",
            body=image,
            content_type="image/jpeg",
            token=PLACEHOLDER_TOKEN,
            query={"conf": "0.3", "classes": "person,dog"},
        ),
        "api-detect-json": api(
            "api-detect-json",
            "POST",
            "/detect",
            content_type="application/json",
            token=PLACEHOLDER_TOKEN,
            body=json.dumps(
                {"image": base64.b64encode(image).decode(), "conf": 0.3, "annotate": True}
            ).encode(),
        ),
        "api-detect-s3": api(
            "api-detect-s3",
            "POST",
            "/detect",
            content_type="application/json",
            token=PLACEHOLDER_TOKEN,
            body=json.dumps({"s3": {"bucket": BUCKET, "key": KEY}}).encode(),
        ),
        "api-model": api("api-model", "GET", "/model", token=PLACEHOLDER_TOKEN),
        "api-health": api("api-health", "GET", "/health"),
        "s3-put": notification,
        "sqs-s3-put": events.sqs_event([notification]),
        "eventbridge-s3": events.eventbridge_event(
            BUCKET, KEY, size=len(image), version_id="3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
        ),
        "s3-batch-operations-1": events.batch_operations_event(BUCKET, ARCHIVE_KEY, schema="1.0"),
        "s3-batch-operations-2": events.batch_operations_event(
            BUCKET, ARCHIVE_KEY, user_arguments={"conf": "0.3", "classes": "person,dog"}
        ),
    }


def main(folder: Path = HERE) -> None:
    for name, event in build().items():
        (folder / f"{name}.json").write_text(json.dumps(event, indent=2) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
