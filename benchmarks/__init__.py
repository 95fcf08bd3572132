"""Benchmarks, load tests and cross-checks: scripts on the installed package.

Run from the repository root as modules, e.g. ``.venv/bin/python -m benchmarks.bench engine``.
"""
