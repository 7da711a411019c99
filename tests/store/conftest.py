"""Fixtures for the session-store tests: every contract test runs against every store, PostgreSQL included.

The PostgreSQL store is tested against a real server (``postgres_cluster``), started once per run. Without
the server binaries or psycopg those tests are skipped, except on CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from postgres_cluster import NEEDS_POSTGRES, PostgresCluster, available, start_cluster
from store_helpers import STORE_KINDS, make_store

from mobkat.store import SessionStore


def _missing() -> NoReturn:
    """Skip, except on CI (``CI=true``), which must test the PostgreSQL store: there it fails."""
    if os.environ.get("CI") == "true":
        pytest.fail(NEEDS_POSTGRES)
    pytest.skip(NEEDS_POSTGRES)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A real PostgreSQL server for the whole run, stopped (and its directory removed) at the end."""
    if not available():
        _missing()
    cluster = start_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session", params=STORE_KINDS)
def new_store(request: pytest.FixtureRequest) -> Callable[[Path], SessionStore]:
    """Makes a fresh, empty store of one kind (a new database for each PostgreSQL store)."""
    cluster = request.getfixturevalue("postgres") if request.param == "postgres" else None
    return functools.partial(make_store, request.param, cluster=cluster)


@pytest.fixture
def store(new_store: Callable[[Path], SessionStore], tmp_path: Path) -> Iterator[SessionStore]:
    opened = new_store(tmp_path)
    yield opened
    opened.close()
