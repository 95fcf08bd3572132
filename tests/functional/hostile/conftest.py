"""Fixtures the hostile suites share: a small real image and a valid token."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import tokens
from tests.functional import hostile


@pytest.fixture(scope="module")
def image(dog_jpg: Path) -> bytes:
    """The sample photo, small: hostile cases vary the request, not the picture."""
    return hostile.small_images(dog_jpg)["jpeg"]


@pytest.fixture(scope="module")
def token() -> str:
    return tokens.hs256()
