"""A real PostgreSQL server for the store tests: Debian's binaries, started into a temporary directory.

The server listens only on a unix socket inside that directory (no TCP port to collide on), trusts
local connections, and runs with ``fsync=off`` (its data is thrown away afterwards). As root it runs
as the ``postgres`` user (``initdb`` refuses root). Each store under test gets a fresh database.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

INITDB_GLOB = "/usr/lib/postgresql/*/bin/initdb"
SUPERUSER = "mobkat"
PORT = 5432  # only names the socket file: the server listens on no TCP port
NEEDS_POSTGRES = ("PostgreSQL is unavailable: the postgres store tests need Debian's server binaries "
                  "(apt-get install postgresql, as .ci/run does) and the postgres extra (pip install -e '.[postgres]')")


def find_bin_dir() -> Path | None:
    """The ``bin`` directory of the newest installed PostgreSQL, or ``None``."""
    found = [Path(p).parent for p in glob.glob(INITDB_GLOB)]
    if not found:
        return None

    def version(bin_dir: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", bin_dir.parent.name))

    return max(found, key=version)


def available() -> bool:
    """Server binaries installed and psycopg importable."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return False
    return find_bin_dir() is not None


class PostgresCluster:
    """One running server; ``new_database()`` gives the DSN of a fresh, empty database."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.run_as = "postgres" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="mobkat-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._names = itertools.count()
        self._lock = threading.Lock()
        if self.run_as is not None:
            user = pwd.getpwnam(self.run_as)
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def _run(self, tool: str, *args: str) -> None:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as is not None else []
        done = subprocess.run([*prefix, str(self.bin_dir / tool), *args], capture_output=True, text=True,
                              timeout=120, check=False)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}\n{log}")

    def start(self) -> PostgresCluster:
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync", "--no-instructions")
        options = f"-k {self.root} -h '' -p {PORT} -F"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        return self

    def dsn(self, dbname: str) -> str:
        return f"host={self.root} port={PORT} user={SUPERUSER} dbname={dbname}"

    def new_database(self) -> str:
        """Create an empty database and return its DSN."""
        import psycopg

        with self._lock:
            name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.dsn(name)

    def stop(self) -> None:
        """Stop the server (its data is discarded) and remove the directory."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "60", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> PostgresCluster:
    """A running server (call ``available()`` first)."""
    bin_dir = find_bin_dir()
    assert bin_dir is not None
    cluster = PostgresCluster(bin_dir)
    try:
        return cluster.start()
    except BaseException:
        cluster.stop()
        raise
