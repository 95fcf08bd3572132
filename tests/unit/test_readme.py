"""The README's configuration tables stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

from detector import settings
from detector.local import samples

README = Path(__file__).resolve().parents[2] / "README.md"
_ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", re.MULTILINE)


def section(title: str) -> str:
    """The text under the ``## title`` heading, up to the next ``## `` heading."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def constants(module: object, suffix: str = "") -> set[str]:
    """The environment variable names a module declares as UPPER_CASE string constants."""
    return {
        value
        for name, value in vars(module).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
        if name.endswith(suffix) and re.fullmatch(r"[A-Z][A-Z0-9_]*", value)
    }


def test_every_setting_has_a_row_in_the_configuration_table_and_no_row_is_invented():
    documented = set(_ROW.findall(section("Configuration")))
    declared = constants(settings)
    assert declared, "settings.py declares no environment variable names"
    assert declared - documented == set(), "settings missing from the README table"
    assert documented - declared == set(), "README rows that are not settings"


def test_every_local_tooling_variable_is_documented():
    documented = set(_ROW.findall(section("Local tooling")))
    assert constants(samples, suffix="_ENV") == documented
