"""Fixtures for the session-store tests: every contract test runs against both stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import STORE_KINDS, make_store

from mobkat.store import SessionStore


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionStore]:
    opened = make_store(request.param, tmp_path)
    yield opened
    opened.close()
