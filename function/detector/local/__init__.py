"""Local-only tooling (sample data, local S3 endpoint, `serve`, demo).

The Lambda runtime never imports this package; the CLI imports it lazily.
"""
