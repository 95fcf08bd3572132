"""serverless-detector: YOLO object detection as an AWS Lambda function.

The module map. Dependencies point one way, down this list; nothing in the Lambda image
imports ``commands`` or ``local``.

In the Lambda image:

- ``handlers/``: entry points only (``api``: API Gateway and Function URLs; ``s3``: uploads
  through S3 notifications, SQS and EventBridge, and S3 Batch Operations tasks). Parse the
  event, call ``service``, shape the response. A new event source starts here.
- ``service/``: what the handlers call: the ``POST /detect`` request and its options
  (``request``), the S3 upload flow (``uploads``), Batch Operations tasks
  (``batch_operations``), the JSON documents they produce (``documents``). A new route's
  core or a new option goes here.
- ``model/``: the user's model at rest and in memory: the sealed format (``artifact``), where
  its key comes from (``keys``), the container's loaded copy (``store``).
- ``pipeline/``: bytes in, detections out, nothing of AWS or HTTP: ``decode`` (its
  ``container`` checks first) → ``letterbox``
  → ``engine`` (the onnxruntime session) → ``families`` (one adapter per YOLO export
  layout; a new family goes here) → ``postprocess`` → ``detections``; ``annotate`` draws.
- Shared services, one job each: ``settings`` (the only reader of the environment),
  ``errors`` (typed errors, mapped to statuses once), ``aws`` (the thin boto3 wrapper),
  ``proxy`` (API Gateway and Function URL events in, responses out, the router),
  ``media`` (media types and image file suffixes),
  ``auth`` (JWT verification), ``observability`` (logs, metrics, traces around the model),
  ``cpus`` (the CPU share the engine's threads follow).

On a laptop only:

- ``commands/``: the ``detector`` CLI (a new subcommand goes here).
- ``local/``: local tooling the CLI, tests and benchmarks share: sample data, a local AWS
  endpoint, ``serve``, the demo, Lambda event builders, token signing, a local Lambda
  Runtime API for ``awslambdaric``.
"""

__version__ = "0.1.0"
